"""``simulate``: SCALE-Sim 3.0.0's reports for GEMMs and conv layers, vectorised.

:func:`simulate` validates and broadcasts its inputs, then assembles the output
columns from dicts of arrays produced by the model parts: the compute model
(:func:`airchitect.targets.systolic.compute.compute_fields`) and, in CALC mode,
SCALE-Sim's estimate buffers (``calc_dram_start``, ``calc_ofmap_drain``).
USER mode (the DRAM-bandwidth-limited memory system) plugs in the same way,
as one more dict of columns (see :func:`_memory_fields`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect._checks import INT_MAX, check_int_array
from airchitect.targets.systolic import compute, energy, memory
from airchitect.targets.systolic.config import check_config, dataflow_codes
from airchitect.targets.systolic.conv import (CONV_FIELDS, check_conv, conv_gemm,
                                              last_ifmap_rows, overflows)
from airchitect.targets.systolic.geometry import conv_geometry, gemm_geometry, spatial_dims
from airchitect.targets.systolic.memory.calc_drain import calc_ofmap_drain
from airchitect.targets.systolic.memory.calc_dram import calc_dram_start

# Output columns after the inputs, in SCALE-Sim's report order.
REPORT_FIELDS = (
    "total_cycles_incl_prefetch", "total_cycles", "stall_cycles", "overall_util",
    "mapping_efficiency", "compute_util", "compute_cycles",
    "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
    "sram_ifmap_start_cycle", "sram_ifmap_stop_cycle",
    "sram_filter_start_cycle", "sram_filter_stop_cycle",
    "sram_ofmap_start_cycle", "sram_ofmap_stop_cycle",
    "avg_ifmap_sram_bw", "avg_filter_sram_bw", "avg_ofmap_sram_bw",
    "dram_ifmap_start_cycle", "dram_ifmap_stop_cycle", "dram_ifmap_reads",
    "dram_filter_start_cycle", "dram_filter_stop_cycle", "dram_filter_reads",
    "dram_ofmap_start_cycle", "dram_ofmap_stop_cycle", "dram_ofmap_writes",
    "avg_ifmap_dram_bw", "avg_filter_dram_bw", "avg_ofmap_dram_bw",
)
# Columns of this package's energy model (airchitect.targets.systolic.energy).
ENERGY_FIELDS = ("energy_pj", "edp")
# Columns that the memory system (airchitect.targets.systolic.memory) sets in USER mode.
_USER_FIELDS = ("total_cycles_incl_prefetch", "total_cycles", "stall_cycles", "overall_util") + tuple(
    f for f in REPORT_FIELDS if f.endswith(("_cycle", "_bw")) or f.startswith("dram_"))


def _check_config(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth, mode, convention):
    """The checked configuration as input columns (``dataflow`` as names), its mode and convention."""
    config = check_config(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth, mode,
                          convention)
    columns = config.arrays()
    columns = {"rows": columns.pop("rows"), "cols": columns.pop("cols"),
               "dataflow": config.dataflow, **columns}
    return columns, config.mode, config.convention


def _geometry(arrays):
    if "ifmap_h" in arrays:
        return conv_geometry(*(arrays[n] for n in CONV_FIELDS), arrays["rows"],
                                    arrays["cols"], arrays["code"])
    return gemm_geometry(arrays["M"], arrays["N"], arrays["K"], arrays["rows"],
                                arrays["cols"], arrays["code"])


#: most broadcast elements (output rows) of one :func:`simulate` or :func:`simulate_conv`
#: call, about 1 kB of memory each while it runs
MAX_ELEMENTS = 2**20
#: USER mode: most demand rows (folds x rows per fold, about the stall-free cycles)
#: of one element; the memory model walks up to ~2e7 of them a second when every fold stalls
USER_ROWS_LIMIT = 2 * 10**8
#: USER mode: most demand rows of one call, walked in chunks that Ctrl-C can stop
USER_CALL_ROWS_LIMIT = 10**10
#: CALC-mode conv layers whose operands outgrow the estimate buffers' 50 sets are
#: replayed word by word; a layer needing more SRAM reads than this is refused
CALC_DRAM_WORK_LIMIT = 2 * 10**7
_USER_CHUNK_ROWS = 5 * 10**7
_CALC_CHUNK_READS = 2 * 10**8


def _check_size(shape, name="simulate"):
    """Refuse a broadcast shape of more than :data:`MAX_ELEMENTS` elements."""
    size = int(np.prod(shape, dtype=np.float64))
    if size > MAX_ELEMENTS:
        raise ValueError(f"{name}: the inputs broadcast to {size} elements, more than "
                         f"MAX_ELEMENTS = {MAX_ELEMENTS}; call it in chunks")


def _demand_rows(rows, cols, Sr, Sc, T):
    """Demand rows (float64) of every element: folds x rows per fold (ws/is bound)."""
    return np.ceil(Sr / rows) * np.ceil(Sc / cols) * (T + 2.0 * rows + cols)


def _check_user_work(demand):
    """Refuse USER-mode work past :data:`USER_ROWS_LIMIT` (one element) or
    :data:`USER_CALL_ROWS_LIMIT` (the call)."""
    if demand.size and demand.max() > USER_ROWS_LIMIT:
        at = int(demand.argmax())
        raise ValueError(f"mode='user': element {at} needs {demand[at]:.3g} demand rows "
                         f"(folds x rows per fold), more than USER_ROWS_LIMIT = {USER_ROWS_LIMIT:.0e}")
    if demand.sum() > USER_CALL_ROWS_LIMIT:
        raise ValueError(f"mode='user': the call needs {demand.sum():.3g} demand rows, more than "
                         f"USER_CALL_ROWS_LIMIT = {USER_CALL_ROWS_LIMIT:.0e}; call it in chunks")


def _calc_dram(arrays, fields, ifmap_words, filter_words):
    """CALC-mode DRAM columns from the memory model (SCALE-Sim's estimate buffers).

    GEMMs whose estimate buffers would replay more than ``CALC_DRAM_WORK_LIMIT``
    SRAM reads get their DRAM counts in closed form
    (:func:`memory.calc_dram_reads`); of their timing columns only the DRAM start
    cycles of the read operands and the OFMAP stop cycle are computed (see
    :func:`_memory_fields`), the others are NaN.
    """
    names = [name for name in REPORT_FIELDS if "dram" in name]
    replay = ((ifmap_words >= 50 * (arrays["ifmap_kb"] * 1024 // 100))
              | (filter_words >= 50 * (arrays["filter_kb"] * 1024 // 100))
              | ("ifmap_h" in arrays))
    heavy = replay & (fields["sram_ifmap_reads"] + fields["sram_filter_reads"]
                      > CALC_DRAM_WORK_LIMIT)
    if heavy.any() and "ifmap_h" in arrays:
        at = int(np.flatnonzero(heavy)[0])
        work = fields["sram_ifmap_reads"][at] + fields["sram_filter_reads"][at]
        raise ValueError(f"simulate_conv: CALC-mode DRAM replay of element {at} needs {work} SRAM "
                         f"reads, more than CALC_DRAM_WORK_LIMIT = {CALC_DRAM_WORK_LIMIT}")
    light = ~heavy
    work = np.where(replay, fields["sram_ifmap_reads"] + fields["sram_filter_reads"], 0)[light]
    kb = [arrays[n][light] for n in ("ifmap_kb", "filter_kb", "ofmap_kb")]
    mem = _memory_chunks(_geometry(arrays)[light], kb, 1, "scalesim-3.0", "calc", work + 1000,
                         _CALC_CHUNK_READS)
    if not heavy.any():
        return {name: mem[name] for name in names}
    out = {name: np.full(light.shape, np.nan) for name in names}
    for name in names:
        out[name][light] = mem[name]
    ifmap, filt = memory.calc_dram_reads(*(arrays[n][heavy] for n in (
        "M", "N", "K", "rows", "cols", "code", "ifmap_kb", "filter_kb")))
    out["dram_ifmap_reads"][heavy] = ifmap
    out["dram_filter_reads"][heavy] = filt
    return out


def _cuts(work, chunk):
    """Bounds ``[a, b)`` that cut elements of ``work`` into runs of about ``chunk`` work."""
    if work.size == 0 or work.sum() <= chunk:
        return [(0, work.size)]
    ends = np.searchsorted(np.cumsum(work), np.arange(1, int(work.sum() // chunk) + 1) * float(chunk))
    cuts = np.unique(np.concatenate([[0], np.minimum(ends + 1, work.size), [work.size]]))
    return list(zip(cuts[:-1].tolist(), cuts[1:].tolist()))


def _memory_chunks(G, kb, bandwidth, convention, mode, work, chunk):
    """:func:`memory.simulate_geometry` over runs of elements of about ``chunk`` work
    each, so that a keyboard interrupt stops the call between runs."""
    parts = [memory.simulate_geometry(G[a:b], *(v[a:b] for v in kb),
                                      np.broadcast_to(bandwidth, len(G))[a:b], convention, mode)
             for a, b in _cuts(work, chunk)]
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _memory_fields(mode, arrays, fields, ifmap_words, filter_words, convention="scalesim-3.0",
                   demand=None):
    """Columns that depend on the memory system, for ``mode``."""
    if mode == "user":
        kb = [arrays[n] for n in ("ifmap_kb", "filter_kb", "ofmap_kb")]
        mem = _memory_chunks(_geometry(arrays), kb, arrays["bandwidth"], convention, "user",
                             demand, _USER_CHUNK_ROWS)
        out = {name: mem[name] for name in _USER_FIELDS}
        out["compute_cycles"] = mem["total_cycles"] - mem["stall_cycles"]
        return out
    dram = _calc_dram(arrays, fields, ifmap_words, filter_words)
    ifmap_start = calc_dram_start(ifmap_words, arrays["ifmap_kb"],
                                          fields["first_request_cycle_ifmap"])
    filter_start = calc_dram_start(filter_words, arrays["filter_kb"],
                                           fields["first_request_cycle_filter"])
    Sr, Sc, T = spatial_dims(arrays["M"], arrays["N"], arrays["K"], arrays["code"])
    stop, writes, stall = calc_ofmap_drain(arrays["code"], arrays["rows"], arrays["cols"],
                                                   T, Sr, Sc, arrays["ofmap_kb"],
                                                   fields["total_cycles"],
                                                   fields["ofmap_valid_writes"])
    if stall.any():
        raise NotImplementedError(
            "this configuration stalls on the OFMAP SRAM even in CALC mode (ofmap_kb too small "
            "for cols); CALC-mode OFMAP stalls are not modelled")
    missing = np.isnan(dram["dram_ofmap_writes"])
    if missing.any():
        for name, value in (("dram_ofmap_writes", writes), ("dram_ofmap_stop_cycle", stop),
                            ("dram_ifmap_start_cycle", ifmap_start),
                            ("dram_filter_start_cycle", filter_start)):
            dram[name][missing] = value[missing]
    return dict(dram, total_cycles_incl_prefetch=stop - np.minimum(ifmap_start, filter_start))


def _run(inputs, ifmap_words, mode, convention="scalesim-3.0"):
    """Broadcast ``inputs`` (dict name -> array, holding M, N, K and the configuration),
    run the model parts and build the DataFrame (input columns in ``inputs`` order)."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in inputs.values()), np.shape(ifmap_words))
    flat = {n: np.broadcast_to(v, shape).ravel() for n, v in inputs.items()}
    ifmap_words = np.broadcast_to(ifmap_words, shape).ravel()
    M, N, K = flat["M"], flat["N"], flat["K"]
    code = dataflow_codes(flat["dataflow"])
    rows, cols = flat["rows"], flat["cols"]
    Sr, Sc, T = spatial_dims(M, N, K, code)
    demand = _demand_rows(rows, cols, Sr, Sc, T)
    if demand.size and demand.max() >= 2.0**62:
        raise ValueError("M, N, K too large for rows, cols: total cycles would exceed 2**62")
    if mode == "user":
        _check_user_work(demand)
    fields = compute.compute_fields(M, N, K, rows, cols, code)
    arrays = dict(flat, M=M, N=N, K=K, code=code)
    fields.update(_memory_fields(mode, arrays, fields, ifmap_words, K * N, convention, demand))
    out = pd.DataFrame(flat)
    out["mode"] = mode
    for name in REPORT_FIELDS:
        out[name] = fields[name]
    out["energy_pj"], out["edp"] = energy.energy_columns(out, M * N * K)
    return out


def simulate(M, N, K, rows, cols, dataflow, *, ifmap_kb=256, filter_kb=256, ofmap_kb=256,
             bandwidth=10, mode="calc", convention="scalesim-3.0"):
    """SCALE-Sim 3.0.0's reports for GEMMs ``C[M, N] = A[M, K] @ B[K, N]``, vectorised.

    Every argument broadcasts (numpy rules); the result has one row per
    broadcast element, in C order.

    Parameters
    ----------
    M, N, K : int or array_like of int
        GEMM sizes, integers in ``[1, 2**31 - 1]``.
    rows, cols : int or array_like of int
        Array height and width in PEs, integers in ``[1, 16384]``.
    dataflow : {"os", "ws", "is"} or array_like of them
    ifmap_kb, filter_kb, ofmap_kb : int or array_like of int
        SRAM sizes in kB (whole kB, as SCALE-Sim's config), integers >= 1.
    bandwidth : int or array_like of int
        DRAM bandwidth in words/cycle, integers >= 1 (USER mode only; CALC
        mode ignores it, as SCALE-Sim does).
    mode : {"calc", "user"}
        SCALE-Sim's interface bandwidth mode. ``"user"`` runs the memory system
        of :mod:`airchitect.targets.systolic.memory` (stalls on DRAM).
    convention : {"scalesim-3.0", "corrected"}
        USER mode only: reproduce SCALE-Sim 3.0.0's prefetch-stall quirks, or
        fix them (see :mod:`airchitect.targets.systolic.memory`).

    Returns
    -------
    pandas.DataFrame
        The inputs (``M, N, K, rows, cols, dataflow, ifmap_kb, filter_kb,
        ofmap_kb, bandwidth, mode``) and SCALE-Sim's report fields:
        ``total_cycles_incl_prefetch, total_cycles, stall_cycles`` (cycles),
        ``overall_util, mapping_efficiency, compute_util`` (percent),
        ``compute_cycles`` (``total_cycles - stall_cycles``),
        ``sram_ifmap_reads, sram_filter_reads, sram_ofmap_writes`` (words),
        ``sram_{ifmap,filter,ofmap}_{start,stop}_cycle`` and
        ``avg_{ifmap,filter,ofmap}_sram_bw`` (words/cycle),
        ``dram_{ifmap,filter,ofmap}_{start,stop}_cycle``, ``dram_ifmap_reads,
        dram_filter_reads, dram_ofmap_writes`` (words),
        ``avg_{ifmap,filter,ofmap}_dram_bw`` (words/cycle), and the energy
        model's ``energy_pj`` (pJ) and ``edp`` (pJ x total_cycles). In CALC
        mode, where the estimate buffers would replay more than
        ``CALC_DRAM_WORK_LIMIT`` SRAM reads, the DRAM counts (and so energy) come
        in closed form and ``dram_ifmap_stop_cycle, dram_filter_stop_cycle,
        dram_ofmap_start_cycle`` and the ``avg_*_dram_bw`` columns are NaN (not
        computed).

    Raises
    ------
    ValueError
        A bad input (naming it), more than ``MAX_ELEMENTS`` broadcast elements,
        or, in USER mode, more than ``USER_ROWS_LIMIT`` demand rows in one
        element or ``USER_CALL_ROWS_LIMIT`` in the call.

    Examples
    --------
    >>> df = simulate(4, 5, 6, 8, 4, ["os", "ws", "is"])
    >>> df["total_cycles"].tolist()
    [31, 43, 22]
    """
    config, mode, convention = _check_config(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb,
                                             bandwidth, mode, convention)
    gemm = {n: check_int_array(n, v, 1, INT_MAX) for n, v in (("M", M), ("N", N), ("K", K))}
    inputs = dict(gemm, **config)
    _check_size(np.broadcast_shapes(*(np.shape(v) for v in inputs.values())))
    return _run(inputs, gemm["M"] * gemm["K"], mode, convention)


def simulate_conv(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, rows,
                  cols, dataflow, *, ifmap_kb=256, filter_kb=256, ofmap_kb=256, bandwidth=10,
                  mode="calc", convention="scalesim-3.0"):
    """:func:`simulate` for conv layers in SCALE-Sim's conv topology format.

    The layer fields (integers >= 1, ``filter_h <= ifmap_h``, ``filter_w <=
    ifmap_w``; one ``stride`` for both directions; no padding) map to a GEMM as
    in :mod:`airchitect.targets.systolic.conv`. The result has the layer
    columns, the derived ``M, N, K`` and the columns of :func:`simulate`.

    Examples
    --------
    >>> simulate_conv(7, 7, 3, 3, 2, 4, 2, 4, 4, "os")["total_cycles"].tolist()
    [71]
    """
    layer = check_conv(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride)
    config, mode, convention = _check_config(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb,
                                             bandwidth, mode, convention)
    _check_size(np.broadcast_shapes(*(np.shape(v) for v in (*layer, *config.values()))),
                "simulate_conv")
    M, N, K, ifmap_words = conv_gemm(*np.broadcast_arrays(*layer))
    inputs = dict(zip(CONV_FIELDS, layer), M=M, N=N, K=K, **config)
    out = _run(inputs, ifmap_words, mode, convention)
    cols = {name: out[name].to_numpy() for name in CONV_FIELDS + ("M", "N", "K", "rows", "cols")}
    edge = overflows(cols["ifmap_h"], cols["ifmap_w"], cols["filter_h"], cols["filter_w"],
                     cols["stride"])
    if edge.any() and mode == "calc":  # USER mode: the memory system finds it
        # Empty (-1) IFMAP addresses past the edge: find the last valid one (read latency 1).
        code = dataflow_codes(out["dataflow"].to_numpy()[edge])
        last = last_ifmap_rows(code, *(cols[n][edge] for n in ("rows", "cols", "M", "N", "K",
                                                                 "ifmap_h", "ifmap_w", "filter_w",
                                                                 "channels", "stride")))
        out.loc[edge, "sram_ifmap_stop_cycle"] = last + 1
    return out

"""``simulate``: SCALE-Sim 3.0.0's reports for GEMMs and conv layers, vectorised.

:func:`simulate` validates and broadcasts its inputs, then assembles the output
columns from dicts of arrays produced by the model parts: the compute model
(:func:`airchitect.targets.systolic.compute.compute_fields`) and, in CALC mode,
SCALE-Sim's estimate buffers (``calc_dram_start``, ``calc_ofmap_drain``).
USER mode (the DRAM-bandwidth-limited memory system) plugs in the same way,
as one more dict of columns (see :func:`_memory_fields`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from airchitect._checks import INT_MAX, check_int_array
from airchitect.targets.systolic import compute, energy, memory
from airchitect.targets.systolic.config import (LAYOUT_DEFAULTS, check_config,
                                                check_layout_keys, dataflow_codes)
from airchitect.targets.systolic.conv import (CONV_FIELDS, check_conv, conv_gemm,
                                              last_ifmap_rows, overflows)
from airchitect.targets.systolic.geometry import (G_DENSE, G_P, G_WN, conv_geometry,
                                                  gemm_geometry, spatial_dims)
from airchitect.targets.systolic.layout import check_fit
from airchitect.targets.systolic.memory.calc_drain import calc_ofmap_drain_cycles
from airchitect.targets.systolic.memory.calc_reads import calc_read_fields, check_replay

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
    """The checked configuration as input columns (``dataflow`` as names), its dataflow
    codes (not broadcast), mode and convention."""
    config = check_config(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth, mode,
                          convention)
    columns = {"rows": config.rows, "cols": config.cols, "dataflow": config.dataflow,
               "ifmap_kb": config.ifmap_kb, "filter_kb": config.filter_kb,
               "ofmap_kb": config.ofmap_kb, "bandwidth": config.bandwidth}
    return columns, config.code, config.mode, config.convention


def _layout_keys(args):
    """The checked ``[layout]`` keyword arguments found in ``args`` (a call's
    ``locals()``), or None when every one has its default (today's path)."""
    given = {n: args[n] for n in LAYOUT_DEFAULTS}
    if all(v is LAYOUT_DEFAULTS[n] or (not isinstance(v, (np.ndarray, list, tuple))
                                       and v is not None and LAYOUT_DEFAULTS[n] is not None
                                       and type(v) is type(LAYOUT_DEFAULTS[n])
                                       and v == LAYOUT_DEFAULTS[n])
           for n, v in given.items()):
        return None
    return check_layout_keys(given)


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
#: CALC mode: a conv layer whose ifmap outgrows the estimate buffer's 50 sets has its
#: im2col stream replayed one column fold at a time until the buffer state repeats
#: (about 1-3 ns a read, usually 2-3 folds); a layer whose replay would walk more
#: im2col reads than this is refused: before any work when one column fold (P x WN
#: reads, closed form) is past it, else when the folds walked reach it. Every other
#: CALC-mode DRAM field is closed form.
CALC_DRAM_WORK_LIMIT = 2 * 10**9
#: CALC mode: most bytes the replay of one conv layer's ifmap may hold (24 per output
#: pixel, 12 per ifmap word, ...: ``calc_reads.replay_needs``, closed form), checked
#: before any work
CALC_DRAM_MEMORY_LIMIT = 2**33
#: USER mode with a custom layout: most SRAM reads (IFMAP + filter) of one element; each
#: read is served address by address (about 10**7 a second)
LAYOUT_READS_LIMIT = 2 * 10**8
_USER_CHUNK_ROWS = 5 * 10**7
_CALC_CHUNK_READS = 2 * 10**8


def _check_size(shape, name="simulate"):
    """Refuse a broadcast shape of more than :data:`MAX_ELEMENTS` elements."""
    if math.prod(shape) > MAX_ELEMENTS:
        size = int(np.prod(shape, dtype=np.float64))
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


def _check_calc_replay(G, arrays):
    """Refuse, in closed form and before any work, a conv ifmap replay past
    :data:`CALC_DRAM_WORK_LIMIT` (one column fold's im2col reads) or
    :data:`CALC_DRAM_MEMORY_LIMIT` (its arrays' bytes), naming the limit."""
    check_replay(G, arrays["ifmap_kb"], CALC_DRAM_WORK_LIMIT, "CALC_DRAM_WORK_LIMIT",
                 CALC_DRAM_MEMORY_LIMIT, "CALC_DRAM_MEMORY_LIMIT")


def _calc_dram(arrays, fields, G, dims=None):
    """CALC-mode DRAM columns, exact (SCALE-Sim's estimate buffers and OFMAP drain).

    The read buffers come from :func:`calc_read_fields` (closed forms; a conv ifmap
    past its buffer is replayed fold by fold, at most ``CALC_DRAM_WORK_LIMIT``
    im2col reads a layer), the OFMAP drain from :func:`calc_ofmap_drain_cycles`;
    elements run in chunks of about ``_CALC_CHUNK_READS`` replayed reads so that a
    keyboard interrupt stops the call between chunks. Returns the twelve DRAM
    columns and ``total_cycles_incl_prefetch``. ``G``: the elements' geometry; ``dims``
    (``(Sr, Sc, T)``) their spatial dims where the caller has them. Every replay is
    bounded before this runs (``_run`` calls :func:`_check_calc_replay`).
    """
    if len(G) <= _CALC_CHUNK_READS and G[:, G_DENSE].all():  # one read an element: one chunk
        cuts = [(0, len(G))]
    else:
        work = np.where(G[:, G_DENSE] == 0, G[:, G_P] * G[:, G_WN], 1)  # conv: one im2col read
        cuts = _cuts(work, _CALC_CHUNK_READS)
    parts = [calc_read_fields(G[a:b], arrays["ifmap_kb"][a:b], arrays["filter_kb"][a:b],
                              fields["first_request_cycle_ifmap"][a:b],
                              fields["first_request_cycle_filter"][a:b], CALC_DRAM_WORK_LIMIT,
                              "CALC_DRAM_WORK_LIMIT", a, CALC_DRAM_MEMORY_LIMIT,
                              "CALC_DRAM_MEMORY_LIMIT")
             for a, b in cuts]
    out = parts[0] if len(parts) == 1 else {
        name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    Sr, Sc, T = (spatial_dims(arrays["M"], arrays["N"], arrays["K"], arrays["code"])
                 if dims is None else dims)
    start, stop, writes, stall = calc_ofmap_drain_cycles(
        arrays["code"], arrays["rows"], arrays["cols"], T, Sr, Sc, arrays["ofmap_kb"],
        fields["total_cycles"], fields["ofmap_valid_writes"])
    if stall.any():
        raise NotImplementedError(
            "this configuration stalls on the OFMAP SRAM even in CALC mode (ofmap_kb too small "
            "for cols); CALC-mode OFMAP stalls are not modelled")
    out["dram_ofmap_start_cycle"] = start
    out["dram_ofmap_stop_cycle"] = stop
    out["dram_ofmap_writes"] = writes
    for op, count in (("ifmap", "dram_ifmap_reads"), ("filter", "dram_filter_reads"),
                      ("ofmap", "dram_ofmap_writes")):
        span = out[f"dram_{op}_stop_cycle"] - out[f"dram_{op}_start_cycle"] + 1.0
        out[f"avg_{op}_dram_bw"] = out[count] / span
    out["total_cycles_incl_prefetch"] = stop - np.minimum(out["dram_ifmap_start_cycle"],
                                                          out["dram_filter_start_cycle"])
    return out


def _cuts(work, chunk):
    """Bounds ``[a, b)`` that cut elements of ``work`` into runs of about ``chunk`` work."""
    if work.size == 0 or work.sum() <= chunk:
        return [(0, work.size)]
    ends = np.searchsorted(np.cumsum(work), np.arange(1, int(work.sum() // chunk) + 1) * float(chunk))
    cuts = np.unique(np.concatenate([[0], np.minimum(ends + 1, work.size), [work.size]]))
    return list(zip(cuts[:-1].tolist(), cuts[1:].tolist()))


def _memory_chunks(G, kb, bandwidth, convention, mode, work, chunk, keys=None):
    """:func:`memory.simulate_geometry` over runs of elements of about ``chunk`` work
    each, so that a keyboard interrupt stops the call between runs. ``keys``: the
    flat ``[layout]`` arrays of :func:`_layout_memory_args` (USER mode), or None."""
    keys = keys or {}
    parts = [memory.simulate_geometry(G[a:b], *(v[a:b] for v in kb),
                                      np.broadcast_to(bandwidth, len(G))[a:b], convention, mode,
                                      **{n: v[a:b] for n, v in keys.items()})
             for a, b in _cuts(work, chunk)]
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _memory_fields(mode, arrays, fields, convention="scalesim-3.0", demand=None, keys=None,
                   dims=None, G=None):
    """Columns that depend on the memory system, for ``mode`` (``keys``: USER mode's
    flat ``[layout]`` arrays for :func:`memory.simulate_geometry`, or None; ``dims``:
    the elements' ``(Sr, Sc, T)``, or None; ``G``: their geometry, or None)."""
    G = _geometry(arrays) if G is None else G
    if mode == "user":
        kb = [arrays[n] for n in ("ifmap_kb", "filter_kb", "ofmap_kb")]
        mem = _memory_chunks(G, kb, arrays["bandwidth"], convention, "user",
                             demand, _USER_CHUNK_ROWS, keys)
        out = {name: mem[name] for name in _USER_FIELDS}
        out["compute_cycles"] = mem["total_cycles"] - mem["stall_cycles"]
        return out
    return _calc_dram(arrays, fields, G, dims)


def _layout_memory_args(keys, shape, flat, mode, fields):
    """Broadcast the checked ``[layout]`` arrays ``keys`` (:func:`check_layout_keys`) to
    ``shape``, check them against each other as SCALE-Sim does, and return the
    keyword arguments of :func:`memory.simulate_geometry` (flat), or None when they
    change no USER-mode figure (per-operand bandwidths equal to ``bandwidth``, no
    custom layout)."""
    if mode != "user" and not (keys["ifmap_custom_layout"].any()
                               or keys["filter_custom_layout"].any()):
        return None  # CALC mode without a custom layout: nothing to check or pass
    size = len(flat["bandwidth"])
    k = {n: (flat["bandwidth"] if v is None else _flat(v, shape, size)) for n, v in keys.items()}
    custom = np.stack([k["ifmap_custom_layout"], k["filter_custom_layout"]], axis=1)
    for at in np.flatnonzero(custom.any(axis=1)):
        check_fit(k["layout"][at], k["ifmap_bank_bandwidth"][at], k["filter_bank_bandwidth"][at],
                  custom[at, 0], custom[at, 1])
    if mode != "user":
        return None
    for op in ("ifmap", "filter"):
        bad = k[f"{op}_bank_bandwidth"] % k[f"{op}_banks"] != 0
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{op}_banks must divide {op}_bank_bandwidth in USER mode (SCALE-Sim "
                             f"asserts it), got {k[f'{op}_banks'][at]} banks for "
                             f"{k[f'{op}_bank_bandwidth'][at]} words/cycle at element {at}")
    reads = np.where(custom.any(axis=1), fields["sram_ifmap_reads"] + fields["sram_filter_reads"], 0)
    if reads.size and reads.max() > LAYOUT_READS_LIMIT:
        at = int(reads.argmax())
        raise ValueError(f"mode='user' with a custom layout: element {at} needs {reads[at]} SRAM "
                         f"reads, more than LAYOUT_READS_LIMIT = {LAYOUT_READS_LIMIT:.0e}")
    if not custom.any() and (k["ifmap_bank_bandwidth"] == flat["bandwidth"]).all() and (
            k["filter_bank_bandwidth"] == flat["bandwidth"]).all():
        return None
    return {"ifmap_bandwidth": k["ifmap_bank_bandwidth"],
            "filter_bandwidth": k["filter_bank_bandwidth"], "custom": custom,
            "layouts": k["layout"],
            "banks": np.stack([k["ifmap_banks"], k["ifmap_bank_ports"], k["filter_banks"],
                               k["filter_bank_ports"]], axis=1)}


def _flat(value, shape, size=None):
    """``np.broadcast_to(value, shape).ravel()``, faster where ``value`` already has
    ``shape`` (a read-only view) or is a scalar (a new array); ``size``: the number
    of elements of ``shape``, when known."""
    a = np.asarray(value)
    if a.shape == shape:
        view = a.reshape(-1)
        if view is not a and view.base is not None:
            view.flags.writeable = False
            return view
    elif a.ndim == 0:
        return np.full(math.prod(shape) if size is None else size, a, dtype=a.dtype)
    return np.broadcast_to(a, shape).ravel()


def _shape(values, keys=None):
    """The broadcast shape of the arrays ``values`` and the ``[layout]`` arrays ``keys``."""
    shapes = [np.shape(v) for v in values]
    shapes.extend(np.shape(v) for v in (keys or {}).values() if v is not None)
    distinct = set(shapes)
    distinct.discard(())
    if len(distinct) <= 1:  # scalars and arrays of one shape: no broadcasting to find
        return distinct.pop() if distinct else ()
    return np.broadcast_shapes(*shapes)


def _run(inputs, code, mode, convention, keys, shape):
    """Broadcast ``inputs`` (dict name -> array, holding M, N, K and the configuration),
    the dataflow codes ``code`` and the ``[layout]`` arrays ``keys`` (or None) to
    ``shape`` (their broadcast shape, :func:`_shape`), run the model parts and return
    the output columns (dict name -> 1-D array; input columns first, in ``inputs`` order)."""
    size = math.prod(shape)
    flat = {n: _flat(v, shape, size) for n, v in inputs.items()}
    M, N, K = flat["M"], flat["N"], flat["K"]
    code = _flat(code, shape, size)
    rows, cols = flat["rows"], flat["cols"]
    Sr, Sc, T = spatial_dims(M, N, K, code)
    demand = _demand_rows(rows, cols, Sr, Sc, T)
    if demand.size and demand.max() >= 2.0**62:
        raise ValueError("M, N, K too large for rows, cols: total cycles would exceed 2**62")
    arrays = dict(flat, M=M, N=N, K=K, code=code)
    G = None
    if mode == "user":
        _check_user_work(demand)
    else:  # the conv ifmap replays bounded before any work (the compute model is O(folds))
        G = _geometry(arrays)
        _check_calc_replay(G, arrays)
    fields = compute.compute_fields(M, N, K, rows, cols, code)
    mem_keys = None if keys is None else _layout_memory_args(keys, shape, flat, mode, fields)
    fields.update(_memory_fields(mode, arrays, fields, convention, demand, mem_keys,
                                 (Sr, Sc, T), G))
    # one DataFrame construction (column-by-column insertion costs ~1 ms a column)
    table = dict(flat, mode=np.full(len(M), mode, dtype=object))
    for name in REPORT_FIELDS:
        table[name] = fields[name]
    table["energy_pj"] = energy.layer_energy_pj(
        M * N * K, (table["sram_ifmap_reads"], table["sram_filter_reads"]),
        (flat["ifmap_kb"], flat["filter_kb"], flat["ofmap_kb"]), table["sram_ofmap_writes"],
        table["dram_ifmap_reads"] + table["dram_filter_reads"] + table["dram_ofmap_writes"],
        energy.DEFAULT)
    table["edp"] = table["energy_pj"] * table["total_cycles"]
    return table


def frame(table):
    """The DataFrame of ``table`` (dict name -> 1-D array of one length, in column order);
    str/object columns become pandas string columns. One construction from whole
    columns: pandas' dict path sanitises column by column (~8x slower)."""
    text = _str_dtype()
    columns = [_text_array(v, text) if v.dtype.kind in "OUS" else v for v in table.values()]
    if not hasattr(pd.DataFrame, "_from_arrays"):  # pandas without it: the dict path
        return pd.DataFrame(dict(zip(table, columns)))
    size = len(columns[0]) if columns else 0
    return pd.DataFrame._from_arrays(columns, columns=_column_index(tuple(table)).copy(),
                                     index=pd.RangeIndex(size), verify_integrity=False)


#: str columns of at most this many entries are built once per content and dtype
_SHORT_TEXT = 64


def _text_array(values, dtype):
    """``pd.array(values, dtype=dtype)``. A short 1-D column of ``str`` (layer names, the
    dataflow and mode of a few layers) is built once per content (the last 64 kept)
    and copied, which costs ~1 us instead of ~20 us."""
    if values.ndim == 1 and len(values) <= _SHORT_TEXT and values.dtype.kind in "OU":
        items = tuple(values.tolist())
        if all(type(v) is str for v in items):
            try:
                return _short_text(items, dtype).copy()
            except TypeError:  # an unhashable dtype
                pass
    return pd.array(values, dtype=dtype)


@functools.lru_cache(maxsize=64)
def _short_text(items, dtype):
    return pd.array(np.array(items, dtype=object), dtype=dtype)


@functools.lru_cache(maxsize=16)
def _column_index(names):
    """``pd.Index(names)``, built once per tuple of names (callers take a ``copy``)."""
    return pd.Index(list(names))


def _nan_string_is_str():
    try:
        return pd.StringDtype(na_value=np.nan) == pd.api.types.pandas_dtype("str")
    except (TypeError, ValueError):  # a pandas without the NaN-variant string dtype
        return False


_NAN_STRING_IS_STR = _nan_string_is_str()


def _str_dtype():
    """pandas' ``"str"`` dtype, without the name lookup where it is the NaN-variant
    ``StringDtype`` (built per call: its storage follows pandas' options)."""
    return pd.StringDtype(na_value=np.nan) if _NAN_STRING_IS_STR else "str"


def simulate(M, N, K, rows, cols, dataflow, *, ifmap_kb=256, filter_kb=256, ofmap_kb=256,
             bandwidth=10, mode="calc", convention="scalesim-3.0", ifmap_bank_bandwidth=None,
             filter_bank_bandwidth=None, ifmap_banks=1, filter_banks=1, ifmap_bank_ports=2,
             filter_bank_ports=2, ifmap_custom_layout=False, filter_custom_layout=False,
             layout=None, read_request_buffer=32, write_request_buffer=32):
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
    ifmap_bank_bandwidth, filter_bank_bandwidth : int or array_like of int, optional
        SCALE-Sim's ``[layout]`` ``IfmapSRAMBankBandwidth`` /
        ``FilterSRAMBankBandwidth`` (words/cycle, >= 1; default ``bandwidth``).
        In USER mode they are the DRAM bandwidths of the IFMAP and filter read
        buffers, and ``bandwidth`` only drains the OFMAP, as in SCALE-Sim 3.0.0.
    ifmap_banks, filter_banks : int or array_like of int
        ``IfmapSRAMBankNum`` / ``FilterSRAMBankNum`` (>= 1, default 1). In USER
        mode a bank count must divide its bank bandwidth (SCALE-Sim asserts it).
    ifmap_bank_ports, filter_bank_ports : int or array_like of int
        ``IfmapSRAMBankPort`` / ``FilterSRAMBankPort``, ports per bank (>= 1,
        default 2). Banks and ports change figures only with a custom layout.
    ifmap_custom_layout, filter_custom_layout : bool or array_like of bool
        ``IfmapCustomLayout`` / ``FilterCustomLayout`` (default False). In USER
        mode the operand is prefetched in ``layout``'s order, into lines of one
        bank bandwidth, and each demand row waits for its bank conflicts. CALC
        mode only checks the layout against the bank bandwidths.
    layout : Layout or array_like of Layout, optional
        The layout-CSV row (:class:`airchitect.targets.systolic.layout.Layout`)
        of each element; default every factor 1. The IFMAP factors must
        multiply to at most ``ifmap_bank_bandwidth``, the filter factors to
        exactly ``filter_bank_bandwidth`` (where the custom layout is on).
        A GEMM is laid out as SCALE-Sim runs it: IFMAP X = M, Y = K, C = 1;
        filter K = N, C = 1, R = 1, S = K.
    read_request_buffer, write_request_buffer : int or array_like of int
        ``ReadRequestBuffer`` / ``WriteRequestBuffer`` (>= 0, default 32): used by
        SCALE-Sim only with Ramulator traces, so they change no figure here.

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
        mode every DRAM column is exact (SCALE-Sim's estimate buffers, see
        :mod:`airchitect.targets.systolic.memory.calc_reads`) and never NaN;
        the work is O(folds) a layer, except a conv layer whose ifmap outgrows
        the estimate buffer, replayed at most ``CALC_DRAM_WORK_LIMIT`` im2col
        reads and ``CALC_DRAM_MEMORY_LIMIT`` bytes (refused past them; a layer
        whose one column fold is past the work limit, or whose replay's arrays are
        past the memory limit, before any work starts).

    Raises
    ------
    ValueError
        A bad input (naming it), more than ``MAX_ELEMENTS`` broadcast elements,
        or, in USER mode, more than ``USER_ROWS_LIMIT`` demand rows in one
        element or ``USER_CALL_ROWS_LIMIT`` in the call, or, in CALC mode, a
        conv ifmap replay past ``CALC_DRAM_WORK_LIMIT`` or
        ``CALC_DRAM_MEMORY_LIMIT``, or, with a custom layout, more than
        ``LAYOUT_READS_LIMIT`` SRAM reads in one element or
        ``layout.MAX_LAYOUT_WORDS`` words in one laid-out operand.

    Examples
    --------
    >>> df = simulate(4, 5, 6, 8, 4, ["os", "ws", "is"])
    >>> df["total_cycles"].tolist()
    [31, 43, 22]
    """
    return frame(simulate_columns(
        M, N, K, rows, cols, dataflow, ifmap_kb=ifmap_kb, filter_kb=filter_kb, ofmap_kb=ofmap_kb,
        bandwidth=bandwidth, mode=mode, convention=convention,
        ifmap_bank_bandwidth=ifmap_bank_bandwidth, filter_bank_bandwidth=filter_bank_bandwidth,
        ifmap_banks=ifmap_banks, filter_banks=filter_banks, ifmap_bank_ports=ifmap_bank_ports,
        filter_bank_ports=filter_bank_ports, ifmap_custom_layout=ifmap_custom_layout,
        filter_custom_layout=filter_custom_layout, layout=layout,
        read_request_buffer=read_request_buffer, write_request_buffer=write_request_buffer))


def simulate_columns(M, N, K, rows, cols, dataflow, *, ifmap_kb=256, filter_kb=256,
                     ofmap_kb=256, bandwidth=10, mode="calc", convention="scalesim-3.0",
                     ifmap_bank_bandwidth=None, filter_bank_bandwidth=None, ifmap_banks=1,
                     filter_banks=1, ifmap_bank_ports=2, filter_bank_ports=2,
                     ifmap_custom_layout=False, filter_custom_layout=False, layout=None,
                     read_request_buffer=32, write_request_buffer=32):
    """:func:`simulate`'s columns as a dict (name -> 1-D array, in :func:`simulate`'s
    column order) instead of a DataFrame; :func:`frame` turns it into one. The work,
    bounds and errors are those of :func:`simulate`."""
    config, code, mode, convention = _check_config(rows, cols, dataflow, ifmap_kb, filter_kb,
                                                   ofmap_kb, bandwidth, mode, convention)
    keys = _layout_keys(locals())
    gemm = {n: check_int_array(n, v, 1, INT_MAX) for n, v in (("M", M), ("N", N), ("K", K))}
    inputs = dict(gemm, **config)
    shape = _shape(inputs.values(), keys)
    _check_size(shape)
    return _run(inputs, code, mode, convention, keys, shape)


def simulate_conv(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, rows,
                  cols, dataflow, *, ifmap_kb=256, filter_kb=256, ofmap_kb=256, bandwidth=10,
                  mode="calc", convention="scalesim-3.0", ifmap_bank_bandwidth=None,
                  filter_bank_bandwidth=None, ifmap_banks=1, filter_banks=1, ifmap_bank_ports=2,
                  filter_bank_ports=2, ifmap_custom_layout=False, filter_custom_layout=False,
                  layout=None, read_request_buffer=32, write_request_buffer=32):
    """:func:`simulate` for conv layers in SCALE-Sim's conv topology format.

    The layer fields (integers >= 1, ``filter_h <= ifmap_h``, ``filter_w <=
    ifmap_w``; one ``stride`` for both directions; no padding) map to a GEMM as
    in :mod:`airchitect.targets.systolic.conv`. The result has the layer
    columns, the derived ``M, N, K`` and the columns of :func:`simulate`. The
    ``[layout]`` keywords are those of :func:`simulate`; a layout's IFMAP is
    ``(ifmap_h, ifmap_w, channels)``, its filter ``(num_filters, channels,
    filter_h, filter_w)``.

    Examples
    --------
    >>> simulate_conv(7, 7, 3, 3, 2, 4, 2, 4, 4, "os")["total_cycles"].tolist()
    [71]
    """
    return frame(simulate_conv_columns(
        ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, rows, cols, dataflow,
        ifmap_kb=ifmap_kb, filter_kb=filter_kb, ofmap_kb=ofmap_kb, bandwidth=bandwidth, mode=mode,
        convention=convention, ifmap_bank_bandwidth=ifmap_bank_bandwidth,
        filter_bank_bandwidth=filter_bank_bandwidth, ifmap_banks=ifmap_banks,
        filter_banks=filter_banks, ifmap_bank_ports=ifmap_bank_ports,
        filter_bank_ports=filter_bank_ports, ifmap_custom_layout=ifmap_custom_layout,
        filter_custom_layout=filter_custom_layout, layout=layout,
        read_request_buffer=read_request_buffer, write_request_buffer=write_request_buffer))


def simulate_conv_columns(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride,
                          rows, cols, dataflow, *, ifmap_kb=256, filter_kb=256, ofmap_kb=256,
                          bandwidth=10, mode="calc", convention="scalesim-3.0",
                          ifmap_bank_bandwidth=None, filter_bank_bandwidth=None, ifmap_banks=1,
                          filter_banks=1, ifmap_bank_ports=2, filter_bank_ports=2,
                          ifmap_custom_layout=False, filter_custom_layout=False, layout=None,
                          read_request_buffer=32, write_request_buffer=32):
    """:func:`simulate_conv`'s columns as a dict (name -> 1-D array, in
    :func:`simulate_conv`'s column order) instead of a DataFrame (see :func:`frame`).
    The work, bounds and errors are those of :func:`simulate_conv`."""
    layer = check_conv(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride)
    config, code, mode, convention = _check_config(rows, cols, dataflow, ifmap_kb, filter_kb,
                                                   ofmap_kb, bandwidth, mode, convention)
    keys = _layout_keys(locals())
    shape = _shape((*layer, *config.values()), keys)
    _check_size(shape, "simulate_conv")
    M, N, K, _ = conv_gemm(*np.broadcast_arrays(*layer))
    inputs = dict(zip(CONV_FIELDS, layer), M=M, N=N, K=K, **config)
    out = _run(inputs, code, mode, convention, keys, shape)
    edge = overflows(out["ifmap_h"], out["ifmap_w"], out["filter_h"], out["filter_w"],
                     out["stride"])
    if edge.any() and mode == "calc":  # USER mode: the memory system finds it
        # Empty (-1) IFMAP addresses past the edge: find the last valid one (read latency 1).
        code = dataflow_codes(out["dataflow"][edge])
        last = last_ifmap_rows(code, *(out[n][edge] for n in ("rows", "cols", "M", "N", "K",
                                                                "ifmap_h", "ifmap_w", "filter_w",
                                                                "channels", "stride")))
        stop = out["sram_ifmap_stop_cycle"].copy()
        stop[edge] = last + 1
        out["sram_ifmap_stop_cycle"] = stop
    return out

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

from airchitect._checks import INT_MAX, check_choice, check_choice_array, check_int_array
from airchitect.targets.systolic import compute
from airchitect.targets.systolic.conv import (CONV_FIELDS, check_conv, conv_gemm,
                                              last_ifmap_rows, overflows)

DATAFLOWS = ("os", "ws", "is")
MODES = ("calc", "user")
MAX_ARRAY_DIM = 16384

# Output columns after the inputs, in SCALE-Sim's report order.
REPORT_FIELDS = (
    "total_cycles_incl_prefetch", "total_cycles", "stall_cycles", "overall_util",
    "mapping_efficiency", "compute_util", "compute_cycles",
    "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
    "sram_ifmap_start_cycle", "sram_ifmap_stop_cycle",
    "sram_filter_start_cycle", "sram_filter_stop_cycle",
    "sram_ofmap_start_cycle", "sram_ofmap_stop_cycle",
    "avg_ifmap_sram_bw", "avg_filter_sram_bw", "avg_ofmap_sram_bw",
)


def _check_config(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth, mode):
    mode = check_choice("mode", mode, MODES)
    config = {
        "rows": check_int_array("rows", rows, 1, MAX_ARRAY_DIM),
        "cols": check_int_array("cols", cols, 1, MAX_ARRAY_DIM),
        "dataflow": check_choice_array("dataflow", dataflow, DATAFLOWS),
        "ifmap_kb": check_int_array("ifmap_kb", ifmap_kb, 1, INT_MAX),
        "filter_kb": check_int_array("filter_kb", filter_kb, 1, INT_MAX),
        "ofmap_kb": check_int_array("ofmap_kb", ofmap_kb, 1, INT_MAX),
        "bandwidth": check_int_array("bandwidth", bandwidth, 1, INT_MAX),
    }
    return config, mode


def _memory_fields(mode, arrays, fields, ifmap_words, filter_words):
    """Columns that depend on the memory system, for ``mode``."""
    if mode == "user":
        raise NotImplementedError(
            "mode='user' needs the DRAM memory system, which is not built yet; use mode='calc'")
    ifmap_start = compute.calc_dram_start(ifmap_words, arrays["ifmap_kb"],
                                          fields["first_request_cycle_ifmap"])
    filter_start = compute.calc_dram_start(filter_words, arrays["filter_kb"],
                                           fields["first_request_cycle_filter"])
    Sr, Sc, T = compute.spatial_dims(arrays["M"], arrays["N"], arrays["K"], arrays["code"])
    stop, _, stall = compute.calc_ofmap_drain(arrays["code"], arrays["rows"], arrays["cols"], T,
                                              Sr, Sc, arrays["ofmap_kb"], fields["total_cycles"],
                                              fields["ofmap_valid_writes"])
    if stall.any():
        raise NotImplementedError(
            "this configuration stalls on the OFMAP SRAM even in CALC mode (ofmap_kb too small "
            "for cols); that needs the memory system, which is not built yet")
    return {"total_cycles_incl_prefetch": stop - np.minimum(ifmap_start, filter_start)}


def _run(inputs, ifmap_words, mode):
    """Broadcast ``inputs`` (dict name -> array, holding M, N, K and the configuration),
    run the model parts and build the DataFrame (input columns in ``inputs`` order)."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in inputs.values()), np.shape(ifmap_words))
    flat = {n: np.broadcast_to(v, shape).ravel() for n, v in inputs.items()}
    ifmap_words = np.broadcast_to(ifmap_words, shape).ravel()
    M, N, K = flat["M"], flat["N"], flat["K"]
    code = np.select([flat["dataflow"] == "os", flat["dataflow"] == "ws"], [0, 1], 2).astype(np.int64)
    rows, cols = flat["rows"], flat["cols"]
    Sr, Sc, T = compute.spatial_dims(M, N, K, code)
    folds = np.ceil(Sr / rows) * np.ceil(Sc / cols)
    if folds.size and (folds * (T + 2.0 * rows + cols)).max() >= 2.0**62:
        raise ValueError("M, N, K too large for rows, cols: total cycles would exceed 2**62")
    fields = compute.compute_fields(M, N, K, rows, cols, code)
    arrays = dict(flat, M=M, N=N, K=K, code=code)
    fields.update(_memory_fields(mode, arrays, fields, ifmap_words, K * N))
    out = pd.DataFrame(flat)
    out["mode"] = mode
    for name in REPORT_FIELDS:
        out[name] = fields[name]
    return out


def simulate(M, N, K, rows, cols, dataflow, *, ifmap_kb=256, filter_kb=256, ofmap_kb=256,
             bandwidth=10, mode="calc"):
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
        SCALE-Sim's interface bandwidth mode. ``"user"`` is not built yet and
        raises ``NotImplementedError``.

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
        ``avg_{ifmap,filter,ofmap}_sram_bw`` (words/cycle).

    Examples
    --------
    >>> df = simulate(4, 5, 6, 8, 4, ["os", "ws", "is"])
    >>> df["total_cycles"].tolist()
    [31, 43, 51]
    """
    config, mode = _check_config(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth, mode)
    gemm = {n: check_int_array(n, v, 1, INT_MAX) for n, v in (("M", M), ("N", N), ("K", K))}
    inputs = dict(gemm, **config)
    return _run(inputs, gemm["M"] * gemm["K"], mode)


def simulate_conv(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, rows,
                  cols, dataflow, *, ifmap_kb=256, filter_kb=256, ofmap_kb=256, bandwidth=10,
                  mode="calc"):
    """:func:`simulate` for conv layers in SCALE-Sim's conv topology format.

    The layer fields (integers >= 1, ``filter_h <= ifmap_h``, ``filter_w <=
    ifmap_w``; one ``stride`` for both directions; no padding) map to a GEMM as
    in :mod:`airchitect.targets.systolic.conv`. The result has the layer
    columns, the derived ``M, N, K`` and the columns of :func:`simulate`.

    Examples
    --------
    >>> simulate_conv(7, 7, 3, 3, 2, 4, 2, 4, 4, "os")["total_cycles"].tolist()
    [27]
    """
    layer = check_conv(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride)
    config, mode = _check_config(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth, mode)
    M, N, K, ifmap_words = conv_gemm(*np.broadcast_arrays(*layer))
    inputs = dict(zip(CONV_FIELDS, layer), M=M, N=N, K=K, **config)
    out = _run(inputs, ifmap_words, mode)
    cols = {name: out[name].to_numpy() for name in CONV_FIELDS + ("M", "N", "K", "rows", "cols")}
    edge = overflows(cols["ifmap_h"], cols["ifmap_w"], cols["filter_h"], cols["filter_w"],
                     cols["stride"])
    if edge.any():
        # Empty (-1) IFMAP addresses past the edge: find the last valid one (read latency 1).
        code = out["dataflow"].map({"os": 0, "ws": 1, "is": 2}).to_numpy()[edge]
        last = last_ifmap_rows(code, *(cols[n][edge] for n in ("rows", "cols", "M", "N", "K",
                                                                 "ifmap_h", "ifmap_w", "filter_w",
                                                                 "channels", "stride")))
        out.loc[edge, "sram_ifmap_stop_cycle"] = last + 1
    return out

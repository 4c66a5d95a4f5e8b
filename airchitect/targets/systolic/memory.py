"""SCALE-Sim 3.0.0's memory system in USER bandwidth mode, exact and vectorised.

SCALE-Sim replays every SRAM address of a layer in Python (minutes per GEMM
when the buffers are small). This module gives the same figures -- stall
cycles, total cycles, DRAM traffic per operand, SRAM and DRAM start/stop
cycles, average bandwidths -- from a streamed, fold-by-fold numba model
(:mod:`airchitect.targets.systolic.memory_engine`), one workload at a time
inside a compiled loop.

Conventions
-----------
``convention="scalesim-3.0"`` (default) reproduces SCALE-Sim 3.0.0, quirks
included. ``convention="corrected"`` departs in two places, both in the read
buffers (see ``memory_engine._miss``):

* a positive prefetch stall is counted once (SCALE-Sim adds it twice, and adds a
  negative one once, in ``read_buffer.service_reads``);
* a prefetch starts no earlier than the miss that triggers it (SCALE-Sim times
  it from the end of the previous prefetch, ``read_buffer.new_prefetch``).

SCALE-Sim 3.0.0 in USER mode also takes the ifmap and filter DRAM bandwidth from
the ``[layout]`` ``IfmapSRAMBankBandwidth`` / ``FilterSRAMBankBandwidth`` keys and
only the OFMAP drain from ``Bandwidth``. Here ``bandwidth`` is the single DRAM
bandwidth used for all three (the backend writes it to all three keys), so both
conventions use it everywhere and that quirk changes no figure.

Units: sizes in kB (1 kB = 1024 one-byte words, SCALE-Sim's word size),
bandwidths in words/cycle, cycles as SCALE-Sim counts them (the DRAM start
cycles of the first prefetch are negative: it happens before cycle 0).

Examples
--------
>>> out = user_mode(64, 64, 64, 8, 8, 0, 1, 1, 1, 2)  # SCALE-Sim 3.0.0 gives the same
>>> int(out["total_cycles"][0]), int(out["stall_cycles"][0])
(116383, 111392)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._checks import INT_MAX, check_choice, check_int_array
from airchitect.targets.systolic import energy
from airchitect.targets.systolic import memory_engine as engine

CONVENTIONS = ("scalesim-3.0", "corrected")
WORDS_PER_KB = 1024

#: integer-valued output fields of :func:`user_mode`, then the derived ones
COUNT_FIELDS = engine.OUT_FIELDS + ("sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes")
RATE_FIELDS = (
    "overall_util", "energy_pj", "edp",
    "avg_ifmap_sram_bw", "avg_filter_sram_bw", "avg_ofmap_sram_bw",
    "avg_ifmap_dram_bw", "avg_filter_dram_bw", "avg_ofmap_dram_bw",
)


def _ceil_div(a, b):
    return -(-a // b)


def geometry(P, Wn, Nf, ifmap_h, ifmap_w, filter_w, channels, stride, ofmap_w, rows, cols,
             dataflow_code, dense):
    """Stack the engine's geometry vectors, shape (n, 13) int64.

    ``P`` ofmap pixels, ``Wn`` conv window (filter_h * filter_w * channels),
    ``Nf`` filters; for a GEMM (M, N, K): P = M, Wn = K, Nf = N, a K-wide
    one-channel "image" of M rows. ``dense`` marks ifmap operand matrices whose
    addresses are all distinct and present (GEMMs).
    """
    cols_ = (P, Wn, Nf, ifmap_h, ifmap_w, filter_w, channels, stride, ofmap_w, rows, cols,
             dataflow_code, dense)
    arrays = np.broadcast_arrays(*(np.asarray(c, dtype=np.int64) for c in cols_))
    return np.stack([a.ravel() for a in arrays], axis=1)


def gemm_geometry(M, N, K, rows, cols, dataflow_code):
    """Geometry vectors of GEMMs as SCALE-Sim maps them (ifmap M x K, filter K x N)."""
    M = np.asarray(M, dtype=np.int64)
    K = np.asarray(K, dtype=np.int64)
    return geometry(M, K, N, M, K, K, 1, 1, 1, rows, cols, dataflow_code, 1)


def conv_geometry(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, rows,
                  cols, dataflow_code):
    """Geometry vectors of conv layers in SCALE-Sim's topology format (no padding)."""
    ih, iw, fh, fw, ch, nf, s = (np.asarray(v, dtype=np.int64) for v in
                                 (ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters,
                                  stride))
    oh = _ceil_div(ih - fh + s, s)
    ow = _ceil_div(iw - fw + s, s)
    # 1x1 filters at stride 1 read every ifmap word once: the GEMM fast path applies
    dense = ((fh == 1) & (fw == 1) & (s == 1)).astype(np.int64)
    return geometry(oh * ow, fh * fw * ch, nf, ih, iw, fw, ch, s, ow, rows, cols,
                    dataflow_code, dense)


def _sram_counts(G):
    """SCALE-Sim's SRAM read/write counts (compute side), per dataflow."""
    P, Wn, Nf = G[:, engine.G_P], G[:, engine.G_WN], G[:, engine.G_NF]
    R, C, code = G[:, engine.G_R], G[:, engine.G_C], G[:, engine.G_DF]
    os_, ws_, is_ = code == 0, code == 1, code == 2
    Sr = np.where(os_, P, Wn)
    Sc = np.where(is_, P, Nf)
    T = np.where(os_, Wn, np.where(ws_, P, Nf))
    row_folds = _ceil_div(Sr, R)
    col_folds = _ceil_div(Sc, C)
    streamed = T * Sr * col_folds  # the operand fed along the rows, once per column fold
    ifmap = np.where(is_, Sr * Sc, streamed)
    filt = np.where(os_, T * Sc * row_folds, np.where(ws_, Sr * Sc, streamed))
    ofmap = np.where(os_, Sr * Sc + row_folds * col_folds * (R + C), T * Sc * row_folds)
    return ifmap, filt, ofmap


def simulate_geometry(G, ifmap_kb, filter_kb, ofmap_kb, bandwidth, convention="scalesim-3.0",
                      mode="user", energy_model=energy.DEFAULT):
    """Run the memory model on geometry vectors ``G`` (n, 13); see :func:`user_mode`.

    ``mode="calc"`` gives SCALE-Sim's CALC-mode figures instead: estimate read
    buffers (10 words/cycle, never stalling) and an OFMAP drain of ``cols``
    words/cycle; ``bandwidth`` and ``convention`` are then unused.
    ``energy_model`` (:class:`~airchitect.targets.systolic.energy.EnergyModel`)
    sets the ``energy_pj`` and ``edp`` columns.
    """
    convention = check_choice("convention", convention, CONVENTIONS)
    mode = check_choice("mode", mode, ("user", "calc"))
    n = G.shape[0]
    kb = np.broadcast_arrays(*(np.broadcast_to(np.asarray(v, dtype=np.int64), (n,))
                               for v in (ifmap_kb, filter_kb, ofmap_kb)))
    words = np.stack(kb, axis=1) * WORDS_PER_KB
    bw = np.broadcast_to(np.asarray(bandwidth, dtype=np.int64), (n,))
    bws = np.repeat(bw[:, None], 3, axis=1)
    if mode == "calc":
        bws[:, 0] = bws[:, 1] = engine.CALC_READ_BW
        bws[:, 2] = G[:, engine.G_C]
    raw = np.zeros((n, engine.N_OUT), dtype=np.float64)
    engine.simulate_many(np.ascontiguousarray(G), np.ascontiguousarray(words), bws,
              CONVENTIONS.index(convention), mode == "calc", raw)
    out = {name: raw[:, i].astype(np.int64) for i, name in enumerate(engine.OUT_FIELDS)}
    out = add_energy(G, np.stack(kb, axis=1), out, energy_model)
    total = out["total_cycles"]
    macs = _macs(G)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["overall_util"] = (macs * 100) / (total * G[:, engine.G_R] * G[:, engine.G_C])
        for op, count in (("ifmap", "sram_ifmap_reads"), ("filter", "sram_filter_reads"),
                          ("ofmap", "sram_ofmap_writes")):
            out[f"avg_{op}_sram_bw"] = out[count] / total
        for op, count in (("ifmap", "dram_ifmap_reads"), ("filter", "dram_filter_reads"),
                          ("ofmap", "dram_ofmap_writes")):
            span = (out[f"dram_{op}_stop_cycle"] - out[f"dram_{op}_start_cycle"] + 1.0)
            out[f"avg_{op}_dram_bw"] = out[count] / span
    return out


def _macs(G):
    """Multiply-accumulates of every geometry vector of ``G``."""
    return G[:, engine.G_P] * G[:, engine.G_WN] * G[:, engine.G_NF]


def add_energy(G, kb, out, energy_model=energy.DEFAULT):
    """Add the SRAM access counts, ``energy_pj`` and ``edp`` to ``out`` (which holds
    ``total_cycles`` and the three DRAM counts) of geometry ``G``, SRAM ``kb`` (n, 3)."""
    for name, value in zip(COUNT_FIELDS[-3:], _sram_counts(G)):
        out[name] = value
    out["energy_pj"] = energy.layer_energy_pj(
        _macs(G), (out["sram_ifmap_reads"], out["sram_filter_reads"]), tuple(np.asarray(kb).T),
        out["sram_ofmap_writes"],
        out["dram_ifmap_reads"] + out["dram_filter_reads"] + out["dram_ofmap_writes"],
        energy_model)
    out["edp"] = out["energy_pj"] * out["total_cycles"]
    return out


def calc_mode(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb):
    """SCALE-Sim 3.0.0 CALC-mode memory figures of GEMMs (its estimate buffers),
    vectorised like :func:`user_mode`; same output fields.

    Examples
    --------
    >>> out = calc_mode(64, 64, 64, 8, 8, 0, 1, 1, 1)
    >>> int(out["dram_ifmap_reads"][0]) >= 64 * 64
    True
    """
    # CALC mode has no DRAM bandwidth: 1 stands in for it
    return simulate_geometry(*checked_gemms(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb,
                                            ofmap_kb, 1), mode="calc")


def _check_memory(ifmap_kb, filter_kb, ofmap_kb, bandwidth):
    return (check_int_array("ifmap_kb", ifmap_kb, 1, 2**20),
            check_int_array("filter_kb", filter_kb, 1, 2**20),
            check_int_array("ofmap_kb", ofmap_kb, 1, 2**20),
            check_int_array("bandwidth", bandwidth, 1, 2**20))


def user_mode(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth,
              convention="scalesim-3.0"):
    """SCALE-Sim 3.0.0 USER-mode memory figures of GEMMs, vectorised.

    Every argument broadcasts (numpy rules); results are flat arrays in C order
    of the broadcast shape.

    Parameters
    ----------
    M, N, K : int or array_like of int
        GEMM ``C[M, N] = A[M, K] @ B[K, N]``.
    rows, cols : int or array_like of int
        Array height and width in PEs.
    dataflow_code : int or array_like of int
        0 = os, 1 = ws, 2 = is.
    ifmap_kb, filter_kb, ofmap_kb : int or array_like of int
        SRAM sizes in kB (1024 words each).
    bandwidth : int or array_like of int
        DRAM bandwidth in words/cycle, for all three operands.
    convention : {"scalesim-3.0", "corrected"}

    Returns
    -------
    dict of str -> numpy.ndarray
        ``COUNT_FIELDS`` (int64: cycles, words) and ``RATE_FIELDS`` (float64:
        ``overall_util`` in percent, bandwidths in words/cycle, ``energy_pj``
        in pJ with the default :mod:`~airchitect.targets.systolic.energy`
        model, ``edp`` in pJ x cycles), named after SCALE-Sim's report columns.

    Examples
    --------
    >>> out = user_mode(32, 32, 32, 8, 8, [0, 1, 2], 1, 1, 1, 1)
    >>> out["stall_cycles"].tolist()  # as SCALE-Sim 3.0.0 reports them
    [7656, 7344, 7344]
    """
    return simulate_geometry(*checked_gemms(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb,
                                            ofmap_kb, bandwidth), convention=convention)


def checked_gemms(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth):
    """Check the arguments of :func:`user_mode` (a bad one raises, naming it) and
    broadcast them: ``(G, ifmap_kb, filter_kb, ofmap_kb, bandwidth)``, the GEMMs'
    geometry vectors (n, 13) and flat int64 arrays, in C order of the broadcast shape."""
    gemm = [check_int_array(n, v, 1, INT_MAX) for n, v in (("M", M), ("N", N), ("K", K))]
    rows = check_int_array("rows", rows, 1, 16384)
    cols = check_int_array("cols", cols, 1, 16384)
    code = check_int_array("dataflow_code", dataflow_code, 0, 2)
    mem = _check_memory(ifmap_kb, filter_kb, ofmap_kb, bandwidth)
    shape = np.broadcast_shapes(*(np.shape(a) for a in (*gemm, rows, cols, code, *mem)))
    G = gemm_geometry(*(np.broadcast_to(a, shape) for a in (*gemm, rows, cols, code)))
    return (G, *(np.broadcast_to(a, shape).ravel() for a in mem))


def user_mode_conv(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, rows,
                   cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth,
                   convention="scalesim-3.0"):
    """:func:`user_mode` for conv layers in SCALE-Sim's conv topology format.

    The ifmap operand is SCALE-Sim's im2col matrix, whose addresses repeat across
    overlapping windows (and are empty past the edge when the stride does not
    divide the image); a read hits when any buffer set holding the address is
    active, exactly as SCALE-Sim's hashed buffer decides.

    Examples
    --------
    >>> out = user_mode_conv(8, 8, 3, 3, 4, 8, 1, 4, 4, 0, 1, 1, 1, 1)
    >>> int(out["total_cycles"][0]) > 0
    True
    """
    layer = [check_int_array(n, v, 1, INT_MAX) for n, v in
             (("ifmap_h", ifmap_h), ("ifmap_w", ifmap_w), ("filter_h", filter_h),
              ("filter_w", filter_w), ("channels", channels), ("num_filters", num_filters),
              ("stride", stride))]
    rows = check_int_array("rows", rows, 1, 16384)
    cols = check_int_array("cols", cols, 1, 16384)
    code = check_int_array("dataflow_code", dataflow_code, 0, 2)
    mem = _check_memory(ifmap_kb, filter_kb, ofmap_kb, bandwidth)
    shape = np.broadcast_shapes(*(np.shape(a) for a in (*layer, rows, cols, code, *mem)))
    G = conv_geometry(*(np.broadcast_to(a, shape) for a in (*layer, rows, cols, code)))
    return simulate_geometry(G, *(np.broadcast_to(a, shape).ravel() for a in mem),
                             convention=convention)


@njit(cache=True)
def _band_scans(length, scans, n, block):
    """Insertions after ``scans`` back-to-back increasing scans of ``length`` new words
    into CALC mode's estimate buffer, which keeps the words inserted since the last
    multiple of ``block`` insertions; ``n`` insertions before. Returns the new count."""
    if length >= block:
        return n + scans * length
    x0 = np.empty(64, np.int64)
    x1 = np.empty(64, np.int64)
    base = np.empty(64, np.int64)
    y0 = np.empty(64, np.int64)
    y1 = np.empty(64, np.int64)
    yb = np.empty(64, np.int64)
    x0[0], x1[0], base[0] = 0, length, n
    m = 1
    n += length
    for _ in range(scans - 1):
        k = 0
        for p in range(m):
            x = x0[p]
            while x < x1[p]:
                start = (n // block) * block
                inserted = base[p] + x - x0[p]
                if inserted >= start:
                    y, b = x1[p], inserted
                else:
                    y = min(x1[p], x0[p] + start - base[p], x + start + block - n)
                    b = n
                    n += y - x
                if k > 0 and y1[k - 1] == x and yb[k - 1] + x - y0[k - 1] == b:
                    y1[k - 1] = y
                else:
                    if k == 64:
                        raise ValueError("estimate buffer: too many pieces")
                    y0[k], y1[k], yb[k] = x, y, b
                    k += 1
                x = y
        m = k
        x0[:m], x1[:m], base[:m] = y0[:m], y1[:m], yb[:m]
    return n


@njit(cache=True)
def _os_filter_reads(K, N, C, row_folds, block):
    """CALC-mode filter DRAM reads of an os GEMM: column fold ``fc`` reads its
    ``K x cv`` filter band once per row fold."""
    n = 0
    for fc in range((N + C - 1) // C):
        n = _band_scans(K * min(C, N - fc * C), row_folds, n, block)
    return n


def calc_dram_reads(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb):
    """CALC-mode DRAM reads (words) of dense GEMMs, ``(ifmap, filter)`` flat int64 arrays
    (C order of the broadcast shape).

    The same counts as the word-by-word replay of SCALE-Sim's estimate buffers
    (``mode="calc"``), without the replay: an operand read once per fold (the
    streamed one) or once in all (the stationary one) is fetched again on every
    read when it spans 50 sets or more, and once otherwise; the os filter band of
    a column fold, read once per row fold, is followed band by band. Work is
    O(column folds x row folds) per os GEMM, O(1) otherwise.
    """
    M, N, K, R, C, code, ikb, fkb = (a.ravel() for a in np.broadcast_arrays(
        *(np.asarray(v, dtype=np.int64) for v in (M, N, K, rows, cols, dataflow_code,
                                                  ifmap_kb, filter_kb))))
    i_block = 50 * (ikb * WORDS_PER_KB // 100)
    f_block = 50 * (fkb * WORDS_PER_KB // 100)
    ifmap, filt = M * K, K * N
    streams = np.where(code == 2, _ceil_div(M, C), _ceil_div(N, C))
    i_reads = np.where((code == 2) | (ifmap < i_block), ifmap, streams * ifmap)
    f_reads = np.where((code == 1) | (filt < f_block), filt, streams * filt)
    walk = (code == 0) & (filt >= f_block)
    for at in np.flatnonzero(walk):
        f_reads[at] = _os_filter_reads(K[at], N[at], C[at], -(-M[at] // R[at]), f_block[at])
    return i_reads, f_reads

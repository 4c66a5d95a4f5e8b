"""A fast estimate of SCALE-Sim 3.0.0's USER-mode cycles of GEMMs, fold by fold.

:func:`airchitect.targets.systolic.memory.user_mode` replays every row of the
array's demand (one row per cycle), which costs about half a millisecond per
GEMM. This module walks the same folds but visits only the rows where a read
buffer misses, about twenty microseconds per GEMM:

* **Prefetch counts are exact.** Within a fold, the words an operand reads
  sweep its prefetch order monotonically (skewed, "diagonal" operands) or row
  by row in descending order (flat operands, read in the fold's first rows).
  Which sets a sweep needs, and how many times the window of active sets must
  slide (wrapping around the buffer when the sweep steps back), has a closed
  form per run, so the number of DRAM prefetches of each read buffer, and with
  it the DRAM read traffic, equals SCALE-Sim's.
* **Timing is estimated.** A miss inside a fold's sweep is placed on the row
  where the sweep reaches the set, by linear interpolation of the fold's
  positions over its rows; misses on one row follow SCALE-Sim 3.0.0's prefetch
  recurrence exactly (prefetches chained from the end of the previous one, a
  positive wait counted twice). The ofmap write buffer is a fluid queue: the
  fold's writes arrive evenly over its write rows and drain at the DRAM
  bandwidth; the array stalls while the queue is full.

On 42,000 (GEMM, SRAM split) pairs of the ``buffer`` task the estimate is
within 0.1% of SCALE-Sim for two pairs in three, and picking the split of least
estimated cycles gives 99.7 to 99.9% of the best performance (docs/systolic.md).

Units: sizes in words (:func:`estimate_user_mode` takes kB, 1 kB = 1024
words), bandwidth in words/cycle, cycles as SCALE-Sim counts them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from airchitect._checks import INT_MAX, check_int_array
from airchitect.targets.systolic.memory_engine import (
    G_C, G_DF, G_R, _ceil_div, _fold_grid, _fold_span, _operand, _position, _row_runs,
    _valid_words,
)

#: columns of :func:`estimate_many`'s output
OUT_FIELDS = ("total_cycles", "ifmap_prefetches", "filter_prefetches", "ofmap_stall_cycles")
_NONE = 1 << 60


@njit(cache=True)
def _window(size, n_valid):
    """(words per set, sets, active sets, sets per prefetch) of a read buffer."""
    eps = _ceil_div(size, 100)
    active = _ceil_div(size, 2)
    n_lines = n_valid // eps + 1
    n_act = min(_ceil_div(active, eps), n_lines)
    n_pre = min(_ceil_div(size - active, eps), n_lines - n_act)
    return eps, n_lines, n_act, n_pre


@njit(cache=True, inline="always")
def _bring(start, s, n_lines, n_act, n_pre):
    """Slide the window ``[start, start + n_act)`` (mod ``n_lines``) until it holds
    set ``s``; return (new start, misses)."""
    dist = (s - start) % n_lines
    if dist < n_act:
        return start, 0
    m = (dist - n_act) // n_pre + 1
    return (start + m * n_pre) % n_lines, m


@njit(cache=True, inline="always")
def _window_end(start, s0, n_lines, n_act):
    """End of the window holding set ``s0``, counted on from ``s0`` (no wrap): a
    sweep up from ``s0`` misses once it reaches this set, then every ``n_pre``."""
    return s0 - (s0 - start) % n_lines + n_act


@njit(cache=True)
def _burst(last, F, cycle, m):
    """SCALE-Sim 3.0.0's read recurrence for ``m`` misses on one row served at
    ``cycle``: each prefetch ends ``F`` cycles after the previous one (``last``);
    a positive wait is added twice. Returns (end of the last prefetch, offset)."""
    x = 1 - (last - cycle)
    x1 = F - x if x < F else 0
    if m == 1:
        xm = x1
    elif x1 >= F:
        xm = 0 if m % 2 == 0 else F
    else:
        xm = x1 if m % 2 == 1 else F - x1
    end = last + m * F
    return end, end - cycle + xm


@njit(cache=True)
def _runs(g, fc, fr, j, rv, cv, t, operand):
    """(stacked row, column, words) of one operand's run on fold row ``j``."""
    ir, ic, ni, fr_, fcol, nf, _ = _row_runs(g, fc, fr, j, rv, cv, t)
    if operand == 0:
        return ir, ic, ni
    return fr_, fcol, nf


@njit(cache=True)
def _fold_misses(d, win, start, flat, g, fc, fr, lo, hi, rv, cv, t, operand, rows, counts):
    """Misses of one operand in fold (fc, fr) as events (fold row, count) in
    ``rows``/``counts``; return (window start, events, misses)."""
    eps, n_lines, n_act, n_pre = win
    n = 0
    total = 0
    if flat:  # one run per row, rows descending in the prefetch order
        for j in range(lo, hi + 1):
            r, c, k = _runs(g, fc, fr, j, rv, cv, t, operand)
            if k <= 0:
                continue
            p = _position(d, r, c)
            s0 = p // eps
            s1 = (p + k - 1) // eps
            start, m = _bring(start, s0, n_lines, n_act, n_pre)
            end = _window_end(start, s0, n_lines, n_act)
            if s1 >= end:
                more = (s1 - end) // n_pre + 1
                m += more
                start = (start + more * n_pre) % n_lines
            if m > 0:
                rows[n] = j
                counts[n] = m
                n += 1
                total += m
        return start, n, total
    r0, c0, _ = _runs(g, fc, fr, lo, rv, cv, t, operand)
    r1, c1, k1 = _runs(g, fc, fr, hi, rv, cv, t, operand)
    p0 = _position(d, r0, c0)
    p1 = _position(d, r1, c1) + k1 - 1
    s0 = p0 // eps
    s1 = p1 // eps
    start, m = _bring(start, s0, n_lines, n_act, n_pre)
    if m > 0:
        rows[n] = lo
        counts[n] = m
        n += 1
        total += m
    end = _window_end(start, s0, n_lines, n_act)
    if s1 >= end:
        k = (s1 - end) // n_pre + 1
        span = hi - lo + 1
        for i in range(k):
            pos = max((end + i * n_pre) * eps, p0)
            row = lo + (pos - p0) * span // (p1 - p0 + 1)
            if n > 0 and rows[n - 1] == row:
                counts[n - 1] += 1
            else:
                rows[n] = row
                counts[n] = 1
                n += 1
        total += k
        start = (start + k * n_pre) % n_lines
    return start, n, total


@njit(cache=True)
def estimate_one(g, ifmap_words, filter_words, ofmap_words, bw, out):
    """Estimate one GEMM (geometry vector ``g``); write OUT_FIELDS to ``out``."""
    C = g[G_C]
    df = g[G_DF]
    idesc = _operand(g, 0)
    fdesc = _operand(g, 1)
    iwin = _window(ifmap_words, _valid_words(idesc))
    fwin = _window(filter_words, _valid_words(fdesc))
    i_fit = iwin[2] == iwin[1]
    f_fit = fwin[2] == fwin[1]
    iF = _ceil_div(ifmap_words - _ceil_div(ifmap_words, 2), bw) + 1
    fF = _ceil_div(filter_words - _ceil_div(filter_words, 2), bw) + 1
    n_outer, n_inner, per, sr, sc, t = _fold_grid(g)
    irow = np.empty(per + 2, np.int64)
    icnt = np.empty(per + 2, np.int64)
    frow = np.empty(per + 2, np.int64)
    fcnt = np.empty(per + 2, np.int64)
    istart = fstart = 0
    i_misses = f_misses = 0
    ilast = flast = -1  # SCALE-Sim fills both active halves before cycle 0
    stall = 0
    write_stall = 0
    base = 0
    queue = 0.0
    written = 0.0
    for fc in range(n_outer):
        cv = min(C, sc - fc * C)
        for fr in range(n_inner):
            rv = min(g[G_R], sr - fr * g[G_R])
            i_lo, i_hi, f_lo, f_hi, o_lo, o_hi, words = _fold_span(g, rv, cv, t)
            ni = nf = 0
            if not i_fit:
                istart, ni, m = _fold_misses(idesc, iwin, istart, df == 2, g, fc, fr, i_lo, i_hi,
                                             rv, cv, t, 0, irow, icnt)
                i_misses += m
            if not f_fit:
                fstart, nf, m = _fold_misses(fdesc, fwin, fstart, df == 1, g, fc, fr, f_lo, f_hi,
                                             rv, cv, t, 1, frow, fcnt)
                f_misses += m
            a = b = 0
            while a < ni or b < nf:
                ra = irow[a] if a < ni else _NONE
                rb = frow[b] if b < nf else _NONE
                r = min(ra, rb)
                cycle = base + r + stall
                wait = 0
                if ra == r:
                    ilast, offset = _burst(ilast, iF, cycle, icnt[a])
                    wait = max(wait, offset - 1)
                    a += 1
                if rb == r:
                    flast, offset = _burst(flast, fF, cycle, fcnt[b])
                    wait = max(wait, offset - 1)
                    b += 1
                stall += wait
            if words > 0:  # the fold's ofmap writes, a fluid queue
                queue = max(0.0, queue - bw * (base + o_lo + stall - written))
                span = o_hi - o_lo + 1
                rate = words / span
                if rate > bw and queue + (rate - bw) * span > ofmap_words:
                    filled = (ofmap_words - queue) / (rate - bw)
                    extra = (words - rate * filled) / bw - (span - filled)
                    if extra > 0:
                        stall += int(extra + 0.5)
                        write_stall += int(extra + 0.5)
                    queue = float(ofmap_words)
                else:
                    queue = max(0.0, queue + (rate - bw) * span)
                written = base + o_hi + stall
            base += per
    out[0] = base - 1 + stall  # the cycle the last row is served, as SCALE-Sim reports
    out[1] = i_misses
    out[2] = f_misses
    out[3] = write_stall


@njit(cache=True, parallel=True)
def estimate_many(G, words, bw, out):
    """:func:`estimate_one` over the rows of ``G`` (n, 13), ``words`` (n, 3: ifmap,
    filter, ofmap SRAM words), ``bw`` (n,) into ``out`` (n, 4), in parallel."""
    for n in prange(G.shape[0]):
        estimate_one(G[n], words[n, 0], words[n, 1], words[n, 2], bw[n], out[n])


def estimate_user_mode(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth):
    """Estimated SCALE-Sim 3.0.0 USER-mode figures of GEMMs, vectorised.

    Arguments broadcast as in :func:`~airchitect.targets.systolic.memory.user_mode`
    (sizes in kB, ``bandwidth`` in words/cycle, dataflow 0 = os, 1 = ws, 2 = is).

    Returns
    -------
    dict of str -> numpy.ndarray (int64, flat, C order of the broadcast shape)
        ``total_cycles`` (estimated, stalls included), ``ifmap_prefetches`` and
        ``filter_prefetches`` (exact: SCALE-Sim's DRAM prefetches after the
        first fill), ``dram_ifmap_reads`` and ``dram_filter_reads`` (exact,
        words), ``ofmap_stall_cycles`` (estimated stalls on a full write buffer).

    Examples
    --------
    >>> from airchitect.targets.systolic.memory import user_mode
    >>> est = estimate_user_mode(256, 64, 128, 8, 8, 1, 4, 4, 8, 4)
    >>> exact = user_mode(256, 64, 128, 8, 8, 1, 4, 4, 8, 4)
    >>> int(est["dram_filter_reads"][0]) == int(exact["dram_filter_reads"][0])
    True
    """
    from airchitect.targets.systolic.memory import WORDS_PER_KB, gemm_geometry

    gemm = [check_int_array(n, v, 1, INT_MAX) for n, v in (("M", M), ("N", N), ("K", K))]
    rows = check_int_array("rows", rows, 1, 16384)
    cols = check_int_array("cols", cols, 1, 16384)
    code = check_int_array("dataflow_code", dataflow_code, 0, 2)
    mem = [check_int_array(n, v, 1, 2**20) for n, v in
           (("ifmap_kb", ifmap_kb), ("filter_kb", filter_kb), ("ofmap_kb", ofmap_kb), ("bandwidth", bandwidth))]
    shape = np.broadcast_shapes(*(np.shape(a) for a in (*gemm, rows, cols, code, *mem)))
    flat = [np.broadcast_to(a, shape).ravel() for a in (*gemm, rows, cols, code, *mem)]
    G = gemm_geometry(*flat[:6])
    words = np.stack(flat[6:9], axis=1).astype(np.int64) * WORDS_PER_KB
    return estimate_geometry(G, words, flat[9])


def estimate_geometry(G, words, bandwidth):
    """:func:`estimate_user_mode` on dense geometry vectors ``G`` (n, 13) and SRAM
    ``words`` (n, 3); no input checks."""
    bw = np.ascontiguousarray(np.broadcast_to(np.asarray(bandwidth, dtype=np.int64), (len(G),)))
    raw = np.zeros((len(G), len(OUT_FIELDS)), np.int64)
    estimate_many(np.ascontiguousarray(G), np.ascontiguousarray(words, dtype=np.int64), bw, raw)
    out = {name: raw[:, i] for i, name in enumerate(OUT_FIELDS)}
    for i, name in ((0, "ifmap"), (1, "filter")):
        size = words[:, i]
        first = np.minimum(_cdiv(_cdiv(size, 2), bw), _cdiv(_elements(G, i), bw))
        out[f"dram_{name}_reads"] = (first + out[f"{name}_prefetches"] * _cdiv(size - _cdiv(size, 2), bw)) * bw
    return out


def _cdiv(a, b):
    return -(-a // b)


def _elements(G, operand):
    """Elements (padding included) of each operand's stacked prefetch matrix."""
    from airchitect.targets.systolic import memory_engine as engine

    P, Wn, Nf = G[:, engine.G_P], G[:, engine.G_WN], G[:, engine.G_NF]
    R, C, code = G[:, engine.G_R], G[:, engine.G_C], G[:, engine.G_DF]
    if operand == 0:
        return np.where(code == 0, _cdiv(P, R) * Wn * R,
                        np.where(code == 1, _cdiv(Wn, R) * P * R, _cdiv(P, C) * Wn * C))
    return np.where(code == 2, _cdiv(Wn, R) * Nf * R, _cdiv(Nf, C) * Wn * C)

"""Fast estimate of a GEMM's USER-mode cycles under every split of one SRAM budget.

The ``buffer`` task asks, for one GEMM on one array, which of the 105 splits of
``sram_kb`` among the ifmap, filter and ofmap buffers stalls least. The event
model (:mod:`airchitect.targets.systolic.memory_events`) walks every fold of every
split with all three buffers at once. This module uses two facts of SCALE-Sim
3.0.0's memory system to do far less work:

* **Each buffer's stalls depend on its own size only.** A read buffer's misses
  depend on its window alone, and its prefetches are chained from the end of
  the previous one (``read_buffer.new_prefetch``), never from the cycle of the
  miss: the ``n``-th prefetch ends ``n`` refill times after the first fill
  whatever the array did meanwhile. The stall the array accumulates is then
  close to the *largest* of the stalls each buffer would cause alone (a
  max-plus recurrence: ``stall = max(stall, prefetch end - demand row)``), not
  their sum. So the ifmap buffer is walked at its 14 sizes (1 to 14 sixteenths
  of the budget), the filter buffer at its 14 and the ofmap buffer at its 14 --
  42 single-buffer walks instead of 105 three-buffer ones -- and each split's
  cycles are ``stall-free cycles + max(ifmap, filter, ofmap stall)``.
* **Most folds do nothing new.** A read walk starts at the first fold that can
  miss, skips runs of folds whose sets all lie in the window, shares each band's
  geometry among the 14 sizes, and stops after ``max_folds`` folds that may
  miss (whole sweeps of the inner folds where they fit); the stall is then
  extended to the remaining folds (:func:`read_stalls`, :func:`write_stalls`).

Per fold, a buffer's misses and their rows are those of the event model's
estimate (its window arithmetic, :func:`~airchitect.targets.systolic.memory_events._serve_run`,
and write drains, :func:`~airchitect.targets.systolic.memory_events._drain_writes`),
served by SCALE-Sim's prefetch recurrence
(:func:`~airchitect.targets.systolic.memory_events._burst`).

On held-out buffer workloads the least-cycles split of this estimate reaches
99.65% of the best performance (GeoMean; docs/memory.md) at about 10
microseconds per workload for all 105 splits.

Units: SRAM sizes in words (1 kB = 1024 words), bandwidth in words/cycle,
cycles as SCALE-Sim counts them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from airchitect.targets.systolic.memory_engine import (
    G_C, G_DF, G_R, _ceil_div, _fold_grid, _fold_span, _operand, _position,
    _row_runs, _valid_words,
)
from airchitect.targets.systolic.memory_events import _burst, _drain_writes, _serve_run

#: sixteenths of the budget a buffer may take (1..14: each of the three gets >= 1)
SHARES = 14
PARTS = 16
#: folds a walk visits before it extends the stall's growth to the rest
MAX_FOLDS = 128
#: a write walk's folds per read walk's (its folds cost a few nanoseconds)
WRITE_FOLDS = 4
#: a write walk's folds are this many times fewer where every fold writes no more
#: than the drains send meanwhile
SHORT_WRITE_FOLDS = 32


@njit(cache=True, error_model="numpy")
def _walk_end(first, total, n_inner, max_folds):
    """(fold where a walk from ``first`` stops, fold where its growth is measured from)."""
    end = min(total, first + max_folds)
    if end == total:
        return total, total
    if 2 * n_inner <= max_folds:  # whole sweeps of the inner folds
        sweeps = (end - first) // n_inner
        return first + sweeps * n_inner, first + (sweeps // 2) * n_inner
    return end, first + (end - first) // 2


@njit(cache=True, inline="always", error_model="numpy")
def _extend(stall, from_stall, walked, since, total):
    """Stall after ``total`` folds from its values after ``since`` and ``walked`` folds."""
    if walked >= total or walked <= since:
        return stall
    return stall + (stall - from_stall) * (total - walked) / (walked - since)


# per fold, cached: first row, last row, and the first position and word count
# of the operand's runs on those rows
_LO, _HI, _P_LO, _K_LO, _P_HI, _K_HI, _STAMP = range(7)


@njit(cache=True, inline="always", error_model="numpy")
def _slot(f, fc, fr, by):
    """Where fold ``f`` (outer fold ``fc``, inner fold ``fr``) keeps its geometry:
    folds that read the same band share it -- by inner fold (``by`` 1: the band
    swept in every outer fold), by outer fold (``by`` 2: os filter) or by fold
    (``by`` 0: operands streamed once)."""
    if by == 1:
        return fr
    if by == 2:
        return fc
    return f


@njit(cache=True, error_model="numpy")
def _remember(cache, stamp, f, slot, d, g, n_inner, sr, sc, t, operand):
    """Compute the run geometry of fold ``f`` into ``cache[slot]`` (see ``_LO`` ...)
    and mark it ``stamp``: once per GEMM, operand and slot (:func:`_slot`), shared by
    the walks of all 14 buffer sizes."""
    fc, fr = f // n_inner, f % n_inner
    rv = min(g[G_R], sr - fr * g[G_R])
    cv = min(g[G_C], sc - fc * g[G_C])
    span = _fold_span(g, rv, cv, t)
    lo, hi = (span[0], span[1]) if operand == 0 else (span[2], span[3])
    cache[slot, _LO] = lo
    cache[slot, _HI] = hi
    for at, j in ((_P_LO, lo), (_P_HI, hi)):
        ir, ic, ni, fr_, fcol, nf, _ = _row_runs(g, fc, fr, j, rv, cv, t)
        r, c, k = (ir, ic, ni) if operand == 0 else (fr_, fcol, nf)
        cache[slot, at] = _position(d, r, c) if k > 0 else 0
        cache[slot, at + 1] = k
    cache[slot, _STAMP] = stamp


@njit(cache=True, inline="always", error_model="numpy")
def _get(cache, f):
    """The cached run geometry of slot ``f`` as a tuple. Straight-line on purpose:
    the loops that call it pay no reference counts for the array. For the same
    reason callers test the stamp and call :func:`_remember` themselves: an inlined
    helper holding that branch made the walks 5% slower."""
    return (cache[f, _LO], cache[f, _HI], cache[f, _P_LO], cache[f, _K_LO], cache[f, _P_HI],
            cache[f, _K_HI])


@njit(cache=True, inline="always", error_model="numpy")
def _holds(bottom, top, start, n_lines, n_act):
    """Whether the window of ``n_act`` sets from ``start`` (mod ``n_lines``) holds
    sets ``bottom..top``, all in ``[0, n_lines)``; without a division."""
    ahead = bottom - start
    if ahead < 0:
        ahead += n_lines
    return ahead + top - bottom < n_act


@njit(cache=True, inline="always", error_model="numpy")
def _span_sets(x, eps):
    """(lowest, highest) set a fold reads (its first and last rows hold them; flat
    folds read them the other way round), or (0, -1) for a fold with an empty row."""
    if x[_K_LO] <= 0 or x[_K_HI] <= 0:
        return 0, -1
    bottom = min(x[_P_LO], x[_P_HI]) // eps
    top = max(x[_P_LO] + x[_K_LO], x[_P_HI] + x[_K_HI]) - 1
    return bottom, top // eps


@njit(cache=True, inline="always", error_model="numpy")
def _quiet(x, eps, n_lines, n_act, start):
    """Whether every set of the fold lies in the window starting at ``start``."""
    bottom, top = _span_sets(x, eps)
    return top >= 0 and _holds(bottom, top, start, n_lines, n_act)


@njit(cache=True, error_model="numpy")
def _first_miss(d, g, n_outer, n_inner, sr, sc, t, operand, eps, n_act, cache, stamp, by, once):
    """The first fold whose reads leave the first window (sets ``[0, n_act)``), or -1.

    Until then nothing misses. The highest set read never decreases along the
    folds of one sweep (each sweep starts again at the operand's first words) or,
    for operands read once (``once``: os filter, ws filter, is ifmap), along all
    folds."""
    limit = n_outer * n_inner if once else n_inner
    a, b = 0, limit
    while a < b:
        mid = (a + b) // 2
        at = _slot(mid, mid // n_inner, mid % n_inner, by)
        if cache[at, _STAMP] != stamp:
            _remember(cache, stamp, mid, at, d, g, n_inner, sr, sc, t, operand)
        if _span_sets(_get(cache, at), eps)[1] >= n_act:
            b = mid
        else:
            a = mid + 1
    return a if a < limit else -1


@njit(cache=True, error_model="numpy")
def _last_quiet(d, g, f, stop, n_inner, sr, sc, t, operand, cache, stamp, by, eps, n_lines,
                n_act, start):
    """The last fold of ``[f, stop)`` up to which every fold is quiet, given that
    fold ``f`` is (quietness only ends along a sweep: its sets rise)."""
    step = 1
    good = f
    while good + step < stop:
        at = _slot(good + step, (good + step) // n_inner, (good + step) % n_inner, by)
        if cache[at, _STAMP] != stamp:
            _remember(cache, stamp, good + step, at, d, g, n_inner, sr, sc, t, operand)
        if not _quiet(_get(cache, at), eps, n_lines, n_act, start):
            break
        good += step
        step *= 2
    bad = min(good + step, stop)
    while bad - good > 1:
        mid = (good + bad) // 2
        at = _slot(mid, mid // n_inner, mid % n_inner, by)
        if cache[at, _STAMP] != stamp:
            _remember(cache, stamp, mid, at, d, g, n_inner, sr, sc, t, operand)
        if _quiet(_get(cache, at), eps, n_lines, n_act, start):
            good = mid
        else:
            bad = mid
    return good


@njit(cache=True, inline="always", error_model="numpy")
def _serve(last, stall, F, cycle, m):
    """Serve ``m`` misses on the row of stall-free ``cycle`` (SCALE-Sim's prefetch
    recurrence, ``last`` the end of the last prefetch); return (last, stall)."""
    last, offset = _burst(last, F, cycle + stall, m)
    return last, stall + offset - 1 if offset > 1 else stall


@njit(cache=True, inline="always", error_model="numpy")
def _fold_misses(x, flat, cv, eps, n_lines, n_act, n_pre, start, F, base, last, stall):
    """Serve one fold's misses (the event model's estimate: a skewed fold's misses
    placed by linear interpolation along its rows); return (window start, misses,
    end of the last prefetch, stall)."""
    lo, hi, p_lo, k_lo, p_hi, k_hi = x
    total = 0
    if flat:  # one run of cv words per row, rows at falling positions
        stride = (p_lo - p_hi) // (hi - lo) if hi > lo else 0
        bottom = p_hi // eps
        for j in range(lo, hi + 1):
            p = p_lo - (j - lo) * stride
            start, m, _ = _serve_run(start, p // eps, (p + cv - 1) // eps, n_lines, n_act, n_pre)
            if m > 0:
                last, stall = _serve(last, stall, F, base + j, m)
                total += m
                # the rows left read sets [bottom, top of the next row]: once the
                # window holds them all, none of them misses
                top = (p - stride + cv - 1) // eps
                if j < hi and _holds(bottom, top, start, n_lines, n_act):
                    break
        return start, total, last, stall
    p0, s0, s1 = 0, 0, -1
    if k_lo > 0:
        p0 = p_lo
        s0, s1 = p0 // eps, (p0 + k_lo - 1) // eps
    s_hi = -1
    if k_hi > 0:
        s_hi = (p_hi + k_hi - 1) // eps
    else:
        p_hi = 0
    start, m, end = _serve_run(start, s0, s1, n_lines, n_act, n_pre)
    row, count = lo, m
    total = m
    if s_hi >= end:
        k = (s_hi - end) // n_pre + 1
        span = p_hi + k_hi - p0
        for i in range(k):
            r = lo + (max((end + i * n_pre) * eps, p0) - p0) * (hi - lo + 1) // span
            if r == row:
                count += 1
            else:
                if count > 0:
                    last, stall = _serve(last, stall, F, base + row, count)
                row, count = r, 1
        total += k
        start = (start + k * n_pre) % n_lines
    if count > 0:
        last, stall = _serve(last, stall, F, base + row, count)
    return start, total, last, stall


@njit(cache=True, inline="always", error_model="numpy")
def _read_window(words, n_valid):
    """A read buffer of ``words`` words on an operand of ``n_valid`` words as SCALE-Sim
    sets it up (:func:`~airchitect.targets.systolic.memory_engine._read_buffer`,
    without its state array): (words per set, sets, sets in the active window,
    sets per prefetch). The operand fits when the window holds all its sets."""
    eps = _ceil_div(words, 100)
    active = _ceil_div(words, 2)
    n_lines = n_valid // eps + 1
    n_act = min(_ceil_div(active, eps), n_lines)
    return eps, n_lines, n_act, min(_ceil_div(words - active, eps), n_lines - n_act)


@njit(cache=True, error_model="numpy")
def read_stalls(g, sram_words, bw, operand, max_folds, out, row, cache, stamp, limit=np.inf, lo=0,
                hi=SHARES):
    """Stall cycles of the ifmap (``operand`` 0) or filter (1) read buffer alone
    (the other buffers never stall) at each of its 14 sizes, ``s / 16`` of
    ``sram_words``, into ``out[row, s - 1]``; estimated.

    Folds whose sets all lie in the window are skipped in runs; after
    ``max_folds`` folds that may miss, the stall's growth over the second half of
    them is extended to the remaining folds. ``cache`` (at least folds x 7) holds
    the folds' geometry; a row is valid where its last column equals ``stamp``,
    unique to the GEMM and operand (and never 0). Only the sizes
    ``lo + 1 .. hi`` are walked; a walk whose stall passes ``limit`` stops there
    and gives ``inf`` (the stall only grows, so it would end above the limit)."""
    # tuples, not arrays: passing arrays into the inlined loops costs reference counts
    g = (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12])
    d = _operand(g, operand)
    n_valid = _valid_words(d)
    df = g[G_DF]
    flat = (df == 1) if operand == 1 else (df == 2)
    once = (df == 0 and operand == 1) or flat
    by = 0 if flat else (2 if once else 1)
    n_outer, n_inner, per, sr, sc, t = _fold_grid(g)
    total = n_outer * n_inner
    sweeps = 2 * n_inner <= max_folds  # stop and measure on whole sweeps
    for share in range(lo, hi):
        out[row, share] = 0.0
        words = sram_words * (share + 1) // PARTS
        eps, n_lines, n_act, n_pre = _read_window(words, n_valid)
        if n_act == n_lines:
            continue
        F = _ceil_div(words - _ceil_div(words, 2), bw) + 1  # cycles from one prefetch's end to the next's
        first = _first_miss(d, g, n_outer, n_inner, sr, sc, t, operand, eps, n_act, cache, stamp, by,
                            once)
        if first < 0:
            continue
        start = 0
        last = -1  # SCALE-Sim fills both active halves before cycle 0
        stall = 0
        since, since_stall, since_misses = -1, 0, 0
        misses = 0
        done = 0
        calm = True
        quiet = 0
        f = first
        while f < total:
            fc = f // n_inner
            fr = f - fc * n_inner
            boundary = not sweeps or fr == 0
            if done >= max_folds and boundary:
                break
            if since < 0 and done >= max_folds // 2 and boundary:
                since, since_stall, since_misses = f, stall, misses
            at = _slot(f, fc, fr, by)
            if cache[at, _STAMP] != stamp:
                _remember(cache, stamp, f, at, d, g, n_inner, sr, sc, t, operand)
            x = _get(cache, at)
            if (calm or fr == 0) and _quiet(x, eps, n_lines, n_act, start):
                if quiet < 2:  # short quiet runs are stepped over; long ones skipped by search
                    quiet += 1
                    f += 1
                    continue
                stop = total if once else (fc + 1) * n_inner
                f = _last_quiet(d, g, f, stop, n_inner, sr, sc, t, operand, cache, stamp, by, eps, n_lines,
                                n_act, start) + 1
                continue
            quiet = 0
            cv = min(g[G_C], sc - fc * g[G_C])
            start, m, last, stall = _fold_misses(x, flat, cv, eps, n_lines, n_act, n_pre, start, F, f * per,
                                                 last, stall)
            misses += m
            if stall > limit:
                break
            calm = m == 0  # after a fold that missed, the next one most likely misses too
            done += 1
            f += 1
        if stall > limit:
            out[row, share] = np.inf
            continue
        if f >= total or f <= since:
            out[row, share] = stall
            continue
        # extend by the chain of prefetches: while it runs behind the array (its
        # lead, misses x F minus rows, falls), the stall stays; while it falls
        # behind, the stall grows at least as fast as the lead
        folds = f - since
        lead_rate = ((misses - since_misses) * F - folds * per) / folds
        if lead_rate <= 0:
            out[row, share] = stall
        else:
            left = total - f
            grown = stall + (stall - since_stall) * left / folds
            out[row, share] = max(grown, misses * F - f * per + lead_rate * left)


@njit(cache=True, inline="always", error_model="numpy")
def _writes(df, R, rv, cv, t):
    """(first write row, last write row, ofmap words) of a fold
    (:func:`~airchitect.targets.systolic.memory_engine._fold_span`)."""
    if df == 0:
        return t - 1 + R - rv, t + R + cv - 3, rv * cv
    return 2 * R - 1, 2 * R + t + cv - 3, t * cv


@njit(cache=True, error_model="numpy")
def write_stalls(g, sram_words, bw, max_folds, out, row):
    """Stall cycles of the ofmap write buffer alone at each of its 14 sizes, ``s / 16``
    of ``sram_words``, into ``out[row, s - 1]``; estimated (a fold's writes arrive
    evenly over its write rows; drains as SCALE-Sim's). The 14 buffers walk the
    same folds together. A buffer whose folds all write no faster than the
    bandwidth never stalls; where every fold writes no more than the drains send
    meanwhile, ``max_folds / SHORT_WRITE_FOLDS`` folds show the pattern."""
    n_outer, n_inner, per, sr, sc, t = _fold_grid(g)
    df, R, C = g[G_DF], g[G_R], g[G_C]
    fastest = 0.0
    most = 0
    for rv in (R, sr - (n_inner - 1) * R):
        for cv in (C, sc - (n_outer - 1) * C):
            o_lo, o_hi, n = _writes(df, R, rv, cv, t)
            fastest = max(fastest, n / (o_hi - o_lo + 1))
            most = max(most, n)
    out[row, :] = 0.0
    if fastest <= bw:
        return
    if most <= bw * per:  # the drains keep up fold by fold: a short walk shows the pattern
        max_folds = max(max_folds // SHORT_WRITE_FOLDS, 1)
    total = n_outer * n_inner
    end, since = _walk_end(0, total, n_inner, max_folds)
    words = np.empty(SHARES, np.int64)
    free = np.empty(SHARES)
    drain_end = np.full(SHARES, -1.0)
    stall = np.zeros(SHARES, np.int64)
    since_stall = np.zeros(SHARES, np.int64)
    active = np.empty(SHARES, np.int64)  # the write buffer as SCALE-Sim sets it up
    dlines = np.empty(SHARES, np.int64)
    for share in range(SHARES):
        words[share] = sram_words * (share + 1) // PARTS
        free[share] = words[share]
        active[share] = _ceil_div(words[share], 2)
        dlines[share] = _ceil_div(words[share] - active[share], bw)
    f = 0
    for fc in range(n_outer):
        if f == end:
            break
        cv = min(C, sc - fc * C)
        for fr in range(n_inner):
            if f == end:
                break
            if f == since:
                since_stall[:] = stall
            rv = min(R, sr - fr * R)
            o_lo, o_hi, n = _writes(df, R, rv, cv, t)
            if n > 0:
                rate = n / (o_hi - o_lo + 1)
                for share in range(SHARES):
                    free[share], drain_end[share], wait = _drain_writes(
                        free[share], drain_end[share], f * per + o_lo + stall[share], n, rate, words[share],
                        active[share], dlines[share], bw)
                    stall[share] += wait
            f += 1
    # a buffer that cannot keep up ends at its drains' pace: every word but the up
    # to one and a half buffers it holds at the end leaves at the bandwidth
    every = sr * sc if df == 0 else t * sc * n_inner
    for share in range(SHARES):
        grown = _extend(float(stall[share]), float(since_stall[share]), end, since, total)
        out[row, share] = grown if end >= total else max(grown, (every - 1.5 * words[share]) / bw - total * per)


@njit(cache=True, parallel=True, error_model="numpy")
def _all_stalls(G, sram_words, bw, max_folds, most_folds, out):
    n_tasks = G.shape[0] * 3
    parts = min(64, max(n_tasks, 1))
    for part in prange(parts):  # one geometry cache per part, not per GEMM
        cache = np.zeros((most_folds, 7), np.int64)
        stalls = np.zeros((1, SHARES))
        for task in range(part * n_tasks // parts, (part + 1) * n_tasks // parts):
            n, kind = task // 3, task % 3
            g = G[n].copy()  # a view would share G's reference count with the other threads
            if kind == 2:
                write_stalls(g, sram_words[n], bw[n], WRITE_FOLDS * max_folds, stalls, 0)
            else:
                read_stalls(g, sram_words[n], bw[n], kind, max_folds, stalls, 0, cache, task + 1, np.inf, 0,
                            SHARES)
            out[n, kind] = stalls[0]


def _kernel_args(G, sram_words, bandwidth):
    """``G`` (n, 13), the budgets and the bandwidths as contiguous int64 arrays."""
    G = np.ascontiguousarray(G, dtype=np.int64)
    bw = np.ascontiguousarray(np.broadcast_to(np.asarray(bandwidth, dtype=np.int64), (len(G),)))
    return G, np.ascontiguousarray(np.asarray(sram_words, dtype=np.int64)), bw


def _share_index(i, j, k):
    """The splits' sixteenths as ``(3, L)`` column indices (0..13) of the stalls."""
    return np.ascontiguousarray(np.stack([np.asarray(v, dtype=np.int64) - 1 for v in (i, j, k)]))


def _most_folds(G):
    """The most folds any row of ``G`` has, whatever its dataflow (a cache size)."""
    folds = _ceil_div(G[:, 0], G[:, G_R]) * _ceil_div(G[:, 2], G[:, G_C])
    folds = np.maximum(folds, _ceil_div(G[:, 1], G[:, G_R]) * np.maximum(_ceil_div(G[:, 0], G[:, G_C]),
                                                                         _ceil_div(G[:, 2], G[:, G_C])))
    return max(int(folds.max()) if len(G) else 1, 1)


def buffer_stalls(G, sram_words, bandwidth, max_folds=MAX_FOLDS):
    """Estimated stall cycles of each buffer alone at each of its sizes.

    Parameters
    ----------
    G : numpy.ndarray, (n, 13) int64
        Dense geometry vectors (:func:`~airchitect.targets.systolic.memory.gemm_geometry`).
    sram_words : array of int, (n,)
        The SRAM budget in words (a multiple of 16).
    bandwidth : array of int, (n,) or scalar
        DRAM bandwidth, words/cycle.
    max_folds : int
        Folds each walk visits before it extends the stall's growth linearly.

    Returns
    -------
    numpy.ndarray, (n, 3, 14) float64
        Stall cycles of the ifmap, filter and ofmap buffer holding ``s / 16`` of
        the budget, ``s = 1..14`` (column ``s - 1``).

    No checks, like :func:`~airchitect.targets.systolic.memory_events.run_geometry`:
    the buffer task validates its inputs (``Task.split_estimate``).
    """
    G, sram_words, bw = _kernel_args(G, sram_words, bandwidth)
    out = np.zeros((len(G), 3, SHARES))
    _all_stalls(G, sram_words, bw, int(max_folds), _most_folds(G), out)
    return out


def split_cycles(G, sram_words, bandwidth, i, j, k, max_folds=MAX_FOLDS):
    """Estimated USER-mode total cycles of every row under splits ``(i, j, k)``.

    ``i, j, k`` (arrays of equal length L, each in 1..14, ``i + j + k = 16``) are
    the sixteenths of the budget given to the ifmap, filter and ofmap buffers.
    Returns ``(n, L)`` float64: the stall-free cycles plus the largest of the
    three buffers' stalls (:func:`buffer_stalls`).

    Examples
    --------
    >>> from airchitect.targets.systolic.memory import gemm_geometry
    >>> G = gemm_geometry(64, 64, 64, 8, 8, 0)
    >>> cycles = split_cycles(G, [16 * 1024], 1, [1, 8], [1, 4], [14, 4])
    >>> cycles.shape
    (1, 2)
    """
    stalls = buffer_stalls(G, sram_words, bandwidth, max_folds)
    shares = _share_index(i, j, k)
    out = np.empty((len(stalls), shares.shape[1]))
    _combine(stall_free_cycles(G), stalls, shares, out)
    return out


def best_splits(G, sram_words, bandwidth, i, j, k, max_folds=MAX_FOLDS):
    """Index (into ``i, j, k``) of the split of least estimated cycles of every row,
    the first among equals: the argmin of :func:`split_cycles`, without its
    ``(n, L)`` table and without finishing the walks that cannot win.

    Per GEMM: the write buffer's 14 stalls first; then one split's stall as a bound
    (the best split whose read buffers both fit, or one guessed from the operand
    sizes); then every read buffer size, each walk stopped once its stall passes
    the bound (a split holding it would stall longer). Returns ``(n,)`` int64.
    """
    G, sram_words, bw = _kernel_args(G, sram_words, bandwidth)
    out = np.empty(len(G), np.int64)
    _least_all(G, sram_words, bw, int(max_folds), _most_folds(G), _share_index(i, j, k), out)
    return out


@njit(cache=True, error_model="numpy")
def _first_fit(g, operand, sram_words):
    """The least number of sixteenths of ``sram_words`` in which the read operand
    fits its buffer's active window (15 when none does)."""
    n_valid = _valid_words(_operand(g, operand))
    for share in range(SHARES):
        _, n_lines, n_act, _ = _read_window(sram_words * (share + 1) // PARTS, n_valid)
        if n_act == n_lines:
            return share + 1
    return SHARES + 1


@njit(cache=True, error_model="numpy")
def _least_one(g, sram_words, bw, max_folds, shares, cache, stamp, S):
    """The label of least estimate of one GEMM (see :func:`best_splits`); ``S`` is
    ``(3, 14)`` scratch for the stalls."""
    write_stalls(g, sram_words, bw, WRITE_FOLDS * max_folds, S, 2)
    fit_i, fit_f = _first_fit(g, 0, sram_words), _first_fit(g, 1, sram_words)
    if fit_i + fit_f < PARTS:  # both fit, no read stall: the bound is the best ofmap left
        limit = S[2, :PARTS - fit_i - fit_f].min()
    else:  # guess: the ofmap's best size, the rest shared as the operands' sizes
        k0 = np.argmin(S[2]) + 1
        M, N = g[0], g[2]
        i0 = min(max(int(round((PARTS - k0) * M / (M + N))), 1), PARTS - k0 - 1)
        read_stalls(g, sram_words, bw, 0, max_folds, S, 0, cache, 2 * stamp, np.inf, i0 - 1, i0)
        read_stalls(g, sram_words, bw, 1, max_folds, S, 1, cache, 2 * stamp + 1, np.inf,
                    PARTS - k0 - i0 - 1, PARTS - k0 - i0)
        limit = max(S[0, i0 - 1], S[1, PARTS - k0 - i0 - 1], S[2, k0 - 1])
    for i in range(1, PARTS - 1):  # a split with i stalls at least as long as its best ofmap
        if S[2, :PARTS - 1 - i].min() > limit:
            S[0, i - 1] = np.inf
        else:
            read_stalls(g, sram_words, bw, 0, max_folds, S, 0, cache, 2 * stamp, limit, i - 1, i)
    for j in range(1, PARTS - 1):
        ahead = np.inf  # the best a split with j can do, its filter stall aside
        for i in range(1, PARTS - j):
            ahead = min(ahead, max(S[0, i - 1], S[2, PARTS - i - j - 1]))
        if ahead > limit:
            S[1, j - 1] = np.inf
            continue
        read_stalls(g, sram_words, bw, 1, max_folds, S, 1, cache, 2 * stamp + 1, limit, j - 1, j)
        for i in range(1, PARTS - j):  # a better split tightens the bound
            limit = min(limit, max(S[0, i - 1], S[1, j - 1], S[2, PARTS - i - j - 1]))
    best, at = np.inf, 0
    for label in range(shares.shape[1]):
        worst = _worst(S, shares, label)
        if worst < best:
            best, at = worst, label
    return at


@njit(cache=True, parallel=True, error_model="numpy")
def _least_all(G, sram_words, bw, max_folds, most_folds, shares, out):
    n = G.shape[0]
    parts = min(64, max(n, 1))  # one geometry cache per part, not per GEMM
    for part in prange(parts):
        cache = np.zeros((most_folds, 7), np.int64)
        S = np.zeros((3, SHARES))
        for row in range(part * n // parts, (part + 1) * n // parts):
            out[row] = _least_one(G[row].copy(), sram_words[row], bw[row], max_folds, shares, cache, row + 1, S)


@njit(cache=True, inline="always")
def _worst(S, shares, label):
    """The stall of split ``label``: the largest of its three buffers' (``S`` is (3, 14))."""
    return max(S[0, shares[0, label]], S[1, shares[1, label]], S[2, shares[2, label]])


@njit(cache=True, parallel=True)
def _combine(free, stalls, shares, out):
    for n in prange(out.shape[0]):
        for label in range(out.shape[1]):
            out[n, label] = free[n] + _worst(stalls[n], shares, label)


def stall_free_cycles(G):
    """SCALE-Sim's USER-mode total cycles without stalls: ``folds x rows per fold - 1``."""
    from airchitect.targets.systolic.compute import total_cycles_calc

    return total_cycles_calc(G[:, 0], G[:, 2], G[:, 1], G[:, G_R], G[:, G_C], G[:, G_DF]).astype(np.float64)

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
* **The folds repeat.** Every outer fold sweeps the operands in the same
  pattern, so a walk stops after ``max_folds`` folds (whole sweeps of the inner
  folds where they fit) and extends the stall's growth over the second half of
  the walked folds linearly to the remaining ones.

Per fold, a buffer's misses and their rows are those of the event model's
estimate (:func:`~airchitect.targets.systolic.memory_events._read_events`,
:func:`~airchitect.targets.systolic.memory_events._drain_writes`), served by
SCALE-Sim's prefetch recurrence (:func:`~airchitect.targets.systolic.memory_events._burst`).

On the buffer task's workloads the least-cycles split of this estimate is
within 0.2% of the best on average (docs/memory.md); it costs a few
microseconds per workload for all 105 splits.

Units: SRAM sizes in words (1 kB = 1024 words), bandwidth in words/cycle,
cycles as SCALE-Sim counts them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from airchitect.targets.systolic.memory_engine import (
    D_COLS, D_ROWS, G_C, G_DF, G_R, RB_ALLFIT, RB_NACT, RB_NLINES, RB_NPRE, RB_REQ1, WB_ACTIVE,
    WB_DLINES, _ceil_div, _fold_grid, _fold_span, _operand, _read_buffer, _valid_words, _write_buffer,
)
from airchitect.targets.systolic.memory_events import _burst, _drain_writes, _read_events, _run

#: sixteenths of the budget a buffer may take (1..14: each of the three gets >= 1)
SHARES = 14
PARTS = 16
#: folds a walk visits before it extends the stall's growth to the rest
MAX_FOLDS = 192


@njit(cache=True)
def _walk_end(first, total, n_inner, max_folds):
    """(fold where a walk from ``first`` stops, fold where its growth is measured from)."""
    end = min(total, first + max_folds)
    if end == total:
        return total, total
    if 2 * n_inner <= max_folds:  # whole sweeps of the inner folds
        sweeps = (end - first) // n_inner
        return first + sweeps * n_inner, first + (sweeps // 2) * n_inner
    return end, first + (end - first) // 2


@njit(cache=True, inline="always")
def _extend(stall, from_stall, walked, since, total):
    """Stall after ``total`` folds from its values after ``since`` and ``walked`` folds."""
    if walked >= total or walked <= since:
        return stall
    return stall + (stall - from_stall) * (total - walked) / (walked - since)


@njit(cache=True)
def _top_set(d, eps, g, f, n_inner, sr, sc, t, operand):
    """The highest set an operand's reads reach in fold ``f`` (SCALE-Sim's fold order)."""
    fc, fr = f // n_inner, f % n_inner
    rv = min(g[G_R], sr - fr * g[G_R])
    cv = min(g[G_C], sc - fc * g[G_C])
    span = _fold_span(g, rv, cv, t)
    lo, hi = (span[0], span[1]) if operand == 0 else (span[2], span[3])
    top = -1
    for j in (lo, hi):
        _, _, s1, k = _run(d, eps, g, fc, fr, j, rv, cv, t, operand)
        if k > 0 and s1 > top:
            top = s1
    return top


@njit(cache=True)
def _first_miss(d, eps, n_act, g, n_outer, n_inner, sr, sc, t, operand):
    """The first fold whose reads leave the first window (sets ``[0, n_act)``), or -1.

    Until then nothing misses. The highest set read never decreases along the
    folds of one sweep (each sweep starts again at the operand's first words) or,
    for operands read once (os filter, ws filter, is ifmap), along all folds."""
    df = g[G_DF]
    once = (df == 0 and operand == 1) or (df == 1 and operand == 1) or (df == 2 and operand == 0)
    limit = n_outer * n_inner if once else n_inner
    a, b = 0, limit
    while a < b:
        mid = (a + b) // 2
        if _top_set(d, eps, g, mid, n_inner, sr, sc, t, operand) >= n_act:
            b = mid
        else:
            a = mid + 1
    return a if a < limit else -1


@njit(cache=True)
def _quiet(d, win, start, g, f, n_inner, sr, sc, t, operand):
    """Whether every set that fold ``f`` reads lies in the window starting at
    ``start`` (so that the fold cannot miss). A fold's lowest and highest sets are
    those of its first and last rows (flat folds read them the other way round)."""
    eps, n_lines, n_act, _ = win
    fc, fr = f // n_inner, f % n_inner
    rv = min(g[G_R], sr - fr * g[G_R])
    cv = min(g[G_C], sc - fc * g[G_C])
    span = _fold_span(g, rv, cv, t)
    lo, hi = (span[0], span[1]) if operand == 0 else (span[2], span[3])
    _, a0, a1, k = _run(d, eps, g, fc, fr, lo, rv, cv, t, operand)
    _, b0, b1, k2 = _run(d, eps, g, fc, fr, hi, rv, cv, t, operand)
    if k <= 0 or k2 <= 0:
        return False
    bottom, top = min(a0, b0), max(a1, b1)
    return (bottom - start) % n_lines + top - bottom < n_act


@njit(cache=True)
def _last_quiet(d, win, start, g, f, stop, n_inner, sr, sc, t, operand):
    """The last fold of ``[f, stop)`` up to which every fold is quiet, given that
    fold ``f`` is (quietness only ends along a sweep: its sets rise)."""
    step = 1
    good = f
    while good + step < stop and _quiet(d, win, start, g, good + step, n_inner, sr, sc, t, operand):
        good += step
        step *= 2
    bad = min(good + step, stop)
    while bad - good > 1:
        mid = (good + bad) // 2
        if _quiet(d, win, start, g, mid, n_inner, sr, sc, t, operand):
            good = mid
        else:
            bad = mid
    return good


@njit(cache=True)
def read_stall(g, words, bw, operand, max_folds):
    """Stall cycles of the ifmap (``operand`` 0) or filter (1) read buffer of
    ``words`` words alone (the other buffers never stall), estimated.

    Folds whose sets all lie in the window are skipped in runs; after
    ``max_folds`` folds that may miss, the stall's growth over the second half of
    them is extended to the remaining folds."""
    d = _operand(g, operand)
    st = _read_buffer(words, bw, _valid_words(d), d[D_ROWS] * d[D_COLS], 0)
    if st[RB_ALLFIT] == 1:
        return 0.0
    eps = _ceil_div(words, 100)
    win = (eps, st[RB_NLINES], st[RB_NACT], st[RB_NPRE])
    F = st[RB_REQ1] + 1
    df = g[G_DF]
    flat = (df == 1) if operand == 1 else (df == 2)
    once = (df == 0 and operand == 1) or flat
    n_outer, n_inner, per, sr, sc, t = _fold_grid(g)
    total = n_outer * n_inner
    first = _first_miss(d, eps, st[RB_NACT], g, n_outer, n_inner, sr, sc, t, operand)
    if first < 0:
        return 0.0
    sweeps = 2 * n_inner <= max_folds  # stop and measure on whole sweeps
    rows = np.empty(per + 2, np.int64)
    counts = np.empty(per + 2, np.int64)
    start = 0
    last = -1
    stall = 0
    since, since_stall = -1, 0
    done = 0
    calm = True
    f = first
    while f < total:
        boundary = not sweeps or f % n_inner == 0
        if done >= max_folds and boundary:
            break
        if since < 0 and done >= max_folds // 2 and boundary:
            since, since_stall = f, stall
        if (calm or f % n_inner == 0) and _quiet(d, win, start, g, f, n_inner, sr, sc, t, operand):
            stop = total if once else (f // n_inner + 1) * n_inner
            f = _last_quiet(d, win, start, g, f, stop, n_inner, sr, sc, t, operand) + 1
            continue
        fc, fr = f // n_inner, f % n_inner
        cv = min(g[G_C], sc - fc * g[G_C])
        rv = min(g[G_R], sr - fr * g[G_R])
        span = _fold_span(g, rv, cv, t)
        lo, hi = (span[0], span[1]) if operand == 0 else (span[2], span[3])
        start, n, _ = _read_events(d, win, start, flat, False, g, fc, fr, lo, hi, rv, cv, t,
                                   operand, rows, counts)
        for e in range(n):
            last, offset = _burst(last, F, f * per + rows[e] + stall, counts[e])
            if offset > 1:
                stall += offset - 1
        calm = n == 0  # after a fold that missed, the next one most likely misses too
        done += 1
        f += 1
    return _extend(float(stall), float(since_stall), f, since, total)


@njit(cache=True)
def write_stall(g, words, bw, max_folds):
    """Stall cycles of the ofmap write buffer of ``words`` words alone, estimated
    (a fold's writes arrive evenly over its write rows; drains as SCALE-Sim's).
    A buffer whose folds all write no faster than the bandwidth never stalls."""
    n_outer, n_inner, per, sr, sc, t = _fold_grid(g)
    fastest = 0.0
    for rv in (g[G_R], sr - (n_inner - 1) * g[G_R]):
        for cv in (g[G_C], sc - (n_outer - 1) * g[G_C]):
            _, _, _, _, o_lo, o_hi, n = _fold_span(g, rv, cv, t)
            fastest = max(fastest, n / (o_hi - o_lo + 1))
    if fastest <= bw:
        return 0.0
    wst = _write_buffer(words, bw)
    total = n_outer * n_inner
    end, since = _walk_end(0, total, n_inner, max_folds)
    state = np.array([float(words), -1.0])
    stall = 0
    since_stall = 0
    base = 0
    for f in range(end):
        if f == since:
            since_stall = stall
        fc, fr = f // n_inner, f % n_inner
        cv = min(g[G_C], sc - fc * g[G_C])
        rv = min(g[G_R], sr - fr * g[G_R])
        _, _, _, _, o_lo, o_hi, n = _fold_span(g, rv, cv, t)
        if n > 0:
            stall += _drain_writes(state, base + o_lo + stall, n, n / (o_hi - o_lo + 1), words,
                                   wst[WB_ACTIVE], wst[WB_DLINES], bw)
        base += per
    return _extend(float(stall), float(since_stall), end, since, total)


@njit(cache=True, parallel=True)
def _all_stalls(G, sram_words, bw, max_folds, out):
    for task in prange(G.shape[0] * 3 * SHARES):
        n = task // (3 * SHARES)
        kind = (task // SHARES) % 3
        words = sram_words[n] * (task % SHARES + 1) // PARTS
        if kind == 2:
            out[n, kind, task % SHARES] = write_stall(G[n], words, bw[n], max_folds)
        else:
            out[n, kind, task % SHARES] = read_stall(G[n], words, bw[n], kind, max_folds)


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
    """
    n = len(G)
    bw = np.ascontiguousarray(np.broadcast_to(np.asarray(bandwidth, dtype=np.int64), (n,)))
    out = np.zeros((n, 3, SHARES))
    _all_stalls(np.ascontiguousarray(G, dtype=np.int64),
                np.ascontiguousarray(np.asarray(sram_words, dtype=np.int64)), bw, int(max_folds), out)
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
    i, j, k = (np.asarray(v, dtype=np.int64) - 1 for v in (i, j, k))
    worst = np.maximum(np.maximum(stalls[:, 0, i], stalls[:, 1, j]), stalls[:, 2, k])
    return stall_free_cycles(G)[:, None] + worst


def stall_free_cycles(G):
    """SCALE-Sim's USER-mode total cycles without stalls: ``folds x rows per fold - 1``."""
    from airchitect.targets.systolic.compute import total_cycles_calc

    return total_cycles_calc(G[:, 0], G[:, 2], G[:, 1], G[:, G_R], G[:, G_C], G[:, G_DF]).astype(np.float64)

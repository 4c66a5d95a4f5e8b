"""Fast estimate of a GEMM's USER-mode cycles under every split of one SRAM budget.

The ``buffer`` task asks, for one GEMM on one array, which of the 105 splits of
``sram_kb`` among the ifmap, filter and ofmap buffers stalls least. The event
model (:mod:`airchitect.targets.systolic.memory.events`) walks every fold of every
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
  extended to the remaining folds (:func:`~airchitect.targets.systolic.memory.split_reads.read_stalls`,
  :func:`write_stalls`).

Per fold, a buffer's misses and their rows are those of the event model's
estimate (its window arithmetic, :func:`~airchitect.targets.systolic.memory.events.serve_sets`,
and write drains, :func:`~airchitect.targets.systolic.memory.events.drain_writes`),
served by SCALE-Sim's prefetch recurrence
(:func:`~airchitect.targets.systolic.memory.events.burst`).

On held-out buffer workloads the least-cycles split of this estimate reaches
99.65% of the best performance (GeoMean; docs/memory.md) at about 10
microseconds per workload for all 105 splits.

Units: SRAM sizes in words (1 kB = 1024 words), bandwidth in words/cycle,
cycles as SCALE-Sim counts them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from airchitect._math import ceil_div
from airchitect._threads import numba_serial_below
from airchitect.targets.systolic.compute import total_cycles_calc
from airchitect.targets.systolic.geometry import G_C, G_DF, G_R
from airchitect.targets.systolic.geometry import fold_grid as _fold_grid
from airchitect.targets.systolic.memory.events import drain_writes
from airchitect.targets.systolic.memory.prefetch import operand_layout, valid_words
from airchitect.targets.systolic.memory.read_buffer import read_window
from airchitect.targets.systolic.memory.split_reads import (
    CACHE_COLUMNS, CACHE_ROWS, MAX_FOLDS, PARTS, SHARES, SHORT_WRITE_FOLDS, WRITE_FOLDS, read_stalls,
)
from airchitect.targets.systolic.memory.split_reads import extend_stall as _extend
from airchitect.targets.systolic.memory.split_reads import walk_end as _walk_end

#: fewer GEMMs than this walk in a serial kernel (waking numba's pool costs more than
#: it saves, and on a busy machine may wait for a core; a first call of a few GEMMs
#: then compiles no parallel loop, seconds less)
SERIAL_GEMMS = 64


@njit(cache=True, inline="always", error_model="numpy")
def _writes(df, R, rv, cv, t):
    """(first write row, last write row, ofmap words) of a fold
    (:func:`~airchitect.targets.systolic.geometry.fold_span`)."""
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
        active[share] = ceil_div(words[share], 2)
        dlines[share] = ceil_div(words[share] - active[share], bw)
    f = 0
    for fc in range(n_outer):
        if f == end:
            break
        cv = min(C, sc - fc * C)
        for fr in range(n_inner):
            if f == end:
                break
            if f == since:
                for share in range(SHARES):  # a loop: an array copy compiles numba's shape error
                    since_stall[share] = stall[share]
            rv = min(R, sr - fr * R)
            o_lo, o_hi, n = _writes(df, R, rv, cv, t)
            if n > 0:
                rate = n / (o_hi - o_lo + 1)
                for share in range(SHARES):
                    free[share], drain_end[share], wait = drain_writes(
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


@njit(cache=True, nogil=True, error_model="numpy")
def _stalls_of(G, sram_words, bw, max_folds, cache_rows, need, out, first, stop, reads_out=None):
    """The stalls :func:`buffer_stalls` asks for, of tasks ``first .. stop - 1`` (task
    ``3 n + kind``: GEMM ``n``'s ifmap, filter or ofmap buffer), with one geometry
    cache (and with ``reads_out``, ``(n, 2, 14)``, the read buffers' DRAM words).
    Arguments are plain int64, never literals, so that numba compiles each callee once."""
    cache = np.zeros((cache_rows, CACHE_COLUMNS), np.int64)
    stalls = np.zeros((1, SHARES))
    reads = np.zeros((1, SHARES))
    row = np.int64(0)
    for task in range(first, stop):
        n, kind = task // 3, task % 3
        if not need[n, kind].any():
            continue
        g = G[n].copy()  # a view would share G's reference count with the other threads
        if kind == 2:
            write_stalls(g, sram_words[n], bw[n], WRITE_FOLDS * max_folds, stalls, row)
            for share in range(SHARES):  # a loop: an array copy compiles numba's shape error
                out[n, kind, share] = stalls[0, share]
            continue
        for share in range(SHARES):  # each size is its own walk; the geometry cache is shared
            if need[n, kind, share]:
                if reads_out is None:
                    read_stalls(g, sram_words[n], bw[n], kind, max_folds, stalls, row, cache, task + 1,
                                np.inf, share, share + 1)
                else:
                    read_stalls(g, sram_words[n], bw[n], kind, max_folds, stalls, row, cache, task + 1,
                                np.inf, share, share + 1, reads)
                    reads_out[n, kind, share] = reads[0, share]
                out[n, kind, share] = stalls[0, share]


@njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def _all_stalls(G, sram_words, bw, max_folds, cache_rows, need, out, reads_out=None):
    n_tasks = G.shape[0] * 3
    parts = min(64, max(n_tasks, 1))
    for part in prange(parts):  # one geometry cache per part, not per GEMM
        _stalls_of(G, sram_words, bw, max_folds, cache_rows, need, out, part * n_tasks // parts,
                   (part + 1) * n_tasks // parts, reads_out)


def _kernel_args(G, sram_words, bandwidth):
    """``G`` (n, 13), the budgets and the bandwidths as contiguous int64 arrays."""
    G = np.ascontiguousarray(G, dtype=np.int64)
    bw = np.ascontiguousarray(np.broadcast_to(np.asarray(bandwidth, dtype=np.int64), (len(G),)))
    return G, np.ascontiguousarray(np.asarray(sram_words, dtype=np.int64)), bw


def _share_index(i, j, k):
    """The splits' sixteenths as ``(3, L)`` column indices (0..13) of the stalls."""
    return np.ascontiguousarray(np.stack([np.asarray(v, dtype=np.int64) - 1 for v in (i, j, k)]))


def _cache_rows(G):
    """Rows of a geometry cache for ``G``: the most folds any row of ``G`` has, whatever
    its dataflow, rounded up to a power of two, at most ``CACHE_ROWS`` (a larger
    GEMM's folds share rows)."""
    folds = ceil_div(G[:, 0], G[:, G_R]) * ceil_div(G[:, 2], G[:, G_C])
    folds = np.maximum(folds, ceil_div(G[:, 1], G[:, G_R]) * np.maximum(ceil_div(G[:, 0], G[:, G_C]),
                                                                         ceil_div(G[:, 2], G[:, G_C])))
    most = max(int(folds.max()) if len(G) else 1, 1)
    return min(1 << (most - 1).bit_length(), CACHE_ROWS)


def buffer_stalls(G, sram_words, bandwidth, max_folds=MAX_FOLDS, need=None, dram=False):
    """Estimated stall cycles of each buffer alone at each of its sizes (with ``dram``,
    also the read buffers' DRAM words).

    Parameters
    ----------
    G : numpy.ndarray, (n, 13) int64
        Dense geometry vectors (:func:`~airchitect.targets.systolic.geometry.gemm_geometry`).
    sram_words : array of int, (n,)
        The SRAM budget in words (a multiple of 16).
    bandwidth : array of int, (n,) or scalar
        DRAM bandwidth, words/cycle.
    max_folds : int
        Folds each walk visits before it extends the stall's growth linearly.
    need : array of bool, (n, 3, 14), optional
        Only these stalls are computed, the others are NaN (a read buffer walks each
        size apart, so a few sizes cost a few walks; the write buffer's 14 sizes walk
        together). Default: all.

    dram : bool
        Also return the words each read buffer reads from DRAM at each size.

    Returns
    -------
    numpy.ndarray, (n, 3, 14) float64
        Stall cycles of the ifmap, filter and ofmap buffer holding ``s / 16`` of
        the budget, ``s = 1..14`` (column ``s - 1``).
    numpy.ndarray, (n, 2, 14) float64, with ``dram``
        DRAM words read by the ifmap and filter buffer at each size: SCALE-Sim's
        first fill plus one request per prefetch (a buffer's reads do not depend
        on the other buffers); exact where the walk reaches the last fold that
        may miss, extended as the stall is past ``max_folds`` (NaN where ``need``
        is false).

    No checks, like :func:`~airchitect.targets.systolic.memory.events.run_geometry`:
    the buffer task validates its inputs (``Task.split_estimate``).
    """
    G, sram_words, bw = _kernel_args(G, sram_words, bandwidth)
    if need is None:
        need = np.ones((len(G), 3, SHARES), dtype=np.bool_)
    out = np.full((len(G), 3, SHARES), np.nan)
    args = (G, sram_words, bw, int(max_folds), _cache_rows(G), np.ascontiguousarray(need, np.bool_), out)
    reads = np.full((len(G), 2, SHARES), np.nan) if dram else None
    if len(G) < SERIAL_GEMMS:  # one thread: the serial walk (numba compiles no parallel loop for it)
        _stalls_of(*args, 0, 3 * len(G), reads)
    else:
        _all_stalls(*args, reads)
    return (out, reads) if dram else out


def split_cycles(G, sram_words, bandwidth, i, j, k, max_folds=MAX_FOLDS):
    """Estimated USER-mode total cycles of every row under splits ``(i, j, k)``.

    ``i, j, k`` (arrays of equal length L, each in 1..14, ``i + j + k = 16``) are
    the sixteenths of the budget given to the ifmap, filter and ofmap buffers.
    Returns ``(n, L)`` float64: the stall-free cycles plus the largest of the
    three buffers' stalls (:func:`buffer_stalls`).

    Examples
    --------
    >>> from airchitect.targets.systolic.geometry import gemm_geometry
    >>> G = gemm_geometry(64, 64, 64, 8, 8, 0)
    >>> cycles = split_cycles(G, [16 * 1024], 1, [1, 8], [1, 4], [14, 4])
    >>> cycles.shape
    (1, 2)
    """
    stalls = buffer_stalls(G, sram_words, bandwidth, max_folds)
    shares = _share_index(i, j, k)
    out = np.empty((len(stalls), shares.shape[1]))
    with numba_serial_below(len(G), SERIAL_GEMMS):
        _combine(stall_free_cycles(G), stalls, shares, out)
    return out


def split_cycles_and_reads(G, sram_words, bandwidth, i, j, k, max_folds=MAX_FOLDS):
    """:func:`split_cycles` and the words the ifmap and filter buffers read from DRAM
    under each split, ``(n, L)`` float64 each (:func:`buffer_stalls` with ``dram``:
    exact where the walks reach the last fold that may miss)."""
    stalls, reads = buffer_stalls(G, sram_words, bandwidth, max_folds, dram=True)
    shares = _share_index(i, j, k)
    out = np.empty((len(stalls), shares.shape[1]))
    with numba_serial_below(len(G), SERIAL_GEMMS):
        _combine(stall_free_cycles(G), stalls, shares, out)
    return out, reads[:, 0, shares[0]] + reads[:, 1, shares[1]]


def best_splits(G, sram_words, bandwidth, i, j, k, max_folds=MAX_FOLDS):
    """Index (into ``i, j, k``) of the split of least estimated cycles of every row,
    the first among equals: the argmin of :func:`split_cycles`, without its
    ``(n, L)`` table and without finishing the walks that cannot win.

    Per GEMM: the write buffer's 14 stalls first; then one split's stall as a bound
    (the best split whose read buffers both fit, or one guessed from the operand
    sizes, whose two read sizes are walked once); then every read buffer size (the
    ifmap's outward from the guess's), each walk stopped once its stall passes the
    bound (a split holding it would stall longer), each split then known whole
    tightening the bound. Returns ``(n,)`` int64.
    """
    G, sram_words, bw = _kernel_args(G, sram_words, bandwidth)
    out = np.empty(len(G), np.int64)
    args = (G, sram_words, bw, int(max_folds), _cache_rows(G), _share_index(i, j, k), out)
    if len(G) < SERIAL_GEMMS:  # one thread: the serial walk (numba compiles no parallel loop for it)
        _least_of(*args, 0, len(G))
    else:
        _least_all(*args)
    return out


@njit(cache=True, error_model="numpy")
def _fits(g, operand, sram_words):
    """``(first, mask)``: the least number of sixteenths of ``sram_words`` in which the
    read operand fits its buffer's active window (15 when none does), and bit ``s - 1``
    set for every size ``s`` in which it fits (its walk would find no miss)."""
    n_valid = valid_words(operand_layout(g, operand))
    first, mask = SHARES + 1, 0
    for share in range(SHARES):
        _, n_lines, n_act, _ = read_window(sram_words * (share + 1) // PARTS, n_valid)
        if n_act == n_lines:
            first = min(first, share + 1)
            mask |= 1 << share
    return first, mask


@njit(cache=True, error_model="numpy")
def _least_one(g, sram_words, bw, max_folds, shares, cache, stamp, S):
    """The label of least estimate of one GEMM (see :func:`best_splits`); ``S`` is
    ``(3, 14)`` scratch for the stalls."""
    ifmap, filter_, ofmap = np.int64(0), np.int64(1), np.int64(2)  # not literals: one compilation
    write_stalls(g, sram_words, bw, WRITE_FOLDS * max_folds, S, ofmap)
    (fit_i, fits_i), (fit_f, fits_f) = _fits(g, ifmap, sram_words), _fits(g, filter_, sram_words)
    i0, j0 = 0, 0  # the guessed split's read sizes, walked in full (0: none)
    if fit_i + fit_f < PARTS:  # both fit, no read stall: the bound is the best ofmap left
        limit = S[2, :PARTS - fit_i - fit_f].min()
    else:  # guess: the ofmap's best size, the rest shared as the operands' sizes
        k0 = np.argmin(S[2]) + 1
        M, N = g[0], g[2]
        if fit_i < PARTS - k0:  # the ifmap fits beside that ofmap: no ifmap stall, the rest to the filter
            i0 = fit_i
        elif fit_f < PARTS - k0:
            i0 = PARTS - k0 - fit_f
        else:
            i0 = min(max(int(round((PARTS - k0) * M / (M + N))), 1), PARTS - k0 - 1)
        j0 = PARTS - k0 - i0
        read_stalls(g, sram_words, bw, ifmap, max_folds, S, ifmap, cache, 2 * stamp, np.inf, i0 - 1, i0)
        read_stalls(g, sram_words, bw, filter_, max_folds, S, filter_, cache, 2 * stamp + 1, np.inf, j0 - 1, j0)
        limit = max(S[0, i0 - 1], S[1, j0 - 1], S[2, k0 - 1])
    for step in range(2 * PARTS):  # ifmap sizes outward from the guess's: i0, i0 + 1, i0 - 1, ...
        i = (i0 + (step + 1) // 2 if step % 2 else i0 - step // 2) if i0 else step + 1
        if i < 1 or i > PARTS - 2 or i == i0:  # (the guess's size is walked already)
            continue
        if S[2, :PARTS - 1 - i].min() > limit:  # a split with i stalls at least as long as its best ofmap
            S[0, i - 1] = np.inf
            continue
        if (fits_i >> (i - 1)) & 1:  # it fits: no miss, no stall (the walk would say so)
            S[0, i - 1] = 0.0
        else:
            read_stalls(g, sram_words, bw, ifmap, max_folds, S, ifmap, cache, 2 * stamp, limit, i - 1, i)
        if j0 and i + j0 < PARTS:  # split (i, j0) is known whole: it may tighten the bound
            limit = min(limit, max(S[0, i - 1], S[1, j0 - 1], S[2, PARTS - i - j0 - 1]))
    for j in range(1, PARTS - 1):
        ahead = np.inf  # the best a split with j can do, its filter stall aside
        for i in range(1, PARTS - j):
            ahead = min(ahead, max(S[0, i - 1], S[2, PARTS - i - j - 1]))
        if ahead > limit:
            S[1, j - 1] = np.inf
            continue
        if (fits_f >> (j - 1)) & 1:  # it fits: no stall
            S[1, j - 1] = 0.0
        elif j != j0:  # (the guess's size is walked already)
            read_stalls(g, sram_words, bw, filter_, max_folds, S, filter_, cache, 2 * stamp + 1, limit, j - 1, j)
        for i in range(1, PARTS - j):  # a better split tightens the bound
            limit = min(limit, max(S[0, i - 1], S[1, j - 1], S[2, PARTS - i - j - 1]))
    best, at = np.inf, 0
    for label in range(shares.shape[1]):
        worst = _worst(S, shares, label)
        if worst < best:
            best, at = worst, label
    return at


@njit(cache=True, error_model="numpy")
def _least_of(G, sram_words, bw, max_folds, cache_rows, shares, out, first, stop):
    """:func:`_least_one` of rows ``first .. stop - 1``, with one geometry cache."""
    cache = np.zeros((cache_rows, CACHE_COLUMNS), np.int64)
    S = np.zeros((3, SHARES))
    for row in range(first, stop):
        out[row] = _least_one(G[row].copy(), sram_words[row], bw[row], max_folds, shares, cache, row + 1, S)


@njit(cache=True, parallel=True, error_model="numpy")
def _least_all(G, sram_words, bw, max_folds, cache_rows, shares, out):
    n = G.shape[0]
    parts = min(64, max(n, 1))  # one geometry cache per part, not per GEMM
    for part in prange(parts):
        _least_of(G, sram_words, bw, max_folds, cache_rows, shares, out, part * n // parts, (part + 1) * n // parts)


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
    return total_cycles_calc(G[:, 0], G[:, 2], G[:, 1], G[:, G_R], G[:, G_C], G[:, G_DF]).astype(np.float64)

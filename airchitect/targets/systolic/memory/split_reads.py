"""The read walks of the split-stall estimate (:mod:`airchitect.targets.systolic.memory.splits`).

:func:`read_stalls` walks one read buffer alone at its 14 sizes (1 to 14
sixteenths of the SRAM budget): it starts at the first fold that can miss,
skips runs of folds whose sets all lie in the window, keeps each band's run
geometry once for all sizes (a direct-mapped cache of ``_LO`` ... ``_TAG`` columns), serves
a fold's misses as the event model's estimate does, and after ``max_folds``
folds that may miss extends the stall's growth to the rest
(:func:`walk_end`, :func:`extend_stall`). Units: words, words/cycle, cycles.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._math import ceil_div
from airchitect.targets.systolic.geometry import G_C, G_DF, G_R, fold_grid, fold_span, row_runs
from airchitect.targets.systolic.memory.events import burst, serve_sets
from airchitect.targets.systolic.memory.prefetch import D_COLS, D_ROWS, operand_layout, position, valid_words
from airchitect.targets.systolic.memory.read_buffer import read_window


#: sixteenths of the budget a buffer may take (1..14: each of the three gets >= 1)
SHARES = 14
#: the budget's parts (sixteenths)
PARTS = 16

#: folds a walk visits before it extends the stall's growth to the rest
MAX_FOLDS = 128

#: a write walk's folds per read walk's (its folds cost a few nanoseconds)
WRITE_FOLDS = 4

#: a write walk's folds are this many times fewer where every fold writes no more
#: than the drains send meanwhile
SHORT_WRITE_FOLDS = 32


@njit(cache=True, error_model="numpy")
def walk_end(first, total, n_inner, max_folds):
    """(fold where a walk from ``first`` stops, fold where its growth is measured from)."""
    end = min(total, first + max_folds)
    if end == total:
        return total, total
    if 2 * n_inner <= max_folds:  # whole sweeps of the inner folds
        sweeps = (end - first) // n_inner
        return first + sweeps * n_inner, first + (sweeps // 2) * n_inner
    return end, first + (end - first) // 2


@njit(cache=True, inline="always", error_model="numpy")
def extend_stall(stall, from_stall, walked, since, total):
    """Stall after ``total`` folds from its values after ``since`` and ``walked`` folds."""
    if walked >= total or walked <= since:
        return stall
    return stall + (stall - from_stall) * (total - walked) / (walked - since)


# per fold, cached: first row, last row, and the first position and word count
# of the operand's runs on those rows; the stamp of the walk and the slot it holds
_LO, _HI, _P_LO, _K_LO, _P_HI, _K_HI, _STAMP, _TAG = range(8)
#: columns of a geometry cache
CACHE_COLUMNS = 8
#: most rows of a geometry cache (a power of two): slot ``s`` is kept in row ``s % rows``
#: (a walk's folds are consecutive, so they rarely meet; a GEMM of 2^28 folds needs 4 MiB, not 15 GiB)
CACHE_ROWS = 1 << 16


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
def _remember(cache, stamp, f, at, slot, d, g, n_inner, sr, sc, t, operand):
    """Compute the run geometry of fold ``f`` into ``cache[at]`` (see ``_LO`` ...)
    and mark it ``stamp`` and ``slot``: once per GEMM, operand and slot (:func:`_slot`),
    shared by the walks of all 14 buffer sizes."""
    fc, fr = f // n_inner, f % n_inner
    rv = min(g[G_R], sr - fr * g[G_R])
    cv = min(g[G_C], sc - fc * g[G_C])
    span = fold_span(g, rv, cv, t)
    lo, hi = (span[0], span[1]) if operand == 0 else (span[2], span[3])
    cache[at, _LO] = lo
    cache[at, _HI] = hi
    for column, j in ((_P_LO, lo), (_P_HI, hi)):
        ir, ic, ni, fr_, fcol, nf, _ = row_runs(g, fc, fr, j, rv, cv, t)
        r, c, k = (ir, ic, ni) if operand == 0 else (fr_, fcol, nf)
        cache[at, column] = position(d, r, c) if k > 0 else 0
        cache[at, column + 1] = k
    cache[at, _STAMP] = stamp
    cache[at, _TAG] = slot


@njit(cache=True, inline="always", error_model="numpy")
def _fetch(cache, stamp, f, fc, fr, by, d, g, n_inner, sr, sc, t, operand):
    """The cache row holding the run geometry of fold ``f`` (outer fold ``fc``, inner
    ``fr``), computed first where the row holds another slot or another walk's."""
    slot = _slot(f, fc, fr, by)
    at = slot & (cache.shape[0] - 1)  # rows: a power of two
    if cache[at, _STAMP] != stamp or cache[at, _TAG] != slot:
        _remember(cache, stamp, f, at, slot, d, g, n_inner, sr, sc, t, operand)
    return at


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
    folds -- but for the last band's folds (:func:`_last_band`): a narrower band,
    its sets may end below the band before it, so it is tested on its own."""
    limit = n_outer * n_inner if once else n_inner
    last = _last_band(limit, n_inner, by)
    a, b = 0, last
    while a < b:
        mid = (a + b) // 2
        at = _fetch(cache, stamp, mid, mid // n_inner, mid % n_inner, by, d, g, n_inner, sr, sc, t,
                    operand)
        if _span_sets(_get(cache, at), eps)[1] >= n_act:
            b = mid
        else:
            a = mid + 1
    if a < last:
        return a
    at = _fetch(cache, stamp, last, last // n_inner, last % n_inner, by, d, g, n_inner, sr, sc, t, operand)
    return last if _span_sets(_get(cache, at), eps)[1] >= n_act else -1


@njit(cache=True, inline="always", error_model="numpy")
def _last_band(stop, n_inner, by):
    """The first of the folds before ``stop`` (the end of a sweep, or of the walk for
    an operand read once) that read the operand's last band: the last fold (``by``
    1: a band per inner fold; 0: a fold per band) or the last outer fold's (``by`` 2,
    os filter: a band per outer fold). Every band but the last is as wide as the
    array; the last holds what is left, so its sets may end lower than the band
    before it (in diagonal order, up to the array's width less its own)."""
    return max(stop - (n_inner if by == 2 else 1), 0)


@njit(cache=True, error_model="numpy")
def _last_quiet(d, g, f, stop, n_inner, sr, sc, t, operand, cache, stamp, by, eps, n_lines,
                n_act, start):
    """The last fold of ``[f, stop)`` up to which every fold is quiet, given that
    fold ``f`` is (quietness only ends along a sweep, whose sets rise: ``stop``
    leaves out the last band's folds, :func:`_last_band`)."""
    step = 1
    good = f
    while good + step < stop:
        probe = good + step
        at = _fetch(cache, stamp, probe, probe // n_inner, probe % n_inner, by, d, g, n_inner, sr, sc, t,
                    operand)
        if not _quiet(_get(cache, at), eps, n_lines, n_act, start):
            break
        good += step
        step *= 2
    bad = min(good + step, stop)
    while bad - good > 1:
        mid = (good + bad) // 2
        at = _fetch(cache, stamp, mid, mid // n_inner, mid % n_inner, by, d, g, n_inner, sr, sc, t,
                    operand)
        if _quiet(_get(cache, at), eps, n_lines, n_act, start):
            good = mid
        else:
            bad = mid
    return good


@njit(cache=True, inline="always", error_model="numpy")
def _serve(last, stall, F, cycle, m):
    """Serve ``m`` misses on the row of stall-free ``cycle`` (SCALE-Sim's prefetch
    recurrence, ``last`` the end of the last prefetch); return (last, stall)."""
    last, offset = burst(last, F, cycle + stall, m)
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
            start, m, _ = serve_sets(start, p // eps, (p + cv - 1) // eps, n_lines, n_act, n_pre)
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
    start, m, end = serve_sets(start, s0, s1, n_lines, n_act, n_pre)
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


@njit(cache=True, error_model="numpy")
def read_stalls(g, sram_words, bw, operand, max_folds, out, row, cache, stamp, limit=np.inf, lo=0,
                hi=SHARES, reads=None):
    """Stall cycles of the ifmap (``operand`` 0) or filter (1) read buffer alone
    (the other buffers never stall) at each of its 14 sizes, ``s / 16`` of
    ``sram_words``, into ``out[row, s - 1]``; estimated. With ``reads`` (an array
    shaped as ``out``), also the words the buffer reads from DRAM at each size,
    SCALE-Sim's first fill and one request per prefetch the walk serves (exact
    where the walk covers every fold that may miss; past ``max_folds`` the
    prefetches grow as in the folds walked since ``max_folds / 2``).

    Folds whose sets all lie in the window are skipped in runs; after
    ``max_folds`` folds that may miss, the stall's growth over the second half of
    them is extended to the remaining folds. ``cache`` (``(rows, CACHE_COLUMNS)``,
    rows a power of two, zeros at first) holds the folds' geometry, slot ``s`` in
    row ``s % rows``; a row is valid where its stamp equals ``stamp``, unique to the
    GEMM and operand (and never 0), and its tag the slot. Only the sizes
    ``lo + 1 .. hi`` are walked; a walk whose stall passes ``limit`` stops there
    and gives ``inf`` (the stall only grows, so it would end above the limit)."""
    # tuples, not arrays: passing arrays into the inlined loops costs reference counts
    g = (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12])
    d = operand_layout(g, operand)
    n_valid = valid_words(d)
    df = g[G_DF]
    flat = (df == 1) if operand == 1 else (df == 2)
    once = (df == 0 and operand == 1) or flat
    by = 0 if flat else (2 if once else 1)
    n_outer, n_inner, per, sr, sc, t = fold_grid(g)
    total = n_outer * n_inner
    sweeps = 2 * n_inner <= max_folds  # stop and measure on whole sweeps
    n_elems = d[D_ROWS] * d[D_COLS]
    for share in range(lo, hi):
        out[row, share] = 0.0
        words = sram_words * (share + 1) // PARTS
        eps, n_lines, n_act, n_pre = read_window(words, n_valid)
        active = ceil_div(words, 2)
        fill = min(ceil_div(active, bw), ceil_div(n_elems, bw)) * bw  # SCALE-Sim's first fill, words
        per_miss = ceil_div(words - active, bw) * bw  # one prefetch request, words
        if reads is not None:
            reads[row, share] = fill
        if n_act == n_lines:
            continue
        F = ceil_div(words - ceil_div(words, 2), bw) + 1  # cycles from one prefetch's end to the next's
        first = _first_miss(d, g, n_outer, n_inner, sr, sc, t, operand, eps, n_act, cache, stamp, by,
                            once)
        if first < 0:
            continue
        start = np.int64(0)  # int64, not a literal: callees compile for one type, not two
        last = np.int64(-1)  # SCALE-Sim fills both active halves before cycle 0
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
            at = _fetch(cache, stamp, f, fc, fr, by, d, g, n_inner, sr, sc, t, operand)
            x = _get(cache, at)
            if (calm or fr == 0) and _quiet(x, eps, n_lines, n_act, start):
                if quiet < 2:  # short quiet runs are stepped over; long ones skipped by search
                    quiet += 1
                    f += 1
                    continue
                stop = total if once else (fc + 1) * n_inner
                tail = _last_band(stop, n_inner, by)
                if f < tail:  # the last band may be quiet after folds that are not
                    stop = tail
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
        if reads is not None:
            fetched = float(misses)
            if f < total and f > since:
                fetched += (misses - since_misses) * (total - f) / (f - since)
            reads[row, share] = fill + fetched * per_miss
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

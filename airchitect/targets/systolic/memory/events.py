"""SCALE-Sim 3.0.0's USER-mode memory system on dense GEMMs, event by event.

:mod:`~airchitect.targets.systolic.memory.rows` replays every row of the
array's demand (one row per cycle), about half a millisecond per GEMM on the
``buffer`` task's workloads. This module walks the same folds but visits only
the rows where something happens -- a read buffer misses, the ofmap write buffer
starts a drain or fills up -- and jumps over the rows between, in closed form:

* **Read buffers.** Within a fold, an operand's reads sweep its prefetch order
  upwards (skewed, "diagonal" operands) or row by row downwards (flat operands:
  ws filter, is ifmap, read in the fold's first rows). How far the window of
  active sets must slide for a run of words -- wrapping around the buffer when
  the run steps back behind the window -- has a closed form (:func:`_bring`,
  :func:`_window_end`); the next row that reaches past the window is found by
  bisection. A row's misses follow SCALE-Sim 3.0.0's prefetch recurrence
  (prefetches chained from the end of the previous one, a positive wait counted
  twice) in closed form (:func:`burst`).
* **Write buffer.** A fold's ofmap writes per row form a trapezoid whose
  running total has a closed form (:func:`writes_before`); the row where the
  buffer next starts a drain or fills up is found by bisection and served by the
  row model's own :func:`~airchitect.targets.systolic.memory.write_buffer.serve_writes`.

Two modes:

``exact=True`` (:func:`user_mode_totals`)
    Total and stall cycles, every DRAM count, SRAM counts, energy: equal to
    SCALE-Sim's (tested against it and against the row model). About 18x
    faster than the row model on the buffer task's workloads.
``exact=False`` (:func:`estimate_user_mode`)
    Prefetch counts and DRAM reads still exact; a miss inside a fold's sweep is
    placed by linear interpolation instead of bisection, and a fold's ofmap
    writes arrive evenly over its write rows into a write buffer that drains by
    SCALE-Sim's rules (:func:`drain_writes`). About twice as cheap as the exact
    mode; within 0.1% of the exact cycles for 93% of pairs (docs/memory.md). The
    buffer task's learned model uses it.

Units: sizes in kB for the public functions (1 kB = 1024 words) and in words
for the kernels, bandwidth in words/cycle, cycles as SCALE-Sim counts them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from airchitect._math import ceil_div
from airchitect.targets.systolic import energy
from airchitect.targets.systolic.config import WORDS_PER_KB
from airchitect.targets.systolic.geometry import G_C, G_DF, G_R, fold_grid, fold_span, row_runs
from airchitect.targets.systolic.memory.checks import checked_gemms
from airchitect.targets.systolic.memory.prefetch import D_COLS, D_ROWS, operand_layout, position, valid_words
from airchitect.targets.systolic.memory.read_buffer import read_state
from airchitect.targets.systolic.memory.write_buffer import (
    empty_all, serve_writes, store, write_state,
)


#: columns of :func:`simulate_many`'s output; ``dram_ofmap_writes`` only in the exact
#: mode, ``ofmap_stall_cycles`` only in the estimate
OUT_FIELDS = ("total_cycles", "stall_cycles", "ifmap_prefetches", "filter_prefetches",
              "dram_ofmap_writes", "ofmap_stall_cycles", "dram_ifmap_reads", "dram_filter_reads")

_NONE = 1 << 60


@njit(cache=True, inline="always")
def _bring(start, s, n_lines, n_act, n_pre):
    """Slide the window ``[start, start + n_act)`` (mod ``n_lines``) until it holds
    set ``s``; return (new start, misses). Both sets lie in ``[0, n_lines)``."""
    dist = s - start
    if dist < 0:  # (s - start) mod n_lines, without a division
        dist += n_lines
    if dist < n_act:
        return start, 0
    m = (dist - n_act) // n_pre + 1
    return (start + m * n_pre) % n_lines, m


@njit(cache=True, inline="always")
def _window_end(start, s0, n_lines, n_act):
    """End of the window holding set ``s0``, counted on from ``s0`` (no wrap): a
    sweep up from ``s0`` misses once it reaches this set, then every ``n_pre``.
    Both sets lie in ``[0, n_lines)``."""
    behind = s0 - start
    return s0 - (behind + n_lines if behind < 0 else behind) + n_act


@njit(cache=True)
def burst(last, F, cycle, m):
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
def _run(d, eps, g, fc, fr, j, rv, cv, t, operand):
    """(first position, first set, last set, words) of an operand's run on fold row ``j``."""
    ir, ic, ni, fr_, fcol, nf, _ = row_runs(g, fc, fr, j, rv, cv, t)
    r, c, k = (ir, ic, ni) if operand == 0 else (fr_, fcol, nf)
    if k <= 0:
        return 0, 0, -1, 0
    p = position(d, r, c)
    return p, p // eps, (p + k - 1) // eps, k


@njit(cache=True, inline="always")
def serve_sets(start, s0, s1, n_lines, n_act, n_pre):
    """Misses of a run of sets ``s0..s1`` read in order; return (start, misses, window end)."""
    start, m = _bring(start, s0, n_lines, n_act, n_pre)
    end = _window_end(start, s0, n_lines, n_act)
    if s1 >= end:
        more = (s1 - end) // n_pre + 1
        m += more
        start = (start + more * n_pre) % n_lines
        end += more * n_pre
    return start, m, end


@njit(cache=True)
def _read_events(d, win, start, flat, exact, g, fc, fr, lo, hi, rv, cv, t, operand, rows, counts):
    """Misses of one operand in fold (fc, fr) as events (fold row, count) in
    ``rows``/``counts``; return (window start, events, misses)."""
    eps, n_lines, n_act, n_pre = win
    n = 0
    total = 0
    if flat:  # one run per row, rows descending in the prefetch order
        for j in range(lo, hi + 1):
            _, s0, s1, k = _run(d, eps, g, fc, fr, j, rv, cv, t, operand)
            if k > 0:
                start, m, _ = serve_sets(start, s0, s1, n_lines, n_act, n_pre)
                n = _add_event(rows, counts, n, j, m)
                total += m
        return start, n, total
    # skewed: the runs' sets only increase along the fold
    p0, s0, s1, _ = _run(d, eps, g, fc, fr, lo, rv, cv, t, operand)
    last, _, s_hi, k_hi = _run(d, eps, g, fc, fr, hi, rv, cv, t, operand)
    start, m, end = serve_sets(start, s0, s1, n_lines, n_act, n_pre)
    n = _add_event(rows, counts, n, lo, m)
    total = m
    if exact:
        j = lo
        while j < hi and s_hi >= end:  # the first later row whose last set reaches the end
            a, b = j + 1, hi
            while a < b:
                mid = (a + b) // 2
                if _run(d, eps, g, fc, fr, mid, rv, cv, t, operand)[2] >= end:
                    b = mid
                else:
                    a = mid + 1
            j = a
            _, s0, s1, _ = _run(d, eps, g, fc, fr, j, rv, cv, t, operand)
            start, m, end = serve_sets(start, s0, s1, n_lines, n_act, n_pre)
            n = _add_event(rows, counts, n, j, m)
            total += m
    elif s_hi >= end:  # each miss where the sweep reaches its set, interpolated
        k = (s_hi - end) // n_pre + 1
        p1 = last + k_hi - 1
        for i in range(k):
            pos = max((end + i * n_pre) * eps, p0)
            n = _add_event(rows, counts, n, lo + (pos - p0) * (hi - lo + 1) // (p1 - p0 + 1), 1)
        total += k
        start = (start + k * n_pre) % n_lines
    return start, n, total


@njit(cache=True, inline="always")
def _add_event(rows, counts, n, row, m):
    """Append ``m`` misses on ``row`` (merged with the last event on the same row)."""
    if m <= 0:
        return n
    if n > 0 and rows[n - 1] == row:
        counts[n - 1] += m
        return n
    rows[n] = row
    counts[n] = m
    return n + 1


@njit(cache=True, inline="always")
def writes_before(U, cv, h):
    """Ofmap words a fold writes before its write row ``U``: the row ``u`` writes
    ``#{c < cv: 0 <= u - c < h}`` words, so the total is ``sum_c clamp(U - c, 0, h)``."""
    if U <= 0:
        return 0
    full = min(max(U - h + 1, 0), cv)
    top = min(U, cv)
    total = full * h
    if top > full:
        total += (top - full) * U - (full + top - 1) * (top - full) // 2
    return total


@njit(cache=True)
def _serve_rows(wst, segs, pos, stop, base, stall, shift, cv, h):
    """Serve the ofmap writes of fold rows [pos, stop), none of which misses a read:
    store words in bulk up to the row where a drain starts or the buffer fills,
    serve that row as the row model does; return (stall, segments)."""
    while pos < stop:
        cycle = base + pos + stall
        free = wst[0].free
        limit = stop
        if cycle < wst[0].drain_end:
            need = max(free, 1)
            limit = min(stop, wst[0].drain_end - (base + stall))
        else:
            need = free - wst[0].active + 1 if free >= wst[0].active else 1
        before = writes_before(pos - shift, cv, h)
        upto = writes_before(limit - shift, cv, h)
        if upto - before < need:
            store(wst, segs, upto - before)
            pos = limit
            continue
        a, b = pos, limit - 1
        while a < b:
            mid = (a + b) // 2
            if writes_before(mid + 1 - shift, cv, h) - before >= need:
                b = mid
            else:
                a = mid + 1
        at = writes_before(a - shift, cv, h)
        store(wst, segs, at - before)
        cycle = base + a + stall
        served, segs = serve_writes(wst, segs, writes_before(a + 1 - shift, cv, h) - at, cycle)
        stall += served - cycle
        pos = a + 1
    return stall, segs


@njit(cache=True, inline="always")
def drain_writes(free, end, start, words, rate, size, active, dlines, bw):
    """Estimate of one fold's ofmap writes: ``words`` arrive at ``rate`` words per
    cycle from cycle ``start`` into the write buffer, whose drains follow the row
    model's rules (a drain starts on the write that leaves fewer than ``active``
    words free, sends up to ``dlines`` lines of ``bw`` words, one per cycle, and
    frees their words at once; a full buffer waits for the running drain's end).
    ``free`` (words) and ``end`` (cycle the running drain ends) are the buffer's
    state before the fold; return them after it, and the cycles the array waits,
    rounded."""
    t = float(start)
    left = float(words)
    wait = 0.0
    while left > 0.0:
        room = max(free, 0.0) if t < end else max(free - active + 1.0, 1.0)
        if left <= room:
            free -= left
            break
        t += room / rate
        free -= room
        left -= room
        if t < end:  # full while a drain runs: wait for its end
            wait += end - t
            t = end
        else:  # a drain starts
            n = min(float(dlines), np.floor((size - free) / bw))
            if n >= 1.0:
                free += n * bw
                end = t + n - 1.0
    return free, end, int(wait + 0.5)


@njit(cache=True)
def simulate_one(g, ifmap_words, filter_words, ofmap_words, bw, exact, out):
    """Simulate one dense GEMM (geometry vector ``g``); write OUT_FIELDS to ``out``."""
    C = g[G_C]
    df = g[G_DF]
    # int64 where a literal would only make numba compile a callee twice; the operand
    # stays a literal in the miss walks (``_read_events``), which it specialises
    ifmap, filter_ = np.int64(0), np.int64(1)
    scalesim = np.int64(0)  # the read buffers' convention: SCALE-Sim 3.0's
    idesc = operand_layout(g, ifmap)
    fdesc = operand_layout(g, filter_)
    # the row model's read buffers: set sizes, window, first fill and prefetch requests
    ist = read_state(ifmap_words, bw, valid_words(idesc), idesc[D_ROWS] * idesc[D_COLS], scalesim)
    fst = read_state(filter_words, bw, valid_words(fdesc), fdesc[D_ROWS] * fdesc[D_COLS], scalesim)
    iwin = (ceil_div(ifmap_words, 100), ist[0].n_lines, ist[0].n_active, ist[0].n_pre)
    fwin = (ceil_div(filter_words, 100), fst[0].n_lines, fst[0].n_active, fst[0].n_pre)
    i_fit = ist[0].all_fit == 1
    f_fit = fst[0].all_fit == 1
    iF = ist[0].req1 + 1  # cycles from one prefetch's end to the next's
    fF = fst[0].req1 + 1
    n_outer, n_inner, per, sr, sc, t = fold_grid(g)
    irow = np.empty(per + 2, np.int64)
    icnt = np.empty(per + 2, np.int64)
    frow = np.empty(per + 2, np.int64)
    fcnt = np.empty(per + 2, np.int64)
    wst = write_state(ofmap_words, bw)
    segs = np.zeros((64, 2), np.int64)
    istart = fstart = np.int64(0)
    i_misses = f_misses = 0
    ilast = flast = np.int64(-1)  # SCALE-Sim fills both active halves before cycle 0
    stall = write_stall = base = np.int64(0)
    free, drain_end = float(ofmap_words), -1.0  # the write buffer's state in the estimate
    for fc in range(n_outer):
        cv = min(C, sc - fc * C)
        for fr in range(n_inner):
            rv = min(g[G_R], sr - fr * g[G_R])
            i_lo, i_hi, f_lo, f_hi, o_lo, o_hi, words = fold_span(g, rv, cv, t)
            # write row u = fold row - shift writes #{c < cv: 0 <= u - c < h} words
            shift, h = (t - 1 + g[G_R] - rv, rv) if df == 0 else (2 * g[G_R] - 1, t)
            ni = nf = 0
            if not i_fit:
                istart, ni, m = _read_events(idesc, iwin, istart, df == 2, exact, g, fc, fr, i_lo,
                                             i_hi, rv, cv, t, 0, irow, icnt)
                i_misses += m
            if not f_fit:
                fstart, nf, m = _read_events(fdesc, fwin, fstart, df == 1, exact, g, fc, fr, f_lo,
                                             f_hi, rv, cv, t, 1, frow, fcnt)
                f_misses += m
            a = b = pos = np.int64(0)
            while a < ni or b < nf:
                ra = irow[a] if a < ni else _NONE
                rb = frow[b] if b < nf else _NONE
                r = min(ra, rb)
                if exact:
                    stall, segs = _serve_rows(wst, segs, pos, r, base, stall, shift, cv, h)
                cycle = base + r + stall
                wait = 0
                if ra == r:
                    ilast, offset = burst(ilast, iF, cycle, icnt[a])
                    wait = max(wait, offset - 1)
                    a += 1
                if rb == r:
                    flast, offset = burst(flast, fF, cycle, fcnt[b])
                    wait = max(wait, offset - 1)
                    b += 1
                if exact:
                    no = writes_before(r + 1 - shift, cv, h) - writes_before(r - shift, cv, h)
                    served, segs = serve_writes(wst, segs, no, cycle)
                    wait = max(wait, served - cycle)
                stall += wait
                pos = r + 1
            if exact:
                stall, segs = _serve_rows(wst, segs, pos, per, base, stall, shift, cv, h)
            elif words > 0:  # the fold's ofmap writes arrive evenly over its write rows
                free, drain_end, wait = drain_writes(free, drain_end, base + o_lo + stall, words,
                                                      words / (o_hi - o_lo + 1), ofmap_words,
                                                      wst[0].active, wst[0].drain_lines, bw)
                stall += wait
                write_stall += wait
            base += per
    total = base - 1 + stall  # the cycle the last row is served, as SCALE-Sim reports
    out[0] = total
    out[1] = stall
    out[2] = i_misses
    out[3] = f_misses
    if exact:
        empty_all(wst, segs, total)
        out[4] = wst[0].access
    out[5] = write_stall
    out[6] = (ist[0].req0 + i_misses * ist[0].req1) * bw
    out[7] = (fst[0].req0 + f_misses * fst[0].req1) * bw


@njit(cache=True, parallel=True)
def simulate_many(G, words, bw, exact, out):
    """:func:`simulate_one` over the rows of ``G`` (n, 13), ``words`` (n, 3: ifmap,
    filter, ofmap SRAM words), ``bw`` (n,) into ``out`` (n, 8), in parallel."""
    for n in prange(G.shape[0]):
        simulate_one(G[n], words[n, 0], words[n, 1], words[n, 2], bw[n], exact, out[n])


#: per read buffer (ifmap, filter) of :func:`read_windows`
WINDOW_FIELDS = ("set_words", "sets", "window_sets", "prefetch_sets", "refill_cycles")


@njit(cache=True, parallel=True)
def _windows(G, words, bw, out):
    for n in prange(G.shape[0]):
        for k in range(2):
            d = operand_layout(G[n], k)
            scalesim = np.int64(0)  # the read buffers' convention: SCALE-Sim 3.0's (int64, not a literal)
            st = read_state(words[n, k], bw[n], valid_words(d), d[D_ROWS] * d[D_COLS], scalesim)
            out[n, k, 0] = ceil_div(words[n, k], 100)
            out[n, k, 1] = st[0].n_lines
            out[n, k, 2] = st[0].n_active
            out[n, k, 3] = st[0].n_pre
            out[n, k, 4] = st[0].req1


def read_windows(G, words, bandwidth):
    """The ifmap and filter read buffers as SCALE-Sim 3.0.0 sets them up, on dense
    geometry vectors ``G`` (n, 13) and SRAM ``words`` (n, 3): ``(n, 2, 5)`` int64,
    the ``WINDOW_FIELDS`` of each -- words per set, sets the operand spans, sets in
    the active window, sets per prefetch, cycles one prefetch takes at the bandwidth
    (the operand fits when the window holds all its sets). No checks."""
    bw = np.ascontiguousarray(np.broadcast_to(np.asarray(bandwidth, dtype=np.int64), (len(G),)))
    out = np.zeros((len(G), 2, len(WINDOW_FIELDS)), np.int64)
    _windows(np.ascontiguousarray(G), np.ascontiguousarray(words, dtype=np.int64), bw, out)
    return out


def _checked(*args):
    """:func:`~airchitect.targets.systolic.memory.checks.checked_gemms`, sizes as SRAM words (n, 3)."""
    G, ifmap_kb, filter_kb, ofmap_kb, bw = checked_gemms(*args)
    return G, np.stack([ifmap_kb, filter_kb, ofmap_kb], axis=1) * WORDS_PER_KB, bw


def run_geometry(G, words, bandwidth, exact=True):
    """Run the kernels on dense geometry vectors ``G`` (n, 13) and SRAM ``words``
    (n, 3); return the ``OUT_FIELDS`` as int64 arrays. No checks."""
    bw = np.ascontiguousarray(np.broadcast_to(np.asarray(bandwidth, dtype=np.int64), (len(G),)))
    words = np.ascontiguousarray(words, dtype=np.int64)
    raw = np.zeros((len(G), len(OUT_FIELDS)), np.int64)
    simulate_many(np.ascontiguousarray(G), words, bw, bool(exact), raw)
    return {name: raw[:, i] for i, name in enumerate(OUT_FIELDS)}


def user_mode_totals(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth,
                     energy_model=None):
    """SCALE-Sim 3.0.0 USER-mode totals of GEMMs, exact, vectorised.

    Arguments broadcast as in :func:`~airchitect.targets.systolic.memory.user_mode`
    (sizes in kB, ``bandwidth`` in words/cycle, dataflow 0 = os, 1 = ws, 2 = is).

    Returns
    -------
    dict of str -> numpy.ndarray (flat, C order of the broadcast shape)
        ``total_cycles``, ``stall_cycles``, ``dram_ifmap_reads``,
        ``dram_filter_reads``, ``dram_ofmap_writes`` (words),
        ``sram_ifmap_reads``, ``sram_filter_reads``, ``sram_ofmap_writes``
        (words), ``energy_pj`` and ``edp`` (pJ x cycles), each equal to
        :func:`~airchitect.targets.systolic.memory.user_mode`'s (the SRAM and
        DRAM start/stop cycles and bandwidths are left out).

    Examples
    --------
    >>> from airchitect.targets.systolic.memory import user_mode
    >>> fast = user_mode_totals(256, 64, 128, 8, 8, 1, 4, 4, 8, 4)
    >>> slow = user_mode(256, 64, 128, 8, 8, 1, 4, 4, 8, 4)
    >>> int(fast["total_cycles"][0]) == int(slow["total_cycles"][0])
    True
    """
    G, words, bw = _checked(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth)
    raw = run_geometry(G, words, bw, exact=True)
    out = {k: raw[k] for k in ("total_cycles", "stall_cycles", "dram_ifmap_reads", "dram_filter_reads",
                               "dram_ofmap_writes")}
    return energy.add_energy(G, words // WORDS_PER_KB, out, energy_model or energy.DEFAULT)


def estimate_user_mode(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth):
    """Estimated SCALE-Sim 3.0.0 USER-mode cycles of GEMMs (the cheaper mode), vectorised.

    Arguments as in :func:`user_mode_totals`.

    Returns
    -------
    dict of str -> numpy.ndarray (int64, flat)
        ``total_cycles`` (estimated, stalls included), ``ifmap_prefetches`` and
        ``filter_prefetches`` (exact: SCALE-Sim's DRAM prefetches after the
        first fill), ``dram_ifmap_reads`` and ``dram_filter_reads`` (exact,
        words), ``ofmap_stall_cycles`` (estimated stalls on a full write buffer).

    Examples
    --------
    >>> est = estimate_user_mode(256, 64, 128, 8, 8, 1, 4, 4, 8, 4)  # exact: 919271 cycles
    >>> [int(est[k][0]) for k in ("total_cycles", "ifmap_prefetches", "filter_prefetches")]
    [919267, 1791, 15]
    """
    raw = run_geometry(*_checked(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb,
                                 bandwidth), exact=False)
    return {k: raw[k] for k in ("total_cycles", "ifmap_prefetches", "filter_prefetches",
                                "dram_ifmap_reads", "dram_filter_reads", "ofmap_stall_cycles")}

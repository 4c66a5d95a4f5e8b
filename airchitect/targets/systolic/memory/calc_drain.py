"""CALC mode's OFMAP write buffer, drain by drain (SCALE-Sim 3.0.0, ``write_buffer.py``).

In CALC mode the OFMAP drains at ``cols`` words/cycle. It never stalls the
array here (:func:`calc_ofmap_drain` reports where it would), but it sets the
OFMAP DRAM stop cycle and so ``Total Cycles (incl. prefetch)``, which is
``OFMAP DRAM stop - min(IFMAP DRAM start, filter DRAM start)``. Units: words,
kB, cycles.
"""

from __future__ import annotations

import numba
import numpy as np

from airchitect._math import ceil_div


@numba.njit(cache=True)
def _tri(m):
    return m * (m + 1) // 2 if m > 0 else 0


@numba.njit(cache=True)
def _writes_before(t, code, R, C, T, Sr, Sc, RF, CF, per_fold):
    """Valid OFMAP writes in demand rows ``0 .. t-1`` (closed form, O(1)).

    Fold ``f = (fc, fr)`` writes a ``h x cu`` block starting at fold row ``a``,
    skewed so that element ``(r, c)`` lands on row ``a + r + c``: os ``a = T-1+R-ru``,
    ``h = ru``; ws/is ``a = 2R-1``, ``h = T``. Rows of a block before ``n`` hold
    ``g(n) - g(n-h) - g(n-cu) + g(n-h-cu)`` elements, ``g(m) = m(m+1)/2``.
    """
    if t >= RF * CF * per_fold:
        return Sr * Sc if code == 0 else RF * T * Sc
    f = t // per_fold
    y = t - f * per_fold
    fc = f // RF
    fr = f - fc * RF
    cu = C if fc < CF - 1 else Sc - (CF - 1) * C
    ru = R if fr < RF - 1 else Sr - (RF - 1) * R
    if code == 0:
        before = fc * Sr * C + fr * R * cu
        a, h = T - 1 + R - ru, ru
    else:
        before = fc * RF * T * C + fr * T * cu
        a, h = 2 * R - 1, T
    n = y - a
    return before + _tri(n) - _tri(n - h) - _tri(n - cu) + _tri(n - h - cu)


@numba.njit(cache=True)
def _row_of(e, code, R, C, T, Sr, Sc, RF, CF, per_fold):
    """Demand row holding valid OFMAP write number ``e`` (0-based): its fold by
    division (every fold but the last row and column folds writes the same
    block), then a binary search within the fold."""
    col = Sr * C if code == 0 else RF * T * C  # writes of a full column fold
    fc = min(e // col, CF - 1)
    e1 = e - fc * col
    cu = C if fc < CF - 1 else Sc - (CF - 1) * C
    blk = R * cu if code == 0 else T * cu  # writes of a full row fold
    fr = min(e1 // blk, RF - 1)
    f = fc * RF + fr
    lo, hi = f * per_fold, (f + 1) * per_fold - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _writes_before(mid, code, R, C, T, Sr, Sc, RF, CF, per_fold) <= e:
            lo = mid
        else:
            hi = mid - 1
    return lo


@numba.njit(cache=True)
def _drain(n_lines, start_line, lines_per_drain, c, part_lines, part_valid, ptr):
    """Lines and words of one drain chunk; SCALE-Sim counts whole lines minus the
    empty slots of the chunk's last line only."""
    n = min(lines_per_drain, n_lines - start_line)
    last = start_line + n - 1
    while ptr < len(part_lines) and part_lines[ptr] < last:
        ptr += 1
    valid_last = c
    if ptr < len(part_lines) and part_lines[ptr] == last:
        valid_last = part_valid[ptr]
    return n, n * c - (c - valid_last), ptr


@numba.njit(cache=True)
def _drain_kernel(code, R, C, T, Sr, Sc, S, total, out_stop, out_writes, out_stall, out_start):
    """Replay SCALE-Sim's OFMAP ``write_buffer`` in CALC mode (drain ``C`` words/cycle).

    ``write_buffer.service_writes`` stores words one by one: a word stored
    before the end of the running drain stalls if the buffer is full; once
    the running drain has ended and free space drops below the active half,
    the partial trace line is flushed and ``ceil(drain_half / C)`` lines drain
    over as many cycles, from the current cycle. Between two such events only
    counts change, so the replay jumps from event to event with
    :func:`_writes_before` and :func:`_row_of` (cost per drain, not per cycle).
    """
    for i in range(out_stop.size):
        d, r, c, t_len, sr, sc = code[i], R[i], C[i], T[i], Sr[i], Sc[i]
        rf = (sr + r - 1) // r
        cf = (sc + c - 1) // c
        per_fold = t_len + r + c - 2 + (r if d != 0 else 0)
        w_total = _writes_before(rf * cf * per_fold, d, r, c, t_len, sr, sc, rf, cf, per_fold)
        size = S[i]
        active = (size + 1) // 2
        lines_per_drain = (size - active + c - 1) // c
        free = size
        n_lines = 0
        line_idx = 0
        start_line = 0
        drain_end = 0
        last_drain_end = -1
        words = 0
        stalled = False
        part_lines = [np.int64(-1)]
        part_valid = [np.int64(0)]
        ptr = 1
        e0 = 0
        max_w = min(c, min(r, sr) if d == 0 else t_len)  # most writes in one row
        prev_key = (np.int64(-1), np.int64(-1), np.int64(-1), np.int64(-1), np.int64(-1))
        first_start = np.int64(-1)
        while True:
            e_free = e0 + max(1, free - active + 1) - 1
            e_drain = _writes_before(drain_end, d, r, c, t_len, sr, sc, rf, cf, per_fold)
            if min(e_drain, w_total) - e0 >= free:
                stalled = True
                break
            e_star = max(e_free, e_drain)
            if e_star >= w_total:
                break
            k = e_star - e0 + 1
            free -= k
            filled = line_idx + k
            n_lines += filled // c
            line_idx = filled % c
            t_star = _row_of(e_star, d, r, c, t_len, sr, sc, rf, cf, per_fold)
            if first_start < 0:
                first_start = t_star
            if line_idx > 0:
                part_lines.append(n_lines)
                part_valid.append(line_idx)
                n_lines += 1
                line_idx = 0
            n, credit, ptr = _drain(n_lines, start_line, lines_per_drain, c, part_lines,
                                    part_valid, ptr)
            free += credit
            words += credit
            drain_end = t_star + n - 1
            last_drain_end = drain_end
            start_line += n
            e0 = e_star + 1
            # Steady state: the same buffer state after two drains triggered by free
            # space alone repeats every k words, as long as a drain ends before the
            # next k words arrive; jump over those periods. The drain of this event
            # ends at row t* + n - 1, and write e* lies in row t*, so the writes before
            # its end number at most e* + (n - 1) * max_w: (n - 1) * max_w <= k keeps
            # the next trigger at free space (e* + k), and free > 0 keeps it unstalled.
            sig = np.int64(0)
            count = np.int64(0)
            for j in range(ptr, len(part_lines)):
                if part_lines[j] >= start_line:
                    sig = sig * 1000003 + (part_lines[j] - start_line) * 65537 + part_valid[j]
                    count += 1
            key = (np.int64(free), np.int64(n_lines - start_line), sig, np.int64(k),
                   np.int64(credit) * 4 + (1 if e_star == e_free else 0) * 2 + count % 2)
            if key == prev_key and e_star == e_free and (n - 1) * max_w <= k and free > 0:
                periods = (w_total - 1 - e_star) // k
                if periods > 0:
                    shift = periods * n  # lines added per period = lines drained

                    new_lines = [np.int64(-1)]
                    new_valid = [np.int64(0)]
                    for j in range(ptr, len(part_lines)):
                        if part_lines[j] >= start_line:
                            new_lines.append(part_lines[j] + shift)
                            new_valid.append(part_valid[j])
                    part_lines = new_lines
                    part_valid = new_valid
                    ptr = 1
                    n_lines += shift
                    start_line += shift
                    words += periods * credit
                    e_star += periods * k
                    e0 = e_star + 1
                    t_star = _row_of(e_star, d, r, c, t_len, sr, sc, rf, cf, per_fold)
                    drain_end = t_star + n - 1
                    last_drain_end = drain_end
            prev_key = key
        k = w_total - e0
        filled = line_idx + k
        n_lines += filled // c
        line_idx = filled % c
        # empty_all_buffers(last OFMAP service cycle): flush, then drain the rest back to back.
        if line_idx > 0:
            part_lines.append(n_lines)
            part_valid.append(line_idx)
            n_lines += 1
        stop = last_drain_end
        if start_line < n_lines:
            stop = max(stop, total[i] + (n_lines - start_line) - 1)
        while start_line < n_lines:
            n, credit, ptr = _drain(n_lines, start_line, lines_per_drain, c, part_lines,
                                    part_valid, ptr)
            words += credit
            start_line += n
        out_stop[i] = stop
        out_start[i] = first_start if first_start >= 0 else total[i]
        out_writes[i] = words
        out_stall[i] = stalled


def calc_ofmap_drain(code, R, C, T, Sr, Sc, ofmap_kb, total, valid_writes):
    """OFMAP DRAM stop cycle, DRAM writes and a stall flag of CALC mode's write buffer:
    :func:`calc_ofmap_drain_cycles` without the start cycle."""
    _, stop, writes, stall = calc_ofmap_drain_cycles(code, R, C, T, Sr, Sc, ofmap_kb, total,
                                                     valid_writes)
    return stop, writes, stall


def calc_ofmap_drain_cycles(code, R, C, T, Sr, Sc, ofmap_kb, total, valid_writes):
    """OFMAP DRAM start and stop cycles, DRAM writes and a stall flag of CALC mode's
    write buffer, ``(start, stop, writes, stall)`` (cycles, words, bool).

    When every valid OFMAP word fits in the drain half (``valid_writes <=
    floor(S/2)``, ``S = ofmap_kb * 1024``) nothing drains before the end, and
    the final drain writes ``ceil(valid_writes / C)`` lines from cycle
    ``total_cycles`` on: ``start = total_cycles``, ``stop = total_cycles +
    ceil(valid_writes / C) - 1``. Otherwise the buffer is replayed by
    :func:`_drain_kernel` (the start is the first drain's cycle). Work: O(1) per
    layer that fits, O(drains until the drains repeat) otherwise.

    >>> [int(v[0]) for v in calc_ofmap_drain_cycles(0, 4, 4, 6, 4, 5, 1, [31], [20])[:3]]
    [31, 35, 20]
    """
    size = np.asarray(ofmap_kb, np.int64) * 1024
    args = (size, code, R, C, T, Sr, Sc, total, valid_writes)
    if not all(type(a) is np.ndarray and a.ndim == 1 and len(a) == len(size) for a in args):
        size, code, R, C, T, Sr, Sc, total, valid_writes = np.broadcast_arrays(*args)
    start = total.astype(np.int64).copy()
    stop = total + ceil_div(valid_writes, C) - 1
    writes = valid_writes.copy()
    stall = np.zeros(stop.shape, dtype=bool)
    busy = valid_writes > size - (size + 1) // 2
    if busy.any():
        sel = [np.ascontiguousarray(a[busy], dtype=np.int64)
               for a in (code, R, C, T, Sr, Sc, size, total)]
        s_stop = np.empty(sel[0].size, np.int64)
        s_writes = np.empty(sel[0].size, np.int64)
        s_stall = np.empty(sel[0].size, np.bool_)
        s_start = np.empty(sel[0].size, np.int64)
        _drain_kernel(*sel, s_stop, s_writes, s_stall, s_start)
        start[busy] = s_start
        stop[busy] = s_stop
        writes[busy] = s_writes
        stall[busy] = s_stall
    return start, stop, writes, stall

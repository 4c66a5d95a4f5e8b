"""Numba kernels of the SCALE-Sim 3.0.0 memory system (double-buffered SRAMs).

This module holds the inner loops only; :mod:`airchitect.targets.systolic.memory`
is the public face. The model replays, row by row of the systolic array's demand
(one row = one cycle without stalls), the three SRAM buffers that SCALE-Sim 3.0.0
simulates in ``scalesim/memory``:

* two read buffers (ifmap, filter), ``read_buffer.py``: the operand's prefetch
  order is cut into "sets" of ``ceil(size_words / 100)`` valid words; an active
  window of sets (half the buffer) serves hits; a miss slides the window by the
  prefetch half and issues a DRAM prefetch, which may stall the array;
* one write buffer (ofmap), ``write_buffer.py``: words are packed into lines of
  ``bandwidth`` words; when the free space drops under the active half a drain
  of ``ceil(drain_size / bandwidth)`` lines is sent to DRAM, one line a cycle.

Everything is streamed fold by fold; the only arrays of operand size are the
set index of every ifmap and filter address (what SCALE-Sim's hashed buffer
holds), never a demand matrix.

Conventions (``convention`` argument, an int here): 0 = ``"scalesim-3.0"``
reproduces SCALE-Sim 3.0.0 including its quirks; 1 = ``"corrected"``. Each place
where the corrected convention departs is marked ``CORRECTED:`` below.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# geometry vector layout (int64): see memory.geometry()
G_P, G_WN, G_NF, G_H, G_W, G_FW, G_CH, G_S, G_EW, G_R, G_C, G_DF, G_DENSE = range(13)

# output vector layout (float64)
OUT_FIELDS = (
    "total_cycles_incl_prefetch", "total_cycles", "stall_cycles",
    "sram_ifmap_start_cycle", "sram_ifmap_stop_cycle",
    "sram_filter_start_cycle", "sram_filter_stop_cycle",
    "sram_ofmap_start_cycle", "sram_ofmap_stop_cycle",
    "dram_ifmap_start_cycle", "dram_ifmap_stop_cycle", "dram_ifmap_reads",
    "dram_filter_start_cycle", "dram_filter_stop_cycle", "dram_filter_reads",
    "dram_ofmap_start_cycle", "dram_ofmap_stop_cycle", "dram_ofmap_writes",
)
N_OUT = len(OUT_FIELDS)


@njit(cache=True, inline="always")
def _ceil_div(a, b):
    return -(-a // b)


@njit(cache=True, inline="always")
def _ifmap_addr(g, p, w):
    """Address id of ifmap operand element (p, w), or -1 (im2col, as SCALE-Sim)."""
    if p >= g[G_P] or w >= g[G_WN]:
        return -1
    ew = g[G_EW]
    s = g[G_S]
    irow = (p // ew) * s
    icol = (p % ew) * s
    fwch = g[G_FW] * g[G_CH]
    crow = w // fwch
    k = w % fwch
    ccol = k // g[G_CH]
    if crow + irow < g[G_H] and ccol + icol < g[G_W]:
        return ((irow + crow) * g[G_W] + icol + ccol) * g[G_CH] + k % g[G_CH]
    return -1


@njit(cache=True, inline="always")
def _filter_addr(g, i, j):
    """Address id of filter operand element (i, j) (window index, filter)."""
    if i >= g[G_WN] or j >= g[G_NF]:
        return -1
    return j * g[G_WN] + i


@njit(cache=True)
def _prefetch_shape(g, operand):
    """(rows, cols, diagonal order) of the operand's SCALE-Sim prefetch matrix."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    P = g[G_P]
    Wn = g[G_WN]
    Nf = g[G_NF]
    if df == 0:  # os: Sr = P, Sc = Nf, T = Wn
        if operand == 0:
            return _ceil_div(P, R) * Wn, R, True
        return _ceil_div(Nf, C) * Wn, C, True
    if df == 1:  # ws: Sr = Wn, Sc = Nf, T = P
        if operand == 0:
            return _ceil_div(Wn, R) * P, R, True
        return _ceil_div(Nf, C) * Wn, C, False
    # is: Sr = Wn, Sc = P, T = Nf
    if operand == 0:
        return _ceil_div(P, C) * Wn, C, False
    return _ceil_div(Wn, R) * Nf, R, True


@njit(cache=True, inline="always")
def _prefetch_elem(g, operand, r, c):
    """Address id at (r, c) of the stacked prefetch matrix, -1 for padding."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    if df == 0:
        T = g[G_WN]
        if operand == 0:
            return _ifmap_addr(g, (r // T) * R + c, r % T)
        return _filter_addr(g, r % T, (r // T) * C + c)
    if df == 1:
        if operand == 0:
            T = g[G_P]
            return _ifmap_addr(g, r % T, (r // T) * R + c)
        Wn = g[G_WN]
        return _filter_addr(g, r % Wn, (r // Wn) * C + c)
    if operand == 0:
        Wn = g[G_WN]
        return _ifmap_addr(g, (r // Wn) * C + c, r % Wn)
    T = g[G_NF]
    return _filter_addr(g, (r // T) * R + c, r % T)


@njit(cache=True)
def _prefetch_order(g, operand, out):
    """Write the valid address ids of the prefetch matrix, in SCALE-Sim's order, to
    ``out``; return (number written, number of elements including padding)."""
    rows, cols, diag = _prefetch_shape(g, operand)
    n = 0
    if diag:
        for d in range(rows + cols):
            hi = min(d, rows - 1)
            lo = max(0, d - cols + 1)
            for r in range(hi, lo - 1, -1):
                a = _prefetch_elem(g, operand, r, d - r)
                if a >= 0:
                    out[n] = a
                    n += 1
    else:
        for r in range(rows):
            for c in range(cols):
                a = _prefetch_elem(g, operand, r, c)
                if a >= 0:
                    out[n] = a
                    n += 1
    return n, rows * cols


@njit(cache=True)
def _build_sets(order, n_valid, n_addr, words_per_set):
    """CSR of the sets holding each address: set ids of address a are
    ``idx[ptr[a]:ptr[a + 1]]`` (increasing). A set is ``words_per_set`` consecutive
    valid words of the prefetch order (SCALE-Sim's hashed buffer lines)."""
    count = np.zeros(n_addr + 1, np.int64)
    last = np.full(n_addr, -1, np.int64)
    for pos in range(n_valid):
        a = order[pos]
        s = pos // words_per_set
        if last[a] != s:
            last[a] = s
            count[a + 1] += 1
    ptr = np.cumsum(count)
    idx = np.empty(ptr[n_addr], np.int32)
    fill = ptr[:-1].copy()
    last[:] = -1
    for pos in range(n_valid):
        a = order[pos]
        s = pos // words_per_set
        if last[a] != s:
            last[a] = s
            idx[fill[a]] = s
            fill[a] += 1
    return ptr, idx


# read-buffer state vector layout (int64)
RB_START, RB_END, RB_LAST, RB_NPF, RB_INIT, RB_NLINES, RB_NACT, RB_NPRE, RB_REQ0, \
    RB_REQ1, RB_BW, RB_ALLFIT, RB_DRAM_START, RB_CONV = range(14)


@njit(cache=True)
def _read_buffer(size_words, bw, n_valid, n_elems, convention):
    """Initial state of a double-buffered read SRAM of ``size_words`` words."""
    st = np.zeros(14, np.int64)
    words_per_set = _ceil_div(size_words, 100)
    active = _ceil_div(size_words, 2)
    prefetch = size_words - active
    n_lines = n_valid // words_per_set + 1
    n_act = min(_ceil_div(active, words_per_set), n_lines)
    n_pre = min(_ceil_div(prefetch, words_per_set), n_lines - n_act)
    st[RB_NLINES] = n_lines
    st[RB_NACT] = n_act
    st[RB_NPRE] = n_pre
    st[RB_START] = 0
    st[RB_END] = n_act
    st[RB_REQ0] = min(_ceil_div(active, bw), _ceil_div(n_elems, bw))
    st[RB_REQ1] = _ceil_div(prefetch, bw)
    st[RB_BW] = bw
    st[RB_ALLFIT] = 1 if n_act == n_lines else 0
    st[RB_CONV] = convention
    return st


@njit(cache=True, inline="always")
def _hit(st, ptr, idx, a):
    for q in range(ptr[a], ptr[a + 1]):
        if _in_window(st, idx[q]):
            return True
    return False


@njit(cache=True, inline="always")
def _first_row(st, cycle):
    """SCALE-Sim's prefetch_active_buffer, run on the first demand row."""
    n = st[RB_REQ0]
    st[RB_INIT] = 1
    # requests at cycle - n - 1 + i, answered one cycle later (read latency 1)
    st[RB_DRAM_START] = cycle - n
    st[RB_LAST] = cycle - 1


@njit(cache=True, inline="always")
def _miss(st, cycle, offset):
    """SCALE-Sim's new_prefetch after a miss; return the updated offset."""
    n_lines = st[RB_NLINES]
    start = (st[RB_START] + st[RB_NPRE]) % n_lines
    st[RB_START] = start
    st[RB_END] = (start + st[RB_NACT]) % n_lines
    st[RB_NPF] += 1
    if st[RB_CONV] == 1:
        # CORRECTED: scalesim times the prefetch from the end of the previous
        # prefetch (new_prefetch: cycles_arr = last_prefetch_cycle + i + 1); a
        # prefetch cannot start before the miss that asks for it (cycle + offset).
        issue = max(st[RB_LAST] + 1, cycle + offset)
        st[RB_LAST] = issue + st[RB_REQ1]
        p = st[RB_LAST] - (cycle + offset)
        # CORRECTED: scalesim adds ``p`` once unconditionally and once more when
        # positive (service_reads: offset += p; if p > 0: offset += p); here the
        # array waits ``p`` cycles once, and only when ``p`` is positive.
        if p > 0:
            offset += p
    else:
        st[RB_LAST] = st[RB_LAST] + st[RB_REQ1] + 1
        p = st[RB_LAST] - (cycle + offset)
        offset += p
        if p > 0:
            offset += p
    return offset


@njit(cache=True, inline="always")
def _in_window(st, s):
    start = st[RB_START]
    end = st[RB_END]
    if start < end:
        return start <= s < end
    return s >= start or s < end


@njit(cache=True)
def _serve_addrs(st, ptr, idx, addrs, n_addrs, cycle):
    """Serve one demand row given as address ids; return the cycle it is served."""
    if st[RB_INIT] == 0:
        _first_row(st, cycle)
    offset = 1  # hit latency
    if st[RB_ALLFIT] == 1:
        return cycle + offset
    for k in range(n_addrs):
        a = addrs[k]
        while not _hit(st, ptr, idx, a):
            offset = _miss(st, cycle, offset)
    return cycle + offset


@njit(cache=True)
def _serve_run(st, first_pos, n, words_per_set, cycle):
    """Serve one demand row whose ``n`` words are consecutive in the prefetch order
    from position ``first_pos`` (each address in one set); return the served cycle."""
    if st[RB_INIT] == 0:
        _first_row(st, cycle)
    offset = 1
    if st[RB_ALLFIT] == 1 or n <= 0:
        return cycle + offset
    for s in range(first_pos // words_per_set, (first_pos + n - 1) // words_per_set + 1):
        while not _in_window(st, s):
            offset = _miss(st, cycle, offset)
    return cycle + offset


# write-buffer scalar state (int64 vector). Lines are kept as segments: each
# segment is F full lines (``bw`` words) closed by at most one partial line of P
# words (a partial line is pushed only when a drain flushes the open line).
WB_FREE, WB_DRAIN_END, WB_LINE_IDX, WB_ACCESS, WB_DSTART, WB_DSTOP, WB_VALID, WB_BW, \
    WB_ACTIVE, WB_DLINES, WB_HSEG, WB_HUSED, WB_NSEG, WB_AVAIL = range(14)


@njit(cache=True)
def _write_buffer(size_words, bw):
    st = np.zeros(14, np.int64)
    active = _ceil_div(size_words, 2)
    st[WB_FREE] = size_words
    st[WB_BW] = bw
    st[WB_ACTIVE] = active
    st[WB_DLINES] = _ceil_div(size_words - active, bw)
    st[WB_NSEG] = 1
    return st


@njit(cache=True)
def _close_segment(st, segs, partial):
    """Close the open segment with a partial line of ``partial`` words; open a new one."""
    last = st[WB_NSEG] - 1
    segs[last, 1] = partial
    st[WB_AVAIL] += 1
    if st[WB_NSEG] == segs.shape[0]:
        head = st[WB_HSEG]
        live = st[WB_NSEG] - head
        if head > 0:
            for q in range(live):
                segs[q, 0] = segs[head + q, 0]
                segs[q, 1] = segs[head + q, 1]
            new = segs
        else:
            new = np.zeros((segs.shape[0] * 2, 2), np.int64)
            new[:live] = segs[:live]
        st[WB_HSEG] = 0
        st[WB_NSEG] = live
        segs = new
    segs[st[WB_NSEG], 0] = 0
    segs[st[WB_NSEG], 1] = 0
    st[WB_NSEG] += 1
    return segs


@njit(cache=True, inline="always")
def _store(st, segs, k):
    """Store ``k`` words: fill the open line, pushing full lines."""
    total = st[WB_LINE_IDX] + k
    full = total // st[WB_BW]
    segs[st[WB_NSEG] - 1, 0] += full
    st[WB_AVAIL] += full
    st[WB_LINE_IDX] = total % st[WB_BW]
    st[WB_FREE] -= k


@njit(cache=True)
def _drain(st, segs, start_cycle):
    """SCALE-Sim's empty_drain_buf: send up to DLINES lines, one per cycle."""
    n = min(st[WB_DLINES], st[WB_AVAIL])
    if n <= 0:
        return start_cycle - 1
    bw = st[WB_BW]
    need = n
    last_count = bw
    while need > 0:
        h = st[WB_HSEG]
        full = segs[h, 0]
        lines = full + (1 if segs[h, 1] > 0 else 0)
        left = lines - st[WB_HUSED]
        take = min(need, left)
        st[WB_HUSED] += take
        need -= take
        last_count = bw if st[WB_HUSED] <= full else segs[h, 1]
        if st[WB_HUSED] == lines and h < st[WB_NSEG] - 1:
            st[WB_HSEG] += 1
            st[WB_HUSED] = 0
    st[WB_AVAIL] -= n
    # scalesim counts every drained line as full except the -1 padding of the last one
    data = n * bw - (bw - last_count)
    st[WB_ACCESS] += data
    st[WB_FREE] += data
    end = start_cycle + n - 1
    if st[WB_VALID] == 0:
        st[WB_DSTART] = start_cycle
        st[WB_VALID] = 1
    st[WB_DSTOP] = max(st[WB_DSTOP], end)
    return end


@njit(cache=True)
def _flush_partial(st, segs):
    if st[WB_LINE_IDX] != 0:
        segs = _close_segment(st, segs, st[WB_LINE_IDX])
        st[WB_LINE_IDX] = 0
    return segs


@njit(cache=True)
def _serve_writes(st, segs, n_words, cycle):
    """Serve one demand row holding ``n_words`` ofmap writes; return
    (served cycle, segments). Words are stored in batches up to the next event
    (a stall on a full buffer while a drain runs, or the start of a drain)."""
    current = cycle
    remaining = n_words
    while remaining > 0:
        free = st[WB_FREE]
        if current < st[WB_DRAIN_END]:
            event = free if free >= 1 else 1  # the word after which free <= 0
        else:
            event = free - st[WB_ACTIVE] + 1 if free >= st[WB_ACTIVE] else 1
        k = min(remaining, event)
        _store(st, segs, k)
        remaining -= k
        if k == event:
            if current < st[WB_DRAIN_END]:
                current = st[WB_DRAIN_END]
            else:
                segs = _flush_partial(st, segs)
                st[WB_DRAIN_END] = _drain(st, segs, current)
    return current, segs


@njit(cache=True)
def _empty_all(st, segs, cycle):
    segs = _flush_partial(st, segs)
    while st[WB_AVAIL] > 0:
        st[WB_DRAIN_END] = _drain(st, segs, cycle)
        cycle = st[WB_DRAIN_END] + 1
    return segs


# CALC-mode estimate read buffer (SCALE-Sim's ReadBufferEstimateBw) state (int64)
EB_CUR, EB_ELEMS, EB_RSTART, EB_REND, EB_LSTART, EB_LEND, EB_DONE, EB_PFSTART, EB_SEEN, \
    EB_FIRST, EB_ACCESS, EB_DSTART, EB_DSTOP, EB_DVALID, EB_ITEMS = range(15)
CALC_READ_BW = 10  # words/cycle, hard-coded in SCALE-Sim's CALC mode
SETS_HALF = 50  # int(active_buf_frac * 100) sets in each half


@njit(cache=True)
def _estimate_buffer(size_words):
    st = np.zeros(15, np.int64)
    st[EB_REND] = SETS_HALF - 1
    st[EB_LSTART] = -2
    st[EB_LEND] = -1
    st[EB_ITEMS] = size_words // 100
    return st


@njit(cache=True, inline="always")
def _estimate_prefetch(st, words):
    """Record one prefetch of ``words`` words over cycles [LSTART, LEND] (+1 latency)."""
    st[EB_ACCESS] += words
    if st[EB_DVALID] == 0:
        st[EB_DSTART] = st[EB_LSTART] + 1
        st[EB_DVALID] = 1
    st[EB_DSTOP] = st[EB_LEND] + 1


@njit(cache=True)
def _estimate_read(st, latest, a, cycle):
    """manage_prefetches for address id ``a``: new addresses fill sets of ITEMS words;
    each time the sets reach the end of the active window, a prefetch is timed."""
    s = latest[a]
    if s >= 0 and st[EB_RSTART] <= s < min(st[EB_CUR], st[EB_REND] + 1):
        return
    if s == st[EB_CUR]:
        return
    latest[a] = st[EB_CUR]
    st[EB_ELEMS] += 1
    items = st[EB_ITEMS]
    if st[EB_ELEMS] != items:
        return
    st[EB_ELEMS] = 0
    st[EB_CUR] += 1
    if st[EB_CUR] != st[EB_REND] + 1:
        return
    if st[EB_DONE] == 0:
        st[EB_LEND] = st[EB_FIRST] - 2  # first request - 1 - read latency
        st[EB_LSTART] = st[EB_LEND] - _ceil_div(SETS_HALF * items, CALC_READ_BW) + 1
        _estimate_prefetch(st, SETS_HALF * items)
        st[EB_PFSTART] = st[EB_REND] + 1
        st[EB_DONE] = 1
    else:
        _estimate_prefetch(st, SETS_HALF * items)
        st[EB_PFSTART] += SETS_HALF
    st[EB_RSTART] += SETS_HALF
    st[EB_REND] += SETS_HALF
    st[EB_LSTART] = st[EB_LEND] + 1
    st[EB_LEND] = cycle


@njit(cache=True)
def _estimate_finish(st):
    """complete_all_prefetches: fetch what is left (the sets since the last prefetch)."""
    items = st[EB_ITEMS]
    if st[EB_ELEMS] == 0:
        st[EB_CUR] -= 1
    if st[EB_DONE] == 0:
        words = st[EB_CUR] * items + (st[EB_ELEMS] if st[EB_ELEMS] > 0 else items)
        st[EB_LEND] = -2
        st[EB_LSTART] = st[EB_LEND] - _ceil_div((st[EB_CUR] + 1) * items, CALC_READ_BW) + 1
    else:
        full = st[EB_CUR] - st[EB_PFSTART] + (0 if st[EB_ELEMS] > 0 else 1)
        words = full * items + st[EB_ELEMS]
    _estimate_prefetch(st, words)


@njit(cache=True)
def _estimate_row(st, latest, first_id, n, ids, use_ids, cycle):
    """Serve one demand row in CALC mode (never stalls): ids are ``first_id + k``
    (dense operands, id = prefetch position) or ``ids[:n]``."""
    if n > 0 and st[EB_SEEN] == 0:
        st[EB_SEEN] = 1
        st[EB_FIRST] = cycle
    for k in range(n):
        _estimate_read(st, latest, ids[k] if use_ids else first_id + k, cycle)
    return cycle + 1


# operand descriptor layout (int64): the operand's stacked prefetch matrix is
# n_bands bands of band_rows rows and n_cols columns; the last band has only
# last_cols valid columns (the rest is SCALE-Sim's -1 padding).
D_DIAG, D_ROWS, D_COLS, D_BAND, D_NBANDS, D_LAST = range(6)


@njit(cache=True)
def _operand(g, operand):
    """Descriptor of the ifmap (0) or filter (1) prefetch matrix, a tuple indexed
    by the ``D_*`` constants."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    if df == 0:
        if operand == 0:
            diag, cols, band, length = 1, R, g[G_WN], g[G_P]
        else:
            diag, cols, band, length = 1, C, g[G_WN], g[G_NF]
    elif df == 1:
        if operand == 0:
            diag, cols, band, length = 1, R, g[G_P], g[G_WN]
        else:
            diag, cols, band, length = 0, C, g[G_WN], g[G_NF]
    else:
        if operand == 0:
            diag, cols, band, length = 0, C, g[G_WN], g[G_P]
        else:
            diag, cols, band, length = 1, R, g[G_NF], g[G_WN]
    nb = _ceil_div(length, cols)
    # a tuple in the D_* order (no array to allocate or count references of)
    return (np.int64(diag), nb * band, np.int64(cols), band, nb, length - (nb - 1) * cols)


@njit(cache=True, inline="always")
def _padding_between(d, diag_id, c_lo, c_hi):
    """Padding words of diagonal ``diag_id`` with column in [c_lo, c_hi]."""
    last_row_start = (d[D_NBANDS] - 1) * d[D_BAND]
    return max(0, min(c_hi, diag_id - last_row_start) - max(c_lo, d[D_LAST]) + 1)


@njit(cache=True, inline="always")
def _cells_below(k, r0, r1, c0, c1):
    """Cells (r, c) of the rectangle [r0, r1) x [c0, c1) with r + c < k."""
    h = r1 - r0
    if h <= 0 or c1 <= c0:
        return 0
    full_hi = min(c1, k - r0 - h + 1)  # columns whose whole height lies below k
    total = h * max(0, full_hi - c0)
    lo = max(c0, k - r0 - h + 1)
    hi = min(c1, k - r0)
    if hi > lo:
        total += ((k - lo - r0) + (k - (hi - 1) - r0)) * (hi - lo) // 2
    return total


@njit(cache=True, inline="always")
def _diag_start(d, k):
    """Valid words before anti-diagonal ``k`` of a diagonal-order prefetch matrix
    (all cells minus the padding block of the last band), in closed form."""
    rows = d[D_ROWS]
    cols = d[D_COLS]
    return (_cells_below(k, 0, rows, 0, cols)
            - _cells_below(k, (d[D_NBANDS] - 1) * d[D_BAND], rows, d[D_LAST], cols))


@njit(cache=True, inline="always")
def _position(d, r, c):
    """Prefetch-order position (among valid words) of stacked element (r, c)."""
    if d[D_DIAG] == 1:
        k = r + c
        c_lo = k - min(k, d[D_ROWS] - 1)
        before = c - c_lo
        if c > c_lo:
            before -= _padding_between(d, k, c_lo, c - 1)
        return _diag_start(d, k) + before
    base = (d[D_NBANDS] - 1) * d[D_BAND]
    if r < base:
        return r * d[D_COLS] + c
    return base * d[D_COLS] + (r - base) * d[D_LAST] + c


@njit(cache=True, inline="always")
def _valid_words(d):
    if d[D_DIAG] == 1:
        return _diag_start(d, d[D_ROWS] + d[D_COLS])
    return (d[D_NBANDS] - 1) * d[D_BAND] * d[D_COLS] + d[D_BAND] * d[D_LAST]


@njit(cache=True, inline="always")
def _skew_run(j, lag, t, valid):
    """Columns [c0, c1) of a skewed fold row ``j`` whose data rows start at ``lag``."""
    return max(0, j - lag - t + 1), min(valid, j - lag + 1)


@njit(cache=True)
def _row_runs(g, fc, fr, j, rv, cv, t):
    """Demand of row ``j`` of fold (fc, fr): for ifmap and filter the stacked
    prefetch-matrix element (r, c) of the row's first word and the word count;
    and the number of ofmap writes."""
    df = g[G_DF]
    R = g[G_R]
    Wn = g[G_WN]
    ir = ic = fr_ = fcol = 0
    ni = nf = 0
    if df == 0:
        c0, c1 = _skew_run(j, 0, t, rv)
        ni = c1 - c0
        ir, ic = fr * t + j - c0, c0
        c0, c1 = _skew_run(j, 0, t, cv)
        nf = c1 - c0
        fr_, fcol = fc * t + j - c0, c0
        no = 0
        q0 = j - (t - 1)
        # writes at columns c < cv with q = q0 - c in [R - rv, R)
        no = max(0, min(cv - 1, q0 - (R - rv)) - max(0, q0 - R + 1) + 1)
    else:
        lo = j - 2 * R + 1
        no = max(0, min(cv, lo + 1) - max(0, lo - t + 1))
        c0, c1 = _skew_run(j, R, t, rv)
        n_skew = c1 - c0
        r_skew = fr * t + j - c0 - R
        n_flat = 0
        r_flat = 0
        if j < R and R - 1 - j < rv:
            n_flat = cv
            r_flat = fc * Wn + fr * R + R - 1 - j
        if df == 1:
            ni, ir, ic = n_skew, r_skew, c0
            nf, fr_, fcol = n_flat, r_flat, 0
        else:
            ni, ir, ic = n_flat, r_flat, 0
            nf, fr_, fcol = n_skew, r_skew, c0
    return ir, ic, ni, fr_, fcol, nf, no


@njit(cache=True)
def _ifmap_addrs(g, fc, fr, j, rv, cv, t, ia):
    """Address ids of the ifmap words of row ``j`` (im2col addresses may repeat or
    be empty); return their number."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    n = 0
    if df == 0:
        c0, c1 = _skew_run(j, 0, t, rv)
        for c in range(c0, c1):
            a = _ifmap_addr(g, fr * R + c, j - c)
            if a >= 0:
                ia[n] = a
                n += 1
    elif df == 1:
        c0, c1 = _skew_run(j, R, t, rv)
        for c in range(c0, c1):
            a = _ifmap_addr(g, j - c - R, fr * R + c)
            if a >= 0:
                ia[n] = a
                n += 1
    elif j < R and R - 1 - j < rv:
        k = fr * R + R - 1 - j
        for c in range(cv):
            a = _ifmap_addr(g, fc * C + c, k)
            if a >= 0:
                ia[n] = a
                n += 1
    return n


@njit(cache=True)
def _fold_grid(g):
    """(outer folds, inner folds, rows per fold, Sr, Sc, T) in SCALE-Sim's order."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    if df == 0:
        sr, sc, t = g[G_P], g[G_NF], g[G_WN]
        per = t + R + C - 2
    elif df == 1:
        sr, sc, t = g[G_WN], g[G_NF], g[G_P]
        per = t + 2 * R + C - 2
    else:
        sr, sc, t = g[G_WN], g[G_P], g[G_NF]
        per = t + 2 * R + C - 2
    return _ceil_div(sc, C), _ceil_div(sr, R), per, sr, sc, t


@njit(cache=True)
def _fold_span(g, rv, cv, t):
    """First and last rows of a fold that read ifmap, read filter and write ofmap,
    and the fold's ofmap words."""
    df = g[G_DF]
    R = g[G_R]
    o_lo, o_hi, words = 2 * R - 1, 2 * R + t + cv - 3, t * cv
    skew_lo, skew_hi, flat_lo, flat_hi = R, R + t + rv - 2, R - rv, R - 1
    if df == 0:
        return 0, t + rv - 2, 0, t + cv - 2, t - 1 + R - rv, t + R + cv - 3, rv * cv
    if df == 1:
        return skew_lo, skew_hi, flat_lo, flat_hi, o_lo, o_hi, words
    return flat_lo, flat_hi, skew_lo, skew_hi, o_lo, o_hi, words


@njit(cache=True, inline="always")
def _fold_hits(st, d, eps, r0, c0, n0, r1, c1, n1):
    """Whether every word of a fold (rows given by their first and last runs)
    lies in sets of the active window, so that the fold cannot miss."""
    if st[RB_ALLFIT] == 1:
        return True
    a = _position(d, r0, c0)
    b = _position(d, r1, c1)
    lo = min(a, b) // eps
    hi = max(a + n0 - 1, b + n1 - 1) // eps
    start = st[RB_START]
    end = st[RB_END]
    if start < end:
        return start <= lo and hi < end
    return lo >= start or hi < end


@njit(cache=True)
def simulate_one(g, ifmap_words, filter_words, ofmap_words, bw_ifmap, bw_filter,
                 bw_ofmap, convention, out, calc=False):
    """Simulate one layer; write the OUT_FIELDS figures to ``out``.

    ``g`` is the geometry vector (see ``memory.geometry``); sizes are in words.
    ``calc`` replaces the read buffers by CALC mode's estimate buffers (which
    never stall; ``bw_ifmap``/``bw_filter`` are then unused).
    """
    R = g[G_R]
    C = g[G_C]
    dense = g[G_DENSE] == 1
    idesc = _operand(g, 0)
    fdesc = _operand(g, 1)
    ieps = _ceil_div(ifmap_words, 100)
    feps = _ceil_div(filter_words, 100)
    ne_i = idesc[D_ROWS] * idesc[D_COLS]
    fst = _read_buffer(filter_words, bw_filter, _valid_words(fdesc),
                       fdesc[D_ROWS] * fdesc[D_COLS], convention)
    if dense:
        ist = _read_buffer(ifmap_words, bw_ifmap, _valid_words(idesc), ne_i,
                           convention)
        iptr = np.zeros(1, np.int64)
        iidx = np.zeros(1, np.int32)
    else:
        order = np.empty(ne_i, np.int64)
        nv, ne = _prefetch_order(g, 0, order)
        ist = _read_buffer(ifmap_words, bw_ifmap, nv, ne, convention)
        iptr, iidx = _build_sets(order, nv, g[G_H] * g[G_W] * g[G_CH], ieps)

    wst = _write_buffer(ofmap_words, bw_ofmap)
    lines = np.zeros((64, 2), np.int64)
    iest = _estimate_buffer(ifmap_words)
    fest = _estimate_buffer(filter_words)
    # CALC mode, closed form: an operand with fewer distinct words than the estimate
    # buffer's 50 sets never triggers a prefetch before the end; every word is
    # fetched once, by complete_all_prefetches, in the cycles before -1.
    i_once = calc and dense and _valid_words(idesc) < SETS_HALF * iest[EB_ITEMS]
    f_once = calc and _valid_words(fdesc) < SETS_HALF * fest[EB_ITEMS]
    if calc:
        n_ids = _valid_words(idesc) if dense else g[G_H] * g[G_W] * g[G_CH]
        ilatest = np.full(n_ids, -1, np.int64)
        flatest = np.full(_valid_words(fdesc), -1, np.int64)
    else:
        ilatest = np.zeros(1, np.int64)
        flatest = ilatest

    n_outer, n_inner, per, sr, sc, t = _fold_grid(g)
    ia = np.empty(max(R, C), np.int64)
    if not calc:
        # SCALE-Sim fills both active halves on the first demand row (cycle 0)
        _first_row(ist, 0)
        _first_row(fst, 0)
    stall = 0
    row = 0
    i_first = -1
    i_last = 0
    f_first = -1
    f_last = 0
    o_first = -1
    o_last = 0
    out_o = 0
    for fc in range(n_outer):
        cv = min(C, sc - fc * C)
        for fr in range(n_inner):
            rv = min(R, sr - fr * R)
            if dense and (not calc or (i_once and f_once)):
                # closed form for a quiet fold: no miss, no drain, no stall
                i_lo, i_hi, f_lo, f_hi, o_lo, o_hi, words = _fold_span(g, rv, cv, t)
                cycle = row + stall
                free = wst[WB_FREE]
                quiet_writes = ((cycle >= wst[WB_DRAIN_END] and free - words >= wst[WB_ACTIVE])
                                or (cycle + per - 1 < wst[WB_DRAIN_END] and free - words >= 1))
                if quiet_writes and calc:
                    quiet = True
                elif quiet_writes:
                    r0, c0, n0, q0, e0, m0, _ = _row_runs(g, fc, fr, i_lo, rv, cv, t)
                    r1, c1, n1, _, _, _, _ = _row_runs(g, fc, fr, i_hi, rv, cv, t)
                    quiet = _fold_hits(ist, idesc, ieps, r0, c0, n0, r1, c1, n1)
                    if quiet:
                        _, _, _, q0, e0, m0, _ = _row_runs(g, fc, fr, f_lo, rv, cv, t)
                        _, _, _, q1, e1, m1, _ = _row_runs(g, fc, fr, f_hi, rv, cv, t)
                        quiet = _fold_hits(fst, fdesc, feps, q0, e0, m0, q1, e1, m1)
                else:
                    quiet = False
                if quiet:
                    if i_first < 0:
                        i_first = cycle + i_lo + 1
                    i_last = cycle + i_hi + 1
                    if f_first < 0:
                        f_first = cycle + f_lo + 1
                    f_last = cycle + f_hi + 1
                    if words > 0:
                        if o_first < 0:
                            o_first = cycle + o_lo
                        o_last = cycle + o_hi
                    _store(wst, lines, words)
                    out_o = cycle + per - 1
                    row += per
                    continue
            for j in range(per):
                cycle = row + stall
                ir, ic, ni, fr_, fcol, nf, no = _row_runs(g, fc, fr, j, rv, cv, t)
                if calc:
                    if dense:
                        p = _position(idesc, ir, ic) if ni > 0 and not i_once else 0
                    else:
                        ni = _ifmap_addrs(g, fc, fr, j, rv, cv, t, ia)
                        p = 0
                    out_i = _estimate_row(iest, ilatest, p, 0 if i_once else ni, ia, not dense,
                                          cycle)
                    p = _position(fdesc, fr_, fcol) if nf > 0 and not f_once else 0
                    out_f = _estimate_row(fest, flatest, p, 0 if f_once else nf, ia, False, cycle)
                elif dense:
                    if ni > 0 and ist[RB_ALLFIT] == 0:
                        p = _position(idesc, ir, ic)
                    else:
                        p = 0
                    out_i = _serve_run(ist, p, ni, ieps, cycle)
                else:
                    ni = _ifmap_addrs(g, fc, fr, j, rv, cv, t, ia)
                    out_i = _serve_addrs(ist, iptr, iidx, ia, ni, cycle)
                if not calc:
                    if nf > 0 and fst[RB_ALLFIT] == 0:
                        p = _position(fdesc, fr_, fcol)
                    else:
                        p = 0
                    out_f = _serve_run(fst, p, nf, feps, cycle)
                out_o, lines = _serve_writes(wst, lines, no, cycle)
                if ni > 0:
                    if i_first < 0:
                        i_first = out_i
                    i_last = out_i
                if nf > 0:
                    if f_first < 0:
                        f_first = out_f
                    f_last = out_f
                if no > 0:
                    if o_first < 0:
                        o_first = out_o
                    o_last = out_o
                stall += max(out_i - cycle - 1, out_f - cycle - 1, out_o - cycle)
                row += 1
    total_cycles = out_o
    lines = _empty_all(wst, lines, out_o)
    if calc:
        for once, st_, d in ((i_once, iest, idesc), (f_once, fest, fdesc)):
            if once:
                words = _valid_words(d)
                st_[EB_ACCESS] = words
                st_[EB_DSTART] = -_ceil_div(_ceil_div(words, st_[EB_ITEMS]) * st_[EB_ITEMS],
                                            CALC_READ_BW)
                st_[EB_DSTOP] = -1
            else:
                _estimate_finish(st_)
        ist[RB_DRAM_START] = iest[EB_DSTART]
        ist[RB_LAST] = iest[EB_DSTOP]
        fst[RB_DRAM_START] = fest[EB_DSTART]
        fst[RB_LAST] = fest[EB_DSTOP]

    out[0] = wst[WB_DSTOP] - min(ist[RB_DRAM_START], fst[RB_DRAM_START])
    out[1] = total_cycles
    out[2] = stall
    out[3] = i_first
    out[4] = i_last
    out[5] = f_first
    out[6] = f_last
    out[7] = o_first
    out[8] = o_last
    out[9] = ist[RB_DRAM_START]
    out[10] = ist[RB_LAST]
    out[11] = iest[EB_ACCESS] if calc else (ist[RB_REQ0] + ist[RB_NPF] * ist[RB_REQ1]) * ist[RB_BW]
    out[12] = fst[RB_DRAM_START]
    out[13] = fst[RB_LAST]
    out[14] = fest[EB_ACCESS] if calc else (fst[RB_REQ0] + fst[RB_NPF] * fst[RB_REQ1]) * fst[RB_BW]
    out[15] = wst[WB_DSTART]
    out[16] = wst[WB_DSTOP]
    out[17] = wst[WB_ACCESS]


@njit(cache=True)
def simulate_many(G, words, bws, convention, calc, out):
    """:func:`simulate_one` over the rows of ``G``, ``words`` (n, 3: ifmap, filter,
    ofmap SRAM words), ``bws`` (n, 3: words/cycle), into ``out`` (n, N_OUT)."""
    for n in range(G.shape[0]):
        simulate_one(G[n], words[n, 0], words[n, 1], words[n, 2], bws[n, 0], bws[n, 1],
                     bws[n, 2], convention, out[n], calc)

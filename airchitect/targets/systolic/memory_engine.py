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
G_P, G_WN, G_NF, G_H, G_W, G_FW, G_CH, G_S, G_EW, G_R, G_C, G_DF = range(12)

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
    start = st[RB_START]
    end = st[RB_END]
    for q in range(ptr[a], ptr[a + 1]):
        s = idx[q]
        if start < end:
            if start <= s < end:
                return True
        elif s >= start or s < end:
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


@njit(cache=True)
def _serve_reads(st, ptr, idx, addrs, n_addrs, cycle):
    """Serve one demand row; return the cycle at which it is served."""
    if st[RB_INIT] == 0:
        _first_row(st, cycle)
    offset = 1  # hit latency
    if st[RB_ALLFIT] == 1:
        return cycle + offset
    corrected = st[RB_CONV] == 1
    n_lines = st[RB_NLINES]
    n_pre = st[RB_NPRE]
    n_act = st[RB_NACT]
    req1 = st[RB_REQ1]
    for k in range(n_addrs):
        a = addrs[k]
        while not _hit(st, ptr, idx, a):
            # new_prefetch: slide the active window by the prefetch half
            start = (st[RB_START] + n_pre) % n_lines
            st[RB_START] = start
            st[RB_END] = (start + n_act) % n_lines
            st[RB_NPF] += 1
            if corrected:
                # CORRECTED: scalesim times the prefetch from the end of the previous
                # prefetch (cycles_arr = last_prefetch_cycle + i + 1); a prefetch
                # cannot start before the miss that asks for it (cycle + offset).
                issue = max(st[RB_LAST] + 1, cycle + offset)
                st[RB_LAST] = issue + req1
                p = st[RB_LAST] - (cycle + offset)
                # CORRECTED: scalesim adds ``p`` once unconditionally and a second
                # time when positive (offset += p; if p > 0: offset += p); the
                # stall is ``p`` once, and only when positive.
                if p > 0:
                    offset += p
            else:
                st[RB_LAST] = st[RB_LAST] + req1 + 1
                p = st[RB_LAST] - (cycle + offset)
                offset += p
                if p > 0:
                    offset += p
    return cycle + offset


# write-buffer scalar state (int64 vector)
WB_FREE, WB_DRAIN_END, WB_LINE_IDX, WB_HEAD, WB_TAIL, WB_BASE, WB_ACCESS, WB_DSTART, \
    WB_DSTOP, WB_VALID, WB_BW, WB_TOTAL, WB_ACTIVE, WB_DLINES = range(14)


@njit(cache=True)
def _write_buffer(size_words, bw):
    st = np.zeros(14, np.int64)
    active = _ceil_div(size_words, 2)
    drain = size_words - active
    st[WB_FREE] = size_words
    st[WB_BW] = bw
    st[WB_TOTAL] = size_words
    st[WB_ACTIVE] = active
    st[WB_DLINES] = _ceil_div(drain, bw)
    st[WB_DSTART] = -1
    return st


@njit(cache=True)
def _push_line(st, lines, count):
    """Append a line of ``count`` words to the buffer's line list (grows as needed)."""
    tail = st[WB_TAIL] - st[WB_BASE]
    if tail == lines.shape[0]:
        head = st[WB_HEAD] - st[WB_BASE]
        live = tail - head
        if head > lines.shape[0] // 2:
            for q in range(live):
                lines[q] = lines[head + q]
            new = lines
        else:
            new = np.empty(lines.shape[0] * 2, np.int64)
            new[:live] = lines[head:tail]
        st[WB_BASE] = st[WB_HEAD]
        lines = new
        tail = live
    lines[tail] = count
    st[WB_TAIL] += 1
    return lines


@njit(cache=True)
def _drain(st, lines, start_cycle):
    """SCALE-Sim's empty_drain_buf: send up to DLINES lines, one per cycle."""
    n = min(st[WB_DLINES], st[WB_TAIL] - st[WB_HEAD])
    if n <= 0:
        return start_cycle - 1
    last_count = lines[st[WB_HEAD] + n - 1 - st[WB_BASE]]
    # scalesim counts every line as full except the -1 padding of the last one
    data = n * st[WB_BW] - (st[WB_BW] - last_count)
    st[WB_ACCESS] += data
    st[WB_FREE] += data
    st[WB_HEAD] += n
    end = start_cycle + n - 1
    if st[WB_VALID] == 0:
        st[WB_DSTART] = start_cycle
        st[WB_VALID] = 1
    st[WB_DSTOP] = max(st[WB_DSTOP], end)
    st[WB_DSTART] = min(st[WB_DSTART], start_cycle)
    return end


@njit(cache=True)
def _flush_partial(st, lines):
    if st[WB_LINE_IDX] != 0:
        lines = _push_line(st, lines, st[WB_LINE_IDX])
        st[WB_LINE_IDX] = 0
    return lines


@njit(cache=True)
def _serve_writes(st, lines, n_words, cycle):
    """Serve one demand row holding ``n_words`` ofmap writes; return
    (served cycle, lines)."""
    current = cycle
    bw = st[WB_BW]
    for _ in range(n_words):
        st[WB_LINE_IDX] += 1
        st[WB_FREE] -= 1
        if st[WB_LINE_IDX] == bw:
            lines = _push_line(st, lines, bw)
            st[WB_LINE_IDX] = 0
        if current < st[WB_DRAIN_END]:
            if st[WB_FREE] <= 0:
                current = st[WB_DRAIN_END]
        elif st[WB_FREE] < st[WB_ACTIVE]:
            lines = _flush_partial(st, lines)
            st[WB_DRAIN_END] = _drain(st, lines, current)
    return current, lines


@njit(cache=True)
def _empty_all(st, lines, cycle):
    lines = _flush_partial(st, lines)
    while st[WB_HEAD] < st[WB_TAIL]:
        st[WB_DRAIN_END] = _drain(st, lines, cycle)
        cycle = st[WB_DRAIN_END] + 1
    return lines


@njit(cache=True)
def _fold_grid(g):
    """(number of folds, rows per fold, outer fold count, inner fold count)."""
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
def _row_demand(g, fc, fr, j, sr, sc, t, ia, fa):
    """Fill the ifmap (``ia``) and filter (``fa``) address ids demanded in row ``j``
    of fold (fc, fr); return (n ifmap, n filter, n ofmap writes)."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    rv = min(R, sr - fr * R)
    cv = min(C, sc - fc * C)
    ni = 0
    nf = 0
    no = 0
    if df == 0:
        lo = max(0, j - t + 1)
        for c in range(lo, min(rv, j + 1)):
            a = _ifmap_addr(g, fr * R + c, j - c)
            if a >= 0:
                ia[ni] = a
                ni += 1
        for c in range(lo, min(cv, j + 1)):
            fa[nf] = _filter_addr(g, j - c, fc * C + c)
            nf += 1
        # ofmap: rows T-1 .. T-2+R of the skewed fold, flipped, valid rows >= R - rv
        for c in range(cv):
            q = j - c - (t - 1)
            if 0 <= q < R and R - 1 - q < rv:
                no += 1
    elif df == 1:
        for c in range(max(0, j - R - t + 1), min(rv, j - R + 1)):
            a = _ifmap_addr(g, j - c - R, fr * R + c)
            if a >= 0:
                ia[ni] = a
                ni += 1
        if j < R and R - 1 - j < rv:
            r = fr * R + R - 1 - j
            for c in range(cv):
                fa[nf] = _filter_addr(g, r, fc * C + c)
                nf += 1
        lo = j - 2 * R + 1
        no = max(0, min(cv, lo + 1) - max(0, lo - t + 1))
    else:
        if j < R and R - 1 - j < rv:
            k = fr * R + R - 1 - j
            for c in range(cv):
                a = _ifmap_addr(g, fc * C + c, k)
                if a >= 0:
                    ia[ni] = a
                    ni += 1
        for c in range(max(0, j - R - t + 1), min(rv, j - R + 1)):
            fa[nf] = _filter_addr(g, fr * R + c, j - c - R)
            nf += 1
        lo = j - 2 * R + 1
        no = max(0, min(cv, lo + 1) - max(0, lo - t + 1))
    return ni, nf, no


@njit(cache=True)
def simulate_one(g, ifmap_words, filter_words, ofmap_words, bw_ifmap, bw_filter,
                 bw_ofmap, convention, out):
    """Simulate one layer; write the OUT_FIELDS figures to ``out``."""
    R = g[G_R]
    C = g[G_C]
    n_ifmap_addr = g[G_H] * g[G_W] * g[G_CH]
    n_filter_addr = g[G_WN] * g[G_NF]

    order = np.empty(max(_prefetch_shape(g, 0)[0] * _prefetch_shape(g, 0)[1],
                         _prefetch_shape(g, 1)[0] * _prefetch_shape(g, 1)[1]), np.int64)
    nv, ne = _prefetch_order(g, 0, order)
    ist = _read_buffer(ifmap_words, bw_ifmap, nv, ne, convention)
    iptr, iidx = _build_sets(order, nv, n_ifmap_addr, _ceil_div(ifmap_words, 100))
    nv, ne = _prefetch_order(g, 1, order)
    fst = _read_buffer(filter_words, bw_filter, nv, ne, convention)
    fptr, fidx = _build_sets(order, nv, n_filter_addr, _ceil_div(filter_words, 100))

    wst = _write_buffer(ofmap_words, bw_ofmap)
    lines = np.empty(1024, np.int64)

    n_outer, n_inner, per, sr, sc, t = _fold_grid(g)
    ia = np.empty(max(R, C), np.int64)
    fa = np.empty(max(R, C), np.int64)
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
        for fr in range(n_inner):
            for j in range(per):
                cycle = row + stall
                ni, nf, no = _row_demand(g, fc, fr, j, sr, sc, t, ia, fa)
                out_i = _serve_reads(ist, iptr, iidx, ia, ni, cycle)
                out_f = _serve_reads(fst, fptr, fidx, fa, nf, cycle)
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
                s = max(out_i - cycle - 1, out_f - cycle - 1, out_o - cycle)
                stall += s
                row += 1
    total_cycles = out_o
    lines = _empty_all(wst, lines, out_o)

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
    out[11] = (ist[RB_REQ0] + ist[RB_NPF] * ist[RB_REQ1]) * ist[RB_BW]
    out[12] = fst[RB_DRAM_START]
    out[13] = fst[RB_LAST]
    out[14] = (fst[RB_REQ0] + fst[RB_NPF] * fst[RB_REQ1]) * fst[RB_BW]
    out[15] = wst[WB_DSTART]
    out[16] = wst[WB_DSTOP]
    out[17] = wst[WB_ACCESS]

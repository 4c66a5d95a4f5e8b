"""SCALE-Sim 3.0.0's double-buffered read SRAM (``scalesim/memory/read_buffer.py``).

The operand's prefetch order is cut into sets of ``ceil(size_words / 100)``
valid words (``n_lines = valid // set + 1`` sets, an empty last one included).
An active window of ``ceil(half / set)`` sets serves hits; a miss slides the
window by the prefetch half and issues a DRAM prefetch, which may stall the
array. The state of one buffer is an int64 vector whose fields are named by the
``RB_*`` indices below (:func:`read_state`); :func:`read_window` gives the set-up
alone.

Conventions (``RB_CONV``): 0 = ``"scalesim-3.0"`` reproduces SCALE-Sim's quirks,
1 = ``"corrected"``; each departure is marked ``CORRECTED:`` in :func:`_miss`.
Units: words, words/cycle, cycles.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._math import ceil_div


# fields of a read buffer's state (int64): window start and end set, end cycle of the last
# prefetch, prefetches after the first fill, first fill done, sets of the operand, sets in
# the active window, sets per prefetch, first-fill and prefetch requests (bandwidth-wide),
# bandwidth (words/cycle), 1 when the window holds every set, first DRAM cycle, convention
RB_START, RB_END, RB_LAST, RB_NPF, RB_INIT, RB_NLINES, RB_NACT, RB_NPRE, RB_REQ0, \
    RB_REQ1, RB_BW, RB_ALLFIT, RB_DRAM_START, RB_CONV = range(14)


@njit(cache=True, inline="always", error_model="numpy")
def read_window(words, n_valid):
    """A read buffer of ``words`` words on an operand of ``n_valid`` words as SCALE-Sim
    sets it up: (words per set, sets, sets in the active window, sets per prefetch).
    The operand fits when the window holds all its sets."""
    eps = ceil_div(words, 100)
    active = ceil_div(words, 2)
    n_lines = n_valid // eps + 1
    n_act = min(ceil_div(active, eps), n_lines)
    return eps, n_lines, n_act, min(ceil_div(words - active, eps), n_lines - n_act)


@njit(cache=True)
def read_state(size_words, bw, n_valid, n_elems, convention):
    """Initial state of a double-buffered read SRAM of ``size_words`` words."""
    st = np.zeros(14, np.int64)
    _, n_lines, n_act, n_pre = read_window(size_words, n_valid)
    active = ceil_div(size_words, 2)
    prefetch = size_words - active
    st[RB_NLINES] = n_lines
    st[RB_NACT] = n_act
    st[RB_NPRE] = n_pre
    st[RB_START] = 0
    st[RB_END] = n_act
    st[RB_REQ0] = min(ceil_div(active, bw), ceil_div(n_elems, bw))
    st[RB_REQ1] = ceil_div(prefetch, bw)
    st[RB_BW] = bw
    st[RB_ALLFIT] = 1 if n_act == n_lines else 0
    st[RB_CONV] = convention
    return st


@njit(cache=True)
def build_sets(order, n_valid, n_addr, words_per_set):
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


@njit(cache=True, inline="always")
def _hit(st, ptr, idx, a):
    for q in range(ptr[a], ptr[a + 1]):
        if in_window(st, idx[q]):
            return True
    return False


@njit(cache=True, inline="always")
def first_row(st, cycle):
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
def in_window(st, s):
    start = st[RB_START]
    end = st[RB_END]
    if start < end:
        return start <= s < end
    return s >= start or s < end


@njit(cache=True)
def serve_addrs(st, ptr, idx, addrs, n_addrs, cycle):
    """Serve one demand row given as address ids; return the cycle it is served."""
    if st[RB_INIT] == 0:
        first_row(st, cycle)
    offset = 1  # hit latency
    if st[RB_ALLFIT] == 1:
        return cycle + offset
    for k in range(n_addrs):
        a = addrs[k]
        while not _hit(st, ptr, idx, a):
            offset = _miss(st, cycle, offset)
    return cycle + offset


@njit(cache=True)
def serve_run(st, first_pos, n, words_per_set, cycle):
    """Serve one demand row whose ``n`` words are consecutive in the prefetch order
    from position ``first_pos`` (each address in one set); return the served cycle."""
    if st[RB_INIT] == 0:
        first_row(st, cycle)
    offset = 1
    if st[RB_ALLFIT] == 1 or n <= 0:
        return cycle + offset
    for s in range(first_pos // words_per_set, (first_pos + n - 1) // words_per_set + 1):
        while not in_window(st, s):
            offset = _miss(st, cycle, offset)
    return cycle + offset

"""SCALE-Sim 3.0.0's double-buffered read SRAM (``scalesim/memory/read_buffer.py``).

The operand's prefetch order is cut into sets of ``ceil(size_words / 100)``
valid words (``n_lines = valid // set + 1`` sets, an empty last one included).
An active window of ``ceil(half / set)`` sets serves hits; a miss slides the
window by the prefetch half and issues a DRAM prefetch, which may stall the
array. The state of one buffer is a one-element record array of
``READ_BUFFER_STATE`` (:func:`read_state`), read in the kernels as ``st[0].field``;
:func:`read_window` gives the set-up alone.

Conventions (field ``convention``): 0 = ``"scalesim-3.0"`` reproduces SCALE-Sim's quirks,
1 = ``"corrected"``; each departure is marked ``CORRECTED:`` in :func:`_miss`.
2 = ``"scalesim-3.0"`` with the operand's custom layout on (SCALE-Sim's layout
evaluation, :func:`serve_layout`): sets of ``bandwidth`` words, a positive
prefetch wait counted once, and bank conflicts.
Units: words, words/cycle, cycles.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._math import ceil_div


# state of one read buffer (all int64)
READ_BUFFER_STATE = np.dtype([
    ("start", np.int64),        # first set of the active window
    ("end", np.int64),          # set after the active window's last (mod n_lines)
    ("last", np.int64),         # end cycle of the last prefetch
    ("n_prefetch", np.int64),   # prefetches after the first fill
    ("init", np.int64),         # 1 once the first fill is done
    ("n_lines", np.int64),      # sets of the operand
    ("n_active", np.int64),     # sets in the active window
    ("n_pre", np.int64),        # sets per prefetch
    ("req0", np.int64),         # first-fill requests (bandwidth-wide, one per cycle)
    ("req1", np.int64),         # requests per prefetch (bandwidth-wide, one per cycle)
    ("bw", np.int64),           # bandwidth (words/cycle)
    ("all_fit", np.int64),      # 1 when the window holds every set
    ("dram_start", np.int64),   # first DRAM cycle
    ("convention", np.int64),   # 0 = "scalesim-3.0", 1 = "corrected"
])


@njit(cache=True, inline="always", error_model="numpy")
def read_window(words, n_valid):
    """A read buffer of ``words`` words on an operand of ``n_valid`` words as SCALE-Sim
    sets it up: (words per set, sets, sets in the active window, sets per prefetch).
    The operand fits when the window holds all its sets."""
    return read_window_sets(words, n_valid, ceil_div(words, 100))


@njit(cache=True, inline="always", error_model="numpy")
def read_window_sets(words, n_valid, eps):
    """:func:`read_window` with sets of ``eps`` words (SCALE-Sim's custom layouts use
    sets of one bank-bandwidth line)."""
    active = ceil_div(words, 2)
    n_lines = n_valid // eps + 1
    n_act = min(ceil_div(active, eps), n_lines)
    return eps, n_lines, n_act, min(ceil_div(words - active, eps), n_lines - n_act)


@njit(cache=True)
def read_state(size_words, bw, n_valid, n_elems, convention):
    """Initial state of a double-buffered read SRAM of ``size_words`` words at ``bw``
    words/cycle: a one-element ``READ_BUFFER_STATE`` record array."""
    return read_state_sets(size_words, bw, n_valid, n_elems, convention, ceil_div(size_words, 100))


@njit(cache=True)
def read_state_sets(size_words, bw, n_valid, n_elems, convention, eps):
    """:func:`read_state` with sets of ``eps`` words."""
    st = np.zeros(1, READ_BUFFER_STATE)
    _, n_lines, n_act, n_pre = read_window_sets(size_words, n_valid, eps)
    active = ceil_div(size_words, 2)
    prefetch = size_words - active
    st[0].n_lines = n_lines
    st[0].n_active = n_act
    st[0].n_pre = n_pre
    st[0].start = 0
    st[0].end = n_act
    st[0].req0 = min(ceil_div(active, bw), ceil_div(n_elems, bw))
    st[0].req1 = ceil_div(prefetch, bw)
    st[0].bw = bw
    st[0].all_fit = 1 if n_act == n_lines else 0
    st[0].convention = convention
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
    n = st[0].req0
    st[0].init = 1
    # requests at cycle - n - 1 + i, answered one cycle later (read latency 1)
    st[0].dram_start = cycle - n
    st[0].last = cycle - 1


@njit(cache=True, inline="always")
def _miss(st, cycle, offset):
    """SCALE-Sim's new_prefetch after a miss; return the updated offset."""
    n_lines = st[0].n_lines
    start = (st[0].start + st[0].n_pre) % n_lines
    st[0].start = start
    st[0].end = (start + st[0].n_active) % n_lines
    st[0].n_prefetch += 1
    if st[0].convention == 1:
        # CORRECTED: scalesim times the prefetch from the end of the previous
        # prefetch (new_prefetch: cycles_arr = last_prefetch_cycle + i + 1); a
        # prefetch cannot start before the miss that asks for it (cycle + offset).
        issue = max(st[0].last + 1, cycle + offset)
        st[0].last = issue + st[0].req1
        p = st[0].last - (cycle + offset)
        # CORRECTED: scalesim adds ``p`` once unconditionally and once more when
        # positive (service_reads: offset += p; if p > 0: offset += p); here the
        # array waits ``p`` cycles once, and only when ``p`` is positive.
        if p > 0:
            offset += p
    elif st[0].convention == 2:
        # SCALE-Sim's layout evaluation adds a positive wait once, a negative one never
        st[0].last = st[0].last + st[0].req1 + 1
        p = st[0].last - (cycle + offset)
        if p > 0:
            offset += p
    else:
        st[0].last = st[0].last + st[0].req1 + 1
        p = st[0].last - (cycle + offset)
        offset += p
        if p > 0:
            offset += p
    return offset


@njit(cache=True, inline="always")
def in_window(st, s):
    start = st[0].start
    end = st[0].end
    if start < end:
        return start <= s < end
    return s >= start or s < end


@njit(cache=True)
def serve_addrs(st, ptr, idx, addrs, n_addrs, cycle):
    """Serve one demand row given as address ids; return the cycle it is served."""
    if st[0].init == 0:
        first_row(st, cycle)
    offset = 1  # hit latency
    if st[0].all_fit == 1:
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
    if st[0].init == 0:
        first_row(st, cycle)
    offset = 1
    if st[0].all_fit == 1 or n <= 0:
        return cycle + offset
    for s in range(first_pos // words_per_set, (first_pos + n - 1) // words_per_set + 1):
        while not in_window(st, s):
            offset = _miss(st, cycle, offset)
    return cycle + offset


@njit(cache=True)
def serve_layout(st, line, column, addrs, n_addrs, cycle, bw_per_bank, n_banks, ports, stamp,
                 count, row_id):
    """Serve one demand row (address ids ``addrs[:n_addrs]``, in demand order) from a
    custom-layout read buffer, as SCALE-Sim's layout evaluation does; return the
    served cycle.

    Address ``a`` lies in set ``line[a]`` at column ``column[a]``, in bank
    ``column[a] // bw_per_bank``. After the misses, the row waits
    ``ceil(L / ports) - 1`` more cycles, ``L`` the most distinct sets any one bank
    is read from (so an empty row is served one cycle early, as in SCALE-Sim).
    ``stamp`` (sets x banks) and ``count`` (banks) are scratch arrays; ``row_id``
    must differ from every earlier row's.
    """
    if st[0].init == 0:
        first_row(st, cycle)
    offset = 1  # hit latency
    worst = 0
    for k in range(n_addrs):
        a = addrs[k]
        s = line[a]
        if st[0].all_fit == 0:
            while not in_window(st, s):
                offset = _miss(st, cycle, offset)
        b = column[a] // bw_per_bank
        key = s * n_banks + b
        if stamp[key] != row_id:
            stamp[key] = row_id
            count[b] += 1
            if count[b] > worst:
                worst = count[b]
    for k in range(n_addrs):
        count[column[addrs[k]] // bw_per_bank] = 0
    return cycle + offset + ceil_div(worst, ports) - 1

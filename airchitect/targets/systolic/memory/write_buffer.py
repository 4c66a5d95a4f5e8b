"""SCALE-Sim 3.0.0's write SRAM (``scalesim/memory/write_buffer.py``), the OFMAP buffer.

Words are packed into lines of ``bandwidth`` words; when the free space drops
under the active half the open line is flushed and a drain of up to
``ceil(drain_half / bandwidth)`` lines goes to DRAM, one line a cycle; while a
drain runs, a full buffer stalls the array. As in SCALE-Sim, every drained line
counts as full except the last one's padding. The state is a one-element record
array of ``WRITE_BUFFER_STATE`` (:func:`write_state`), read as ``st[0].field``;
lines are kept as segments (``segs``, one row per segment: full lines, then the
words of a closing partial line). Units: words, words/cycle, cycles.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._math import ceil_div


# state of the write buffer (all int64). Lines are kept as segments: each is F full lines
# (``bw`` words) closed by at most one partial line of P words (pushed only when a drain
# flushes the open line).
WRITE_BUFFER_STATE = np.dtype([
    ("free", np.int64),         # free words
    ("drain_end", np.int64),    # end cycle of the running drain
    ("line_idx", np.int64),     # words in the open line
    ("access", np.int64),       # words drained
    ("dram_start", np.int64),   # first drain cycle
    ("dram_stop", np.int64),    # last drain cycle
    ("valid", np.int64),        # 1 once a drain happened
    ("bw", np.int64),           # bandwidth (words/cycle)
    ("active", np.int64),       # active half (words)
    ("drain_lines", np.int64),  # lines per drain
    ("head_seg", np.int64),     # head segment
    ("head_used", np.int64),    # lines of the head segment drained
    ("n_seg", np.int64),        # segments in use
    ("avail", np.int64),        # lines waiting
])


@njit(cache=True)
def write_state(size_words, bw):
    """Initial state of the write SRAM of ``size_words`` words drained at ``bw``
    words/cycle: a one-element ``WRITE_BUFFER_STATE`` record array."""
    st = np.zeros(1, WRITE_BUFFER_STATE)
    active = ceil_div(size_words, 2)
    st[0].free = size_words
    st[0].bw = bw
    st[0].active = active
    st[0].drain_lines = ceil_div(size_words - active, bw)
    st[0].n_seg = 1
    return st


@njit(cache=True)
def _close_segment(st, segs, partial):
    """Close the open segment with a partial line of ``partial`` words; open a new one."""
    last = st[0].n_seg - 1
    segs[last, 1] = partial
    st[0].avail += 1
    if st[0].n_seg == segs.shape[0]:
        head = st[0].head_seg
        live = st[0].n_seg - head
        if head > 0:
            for q in range(live):
                segs[q, 0] = segs[head + q, 0]
                segs[q, 1] = segs[head + q, 1]
            new = segs
        else:
            new = np.zeros((segs.shape[0] * 2, 2), np.int64)
            for q in range(live):  # a loop: an array copy compiles numba's shape error (seconds)
                new[q, 0] = segs[q, 0]
                new[q, 1] = segs[q, 1]
        st[0].head_seg = 0
        st[0].n_seg = live
        segs = new
    segs[st[0].n_seg, 0] = 0
    segs[st[0].n_seg, 1] = 0
    st[0].n_seg += 1
    return segs


@njit(cache=True, inline="always")
def store(st, segs, k):
    """Store ``k`` words: fill the open line, pushing full lines."""
    total = st[0].line_idx + k
    full = total // st[0].bw
    segs[st[0].n_seg - 1, 0] += full
    st[0].avail += full
    st[0].line_idx = total % st[0].bw
    st[0].free -= k


@njit(cache=True)
def _drain(st, segs, start_cycle):
    """SCALE-Sim's empty_drain_buf: send up to DLINES lines, one per cycle."""
    n = min(st[0].drain_lines, st[0].avail)
    if n <= 0:
        return start_cycle - 1
    bw = st[0].bw
    need = n
    last_count = bw
    while need > 0:
        h = st[0].head_seg
        full = segs[h, 0]
        lines = full + (1 if segs[h, 1] > 0 else 0)
        left = lines - st[0].head_used
        take = min(need, left)
        st[0].head_used += take
        need -= take
        last_count = bw if st[0].head_used <= full else segs[h, 1]
        if st[0].head_used == lines and h < st[0].n_seg - 1:
            st[0].head_seg += 1
            st[0].head_used = 0
    st[0].avail -= n
    # scalesim counts every drained line as full except the -1 padding of the last one
    data = n * bw - (bw - last_count)
    st[0].access += data
    st[0].free += data
    end = start_cycle + n - 1
    if st[0].valid == 0:
        st[0].dram_start = start_cycle
        st[0].valid = 1
    st[0].dram_stop = max(st[0].dram_stop, end)
    return end


@njit(cache=True)
def _flush_partial(st, segs):
    if st[0].line_idx != 0:
        segs = _close_segment(st, segs, st[0].line_idx)
        st[0].line_idx = 0
    return segs


@njit(cache=True)
def serve_writes(st, segs, n_words, cycle):
    """Serve one demand row holding ``n_words`` ofmap writes; return
    (served cycle, segments). Words are stored in batches up to the next event
    (a stall on a full buffer while a drain runs, or the start of a drain)."""
    current = cycle
    remaining = n_words
    while remaining > 0:
        free = st[0].free
        if current < st[0].drain_end:
            event = free if free >= 1 else 1  # the word after which free <= 0
        else:
            event = free - st[0].active + 1 if free >= st[0].active else 1
        k = min(remaining, event)
        store(st, segs, k)
        remaining -= k
        if k == event:
            if current < st[0].drain_end:
                current = st[0].drain_end
            else:
                segs = _flush_partial(st, segs)
                st[0].drain_end = _drain(st, segs, current)
    return current, segs


@njit(cache=True)
def empty_all(st, segs, cycle):
    segs = _flush_partial(st, segs)
    while st[0].avail > 0:
        st[0].drain_end = _drain(st, segs, cycle)
        cycle = st[0].drain_end + 1
    return segs

"""SCALE-Sim 3.0.0's write SRAM (``scalesim/memory/write_buffer.py``), the OFMAP buffer.

Words are packed into lines of ``bandwidth`` words; when the free space drops
under the active half the open line is flushed and a drain of up to
``ceil(drain_half / bandwidth)`` lines goes to DRAM, one line a cycle; while a
drain runs, a full buffer stalls the array. As in SCALE-Sim, every drained line
counts as full except the last one's padding. The state is an int64 vector
whose fields are named by the ``WB_*`` indices below (:func:`write_state`);
lines are kept as segments (``segs``, one row per segment: full lines, then the
words of a closing partial line). Units: words, words/cycle, cycles.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._math import ceil_div


# fields of the write buffer's state (int64): free words, end cycle of the running drain,
# words in the open line, words drained, first and last drain cycle, a drain happened,
# bandwidth (words/cycle), active half (words), lines per drain, head segment and lines
# of it drained, segments in use, lines waiting. Lines are kept as segments: each is F
# full lines (``bw`` words) closed by at most one partial line of P words (pushed only
# when a drain flushes the open line).
WB_FREE, WB_DRAIN_END, WB_LINE_IDX, WB_ACCESS, WB_DSTART, WB_DSTOP, WB_VALID, WB_BW, \
    WB_ACTIVE, WB_DLINES, WB_HSEG, WB_HUSED, WB_NSEG, WB_AVAIL = range(14)


@njit(cache=True)
def write_state(size_words, bw):
    st = np.zeros(14, np.int64)
    active = ceil_div(size_words, 2)
    st[WB_FREE] = size_words
    st[WB_BW] = bw
    st[WB_ACTIVE] = active
    st[WB_DLINES] = ceil_div(size_words - active, bw)
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
def store(st, segs, k):
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
def serve_writes(st, segs, n_words, cycle):
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
        store(st, segs, k)
        remaining -= k
        if k == event:
            if current < st[WB_DRAIN_END]:
                current = st[WB_DRAIN_END]
            else:
                segs = _flush_partial(st, segs)
                st[WB_DRAIN_END] = _drain(st, segs, current)
    return current, segs


@njit(cache=True)
def empty_all(st, segs, cycle):
    segs = _flush_partial(st, segs)
    while st[WB_AVAIL] > 0:
        st[WB_DRAIN_END] = _drain(st, segs, cycle)
        cycle = st[WB_DRAIN_END] + 1
    return segs

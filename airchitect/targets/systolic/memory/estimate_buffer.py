"""SCALE-Sim 3.0.0's CALC-mode read buffer (``read_buffer_estimate_bw.py``).

New addresses are grouped, in demand order, into sets of ``floor(words / 100)``
words; each time 50 new sets fill, a prefetch of those sets is timed at
``CALC_READ_BW`` words/cycle. It never stalls the array. The state is an int64
vector whose fields are named by the ``EB_*`` indices below
(:func:`estimate_state`). Units: words, words/cycle, cycles.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._math import ceil_div


# fields of an estimate buffer's state (int64): current set, words in it, active window's
# first and last set, cycles of the last prefetch (start, end), first prefetch done, first
# set of the next prefetch, a read happened, its cycle, words fetched, first and last DRAM
# cycle, a prefetch happened, words per set
EB_CUR, EB_ELEMS, EB_RSTART, EB_REND, EB_LSTART, EB_LEND, EB_DONE, EB_PFSTART, EB_SEEN, \
    EB_FIRST, EB_ACCESS, EB_DSTART, EB_DSTOP, EB_DVALID, EB_ITEMS = range(15)

CALC_READ_BW = 10  # words/cycle, hard-coded in SCALE-Sim's CALC mode

SETS_HALF = 50  # int(active_buf_frac * 100) sets in each half


@njit(cache=True)
def estimate_state(size_words):
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
        st[EB_LSTART] = st[EB_LEND] - ceil_div(SETS_HALF * items, CALC_READ_BW) + 1
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
def estimate_finish(st):
    """complete_all_prefetches: fetch what is left (the sets since the last prefetch)."""
    items = st[EB_ITEMS]
    if st[EB_ELEMS] == 0:
        st[EB_CUR] -= 1
    if st[EB_DONE] == 0:
        words = st[EB_CUR] * items + (st[EB_ELEMS] if st[EB_ELEMS] > 0 else items)
        st[EB_LEND] = -2
        st[EB_LSTART] = st[EB_LEND] - ceil_div((st[EB_CUR] + 1) * items, CALC_READ_BW) + 1
    else:
        full = st[EB_CUR] - st[EB_PFSTART] + (0 if st[EB_ELEMS] > 0 else 1)
        words = full * items + st[EB_ELEMS]
    _estimate_prefetch(st, words)


@njit(cache=True)
def estimate_row(st, latest, first_id, n, ids, use_ids, cycle):
    """Serve one demand row in CALC mode (never stalls): ids are ``first_id + k``
    (dense operands, id = prefetch position) or ``ids[:n]``."""
    if n > 0 and st[EB_SEEN] == 0:
        st[EB_SEEN] = 1
        st[EB_FIRST] = cycle
    for k in range(n):
        _estimate_read(st, latest, ids[k] if use_ids else first_id + k, cycle)
    return cycle + 1

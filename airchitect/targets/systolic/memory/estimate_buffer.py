"""SCALE-Sim 3.0.0's CALC-mode read buffer (``read_buffer_estimate_bw.py``).

New addresses are grouped, in demand order, into sets of ``floor(words / 100)``
words; each time 50 new sets fill, a prefetch of those sets is timed at
``CALC_READ_BW`` words/cycle. It never stalls the array. The state is a one-element
record array of ``ESTIMATE_BUFFER_STATE`` (:func:`estimate_state`), read as
``st[0].field``. Units: words, words/cycle, cycles.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._math import ceil_div


# state of an estimate buffer (all int64)
ESTIMATE_BUFFER_STATE = np.dtype([
    ("cur", np.int64),          # current set
    ("elems", np.int64),        # words in the current set
    ("rstart", np.int64),       # active window's first set
    ("rend", np.int64),         # active window's last set
    ("lstart", np.int64),       # start cycle of the last prefetch
    ("lend", np.int64),         # end cycle of the last prefetch
    ("done", np.int64),         # 1 once the first prefetch is done
    ("pf_start", np.int64),     # first set of the next prefetch
    ("seen", np.int64),         # 1 once a read happened
    ("first", np.int64),        # cycle of the first read
    ("access", np.int64),       # words fetched
    ("dram_start", np.int64),   # first DRAM cycle
    ("dram_stop", np.int64),    # last DRAM cycle
    ("dram_valid", np.int64),   # 1 once a prefetch happened
    ("items", np.int64),        # words per set
])

CALC_READ_BW = 10  # words/cycle, hard-coded in SCALE-Sim's CALC mode

SETS_HALF = 50  # int(active_buf_frac * 100) sets in each half


@njit(cache=True)
def estimate_state(size_words):
    """Initial state of a CALC-mode read buffer of ``size_words`` words: a one-element
    ``ESTIMATE_BUFFER_STATE`` record array."""
    st = np.zeros(1, ESTIMATE_BUFFER_STATE)
    st[0].rend = SETS_HALF - 1
    st[0].lstart = -2
    st[0].lend = -1
    st[0].items = size_words // 100
    return st


@njit(cache=True, inline="always")
def _estimate_prefetch(st, words):
    """Record one prefetch of ``words`` words over cycles [LSTART, LEND] (+1 latency)."""
    st[0].access += words
    if st[0].dram_valid == 0:
        st[0].dram_start = st[0].lstart + 1
        st[0].dram_valid = 1
    st[0].dram_stop = st[0].lend + 1


@njit(cache=True)
def _estimate_read(st, latest, a, cycle):
    """manage_prefetches for address id ``a``: new addresses fill sets of ITEMS words;
    each time the sets reach the end of the active window, a prefetch is timed."""
    s = latest[a]
    if s >= 0 and st[0].rstart <= s < min(st[0].cur, st[0].rend + 1):
        return
    if s == st[0].cur:
        return
    latest[a] = st[0].cur
    st[0].elems += 1
    items = st[0].items
    if st[0].elems != items:
        return
    st[0].elems = 0
    st[0].cur += 1
    if st[0].cur != st[0].rend + 1:
        return
    if st[0].done == 0:
        st[0].lend = st[0].first - 2  # first request - 1 - read latency
        st[0].lstart = st[0].lend - ceil_div(SETS_HALF * items, CALC_READ_BW) + 1
        _estimate_prefetch(st, SETS_HALF * items)
        st[0].pf_start = st[0].rend + 1
        st[0].done = 1
    else:
        _estimate_prefetch(st, SETS_HALF * items)
        st[0].pf_start += SETS_HALF
    st[0].rstart += SETS_HALF
    st[0].rend += SETS_HALF
    st[0].lstart = st[0].lend + 1
    st[0].lend = cycle


@njit(cache=True)
def estimate_finish(st):
    """complete_all_prefetches: fetch what is left (the sets since the last prefetch)."""
    items = st[0].items
    if st[0].elems == 0:
        st[0].cur -= 1
    if st[0].done == 0:
        words = st[0].cur * items + (st[0].elems if st[0].elems > 0 else items)
        st[0].lend = -2
        st[0].lstart = st[0].lend - ceil_div((st[0].cur + 1) * items, CALC_READ_BW) + 1
    else:
        full = st[0].cur - st[0].pf_start + (0 if st[0].elems > 0 else 1)
        words = full * items + st[0].elems
    _estimate_prefetch(st, words)


@njit(cache=True)
def estimate_row(st, latest, first_id, n, ids, use_ids, cycle):
    """Serve one demand row in CALC mode (never stalls): ids are ``first_id + k``
    (dense operands, id = prefetch position) or ``ids[:n]``."""
    if n > 0 and st[0].seen == 0:
        st[0].seen = 1
        st[0].first = cycle
    for k in range(n):
        _estimate_read(st, latest, ids[k] if use_ids else first_id + k, cycle)
    return cycle + 1

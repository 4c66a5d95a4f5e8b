"""CALC-mode DRAM reads and start cycles in closed form (SCALE-Sim's estimate buffers).

The word-by-word replay is :mod:`airchitect.targets.systolic.memory.rows` with
``mode="calc"``; these closed forms give the same counts (tests compare them)
where the replay would be too long, and the read buffers' first DRAM cycle.
Units: words, kB, cycles.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._math import ceil_div
from airchitect.targets.systolic.config import WORDS_PER_KB
from airchitect.targets.systolic.memory.calc_reads import _bands
from airchitect.targets.systolic.memory.estimate_buffer import CALC_READ_BW


def calc_dram_start(distinct_words, sram_kb, first_request_cycle):
    """Cycle of the first DRAM response of a CALC-mode read buffer (can be negative).

    ``ReadBufferEstimateBw`` groups new addresses in sets of
    ``floor(kb * 1024 / 100)`` words; the active half is 50 sets. If the
    operand has at least 50 sets of distinct words, the first prefetch fills
    the active half and ends 2 cycles before the first request:
    ``start = first_request - ceil(50 * items / 10)``. Otherwise the whole
    operand is fetched at the end, timed to finish at cycle -2:
    ``start = -ceil(ceil(distinct / items) * items / 10)``.
    """
    items = (np.asarray(sram_kb, np.int64) * 1024) // 100
    half = 50 * items
    full = first_request_cycle - ceil_div(half, CALC_READ_BW)
    sets = ceil_div(distinct_words, items)
    partial = ceil_div(sets * items, CALC_READ_BW)
    return np.where(distinct_words >= half, full, -partial)


@njit(cache=True)
def _os_filter_reads(K, N, C, row_folds, block):
    """CALC-mode filter DRAM reads of an os GEMM: column fold ``fc`` reads its
    ``K x cv`` filter band once per row fold."""
    n = 0
    for fc in range((N + C - 1) // C):
        n = _bands(K * min(C, N - fc * C), row_folds, n, block, 0, -1)[0]
    return n


def calc_dram_reads(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb):
    """CALC-mode DRAM reads (words) of dense GEMMs, ``(ifmap, filter)`` flat int64 arrays
    (C order of the broadcast shape).

    The same counts as the word-by-word replay of SCALE-Sim's estimate buffers
    (``mode="calc"``), without the replay: an operand read once per fold (the
    streamed one) or once in all (the stationary one) is fetched again on every
    read when it spans 50 sets or more, and once otherwise; the os filter band of
    a column fold, read once per row fold, is followed band by band. Work is
    O(column folds x row folds) per os GEMM, O(1) otherwise.
    """
    M, N, K, R, C, code, ikb, fkb = (a.ravel() for a in np.broadcast_arrays(
        *(np.asarray(v, dtype=np.int64) for v in (M, N, K, rows, cols, dataflow_code,
                                                  ifmap_kb, filter_kb))))
    i_block = 50 * (ikb * WORDS_PER_KB // 100)
    f_block = 50 * (fkb * WORDS_PER_KB // 100)
    ifmap, filt = M * K, K * N
    streams = np.where(code == 2, ceil_div(M, C), ceil_div(N, C))
    i_reads = np.where((code == 2) | (ifmap < i_block), ifmap, streams * ifmap)
    f_reads = np.where((code == 1) | (filt < f_block), filt, streams * filt)
    walk = (code == 0) & (filt >= f_block)
    for at in np.flatnonzero(walk):
        f_reads[at] = _os_filter_reads(K[at], N[at], C[at], ceil_div(M[at], R[at]), f_block[at])
    return i_reads, f_reads

"""Provable lower bounds of SCALE-Sim 3.0.0 USER-mode figures, in closed form.

The ``codesign`` task's exact search (:mod:`airchitect.tasks.codesign`) skips a
configuration once a lower bound of its cost shows that it cannot beat the best
configuration simulated so far. Every function here is numpy-vectorised: its
arguments broadcast (numpy rules), so ``(n, 1)`` workloads against ``(1, L)``
configurations give ``(n, L)`` bounds. No simulation runs. The arguments of
each bound are in docs/codesign.md; in short:

* **compute** -- the USER-mode total is the stall-free (CALC-mode) total plus
  the stall cycles, and the memory system only ever adds stalls (every demand
  row waits ``>= 0`` cycles);
* **prefetches** -- a read buffer's active window holds ``n_act`` of the
  operand's sets and slides ``n_pre`` sets per miss; an interval of time in
  which ``u`` distinct sets are read slides it by at least ``u - n_act`` sets.
  The folds (and the outer folds, and the whole run) are disjoint intervals
  whose distinct words are known, so the misses are at least the sum over the
  intervals divided by ``n_pre``;
* **prefetch chain** -- SCALE-Sim chains each prefetch from the end of the
  previous one (``F = refill + 1`` cycles apart, from cycle -1), and the row
  that misses is served no earlier than its prefetch ends: ``total >= m * F - 2``
  after ``m`` misses;
* **ofmap drains** -- every drain of the write buffer during the run sends its
  full ``L = ceil(floor(size / 2) / bandwidth)`` lines (a drain starts only when
  more than half the buffer waits) and the next starts no earlier than its last
  cycle; the buffer never holds more than ``size + 2`` words the accounting has
  not drained. With ``L >= 2``, ``W`` words written need ``D >=
  ceil((W - size - 2) / (L x bandwidth))`` drains and ``total >= (D - 1)(L - 1)``;
* **DRAM words** -- ``(first fill + misses x refill) x bandwidth`` reads per
  read buffer (SCALE-Sim's count, exact given the misses) and at least every
  ofmap word written once (the write buffer drains every line it stores);
* **energy** -- the energy model with the exact SRAM counts and the DRAM bound
  (every term is non-negative and grows with the DRAM words); **edp** -- the
  product of the energy and cycle bounds.

Units: sizes in words (1 kB = 1024 words), bandwidth in words/cycle, cycles as
SCALE-Sim counts them, energy in pJ.

Examples
--------
>>> b = bounds(64, 64, 64, 8, 8, 0, 1024, 1024, 1024, 2)  # 1 kB each, 2 words/cycle
>>> int(b["cycles"]), int(b["dram_words"])  # SCALE-Sim 3.0.0: 116383 cycles, 272897 words
(14390, 37376)

The ifmap (4096 words in 373 sets of 11, a window of 47) is swept by each of the 8
column folds: at least 8 x (373 - 47) sets of slide, 56 prefetches of 256 requests,
so ``56 x 257 - 2 = 14390`` cycles and ``(256 + 56 x 256) x 2 = 29184`` words; the
filter needs 7 prefetches (4096 words), the ofmap 4096 words.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._math import ceil_div
from airchitect.targets.systolic import energy as energy_model
from airchitect.targets.systolic.compute import total_cycles_calc
from airchitect.targets.systolic.config import WORDS_PER_KB
from airchitect.targets.systolic.geometry import spatial_dims, spatial_dims_one, sram_counts

#: relative slack taken off the float bounds (energy, edp): a bound computed with
#: other rounding than the cost stays below it
FLOAT_SLACK = 2.0**-40

__all__ = ["FLOAT_SLACK", "bounds", "compute_cycles", "dram_energy", "energy_bound", "label_bounds", "ofmap_words",
           "read_bounds", "write_bound"]


def _i64(*values):
    return [np.asarray(v, dtype=np.int64) for v in values]


def compute_cycles(M, N, K, rows, cols, dataflow_code):
    """Stall-free cycles (SCALE-Sim's CALC-mode ``Total Cycles``), a lower bound of the
    USER-mode total of every SRAM split and bandwidth.

    >>> int(compute_cycles(64, 64, 64, 8, 8, 0))  # 8 x 8 folds of 64 + 8 + 8 - 2 rows, less 1
    4991
    """
    return total_cycles_calc(M, N, K, rows, cols, dataflow_code)


def read_bounds(M, N, K, rows, cols, dataflow_code, words, bandwidth, operand):
    """Lower bounds of one read buffer (``operand`` 0 ifmap, 1 filter) of ``words`` words.

    Returns a dict of int64 arrays (the broadcast shape): ``misses`` (prefetches
    after the first fill, a lower bound), ``dram_reads`` (words, a lower bound:
    SCALE-Sim counts ``(first fill + misses x refill) x bandwidth``) and
    ``cycles`` (``misses x (refill + 1) - 2`` where ``misses > 0``, else 0: the
    prefetch chain's bound of the total cycles).

    >>> b = read_bounds(512, 512, 512, 8, 8, 0, 1024, 1, 0)  # ifmap swept 64 times
    >>> int(b["misses"]) >= 64 * (512 * 512 // 11 - 50) // 50
    True
    """
    args = np.broadcast_arrays(*_i64(M, N, K, rows, cols, dataflow_code, words, bandwidth))
    shape = args[0].shape
    out = _read_bounds_flat(*(np.ascontiguousarray(a).reshape(-1) for a in args), int(operand))
    return {name: v.reshape(shape) for name, v in zip(("misses", "dram_reads", "cycles"), out)}


@njit(cache=True, inline="always")
def _operand_words(code, operand, rv, cv, T):
    """Distinct operand words one fold of ``rv`` rows and ``cv`` columns of the array
    reads (one outer fold over its inner folds with ``rv = Sr``): ifmap (operand 0):
    os/ws stream ``rv x T``, is holds ``rv x cv``; filter: os streams ``cv x T``, ws
    holds ``rv x cv``, is streams ``rv x T``."""
    if operand == 0:
        return rv * cv if code == 2 else rv * T
    if code == 0:
        return cv * T
    return rv * cv if code == 1 else rv * T


@njit(cache=True, inline="always")
def _slides(u, eps, n_act):
    """Sets a read window of ``n_act`` sets of ``eps`` words must slide to read ``u``
    distinct words: ``max(ceil(u / eps) - n_act, 0)``."""
    return max(ceil_div(u, eps) - n_act, 0)


@njit(cache=True, error_model="numpy")
def _read_bound_one(c, M, N, K, r, cc, w, b, operand):
    """:func:`read_bounds` of one GEMM, array and buffer: ``(misses, dram_reads, cycles)``."""
    Sr, Sc, T = spatial_dims_one(c, M, N, K)
    RF, CF = ceil_div(Sr, r), ceil_div(Sc, cc)
    rl, cl = Sr - (RF - 1) * r, Sc - (CF - 1) * cc  # rows, cols of the last folds
    n_valid = M * K if operand == 0 else K * N
    # SCALE-Sim's read buffer set-up (read_buffer.read_window)
    eps = ceil_div(w, 100)
    active = ceil_div(w, 2)
    n_lines = n_valid // eps + 1
    n_act = min(ceil_div(active, eps), n_lines)
    n_pre = max(min(ceil_div(w - active, eps), n_lines - n_act), 1)
    per_fold = (_slides(_operand_words(c, operand, r, cc, T), eps, n_act) * (RF - 1) * (CF - 1)
                + _slides(_operand_words(c, operand, rl, cc, T), eps, n_act) * (CF - 1)
                + _slides(_operand_words(c, operand, r, cl, T), eps, n_act) * (RF - 1)
                + _slides(_operand_words(c, operand, rl, cl, T), eps, n_act))
    per_outer = (_slides(_operand_words(c, operand, Sr, cc, T), eps, n_act) * (CF - 1)
                 + _slides(_operand_words(c, operand, Sr, cl, T), eps, n_act))
    slide = max(max(per_fold, per_outer), _slides(n_valid, eps, n_act))
    m = 0 if n_act >= n_lines else ceil_div(slide, n_pre)
    # the prefetch matrix, padding included, bounds the first fill (read_buffer.read_state)
    if operand == 0:
        padded = CF * cc * Sr if c == 2 else RF * r * T
    elif c == 0:
        padded = CF * cc * T
    else:
        padded = CF * cc * Sr if c == 1 else RF * r * T
    req0 = min(ceil_div(active, b), ceil_div(padded, b))
    req1 = ceil_div(w - active, b)
    return m, (req0 + m * req1) * b, (m * (req1 + 1) - 2 if m > 0 else 0)


@njit(cache=True, nogil=True, error_model="numpy")
def _read_bounds_flat(M, N, K, R, C, code, words, bw, operand):
    """:func:`read_bounds` of equal-length int64 arrays: ``(misses, dram_reads, cycles)``."""
    n = M.size
    misses = np.empty(n, np.int64)
    dram = np.empty(n, np.int64)
    cycles = np.empty(n, np.int64)
    for p in range(n):
        misses[p], dram[p], cycles[p] = _read_bound_one(code[p], M[p], N[p], K[p], R[p], C[p], words[p],
                                                        bw[p], operand)
    return misses, dram, cycles


def label_bounds(M, N, K, sram_kb, bandwidth, labels, space, parts, energy=True, model=None):
    """:func:`bounds` of configuration ``labels[r, ...]`` of a split space on workload
    ``r``, in one compiled pass over the pairs: the same values, bit for bit.

    ``M, N, K, sram_kb, bandwidth`` are ``(n,)`` int64 (SRAM in kB, bandwidth in
    words/cycle); ``labels`` is ``(n,)`` or ``(n, k)``; ``space`` maps ``rows``,
    ``cols``, ``code`` and the buffers' shares ``i``, ``j``, ``k`` to int64 arrays
    indexed by label; a share ``s`` holds ``sram_kb x s // parts`` kB. Returns
    ``cycles`` and ``dram_words`` (int64) and, with ``energy``, ``energy`` (pJ) and
    ``edp``, each of ``labels``' shape.

    Work: a few hundred integer operations a pair; memory: the outputs.

    >>> space = {"rows": np.array([8]), "cols": np.array([8]), "code": np.array([0]),
    ...          "i": np.array([1]), "j": np.array([1]), "k": np.array([1])}
    >>> b = label_bounds(*(np.array([v]) for v in (64, 64, 64, 3, 2)), np.array([0]), space, 3)
    >>> int(b["cycles"][0]), int(b["dram_words"][0])  # 1 kB each, as in the module's example
    (14390, 37376)
    """
    model = model or energy_model.DEFAULT
    labels = np.asarray(labels, dtype=np.int64)
    flat = np.ascontiguousarray(labels.reshape(len(labels), -1))
    sram = np.asarray(sram_kb, dtype=np.int64)
    kb = sram[:, None] * np.arange(parts, dtype=np.int64)[None, :] // parts
    pj = np.stack([model.sram_pj(kb), model.sram_pj(kb, write=True)]) if energy else np.zeros((2, 1, 1))
    out = _label_bounds_kernel(*(np.asarray(v, dtype=np.int64) for v in (M, N, K, sram, bandwidth)), flat,
                               *(space[c] for c in ("rows", "cols", "code", "i", "j", "k")), parts,
                               np.ascontiguousarray(pj), model.mac_pj + model.array_pj, model.dram_pj,
                               1.0 - FLOAT_SLACK, energy)
    names = ("cycles", "dram_words", "energy", "edp") if energy else ("cycles", "dram_words")
    return {name: v.reshape(labels.shape) for name, v in zip(names, out)}


#: slots of :func:`_read_bound_memo`'s table (a power of two)
_MEMO = 64


@njit(cache=True, inline="always", error_model="numpy")
def _read_bound_memo(memo, r, c, M, N, K, rows, cols, sram_kb, share, parts, b, operand):
    """:func:`_read_bound_one` of buffer ``operand`` holding ``share`` parts of ``sram_kb``
    on row ``r``, kept in the direct-mapped table ``memo[operand]`` (slot: a hash of the
    array and share; entry: row + 1, rows, cols, dataflow, share, then the three bounds)
    and taken from it when the same row asks again."""
    slot = (rows * 31 + cols * 7 + c * 3 + share) & (_MEMO - 1)
    if (memo[operand, slot, 0] == r + 1 and memo[operand, slot, 1] == rows and memo[operand, slot, 2] == cols
            and memo[operand, slot, 3] == c and memo[operand, slot, 4] == share):  # no views: no refcounts
        return memo[operand, slot, 5], memo[operand, slot, 6], memo[operand, slot, 7]
    out = _read_bound_one(c, M, N, K, rows, cols, sram_kb * share // parts * WORDS_PER_KB, b, operand)
    memo[operand, slot, 0], memo[operand, slot, 1], memo[operand, slot, 2] = r + 1, rows, cols
    memo[operand, slot, 3], memo[operand, slot, 4] = c, share
    memo[operand, slot, 5], memo[operand, slot, 6], memo[operand, slot, 7] = out
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _label_bounds_kernel(M, N, K, sram_kb, bw, labels, R, C, code, I, J, S, parts, pj, mac_pj, dram_pj,
                         keep, energy):
    """:func:`label_bounds` of ``labels`` ``(n, k)``; ``pj[0 or 1, r, share]``: the SRAM read
    and write energy of a buffer of that share on row ``r``; ``keep = 1 - FLOAT_SLACK``."""
    n, k = labels.shape
    cycles = np.empty((n, k), np.int64)
    dram = np.empty((n, k), np.int64)
    out_energy = np.empty((n, k) if energy else (0, 0), np.float64)
    out_edp = np.empty((n, k) if energy else (0, 0), np.float64)
    memo = np.zeros((2, _MEMO, 8), np.int64)  # a row's candidates share arrays and shares
    for r in range(n):
        m, nn, kk, b = M[r], N[r], K[r], bw[r]
        for q in range(k):
            label = labels[r, q]
            c, rows, cols = code[label], R[label], C[label]
            Sr, Sc, T = spatial_dims_one(c, m, nn, kk)
            RF, CF = ceil_div(Sr, rows), ceil_div(Sc, cols)
            per_fold = T + rows + cols - 2 + (rows if c != 0 else 0)
            ifmap = _read_bound_memo(memo, r, c, m, nn, kk, rows, cols, sram_kb[r], I[label], parts, b, 0)
            filt = _read_bound_memo(memo, r, c, m, nn, kk, rows, cols, sram_kb[r], J[label], parts, b, 1)
            ofmap_words_ = sram_kb[r] * S[label] // parts * WORDS_PER_KB
            written = Sr * Sc if c == 0 else RF * T * Sc  # ofmap_words
            lines = ceil_div(ofmap_words_ // 2, b)
            drains = ceil_div(max(written - ofmap_words_ - 2, 0), lines * b)
            drain = max(drains - 1, 0) * (lines - 1) if lines >= 2 else 0
            bound = max(max(RF * CF * per_fold - 1, drain), max(ifmap[2], filt[2]))
            moved = ifmap[1] + filt[1] + written
            cycles[r, q], dram[r, q] = bound, moved
            if energy:  # energy_bound: sram_counts, then layer_energy_pj term by term
                streamed = CF * T * Sr
                reads_i = Sr * Sc if c == 2 else streamed
                reads_f = RF * T * Sc if c == 0 else (Sr * Sc if c == 1 else streamed)
                writes = written + (RF * CF * (rows + cols) if c == 0 else 0)
                value = (np.float64(m * kk * nn) * mac_pj + np.float64(reads_i) * pj[0, r, I[label]]
                         + np.float64(reads_f) * pj[0, r, J[label]] + np.float64(writes) * pj[1, r, S[label]]
                         + np.float64(moved) * dram_pj)
                out_energy[r, q] = value * keep
                out_edp[r, q] = value * keep * np.float64(bound) * keep
    return cycles, dram, out_energy, out_edp


def ofmap_words(M, N, K, rows, cols, dataflow_code):
    """Ofmap words the array stores into the write buffer (each drained to DRAM at
    least once): ``M x N`` for os, ``ceil(Sr / rows) x T x Sc`` for ws and is."""
    M, N, K, R, C, code = _i64(M, N, K, rows, cols, dataflow_code)
    Sr, Sc, T = spatial_dims(M, N, K, code)
    return np.where(code == 0, Sr * Sc, ceil_div(Sr, R) * T * Sc)


def write_bound(M, N, K, rows, cols, dataflow_code, words, bandwidth):
    """Lower bound of the total cycles from the ofmap write buffer of ``words`` words
    draining at ``bandwidth`` words/cycle (int64; 0 where it proves nothing): with
    ``L = ceil(floor(words / 2) / bandwidth) >= 2`` lines per drain,
    ``(ceil((W - words - 2) / (L x bandwidth)) - 1) x (L - 1)`` for the ``W`` ofmap
    words of the run (:func:`ofmap_words`).

    >>> int(write_bound(8, 509, 125, 4, 32, 1, 5120, 1))  # W = 130,304 words, L = 2560: 48 x 2559
    122832
    """
    words, bw = _i64(words, bandwidth)
    W = ofmap_words(M, N, K, rows, cols, dataflow_code)
    L = ceil_div(words // 2, bw)
    drains = ceil_div(np.maximum(W - words - 2, 0), L * bw)
    return np.where(L >= 2, np.maximum(drains - 1, 0) * (L - 1), 0)


def dram_energy(M, N, K, rows, cols, dataflow_code, kb, dram_words, model=None):
    """Energy (pJ) of the model with the exact SRAM counts and ``dram_words`` DRAM words:
    the run's energy where ``dram_words`` are its words. ``kb`` is ``(ifmap_kb,
    filter_kb, ofmap_kb)``."""
    M, N, K, R, C, code = _i64(M, N, K, rows, cols, dataflow_code)
    Sr, Sc, T = spatial_dims(M, N, K, code)
    ifmap, filt, ofmap, _ = sram_counts(code, R, C, Sr, Sc, T)
    return energy_model.layer_energy_pj(M * K * N, (ifmap, filt), kb, ofmap, dram_words,
                                        model or energy_model.DEFAULT)


def energy_bound(M, N, K, rows, cols, dataflow_code, kb, dram_words, model=None):
    """:func:`dram_energy` lowered by ``FLOAT_SLACK``: a lower bound where ``dram_words``
    is one."""
    return dram_energy(M, N, K, rows, cols, dataflow_code, kb, dram_words, model) * (1.0 - FLOAT_SLACK)


def bounds(M, N, K, rows, cols, dataflow_code, ifmap_words, filter_words, ofmap_words_, bandwidth,
           model=None):
    """Every lower bound of USER-mode runs, broadcast over all arguments.

    Returns a dict of arrays: ``cycles`` (int64: the largest of the compute, the
    two prefetch-chain and the drain bounds), ``dram_words`` (int64: both read
    bounds plus the ofmap words), ``energy`` (pJ) and ``edp`` (pJ x cycles),
    float64. SRAM sizes in words (``ofmap_words_``: the write buffer's).

    Work: a few dozen numpy operations on the broadcast shape.
    """
    shape = np.broadcast_shapes(*(np.shape(v) for v in (M, N, K, rows, cols, dataflow_code,
                                                          ifmap_words, filter_words, ofmap_words_,
                                                          bandwidth)))
    ifmap = read_bounds(M, N, K, rows, cols, dataflow_code, ifmap_words, bandwidth, 0)
    filt = read_bounds(M, N, K, rows, cols, dataflow_code, filter_words, bandwidth, 1)
    cycles = np.maximum(np.maximum(compute_cycles(M, N, K, rows, cols, dataflow_code),
                                   write_bound(M, N, K, rows, cols, dataflow_code, ofmap_words_, bandwidth)),
                        np.maximum(ifmap["cycles"], filt["cycles"]))
    dram = ifmap["dram_reads"] + filt["dram_reads"] + ofmap_words(M, N, K, rows, cols, dataflow_code)
    kb = tuple(np.asarray(w, dtype=np.int64) // WORDS_PER_KB
               for w in (ifmap_words, filter_words, ofmap_words_))
    energy = energy_bound(M, N, K, rows, cols, dataflow_code, kb, dram, model)
    out = {"cycles": cycles, "dram_words": dram, "energy": energy,
           "edp": energy * cycles.astype(np.float64) * (1.0 - FLOAT_SLACK)}
    return {k: np.broadcast_to(v, shape) for k, v in out.items()}

"""SCALE-Sim 3.0.0's float means over folds, bit for bit.

SCALE-Sim averages per-fold figures (mapping efficiency, compute utilisation)
with Python's left-to-right ``sum`` in fold order, then ``/ folds``.
:func:`fold_mean` reproduces that sum by jumping over runs of equal additions
within a binade; :func:`exact_ratio` rounds ``int / int`` once, as Python does.
"""

from __future__ import annotations

import math

import numba
import numpy as np


def exact_ratio(num, den):
    """``num / den`` rounded once, as Python's ``int / int`` does.

    Both operands are exact in float64 below ``2**53``; above, Python ints are used.
    A zero denominator (a run of zero cycles) gives ``inf`` or ``nan``, without a warning.
    """
    num = np.asarray(num, dtype=object if _big(num) else np.int64)
    den = np.asarray(den, dtype=object if _big(den) else np.int64)
    if num.dtype == object or den.dtype == object:
        num, den = np.broadcast_arrays(num, den)
        return np.array([int(a) / int(b) for a, b in zip(num.ravel(), den.ravel())],
                        dtype=np.float64).reshape(num.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num.astype(np.float64) / den.astype(np.float64)


def _big(x):
    x = np.asarray(x)
    if x.dtype == object:
        return True
    return x.size > 0 and np.abs(x).max() >= 2**53


def products(*factors):
    """Exact product of int64 arrays, as object ints where it would pass ``2**62``."""
    approx = np.ones(np.broadcast_shapes(*(np.shape(f) for f in factors)))
    for f in factors:
        approx = approx * np.asarray(f, dtype=np.float64)
    if approx.size and approx.max() >= 2.0**62:
        out = np.asarray(factors[0]).astype(object)
        for f in factors[1:]:
            out = out * np.asarray(f).astype(object)
        return out
    out = np.asarray(factors[0], dtype=np.int64)
    for f in factors[1:]:
        out = out * np.asarray(f, dtype=np.int64)
    return out


@numba.njit(cache=True)
def _repeat_add(s, a, n):
    """``s`` after ``n`` sequential float64 additions of ``a > 0`` (``s >= 0``).

    Within one binade the grid step ``u`` is fixed, so once two consecutive
    sums lie in the same binade as their start, every further addition adds the
    same rounded increment (round-half-even leaves an even grid point, from
    which the increment repeats) until the exact sum would reach the next power
    of two. Those additions are done at once; the rest one by one.
    """
    while n > 0:
        if n < 3 or s == 0.0:
            s += a
            n -= 1
            continue
        s1 = s + a
        s2 = s1 + a
        n -= 2
        e = math.frexp(s2)[1]
        if math.frexp(s)[1] != e or math.frexp(s1)[1] != e or n == 0:
            s = s2
            continue
        d = s2 - s1
        if d == 0.0:
            return s2
        u = math.ldexp(1.0, e - 53)
        big_s = int(s2 / u)
        big_d = int(d / u)
        a_int = int(math.floor(a / u))
        room = (1 << 53) - a_int - 1 - big_s
        if room < 0:
            s = s2
            continue
        k = min(n, room // big_d + 1)
        s = (big_s + k * big_d) * u
        n -= k
    return s


@numba.njit(cache=True)
def _fold_sum_kernel(row_folds, col_folds, full, last_row, last_col, corner, out):
    for i in range(out.size):
        rf = row_folds[i]
        s = 0.0
        for fc in range(col_folds[i]):
            if fc < col_folds[i] - 1:
                s = _repeat_add(s, full[i], rf - 1)
                s += last_row[i]
            else:
                s = _repeat_add(s, last_col[i], rf - 1)
                s += corner[i]
        out[i] = s


def fold_mean(row_folds, col_folds, full, last_row, last_col, corner):
    """Python's ``sum(per_fold) / len(per_fold)`` over SCALE-Sim's fold order, bit for bit.

    Fold ``(fr, fc)`` is visited as ``for fc in range(CF): for fr in range(RF)``;
    its value is ``full`` inside, ``last_row`` for ``fr = RF-1``, ``last_col``
    for ``fc = CF-1`` and ``corner`` for both. Cost is ``O(CF * log)`` per element.
    """
    arrays = np.broadcast_arrays(np.asarray(row_folds, np.int64), np.asarray(col_folds, np.int64),
                                 *(np.asarray(v, np.float64) for v in (full, last_row, last_col, corner)))
    flat = [np.ascontiguousarray(a).ravel() for a in arrays]
    out = np.empty(flat[0].size)
    _fold_sum_kernel(*flat, out)
    folds = flat[0].astype(np.float64) * flat[1]
    return (out / folds).reshape(arrays[0].shape)

"""The prefetch order of SCALE-Sim 3.0.0's read buffers, in closed form.

SCALE-Sim prefetches an operand in the order of its stacked prefetch matrix:
the operand's bands (one per fold of the dimension it is fed along) stacked
vertically, read by anti-diagonals (os ifmap and filter, ws ifmap, is filter)
or row by row (ws filter, is ifmap), the last band padded with -1. An operand's
layout is a tuple indexed by the ``D_*`` constants (:func:`operand_layout`);
:func:`position` gives an element's place among the valid words in closed form,
:func:`prefetch_order` lists the order itself (conv ifmaps, whose im2col
addresses repeat). ``g`` is a geometry vector
(:mod:`airchitect.targets.systolic.geometry`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._math import ceil_div
from airchitect.targets.systolic.geometry import (
    G_CH, G_DF, G_EW, G_FW, G_H, G_NF, G_P, G_R, G_C, G_S, G_W, G_WN, skew_run,
)


@njit(cache=True, inline="always")
def ifmap_addr(g, p, w):
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
def filter_addr(g, i, j):
    """Address id of filter operand element (i, j) (window index, filter)."""
    if i >= g[G_WN] or j >= g[G_NF]:
        return -1
    return j * g[G_WN] + i


@njit(cache=True)
def prefetch_shape(g, operand):
    """(rows, cols, diagonal order) of the operand's SCALE-Sim prefetch matrix."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    P = g[G_P]
    Wn = g[G_WN]
    Nf = g[G_NF]
    if df == 0:  # os: Sr = P, Sc = Nf, T = Wn
        if operand == 0:
            return ceil_div(P, R) * Wn, R, True
        return ceil_div(Nf, C) * Wn, C, True
    if df == 1:  # ws: Sr = Wn, Sc = Nf, T = P
        if operand == 0:
            return ceil_div(Wn, R) * P, R, True
        return ceil_div(Nf, C) * Wn, C, False
    # is: Sr = Wn, Sc = P, T = Nf
    if operand == 0:
        return ceil_div(P, C) * Wn, C, False
    return ceil_div(Wn, R) * Nf, R, True


@njit(cache=True, inline="always")
def prefetch_elem(g, operand, r, c):
    """Address id at (r, c) of the stacked prefetch matrix, -1 for padding."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    if df == 0:
        T = g[G_WN]
        if operand == 0:
            return ifmap_addr(g, (r // T) * R + c, r % T)
        return filter_addr(g, r % T, (r // T) * C + c)
    if df == 1:
        if operand == 0:
            T = g[G_P]
            return ifmap_addr(g, r % T, (r // T) * R + c)
        Wn = g[G_WN]
        return filter_addr(g, r % Wn, (r // Wn) * C + c)
    if operand == 0:
        Wn = g[G_WN]
        return ifmap_addr(g, (r // Wn) * C + c, r % Wn)
    T = g[G_NF]
    return filter_addr(g, (r // T) * R + c, r % T)


@njit(cache=True)
def ifmap_valid(g):
    """Valid (non -1) words of the ifmap prefetch matrix, in closed form: what
    :func:`prefetch_order` counts for operand 0 (windows past the edge lose words)."""
    ew = g[G_EW]
    s = g[G_S]
    fw = g[G_FW]
    ch = g[G_CH]
    fh = g[G_WN] // (fw * ch)
    eh = g[G_P] // ew
    rows = 0
    for pr in range(eh):
        rows += min(fh, max(0, g[G_H] - pr * s))
    cols = 0
    for pc in range(ew):
        cols += min(fw, max(0, g[G_W] - pc * s))
    return rows * cols * ch


@njit(cache=True)
def prefetch_order(g, operand, out):
    """Write the valid address ids of the prefetch matrix, in SCALE-Sim's order, to
    ``out``; return (number written, number of elements including padding)."""
    rows, cols, diag = prefetch_shape(g, operand)
    n = 0
    if diag:
        for d in range(rows + cols):
            hi = min(d, rows - 1)
            lo = max(0, d - cols + 1)
            for r in range(hi, lo - 1, -1):
                a = prefetch_elem(g, operand, r, d - r)
                if a >= 0:
                    out[n] = a
                    n += 1
    else:
        for r in range(rows):
            for c in range(cols):
                a = prefetch_elem(g, operand, r, c)
                if a >= 0:
                    out[n] = a
                    n += 1
    return n, rows * cols


# operand descriptor layout (int64): the operand's stacked prefetch matrix is
# n_bands bands of band_rows rows and n_cols columns; the last band has only
# last_cols valid columns (the rest is SCALE-Sim's -1 padding).
D_DIAG, D_ROWS, D_COLS, D_BAND, D_NBANDS, D_LAST = range(6)


@njit(cache=True)
def operand_layout(g, operand):
    """Descriptor of the ifmap (0) or filter (1) prefetch matrix, a tuple indexed
    by the ``D_*`` constants."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    if df == 0:
        if operand == 0:
            diag, cols, band, length = 1, R, g[G_WN], g[G_P]
        else:
            diag, cols, band, length = 1, C, g[G_WN], g[G_NF]
    elif df == 1:
        if operand == 0:
            diag, cols, band, length = 1, R, g[G_P], g[G_WN]
        else:
            diag, cols, band, length = 0, C, g[G_WN], g[G_NF]
    else:
        if operand == 0:
            diag, cols, band, length = 0, C, g[G_WN], g[G_P]
        else:
            diag, cols, band, length = 1, R, g[G_NF], g[G_WN]
    nb = ceil_div(length, cols)
    # a tuple in the D_* order (no array to allocate or count references of)
    return (np.int64(diag), nb * band, np.int64(cols), band, nb, length - (nb - 1) * cols)


@njit(cache=True, inline="always")
def _padding_between(d, diag_id, c_lo, c_hi):
    """Padding words of diagonal ``diag_id`` with column in [c_lo, c_hi]."""
    last_row_start = (d[D_NBANDS] - 1) * d[D_BAND]
    return max(0, min(c_hi, diag_id - last_row_start) - max(c_lo, d[D_LAST]) + 1)


@njit(cache=True, inline="always")
def _cells_below(k, r0, r1, c0, c1):
    """Cells (r, c) of the rectangle [r0, r1) x [c0, c1) with r + c < k."""
    h = r1 - r0
    if h <= 0 or c1 <= c0:
        return 0
    full_hi = min(c1, k - r0 - h + 1)  # columns whose whole height lies below k
    total = h * max(0, full_hi - c0)
    lo = max(c0, k - r0 - h + 1)
    hi = min(c1, k - r0)
    if hi > lo:
        total += ((k - lo - r0) + (k - (hi - 1) - r0)) * (hi - lo) // 2
    return total


@njit(cache=True, inline="always")
def _diag_start(d, k):
    """Valid words before anti-diagonal ``k`` of a diagonal-order prefetch matrix
    (all cells minus the padding block of the last band), in closed form."""
    rows = d[D_ROWS]
    cols = d[D_COLS]
    return (_cells_below(k, 0, rows, 0, cols)
            - _cells_below(k, (d[D_NBANDS] - 1) * d[D_BAND], rows, d[D_LAST], cols))


@njit(cache=True)
def position(d, r, c):
    """Prefetch-order position (among valid words) of stacked element (r, c)."""
    if d[D_DIAG] == 1:
        k = r + c
        c_lo = k - min(k, d[D_ROWS] - 1)
        before = c - c_lo
        if c > c_lo:
            before -= _padding_between(d, k, c_lo, c - 1)
        return _diag_start(d, k) + before
    base = (d[D_NBANDS] - 1) * d[D_BAND]
    if r < base:
        return r * d[D_COLS] + c
    return base * d[D_COLS] + (r - base) * d[D_LAST] + c


@njit(cache=True)
def valid_words(d):
    if d[D_DIAG] == 1:
        return _diag_start(d, d[D_ROWS] + d[D_COLS])
    return (d[D_NBANDS] - 1) * d[D_BAND] * d[D_COLS] + d[D_BAND] * d[D_LAST]


@njit(cache=True)
def ifmap_addrs(g, fc, fr, j, rv, cv, t, ia):
    """Address ids of the ifmap words of row ``j`` (im2col addresses may repeat or
    be empty); return their number."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    n = 0
    if df == 0:
        c0, c1 = skew_run(j, 0, t, rv)
        for c in range(c0, c1):
            a = ifmap_addr(g, fr * R + c, j - c)
            if a >= 0:
                ia[n] = a
                n += 1
    elif df == 1:
        c0, c1 = skew_run(j, R, t, rv)
        for c in range(c0, c1):
            a = ifmap_addr(g, j - c - R, fr * R + c)
            if a >= 0:
                ia[n] = a
                n += 1
    elif j < R and R - 1 - j < rv:
        k = fr * R + R - 1 - j
        for c in range(cv):
            a = ifmap_addr(g, fc * C + c, k)
            if a >= 0:
                ia[n] = a
                n += 1
    return n


@njit(cache=True)
def filter_addrs(g, fc, fr, j, rv, cv, t, fa):
    """Address ids of the filter words of row ``j`` in demand order (the array's
    PE order, as :func:`ifmap_addrs`); return their number."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    n = 0
    if df == 0:
        c0, c1 = skew_run(j, 0, t, cv)
        for c in range(c0, c1):
            fa[n] = filter_addr(g, j - c, fc * C + c)
            n += 1
    elif df == 1:
        if j < R and R - 1 - j < rv:
            k = fr * R + R - 1 - j
            for c in range(cv):
                fa[n] = filter_addr(g, k, fc * C + c)
                n += 1
    else:
        c0, c1 = skew_run(j, R, t, rv)
        for c in range(c0, c1):
            fa[n] = filter_addr(g, fr * R + c, j - c - R)
            n += 1
    return n

"""CALC-mode DRAM reads, start and stop cycles of the two read buffers, exact and fast.

SCALE-Sim 3.0.0's CALC-mode read buffer (``ReadBufferEstimateBw``, modelled word
by word in :mod:`.estimate_buffer`) groups new addresses into sets of
``items = floor(kb * 1024 / 100)`` words and prefetches every 50 sets. An
address is new unless it was grouped since the last multiple of
``block = 50 * items`` groupings, so the demand stream cuts into segments that
each hold ``block`` distinct addresses: every cut is a prefetch (at the cycle of
the demand row that holds it), and

* DRAM reads = ``block x cuts`` + the distinct addresses after the last cut;
* DRAM start = ``first_request - ceil(block / 10)`` when there is a cut, else the
  final fetch of ``ceil(distinct / items)`` sets ends at cycle -1;
* DRAM stop = the cycle of the last cut + 1, else -1.

Dense operands (GEMM operands, conv filters, 1x1 stride-1 conv ifmaps) are runs of
distinct words read back to back a number of times; the cuts follow in closed form,
piece by piece (:func:`_band_scans`), and a read index maps to its demand row in
O(log) (:func:`_read_row`). A conv ifmap (im2col addresses repeat) that has fewer
than ``block`` distinct addresses never cuts (closed form); a ws conv ifmap whose
words provably come back at least ``block`` reads apart (:func:`_ws_reads_apart`)
groups a new word every read (closed form, no walk: the proof takes a bound per
class of pixels, O(FH^2 x FW^2 x (CH / R + 2)), before the exact span per pixel, O(H
x W x (CH / R + 2)), and a bound per entry before the least gap per pixel; the
demand row of the last cut is found by bisection on anti-diagonals, the pixels
inside the image at each window entry being a rectangle, O(R x log P)); otherwise
its stream is replayed one column fold (one read of the im2col matrix) at a time:
when the first fold shows no address read again within ``block`` reads, every read
groups a new word and the rest is closed form; else once the state at a fold's start
repeats, whole periods of folds are jumped over. The first fold (up to ``SEQ_MAX``
reads) is turned once into the index of each read's previous read of the same word,
so that grouping a fold is one pass comparing those indices with the running
segment's start (a word is new in the segment when its previous read came before
it), counted at once, as a vectorised sum, over every run of reads too short to
complete a block.

For ws that list is built by shifted periods (:func:`_ws_prev_list`): in a row fold
the reads of one output row of pixels (``EW`` anti-diagonals, ``L`` reads) are those
of the row above, ``L`` reads later at addresses ``S x W x CH`` higher, wherever
every window entry of the fold is read and no window passes the image's bottom edge
(only with more array rows than channels: else a row fold reads each word at most
once, every read would be looked up, and the plain listing is faster; that one
writes each whole row fold of a layer with no window past the image's edge from one
pattern of ``P x R`` (pixel, entry) slots, listed once when at most
``_TEMPLATE_MAX``, two int64 each). There a read's previous read is that of the read
``L`` before, plus ``L``, unless the latter lies before the row fold's first whole
anti-diagonal; then the word was not read since the first period and its last read
is looked up (at most once per word and period), and each word read in a period has
its last read stored once. The first ``rv - 1 + EW`` anti-diagonals of a row fold
and those from the bottom edge on are listed read by read. On the first conv layers
of ResNet-18 and AlexNet (3 channels, 224 x 224, 32 x 32 ws) 40-50 % of the reads
are looked up, the rest are one vectorised add. Work: O(folds) per dense operand;
O(im2col words x folds walked) per conv ifmap past its buffer, at most
``work_limit`` reads; memory three int64 per output pixel, three int32 per ifmap
word, plus one int32 per im2col read and one int64 per demand row of a column fold
while the list is kept, plus three int64 per read of one ws period (``EW x min(R,
WN)``). Both are bounded before any work (:func:`check_replay`: one column fold's
reads, and the bytes of :func:`replay_needs`). Units: words, kB, cycles.

An os GEMM 64 x 64 x 64 on 8 x 8 reads its 4096 ifmap words once per column fold
(8 times); 4096 >= block = 500 (1 kB), so every read is fetched again, and the first
prefetch of 500 words at 10 words/cycle starts 50 cycles before the first request:

>>> out = calc_read_fields(gemm_geometry(64, 64, 64, 8, 8, 0), 1, 1, [0], [0])
>>> int(out["dram_ifmap_reads"][0]), int(out["dram_ifmap_start_cycle"][0])
(32768, -50)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._math import ceil_div
from airchitect.targets.systolic.config import WORDS_PER_KB
from airchitect.targets.systolic.geometry import (  # noqa: F401  (gemm_geometry: doctest)
    G_C, G_CH, G_DENSE, G_DF, G_EW, G_FW, G_H, G_NF, G_P, G_R, G_S, G_W, G_WN, fold_grid,
    gemm_geometry,
)
from airchitect.targets.systolic.memory.estimate_buffer import CALC_READ_BW, SETS_HALF

#: most pieces one run of scans keeps in :func:`_band_scans` before it falls back to
#: the replay (:func:`_dense_replay`)
MAX_PIECES = 64


@njit(cache=True, inline="always")
def _tri(m):
    return m * (m + 1) // 2 if m > 0 else 0


@njit(cache=True, inline="always")
def _advance(c, f, k, R):
    """Entry ``c`` of row fold ``f`` moved on by ``k <= R - c`` entries: ``(c, f)``."""
    c += k
    if c == R:
        return 0, f + 1
    return c, f


@njit(cache=True, inline="always")
def _cut_in(n_old, n_new, block):
    """Offset (from ``n_old``) of the last insertion in ``[n_old, n_new)`` that
    completes a block, or -1."""
    k = (n_new // block) * block
    if k > n_old:
        return k - 1 - n_old
    return -1


@njit(cache=True)
def _band_scans(length, scans, n, block, read0, last):
    """``scans`` back-to-back reads of ``length`` new distinct words (same order each
    time), ``n`` groupings before, the band's first read at read index ``read0``.

    Returns ``(n, last)``: groupings after, and the read index of the last cut
    (``last`` if none); ``n = -1`` when the pieces overflow :data:`MAX_PIECES`.
    """
    off = _cut_in(n, n + length, block)
    if off >= 0:
        last = read0 + off
    if length >= block:  # every read of a later scan groups again
        n_new = n + scans * length
        off = _cut_in(n, n_new, block)
        if off >= 0:
            last = read0 + off
        return n_new, last
    x0 = np.empty(MAX_PIECES, np.int64)
    x1 = np.empty(MAX_PIECES, np.int64)
    base = np.empty(MAX_PIECES, np.int64)
    y0 = np.empty(MAX_PIECES, np.int64)
    y1 = np.empty(MAX_PIECES, np.int64)
    yb = np.empty(MAX_PIECES, np.int64)
    x0[0], x1[0], base[0] = 0, length, n
    m = 1
    n += length
    for s in range(1, scans):
        k = 0
        for p in range(m):
            x = x0[p]
            while x < x1[p]:
                start = (n // block) * block
                inserted = base[p] + x - x0[p]
                if inserted >= start:
                    y, b = x1[p], inserted
                else:
                    y = min(x1[p], x0[p] + start - base[p], x + start + block - n)
                    b = n
                    off = _cut_in(n, n + y - x, block)
                    if off >= 0:
                        last = read0 + s * length + x + off
                    n += y - x
                if k > 0 and y1[k - 1] == x and yb[k - 1] + x - y0[k - 1] == b:
                    y1[k - 1] = y
                else:
                    if k == MAX_PIECES:
                        return -1, last
                    y0[k], y1[k], yb[k] = x, y, b
                    k += 1
                x = y
        m = k
        for p in range(m):  # a loop: an array copy compiles numba's shape error (seconds)
            x0[p], x1[p], base[p] = y0[p], y1[p], yb[p]
    return n, last


@njit(cache=True)
def _dense_replay(length, scans, n, block, read0, last):
    """:func:`_band_scans` read by read (its fallback): a stamp per word."""
    stamp = np.full(length, -1, np.int64)
    for s in range(scans):
        for x in range(length):
            if stamp[x] < (n // block) * block:
                stamp[x] = n
                n += 1
                if n % block == 0:
                    last = read0 + s * length + x
    return n, last


@njit(cache=True)
def _bands(length, scans, n, block, read0, last):
    n2, last2 = _band_scans(length, scans, n, block, read0, last)
    if n2 < 0:
        return _dense_replay(length, scans, n, block, read0, last)
    return n2, last2


@njit(cache=True, inline="always")
def _fold_reads(df, op, R, rv, cv, t):
    """Reads of operand ``op`` (0 ifmap, 1 filter) in a fold of ``rv`` rows, ``cv`` cols."""
    if df == 0:
        return t * (rv if op == 0 else cv)
    if (df == 1) == (op == 0):  # the streamed operand (skewed)
        return t * rv
    return rv * cv  # the stationary one


@njit(cache=True)
def _read_row(g, op, q):
    """Demand row (cycle, CALC mode never stalls) of read ``q`` (0-based) of dense
    operand ``op`` in demand order: folds column-fold-major, rows in order."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    n_outer, n_inner, per, sr, sc, t = fold_grid(g)
    rl = sr - (n_inner - 1) * R
    cl = sc - (n_outer - 1) * C
    full = (n_inner - 1) * _fold_reads(df, op, R, R, C, t) + _fold_reads(df, op, R, rl, C, t)
    fc = q // full if full > 0 else 0
    if fc > n_outer - 1:
        fc = n_outer - 1
    q -= fc * full
    cv = C if fc < n_outer - 1 else cl
    f_full = _fold_reads(df, op, R, R, cv, t)
    fr = q // f_full
    if fr > n_inner - 1:
        fr = n_inner - 1
    q -= fr * f_full
    rv = R if fr < n_inner - 1 else rl
    if df != 0 and (df == 1) != (op == 0):  # stationary: rows R - rv .. R - 1, cv reads each
        j = R - rv + q // cv
    else:
        lag = 0 if df == 0 else R
        w = cv if (df == 0 and op == 1) else rv
        lo, hi = lag, lag + t + w - 2  # rows with reads; reads before row j: cum(j)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            m = mid - lag
            if _tri(m) - _tri(m - w) - _tri(m - t) + _tri(m - w - t) <= q:
                lo = mid
            else:
                hi = mid - 1
        j = lo
    return (fc * n_inner + fr) * per + j


@njit(cache=True)
def _dense_cuts(g, op, block):
    """Groupings and the read index of the last cut (-1 if none) of dense operand ``op``."""
    df = g[G_DF]
    C = g[G_C]
    n_outer, n_inner, per, sr, sc, t = fold_grid(g)
    words = g[G_P] * g[G_WN] if op == 0 else g[G_WN] * g[G_NF]
    if df == 0 and op == 1:  # column fold fc reads its K x cv band once per row fold
        n = 0
        last = -1
        read0 = 0
        for fc in range(n_outer):
            length = t * min(C, sc - fc * C)
            n, last = _bands(length, n_inner, n, block, read0, last)
            read0 += length * n_inner
        return n, last
    streamed = (df == 1) == (op == 0) or df == 0
    return _bands(words, n_outer if streamed else 1, 0, block, 0, -1)


@njit(cache=True)
def _covered(size, filt, stride, out):
    """Ifmap lines (rows or columns) that ``out`` windows of ``filt`` at ``stride`` cover."""
    n = 0
    end = 0
    for i in range(out):
        a = max(i * stride, end)
        b = min(i * stride + filt, size)
        if b > a:
            n += b - a
        end = max(end, i * stride + filt)
    return n



@njit(cache=True)
def _kernel_first_last(F, E, S, size):
    """Along one image axis of ``size`` pixels, a filter of ``F`` taps sliding over ``E``
    outputs at stride ``S``: the first and last tap reading each pixel (-1: none)."""
    lo = np.full(size, -1, np.int64)
    hi = np.full(size, -1, np.int64)
    for k in range(F):
        for o in range(E):
            i = o * S + k
            if i < size:
                if lo[i] < 0:
                    lo[i] = k
                hi[i] = k
    return lo, hi


@njit(cache=True)
def _tap_classes(lo, hi, F):
    """The distinct ``(first, last)`` tap pairs of the pixels along one axis (those a
    tap reads), as codes ``first x F + last``, sorted. Work O(size log size)."""
    codes = np.empty(lo.size, np.int64)
    n = 0
    for i in range(lo.size):
        if lo[i] >= 0:
            codes[n] = lo[i] * F + hi[i]
            n += 1
    return np.unique(codes[:n])


@njit(cache=True)
def _ws_span_bound(g, ky_lo, ky_hi, kx_lo, kx_hi, tap_f, tap_c, slots_out):
    """A bound on :func:`_ws_reads_apart`'s span that needs no pixel: a word's reads
    from its first tap to its last, a run of channels at a time, lie in the row folds
    ``f0 .. f1`` of those taps' entries, so they span at most ``(f1 - f0 + 1) x P x R``
    slots less the edge slots of the whole row folds between. Taken over each class of
    image pixels (first and last tap along each axis). Work O(classes x (CH / R + 2)),
    at most ``min(H, FH^2) x min(W, FW^2)`` classes."""
    R, P, CH, FW = g[G_R], g[G_P], g[G_CH], g[G_FW]
    FH = g[G_WN] // (FW * CH)
    ys = _tap_classes(ky_lo, ky_hi, FH)
    xs = _tap_classes(kx_lo, kx_hi, FW)
    bound = 0
    for y in ys:
        a0, a1 = y // FH, y % FH
        for x in xs:
            b0, b1 = x // FW, x % FW
            k0 = a0 * FW + b0
            k1 = a1 * FW + b1
            f0, c0, f1, c1 = tap_f[k0], tap_c[k0], tap_f[k1], tap_c[k1]
            ch = 0
            while ch < CH:
                k = min(R - c0, R - c1, CH - ch)
                out = slots_out[f1] - slots_out[f0 + 1] if f1 > f0 else 0
                bound = max(bound, (f1 - f0 + 1) * P * R - out)
                ch += k
                c0, f0 = _advance(c0, f0, k, R)
                c1, f1 = _advance(c1, f1, k, R)
    return bound


@njit(cache=True)
def _ws_reads_apart(g, block, fold_reads):
    """The reads of one column fold of a ws conv ifmap when every word provably comes
    back at least ``block`` reads later (within a column fold and from one column
    fold to the next), else -1 (not proven: the replay then decides).

    Applies when ``R <= CH``. A word ``(iy, ix, ch)`` is read at window entries
    ``w = (ky * FW + kx) * CH + ch``; two of them differ by a multiple of ``CH >= R``,
    so they lie in different row folds (:func:`_ws_stream_apart` bounds their gap in
    a column fold). From one column fold to the next, the gap is the fold's reads less
    the span from the word's first read (smallest ``(ky, kx)``) to its last
    (largest): at most the span of read slots (pixel x entry, in demand order, whose
    indices follow in closed form: row fold, anti-diagonal, entry) less the slots
    past the image's edge in the whole row folds between the two; a bound per class
    of pixels (:func:`_ws_span_bound`) first, the span per pixel only when that
    bound does not decide. Work O(min(H, FH^2) x min(W, FW^2) x (CH / R + 2)), then
    O(H x W x (CH / R + 2)) when needed, plus :func:`_ws_stream_apart` (at most two
    passes of ``R x P`` per output shift: 4 x ``P x WN`` in all). Writes the
    reads of each row fold to ``fold_reads`` (when it has room)."""
    R = g[G_R]
    P, WN, H, W, CH, S, EW, FW = g[G_P], g[G_WN], g[G_H], g[G_W], g[G_CH], g[G_S], g[G_EW], g[G_FW]
    FH = WN // (FW * CH)
    EH = P // EW
    if g[G_DF] != 1 or R > CH:
        return -1
    # valid pixels of window row ky / column kx (inside the image), reads of each row fold
    vy = np.zeros(FH, np.int64)
    vx = np.zeros(FW, np.int64)
    for ky in range(FH):
        for oy in range(EH):
            vy[ky] += oy * S + ky < H
    for kx in range(FW):
        for ox in range(EW):
            vx[kx] += ox * S + kx < W
    n_inner = ceil_div(WN, R)
    slots_out = np.zeros(n_inner + 1, np.int64)  # edge slots in row folds before fr
    nv = 0
    full = P * R  # fewest reads of a whole row fold
    for fr in range(n_inner):
        k = 0
        for w in range(fr * R, min(WN, fr * R + R)):
            k += vy[w // (FW * CH)] * vx[(w // CH) % FW]
        nv += k
        if fold_reads.size > fr:
            fold_reads[fr] = k
        if fr < n_inner - 1:
            full = min(full, k)
            slots_out[fr + 1] = slots_out[fr] + P * R - k
        else:
            slots_out[fr + 1] = slots_out[fr]
    edge_free = full == P * R and nv == P * WN
    if not _ws_stream_apart(g, block, FH, EH, -1 if edge_free else full):
        return -1
    ky_lo, ky_hi = _kernel_first_last(FH, EH, S, H)
    kx_lo, kx_hi = _kernel_first_last(FW, EW, S, W)
    # each tap's first entry as (row fold, entry in it): no division per pixel
    taps = FH * FW
    tap_f = np.empty(taps, np.int64)
    tap_c = np.empty(taps, np.int64)
    for k in range(taps):
        tap_f[k] = (k * CH) // R
        tap_c[k] = k * CH - tap_f[k] * R
    # a row fold's reads before pixel p at entry c (:func:`_ws_off`), by row fold
    # size: R, or the last fold's
    rv_last = WN - (n_inner - 1) * R
    if nv - _ws_span_bound(g, ky_lo, ky_hi, kx_lo, kx_hi, tap_f, tap_c, slots_out) >= block:
        return nv
    span = 0  # most reads from a word's first read in a column fold to its last
    for iy in range(H):
        if ky_lo[iy] < 0:
            continue
        py0 = ((iy - ky_lo[iy]) // S) * EW
        py1 = ((iy - ky_hi[iy]) // S) * EW
        ty0 = ky_lo[iy] * FW
        ty1 = ky_hi[iy] * FW
        for ix in range(W):
            if kx_lo[ix] < 0:
                continue
            p0 = py0 + (ix - kx_lo[ix]) // S
            p1 = py1 + (ix - kx_hi[ix]) // S
            # entries w0 + ch, w1 + ch as (row fold, entry in it), a run of channels at
            # a time that keeps both row folds; the read index grows with the entry in
            # a row fold, so the run's span is at most its last last-read index less its
            # first first-read index
            k0 = ty0 + kx_lo[ix]
            k1 = ty1 + kx_hi[ix]
            f0 = tap_f[k0]
            c0 = tap_c[k0]
            f1 = tap_f[k1]
            c1 = tap_c[k1]
            ch = 0
            while ch < CH:
                k = min(R - c0, R - c1, CH - ch)
                out = slots_out[f1] - slots_out[f0 + 1] if f1 > f0 else 0
                rv1 = R if f1 < n_inner - 1 else rv_last
                rv0 = R if f0 < n_inner - 1 else rv_last
                span = max(span, (f1 - f0) * P * R + _ws_off(c1 + k - 1, p1, rv1, P)
                           - _ws_off(c0, p0, rv0, P) - out)
                ch += k
                c0, f0 = _advance(c0, f0, k, R)
                c1, f1 = _advance(c1, f1, k, R)
    return nv if nv - span >= block else -1


@njit(cache=True, inline="always")
def _ws_valid_before(g, win, w, n):
    """Pixels ``p < n`` whose window reads window entry ``w`` inside the image: those of
    the first ``Ny`` output rows and ``Nx`` output columns (a rectangle)."""
    H, W, S, EW = g[G_H], g[G_W], g[G_S], g[G_EW]
    EH = g[G_P] // EW
    ky, kx = win[0, w], win[1, w]
    ny = min(EH, (H - ky + S - 1) // S) if H > ky else 0
    nx = min(EW, (W - kx + S - 1) // S) if W > kx else 0
    r = n // EW
    return min(r, ny) * nx + (min(n - r * EW, nx) if r < ny else 0)


@njit(cache=True)
def _ws_row_of(g, q, fold_reads, pix, win):
    """Demand row of read ``q`` of column fold 0 of a ws conv ifmap, given the reads of
    each row fold: the row fold by those counts, its anti-diagonal by bisection on the
    reads before one (entry ``c`` reads the pixels ``p < d - c`` inside the image before
    anti-diagonal ``d``, :func:`_ws_valid_before`), then that anti-diagonal's reads one
    by one (as :func:`_walk`, windows past the image's edge read nothing). Work
    O(R x log P + R)."""
    R = g[G_R]
    P, WN, H, W = g[G_P], g[G_WN], g[G_H], g[G_W]
    per = P + 2 * R + g[G_C] - 2
    fr = 0
    while q >= fold_reads[fr]:
        q -= fold_reads[fr]
        fr += 1
    rv = min(R, WN - fr * R)
    lo, hi = 0, P + rv - 2  # the last anti-diagonal whose reads before are <= q
    while lo < hi:
        mid = (lo + hi + 1) // 2
        before = 0
        for c in range(min(rv, mid)):
            before += _ws_valid_before(g, win, fr * R + c, min(mid - c, P))
        if before <= q:
            lo = mid
        else:
            hi = mid - 1
    d = lo
    pos = 0
    for c in range(min(rv, d)):
        pos += _ws_valid_before(g, win, fr * R + c, min(d - c, P))
    prow, pcol, wrow, wcol = pix[0], pix[1], win[0], win[1]
    for c in range(max(0, d - P + 1), min(rv, d + 1)):
        p = d - c
        w = fr * R + c
        if prow[p] + wrow[w] < H and pcol[p] + wcol[w] < W:
            if pos == q:
                return fr * per + R + d
            pos += 1
    return -1


@njit(cache=True)
def _ws_stream_apart(g, block, FH, EH, full):
    """:func:`_ws_reads_apart` within a column fold: whether any two reads of one word
    are at least ``block`` reads apart. Two reads of a word at window entries ``w`` and
    ``w + dw`` have ``dw = (a * S * FW + b * S) * CH`` for an output shift ``(a, b)``
    (``a > 0``, or ``a = 0 < b``), the later at pixel ``p - a * EW - b``, with at least
    ``floor(dw / R) - 1`` whole row folds between them. ``full`` is the fewest reads of
    a whole row fold when windows pass the image's edge (those folds must then make
    ``block`` reads), -1 when none does: a shift whose whole row folds of ``P x R``
    reads make ``block`` is passed over, the others take the least gap over every entry
    and pixel (a superset of the pairs that exist; read indices in closed form, see
    :func:`_ws_off`), unless a bound per entry (the anti-diagonals between the two
    reads) already makes ``block``. Work O(shifts x R x P)."""
    R = g[G_R]
    P, WN, CH, S, EW, FW = g[G_P], g[G_WN], g[G_CH], g[G_S], g[G_EW], g[G_FW]
    n_inner = ceil_div(WN, R)
    rv_last = WN - (n_inner - 1) * R
    ay, ax = (FH - 1) // S, (FW - 1) // S
    for a in range(ay + 1):
        for b in range(-ax, ax + 1):
            if a == 0 and b <= 0:
                continue
            dw = (a * S * FW + b * S) * CH
            if dw >= WN:
                continue
            if full >= 0:  # windows past the edge: whole row folds between only
                if (dw // R - 1) * full + 1 < block:
                    return False
                continue
            if (dw // R - 1) * P * R + 1 >= block:
                continue
            dp = a * EW + b
            for c1 in range(R):
                gap = (c1 + dw) // R
                c2 = c1 + dw - gap * R
                for k in range(1 if rv_last == R else 2):  # the later read's fold size
                    rv2 = R if k == 0 else rv_last
                    if c2 >= rv2:
                        continue
                    # a bound first: the later read's index less the earlier's is at
                    # least gap x P x R less the reads on the anti-diagonals between
                    # (one more for each of dp + c1 - c2), the entries before on one
                    # (< R) and, in a smaller last fold, its P x (R - rv2) fewer slots
                    if (gap * P * R - max(dp + c1 - c2, 0) * min(R, P) - R
                            - (R - rv2) * P) >= block:
                        continue
                    for p1 in range(max(0, dp), min(P, P + dp)):
                        if (gap * P * R + _ws_off(c2, p1 - dp, rv2, P)
                                - _ws_off(c1, p1, R, P)) < block:
                            return False
    return True


@njit(cache=True, inline="always")
def _ws_off(c, p, rv, P):
    """Reads before pixel ``p`` at entry ``c`` in a row fold of ``rv`` entries of a ws
    conv ifmap with no window past the edge: anti-diagonals ``d = p + c``, entries in
    order along one."""
    d = p + c
    return _tri(d) - _tri(d - rv) - _tri(d - P) + _tri(d - rv - P) + c - max(0, d - P + 1)


@njit(cache=True, inline="always")
def _ws_pos(fr, c, p, R, P, WN):
    """Read slot, in a column fold of a ws conv ifmap (its read index when no window
    passes the image's edge), of pixel ``p`` at entry ``c`` of row fold ``fr`` (window
    entry ``fr * R + c``): the row folds before hold ``P x R`` slots each
    (:func:`_ws_off`)."""
    return fr * P * R + _ws_off(c, p, min(R, WN - fr * R), P)


# state of a conv-ifmap replay (int64 vector); ``_DMIN`` is the shortest reuse distance,
# exact while it is at least ``block`` (the listing of :func:`_ws_prev_list` stops
# following it once one below ``block`` is found: only that comparison is used)
_SEG, _C, _CUTS, _LAST, _LAST_POS, _POS, _DMIN, _LAST_FOLD, _LAST_READ, _START = range(10)
#: fewest reads counted at once while no cut can fall among them, and the reads
#: grouped one by one at a time near a cut (:func:`_prev_walk`)
_CHUNK = 256
#: ``st[_LAST]`` while the last cut is known only by its fold and read (``_LAST_FOLD``,
#: ``_LAST_READ``); :func:`_conv_ifmap_replay` resolves it to a demand row at the end
_UNRESOLVED = -2
#: most im2col reads of one fold kept as an address list (int32) for the later folds
SEQ_MAX = 2**25
#: most read slots of one ws row fold listed once as a pattern (:func:`_walk_seq`)
_TEMPLATE_MAX = 2**16


@njit(cache=True)
def _walk(g, fc_lo, fc_hi, pix, win, stamp, first, lastread, st, block, mode, target,
          rowreads):
    """Walk the im2col reads of column folds ``[fc_lo, fc_hi)`` in demand order.

    ``mode`` 0: group them (state ``st``); 1: also record every address's first and
    last read and the shortest reuse distance; 2: only count reads, and return the
    demand row of read number ``target`` of the walk (:func:`_walk_seq` lists the
    addresses instead). Mode 1 writes the reads of every demand row to ``rowreads``
    when it has room. Returns -1 otherwise.
    """
    rows_kept = mode == 1 and rowreads.size > 0
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    H, W = g[G_H], g[G_W]
    n_outer, n_inner, per, sr, sc, t = fold_grid(g)
    prow, pcol, pbase = pix[0], pix[1], pix[2]
    wrow, wcol, woff = win[0], win[1], win[2]
    # no window passes the image's edge: every im2col address is valid
    edge_free = prow[-1] + wrow[-1] < H and pcol[-1] + wcol[-1] < W
    pos = 0
    # the state in locals (the loop below stores to ``stamp`` every read)
    seg, cnt, cuts, last, last_pos, dmin = (st[_SEG], st[_C], st[_CUTS], st[_LAST],
                                            st[_LAST_POS], st[_DMIN])
    for fc in range(fc_lo, fc_hi):
        cv = min(C, sc - fc * C)
        for fr in range(n_inner):
            rv = min(R, sr - fr * R)
            cyc = (fc * n_inner + fr) * per
            if df == 2:  # stationary: rows R - rv .. R - 1 read cv pixels at window w
                j_lo, j_hi = R - rv, R
            elif df == 0:
                j_lo, j_hi = 0, t + rv - 1
            else:
                j_lo, j_hi = R, R + t + rv - 1
            for j in range(j_lo, j_hi):
                if df == 2:
                    c0, c1 = 0, cv
                else:
                    lag = 0 if df == 0 else R
                    c0, c1 = max(0, j - lag - t + 1), min(rv, j - lag + 1)
                if mode == 2 and edge_free:  # every read of the row is valid
                    if pos + c1 - c0 > target:
                        return cyc + j
                    pos += c1 - c0
                    continue
                pos_row = pos
                # (p, w) = (p0 + dp * e, w0 + dw * e) along the row
                if df == 0:
                    p0, dp, w0, dw = fr * R, 1, j, -1
                elif df == 1:
                    p0, dp, w0, dw = j - R, -1, fr * R, 1
                else:
                    p0, dp, w0, dw = fc * C, 1, fr * R + R - 1 - j, 0
                p = p0 + dp * c0
                w = w0 + dw * c0
                for _ in range(c0, c1):
                    p += dp
                    w += dw
                    if prow[p - dp] + wrow[w - dw] >= H or pcol[p - dp] + wcol[w - dw] >= W:
                        continue
                    if mode == 2:
                        if pos == target:
                            return cyc + j
                        pos += 1
                        continue
                    a = pbase[p - dp] + woff[w - dw]
                    if mode == 1:
                        if lastread[a] >= 0:
                            dmin = min(dmin, pos - lastread[a])
                        else:
                            first[a] = pos
                        lastread[a] = pos
                    # branch-free: whether a word is new in the segment is unpredictable
                    cnt += stamp[a] != seg
                    stamp[a] = seg
                    if cnt == block:
                        cuts += 1
                        seg += 1
                        cnt = 0
                        last = cyc + j
                        last_pos = pos
                    pos += 1
                if rows_kept:
                    rowreads[cyc + j] = pos - pos_row
    st[_SEG], st[_C], st[_CUTS], st[_LAST], st[_LAST_POS], st[_DMIN] = (seg, cnt, cuts, last,
                                                                        last_pos, dmin)
    st[_POS] = pos
    return -1


@njit(cache=True)
def _walk_seq(g, pix, win, seq, rowreads):
    """The im2col addresses of column fold 0 (os, ws) in :func:`_walk`'s demand order
    into ``seq``, and the reads of every demand row into ``rowreads``. Returns the
    number of reads. The edge test is left out where no window passes the edge; a ws
    layer's whole row folds are then written from one pattern of slots (at most
    :data:`_TEMPLATE_MAX`), listed once."""
    df = g[G_DF]
    R = g[G_R]
    H, W = g[G_H], g[G_W]
    n_outer, n_inner, per, sr, sc, t = fold_grid(g)
    prow, pcol, pbase = pix[0], pix[1], pix[2]
    wrow, wcol, woff = win[0], win[1], win[2]
    edge_free = prow[-1] + wrow[-1] < H and pcol[-1] + wcol[-1] < W
    lag = 0 if df == 0 else R
    # ws, no window past the edge: every whole row fold reads the same (pixel, entry)
    # pattern, listed once (anti-diagonals of a few reads cost more than their reads)
    templ = df == 1 and edge_free and t * R <= _TEMPLATE_MAX and sr >= R
    n_slots = t * R if templ else 0
    tp = np.empty(n_slots, np.int64)
    tw = np.empty(n_slots, np.int64)
    k = 0
    for j in range(R, R + t + R - 1) if templ else range(0):
        for c in range(max(0, j - R - t + 1), min(R, j - R + 1)):
            tp[k] = j - R - c
            tw[k] = c
            k += 1
    pos = 0
    for fr in range(n_inner):
        rv = min(R, sr - fr * R)
        cyc = fr * per
        if templ and rv == R:
            w0 = fr * R
            for k in range(n_slots):
                seq[pos + k] = pbase[tp[k]] + woff[w0 + tw[k]]
            pos += n_slots
            if rowreads.size > 0:
                for j in range(R, R + t + R - 1):
                    rowreads[cyc + j] = min(R, j - R + 1) - max(0, j - R - t + 1)
            continue
        for j in range(lag, lag + t + rv - 1):
            c0, c1 = max(0, j - lag - t + 1), min(rv, j - lag + 1)
            pos_row = pos
            if df == 0:
                p, dp, w, dw = fr * R + c0, 1, j - c0, -1
            else:
                p, dp, w, dw = j - R - c0, -1, fr * R + c0, 1
            if edge_free:
                for _ in range(c0, c1):
                    seq[pos] = pbase[p] + woff[w]
                    pos += 1
                    p += dp
                    w += dw
            else:
                for _ in range(c0, c1):
                    if prow[p] + wrow[w] < H and pcol[p] + wcol[w] < W:
                        seq[pos] = pbase[p] + woff[w]
                        pos += 1
                    p += dp
                    w += dw
            if rowreads.size > 0:
                rowreads[cyc + j] = pos - pos_row
    return pos


@njit(cache=True)
def _seq_first(seq, n, first, lastread, st):
    """Column fold 0, given as its address list ``seq[:n]`` (:func:`_walk_seq`): note
    every address's first and last read and the shortest reuse distance
    (``st[_DMIN]``), and replace each entry of ``seq`` by the index of the same
    address's previous read in the fold (-1 for its first read, see
    :func:`_prev_of_first`), for :func:`_prev_walk`. Two passes (addresses, then
    this) run faster than one."""
    dmin = st[_DMIN]
    for pos in range(n):
        seq[pos], dmin = _note_read(seq[pos], pos, first, lastread, dmin)
    st[_DMIN] = dmin
    st[_POS] = n


@njit(cache=True, inline="always")
def _note_read(a, pos, first, lastread, dmin):
    """Note read ``pos`` of word ``a`` in ``first`` and ``lastread``; returns ``(its
    previous read or -1, dmin lowered to the reuse distance)``."""
    q = lastread[a]
    if q >= 0:
        dmin = min(dmin, pos - q)
    else:
        first[a] = pos
    lastread[a] = pos
    return q, dmin


@njit(cache=True)
def _ws_diagonals(g, fr, rv, d_lo, d_hi, pix, win, prev, first, lastread, pos, dmin, rowreads,
                  rec):
    """:func:`_ws_prev_list` read by read over anti-diagonals ``[d_lo, d_hi)`` of row fold
    ``fr`` (``rv`` entries): each read's address, its previous read (``lastread``), first
    reads and the shortest reuse distance. Writes the addresses to ``rec`` when it has
    room. Returns ``(pos, dmin)``."""
    R, H, W, P = g[G_R], g[G_H], g[G_W], g[G_P]
    prow, pcol, pbase = pix[0], pix[1], pix[2]
    wrow, wcol, woff = win[0], win[1], win[2]
    w0 = fr * R
    row0 = fr * (P + 2 * R + g[G_C] - 2) + R  # demand row of anti-diagonal 0
    pos0 = pos
    for d in range(d_lo, d_hi):
        pos_row = pos
        for c in range(max(0, d - P + 1), min(rv, d + 1)):
            p = d - c
            if prow[p] + wrow[w0 + c] < H and pcol[p] + wcol[w0 + c] < W:
                a = pbase[p] + woff[w0 + c]
                prev[pos], dmin = _note_read(a, pos, first, lastread, dmin)
                if pos - pos0 < rec.size:
                    rec[pos - pos0] = a
                pos += 1
        if rowreads.size > 0:
            rowreads[row0 + d] = pos - pos_row
    return pos, dmin


@njit(cache=True)
def _ws_bottom(g, win, fr, rv):
    """First anti-diagonal of ws row fold ``fr`` (``rv`` entries) with a window past
    the image's bottom edge, at most ``P``."""
    R, H, S, EW = g[G_R], g[G_H], g[G_S], g[G_EW]
    d_hi = g[G_P]
    for c in range(rv):
        need = H - win[0, fr * R + c]
        oy = (need + S - 1) // S if need > 0 else 0  # first output row past it
        d_hi = min(d_hi, oy * EW + c)
    return d_hi


@njit(cache=True)
def _ws_periodic(g, win):
    """Whether most reads of a ws conv ifmap's column fold lie in periods that
    :func:`_ws_prev_list` copies (else the read-by-read list is faster)."""
    R, EW, P = g[G_R], g[G_EW], g[G_P]
    sr = g[G_WN]
    if R <= g[G_CH]:  # a row fold reads every word once: each read would be looked up
        return False
    copied = 0
    slots = 0
    for fr in range(ceil_div(sr, R)):
        rv = min(R, sr - fr * R)
        copied += max(0, _ws_bottom(g, win, fr, rv) - (rv - 1 + EW)) * rv
        slots += P * rv
    return 2 * copied >= slots


@njit(cache=True)
def _ws_prev_list(g, pix, win, prev, first, lastread, st, rowreads, block):
    """Column fold 0 of a ws conv ifmap as :func:`_seq_first` leaves it after
    :func:`_walk_seq` (the index of each read's previous read of the same word in
    ``prev``, first and last reads, reads per demand row; the shortest reuse distance
    while at least ``block``), without listing every address. Returns the number of
    reads.

    Row fold ``fr`` reads pixel ``p = d - c`` at window entry ``fr * R + c`` on
    anti-diagonal ``d``, entries in order. Where every entry of an anti-diagonal is
    read and no window passes the image's bottom edge (``rv - 1 <= d < d_hi``), the
    reads of anti-diagonals ``d .. d + EW - 1`` (one output row of pixels) are those
    of the ``EW`` before, ``L`` reads later, at addresses ``S x W x CH`` higher. So
    from ``d = rv - 1 + EW`` on, read ``i`` is read ``i - L`` shifted: when the
    latter's previous read ``q`` lies on or past anti-diagonal ``rv - 1`` (index
    ``A``), ``prev[i] = q + L`` (the reads between them shift alike); else no read of
    the word came since ``A + L`` and ``prev[i]`` is its last read before that. A
    period is one shifted copy, a look-up of the reads whose ``q < A`` (a set that
    only shrinks from one period to the next) and a store of the last read of each
    word read in it (the same offsets each period). The rest (the first ``rv - 1 +
    EW`` anti-diagonals and those past ``d_hi``) is read by read. Work O(reads) with
    O(1) per shifted read; memory three int64 per read slot of one period (``EW x
    min(R, WN)`` slots, at most half the fold's ``P x WN`` when a period repeats)
    beyond the arguments."""
    R, W, CH, S, EW, P = g[G_R], g[G_W], g[G_CH], g[G_S], g[G_EW], g[G_P]
    n_outer, n_inner, per, sr, sc, t = fold_grid(g)
    shift = S * W * CH  # address step of one output row
    dmin = st[_DMIN]
    pos = 0
    slots = EW * min(R, sr)  # most reads of one period
    addr0 = np.empty(slots, np.int64)  # addresses of the first period
    diag0 = np.empty(EW, np.int64)  # its reads per anti-diagonal
    look = np.empty(slots, np.int64)  # offsets looked up
    lastm = np.empty(slots, np.int64)  # offsets of the last read of a word in a period
    none = np.empty(0, np.int64)
    for fr in range(n_inner):
        rv = min(R, sr - fr * R)
        row0 = fr * per + R
        d_hi = _ws_bottom(g, win, fr, rv)
        lo = rv - 1 + EW
        if d_hi <= lo:  # no whole period to copy
            pos, dmin = _ws_diagonals(g, fr, rv, 0, P + rv - 1, pix, win, prev, first,
                                      lastread, pos, dmin, rowreads, none)
            continue
        pos, dmin = _ws_diagonals(g, fr, rv, 0, rv - 1, pix, win, prev, first, lastread, pos,
                                  dmin, rowreads, none)
        A = pos
        for d in range(rv - 1, lo):
            pos_d = pos
            pos, dmin = _ws_diagonals(g, fr, rv, d, d + 1, pix, win, prev, first, lastread,
                                      pos, dmin, rowreads, addr0[pos - A:])
            diag0[d - (rv - 1)] = pos - pos_d
        L = pos - A
        nl = 0
        nm = 0
        for m in range(L):
            if prev[A + m] < A:
                look[nl] = m
                nl += 1
            if lastread[addr0[m]] == A + m:
                lastm[nm] = m
                nm += 1
        nd = d_hi - lo
        periods = nd // EW
        tail = 0
        for k in range(nd - periods * EW):
            tail += diag0[k]
        for k in range(1, periods + 2):
            hi = L if k <= periods else tail
            if hi == 0:
                break
            i0 = A + k * L
            src = prev[i0 - L:i0 - L + hi]
            dst = prev[i0:i0 + hi]
            for m in range(hi):
                dst[m] = src[m] + L
            step = k * shift
            if hi < L:  # a partial last period: the offsets before hi
                n_in = 0
                while n_in < nl and look[n_in] < hi:
                    n_in += 1
                nl = n_in
            dropped = False
            for j in range(nl):
                m = look[j]
                a = addr0[m] + step
                q = lastread[a]
                dst[m] = q
                if q < 0:
                    first[a] = i0 + m
                dropped |= q >= A
            if dmin >= block:  # the distances matter only until one is below block
                for j in range(nl):
                    m = look[j]
                    if dst[m] >= 0:
                        dmin = min(dmin, i0 + m - dst[m])
            if dropped:  # looked up again next period only while before A
                kept = 0
                for j in range(nl):
                    if dst[look[j]] < A:
                        look[kept] = look[j]
                        kept += 1
                nl = kept
            if hi == L:
                for j in range(nm):
                    m = lastm[j]
                    lastread[addr0[m] + step] = i0 + m
            else:
                for m in range(hi):
                    lastread[addr0[m] + step] = i0 + m
        if rowreads.size > 0:
            k = 0
            for d in range(lo, d_hi):
                rowreads[row0 + d] = diag0[k]
                k = k + 1 if k < EW - 1 else 0
        pos = A + L + periods * L + tail
        pos, dmin = _ws_diagonals(g, fr, rv, d_hi, P + rv - 1, pix, win, prev, first, lastread,
                                  pos, dmin, rowreads, none)
    st[_DMIN] = dmin
    st[_POS] = pos
    return pos


@njit(cache=True)
def _row_of(g, q, pix, win, stamp, first, lastread, st, block, rowreads):
    """Demand row of read ``q`` of column fold 0 (its reads per row in ``rowreads``
    when kept, else walked again)."""
    if rowreads.size == 0:
        return _walk(g, 0, 1, pix, win, stamp, first, lastread, st, block, 2, q, rowreads)
    row = 0
    pos = 0
    while pos + rowreads[row] <= q:
        pos += rowreads[row]
        row += 1
    return row


@njit(cache=True)
def _prev_of_first(prev, n, first, lastread):
    """Make ``prev`` (from :func:`_seq_first`) hold, at an address's first read of a
    fold, its last read in the fold before, counted from this fold's start (< 0)."""
    for a in range(first.size):
        if first[a] >= 0:
            prev[first[a]] = lastread[a] - n


@njit(cache=True)
def _prev_walk(prev, n, st, block, fold):
    """Group one column fold's reads (the same addresses in every column fold of os
    and ws), given as ``prev[:n]``, the index of each read's address's previous read
    counted from the fold's start: a read groups a new word when that read came
    before the running segment's start. A run of reads too short to complete the
    block (at least :data:`_CHUNK`) is counted at once, the rest read by read up to
    the cut; a cut is noted by its fold and read."""
    cnt, cuts, start = st[_C], st[_CUTS], st[_START]
    pos = 0
    while pos < n:
        far = block - 1 - cnt  # reads that cannot complete the block (one word each)
        if far >= _CHUNK:  # counted at once (a view: the loop then vectorises)
            run = prev[pos:min(pos + far, n)]
            k = 0
            for i in range(run.size):
                k += run[i] < start
            cnt += k
            pos += run.size
            continue
        end = min(pos + _CHUNK, n)
        for i in range(pos, end):
            cnt += prev[i] < start
            if cnt == block:
                cuts += 1
                cnt = 0
                start = i + 1
                st[_LAST] = _UNRESOLVED
                st[_LAST_FOLD] = fold
                st[_LAST_READ] = i
                st[_LAST_POS] = i
                end = i + 1
                break
        pos = end
    st[_C], st[_CUTS], st[_START] = cnt, cuts, start - n


@njit(cache=True)
def _conv_pixels_windows(g):
    """Rows, columns and address offsets of a conv layer's output pixels (``pix``, the
    window's top-left corner) and window entries (``win``): im2col read ``(p, w)`` is
    word ``pix[2, p] + win[2, w]``, inside the image while ``pix[0, p] + win[0, w] < H``
    and ``pix[1, p] + win[1, w] < W``."""
    P, WN, W, CH, S, EW = g[G_P], g[G_WN], g[G_W], g[G_CH], g[G_S], g[G_EW]
    pix = np.empty((3, P), np.int64)
    p = 0
    for oy in range(ceil_div(P, EW)):  # one loop, no temporaries
        for ox in range(min(EW, P - p)):
            pix[0, p] = oy * S
            pix[1, p] = ox * S
            pix[2, p] = (oy * S * W + ox * S) * CH
            p += 1
    FW = g[G_FW]
    win = np.empty((3, WN), np.int64)
    w = 0
    for ky in range(ceil_div(WN, FW * CH)):
        for kx in range(FW):
            for ch in range(CH):
                if w < WN:
                    win[0, w] = ky
                    win[1, w] = kx
                    win[2, w] = (ky * W + kx) * CH + ch
                    w += 1
    return pix, win


@njit(cache=True)
def _conv_ifmap_replay(g, block, limit):
    """Groupings and the demand row of the last cut (-1) of a conv ifmap, replayed.

    The im2col stream is read once per column fold (os, ws; once in all for is).
    The first fold also measures the shortest reuse distance (within a fold and
    from one fold to the next): when no address comes back within ``block`` reads,
    every read groups a new word and the rest follows in closed form. Otherwise,
    after the first fold, the state at a fold's start is the position of the
    previous fold's last cut; once a position repeats, whole periods are jumped.
    The first fold is listed once (up to :data:`SEQ_MAX` reads): by periods where a
    ws fold's reads mostly repeat output row by output row (:func:`_ws_prev_list`),
    else read by read. Returns ``(-1, -1)`` once more than ``limit`` reads would be walked.
    The ws proof that every reuse is a block away (:func:`_ws_reads_apart`) runs first;
    its steps are at most 4 x ``P x WN`` (checked against ``limit`` before) plus about
    ``4 x (CH / R + 2)`` per ifmap pixel (whose tables ``replay_needs`` counts).
    """
    df = g[G_DF]
    H, W, CH = g[G_H], g[G_W], g[G_CH]
    P, WN = g[G_P], g[G_WN]
    n_outer, n_inner, per, sr, sc, t = fold_grid(g)
    scans = n_outer if df != 2 else 1
    if P * WN > min(limit, 2**31 - 2):  # read positions and segments fit int32
        return -1, -1  # (calc_read_fields refuses these up front: replay_needs)
    pix, win = _conv_pixels_windows(g)
    fold_reads = np.zeros(n_inner, np.int64)
    nv = _ws_reads_apart(g, block, fold_reads) if scans > 1 else -1
    if nv > 0:  # every read groups a new word
        total = scans * nv
        q = (total // block) * block - 1  # read index of the last cut
        s = q // nv
        return total, _ws_row_of(g, q - s * nv, fold_reads, pix, win) + s * n_inner * per
    track = scans > 1
    first = np.full(H * W * CH if track else 1, -1, np.int32)
    lastread = np.full(H * W * CH if track else 1, -1, np.int32)
    st = np.zeros(10, np.int64)
    seq = np.empty(P * WN if track and P * WN <= SEQ_MAX else 0, np.int32)
    n_rows = n_inner * per
    rowreads = np.zeros(n_rows + 1 if track and n_rows <= SEQ_MAX else 0, np.int64)
    stamp = np.zeros(H * W * CH if seq.size == 0 else 1, np.int32)  # for _walk's grouping
    st[_SEG] = 1
    st[_LAST] = -1
    st[_DMIN] = np.iinfo(np.int64).max
    if seq.size > 0:  # the addresses first (grouped below, unless in closed form)
        if df == 1 and _ws_periodic(g, win):
            _ws_prev_list(g, pix, win, seq, first, lastread, st, rowreads, block)
        else:
            _seq_first(seq, _walk_seq(g, pix, win, seq, rowreads), first, lastread, st)
    else:
        _walk(g, 0, 1 if df != 2 else n_outer, pix, win, stamp, first, lastread, st, block,
              1 if track else 0, 0, rowreads)
    nv = st[_POS]  # reads of one fold's walk
    if scans > 1:
        if st[_DMIN] >= block:  # else known to be below block already
            dmin = st[_DMIN]
            for a in range(H * W * CH):
                if first[a] >= 0:
                    dmin = min(dmin, nv - lastread[a] + first[a])
            st[_DMIN] = dmin
        if st[_DMIN] >= block:  # every read groups a new word: a cut every block reads
            total = scans * nv
            q = (total // block) * block - 1  # read index of the last cut
            last = st[_LAST]  # the walk's last cut (in fold 0); the list is not grouped
            if q >= nv or seq.size > 0:
                s = q // nv
                last = (_row_of(g, q - s * nv, pix, win, stamp, first, lastread, st, block,
                                rowreads) + s * n_inner * per)
            return total, last
        if seq.size > 0:
            _prev_walk(seq, nv, st, block, 0)
            _prev_of_first(seq, nv, first, lastread)
    keys = np.full(scans + 1, -2, np.int64)
    cuts_at = np.zeros(scans + 1, np.int64)
    work = P * WN
    jumped = False
    s = 1
    while s < scans:
        if not jumped:
            keys[s] = st[_LAST_POS]
            cuts_at[s] = st[_CUTS]
            for s0 in range(1, s):
                if keys[s0] == st[_LAST_POS] and st[_LAST_POS] >= 0:
                    p = s - s0
                    jumps = (scans - s) // p
                    if jumps > 0:
                        st[_CUTS] += jumps * (st[_CUTS] - cuts_at[s0])
                        if st[_LAST] == _UNRESOLVED:
                            st[_LAST_FOLD] += jumps * p
                        else:
                            st[_LAST] += jumps * p * n_inner * per
                        s += jumps * p
                    jumped = True
                    break
            if s >= scans:
                break
        work += P * WN
        if work > limit:
            return -1, -1
        st[_LAST_POS] = -1
        if seq.size > 0:
            _prev_walk(seq, nv, st, block, s)
        else:
            _walk(g, s, s + 1, pix, win, stamp, first, lastread, st, block, 0, 0, rowreads)
        s += 1
    if st[_LAST] == _UNRESOLVED:
        # fold s reads as fold 0 does, n_inner * per rows later
        st[_LAST] = (_row_of(g, st[_LAST_READ], pix, win, stamp, first, lastread, st, block,
                             rowreads) + st[_LAST_FOLD] * n_inner * per)
    return st[_CUTS] * block + st[_C], st[_LAST]


@njit(cache=True)
def _read_kernel(G, blocks, items, firsts, limit, out):
    """out[i, op] = (reads, start, stop) of operand op of element i."""
    for i in range(G.shape[0]):
        _read_one(G, blocks, items, firsts, limit, out, i)


@njit(cache=True)
def _read_one(G, blocks, items, firsts, limit, out, i):
    """:func:`_read_kernel` for element ``i``."""
    g = G[i]
    for op in range(2):
        block = blocks[i, op]
        it = items[i, op]
        if op == 1 or g[G_DENSE] == 1:
            words = g[G_P] * g[G_WN] if op == 0 else g[G_WN] * g[G_NF]
        else:
            oh = ceil_div(g[G_P], g[G_EW])
            words = (_covered(g[G_H], g[G_WN] // (g[G_FW] * g[G_CH]), g[G_S], oh)
                     * _covered(g[G_W], g[G_FW], g[G_S], g[G_EW]) * g[G_CH])
        if words < block:  # no cut: everything is fetched at the end, before cycle -1
            out[i, op, 0] = words
            out[i, op, 1] = -ceil_div(ceil_div(words, it) * it, CALC_READ_BW)
            out[i, op, 2] = -1
            continue
        if op == 1 or g[G_DENSE] == 1:
            n, last = _dense_cuts(g, op, block)
            row = _read_row(g, op, last)
        else:
            n, row = _conv_ifmap_replay(g, block, limit)
            if n < 0:
                out[i, op, 0] = -1
                continue
        out[i, op, 0] = n
        out[i, op, 1] = firsts[i, op] - ceil_div(block, CALC_READ_BW)
        out[i, op, 2] = row + 1


def covered_lines(size, filt, stride, out):
    """:func:`_covered` in closed form, over arrays: the ifmap lines that ``out``
    windows of ``filt`` lines at ``stride`` cover in ``size`` lines. Windows that
    overlap or touch (``filt >= stride``) cover ``[0, (out - 1) x stride + filt)``;
    else each window inside the image covers ``filt`` lines and the first one past
    the edge the lines left (those after it start past the edge)."""
    size, filt, stride, out = (np.asarray(v, np.int64) for v in (size, filt, stride, out))
    union = np.minimum(size, (out - 1) * stride + filt)
    inside = np.clip((size - filt) // stride + 1, 0, out)  # windows wholly inside
    tail = np.where(out > inside, np.maximum(size - inside * stride, 0), 0)
    return np.where(filt >= stride, union, inside * filt + tail)


def replay_needs(G, ifmap_kb):
    """What the CALC-mode replay of each element's ifmap needs, in closed form, before
    any of it runs: ``(reads, nbytes)``, the im2col reads of one column fold (``P x
    WN``, the least a replay walks; float64) and a bound on the memory of its arrays
    (bytes, float64: 24 per output pixel and window entry, 12 per ifmap word, the
    first fold's address list and demand rows while kept, the ws proofs' tables).
    Both are 0 where nothing is replayed: GEMMs, dense conv layers (1x1 filters at
    stride 1) and conv ifmaps of fewer distinct words than the estimate buffer's
    ``block`` (closed form). ``G``: geometry vectors (n, 13); ``ifmap_kb``: kB, a
    scalar or n values."""
    G = np.asarray(G, dtype=np.int64)
    n = G.shape[0]
    reads = np.zeros(n)
    nbytes = np.zeros(n)
    conv = np.flatnonzero(G[:, G_DENSE] == 0)
    if conv.size == 0:
        return reads, nbytes
    g = G[conv]
    kb = np.broadcast_to(np.asarray(ifmap_kb, dtype=np.int64), (n,))[conv]
    block = SETS_HALF * (kb * WORDS_PER_KB // 100)
    P, WN, NF, H, W, FW, CH, S, EW, R, C, df = (
        g[:, k].astype(np.float64) for k in (G_P, G_WN, G_NF, G_H, G_W, G_FW, G_CH, G_S,
                                              G_EW, G_R, G_C, G_DF))
    gi = {k: g[:, k] for k in (G_P, G_WN, G_H, G_W, G_FW, G_CH, G_S, G_EW)}
    FHi = gi[G_WN] // (gi[G_FW] * gi[G_CH])
    words = (covered_lines(gi[G_H], FHi, gi[G_S], -(-gi[G_P] // gi[G_EW]))
             * covered_lines(gi[G_W], gi[G_FW], gi[G_S], gi[G_EW]) * gi[G_CH]).astype(np.float64)
    FH = FHi.astype(np.float64)
    sr = np.where(df == 0, P, WN)
    sc = np.where(df == 2, P, NF)
    t = np.choose(g[:, G_DF], [WN, P, NF])
    n_rows = np.ceil(sr / R) * (t + np.where(df == 0, R, 2 * R) + C - 2)
    scans = np.where(df != 2, np.ceil(sc / C), 1.0)
    track = scans > 1
    im2col = P * WN
    image = H * W * CH
    listed = track & (im2col <= SEQ_MAX)  # the first fold kept as an address list
    ws = (df == 1) & (R <= CH) & track  # the block-apart proof's tables
    need = (24 * (P + WN) + 16 * np.ceil(sr / R) + 16 * scans + 2**21
            + np.where(track, 8 * image, 8.0)  # first and last read of each word
            + np.where(listed, 4 * im2col, 4 * image)  # the list, else a stamp a word
            + np.where(track & (n_rows <= SEQ_MAX), 8 * (n_rows + 1), 0.0)
            + np.where(listed & (df == 1), 8 * (3 * EW * np.minimum(R, sr) + EW), 0.0)
            + np.where(ws, 48 * (H + W) + 24 * (FH * FW + FH + FW), 0.0))
    replayed = words >= block
    reads[conv] = np.where(replayed, im2col, 0.0)
    nbytes[conv] = np.where(replayed, need, 0.0)
    return reads, nbytes


def check_replay(G, ifmap_kb, work_limit, limit_name="work_limit", memory_limit=2**33,
                 memory_name="memory_limit", first_element=0):
    """Refuse, before any work, the elements whose ifmap replay (:func:`replay_needs`)
    would walk more than ``work_limit`` im2col reads in one column fold (or more
    than 2^31 - 2, the int32 read positions) or need more than ``memory_limit``
    bytes: ``ValueError`` naming the limit (``limit_name``, ``memory_name``) and the
    element (numbered from ``first_element``). O(elements), closed form."""
    G = np.asarray(G, dtype=np.int64)
    reads, nbytes = replay_needs(G, ifmap_kb)
    over = np.flatnonzero(reads > min(work_limit, 2**31 - 2))
    if over.size:
        at = int(over[0])
        exact = int(G[at, G_P]) * int(G[at, G_WN])  # Python ints: no overflow
        raise ValueError(f"CALC-mode ifmap replay of element {at + first_element} walks "
                         f"{exact} im2col reads a column fold, more than "
                         f"{limit_name} = {work_limit}")
    over = np.flatnonzero(nbytes > memory_limit)
    if over.size:
        at = int(over[0])
        raise ValueError(f"CALC-mode ifmap replay of element {at + first_element} needs "
                         f"{nbytes[at]:.3g} bytes of memory, more than {memory_name} = "
                         f"{memory_limit}")


def calc_read_fields(G, ifmap_kb, filter_kb, first_ifmap, first_filter, work_limit=2 * 10**9,
                     limit_name="work_limit", first_element=0, memory_limit=2**33,
                     memory_name="memory_limit"):
    """CALC-mode DRAM fields of the ifmap and filter read buffers, exact (SCALE-Sim 3.0.0).

    Parameters
    ----------
    G : ndarray (n, 13) int64
        Geometry vectors (:func:`~airchitect.targets.systolic.geometry.gemm_geometry`,
        :func:`~airchitect.targets.systolic.geometry.conv_geometry`).
    ifmap_kb, filter_kb : int or array_like of int
        SRAM sizes, kB.
    first_ifmap, first_filter : array_like of int
        Cycle of each operand's first SRAM request (the compute model's
        ``first_request_cycle_*``).
    work_limit : int
        Most im2col reads the replay of one conv ifmap may walk (about 1-3 ns
        each); a layer past it raises ``ValueError`` naming ``limit_name`` and the
        element (numbered from ``first_element``). A layer whose first column fold
        alone is past it is refused before any work (:func:`check_replay`).
    memory_limit : int
        Most bytes the replay of one conv ifmap may hold (:func:`replay_needs`);
        past it ``ValueError`` naming ``memory_name``, before any work.

    Returns
    -------
    dict of str -> ndarray (n,) int64
        ``dram_{ifmap,filter}_{reads,start_cycle,stop_cycle}`` (words, cycles).
    """
    G = np.ascontiguousarray(G, dtype=np.int64)
    n = G.shape[0]
    check_replay(G, ifmap_kb, work_limit, limit_name, memory_limit, memory_name, first_element)
    kb = np.empty((n, 2), np.int64)  # filled by broadcasting (a scalar or n values)
    kb[:, 0] = ifmap_kb
    kb[:, 1] = filter_kb
    firsts = np.empty((n, 2), np.int64)
    firsts[:, 0] = first_ifmap
    firsts[:, 1] = first_filter
    items = kb * WORDS_PER_KB // 100
    out = np.empty((n, 2, 3), np.int64)
    _read_kernel(G, SETS_HALF * items, items, firsts, int(work_limit), out)
    if out[:, 0, 0].min(initial=0) < 0:
        at = int(np.flatnonzero(out[:, 0, 0] < 0)[0]) + first_element
        raise ValueError(f"CALC-mode ifmap replay of element {at} walks more im2col reads "
                         f"than {limit_name} = {work_limit}")
    res = {}
    for op, name in enumerate(("ifmap", "filter")):
        res[f"dram_{name}_reads"] = out[:, op, 0]
        res[f"dram_{name}_start_cycle"] = out[:, op, 1]
        res[f"dram_{name}_stop_cycle"] = out[:, op, 2]
    return res

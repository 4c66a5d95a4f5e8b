"""Convolution layers in SCALE-Sim's conv topology format, mapped as SCALE-Sim maps them.

A layer ``(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters,
stride)`` (one stride for both directions, no padding, batch 1) becomes the
GEMM of ``scalesim/compute/operand_matrix.py``:

* ``ofmap_h = ceil((ifmap_h - filter_h + stride) / stride)``, likewise
  ``ofmap_w`` (``topology_utils.topo_calc_hyperparams``);
* ``M = ofmap_h * ofmap_w`` (IFMAP operand rows), ``K = filter_h * filter_w *
  channels`` (the window), ``N = num_filters``.

Cycle counts and SRAM access counts are those of the GEMM. Two things
differ: CALC mode's read buffer counts distinct IFMAP words
(:func:`valid_ifmap_words`), and where ``(ifmap - filter) % stride != 0`` the
``ceil`` above places the last windows partly past the IFMAP edge; those
window elements get the empty address -1, which can move the IFMAP SRAM stop
cycle (:func:`last_ifmap_rows`).
"""

from __future__ import annotations

import numba
import numpy as np

from airchitect._checks import INT_MAX, check_int_array
from airchitect.targets.systolic.geometry import ofmap_dim, spatial_dims_one

CONV_FIELDS = ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters", "stride")


def check_conv(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride):
    """Validate conv layer fields; return them as int64 arrays (not broadcast)."""
    values = [check_int_array(name, value, 1, INT_MAX) for name, value in
              zip(CONV_FIELDS, (ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride))]
    ih, iw, fh, fw = np.broadcast_arrays(*values[:4])
    if (fh > ih).any():
        raise ValueError("filter_h must be an integer in [1, ifmap_h]")
    if (fw > iw).any():
        raise ValueError("filter_w must be an integer in [1, ifmap_w]")
    return values


def conv_gemm(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride):
    """SCALE-Sim's GEMM view of conv layers: ``(M, N, K, ifmap_words)``.

    ``ifmap_words`` is the number of distinct IFMAP words the windows touch.

    Examples
    --------
    >>> [int(v) for v in conv_gemm(56, 56, 3, 3, 64, 64, 1)]
    [2916, 64, 576, 200704]
    >>> [int(v) for v in conv_gemm(7, 7, 2, 2, 3, 5, 3)]
    [9, 5, 12, 75]
    """
    ih, iw, fh, fw, ch, nf, s = (np.asarray(v, dtype=np.int64) for v in
                                 (ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride))
    oh = ofmap_dim(ih, fh, s)
    ow = ofmap_dim(iw, fw, s)
    return oh * ow, nf, fh * fw * ch, valid_ifmap_words(ih, iw, fh, fw, ch, s)


def overflows(ifmap_h, ifmap_w, filter_h, filter_w, stride):
    """True where SCALE-Sim's ``ceil`` places the last windows past the IFMAP edge.

    That happens when ``(ifmap - filter) % stride != 0``; the window elements
    outside the IFMAP get the empty address -1 in SCALE-Sim's operand matrix.
    """
    return ((ifmap_h - filter_h) % stride != 0) | ((ifmap_w - filter_w) % stride != 0)


def valid_ifmap_words(ifmap_h, ifmap_w, filter_h, filter_w, channels, stride):
    """Distinct IFMAP words inside the IFMAP that some window touches.

    Per direction: ``min((o - 1) * s + f, size)`` for ``s <= f``; for ``s > f``
    the ``floor((size - f) / s) + 1`` whole windows give ``f`` each and a last,
    clipped window (when ``ceil`` adds one) gives ``max(0, size - (o - 1) * s)``.
    """
    def touched(size, f, s):
        o = ofmap_dim(size, f, s)
        whole = (size - f) // s + 1
        clipped = np.where(o > whole, np.maximum(0, size - (o - 1) * s), 0)
        return np.where(s <= f, np.minimum((o - 1) * s + f, size), whole * f + clipped)

    return touched(ifmap_h, filter_h, stride) * touched(ifmap_w, filter_w, stride) * channels


@numba.njit(cache=True)
def _valid(p, k, ow, ih, iw, fw, ch, s):
    orow = p // ow
    ocol = p - orow * ow
    kr = k // (fw * ch)
    kc = (k // ch) % fw
    return orow * s + kr < ih and ocol * s + kc < iw


@numba.njit(cache=True)
def _last_ifmap_rows(code, R, C, M, K, N, ih, iw, fw, ch, s, ow, out):
    """Demand row (global, before the read latency) of the last valid IFMAP address.

    Folds are scanned backwards (``fc`` outer, ``fr`` inner, as SCALE-Sim visits
    them); within a fold, os/ws place IFMAP element ``(t, c)`` at row ``t + c``
    (plus ``R`` for ws) and is places window element ``k`` of the flipped block at
    row ``R - 1 - k_local``.
    """
    for i in range(out.size):
        d, r, c = code[i], R[i], C[i]
        sr, sc, t_len = spatial_dims_one(d, M[i], N[i], K[i])
        rf = (sr + r - 1) // r
        cf = (sc + c - 1) // c
        per_fold = t_len + r + c - 2 + (r if d != 0 else 0)
        best = -1
        fold = rf * cf - 1
        while fold >= 0 and best < 0:
            fc = fold // rf
            fr = fold - fc * rf
            ru = min(r, sr - fr * r)
            cu = min(c, sc - fc * c)
            base = fold * per_fold
            if d == 2:
                for kl in range(ru):
                    hit = False
                    for pl in range(cu):
                        if _valid(fc * c + pl, fr * r + kl, ow[i], ih[i], iw[i], fw[i], ch[i], s[i]):
                            hit = True
                            break
                    if hit:
                        best = base + r - 1 - kl
                        break
            else:
                # the latest row first: anti-diagonals t + cl = k from the last one down
                lag = 0 if d == 0 else r
                for k in range(t_len + ru - 2, -1, -1):
                    for cl in range(max(0, k - t_len + 1), min(ru - 1, k) + 1):
                        t = k - cl
                        if d == 0:
                            ok = _valid(fr * r + cl, t, ow[i], ih[i], iw[i], fw[i], ch[i], s[i])
                        else:
                            ok = _valid(t, fr * r + cl, ow[i], ih[i], iw[i], fw[i], ch[i], s[i])
                        if ok:
                            best = base + lag + k
                            break
                    if best >= 0:
                        break
            fold -= 1
        out[i] = best


def last_ifmap_rows(code, R, C, M, N, K, ifmap_h, ifmap_w, filter_w, channels, stride):
    """Vectorised wrapper of :func:`_last_ifmap_rows` (all arguments broadcast)."""
    ow = ofmap_dim(ifmap_w, filter_w, stride)
    arrays = [np.ascontiguousarray(a, dtype=np.int64).ravel() for a in
              np.broadcast_arrays(code, R, C, M, K, N, ifmap_h, ifmap_w, filter_w, channels,
                                  stride, ow)]
    out = np.empty(arrays[0].size, np.int64)
    _last_ifmap_rows(*arrays, out)
    return out

"""How SCALE-Sim 3.0.0 maps a layer onto a systolic array: the one geometry of the package.

* the ``(Sr, Sc, T)`` mapping (:func:`spatial_dims`): os ``(M, N, K)``, ws
  ``(K, N, M)``, is ``(K, M, N)``;
* geometry vectors (:func:`gemm_geometry`, :func:`conv_geometry`): one int64 row
  per layer and array, its fields named by the ``G_*`` indices below, which the
  compiled memory models read;
* the fold grid (:func:`fold_grid`): ``ceil(Sc / cols)`` outer (column) folds,
  each of ``ceil(Sr / rows)`` inner (row) folds, ``T + R + C - 2`` demand rows per
  fold for os and ``T + 2R + C - 2`` for ws and is;
* what one demand row of a fold reads and writes (:func:`fold_span`,
  :func:`row_runs`), in the stacked prefetch matrices of
  :mod:`airchitect.targets.systolic.memory.prefetch`.

>>> [v.tolist() for v in spatial_dims(4, 5, 6, np.array([0, 1, 2]))]
[[4, 6, 6], [5, 5, 4], [6, 4, 5]]
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from airchitect._math import ceil_div


# fields of a geometry vector (int64), see geometry(): ofmap pixels, conv window, filters,
# ifmap height, width, filter width, channels, stride, ofmap width, array rows, cols,
# dataflow code, dense (1 where every ifmap address is distinct and present)
G_P, G_WN, G_NF, G_H, G_W, G_FW, G_CH, G_S, G_EW, G_R, G_C, G_DF, G_DENSE = range(13)


def spatial_dims(M, N, K, code):
    """Return ``(Sr, Sc, T)`` for dataflow codes ``code`` (0 os, 1 ws, 2 is)."""
    Sr = np.where(code == 0, M, K)
    Sc = np.where(code == 2, M, N)
    T = np.choose(code, [K, M, N])
    return Sr, Sc, T


@njit(cache=True, inline="always")
def spatial_dims_one(code, M, N, K):
    """:func:`spatial_dims` of one GEMM, for compiled loops: ``(Sr, Sc, T)``."""
    if code == 0:
        return M, N, K
    if code == 1:
        return K, N, M
    return K, M, N


def sram_counts(code, R, C, Sr, Sc, T):
    """SCALE-Sim's SRAM reads of IFMAP and filter and OFMAP writes (words), per dataflow.

    The streamed operand is read once per column fold; os writes ``R + C`` phantom
    OFMAP words per fold. Returns ``(ifmap_reads, filter_reads, ofmap_writes,
    valid_writes)``, ``valid_writes`` without the phantom words.
    """
    row_folds = ceil_div(Sr, R)
    col_folds = ceil_div(Sc, C)
    streamed = col_folds * T * Sr
    ifmap = np.where(code == 2, Sr * Sc, streamed)
    filt = np.where(code == 0, row_folds * T * Sc, np.where(code == 1, Sr * Sc, streamed))
    valid = np.where(code == 0, Sr * Sc, row_folds * T * Sc)
    ofmap = valid + np.where(code == 0, row_folds * col_folds * (R + C), 0)
    return ifmap, filt, ofmap, valid


def geometry_sram_counts(G):
    """:func:`sram_counts` of geometry vectors ``G`` (n, 13): ``(ifmap_reads,
    filter_reads, ofmap_writes)``, words."""
    code = G[:, G_DF]
    Sr, Sc, T = spatial_dims(G[:, G_P], G[:, G_NF], G[:, G_WN], code)
    return sram_counts(code, G[:, G_R], G[:, G_C], Sr, Sc, T)[:3]


def geometry_macs(G):
    """Multiply-accumulates of every geometry vector of ``G`` (n, 13)."""
    return G[:, G_P] * G[:, G_WN] * G[:, G_NF]


def geometry(P, Wn, Nf, ifmap_h, ifmap_w, filter_w, channels, stride, ofmap_w, rows, cols,
             dataflow_code, dense):
    """Stack the engine's geometry vectors, shape (n, 13) int64.

    ``P`` ofmap pixels, ``Wn`` conv window (filter_h * filter_w * channels),
    ``Nf`` filters; for a GEMM (M, N, K): P = M, Wn = K, Nf = N, a K-wide
    one-channel "image" of M rows. ``dense`` marks ifmap operand matrices whose
    addresses are all distinct and present (GEMMs).
    """
    cols_ = [np.asarray(c, dtype=np.int64) for c in
             (P, Wn, Nf, ifmap_h, ifmap_w, filter_w, channels, stride, ofmap_w, rows, cols,
              dataflow_code, dense)]
    shape = np.broadcast_shapes(*(c.shape for c in cols_))
    out = np.empty((math.prod(shape), len(cols_)), dtype=np.int64)
    for j, c in enumerate(cols_):  # each column written once, broadcast in place
        if c.shape == shape:
            out[:, j] = c.reshape(-1)
        elif c.ndim == 0:
            out[:, j] = c
        else:
            out[:, j] = np.broadcast_to(c, shape).reshape(-1)
    return out


def gemm_geometry(M, N, K, rows, cols, dataflow_code):
    """Geometry vectors of GEMMs as SCALE-Sim maps them (ifmap M x K, filter K x N)."""
    M = np.asarray(M, dtype=np.int64)
    K = np.asarray(K, dtype=np.int64)
    return geometry(M, K, N, M, K, K, 1, 1, 1, rows, cols, dataflow_code, 1)


def ofmap_dim(size, filt, stride):
    """Output pixels along one direction of a conv layer, as SCALE-Sim counts them:
    ``ceil((size - filt + stride) / stride)`` (the last window may pass the edge)."""
    return ceil_div(size - filt + stride, stride)


def conv_geometry(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, rows,
                  cols, dataflow_code):
    """Geometry vectors of conv layers in SCALE-Sim's topology format (no padding)."""
    ih, iw, fh, fw, ch, nf, s = (np.asarray(v, dtype=np.int64) for v in
                                 (ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters,
                                  stride))
    oh = ofmap_dim(ih, fh, s)
    ow = ofmap_dim(iw, fw, s)
    # 1x1 filters at stride 1 read every ifmap word once: the GEMM fast path applies
    dense = ((fh == 1) & (fw == 1) & (s == 1)).astype(np.int64)
    return geometry(oh * ow, fh * fw * ch, nf, ih, iw, fw, ch, s, ow, rows, cols,
                    dataflow_code, dense)


@njit(cache=True)
def fold_grid(g):
    """(outer folds, inner folds, rows per fold, Sr, Sc, T) in SCALE-Sim's order."""
    df = g[G_DF]
    R = g[G_R]
    C = g[G_C]
    if df == 0:
        sr, sc, t = g[G_P], g[G_NF], g[G_WN]
        per = t + R + C - 2
    elif df == 1:
        sr, sc, t = g[G_WN], g[G_NF], g[G_P]
        per = t + 2 * R + C - 2
    else:
        sr, sc, t = g[G_WN], g[G_P], g[G_NF]
        per = t + 2 * R + C - 2
    return ceil_div(sc, C), ceil_div(sr, R), per, sr, sc, t


@njit(cache=True)
def fold_span(g, rv, cv, t):
    """First and last rows of a fold that read ifmap, read filter and write ofmap,
    and the fold's ofmap words."""
    df = g[G_DF]
    R = g[G_R]
    o_lo, o_hi, words = 2 * R - 1, 2 * R + t + cv - 3, t * cv
    skew_lo, skew_hi, flat_lo, flat_hi = R, R + t + rv - 2, R - rv, R - 1
    if df == 0:
        return 0, t + rv - 2, 0, t + cv - 2, t - 1 + R - rv, t + R + cv - 3, rv * cv
    if df == 1:
        return skew_lo, skew_hi, flat_lo, flat_hi, o_lo, o_hi, words
    return flat_lo, flat_hi, skew_lo, skew_hi, o_lo, o_hi, words


@njit(cache=True, inline="always")
def skew_run(j, lag, t, valid):
    """Columns [c0, c1) of a skewed fold row ``j`` whose data rows start at ``lag``."""
    return max(0, j - lag - t + 1), min(valid, j - lag + 1)


@njit(cache=True)
def row_runs(g, fc, fr, j, rv, cv, t):
    """Demand of row ``j`` of fold (fc, fr): for ifmap and filter the stacked
    prefetch-matrix element (r, c) of the row's first word and the word count;
    and the number of ofmap writes."""
    df = g[G_DF]
    R = g[G_R]
    Wn = g[G_WN]
    ir = ic = fr_ = fcol = 0
    ni = nf = 0
    if df == 0:
        c0, c1 = skew_run(j, 0, t, rv)
        ni = c1 - c0
        ir, ic = fr * t + j - c0, c0
        c0, c1 = skew_run(j, 0, t, cv)
        nf = c1 - c0
        fr_, fcol = fc * t + j - c0, c0
        no = 0
        q0 = j - (t - 1)
        # writes at columns c < cv with q = q0 - c in [R - rv, R)
        no = max(0, min(cv - 1, q0 - (R - rv)) - max(0, q0 - R + 1) + 1)
    else:
        lo = j - 2 * R + 1
        no = max(0, min(cv, lo + 1) - max(0, lo - t + 1))
        c0, c1 = skew_run(j, R, t, rv)
        n_skew = c1 - c0
        r_skew = fr * t + j - c0 - R
        n_flat = 0
        r_flat = 0
        if j < R and R - 1 - j < rv:
            n_flat = cv
            r_flat = fc * Wn + fr * R + R - 1 - j
        if df == 1:
            ni, ir, ic = n_skew, r_skew, c0
            nf, fr_, fcol = n_flat, r_flat, 0
        else:
            ni, ir, ic = n_flat, r_flat, 0
            nf, fr_, fcol = n_skew, r_skew, c0
    return ir, ic, ni, fr_, fcol, nf, no

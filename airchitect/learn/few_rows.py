"""A :class:`~airchitect.learn.factorised.FactorisedNet`'s inference compiled, for calls of a few rows.

One query's proposal is about twenty small products; torch spends about 10 us
dispatching each, numpy about 1 us. :class:`FactorisedClassifier
<airchitect.learn.factorised.FactorisedClassifier>` runs calls of fewer than
:data:`FEW_ROWS` rows here: each row's trunk, heads and beam search, and the
scorer of its pairs, are one compiled call (numba; the products through BLAS),
float32 as torch does, with the same operations (the split head's array part
applied to every array embedding once, then gathered; the exact erf GELU), so
the values agree with torch's to float32 rounding (about 1e-6).

>>> import torch
>>> from airchitect.learn.factorised import FactorisedNet
>>> net = FactorisedNet(6, (4, 3), width=8, depth=1, embedding=2, scorer_width=4,
...                     n_pair_features=5).eval()
>>> x = torch.randn(2, 6)
>>> with torch.inference_mode():
...     joint = net(x).numpy()  # every label's log-probability
>>> labels, logp = proposals(weights(net), x.numpy(), np.ones((2, 4), bool), beam=4, k=12)
>>> bool(np.allclose(logp, np.take_along_axis(joint, labels, axis=1), atol=1e-5))
True
"""

from __future__ import annotations

import math
import weakref

import numpy as np
from numba import njit

from airchitect._threads import blas_one_thread

#: calls of fewer rows than this run here (the shipped codesign models, each path in a
#: process of its own, medians of 60 calls: 1.1-1.3 / 1.3-1.4 / 1.8-1.9 ms for 1 / 2 / 4
#: rows here, 1.6 / 1.7-1.9 / 2.0-2.2 ms through torch; from 6 rows torch is faster,
#: 2.3 against 2.5-2.7 ms, and 2.6-2.7 against 3.5-3.8 ms at 10 rows). The products
#: here run on one BLAS thread (:func:`airchitect._threads.blas_one_thread`): woken
#: for these small products, BLAS's threads cost more than they save, and on a busy
#: machine they wait for a core (one EDP query took 24 ms instead of 1.4 ms).
FEW_ROWS = 6

_CACHE = weakref.WeakKeyDictionary()
_EPS = 1e-5
_SQRT_HALF = 0.7071067811865476

#: erf(x) = x * P(x^2) / Q(x^2) for |x| <= ERF_CLIP (a rational fit, degrees 5 and 5
#: in x^2, made for this module; beyond the clip erf is +-1 to float32): at most
#: 1.7e-8 from erf, against float32's 6e-8 spacing at 1
ERF_CLIP = 3.92
ERF_NUMERATOR = (1.1283790222766878, 0.1927715520364114, 0.05306129708636977, 0.003868600944401937,
                 0.0002874774217408473, 2.0345718288724357e-06)
ERF_DENOMINATOR = (1.0, 0.5041710056951906, 0.1150875582483768, 0.015172849869857591,
                   0.0011881663079428802, 3.8068844361470034e-05)


def weights(net):
    """``net``'s tensors as float32 arrays by name, matrices transposed (``(in, out)``),
    the split head's array part applied to every array embedding (``split.table``,
    ``(n_arrays, width)``), and the residual blocks' tensors stacked (``blocks.*``,
    leading axis the block). Cached while no tensor of ``net`` changes."""
    cached = _CACHE.get(net)
    if cached is not None and cached[0] == [t._version for t in cached[1]]:
        return cached[2]
    state = net.state_dict()
    tensors = list(state.values())
    w = {name: (np.ascontiguousarray(t.detach().numpy().T) if t.ndim == 2 else t.detach().numpy().copy())
         for name, t in state.items()}
    width = w["norm.weight"].size
    w["split.first"] = np.ascontiguousarray(w["split.0.weight"][:width])
    w["split.table"] = np.ascontiguousarray(w["array_embedding.weight"].T @ w["split.0.weight"][width:])
    depth = sum(1 for name in w if name.startswith("blocks.") and name.endswith(".fc1.weight"))
    for part in ("norm.weight", "norm.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"):
        stacked = [w[f"blocks.{b}.{part}"] for b in range(depth)]
        # no block: empty stacks of the blocks' ranks, so the kernel compiles the same
        empty = (0, width, width) if part.endswith(".weight") and part.startswith("fc") else (0, width)
        w[f"blocks.{part}"] = np.stack(stacked) if stacked else np.zeros(empty, np.float32)
    _CACHE[net] = ([t._version for t in tensors], tensors, w)
    return w


def _trunk_weights(w):
    return (w["inp.weight"], w["inp.bias"], w["blocks.norm.weight"], w["blocks.norm.bias"],
            w["blocks.fc1.weight"], w["blocks.fc1.bias"], w["blocks.fc2.weight"], w["blocks.fc2.bias"],
            w["norm.weight"], w["norm.bias"])


@njit(cache=True, nogil=True, error_model="numpy")
def _gelu(x):
    """Exact (erf) GELU of a float32 vector, in place (erf by :data:`ERF_NUMERATOR` and
    :data:`ERF_DENOMINATOR`, in float64: no call in the loop, so it vectorises)."""
    p0, p1, p2, p3, p4, p5 = ERF_NUMERATOR
    q0, q1, q2, q3, q4, q5 = ERF_DENOMINATOR
    for i in range(x.size):
        v = np.float64(x[i])
        c = v * _SQRT_HALF
        c = c if c < ERF_CLIP else ERF_CLIP
        c = c if c > -ERF_CLIP else -ERF_CLIP
        t = c * c
        num = ((((p5 * t + p4) * t + p3) * t + p2) * t + p1) * t + p0
        den = ((((q5 * t + q4) * t + q3) * t + q2) * t + q1) * t + q0
        x[i] = np.float32(0.5 * v * (1.0 + c * num / den))


@njit(cache=True, nogil=True)
def _layer_norm(h, gain, bias):
    """Layer norm of a vector, eps 1e-5, as ``torch.nn.LayerNorm``."""
    n = h.size
    mean = 0.0
    for i in range(n):
        mean += h[i]
    mean /= n
    var = 0.0
    for i in range(n):
        d = h[i] - mean
        var += d * d
    inv = 1.0 / math.sqrt(var / n + _EPS)
    out = np.empty_like(h)
    for i in range(n):
        out[i] = np.float32((h[i] - mean) * inv) * gain[i] + bias[i]
    return out


@njit(cache=True, nogil=True)
def _log_softmax(x):
    """``log(softmax(x))`` of a float32 vector, shifted by its maximum."""
    top = x.max()
    total = 0.0
    for i in range(x.size):
        total += math.exp(x[i] - top)
    return x - top - np.float32(math.log(total))


@njit(cache=True, nogil=True)
def _trunk_row(x, inp_w, inp_b, n_w, n_b, f1_w, f1_b, f2_w, f2_b, out_w, out_b):
    h = np.dot(x, inp_w) + inp_b
    for b in range(f1_w.shape[0]):
        inner = np.dot(_layer_norm(h, n_w[b], n_b[b]), f1_w[b]) + f1_b[b]
        _gelu(inner)
        h = h + (np.dot(inner, f2_w[b]) + f2_b[b])
    return _layer_norm(h, out_w, out_b)


@njit(cache=True, nogil=True)
def _proposals(x, allowed, beam, k, trunk_w, head_w):
    """Labels and joint log-probabilities ``(n, k)`` of every row's ``k`` best, best first."""
    array_w, array_b, first, split_b, table, last_w, last_b = head_w
    n_splits = last_b.size
    k = min(k, beam * n_splits)
    labels = np.empty((x.shape[0], k), np.int64)
    logps = np.empty((x.shape[0], k), np.float32)
    for r in range(x.shape[0]):
        h = _trunk_row(np.ascontiguousarray(x[r]), *trunk_w)
        logits = np.dot(h, array_w) + array_b
        for a in range(logits.size):
            if not allowed[r, a]:
                logits[a] = np.float32(-1e9)
        logp = _log_softmax(logits)
        arrays = np.argsort(-logp, kind="mergesort")[:beam]  # the lower index first among equals
        per_row = np.dot(h, first) + split_b
        hidden = np.empty((beam, per_row.size), np.float32)
        for b in range(beam):
            hidden[b] = table[arrays[b]] + per_row
            _gelu(hidden[b])
        split = np.dot(hidden, last_w)
        joint = np.empty(beam * n_splits, np.float32)
        for b in range(beam):
            row = _log_softmax(split[b] + last_b)
            for s in range(n_splits):
                joint[b * n_splits + s] = logp[arrays[b]] + row[s]
        best = np.argsort(-joint, kind="mergesort")[:k]
        for t in range(k):
            labels[r, t] = arrays[best[t] // n_splits] * n_splits + best[t] % n_splits
            logps[r, t] = joint[best[t]]
    return labels, logps


def proposals(w, x, allowed, beam, k):
    """``(labels, log-probabilities)`` ``(n, min(k, beam * n_splits))`` of the ``k`` most
    probable labels of every encoded query ``x`` ``(n, n_features)``, best first (the
    lower label first among equals), by beam search over its ``beam`` most probable
    arrays; arrays where ``allowed`` ``(n, n_arrays)`` is false take logit -1e9."""
    heads = (w["array.weight"], w["array.bias"], w["split.first"], w["split.0.bias"], w["split.table"],
             w["split.2.weight"], w["split.2.bias"])
    beam = min(max(int(beam), 1), heads[1].size)
    with blas_one_thread():
        return _proposals(np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(allowed, dtype=np.bool_),
                          beam, int(k), _trunk_weights(w), heads)


@njit(cache=True, nogil=True)
def _score(pairs, n_pair_features, mean, std, w0, b0, w2, b2, w4, b4):
    z = ((pairs - mean) / std).astype(np.float32)
    z = np.dot(z, w0) + b0
    _gelu(z.ravel())
    z = np.dot(z, w2) + b2
    _gelu(z.ravel())
    raw = np.dot(z, w4)[:, 0] + b4[0]
    out = np.empty(raw.size, np.float32)
    for i in range(raw.size):
        if pairs.shape[1] == n_pair_features:  # softplus, threshold 20 as torch's
            out[i] = raw[i] if raw[i] > 20 else np.float32(math.log1p(math.exp(raw[i])))
        else:
            out[i] = max(raw[i] + max(pairs[i, n_pair_features], np.float32(0.0)), np.float32(0.0))
    return out


def score(w, pairs, n_pair_features):
    """The scorer's ``log2(cost / bound) >= 0`` of raw pair features ``(m, f)``, as
    ``FactorisedNet.score`` (clamped)."""
    with blas_one_thread():
        return _score(np.ascontiguousarray(pairs, dtype=np.float32), n_pair_features, w["pair_mean"],
                      w["pair_std"], w["scorer.0.weight"], w["scorer.0.bias"], w["scorer.2.weight"],
                      w["scorer.2.bias"], w["scorer.4.weight"], w["scorer.4.bias"])

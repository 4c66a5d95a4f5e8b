"""A :class:`~airchitect.learn.factorised.FactorisedNet`'s inference in numpy, for calls of a few rows.

One query's proposal is about twenty small products; torch spends about 10 us
dispatching each, numpy about 1 us. :class:`FactorisedClassifier
<airchitect.learn.factorised.FactorisedClassifier>` runs calls of fewer than
:data:`FEW_ROWS` rows here, float32 as torch does: the same operations (the
split head's array part applied to every array embedding once, then gathered;
the GELU is torch's own), so the values agree with torch's to float32 rounding
(about 1e-6).

>>> import torch
>>> from airchitect.learn.factorised import FactorisedNet
>>> net = FactorisedNet(6, (4, 3), width=8, depth=1, embedding=2, scorer_width=4,
...                     n_pair_features=5).eval()
>>> x = torch.randn(2, 6)
>>> with torch.inference_mode():
...     expected = net.trunk(x).numpy()
>>> bool(np.allclose(trunk(weights(net), x.numpy()), expected, atol=1e-5))
True
"""

from __future__ import annotations

import weakref

import numpy as np
import torch

from airchitect._threads import torch_one_thread

#: calls of fewer rows than this run in numpy
FEW_ROWS = 16

_CACHE = weakref.WeakKeyDictionary()
_EPS = np.float32(1e-5)


def weights(net):
    """``net``'s tensors as float32 arrays by name, matrices transposed (``(in, out)``),
    and the split head's array part applied to every array embedding (``split.table``,
    ``(n_arrays, width)``). Cached while no tensor of ``net`` changes."""
    cached = _CACHE.get(net)
    if cached is not None and cached[0] == [t._version for t in cached[1]]:
        return cached[2]
    state = net.state_dict()
    tensors = list(state.values())
    w = {name: (np.ascontiguousarray(t.detach().numpy().T) if t.ndim == 2 else t.detach().numpy().copy())
         for name, t in state.items()}
    width = w["norm.weight"].size
    w["split.first"] = np.ascontiguousarray(w["split.0.weight"][:width])
    w["split.table"] = w["array_embedding.weight"].T @ w["split.0.weight"][width:]
    _CACHE[net] = ([t._version for t in tensors], tensors, w)
    return w


def gelu(x):
    """Exact (erf) GELU of a float32 array: torch's own, on one thread (its vectorised erf
    takes about 1 ns an element, scipy's or a compiled ``math.erf`` 7-9 ns; a second
    thread would wait for the core numpy's products just left)."""
    with torch_one_thread():
        return torch.nn.functional.gelu(torch.from_numpy(x)).numpy()


def layer_norm(x, gain, bias):
    """Layer norm over the last axis, eps 1e-5, as ``torch.nn.LayerNorm``."""
    centred = x - x.mean(-1, keepdims=True)
    return centred / np.sqrt((centred * centred).mean(-1, keepdims=True) + _EPS) * gain + bias


def log_softmax(x, axis=-1):
    """``log(softmax(x))`` along ``axis``, shifted by the maximum (no overflow)."""
    shifted = x - x.max(axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))


def trunk(w, x):
    """Query embedding ``(n, width)`` of encoded queries ``x`` ``(n, n_features)``."""
    h = x.astype(np.float32, copy=False) @ w["inp.weight"] + w["inp.bias"]
    block = 0
    while f"blocks.{block}.fc1.weight" in w:
        p = f"blocks.{block}."
        inner = layer_norm(h, w[p + "norm.weight"], w[p + "norm.bias"]) @ w[p + "fc1.weight"] + w[p + "fc1.bias"]
        h = h + (gelu(inner) @ w[p + "fc2.weight"] + w[p + "fc2.bias"])
        block += 1
    return layer_norm(h, w["norm.weight"], w["norm.bias"])


def array_log_probs(w, h, allowed):
    """``log p(array)`` ``(n, n_arrays)`` of trunk ``h``, arrays not ``allowed`` at -1e9 logit."""
    logits = h @ w["array.weight"] + w["array.bias"]
    return log_softmax(np.where(allowed, logits, np.float32(-1e9)), axis=1)


def split_log_probs(w, h, arrays):
    """``log p(split | array)`` ``(n, b, n_splits)`` of arrays ``(n, b)`` for trunk ``h``."""
    per_row = h @ w["split.first"] + w["split.0.bias"]
    hidden = gelu(w["split.table"][arrays] + per_row[:, None, :])
    return log_softmax(hidden @ w["split.2.weight"] + w["split.2.bias"], axis=2)


def score(w, pairs, n_pair_features):
    """The scorer's ``log2(cost / bound) >= 0`` of raw pair features ``(m, f)``, as
    ``FactorisedNet.score`` (clamped)."""
    z = (pairs - w["pair_mean"]) / w["pair_std"]
    z = gelu(z @ w["scorer.0.weight"] + w["scorer.0.bias"])
    z = gelu(z @ w["scorer.2.weight"] + w["scorer.2.bias"])
    raw = (z @ w["scorer.4.weight"] + w["scorer.4.bias"])[:, 0]
    if pairs.shape[1] == n_pair_features:  # softplus, threshold 20 as torch's
        return np.where(raw > 20, raw, np.log1p(np.exp(np.minimum(raw, 20))))
    return np.maximum(raw + np.maximum(pairs[:, n_pair_features], 0), 0)


def top(values, k):
    """Indices ``(n, k)`` of the ``k`` largest of every row of ``values``, largest first
    (the lower index first among equals)."""
    k = min(k, values.shape[1])
    part = np.argpartition(-values, k - 1, axis=1)[:, :k] if k < values.shape[1] else \
        np.broadcast_to(np.arange(values.shape[1]), values.shape)
    order = np.lexsort((part, -np.take_along_axis(values, part, axis=1)), axis=1)
    return np.take_along_axis(part, order, axis=1)

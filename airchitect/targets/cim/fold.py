"""Batch normalisation folded into the matrix layer before it (inference semantics).

In inference a ``BatchNorm`` layer is the per-channel affine map
``y = (x - mean) * gamma / sqrt(var + eps) + beta`` with its running
statistics. After a convolution or linear layer ``x = W u + b`` it folds
exactly into new weights and bias: with ``s = gamma / sqrt(var + eps)``,
``W' = s[:, None] * W`` (per output channel) and ``b' = s * (b - mean) + beta``.
Everything is computed in float64.

>>> import torch
>>> from torch import nn
>>> conv, bn = nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3).eval()
>>> bn.running_mean.uniform_(-1, 1); bn.running_var.uniform_(0.5, 2); bn.weight.data.uniform_(0.5, 2)
...                                               # doctest: +ELLIPSIS
tensor(...)
>>> w, b = fold_batchnorm(conv.weight, conv.bias, bn)
>>> x = torch.rand(4, 2, 6, 6, dtype=torch.float64)
>>> folded = torch.nn.functional.conv2d(x, w, b)
>>> bool(torch.allclose(folded, bn.double()(conv.double()(x)), atol=1e-12))
True
"""

from __future__ import annotations


def batchnorm_affine(bn):
    """``(scale, shift)``, float64 tensors of one value per channel, of a BatchNorm layer in inference.

    A layer without running statistics (``track_running_stats=False``) normalises
    with the batch's own statistics, which no fixed program can do: ValueError.
    """
    import torch

    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(f"{type(bn).__name__} needs running statistics (track_running_stats=True) "
                         "to be compiled; it has none")
    with torch.no_grad():
        mean, var = bn.running_mean.double(), bn.running_var.double()
        gamma = torch.ones_like(mean) if bn.weight is None else bn.weight.detach().double()
        beta = torch.zeros_like(mean) if bn.bias is None else bn.bias.detach().double()
        scale = gamma / torch.sqrt(var + bn.eps)
        return scale, beta - mean * scale


def fold_batchnorm(weight, bias, bn):
    """Weights and bias (float64) of a conv/linear layer followed by ``bn``, as one layer.

    ``weight``: (out_channels, ...) tensor; ``bias``: (out_channels,) or None.
    """
    import torch

    scale, shift = batchnorm_affine(bn)
    with torch.no_grad():
        w = weight.detach().double()
        if w.shape[0] != scale.shape[0]:
            raise ValueError(f"{type(bn).__name__} has {scale.shape[0]} channels but the layer before "
                             f"it has {w.shape[0]} outputs")
        b = torch.zeros_like(scale) if bias is None else bias.detach().double()
        return w * scale.reshape(-1, *([1] * (w.dim() - 1))), b * scale + shift

"""Modules built on torch's meta device for their shapes alone.

A shape needs no values, and on the meta device the first ``normal_`` (an
embedding's initial fill) imports some 800 modules: about 1 s of every process
that builds an embedding. :func:`meta_device` skips ``torch.nn.init``'s fills.

>>> import torch
>>> with meta_device():
...     table = torch.nn.Embedding(10, 4)
>>> table.weight.device.type, tuple(table.weight.shape)
('meta', (10, 4))
"""

from __future__ import annotations

import contextlib

import torch


class _NoInitialFill(torch.overrides.TorchFunctionMode):
    """Skip the ``torch.nn.init`` fills (functions ending in ``_``) called inside the block."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__module__", None) == "torch.nn.init" and func.__name__.endswith("_"):
            return kwargs["tensor"] if "tensor" in kwargs else args[0]
        return func(*args, **kwargs)


@contextlib.contextmanager
def meta_device():
    """Build modules on the meta device inside the block, their parameters unfilled."""
    with torch.device("meta"), _NoInitialFill():
        yield

"""Real networks as GEMM tables.

Each network is a ``torch.nn`` module from :mod:`airchitect.workloads.models`,
built on the meta device and traced once with
:func:`airchitect.workloads.gemms_from_module` (batch 1). Results are cached;
every call returns a fresh copy.

Examples
--------
>>> df = network("resnet50")
>>> df.loc[0, ["layer", "kind", "M", "N", "K", "count"]].astype(str).tolist()
['conv1', 'conv', '12544', '64', '147', '1']
>>> int((df.M * df.N * df.K * df["count"]).sum())
4089184256
"""

from __future__ import annotations

import functools

import pandas as pd

from airchitect._checks import check_choice, check_int
from airchitect.workloads.trace import COLUMNS

#: name -> (model constructor name, keyword arguments, input shape, token input)
_SPECS = {
    "resnet50": ("ResNet50", {}, (1, 3, 224, 224), False),
    "mobilenetv2": ("MobileNetV2", {}, (1, 3, 224, 224), False),
    "vgg16": ("VGG16", {}, (1, 3, 224, 224), False),
    "bert-base-128": ("Transformer", dict(d=768, heads=12, hidden=3072, layers=12, vocab=30522,
                                          head="pooler"), (1, 128), True),
    "bert-base-512": ("Transformer", dict(d=768, heads=12, hidden=3072, layers=12, vocab=30522,
                                          head="pooler"), (1, 512), True),
    "gpt2-prefill": ("Transformer", dict(d=768, heads=12, hidden=3072, layers=12, vocab=50257,
                                         head="lm", fused_qkv=True), (1, 1024), True),
    "gpt2-decode": ("Transformer", dict(d=768, heads=12, hidden=3072, layers=12, vocab=50257,
                                        head="lm", fused_qkv=True, cache_len=1023), (1, 1), True),
    "vit-b16": ("Transformer", dict(d=768, heads=12, hidden=3072, layers=12, patch=16, head="cls",
                                    fused_qkv=True), (1, 3, 224, 224), False),
    "llama2-7b-prefill": ("Transformer", dict(d=4096, heads=32, hidden=11008, layers=32, vocab=32000,
                                              head="lm", bias=False, gated=True), (1, 2048), True),
    "llama2-7b-decode": ("Transformer", dict(d=4096, heads=32, hidden=11008, layers=32, vocab=32000,
                                             head="lm", bias=False, gated=True, cache_len=2048),
                         (1, 1), True),
    "dlrm": ("DLRM", {}, (1, 13), False),
}

MAX_BATCH = 65536

#: The names accepted by :func:`network`, in the order :func:`networks` concatenates them.
NETWORKS = tuple(_SPECS)


def network(name, batch=1):
    """Return the GEMM table of the named network.

    Parameters
    ----------
    name : str
        One of :data:`NETWORKS`.
    batch : int
        Images, sequences or samples per forward pass, in ``[1, 65536]``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`airchitect.workloads.trace.COLUMNS`, one row per
        GEMM-producing operator in execution order; see
        :func:`airchitect.workloads.gemms_from_module` for the conventions.
    """
    check_choice("name", name, NETWORKS)
    return _traced(name, check_int("batch", batch, 1, MAX_BATCH)).copy()


def networks(names=None, batch=1):
    """Return the GEMM tables of several networks concatenated (all by default).

    ``names`` is None (all of :data:`NETWORKS`), one name or a list of names;
    ``batch`` as in :func:`network`.

    The ``net`` column tells the networks apart; the index is 0..n-1 and the
    ``inputs`` column still holds row positions within each network's own table.

    Examples
    --------
    >>> sorted(networks(["vgg16", "dlrm"]).net.unique())
    ['dlrm', 'vgg16']
    """
    if names is None:
        names = NETWORKS
    elif isinstance(names, str):
        names = [names]
    frames = [network(n, batch) for n in names]
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(frames, ignore_index=True)


@functools.lru_cache(maxsize=64)
def _traced(name, batch):
    import torch

    from airchitect.workloads import models
    from airchitect.workloads.trace import gemms_from_module

    cls, kwargs, shape, tokens = _SPECS[name]
    with torch.device("meta"):
        module = getattr(models, cls)(**kwargs).eval()
    shape = (batch,) + shape[1:]
    return gemms_from_module(module, shape, dtype=torch.int64 if tokens else None, net=name)

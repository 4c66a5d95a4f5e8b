"""Synthetic networks as GEMM tables, drawn from the families of the real ones.

Every network of :func:`airchitect.workloads.networks` is meant to be held
out of training; :func:`synthetic_networks` supplies the training networks:
members of the same families with random hyper-parameters, lowered to GEMMs
with the same rules and the same row conventions as the traced real networks
(:func:`airchitect.workloads.gemms_from_module`: one row per operator call,
im2col convolutions with ``count = groups``, attention products with
``count = batch x heads``, the ``inputs`` data-dependence column).

The rows are built directly from the hyper-parameters, without torch, with
the row constructors of :mod:`airchitect.workloads.trace`; for the same
architecture built as a ``torch.nn`` module (the blocks of
:mod:`airchitect.workloads.models`) and traced, the tables are identical
(the tests check this, and that the real networks' own hyper-parameters
reproduce :func:`airchitect.workloads.network` exactly).
"""

from __future__ import annotations

import functools
import math
from collections import Counter

import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_int
from airchitect.workloads.trace import _conv_row, _product_row, _table

#: The families :func:`synthetic_networks` draws from, in the order it cycles through them.
FAMILIES = ("cnn", "resnet", "mobilenet", "encoder", "prefill", "decode", "dlrm")

#: Largest ``n`` accepted by :func:`synthetic_networks`.
MAX_NETWORKS = 10_000

#: Largest M, N and K of any synthetic GEMM (the codesign task's limit).
DIM_MAX = 65536

#: Largest batch each family draws (halved until every M fits in DIM_MAX).
_MAX_BATCH = {"cnn": 8, "resnet": 8, "mobilenet": 16, "encoder": 16, "prefill": 8, "decode": 64,
              "dlrm": 2048}

# MobileNetV2's stage template (expansion, channels, blocks, stride)
_MBV2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
         (6, 320, 1, 1))


def synthetic_networks(n, seed=0, families=None):
    """Draw ``n`` random networks and return their GEMM tables concatenated.

    Network ``i`` belongs to family ``families[i % len(families)]`` and its
    hyper-parameters come from ``numpy.random.default_rng([seed, i])``, so it
    does not depend on ``n``: the first 100 networks of ``n=1000`` are those
    of ``n=100``. A draw whose GEMM multiset (``(M, N, K)`` weighted by
    ``count``) equals that of a real network of
    :data:`airchitect.workloads.NETWORKS` at any batch in 1..2048 is redrawn,
    so the real networks stay held out.

    Families and the ranges drawn, chosen to cover and somewhat exceed the
    real networks' (``U`` uniform, ``logU`` log-uniform integers; channel
    widths are multiples of 8, dense widths of 16 or 64; ``batch`` is 1 with
    probability 1/2, else a power of two up to the family's limit, halved
    until every ``M <= 65536``):

    * ``cnn`` (VGG-like): image side 32..256 (step 16); 3..5 stages of 1..4
      3x3 convs, each stage ending in a 2x2 max-pool; first width logU
      16..128, doubling per stage up to 256, 512 or 1024; the flattened
      features (half the time, if there are at most 65536) or their global
      average into 0..2 dense layers of logU 256..4096 and a classifier of
      logU 10..4096 classes; batch <= 8.
    * ``resnet`` (ResNet v1.5 bottlenecks, expansion 4): side 64..320 (step
      32); 7x7/2 stem of logU 16..128 channels and a 3x3/2 max-pool; 3..5
      stages of 1..8 blocks, first width logU 16..128 doubling per stage,
      stride 2 from the second stage; classes logU 10..4096; batch <= 8.
    * ``mobilenet`` (MobileNetV2 inverted residuals, 3x3 depthwise): side
      96..320 (step 16); width multiplier logU 0.35..1.5 on MobileNetV2's
      channels; the first 5..7 of its stages, 1..4 blocks each (the first
      stage one block of expansion 1), expansion U 2..8; classes logU
      10..4096; batch <= 16.
    * ``encoder`` (BERT- or ViT-like, one half each): head width in {32, 48,
      64, 80, 96, 128}, heads 2..32 with width ``<= 4096``, feed-forward
      ratio U 2..6 (rounded to 64), 2..24 layers, fused or separate Q/K/V;
      BERT-like: logU 16..2048 tokens, pooler head or none; ViT-like: patch
      in {8, 14, 16, 32}, 4..32 patches a side plus a class token, a
      classifier of logU 10..4096 classes or none; batch <= 16.
    * ``prefill`` (GPT- or LLaMA-like, one half each, causal LM head over
      a vocabulary of logU 1000..65536): head width in {64, 80, 96, 128},
      heads 4..64 with width ``<= 8192``, 2..48 layers; GPT-like fused QKV
      and a GELU feed-forward of ratio U 2..5 (rounded to 64), LLaMA-like
      separate Q/K/V and a gated (SwiGLU) feed-forward of ratio U 2..3.5
      (rounded to 256); logU 16..8192 prompt tokens; batch <= 8.
    * ``decode``: as ``prefill`` but one new token attending to a KV cache
      of logU 16..8192 earlier tokens; batch <= 64.
    * ``dlrm`` (DLRM-like): logU 1..64 dense features, a bottom MLP of 1..3
      layers of logU 32..1024, embedding width in {16, 32, 64, 128, 256},
      1..64 tables, pairwise dot-product interaction, a top MLP of 1..5
      layers of logU 64..2048 and one output; batch <= 2048.

    Every ``M, N, K`` lies in ``[1, 65536]`` and every ``count >= 1``. Real
    tables keep one row per operator call, so these do too: at most 433 rows
    (a 48-layer LLaMA-like decoder) and at most 64 distinct ``(M, N, K)``
    per network.

    Parameters
    ----------
    n : int
        Number of networks, in ``[1, 10000]``. Work and memory grow
        linearly: about 1 ms and at most 433 rows (about 90 on average)
        per network, so at most about 4.3 million rows.
    seed : int
        Seed in ``[0, 2**63 - 1]``; the same ``(seed, families)`` gives the
        same networks.
    families : None, str or sequence of str
        Families to draw from, each one of :data:`FAMILIES`, no repeats;
        None for all of them.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`airchitect.workloads.trace.COLUMNS`, as
        :func:`airchitect.workloads.networks` returns them: ``net`` is
        ``syn-<family>-<i>`` (``i`` zero-padded to 4 digits), ``layer`` the
        qualified module name the traced ``torch.nn`` network would have,
        ``inputs`` row positions within each network's own table; index
        0..rows-1.

    Examples
    --------
    >>> df = synthetic_networks(7, seed=3)
    >>> df.net.unique().tolist()[:3]
    ['syn-cnn-0000', 'syn-resnet-0001', 'syn-mobilenet-0002']
    >>> bool(df[["M", "N", "K"]].stack().between(1, 65536).all())
    True
    >>> synthetic_networks(3, seed=3).equals(df[df.net.isin(df.net.unique()[:3])])
    True
    """
    n = check_int("n", n, 1, MAX_NETWORKS)
    seed = check_int("seed", seed, 0, 2**63 - 1)
    families = _check_families(families)
    rows, nets = [], []
    for i in range(n):
        family = families[i % len(families)]
        table = _draw_network(family, np.random.default_rng([seed, i]))
        rows += table
        nets += [f"syn-{family}-{i:04d}"] * len(table)
    df = _table(rows, "")
    df["net"] = pd.Series(nets, dtype=object)
    return df


def _check_families(families):
    if families is None:
        return FAMILIES
    if isinstance(families, str):
        families = (families,)
    if not isinstance(families, (list, tuple)):
        raise TypeError(f"families must be None, one of {', '.join(FAMILIES)} or a list of them; "
                        f"got {type(families).__name__}")
    if not families:
        raise ValueError(f"families must name at least one of {', '.join(FAMILIES)}; got none")
    for f in families:
        if not isinstance(f, str):
            raise TypeError(f"families must be one of {', '.join(FAMILIES)}; got {f!r}")
        check_choice("families", f, FAMILIES)
    if len(set(families)) != len(families):
        raise ValueError(f"families must not repeat a name; got {list(families)}")
    return tuple(families)


# ----------------------------------------------------------------------------- drawing


def _draw_network(family, rng):
    """Rows of one network of ``family``, redrawn while it equals a real network.

    A real network is one point in a space of millions, so the loop almost
    never runs twice.
    """
    while True:
        spec = _DRAW[family](rng)
        rows = _build(spec)
        if _multiset(rows) not in _real_multisets():
            return rows


def _logu(rng, low, high, multiple=1):
    """A log-uniform integer in ``[low, high]`` rounded to a multiple of ``multiple``."""
    v = math.exp(rng.uniform(math.log(low), math.log(high + 1)))
    v = max(low, min(high, int(v)))
    return max(multiple, min(high - high % multiple, multiple * round(v / multiple)))


def _batch(rng, family, largest_m):
    """Batch: 1 (probability 1/2) or a power of two, halved while ``largest_m(batch) > DIM_MAX``."""
    top = int(math.log2(_MAX_BATCH[family]))
    b = 1 if rng.random() < 0.5 else 2 ** int(rng.integers(1, top + 1))
    while b > 1 and largest_m(b) > DIM_MAX:
        b //= 2
    return b


def _widths(rng, stages, cap):
    first = _logu(rng, 16, 128, 8)
    return tuple(min(first * 2**s, max(cap, first)) for s in range(stages))


def _draw_cnn(rng):
    res = 16 * int(rng.integers(2, 17))
    stages = int(rng.integers(3, 6))
    depths = tuple(int(d) for d in rng.integers(1, 5, stages))
    widths = _widths(rng, stages, int(rng.choice([256, 512, 1024])))
    side = res >> stages
    flatten = widths[-1] * side * side <= DIM_MAX and rng.random() < 0.5
    fc = tuple(_logu(rng, 256, 4096, 64) for _ in range(int(rng.integers(0, 3))))
    classes = _logu(rng, 10, 4096)
    batch = _batch(rng, "cnn", lambda b: res * res * b)
    return dict(family="cnn", batch=batch, res=res, depths=depths, widths=widths, flatten=flatten,
                fc=fc, classes=classes)


def _draw_resnet(rng):
    res = 32 * int(rng.integers(2, 11))
    stem = _logu(rng, 16, 128, 8)
    stages = int(rng.integers(3, 6))
    widths = _widths(rng, stages, 2048)
    blocks = tuple(int(d) for d in rng.integers(1, 9, stages))
    classes = _logu(rng, 10, 4096)
    half = (res + 1) // 2
    batch = _batch(rng, "resnet", lambda b: half * half * b)
    return dict(family="resnet", batch=batch, res=res, stem=stem,
                stages=tuple((w, k, 1 if s == 0 else 2) for s, (w, k) in enumerate(zip(widths, blocks))),
                classes=classes)


def _div8(v):
    return max(8, int(v + 4) // 8 * 8)


def _draw_mobilenet(rng):
    res = 16 * int(rng.integers(6, 21))
    alpha = math.exp(rng.uniform(math.log(0.35), math.log(1.5)))
    stages = int(rng.integers(5, 8))
    blocks = [(1, _div8(16 * alpha), 1, 1)]
    for t, c, n, s in _MBV2[1:stages]:
        blocks.append((int(rng.integers(2, 9)), _div8(c * alpha), int(rng.integers(1, 5)), s))
    last = _div8(1280 * max(1.0, alpha))
    classes = _logu(rng, 10, 4096)
    half = (res + 1) // 2
    batch = _batch(rng, "mobilenet", lambda b: half * half * b)
    return dict(family="mobilenet", batch=batch, res=res, stem=_div8(32 * alpha), blocks=tuple(blocks),
                last=last, classes=classes)


def _transformer_size(rng, head_dims, heads, d_max):
    hd = int(rng.choice(head_dims))
    h = int(rng.integers(heads[0], min(heads[1], d_max // hd) + 1))
    return hd * h, h


def _round_to(v, multiple):
    return max(multiple, int(round(v / multiple)) * multiple)


def _draw_encoder(rng):
    d, heads = _transformer_size(rng, (32, 48, 64, 80, 96, 128), (2, 32), 4096)
    hidden = _round_to(d * rng.uniform(2, 6), 64)
    spec = dict(family="encoder", d=d, heads=heads, hidden=hidden, layers=int(rng.integers(2, 25)),
                fused_qkv=bool(rng.random() < 0.5), gated=False, cache_len=0, vocab=None, patch=None,
                res=None, seq=None, classes=None)
    if rng.random() < 0.5:
        spec.update(seq=_logu(rng, 16, 2048), head="pooler" if rng.random() < 0.5 else None)
        tokens = spec["seq"]
    else:
        patch, grid = int(rng.choice([8, 14, 16, 32])), int(rng.integers(4, 33))
        cls = rng.random() < 0.5
        spec.update(patch=patch, res=patch * grid, head="cls" if cls else None,
                    classes=_logu(rng, 10, 4096) if cls else None)
        tokens = grid * grid + 1
    spec["batch"] = _batch(rng, "encoder", lambda b: tokens * b)
    return spec


def _draw_decoder(rng, family):
    d, heads = _transformer_size(rng, (64, 80, 96, 128), (4, 64), 8192)
    gated = bool(rng.random() < 0.5)
    hidden = _round_to(d * rng.uniform(2, 3.5), 256) if gated else _round_to(d * rng.uniform(2, 5), 64)
    spec = dict(family=family, d=d, heads=heads, hidden=hidden, layers=int(rng.integers(2, 49)),
                fused_qkv=not gated, gated=gated, vocab=_logu(rng, 1000, 65536), head="lm", patch=None,
                res=None, classes=None)
    if family == "prefill":
        spec.update(seq=_logu(rng, 16, 8192), cache_len=0)
    else:
        spec.update(seq=1, cache_len=_logu(rng, 16, 8192))
    spec["batch"] = _batch(rng, family, lambda b: spec["seq"] * b)
    return spec


def _draw_dlrm(rng):
    bottom = tuple(_logu(rng, 32, 1024, 16) for _ in range(int(rng.integers(1, 4))))
    top = tuple(_logu(rng, 64, 2048, 16) for _ in range(int(rng.integers(1, 6))))
    return dict(family="dlrm", batch=_batch(rng, "dlrm", lambda b: b), dense=_logu(rng, 1, 64),
                bottom=bottom, dim=int(rng.choice([16, 32, 64, 128, 256])),
                tables=int(rng.integers(1, 65)), top=top)


_DRAW = {
    "cnn": _draw_cnn,
    "resnet": _draw_resnet,
    "mobilenet": _draw_mobilenet,
    "encoder": _draw_encoder,
    "prefill": lambda rng: _draw_decoder(rng, "prefill"),
    "decode": lambda rng: _draw_decoder(rng, "decode"),
    "dlrm": _draw_dlrm,
}


# ----------------------------------------------------------------------------- the real networks

_TRANSFORMER = dict(patch=None, res=None, classes=None, cache_len=0, gated=False, fused_qkv=False,
                    vocab=None, batch=1)
_BERT = dict(_TRANSFORMER, family="encoder", d=768, heads=12, hidden=3072, layers=12, head="pooler")
_GPT2 = dict(_TRANSFORMER, d=768, heads=12, hidden=3072, layers=12, vocab=50257, head="lm", fused_qkv=True)
_LLAMA = dict(_TRANSFORMER, d=4096, heads=32, hidden=11008, layers=32, vocab=32000, head="lm", gated=True)

#: The networks of :data:`airchitect.workloads.NETWORKS` as hyper-parameters of these families (batch 1).
_REAL = {
    "resnet50": dict(family="resnet", batch=1, res=224, stem=64, classes=1000,
                     stages=((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))),
    "mobilenetv2": dict(family="mobilenet", batch=1, res=224, stem=32, blocks=_MBV2, last=1280,
                        classes=1000),
    "vgg16": dict(family="cnn", batch=1, res=224, depths=(2, 2, 3, 3, 3), widths=(64, 128, 256, 512, 512),
                  flatten=True, fc=(4096, 4096), classes=1000),
    "bert-base-128": dict(_BERT, seq=128),
    "bert-base-512": dict(_BERT, seq=512),
    "gpt2-prefill": dict(_GPT2, family="prefill", seq=1024),
    "gpt2-decode": dict(_GPT2, family="decode", seq=1, cache_len=1023),
    "vit-b16": dict(_TRANSFORMER, family="encoder", d=768, heads=12, hidden=3072, layers=12, patch=16,
                    res=224, head="cls", classes=1000, fused_qkv=True, seq=None),
    "llama2-7b-prefill": dict(_LLAMA, family="prefill", seq=2048),
    "llama2-7b-decode": dict(_LLAMA, family="decode", seq=1, cache_len=2048),
    "dlrm": dict(family="dlrm", batch=1, dense=13, bottom=(512, 256), dim=128, tables=26,
                 top=(1024, 1024, 512, 256)),
}


def _multiset(rows):
    """``(M, N, K)`` weighted by ``count``, as a hashable set."""
    total = Counter()
    for r in rows:
        total[r[2:5]] += r[5]
    return frozenset(total.items())


@functools.lru_cache(maxsize=1)
def _real_multisets():
    batches = [2**j for j in range(12)]
    return frozenset(_multiset(_build(dict(spec, batch=b))) for spec in _REAL.values() for b in batches)


# ----------------------------------------------------------------------------- lowering


class _Shape:
    """Just the ``shape`` and ``dim()`` of a tensor, for :func:`airchitect.workloads.trace._conv_row`."""

    def __init__(self, *shape):
        self.shape = shape

    def dim(self):
        return len(self.shape)


class _Rows:
    """Emits table rows in execution order; a value is the frozenset of rows it was computed from."""

    def __init__(self):
        self.rows = []

    def _add(self, layer, row, reads):
        self.rows.append((layer, *row, tuple(sorted(reads))))
        return frozenset((len(self.rows) - 1,))

    def linear(self, layer, x, M, N, K):
        return self._add(layer, _product_row("linear", M, N, K, 1), x)

    def matmul(self, layer, reads, M, N, K, count):
        return self._add(layer, _product_row("matmul", M, N, K, count), reads)

    def conv(self, layer, x, shape, out_c, k, stride=1, padding=0, groups=1):
        """A convolution reading value ``x`` of ``shape = (batch, channels, h, w)``.

        Returns the output's value and shape.
        """
        b, c, h, w = shape
        oh, ow = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
        out = (b, out_c, oh, ow)
        row = _conv_row(_Shape(*shape), _Shape(out_c, c // groups, k, k), None, (stride, stride),
                        (padding, padding), (1, 1), False, (0, 0), groups, _Shape(*out))
        return self._add(layer, row, x), out


def _pool(shape, k, stride, padding=0):
    b, c, h, w = shape
    return (b, c, (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1)


def _build(spec):
    out = _Rows()
    _BUILD[spec["family"]](out, spec)
    return out.rows


def _mlp(out, name, x, batch, sizes):
    """Linear layers ``name.0, name.2, ...`` (activations between them)."""
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        x = out.linear(f"{name}.{2 * i}", x, batch, b, a)
    return x


def _build_cnn(out, s):
    x, shape, i = frozenset(), (s["batch"], 3, s["res"], s["res"]), 0
    for depth, width in zip(s["depths"], s["widths"]):
        for _ in range(depth):
            x, shape = out.conv(f"features.{i}", x, shape, width, 3, 1, 1)
            i += 2  # conv, ReLU
        shape = _pool(shape, 2, 2)
        i += 1
    features = shape[1] * shape[2] * shape[3] if s["flatten"] else shape[1]
    _mlp(out, "classifier", x, s["batch"], (features,) + s["fc"] + (s["classes"],))


def _build_resnet(out, s):
    x, shape = out.conv("conv1", frozenset(), (s["batch"], 3, s["res"], s["res"]), s["stem"], 7, 2, 3)
    shape, i = _pool(shape, 3, 2, 1), 0
    for width, blocks, stride in s["stages"]:
        for j in range(blocks):
            st, name = stride if j == 0 else 1, f"layers.{i}"
            y, mid = out.conv(f"{name}.conv1", x, shape, width, 1)
            y, mid = out.conv(f"{name}.conv2", y, mid, width, 3, st, 1)
            y, mid = out.conv(f"{name}.conv3", y, mid, 4 * width, 1)
            if st != 1 or shape[1] != 4 * width:
                x, _ = out.conv(f"{name}.downsample", x, shape, 4 * width, 1, st)
            x, shape, i = x | y, mid, i + 1
    out.linear("fc", x, s["batch"], s["classes"], shape[1])


def _build_mobilenet(out, s):
    x, shape = out.conv("features.0.0", frozenset(), (s["batch"], 3, s["res"], s["res"]), s["stem"], 3, 2, 1)
    i = 1
    for t, c, n, stride in s["blocks"]:
        for j in range(n):
            st, name, in_c, k = stride if j == 0 else 1, f"features.{i}.conv", shape[1], 0
            y, mid = x, shape
            if t != 1:
                y, mid = out.conv(f"{name}.0.0", y, mid, in_c * t, 1)
                k = 1
            y, mid = out.conv(f"{name}.{k}.0", y, mid, in_c * t, 3, st, 1, groups=in_c * t)
            y, mid = out.conv(f"{name}.{k + 1}.0", y, mid, c, 1)
            x = x | y if st == 1 and in_c == c else y
            shape, i = mid, i + 1
    x, shape = out.conv(f"features.{i}.0", x, shape, s["last"], 1)
    out.linear("classifier", x, s["batch"], s["classes"], shape[1])


def _build_transformer(out, s):
    b, d, heads, hidden = s["batch"], s["d"], s["heads"], s["hidden"]
    hd = d // heads
    if s["patch"]:
        x, shape = out.conv("embed", frozenset(), (b, 3, s["res"], s["res"]), d, s["patch"], s["patch"])
        t = shape[2] * shape[3] + 1
    else:
        x, t = frozenset(), s["seq"]
    keys = s["cache_len"] + t
    for i in range(s["layers"]):
        name = f"blocks.{i}"
        if s["fused_qkv"]:
            q = k = v = out.linear(f"{name}.attn.qkv", x, b * t, 3 * d, d)
        else:
            q, k, v = (out.linear(f"{name}.attn.{p}", x, b * t, d, d) for p in "qkv")
        if s["cache_len"]:  # the cache is made from (and so reads) the block's input
            k, v = k | x, v | x
        scores = out.matmul(f"{name}.attn.qk", q | k, t, keys, hd, b * heads)
        a = out.matmul(f"{name}.attn.av", scores | v, t, hd, keys, b * heads)
        x = x | out.linear(f"{name}.attn.out", a, b * t, d, d)
        h = out.linear(f"{name}.mlp.up", x, b * t, hidden, d)
        if s["gated"]:
            h = h | out.linear(f"{name}.mlp.gate", x, b * t, hidden, d)
        x = x | out.linear(f"{name}.mlp.down", h, b * t, d, hidden)
    head = s["head"]
    if head is not None:
        width = {"lm": s["vocab"], "pooler": d, "cls": s["classes"]}[head]
        out.linear("head", x, b * t if head == "lm" else b, width, d)


def _build_dlrm(out, s):
    b = s["batch"]
    z = _mlp(out, "bottom", frozenset(), b, (s["dense"],) + s["bottom"] + (s["dim"],))
    n = s["tables"] + 1
    dots = out.matmul("interact", z, n, n, s["dim"], b)
    _mlp(out, "top", z | dots, b, (n * (n - 1) // 2 + s["dim"],) + s["top"] + (1,))


_BUILD = {
    "cnn": _build_cnn,
    "resnet": _build_resnet,
    "mobilenet": _build_mobilenet,
    "encoder": _build_transformer,
    "prefill": _build_transformer,
    "decode": _build_transformer,
    "dlrm": _build_dlrm,
}

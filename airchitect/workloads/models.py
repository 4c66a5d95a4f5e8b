"""Reference networks as plain ``torch.nn`` modules (no downloads, no torchvision).

Only the layer shapes matter here: the modules are meant to be built on the
meta device and traced by :func:`airchitect.workloads.gemms_from_module`.
Non-GEMM details (normalisation, activation functions, rotary embeddings,
attention masks) are simplified where they do not change any GEMM shape.
"""

from __future__ import annotations

import torch
from torch import nn


class Matmul(nn.Module):
    """``a @ b`` as a module, so that traced attention products get a layer name."""

    def forward(self, a, b):
        return a @ b


def _conv_bn(in_c, out_c, k, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(in_c, out_c, k, stride, (k - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(out_c)]
    if act:
        layers.append(nn.ReLU6(inplace=False))
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- CNNs


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck: 1x1, 3x3 (carrying the stride), 1x1, and a projection shortcut."""

    def __init__(self, in_c, width, stride):
        super().__init__()
        out_c = width * 4
        self.conv1 = nn.Conv2d(in_c, width, 1, bias=False)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.conv3 = nn.Conv2d(width, out_c, 1, bias=False)
        self.downsample = None
        if stride != 1 or in_c != out_c:
            self.downsample = nn.Conv2d(in_c, out_c, 1, stride, bias=False)

    def forward(self, x):
        y = self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.relu(y + shortcut)


class ResNet50(nn.Module):
    """ResNet-50 (He et al. 2016, v1.5 as in torchvision): 53 convs + 1 dense layer."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, in_c = [], 64
        for stage, (width, n, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]):
            for i in range(n):
                blocks.append(Bottleneck(in_c, width, stride if i == 0 else 1))
                in_c = width * 4
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = self.layers(self.maxpool(torch.relu(self.conv1(x))))
        return self.fc(x.mean((2, 3)))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion (skipped when t = 1), 3x3 depthwise, 1x1 projection."""

    def __init__(self, in_c, out_c, stride, t):
        super().__init__()
        hidden = in_c * t
        layers = [] if t == 1 else [_conv_bn(in_c, hidden, 1)]
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, out_c, 1, act=False)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and in_c == out_c

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al. 2018), width 1.0: 52 convs + 1 dense layer."""

    def __init__(self, num_classes=1000):
        super().__init__()
        layers, in_c = [_conv_bn(3, 32, 3, 2)], 32
        for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
            for i in range(n):
                layers.append(InvertedResidual(in_c, c, s if i == 0 else 1, t))
                in_c = c
        layers.append(_conv_bn(in_c, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


class VGG16(nn.Module):
    """VGG16 (Simonyan and Zisserman 2015, configuration D): 13 3x3 convs + 3 dense layers."""

    def __init__(self, num_classes=1000):
        super().__init__()
        layers, in_c = [], 3
        for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_c, v, 3, 1, 1), nn.ReLU()]
                in_c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


# ----------------------------------------------------------------------------- transformers


class Attention(nn.Module):
    """Multi-head self-attention with an optional KV cache of ``cache_len`` earlier tokens.

    The cache is an empty tensor of the right shape (meta tracing needs no values);
    the query tokens attend to ``cache_len + tokens`` keys.
    """

    def __init__(self, d, heads, fused_qkv, bias, cache_len=0):
        super().__init__()
        self.heads, self.cache_len = heads, cache_len
        if fused_qkv:
            self.qkv = nn.Linear(d, 3 * d, bias=bias)
        else:
            self.q, self.k, self.v = (nn.Linear(d, d, bias=bias) for _ in range(3))
        self.qk, self.av = Matmul(), Matmul()
        self.out = nn.Linear(d, d, bias=bias)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, -1) if hasattr(self, "qkv") else (self.q(x), self.k(x), self.v(x))
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        if self.cache_len:
            cache = x.new_empty(b, self.heads, self.cache_len, d // self.heads)
            k, v = torch.cat([cache, k], 2), torch.cat([cache, v], 2)
        scores = torch.softmax(self.qk(q, k.transpose(-1, -2)) * (d // self.heads) ** -0.5, -1)
        return self.out(self.av(scores, v).transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    """Feed-forward block: ``up, down`` with GELU, or LLaMA's SwiGLU ``gate, up, down``."""

    def __init__(self, d, hidden, bias, gated):
        super().__init__()
        self.gate = nn.Linear(d, hidden, bias=bias) if gated else None
        self.up = nn.Linear(d, hidden, bias=bias)
        self.down = nn.Linear(hidden, d, bias=bias)

    def forward(self, x):
        h = self.up(x)
        h = nn.functional.silu(self.gate(x)) * h if self.gate is not None else nn.functional.gelu(h)
        return self.down(h)


class Block(nn.Module):
    def __init__(self, d, heads, hidden, fused_qkv, bias, gated, cache_len):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, heads, fused_qkv, bias, cache_len)
        self.mlp = MLP(d, hidden, bias, gated)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """A stack of transformer blocks with a token or patch front end and an optional head.

    Parameters
    ----------
    d, heads, hidden, layers : int
        Model width, attention heads, feed-forward width, number of blocks.
    vocab : int or None
        Token vocabulary (input is ``(batch, tokens)`` ids); None for a ViT
        whose input is an image ``(batch, 3, H, W)`` cut into ``patch`` x ``patch``
        patches plus a class token.
    head : "lm", "pooler", "cls" or None
        ``lm``: a linear layer to the vocabulary on every token; ``pooler``:
        BERT's ``d x d`` dense layer on the first token; ``cls``: a classifier
        with ``num_classes`` outputs on the class token.
    """

    def __init__(self, d, heads, hidden, layers, *, vocab=None, patch=16, head=None,
                 fused_qkv=False, bias=True, gated=False, cache_len=0, num_classes=1000):
        super().__init__()
        self.embed = nn.Embedding(vocab, d) if vocab else nn.Conv2d(3, d, patch, patch)
        self.cls_token = None if vocab else nn.Parameter(torch.zeros(1, 1, d))
        self.blocks = nn.Sequential(*(Block(d, heads, hidden, fused_qkv, bias, gated, cache_len)
                                      for _ in range(layers)))
        self.norm = nn.LayerNorm(d)
        self.head_kind = head
        out = {"lm": vocab, "pooler": d, "cls": num_classes}.get(head)
        self.head = nn.Linear(d, out, bias=head != "lm") if head else None

    def forward(self, x):
        if self.cls_token is None:
            x = self.embed(x)
        else:
            x = self.embed(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1)
        x = self.norm(self.blocks(x))
        if self.head is None:
            return x
        return self.head(x if self.head_kind == "lm" else x[:, 0])


# ----------------------------------------------------------------------------- DLRM


class DLRM(nn.Module):
    """DLRM (Naumov et al. 2019) in the MLPerf Criteo-Terabyte configuration.

    Bottom MLP 13-512-256-128 on the dense features, 26 embedding tables of
    width 128, pairwise dot-product interaction of the 27 vectors (one batched
    ``27 x 128 @ 128 x 27`` product per sample; its 351 distinct dot products
    plus the 128 dense features give 479 inputs), top MLP 479-1024-1024-512-256-1.
    The input is the dense features ``(batch, 13)``; the sparse lookups are
    not GEMMs and are represented by one index per table.
    """

    def __init__(self, tables=26, dim=128, rows_per_table=1000):
        super().__init__()
        self.tables = nn.ModuleList(nn.EmbeddingBag(rows_per_table, dim, mode="sum") for _ in range(tables))
        self.bottom = self._mlp([13, 512, 256, dim])
        n = tables + 1
        self.interact = Matmul()
        self.top = self._mlp([n * (n - 1) // 2 + dim, 1024, 1024, 512, 256, 1])

    @staticmethod
    def _mlp(sizes):
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers[:-1])

    def forward(self, dense):
        b = dense.shape[0]
        z = self.bottom(dense)
        idx = torch.zeros(b, 1, dtype=torch.int64, device=dense.device)
        t = torch.stack([z] + [table(idx) for table in self.tables], 1)
        dots = self.interact(t, t.transpose(1, 2))
        i, j = torch.tril_indices(t.shape[1], t.shape[1], -1, device=dense.device)
        return self.top(torch.cat([z, dots[:, i, j]], 1))

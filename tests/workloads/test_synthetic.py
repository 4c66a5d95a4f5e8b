"""Synthetic networks: determinism, bounds, held-out property, and equality with the tracing path."""

import re

import numpy as np
import pytest
import torch
from torch import nn

from airchitect.workloads import COLUMNS, NETWORKS, gemms_from_module, network, networks
from airchitect.workloads import models, synthetic
from airchitect.workloads.synthetic import FAMILIES, synthetic_networks
from airchitect.workloads.trace import _table


@pytest.fixture(scope="module")
def real():
    return networks()


@pytest.fixture(scope="module")
def many():
    return synthetic_networks(1400, seed=0)  # 200 of each family


def multiset(df):
    """``(M, N, K)`` weighted by ``count``."""
    return frozenset(df.groupby(["M", "N", "K"])["count"].sum().items())


# ----------------------------------------------------------------------------- the tracing path

TRANSFORMER = dict(patch=None, res=None, seq=None, classes=None, cache_len=0, gated=False, fused_qkv=False,
                   vocab=None, head=None, batch=1)


class VGGLike(models.VGG16):
    def __init__(self, res, depths, widths, flatten, fc, classes):
        nn.Module.__init__(self)
        layers, in_c = [], 3
        for depth, width in zip(depths, widths):
            for _ in range(depth):
                layers += [nn.Conv2d(in_c, width, 3, 1, 1), nn.ReLU()]
                in_c = width
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.flat = flatten
        side = res >> len(depths)
        self.classifier = models.DLRM._mlp([in_c * side * side if flatten else in_c, *fc, classes])

    def forward(self, x):
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1) if self.flat else x.mean((2, 3)))


class ResNetLike(models.ResNet50):
    def __init__(self, stem, stages, classes):
        nn.Module.__init__(self)
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, in_c = [], stem
        for width, n, stride in stages:
            for i in range(n):
                blocks.append(models.Bottleneck(in_c, width, stride if i == 0 else 1))
                in_c = width * 4
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(in_c, classes)


class MobileNetLike(models.MobileNetV2):
    def __init__(self, stem, blocks, last, classes):
        nn.Module.__init__(self)
        layers, in_c = [models._conv_bn(3, stem, 3, 2)], stem
        for t, c, n, s in blocks:
            for i in range(n):
                layers.append(models.InvertedResidual(in_c, c, s if i == 0 else 1, t))
                in_c = c
        layers.append(models._conv_bn(in_c, last, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(last, classes)


class DLRMLike(models.DLRM):
    def __init__(self, dense, bottom, dim, tables, top):
        nn.Module.__init__(self)
        self.tables = nn.ModuleList(nn.EmbeddingBag(10, dim, mode="sum") for _ in range(tables))
        self.bottom = self._mlp([dense, *bottom, dim])
        n = tables + 1
        self.interact = models.Matmul()
        self.top = self._mlp([n * (n - 1) // 2 + dim, *top, 1])


def traced(spec, net="x"):
    """Build the spec as a torch.nn module on the meta device and trace it."""
    s, b = spec, spec["batch"]
    image, tokens = (b, 3, s.get("res"), s.get("res")), None
    with torch.device("meta"):
        if s["family"] == "cnn":
            module = VGGLike(s["res"], s["depths"], s["widths"], s["flatten"], s["fc"], s["classes"])
        elif s["family"] == "resnet":
            module = ResNetLike(s["stem"], s["stages"], s["classes"])
        elif s["family"] == "mobilenet":
            module = MobileNetLike(s["stem"], s["blocks"], s["last"], s["classes"])
        elif s["family"] == "dlrm":
            module = DLRMLike(s["dense"], s["bottom"], s["dim"], s["tables"], s["top"])
            image = (b, s["dense"])
        else:
            module = models.Transformer(
                s["d"], s["heads"], s["hidden"], s["layers"], vocab=None if s["patch"] else s["vocab"] or 100,
                patch=s["patch"] or 16, head=s["head"], fused_qkv=s["fused_qkv"], gated=s["gated"],
                cache_len=s["cache_len"], num_classes=s["classes"] or 1000)
            if not s["patch"]:
                tokens = (b, s["seq"])
    if tokens:
        return gemms_from_module(module.eval(), tokens, dtype=torch.int64, net=net)
    return gemms_from_module(module.eval(), image, net=net)


FIXED = [
    dict(family="cnn", batch=2, res=96, depths=(1, 3, 2), widths=(24, 48, 96), flatten=True, fc=(320,),
         classes=17),
    dict(family="cnn", batch=1, res=80, depths=(2, 1, 1, 4), widths=(16, 32, 64, 64), flatten=False, fc=(),
         classes=5),
    dict(family="resnet", batch=3, res=96, stem=24, stages=((16, 2, 1), (32, 1, 2), (64, 3, 2)), classes=9),
    # a first stage whose input already has 4 x width channels keeps an identity shortcut
    dict(family="resnet", batch=1, res=64, stem=64, stages=((16, 2, 1), (40, 2, 2), (8, 1, 2)), classes=3),
    dict(family="mobilenet", batch=2, res=112, stem=16, last=320, classes=11,
         blocks=((1, 8, 1, 1), (3, 16, 2, 2), (5, 16, 2, 1), (2, 40, 3, 2))),
    dict(TRANSFORMER, family="encoder", d=96, heads=3, hidden=200, layers=3, seq=37, head="pooler"),
    dict(TRANSFORMER, family="encoder", d=64, heads=2, hidden=128, layers=2, seq=9, batch=4),
    dict(TRANSFORMER, family="encoder", d=80, heads=5, hidden=256, layers=2, patch=8, res=40, head="cls",
         classes=21, fused_qkv=True, batch=2),
    dict(TRANSFORMER, family="encoder", d=48, heads=1, hidden=96, layers=1, patch=14, res=56),
    dict(TRANSFORMER, family="prefill", d=128, heads=2, hidden=512, layers=3, seq=50, vocab=3000, head="lm",
         gated=True, batch=2),
    dict(TRANSFORMER, family="prefill", d=96, heads=4, hidden=300, layers=2, seq=17, vocab=1234, head="lm",
         fused_qkv=True),
    dict(TRANSFORMER, family="decode", d=128, heads=4, hidden=256, layers=3, seq=1, cache_len=70, vocab=999,
         head="lm", gated=True, batch=8),
    dict(TRANSFORMER, family="decode", d=64, heads=1, hidden=256, layers=2, seq=1, cache_len=5, vocab=77,
         head="lm", fused_qkv=True, batch=3),
    dict(family="dlrm", batch=5, dense=7, bottom=(64, 48), dim=16, tables=4, top=(100, 30)),
    dict(family="dlrm", batch=1, dense=1, bottom=(32,), dim=8, tables=1, top=(64,)),
]


@pytest.mark.parametrize("spec", FIXED, ids=[f"{s['family']}-{i}" for i, s in enumerate(FIXED)])
def test_rows_equal_the_traced_module(spec):
    direct = _table(synthetic._build(spec), "x")
    assert direct.equals(traced(spec))


@pytest.mark.parametrize("family", FAMILIES)
def test_drawn_networks_equal_the_traced_module(family):
    for i in range(2):
        spec = synthetic._DRAW[family](np.random.default_rng([5, i]))
        if "layers" in spec:
            spec = dict(spec, layers=min(spec["layers"], 3))  # keep the trace short
        assert _table(synthetic._build(spec), "x").equals(traced(spec)), spec


@pytest.mark.parametrize("name", NETWORKS)
def test_real_hyper_parameters_rebuild_the_real_networks(name):
    # the real networks are members of the families: the same rows, names and inputs
    assert _table(synthetic._build(synthetic._REAL[name]), name).equals(network(name))


@pytest.mark.parametrize("name", ["resnet50", "gpt2-decode", "dlrm"])
def test_real_hyper_parameters_at_batch_4(name):
    spec = dict(synthetic._REAL[name], batch=4)
    assert _table(synthetic._build(spec), name).equals(network(name, batch=4))


# ----------------------------------------------------------------------------- the sampler


def test_columns_and_dtypes_match_networks(real):
    df = synthetic_networks(8)
    assert list(df.columns) == list(COLUMNS) == list(real.columns)
    assert (df.dtypes == real.dtypes).all()
    assert df.index.tolist() == list(range(len(df)))


def test_deterministic_and_seeded():
    a = synthetic_networks(21, seed=4)
    assert a.equals(synthetic_networks(21, seed=4))
    b = synthetic_networks(21, seed=5)
    assert not a[["M", "N", "K"]].equals(b[["M", "N", "K"]])


def test_network_i_does_not_depend_on_n():
    short, long = synthetic_networks(30, seed=2), synthetic_networks(90, seed=2)
    head = long[long.net.isin(short.net.unique())].reset_index(drop=True)
    assert head.equals(short)
    assert list(long.net.unique()[:30]) == list(short.net.unique())


def test_names_and_family_cycle():
    df = synthetic_networks(9)
    assert list(df.net.unique()) == [f"syn-{FAMILIES[i % 7]}-{i:04d}" for i in range(9)]
    df = synthetic_networks(4, seed=1, families=["dlrm", "cnn"])
    assert list(df.net.unique()) == ["syn-dlrm-0000", "syn-cnn-0001", "syn-dlrm-0002", "syn-cnn-0003"]
    assert set(synthetic_networks(3, families="decode").net.str[:10]) == {"syn-decode"}
    # a family's draws do not depend on which other families are drawn
    one = synthetic_networks(3, seed=1, families=["dlrm", "cnn", "resnet"])
    assert one[one.net == "syn-dlrm-0000"].equals(df[df.net == "syn-dlrm-0000"])


def test_bounds_and_sizes(many):
    df = many
    assert df[["M", "N", "K"]].min().min() >= 1 and df[["M", "N", "K"]].max().max() <= 65536
    assert (df["count"] >= 1).all()
    assert set(df.kind) == {"conv", "linear", "matmul"}
    assert all(re.fullmatch(r"syn-[a-z]+-\d{4}", n) for n in df.net.unique())
    assert set(df.net.str.split("-").str[1]) == set(FAMILIES)
    per_net = df.groupby("net", sort=False)
    assert per_net.size().max() <= 433
    assert per_net.apply(lambda g: len(g.drop_duplicates(["M", "N", "K"]))).max() <= 64
    # the conv fields describe the same GEMM, as in the traced tables
    assert (df.M == df.out_h * df.out_w * df.batch).all()
    assert (df.N * df.groups == df.out_channels).all()
    assert (df.K * df.groups == df.in_channels * df.kh * df.kw).all()
    starts = per_net.cumcount().to_numpy()
    assert all(all(0 <= i < k for i in inputs) for k, inputs in zip(starts, df.inputs))


def test_every_family_has_its_kind_of_layers(many):
    fam = many.net.str.split("-").str[1]
    assert ((many.groups > 1) & (fam == "mobilenet")).any()
    assert not ((many.groups > 1) & (fam != "mobilenet")).any()
    assert set(many.kind[fam == "cnn"]) == {"conv", "linear"}
    assert set(many.kind[fam == "dlrm"]) == {"linear", "matmul"}
    assert set(many.layer[fam == "prefill"].str.rsplit(".", n=1).str[-1]) >= {"gate", "qkv", "q", "head"}
    decode = many[(fam == "decode") & (many.kind == "matmul")]
    assert (decode.M == 1).all() and (decode.N[decode.layer.str.endswith("qk")] > 16).all()


def test_ranges_cover_the_real_networks(real, many):
    for col in ["M", "N", "K", "count"]:
        assert many[col].max() >= real[col].max(), col
        assert many[col].min() <= real[col].min(), col
    macs = (many.M * many.N * many.K * many["count"]).groupby(many.net).sum()
    real_macs = (real.M * real.N * real.K * real["count"]).groupby(real.net).sum()
    assert macs.min() < real_macs.min() and macs.max() > real_macs.max()


def test_no_synthetic_network_is_a_real_one(real, many):
    held_out = {multiset(g) for _, g in real.groupby("net")}
    assert len(held_out) == len(NETWORKS)
    assert not any(multiset(g) in held_out for _, g in many.groupby("net"))


def test_a_draw_equal_to_a_real_network_is_redrawn(monkeypatch):
    vgg16 = dict(family="cnn", batch=1, res=224, depths=(2, 2, 3, 3, 3), widths=(64, 128, 256, 512, 512),
                 flatten=True, fc=(4096, 4096), classes=1000)
    other = dict(vgg16, classes=999)
    draws = iter([vgg16, dict(vgg16, batch=4), other])
    monkeypatch.setitem(synthetic._DRAW, "cnn", lambda rng: next(draws))
    df = synthetic_networks(1, families="cnn")
    assert df.N.iloc[-1] == 999 and len(df) == 16
    assert multiset(df) != multiset(network("vgg16"))


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        (dict(n=0), ValueError, r"n must be an integer in \[1, 10000\], got 0"),
        (dict(n=10001), ValueError, r"n must be an integer in \[1, 10000\]"),
        (dict(n=2.0), TypeError, r"n must be an integer"),
        (dict(n=True), TypeError, r"n must be an integer"),
        (dict(n="3"), TypeError, r"n must be an integer"),
        (dict(n=1, seed=-1), ValueError, r"seed must be an integer in \[0, 9223372036854775807\], got -1"),
        (dict(n=1, seed=None), TypeError, r"seed must be an integer"),
        (dict(n=1, families="vgg"), ValueError, r"families must be one of cnn, resnet, .*dlrm; got 'vgg'"),
        (dict(n=1, families=["cnn", "bert"]), ValueError, r"families must be one of .*; got 'bert'"),
        (dict(n=1, families=[]), ValueError, r"families must name at least one of cnn, "),
        (dict(n=1, families=["cnn", "cnn"]), ValueError, r"families must not repeat a name"),
        (dict(n=1, families=3), TypeError, r"families must be None, one of .* or a list of them; got int"),
        (dict(n=1, families=[None]), TypeError, r"families must be one of cnn, .*; got None"),
    ],
)
def test_bad_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        synthetic_networks(**kwargs)
    assert "\n" not in str(info.value)

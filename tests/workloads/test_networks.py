"""Real networks as GEMM tables: hand-checked shapes and published MAC totals."""

import numpy as np
import pandas as pd
import pytest

import airchitect as ac
from airchitect.workloads import COLUMNS, NETWORKS, network, networks


def macs(df):
    return int((df.M * df.N * df.K * df["count"]).sum())


def row(df, layer):
    hit = df[df.layer == layer]
    assert len(hit) == 1, layer
    return hit.iloc[0]


def shape(r):
    return int(r.M), int(r.N), int(r.K), int(r["count"])


def test_names_and_columns():
    assert NETWORKS == (
        "resnet50", "mobilenetv2", "vgg16", "bert-base-128", "bert-base-512", "gpt2-prefill",
        "gpt2-decode", "vit-b16", "llama2-7b-prefill", "llama2-7b-decode", "dlrm",
    )
    for name in NETWORKS:
        df = network(name)
        assert list(df.columns) == list(COLUMNS)
        assert (df.net == name).all()
        assert set(df.kind) <= {"conv", "linear", "matmul"}
        ints = df[list(COLUMNS[3:19])]
        assert all(ints.dtypes == np.int64) and (ints.drop(columns="padding") >= 1).all().all()
        # the conv fields describe the same GEMM
        assert (df.M == df.out_h * df.out_w * df.batch).all()
        assert (df.N * df.groups == df.out_channels).all()
        assert (df.K * df.groups == df.in_channels * df.kh * df.kw).all()
        assert all(all(0 <= i < k for i in inputs) for k, inputs in enumerate(df.inputs))


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="name must be one of resnet50, mobilenetv2, .*dlrm; got 'resnet'"):
        network("resnet")
    with pytest.raises(ValueError):
        network(None)


def test_returns_copies():
    a = network("vgg16")
    a.loc[0, "M"] = -1
    assert network("vgg16").loc[0, "M"] == 224 * 224


def test_networks_concatenates():
    df = networks()
    assert list(df.net.unique()) == list(NETWORKS)
    assert len(df) == sum(len(network(n)) for n in NETWORKS)
    assert df.index.tolist() == list(range(len(df)))
    assert networks("dlrm").equals(network("dlrm"))
    with pytest.raises(ValueError):
        networks(["dlrm", "alexnet"])


# published totals (multiply-accumulates, batch 1, 224 x 224), compared at their rounding
@pytest.mark.parametrize(
    "name, published, digits",
    [
        ("resnet50", 4.1e9, 1),  # He et al. / torchvision: 4.1 GMACs ("4.09 GFLOPS")
        ("vgg16", 15.5e9, 1),  # torchvision: 15.47 GMACs
        ("vit-b16", 17.6e9, 1),  # Dosovitskiy et al. / DeiT: 17.6 G
        ("mobilenetv2", 0.30e9, 2),  # Sandler et al. Table 4: 300M multiply-adds
    ],
)
def test_published_mac_totals(name, published, digits):
    assert round(macs(network(name)) / 1e9, digits) == round(published / 1e9, digits)


def test_resnet50():
    df = network("resnet50")
    assert (df.kind == "conv").sum() == 53 and (df.kind == "linear").sum() == 1
    conv1 = df.iloc[0]
    assert shape(conv1) == (112 * 112, 64, 3 * 7 * 7, 1)
    assert (conv1.in_h, conv1.kh, conv1.stride, conv1.padding, conv1.out_h) == (224, 7, 2, 3, 112)
    # v1.5: the first block of stage 2 strides in its 3x3 conv, 128 -> 128 channels
    assert shape(row(df, "layers.3.conv2")) == (28 * 28, 128, 128 * 9, 1)
    assert shape(row(df, "layers.3.downsample")) == (28 * 28, 512, 256, 1)
    assert shape(row(df, "fc")) == (1, 1000, 2048, 1)
    # the residual block reads both the main path and the shortcut
    assert row(df, "layers.1.conv1").inputs == (3, 4)


def test_mobilenetv2_depthwise():
    df = network("mobilenetv2")
    dw = row(df, "features.2.conv.1.0")  # 3x3 depthwise, stride 2, 96 channels, 112 -> 56
    assert shape(dw) == (56 * 56, 1, 9, 96)
    assert (dw.groups, dw.in_channels, dw.out_channels, dw.stride, dw.in_h) == (96, 96, 96, 2, 112)
    assert (df.groups > 1).sum() == 17  # one depthwise conv per inverted-residual block
    assert shape(row(df, "classifier")) == (1, 1000, 1280, 1)


def test_vgg16():
    df = network("vgg16")
    assert df.kind.tolist() == ["conv"] * 13 + ["linear"] * 3
    convs = df[df.kind == "conv"]
    assert (convs.kh == 3).all() and (convs.padding == 1).all() and (convs.stride == 1).all()
    assert convs.in_h.tolist() == [224, 224, 112, 112, 56, 56, 56, 28, 28, 28, 14, 14, 14]
    assert shape(df.iloc[13]) == (1, 4096, 512 * 7 * 7, 1)


@pytest.mark.parametrize("seq", [128, 512])
def test_bert(seq):
    df = network(f"bert-base-{seq}")
    for proj in "qkv":
        assert shape(row(df, f"blocks.0.attn.{proj}")) == (seq, 768, 768, 1)
    assert shape(row(df, "blocks.11.attn.qk")) == (seq, seq, 64, 12)
    assert shape(row(df, "blocks.11.attn.av")) == (seq, 64, seq, 12)
    assert shape(row(df, "blocks.5.mlp.up")) == (seq, 3072, 768, 1)
    assert shape(row(df, "head")) == (1, 768, 768, 1)  # pooler on [CLS]
    linear = 12 * seq * (4 * 768 * 768 + 2 * 768 * 3072) + 768 * 768
    assert macs(df) == linear + 12 * 2 * 12 * seq * seq * 64


def test_gpt2():
    pre, dec = network("gpt2-prefill"), network("gpt2-decode")
    assert shape(row(pre, "blocks.0.attn.qkv")) == (1024, 3 * 768, 768, 1)
    assert shape(row(pre, "blocks.0.attn.qk")) == (1024, 1024, 64, 12)
    assert shape(row(pre, "head")) == (1024, 50257, 768, 1)
    assert shape(row(dec, "blocks.0.attn.qkv")) == (1, 3 * 768, 768, 1)
    assert shape(row(dec, "blocks.0.attn.qk")) == (1, 1024, 64, 12)  # 1023 cached + 1
    assert shape(row(dec, "blocks.0.attn.av")) == (1, 64, 1024, 12)
    # GPT-2 small has 124,439,808 parameters, of which wte 50257x768, wpe 1024x768,
    # biases and layer norms; per token every weight matrix is used once (LM head tied to wte)
    weights = 124_439_808 - 1024 * 768 - 12 * (2304 + 768 + 3072 + 768 + 4 * 768) - 2 * 768
    assert macs(dec) == weights + 12 * 12 * 2 * 1024 * 64


def test_vit():
    df = network("vit-b16")
    patch = df.iloc[0]
    assert patch.kind == "conv" and shape(patch) == (196, 768, 3 * 16 * 16, 1)
    assert (patch.stride, patch.kh) == (16, 16)
    assert shape(row(df, "blocks.0.attn.qk")) == (197, 197, 64, 12)
    assert shape(row(df, "head")) == (1, 1000, 768, 1)


def test_llama2_7b():
    pre, dec = network("llama2-7b-prefill"), network("llama2-7b-decode")
    assert len(pre) == len(dec) == 32 * 9 + 1
    assert shape(row(pre, "blocks.0.attn.q")) == (2048, 4096, 4096, 1)
    assert shape(row(pre, "blocks.31.attn.qk")) == (2048, 2048, 128, 32)
    assert shape(row(dec, "blocks.0.mlp.gate")) == (1, 11008, 4096, 1)
    assert shape(row(dec, "blocks.0.mlp.up")) == (1, 11008, 4096, 1)
    assert shape(row(dec, "blocks.0.mlp.down")) == (1, 4096, 11008, 1)
    assert shape(row(dec, "blocks.0.attn.qk")) == (1, 2049, 128, 32)  # 2048 cached + 1
    assert shape(row(dec, "blocks.0.attn.av")) == (1, 128, 2049, 32)
    # LLaMA-2-7B has 6,738,415,616 parameters: untied input embedding 32000x4096 and
    # 65 RMSNorm vectors are not GEMM weights; every other weight is used once per token
    weights = 6_738_415_616 - 32000 * 4096 - 65 * 4096
    assert macs(dec) == weights + 32 * 32 * 2 * 2049 * 128
    assert macs(pre) == 2048 * weights + 32 * 32 * 2 * 2048 * 2048 * 128


def test_dlrm():
    df = network("dlrm")
    mlp = df[df.kind == "linear"]
    assert list(zip(mlp.K, mlp.N)) == [(13, 512), (512, 256), (256, 128), (479, 1024),
                                       (1024, 1024), (1024, 512), (512, 256), (256, 1)]
    assert (mlp.M == 1).all()
    assert shape(row(df, "interact")) == (27, 27, 128, 1)


def test_all_networks_trace_quickly_in_one_table():
    df = networks()
    assert isinstance(df, pd.DataFrame) and len(df) == 1124
    assert ac.workloads.network is network


def test_batch():
    r = network("resnet50", batch=4)
    assert shape(r.iloc[0]) == (4 * 112 * 112, 64, 147, 1) and r.loc[0, "batch"] == 4
    assert macs(r) == 4 * macs(network("resnet50"))
    b = network("bert-base-128", batch=3)
    assert shape(row(b, "blocks.0.attn.q")) == (3 * 128, 768, 768, 1)
    assert shape(row(b, "blocks.0.attn.qk")) == (128, 128, 64, 3 * 12)
    assert shape(row(b, "head")) == (3, 768, 768, 1)
    d = network("llama2-7b-decode", batch=8)
    assert shape(row(d, "blocks.0.mlp.down")) == (8, 4096, 11008, 1)
    assert shape(row(d, "blocks.0.attn.av")) == (1, 128, 2049, 8 * 32)
    assert shape(row(network("dlrm", batch=2048), "interact")) == (27, 27, 128, 2048)
    assert set(networks(["vgg16", "dlrm"], batch=2).batch) == {1, 2}
    for bad in (0, 65537, True, 2.0, None, "1"):
        with pytest.raises((TypeError, ValueError), match="^batch must be an integer in"):
            network("vgg16", batch=bad)

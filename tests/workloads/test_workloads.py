"""The GEMM sampler and the tracer of user modules."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import airchitect as ac
from airchitect.workloads import COLUMNS, gemms_from_module, sample_gemms


# ----------------------------------------------------------------------------- sampler


def test_same_seed_same_rows_other_seed_other_rows():
    a, b, c = sample_gemms(1000, seed=7), sample_gemms(1000, seed=7), sample_gemms(1000, seed=8)
    assert a.equals(b)
    assert not a.equals(c)
    assert list(a.columns) == ["M", "N", "K"]
    assert all(a.dtypes == np.int64)
    # a prefix of a longer draw is not promised, but n rows are
    assert len(sample_gemms(0)) == 0


def test_bounds_are_respected_and_reached():
    df = sample_gemms(20000, seed=1, low=3, high=40)
    assert df.values.min() == 3 and df.values.max() == 40
    assert set(np.unique(df.values)) == set(range(3, 41))


def test_log_uniform_law():
    df = sample_gemms(200_000, seed=0)
    # median of log-uniform over [1, 16385) is sqrt(16385) = 128.0..., the geometric
    # mean of the bounds; the sample median's standard deviation is
    # 1 / (2 f(128) sqrt(n)) = 1.4 per column and 0.8 pooled (f(d) = 1 / (d ln 16385))
    for col in "MNK":
        assert abs(np.median(df[col]) - 128) <= 5
    assert abs(np.median(df.values) - 128) <= 3
    # P(d <= 2**j) = log(2**j + 1) / log(16385): check each octave's share
    v = df.values.ravel()
    for j in (0, 3, 7, 10, 13):
        expected = np.log(2**j + 1) / np.log(16385)
        assert abs((v <= 2**j).mean() - expected) < 0.005
    # the three dimensions are independent
    corr = np.corrcoef(np.log(df.values.T))
    assert np.abs(corr[np.triu_indices(3, 1)]).max() < 0.01


def test_degenerate_range():
    df = sample_gemms(5, low=9, high=9)
    assert (df.values == 9).all()


bad_int = st.one_of(st.booleans(), st.floats(), st.none(), st.text(), st.just(2.0))


@settings(max_examples=60)
@given(field=st.sampled_from(["n", "seed", "low", "high"]), value=bad_int)
def test_sampler_rejects_non_integers_naming_the_field(field, value):
    args = {"n": 3, "seed": 0, "low": 1, "high": 10, field: value}
    with pytest.raises(TypeError, match=f"^{field} must be an integer"):
        sample_gemms(**args)


@pytest.mark.parametrize(
    "args, field",
    [
        (dict(n=-1), "n"),
        (dict(seed=-5), "seed"),
        (dict(low=0), "low"),
        (dict(low=10, high=9), "high"),
        (dict(high=2**31 - 1), "high"),
    ],
)
def test_sampler_rejects_out_of_range(args, field):
    with pytest.raises(ValueError, match=f"^{field} must be an integer in"):
        sample_gemms(**{"n": 3, **args})


@given(low=st.integers(1, 1000), span=st.integers(0, 1000), seed=st.integers(0, 2**32))
@settings(max_examples=30)
def test_sampler_stays_in_bounds(low, span, seed):
    df = sample_gemms(50, seed=seed, low=low, high=low + span)
    assert df.values.min() >= low and df.values.max() <= low + span


# ----------------------------------------------------------------------------- tracer


class Functional(nn.Module):
    """Products written as functions, not modules: all must be found."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(16, 8))

    def forward(self, x):  # x: (2, 5, 8)
        h = nn.functional.linear(x, self.w)  # (2, 5, 16)
        q = h.view(2, 5, 4, 4).transpose(1, 2)  # (2, 4, 5, 4)
        a = nn.functional.scaled_dot_product_attention(q, q, q)  # 2 bmm of batch 8
        return torch.matmul(a, torch.ones(4, 3, device=a.device))  # (2, 4, 5, 3)


def test_functional_products():
    df = gemms_from_module(Functional(), (2, 5, 8), net="f")
    assert list(df.columns) == list(COLUMNS)
    got = df[["kind", "M", "N", "K", "count"]].values.tolist()
    assert got == [
        ["matmul", 10, 16, 8, 1],  # F.linear outside nn.Linear is a plain matmul
        ["matmul", 5, 5, 4, 8],  # Q K^T per (batch, head)
        ["matmul", 5, 4, 5, 8],  # A V
        ["matmul", 40, 3, 4, 1],  # (2*4*5) x 4 @ 4 x 3
    ]
    assert df.layer.tolist() == ["model.mm0", "model.bmm1", "model.bmm2", "model.mm3"]
    assert df.inputs.tolist() == [(), (0,), (0, 1), (2,)]
    assert (df.net == "f").all()


def test_grouped_strided_padded_conv_and_real_weights_untouched():
    conv = nn.Conv2d(12, 24, (3, 5), stride=2, padding=(1, 2), groups=3, bias=True)
    before = conv.weight.detach().clone()
    row = gemms_from_module(nn.Sequential(conv, nn.ReLU()), (4, 12, 17, 20)).iloc[0]
    out_h, out_w = (17 + 2 - 3) // 2 + 1, (20 + 4 - 5) // 2 + 1
    assert (row.out_h, row.out_w) == (out_h, out_w) == (9, 10)
    assert (row.M, row.N, row.K, row["count"]) == (out_h * out_w * 4, 8, 4 * 3 * 5, 3)
    assert (row.kh, row.kw, row.stride, row.padding, row.groups) == (3, 5, 2, 1, 3)
    assert (row.in_h, row.in_w, row.in_channels, row.out_channels, row.batch) == (17, 20, 12, 24, 4)
    assert row.layer == "0" and row.kind == "conv"
    assert conv.weight.device.type == "cpu" and torch.equal(conv.weight, before)


def test_multihead_attention_module():
    mha = nn.MultiheadAttention(32, 4, batch_first=True)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    df = gemms_from_module(Wrap(), (3, 7, 32))
    macs = int((df.M * df.N * df.K * df["count"]).sum())
    # in-projection 3 x (21 x 32 x 32), two products per head, out-projection
    assert macs == 3 * 21 * 32 * 32 + 2 * 3 * 4 * 7 * 7 * 8 + 21 * 32 * 32


def test_non_gemm_ops_are_not_recorded_and_1d_conv_warns():
    df = gemms_from_module(nn.Sequential(nn.ReLU(), nn.Softmax(-1)), (4, 4))
    assert len(df) == 0 and list(df.columns) == list(COLUMNS)
    with pytest.warns(UserWarning, match="only 2-D"):
        df = gemms_from_module(nn.Conv1d(3, 4, 3), (1, 3, 10))
    assert len(df) == 0


@pytest.mark.parametrize(
    "module, shape, error",
    [
        ("not a module", (1, 3), TypeError),
        (nn.Linear(3, 3), 3, TypeError),
        (nn.Linear(3, 3), (1, 0), ValueError),
        (nn.Linear(3, 3), (1, 2.0), TypeError),
        (nn.Linear(3, 3), (), ValueError),
    ],
)
def test_tracer_bad_input(module, shape, error):
    with pytest.raises(error):
        gemms_from_module(module, shape)


def test_token_ids_are_traced_with_an_integer_dtype():
    net = nn.Sequential(nn.Embedding(50, 16), nn.Linear(16, 8))
    with pytest.raises(ValueError, match=r"^module fails on an input of shape \(3, 5\): RuntimeError: .*indices"):
        gemms_from_module(net, (3, 5))
    for dtype in ("int64", torch.int64, "int32"):
        df = gemms_from_module(net, (3, 5), dtype=dtype)
        assert df[["kind", "M", "N", "K", "count"]].values.tolist() == [["linear", 15, 8, 16, 1]]
    for bad in ("int8", "torch.int64", torch.complex64, 64):
        with pytest.raises(ValueError, match="dtype must be one of float32, float64, float16, bfloat16, "
                                             "int64, int32; got"):
            gemms_from_module(net, (3, 5), dtype=bad)


def test_import_does_not_import_torch():
    code = "import sys, airchitect; airchitect.workloads.sample_gemms(2); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_public_names():
    assert ac.workloads.sample_gemms is sample_gemms
    assert ac.workloads.gemms_from_module is gemms_from_module

"""The crossbar compiler driven by predictions: one vocabulary, per-layer configurations,
BatchNorm folding and torch.fx graphs (residual add, concatenation)."""

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import airchitect as ac
from airchitect.backends import cim as backend
from airchitect.targets.cim import CrossbarConfig, make_config
from airchitect.targets.cim.fold import batchnorm_affine, fold_batchnorm

F64 = torch.float64


def _randomise_bn(net, seed):
    """Non-trivial running statistics and affine parameters for every BatchNorm."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.4 * torch.rand(c, generator=gen) - 0.2)
    return net.eval()


class UserCNN(nn.Module):
    """A user's CNN: conv+BN stem, a residual block with BN, a concatenated side branch."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.c1 = nn.Conv2d(8, 8, 3, padding=1)
        self.b1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(8)
        self.side = nn.Conv2d(8, 4, 1)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(12 * 4, 10)

    def forward(self, x):
        x = self.stem(x)
        y = F.relu(self.b1(self.c1(x)))
        x = F.relu(x + self.b2(self.c2(y)))
        x = F.max_pool2d(x, 2)
        x = torch.cat([x, self.side(x)], dim=1)
        return self.fc(torch.flatten(self.pool(x), 1))


@pytest.fixture(scope="module")
def user():
    torch.manual_seed(0)
    net = _randomise_bn(UserCNN(), seed=1)
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(48, 1, 8, 8, generator=gen)
    labels = torch.randint(0, 10, (48,), generator=gen)
    prog = backend.compile(net, config="predict", calibration=x, adc_bits=10)
    return net, x, labels, prog


MATRIX = ["stem.0:Conv2d", "c1:Conv2d", "c2:Conv2d", "side:Conv2d", "fc:Linear"]
# (P output pixels, n = in_ch * kh * kw, m = out_ch) of each crossbar layer, by hand
SHAPES = [(64, 9, 8), (64, 72, 8), (64, 72, 8), (16, 8, 4), (1, 48, 10)]


def _quantised_forward(prog, x):
    """The user CNN written out by hand with the records' integer weights, scales and bias."""
    L = {r["name"]: r for r in prog.layers}

    def q(name, v):
        r = L[name]
        b = r["in_bits"]
        lo, hi = (-(2 ** (b - 1)), 2 ** (b - 1) - 1) if r["in_signed"] else (0, 2**b - 1)
        vi = torch.clamp(torch.round(v / r["in_scale"]), lo, hi)
        W = torch.tensor(r["weight"], dtype=F64)
        bias = torch.zeros(r["m"], dtype=F64) if r["bias"] is None else torch.tensor(r["bias"], dtype=F64)
        if r["kind"] == "linear":
            return F.linear(vi, W) * (r["w_scale"] * r["in_scale"]) + bias
        W = W.reshape(r["m"], v.shape[1], *r["kernel"])
        acc = F.conv2d(vi, W, stride=r["stride"], padding=r["padding"])
        return acc * (r["w_scale"] * r["in_scale"]) + bias[:, None, None]

    x = x.to(F64)
    x = F.relu(q("stem.0:Conv2d", x))
    y = F.relu(q("c1:Conv2d", x))
    x = F.relu(x + q("c2:Conv2d", y))
    x = F.max_pool2d(x, 2)
    x = torch.cat([x, q("side:Conv2d", x)], dim=1)
    return q("fc:Linear", torch.flatten(F.avg_pool2d(x, 2), 1))


def test_predicted_per_layer_compile_equals_the_quantised_model(user):
    net, x, labels, prog = user
    assert [r["name"] for r in prog.layers if r["kind"] in ("conv", "linear")] == MATRIX
    # every BatchNorm folded into its conv; the add reads the stem and c2, the cat the pool and side
    assert [r.get("folded") for r in prog.layers if "folded" in r] == ["stem.1:BatchNorm2d", "b1:BatchNorm2d",
                                                                         "b2:BatchNorm2d"]
    kinds = {r["name"]: (r["kind"], r["inputs"]) for r in prog.layers}
    assert kinds["add:add"] == ("add", ["stem.2:ReLU", "c2:Conv2d"])
    assert kinds["cat:cat"] == ("cat", ["max_pool2d:max_pool2d", "side:Conv2d"])
    # ideal devices, predicted crossbars with a full-scale ADC of the chip's 10 bits: exact
    out = prog.run(x)
    assert np.array_equal(out, _quantised_forward(prog, x).numpy())
    assert np.array_equal(out, prog.reference(x).numpy())


def test_each_layer_gets_the_shipped_models_prediction_for_its_shape(user):
    net, x, labels, prog = user
    task = ac.tasks.get("cim")
    assert len({c for c in prog.configs}) > 1 and prog.config is None
    for (P, n, m), cfg, name in zip(SHAPES, prog.configs, MATRIX):
        query = dict(P=P, n=n, m=m, w_bits=8, in_bits=8, n_xbars=2**14, adc_bits=10)
        pred = ac.predict("cim", **query)
        assert cfg == CrossbarConfig.from_prediction(pred).replace(adc_bits=10)
        assert (cfg.xbar_rows, cfg.xbar_cols, cfg.active_rows, cfg.cell_bits, cfg.dac_bits, cfg.mapping,
                cfg.duplication) == (pred["xbar"], pred["xbar"], pred["active_rows"], pred["cell_bits"],
                                     pred["dac_bits"], pred["mapping"], pred["duplication"])
        row = prog.cost.set_index("layer").loc[name]
        assert (row.P, row.n, row.m) == (P, n, m)
        # the compiled cost of the layer is the task's cost of the predicted label
        latency = task.cost_of(pd.DataFrame([query]), [pred["label"]], "latency")[0]
        assert row.latency_us == pytest.approx(latency, rel=1e-12)
    assert prog.latency_us == pytest.approx(prog.cost.latency_us.sum())


def test_records_are_the_folded_float_model_quantised(user):
    net, x, _, prog = user
    L = {r["name"]: r for r in prog.layers}
    # weights: BatchNorm folded by hand, then symmetric 8-bit
    s = net.b1.weight.double() / torch.sqrt(net.b1.running_var.double() + net.b1.eps)
    w = net.c1.weight.double() * s[:, None, None, None]
    b = (net.c1.bias.double() - net.b1.running_mean.double()) * s + net.b1.bias.double()
    w, b = w.detach(), b.detach()
    w_scale = float(w.abs().max()) / 127
    assert L["c1:Conv2d"]["w_scale"] == pytest.approx(w_scale, rel=1e-12)
    assert np.array_equal(L["c1:Conv2d"]["weight"], torch.round(w.reshape(8, -1) / w_scale).detach().numpy())
    assert np.allclose(L["c1:Conv2d"]["bias"], b.detach().numpy(), rtol=0, atol=1e-12)
    # input scales: the largest calibration activation at each layer's input, 8 bits: unsigned after a
    # ReLU, signed where the side conv's raw output reaches the linear layer through the cat
    seen = {}
    ref = copy.deepcopy(net).double()
    for name in ("c1", "side", "fc"):
        getattr(ref, name).register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, i[0]))
    with torch.no_grad():
        ref(x.double())
    for name, layer, signed in (("c1", "c1:Conv2d", False), ("side", "side:Conv2d", False),
                                ("fc", "fc:Linear", True)):
        assert L[layer]["in_signed"] is signed and bool(seen[name].min() < 0) is signed
        levels = 127 if signed else 255
        assert L[layer]["in_scale"] == pytest.approx(float(seen[name].abs().max()) / levels, rel=1e-9)


def test_float_accuracy_is_the_float_models(user):
    net, x, labels, prog = user
    with torch.no_grad():
        logits = copy.deepcopy(net).double()(x.double())
    assert torch.allclose(prog.reference(x, quantized=False), logits, rtol=0, atol=1e-12)
    report = prog.evaluate(x, labels)
    assert report["float_accuracy"] == float((logits.argmax(1) == labels).double().mean())
    assert report["rel_error_vs_quantized"] == 0.0
    assert report["crossbar_accuracy"] == report["quantized_accuracy"]
    # the quantised model is not the float model: their outputs differ
    assert report["rel_error_vs_float"] > 1e-4


def test_ops_follow_the_graph_and_the_program_round_trips(user, tmp_path):
    net, x, _, prog = user
    last = {}
    for op in prog.ops:
        assert all(dep < op["id"] for dep in op["deps"])
        last[op["layer"]] = op["id"]
    add = next(op for op in prog.ops if op["op"] == "add")
    assert add["deps"] == [last["stem.2:ReLU"], last["c2:Conv2d"]]
    cat = next(op for op in prog.ops if op["op"] == "cat")
    assert cat["deps"] == [last["max_pool2d:max_pool2d"], last["side:Conv2d"]]
    writes = [op for op in prog.ops if op["op"] == "write"]
    assert len(writes) == sum(r["tiles"] * r["config"]["duplication"] for r in prog.layers if "config" in r)
    again = backend.CrossbarProgram.load(prog.save(tmp_path / "p.json"))
    assert again.configs == prog.configs
    assert np.array_equal(again.run(x[:8]), prog.run(x[:8]))
    light = json.loads(prog.to_json(include_weights=False))
    assert all("weight" not in r and "float_weight" not in r for r in light["layers"])


def test_a_prediction_is_accepted_as_it_comes():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(2, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 5)).eval()
    x = torch.rand(8, 2, 6, 6)
    pred = ac.predict("cim", P=16, n=18, m=6, w_bits=8, in_bits=8, n_xbars=64, adc_bits=9)
    frame = ac.api.shipped("cim").predict(pd.DataFrame([dict(P=16, n=18, m=6, w_bits=8, in_bits=8,
                                                             n_xbars=64, adc_bits=9)]))
    want = CrossbarConfig(xbar_rows=pred["xbar"], xbar_cols=pred["xbar"], active_rows=pred["active_rows"],
                          cell_bits=pred["cell_bits"], dac_bits=pred["dac_bits"], mapping=pred["mapping"],
                          duplication=pred["duplication"])
    for config in (pred, frame, frame.iloc[0], want):
        prog = backend.compile(net, config=config, calibration=x)
        assert prog.configs == [want, want] and prog.config == want
        assert np.array_equal(prog.run(x), prog.reference(x).numpy())
    # options override the prediction's fields, in the same vocabulary
    prog = backend.compile(net, config=pred, calibration=x, xbar=128, cell_bits=4)
    assert prog.config == want.replace(xbar_rows=128, xbar_cols=128, cell_bits=4)
    # a list, one per crossbar layer, mixing the accepted forms
    prog = backend.compile(net, config=[pred, {"xbar": 32, "mapping": "differential-row"}], calibration=x)
    assert prog.configs == [want, CrossbarConfig(xbar_rows=32, xbar_cols=32, mapping="differential-row")]
    assert prog.cost.xbar_rows.tolist() == [pred["xbar"], 32]
    assert np.array_equal(prog.run(x), prog.reference(x).numpy())


def test_one_vocabulary():
    cfg = make_config({"xbar": 128, "active_rows": 128, "active_all": True, "cell_bits": 1, "dac_bits": 2,
                       "mapping": "offset", "duplication": 4, "label": 7})
    assert (cfg.xbar_rows, cfg.xbar_cols, cfg.xbar, cfg.active_rows, cfg.active_all) == (128, 128, 128, 128, True)
    assert CrossbarConfig(xbar_rows=64, xbar_cols=32).xbar is None
    assert CrossbarConfig(active_rows=16).active_all is False and CrossbarConfig().active_all is True
    assert json.dumps(make_config(pd.Series({"xbar": np.int64(64), "cell_bits": np.int64(2)})).to_dict())
    with pytest.raises(TypeError, match="unknown crossbar config.*rows"):
        make_config({"rows": 64})
    with pytest.raises(ValueError, match="xbar .* xbar_rows"):
        make_config({"xbar": 64, "xbar_rows": 128})
    with pytest.raises(ValueError, match="active_all is True but active_rows is 16"):
        make_config({"xbar": 64, "active_rows": 16, "active_all": True})
    with pytest.raises(ValueError, match="active_all is False"):
        make_config({"xbar": 64, "active_rows": 64, "active_all": False})
    with pytest.raises(ValueError, match="one-row DataFrame"):
        make_config(pd.DataFrame({"xbar": [64, 128]}))


def test_bad_configurations_and_models():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = torch.rand(4, 4)
    with pytest.raises(ValueError, match=r"one configuration per Conv2d/Linear layer \(2\), got 3"):
        backend.compile(net, config=[{}, {}, {}], calibration=x)
    with pytest.raises(ValueError, match="config must be one of predict"):
        backend.compile(net, config="guess", calibration=x)
    with pytest.raises(TypeError, match="n_xbars applies only"):
        backend.compile(net, calibration=x, n_xbars=8)
    with pytest.raises(ValueError, match="mapping must be one of"):
        backend.compile(net, config=[{}, {"mapping": "TNN-I"}], calibration=x)
    with pytest.raises(ValueError, match="config='predict'.*n_xbars must be at least"):
        backend.compile(nn.Linear(4096, 4096), config="predict", calibration=torch.rand(1, 4096), n_xbars=1)

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x) * 2

    with pytest.raises(TypeError, match=r"node 'mul' \(call_function mul\) is not supported"):
        backend.compile(Scaled(), calibration=x)

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x) if x.sum() > 0 else self.fc(-x)

    with pytest.raises(TypeError, match="cannot be traced with torch.fx"):
        backend.compile(Branchy(), calibration=x)


def test_batchnorm_folding_is_exact():
    torch.manual_seed(4)
    conv, bn = nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5)
    _randomise_bn(nn.Sequential(bn), seed=5)
    w, b = fold_batchnorm(conv.weight, conv.bias, bn)
    x = torch.randn(4, 3, 7, 7, dtype=F64)
    with torch.no_grad():
        want = copy.deepcopy(bn).double()(copy.deepcopy(conv).double()(x))
    assert torch.allclose(F.conv2d(x, w, b, padding=1), want, rtol=0, atol=1e-12)
    # by hand for one channel: (conv - mean) * gamma / sqrt(var + eps) + beta
    s = bn.weight[2].double() / torch.sqrt(bn.running_var[2].double() + bn.eps)
    assert torch.allclose(w[2], conv.weight[2].double() * s, rtol=1e-15, atol=0)
    assert b[2].item() == pytest.approx(((conv.bias[2].double() - bn.running_mean[2].double()) * s
                                         + bn.bias[2].double()).item(), rel=1e-15)
    with pytest.raises(ValueError, match="running statistics"):
        batchnorm_affine(nn.BatchNorm2d(5, track_running_stats=False))


def test_batchnorm_that_cannot_fold_runs_digitally_and_linear_bn_folds():
    torch.manual_seed(6)
    # BN on the input (nothing to fold into) and after a conv whose output is also read elsewhere
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn0, self.conv, self.bn1 = nn.BatchNorm2d(2), nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2)
            self.fc, self.bn2 = nn.Linear(2 * 5 * 5, 6), nn.BatchNorm1d(6)
            self.out = nn.Linear(6, 3)

        def forward(self, x):
            y = self.conv(self.bn0(x))
            z = torch.relu(self.bn1(y) + y)
            return self.out(torch.relu(self.bn2(self.fc(z.flatten(1)))))

    net = _randomise_bn(Net(), seed=7)
    x = torch.rand(10, 2, 5, 5)
    prog = backend.compile(net, calibration=x)
    kinds = [(r["name"], r["kind"], r.get("folded")) for r in prog.layers]
    assert ("bn0:BatchNorm2d", "batchnorm", None) in kinds and ("bn1:BatchNorm2d", "batchnorm", None) in kinds
    assert ("fc:Linear", "linear", "bn2:BatchNorm1d") in kinds
    with torch.no_grad():
        want = copy.deepcopy(net).double()(x.double())
    assert torch.allclose(prog.reference(x, quantized=False), want, rtol=0, atol=1e-12)
    assert np.array_equal(prog.run(x), prog.reference(x).numpy())


def test_supported_operations_match_the_module():
    torch.manual_seed(8)

    class Many(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3, padding=1)
            self.shared = nn.Conv2d(4, 4, 1)
            self.act = nn.Sequential(nn.ReLU6(), nn.Dropout(0.3), nn.LeakyReLU(0.1))
            self.pool = nn.AvgPool2d(2)
            self.fc = nn.Linear(8 * 2 * 2, 3)

        def forward(self, x):
            x = self.act(self.conv(x))
            a = torch.sigmoid(self.shared(x))
            b = self.shared(x).tanh()
            x = F.silu(torch.add(a, b)).contiguous()
            x = torch.cat((F.avg_pool2d(x, 2), self.pool(F.max_pool2d(x, 1))), -3)
            return self.fc(x.view(x.size(0), -1))

    net = Many().eval()
    x = torch.randn(6, 2, 4, 4)
    prog = backend.compile(net, calibration=x)
    names = [r["name"] for r in prog.layers]
    # the shared 1x1 conv is called twice: two crossbar layers with distinct names
    assert names.count("shared:Conv2d") == 1 and "shared:Conv2d@shared_1" in names
    kinds = [r["kind"] for r in prog.layers]
    assert kinds == ["conv", "hardtanh", "leaky_relu", "conv", "sigmoid", "conv", "tanh", "add", "silu",
                     "avgpool", "maxpool", "avgpool", "cat", "flatten", "linear"]
    assert prog.layers[1]["min"] == 0.0 and prog.layers[1]["max"] == 6.0 and prog.layers[2]["slope"] == 0.1
    with torch.no_grad():
        want = copy.deepcopy(net).double()(x.double())
    assert torch.allclose(prog.reference(x, quantized=False), want, rtol=0, atol=1e-12)
    assert np.array_equal(prog.run(x), prog.reference(x).numpy())

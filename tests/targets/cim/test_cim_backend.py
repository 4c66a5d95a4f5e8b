"""Crossbar compiler: quantised CNN on digits, program structure, accuracy vs non-idealities."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from airchitect.backends import cim as backend
from airchitect.targets.cim.digits import train_digits_cnn


@pytest.fixture(scope="module")
def trained():
    model, data = train_digits_cnn(seed=0)
    return model, data["x_train"][:256], data["x_test"], data["y_test"]


def test_ideal_crossbars_equal_the_quantised_model(trained):
    model, calib, x, y = trained
    prog = backend.compile(model, calibration=calib)
    report = prog.evaluate(x, y)
    assert report["rel_error_vs_quantized"] == 0.0
    assert report["crossbar_accuracy"] == report["quantized_accuracy"]
    assert report["float_accuracy"] > 0.9
    assert abs(report["quantized_accuracy"] - report["float_accuracy"]) <= 0.02
    assert np.array_equal(prog.run(x), prog.reference(x).numpy())


def test_costs_are_the_cost_model_per_layer(trained):
    model, calib, _, _ = trained
    prog = backend.compile(model, calibration=calib)
    # conv1: 64 pixels, n = 9, m = 8 -> 32 columns, one tile, 64 x 8 reads
    # conv2: 16 pixels, n = 72, m = 16 -> 64 columns, one tile; fc: n = 64, m = 10
    assert prog.cost.P.tolist() == [64, 16, 1]
    assert prog.cost.tiles.tolist() == [1, 1, 1]
    assert prog.cost.latency_us.tolist() == pytest.approx([56 + 512 * 1.4, 56 + 128 * 1.4, 56 + 8 * 1.4])
    assert prog.latency_us == pytest.approx(prog.cost.latency_us.sum())


def test_program_ops_tiles_and_dependencies(trained):
    model, calib, x, _ = trained
    prog = backend.compile(model, calibration=calib, xbar_rows=16, xbar_cols=16)
    # conv2 on 16x16 crossbars: 72 rows -> 5 row tiles, 16 x 2 x 2 = 64 columns -> 4
    conv2 = prog.layers[3]
    assert (conv2["row_tiles"], conv2["col_tiles"], conv2["tiles"]) == (5, 4, 20)
    writes = [op for op in prog.ops if op["op"] == "write" and op["layer"] == conv2["name"]]
    assert len(writes) == 20 and prog.n_crossbars == sum(r.get("tiles", 0) for r in prog.layers)
    for op in prog.ops:
        assert all(dep < op["id"] for dep in op["deps"])
    kinds = [op["op"] for op in prog.ops if op["op"] not in ("write", "mvm")]
    assert kinds == ["shift_add", "relu", "maxpool", "shift_add", "relu", "maxpool", "flatten", "shift_add"]
    # row tiling on the simulator is still exact
    assert np.array_equal(prog.run(x[:50]), prog.reference(x[:50]).numpy())


def test_json_round_trip_is_atomic_and_runs(trained, tmp_path):
    model, calib, x, _ = trained
    prog = backend.compile(model, calibration=calib, adc_bits=6, adc_range="calibrated", d2d_sigma=0.05)
    path = prog.save(tmp_path / "prog.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prog.json"]
    data = json.loads((tmp_path / "prog.json").read_text())
    assert data["format"] == "airchitect-cim-program" and len(data["ops"]) == len(prog.ops)
    again = backend.CrossbarProgram.load(path)
    assert np.array_equal(again.run(x[:40]), backend.compile(
        model, calibration=calib, adc_bits=6, adc_range="calibrated", d2d_sigma=0.05).run(x[:40]))
    light = json.loads(prog.to_json(include_weights=False))
    assert "weight" not in light["layers"][0]
    with pytest.raises(ValueError, match="without weights"):
        backend.CrossbarProgram.from_dict(light)


def test_accuracy_falls_with_variation_and_rises_with_adc_bits(trained):
    model, calib, x, y = trained
    ideal = backend.compile(model, calibration=calib).evaluate(x, y)["crossbar_accuracy"]
    noisy = backend.compile(model, calibration=calib, d2d_sigma=0.5, c2c_sigma=0.5).evaluate(x, y)
    assert noisy["crossbar_accuracy"] < ideal - 0.3
    assert noisy["rel_error_vs_quantized"] > 0.2
    acc = {b: backend.compile(model, calibration=calib, adc_bits=b, adc_range="calibrated")
           .evaluate(x, y)["crossbar_accuracy"] for b in (3, 8)}
    assert acc[3] < acc[8] - 0.3
    # the full-scale range of a 256-row crossbar wastes an 8-bit ADC on 9-row layers
    full = backend.compile(model, calibration=calib, adc_bits=8).evaluate(x, y)["crossbar_accuracy"]
    assert full < acc[8]


def test_per_layer_bits(trained):
    model, calib, x, _ = trained
    prog = backend.compile(model, calibration=calib, bits=[(8, 8), (4, 6), (8, 8)])
    assert [(r["w_bits"], r["in_bits"]) for r in prog.layers if "w_bits" in r] == [(8, 8), (4, 6), (8, 8)]
    assert prog.cost.executions.tolist() == [64 * 8, 16 * 6, 8]
    assert np.array_equal(prog.run(x[:20]), prog.reference(x[:20]).numpy())


def test_bad_input():
    net = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    with pytest.raises(TypeError, match="1:LayerNorm"):
        backend.compile(net, calibration=torch.rand(2, 4))
    net = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(ValueError, match="mapping"):
        backend.compile(net, calibration=torch.rand(2, 4), mapping="BNN-I")
    with pytest.raises(ValueError, match="bits"):
        backend.compile(net, calibration=torch.rand(2, 4), bits=[(8, 8), (8, 8)])
    with pytest.raises(ValueError, match="shape"):
        backend.compile(net, calibration=torch.rand(2, 4)).run(torch.rand(2, 5))


def test_duplication_avgpool_and_signed_inputs_on_a_random_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Dropout(0.5), nn.Linear(16, 3)).eval()
    x = torch.randn(6, 2, 8, 8)  # signed inputs: two's complement slices
    prog = backend.compile(net, calibration=x, duplication=2, bits=[(6, 5), (8, 8)])
    assert [r["in_signed"] for r in prog.layers if "in_signed" in r] == [True, True]
    assert prog.cost.P.tolist() == [16, 1]
    writes = [op for op in prog.ops if op["op"] == "write"]
    assert len(writes) == 2 * (prog.cost.tiles.sum())
    mvms = [op for op in prog.ops if op["op"] == "mvm" and op["layer"] == prog.layers[0]["name"]]
    assert sorted(op["vectors"] for op in mvms) == [8, 8]
    assert np.array_equal(prog.run(x), prog.reference(x).numpy())

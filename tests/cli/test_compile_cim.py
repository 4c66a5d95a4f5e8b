"""``airchitect compile --target cim --module FILE.py:ATTR``: a user's model, uniform or predicted crossbars."""

import json
import textwrap

import numpy as np
import pytest
from torch import nn

import airchitect as ac
from airchitect.backends import cim as backend
from airchitect.cli import main
from airchitect.cli.module_file import load_module, parse_shape, split_spec

USER_FILE = textwrap.dedent('''
    import torch
    from torch import nn


    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(c)

        def forward(self, x):
            return torch.relu(x + self.bn(self.conv(x)))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
            self.block = Block(8)
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

        def forward(self, x):
            return self.head(self.block(self.stem(x)))


    def make():
        return Net().eval()


    net = make()
    NOT_A_MODEL = 3


    def needs_args(width):
        return Net()


    def returns_int():
        return 3
''')


@pytest.fixture()
def user_file(tmp_path):
    path = tmp_path / "usernet.py"
    path.write_text(USER_FILE)
    return path


def _cli(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_module_with_predicted_configurations(user_file, tmp_path, capsys):
    out_path = tmp_path / "p.json"
    code, out, err = _cli(["compile", "--target", "cim", "--module", f"{user_file}:Net", "--input-shape",
                           "2,3,8,8", "--config", "predict", "--run", "--json", "--out", out_path], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["config"] == "predict" and result["rel_error_vs_quantized"] == 0.0
    program = json.loads(out_path.read_text())
    mats = [r for r in program["layers"] if "config" in r]
    assert [r["name"] for r in mats] == ["stem.0:Conv2d", "block.conv:Conv2d", "head.2:Linear"]
    assert mats[1]["folded"] == "block.bn:BatchNorm2d"
    assert result["ops"] == len(program["ops"])
    # each layer's crossbar is the shipped model's prediction for its shape (8x8 pixels, n, m)
    for r, (P, n, m), shown in zip(mats, [(64, 27, 8), (64, 72, 8), (1, 8, 10)], result["layers"]):
        pred = ac.predict("cim", P=P, n=n, m=m, w_bits=8, in_bits=8, n_xbars=2**14, adc_bits=14)
        assert r["config"]["xbar_rows"] == pred["xbar"] == shown["xbar"]
        assert (r["config"]["cell_bits"], r["config"]["mapping"], r["config"]["duplication"]) == (
            pred["cell_bits"], pred["mapping"], pred["duplication"])
        assert r["config"]["active_rows"] == pred["active_rows"] == shown["active_rows"]
    # the file is a program that runs: same as compiling the same model in Python
    x = np.random.default_rng(0).random((2, 3, 8, 8))
    again = backend.compile(load_module(f"{user_file}:Net"), "predict", calibration=x)
    assert np.array_equal(backend.CrossbarProgram.load(out_path).run(x), again.run(x))


def test_module_uniform_flags_factory_and_instance(user_file, tmp_path, capsys):
    for attr in ("make", "net"):
        code, out, err = _cli(["compile", "--target", "cim", "--module", f"{user_file}:{attr}",
                               "--input-shape", "1,3,6,6", "--xbar", "32", "--cell-bits", "2",
                               "--mapping", "offset", "--duplication", "2", "--bits", "6", "--json",
                               "--out", tmp_path / "u.json"], capsys)
        assert code == 0, err
        program = json.loads((tmp_path / "u.json").read_text())
        configs = [r["config"] for r in program["layers"] if "config" in r]
        assert len(configs) == 3 and all(c == configs[0] for c in configs)
        assert (configs[0]["xbar_rows"], configs[0]["xbar_cols"], configs[0]["cell_bits"], configs[0]["mapping"],
                configs[0]["duplication"]) == (32, 32, 2, "offset", 2)
        assert all(r["w_bits"] == r["in_bits"] == 6 for r in program["layers"] if "config" in r)
        # stem conv: n = 27 rows, 8 outputs x ceil(6 / 2) cells + 1 offset column = 25 columns -> one tile
        stem = program["layers"][0]
        assert (stem["rows"], stem["cols"], stem["tiles"]) == (27, 25, 1)
        assert json.loads(out)["crossbars"] == 2 * sum(r["tiles"] for r in program["layers"] if "config" in r)


def test_digits_cnn_with_predicted_configurations(tmp_path, capsys):
    code, out, err = _cli(["compile", "--target", "cim", "--config", "predict", "--adc-bits", "12", "--out",
                           tmp_path / "d.json", "--json"], capsys)
    assert code == 0, err
    out = json.loads(out)
    assert out["crossbar_accuracy"] == out["float_accuracy"] > 0.9
    program = json.loads((tmp_path / "d.json").read_text())
    assert all(r["config"]["adc_bits"] == 12 for r in program["layers"] if "config" in r)


@pytest.mark.parametrize("argv, message", [
    (["--module", "{f}:nope", "--input-shape", "1,3,8,8"], "usernet.py has no attribute 'nope'"),
    (["--module", "{d}/missing.py:Net", "--input-shape", "1,3,8,8"], "missing.py does not exist"),
    (["--module", "{f}", "--input-shape", "1,3,8,8"], "module must be FILE.py:ATTR"),
    (["--module", "{f}:NOT_A_MODEL", "--input-shape", "1,3,8,8"], "NOT_A_MODEL must be an nn.Module"),
    (["--module", "{f}:needs_args", "--input-shape", "1,3,8,8"], "needs_args() failed"),
    (["--module", "{f}:returns_int", "--input-shape", "1,3,8,8"], "returns_int() must return an nn.Module"),
    (["--module", "{f}:Net", "--input-shape", "1,3,x"], "--input-shape must be positive integers"),
    (["--module", "{f}:Net", "--input-shape", "0,3,8,8"], "--input-shape must be positive integers"),
    (["--module", "{f}:Net", "--input-shape", "1,4,8,8"], "module fails on an input of shape (1, 4, 8, 8)"),
    (["--module", "{f}:Net"], "--module needs --input-shape"),
    (["--input-shape", "1,3,8,8"], "--input-shape goes with --module"),
    (["--config", "predict", "--xbar", "64"], "--xbar: only with --config uniform"),
    (["--config", "predict", "--n-xbars", "0"], "--n-xbars must be an integer in [1,"),
    (["--n-xbars", "8"], "--n-xbars applies to --config predict"),
    (["--config", "best"], "--config must be one of uniform, predict"),
    (["--xbar", "3", "--active-rows", "4"], "--active-rows must be an integer in [1, 3]"),
    (["--mapping", "BNN-I"], "--mapping must be one of offset"),
    (["--cell-bits", "0"], "--cell-bits must be an integer in [1, 8], got 0"),
    (["--dac-bits", "9"], "--dac-bits must be an integer in [1, 8], got 9"),
    (["--duplication", "0"], "--duplication must be an integer in [1, 65536], got 0"),
    (["--adc-bits", "0"], "--adc-bits must be an integer in [1, 32], got 0"),
    (["--bits", "1"], "--bits must be an integer in [2, 16], got 1"),
    (["--bits", "17"], "--bits must be an integer in [2, 16], got 17"),
])
def test_bad_input_exits_2_with_one_line(argv, message, user_file, tmp_path, capsys):
    argv = [a.format(f=user_file, d=tmp_path) for a in argv]
    code, out, err = _cli(["compile", "--target", "cim", "--out", tmp_path / "p.json", *argv], capsys)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1


def test_module_file_loader(user_file, tmp_path):
    assert isinstance(load_module(f"{user_file}:Net"), nn.Module)
    assert load_module(f"{user_file}:net").training is False
    assert split_spec(f"{user_file}:Block") == (user_file, "Block")
    with pytest.raises(ValueError, match="ATTR must be a Python name"):
        split_spec(f"{user_file}:1x")
    with pytest.raises(ValueError, match=r"FILE must be a \.py file"):
        split_spec(f"{tmp_path}:Net")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no torch here')\n")
    with pytest.raises(ValueError, match="broken.py failed to import: RuntimeError: no torch here"):
        load_module(f"{broken}:Net")
    assert parse_shape("4, 1,8,8") == (4, 1, 8, 8)
    with pytest.raises(ValueError, match="more than the limit"):
        parse_shape("4096,4096,2")
    with pytest.raises(ValueError, match="^--input-shape must be positive integers"):
        parse_shape("8")
    with pytest.raises(ValueError, match=r"Block\(\) failed \(it must take no arguments\)"):
        load_module(f"{user_file}:Block")

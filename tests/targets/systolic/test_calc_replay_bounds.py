"""CALC-mode conv ifmap replays are bounded in closed form before any work starts."""

import importlib

import numpy as np
import pandas as pd
import pytest

import airchitect as ac
from airchitect.cli import main
from airchitect.targets.systolic import compute
from airchitect.targets.systolic.geometry import conv_geometry
from airchitect.targets.systolic.memory.calc_reads import _covered, covered_lines, replay_needs

sim = importlib.import_module("airchitect.targets.systolic.simulate")


@pytest.fixture
def no_work(monkeypatch):
    """Make any work past the up-front checks fail: the compute model runs first."""
    def refuse(*args, **kwargs):
        raise AssertionError("the layer was not refused before the compute model ran")
    monkeypatch.setattr(compute, "compute_fields", refuse)


@pytest.mark.parametrize("size", [40000, 30000])
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_huge_conv_ifmap_is_refused_up_front(size, dataflow, no_work):
    # 3x3 filter, one channel: P x WN = 9 (size - 2)^2 > 2e9 im2col reads in one fold
    with pytest.raises(ValueError, match="CALC_DRAM_WORK_LIMIT = 2000000000"):
        ac.systolic.simulate_conv(size, size, 3, 3, 1, 1, 1, 32, 32, dataflow)


def test_huge_conv_refusal_names_the_element(no_work):
    with pytest.raises(ValueError, match="element 1 .*CALC_DRAM_WORK_LIMIT"):
        ac.systolic.simulate_conv([16, 60000], [16, 60000], 3, 3, 8, 8, 1, 32, 32, "ws")


@pytest.mark.parametrize("layer", [("40000", "40000", "3", "3", "1", "1", "1"),
                                   ("30000", "30000", "3", "3", "1", "1", "1"),
                                   ("60000", "60000", "3", "3", "8", "8", "1")])
def test_huge_conv_on_the_command_line(layer, capsys, no_work):
    code = main(["simulate", "--conv", *layer, "--rows", "32", "--cols", "32",
                 "--dataflow", "ws"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "CALC_DRAM_WORK_LIMIT" in err


def test_replay_memory_is_refused_up_front(no_work):
    # stride 10 > 3: 9e8 im2col reads (under the work limit) over an ifmap of 1e10 words
    with pytest.raises(ValueError, match="CALC_DRAM_MEMORY_LIMIT"):
        ac.systolic.simulate_conv(100000, 100000, 3, 3, 1, 1, 10, 32, 32, "ws")


def test_work_limit_boundary_is_unchanged(monkeypatch):
    # is: one walk of P x WN = 196 x 36 = 7056 reads (1024 distinct words >= block 500)
    args = (16, 16, 3, 3, 4, 8, 1, 4, 4, "is")
    whole = ac.systolic.simulate_conv(*args, ifmap_kb=1, filter_kb=1)
    monkeypatch.setattr(sim, "CALC_DRAM_WORK_LIMIT", 7056)
    pd.testing.assert_frame_equal(ac.systolic.simulate_conv(*args, ifmap_kb=1, filter_kb=1), whole)
    monkeypatch.setattr(sim, "CALC_DRAM_WORK_LIMIT", 7055)
    with pytest.raises(ValueError, match="7056 im2col reads .*CALC_DRAM_WORK_LIMIT = 7055"):
        ac.systolic.simulate_conv(*args, ifmap_kb=1, filter_kb=1)
    # an ifmap that fits its estimate buffer is closed form: no replay, no bound
    monkeypatch.setattr(sim, "CALC_DRAM_WORK_LIMIT", 1)
    out = ac.systolic.simulate_conv(*args, ifmap_kb=64, filter_kb=1)
    assert out["dram_ifmap_reads"].tolist() == [1024]


def test_memory_limit_boundary(monkeypatch):
    args = (16, 16, 3, 3, 4, 8, 1, 4, 4, "ws")
    whole = ac.systolic.simulate_conv(*args, ifmap_kb=1, filter_kb=1)
    need = replay_needs(conv_geometry(16, 16, 3, 3, 4, 8, 1, 4, 4, 1), 1)[1][0]
    monkeypatch.setattr(sim, "CALC_DRAM_MEMORY_LIMIT", int(need))
    pd.testing.assert_frame_equal(ac.systolic.simulate_conv(*args, ifmap_kb=1, filter_kb=1), whole)
    monkeypatch.setattr(sim, "CALC_DRAM_MEMORY_LIMIT", int(need) - 1)
    with pytest.raises(ValueError, match="CALC_DRAM_MEMORY_LIMIT"):
        ac.systolic.simulate_conv(*args, ifmap_kb=1, filter_kb=1)


def test_replay_needs_nothing_for_gemms_and_dense_convs():
    G = np.concatenate([conv_geometry(40000, 40000, 1, 1, 8, 8, 1, 32, 32, 1),
                        conv_geometry(40000, 40000, 3, 3, 8, 8, 1, 32, 32, 1)])
    reads, nbytes = replay_needs(G, 256)
    assert reads[0] == 0 and nbytes[0] == 0
    assert reads[1] == 39998.0**2 * 72 and nbytes[1] > 2**33


def test_covered_lines_equals_the_loop():
    rng = np.random.default_rng(7)
    for _ in range(3000):
        size = int(rng.integers(1, 80))
        filt = int(rng.integers(1, size + 1))
        stride = int(rng.integers(1, 15))
        out = -(-(size - filt + stride) // stride)
        assert int(covered_lines(size, filt, stride, out)) == _covered(size, filt, stride, out)

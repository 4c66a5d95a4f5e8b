"""A user's own design (a SCALE-Sim config) costed on a network, beside the co-design optimum."""

import json
import subprocess
import sys

import pandas as pd
import pytest

import airchitect as ac
from airchitect.network_design.design import network_on_config
from airchitect.targets.systolic.scalesim import run_scalesim

NET = pd.DataFrame({"layer": ["a", "b", "c"], "M": [64, 128, 40], "N": [64, 32, 24], "K": [32, 64, 72],
                    "count": [2, 1, 3]})


def _cfg(path, rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth=4):
    path.write_text(f"[architecture_presets]\nArrayHeight: {rows}\nArrayWidth: {cols}\n"
                    f"IfmapSramSzkB: {ifmap_kb}\nFilterSramSzkB: {filter_kb}\nOfmapSramSzkB: {ofmap_kb}\n"
                    f"IfmapOffset: 0\nFilterOffset: 10000000\nOfmapOffset: 20000000\n"
                    f"Dataflow: {dataflow}\nBandwidth: {bandwidth}\n"
                    f"[run_presets]\nInterfaceBandwidth: USER\n")
    return path


@pytest.mark.parametrize("objective", ["cycles", "edp"])
def test_the_optimum_as_a_config_costs_what_codesign_says(tmp_path, objective):
    best = ac.codesign(NET, max_macs=256, sram_kb=64, bandwidth=4, objective=objective)
    c = best.config
    cfg = _cfg(tmp_path / "best.cfg", c["rows"], c["cols"], c["dataflow"], c["ifmap_kb"], c["filter_kb"],
               c["ofmap_kb"])
    cost = network_on_config(NET, cfg)
    assert cost["cycles"] == best.cycles  # sums of the same layers' figures, in another order
    assert cost["energy_pj"] == pytest.approx(best.energy_pj, rel=1e-12)
    assert cost["edp"] == pytest.approx(best.edp, rel=1e-12)
    assert cost["layers"]["count"].tolist() == [2, 1, 3]


def test_an_off_grid_design_equals_scalesim(tmp_path):
    # 6 x 5 array and 7/5/3 kB: neither on the co-design grid; SCALE-Sim 3.0.0 in USER mode
    cfg = _cfg(tmp_path / "odd.cfg", 6, 5, "ws", 7, 5, 3, bandwidth=2)
    small = pd.DataFrame({"M": [16, 9], "N": [8, 13], "K": [12, 7], "count": [3, 1]})
    cost = network_on_config(small, cfg)
    want = [run_scalesim([(m, n, k)], 6, 5, "ws", ifmap_kb=7, filter_kb=5, ofmap_kb=3, bandwidth=2,
                         mode="user").iloc[0]["total_cycles"] for m, n, k in [(16, 8, 12), (9, 13, 7)]]
    assert cost["layers"]["cycles"].tolist() == want
    assert cost["cycles"] == 3 * want[0] + want[1]
    assert cost["config"] == {"rows": 6, "cols": 5, "pes": 30, "dataflow": "ws", "ifmap_kb": 7,
                              "filter_kb": 5, "ofmap_kb": 3, "bandwidth": 2}


@pytest.mark.parametrize("tail, words", [
    ("[sparsity]\nSparsitySupport: true\n", "[sparsity] SparsitySupport = true"),
    ("UseRamulatorTrace: True\n", "[run_presets] UseRamulatorTrace = true"),  # into [run_presets]
])
def test_what_the_model_lacks_is_refused(tmp_path, tail, words):
    cfg = _cfg(tmp_path / "x.cfg", 8, 8, "os", 16, 16, 16)
    cfg.write_text(cfg.read_text() + tail)
    with pytest.raises(ValueError) as info:
        network_on_config(NET, cfg)
    assert str(info.value).startswith(f"{cfg}: {words}: a design is costed on the co-design model")


def test_a_config_without_one_bandwidth_needs_it_given(tmp_path):
    cfg = tmp_path / "calc.cfg"
    cfg.write_text("[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\nIfmapSramSzkB: 16\n"
                   "FilterSramSzkB: 16\nOfmapSramSzkB: 16\nIfmapOffset: 0\nFilterOffset: 10000000\n"
                   "OfmapOffset: 20000000\nDataflow: os\n[run_presets]\nInterfaceBandwidth: CALC\n")
    with pytest.raises(ValueError, match=r"calc\.cfg: \[architecture_presets\] Bandwidth must be one "
                                         r"integer to cost a design in USER mode \(or give bandwidth\), got none"):
        network_on_config(NET, cfg)
    assert network_on_config(NET, cfg, bandwidth=4)["config"]["bandwidth"] == 4
    with pytest.raises(TypeError, match="config must be a SCALE-Sim .cfg path or a ScaleSimConfig"):
        network_on_config(NET, 3)


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "airchitect", "codesign", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_cli_design_beside_the_optimum(tmp_path):
    NET.to_csv(tmp_path / "net.csv", index=False)
    _cfg(tmp_path / "mine.cfg", 16, 16, "os", 16, 16, 32)  # 256 PEs, 64 kB: on the grid
    out = _cli("--csv", "net.csv", "-c", "mine.cfg", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    best = ac.codesign(NET, max_macs=256, sram_kb=64, bandwidth=4)  # the budget is the design's own
    assert record["config"] == best.config and record["cycles"] == best.cycles
    design = network_on_config(NET, tmp_path / "mine.cfg")
    assert record["design"]["cycles"] == design["cycles"] >= best.cycles
    assert record["design"]["vs_optimum"] == design["cycles"] / best.cycles
    out = _cli("--csv", "net.csv", "-c", "mine.cfg", "--max-macs", "1024", "--objective", "edp", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "design of mine.cfg: 16x16 os, SRAM 16/16/32 kB, bandwidth 4: " in out.stdout
    assert "its energy-delay product is " in out.stdout


@pytest.mark.parametrize("rows, cols, sizes, words", [
    (12, 14, (64, 48, 144), "the design's own budget is outside the co-design space (max_macs must be "
                            "integers in [256, 65536], got 168); give --max-macs"),
    (16, 16, (100, 48, 144), "(sram_kb must be a multiple of 16 in [16, 4096], got 292); give --sram-kb"),
])
def test_cli_design_off_the_budgets_asks_for_the_flag(tmp_path, rows, cols, sizes, words):
    _cfg(tmp_path / "odd.cfg", rows, cols, "os", *sizes)
    out = _cli("--network", "resnet50", "-c", "odd.cfg", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("airchitect codesign: error: -c odd.cfg: ") and words in out.stderr


def test_reachable_from_the_package_as_the_readme_writes_it(tmp_path):
    cfg = _cfg(tmp_path / "mine.cfg", 8, 8, "ws", 16, 16, 16)
    code = ("import sys, airchitect as ac\n"
            "cost = ac.network_design.network_on_config({'M': [64], 'N': [32], 'K': [16]}, sys.argv[1])\n"
            "print(int(cost['cycles']))")
    out = subprocess.run([sys.executable, "-c", code, str(cfg)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == network_on_config({"M": [64], "N": [32], "K": [16]}, cfg)["cycles"]

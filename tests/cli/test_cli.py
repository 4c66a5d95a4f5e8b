"""The compile, demo, predict, train and evaluate commands."""

import json
import subprocess
import sys
from pathlib import Path


import airchitect as ac

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, check=False):
    return subprocess.run([sys.executable, "-m", "airchitect", *map(str, args)],
                          capture_output=True, text=True, check=check)


def test_compile_cim_program(tmp_path):
    res = _cli("compile", "--target", "cim", "--out", tmp_path / "p.json", "--json", check=True)
    out = json.loads(res.stdout)
    program = json.loads((tmp_path / "p.json").read_text())
    assert out["crossbars"] >= 1 and len(program["ops"]) == out["ops"]
    assert out["crossbar_accuracy"] == out["float_accuracy"] > 0.9


def test_compile_bad_target_exits_2():
    res = _cli("compile", "--target", "gpu", "--out", "x")
    assert res.returncode == 2 and "target must be one of" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_demo_matches_exact_search_and_scalesim():
    res = _cli("demo", "--json", check=True)
    out = json.loads(res.stdout)
    layers = out["layers"]
    assert len(layers) > 10
    task = ac.tasks.get("array")
    for row in layers[:5]:
        best = task.search(M=row["M"], N=row["N"], K=row["K"], max_macs=4096)
        assert row["optimal_cycles"] == best["cost"]
        assert row["predicted_cycles"] >= row["optimal_cycles"]
    check = out["scalesim_check"]
    assert check["exact"] is True and check["checked"] == 6 and check["distinct_layers"] == len(layers)
    for item in check["layers"]:  # SCALE-Sim's own cycles equal the table's predicted cycles
        assert item["scalesim_cycles"] == layers[item["index"]]["predicted_cycles"]
        assert item["fields_equal"] is True
    assert 99.0 <= out["geomean_percent"] <= 100.0
    # the one accelerator for bert-base-128: the exact network optimum, checked by SCALE-Sim
    network = out["codesign"]
    want = ac.codesign("bert-base-128", max_macs=4096, sram_kb=512, bandwidth=8)
    assert network["config"] == want.config and network["cycles"] == want.cycles
    per_layer = network["layers"]
    assert sum(r["count"] * r["cycles"] for r in per_layer) == network["cycles"]
    assert all(r["best_alone"] <= r["cycles"] for r in per_layer)
    assert network["per_layer_optima_cycles"] == sum(r["count"] * r["best_alone"] for r in per_layer)
    check = network["scalesim_check"]
    assert check["exact"] is True and check["checked"] == 3 and check["distinct_layers"] == 6
    for item in check["layers"]:
        assert item["fields_equal"] is True and item["scalesim_cycles"] == item["airchitect_cycles"]


def test_predict_train_evaluate_commands(tmp_path):
    res = _cli("predict", "--task", "array", "M=512", "N=512", "K=64", "max_macs=4096", "--json",
               check=True)
    cfg = json.loads(res.stdout)
    assert cfg["rows"] * cfg["cols"] <= 4096
    rec = json.loads(_cli("predict", "--task", "array", "M=512", "N=512", "K=64", "max_macs=4096",
                          "--recommend", "5", "--json", check=True).stdout)
    assert rec["cost"] == ac.tasks.get("array").search(M=512, N=512, K=64, max_macs=4096)["cost"]
    bad = _cli("predict", "--task", "array", "M=0", "N=5", "K=5", "max_macs=4096")
    assert bad.returncode == 2 and "M must be" in bad.stderr
    sample = ROOT / "datasets" / "array" / "sample"
    _cli("train", "--task", "array", "--data", sample, "--model", "surrogate", "--out",
         tmp_path / "m", check=True)
    metrics = json.loads(_cli("evaluate", "--model", tmp_path / "m", "--data", sample, "--json",
                              check=True).stdout)
    assert metrics["n"] == 5000 and metrics["geomean_percent_of_best"] > 99.9


def test_buffer_split_stall_model_from_the_command_line(tmp_path):
    sample = ROOT / "datasets" / "buffer" / "sample"
    _cli("train", "--task", "buffer", "--data", sample, "--model", "stalls", "--out", tmp_path / "s",
         check=True)
    metrics = json.loads(_cli("evaluate", "--model", tmp_path / "s", "--data", sample, "--json",
                              check=True).stdout)
    assert metrics["geomean_percent_of_best"] > 99.0
    query = ["M=300", "N=200", "K=100", "rows=8", "cols=8", "dataflow=ws", "sram_kb=64", "bandwidth=2"]
    cfg = json.loads(_cli("predict", "--task", "buffer", *query, "--json", check=True).stdout)
    assert cfg["ifmap_kb"] + cfg["filter_kb"] + cfg["ofmap_kb"] == 64
    rec = json.loads(_cli("predict", "--task", "buffer", *query, "--recommend", "5", "--json",
                          check=True).stdout)
    assert rec["cost"] >= ac.tasks.get("buffer").search(M=300, N=200, K=100, rows=8, cols=8, dataflow="ws",
                                                        sram_kb=64, bandwidth=2)["cost"]


def test_scalesim_worker_answers_as_scalesim_in_order_and_stops():
    from airchitect.cli.scalesim_worker import Reference
    from airchitect.targets.systolic.scalesim import REPORT_ITEMS, run_scalesim

    worker = Reference()
    try:
        jobs = [worker.submit([(16, 8, 4)], 4, 4, "os"),
                worker.submit([(8, 8, 8)], 4, 8, "ws", ifmap_kb=1, filter_kb=1, ofmap_kb=1, bandwidth=2,
                              mode="user")]
        second, first = worker.result(jobs[1]), worker.result(jobs[0])  # any order of waiting
        want = [run_scalesim([(16, 8, 4)], 4, 4, "os").iloc[0],
                run_scalesim([(8, 8, 8)], 4, 8, "ws", ifmap_kb=1, filter_kb=1, ofmap_kb=1, bandwidth=2,
                             mode="user").iloc[0]]
        for got, ref in zip((first, second), want):
            assert all(got[f] == ref[f] for f in REPORT_ITEMS) and got["total_cycles"] > 0
    finally:
        worker.stop()
    assert worker.proc.returncode is not None


def test_scalesim_worker_stopped_mid_run_leaves_no_folder(tmp_path, monkeypatch):
    import time

    from airchitect.cli.scalesim_worker import Reference

    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the child's temporary folders go here
    worker = Reference()
    try:
        worker.submit([(128, 128, 128)], 4, 4, "os")  # about 10^5 demand rows: seconds of SCALE-Sim
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("airchitect_scalesim_*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(tmp_path.glob("airchitect_scalesim_*")), "the run never started"
    finally:
        worker.stop()
    assert worker.proc.returncode == 128 + 15  # ended by SIGTERM, not killed
    assert list(tmp_path.iterdir()) == []

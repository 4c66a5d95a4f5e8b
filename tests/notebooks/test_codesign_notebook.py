"""Execute notebooks/05_codesign.ipynb and check what it prints against the library.

The notebook runs once per module; each test parses its printed figures and recomputes
them independently: a GEMM optimum by brute force over every allowed configuration,
network figures as count-weighted sums of per-layer simulations, a Pareto front by
enumerating every candidate.
"""

import re

import numpy as np
import pandas as pd
import pytest
from notebook_runner import output_text, run_notebook

import airchitect as ac
from airchitect.network_design import network_layers

FLOW = r"(os|ws|is)"
CONFIG = rf"(\d+)x(\d+) {FLOW}, SRAM (\d+)/(\d+)/(\d+) kB"


@pytest.fixture(scope="module")
def text():
    outputs = run_notebook("05_codesign.ipynb", timeout=600)
    assert not [o for o in outputs if o.output_type == "error"]
    return output_text(outputs)


def _table(text, header_start):
    """The whitespace-separated table printed after the line starting with ``header_start``."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.split()[:1] == [header_start])
    columns = lines[first].split()
    rows = []
    for line in lines[first + 1:]:
        if not line.strip() or len(line.split()) != len(columns):
            break
        rows.append(line.split())
    return pd.DataFrame(rows, columns=columns)


def _label(task, rows, cols, dataflow, sram_kb, ifmap_kb, filter_kb):
    """The task label of a configuration given by its printed columns."""
    s = task.space_columns()
    i, j = ifmap_kb * task.parts // sram_kb, filter_kb * task.parts // sram_kb
    hit = np.flatnonzero((s["rows"] == rows) & (s["cols"] == cols) & (s["dataflow"] == dataflow)
                         & (s["i"] == i) & (s["j"] == j))
    assert hit.size == 1
    return int(hit[0])


def _brute_force(task, query):
    """Exact optimum of one query by simulating every allowed configuration:
    (label, cost, runner-up cost, allowed count), ties by cycles, PEs, DRAM words, label."""
    inputs = task.validate({c: [v] for c, v in query.items()})
    s = task.space_columns()
    allowed = np.flatnonzero(s["pes"] <= query["max_macs"])
    sim = task.simulate(inputs, allowed[None, :])
    cycles = sim["total_cycles"][0].astype(np.float64)
    order = np.lexsort((allowed, sim["dram_words"][0], s["pes"][allowed], cycles))
    best = order[0]
    return int(allowed[best]), cycles[best], np.delete(cycles, best).min(), allowed.size


def _network_figures(task, net, label, max_macs, sram_kb, bandwidth):
    """Count-weighted cycles and energy of one configuration, layer by layer."""
    table = network_layers(net).table
    inputs = task.validate({"M": table.M, "N": table.N, "K": table.K, "max_macs": max_macs,
                            "sram_kb": sram_kb, "bandwidth": bandwidth})
    sim = task.simulate(inputs, np.full(len(inputs), label))
    counts = table["count"].to_numpy(np.float64)
    return float(counts @ sim["total_cycles"].astype(np.float64)), float(counts @ sim["energy_pj"])


def test_gemm_optimum_is_the_brute_force_one(text):
    task = ac.tasks.get("codesign")
    query = dict(M=512, N=256, K=128, max_macs=1024, sram_kb=256, bandwidth=8)
    label, cost, second, allowed = _brute_force(task, query)
    m = re.search(rf"exact optimum: {CONFIG}, label (\d+): (\d+) cycles \(runner-up (\d+)\)", text)
    rows, cols, flow, ifm, fil, ofm, got_label, got_cost, got_second = m.groups()
    assert (int(got_label), float(got_cost), float(got_second)) == (label, cost, second)
    assert (int(rows), int(cols), flow, int(ifm), int(fil)) == (
        task.space_columns()["rows"][label], task.space_columns()["cols"][label],
        task.space_columns()["dataflow"][label], 256 * task.space_columns()["i"][label] // 16,
        256 * task.space_columns()["j"][label] // 16)
    assert int(ifm) + int(fil) + int(ofm) == 256
    sims, got_allowed, labels = map(int, re.search(r"simulations: (\d+) of (\d+) allowed \((\d+) labels\)",
                                                   text).groups())
    assert got_allowed == allowed and labels == 28665 and 1 <= sims < allowed


def test_budget_sweep_configs_and_cycles(text):
    task = ac.tasks.get("codesign")
    sweep = _table(text, "knob")
    ints = [c for c in sweep.columns if c not in ("knob", "dataflow")]
    sweep[ints] = sweep[ints].astype(np.int64)
    assert sweep.knob.value_counts().to_dict() == {"sram_kb": 7, "bandwidth": 5, "max_macs": 4}
    for r in sweep.itertuples():
        assert r.rows * r.cols <= r.max_macs and r.ifmap_kb + r.filter_kb + r.ofmap_kb == r.sram_kb
        assert _label(task, r.rows, r.cols, r.dataflow, r.sram_kb, r.ifmap_kb, r.filter_kb) == r.label
        q = {"M": [512], "N": [256], "K": [128], "max_macs": [r.max_macs], "sram_kb": [r.sram_kb],
             "bandwidth": [r.bandwidth]}
        assert task.cost_of(q, [r.label])[0] == r.cycles
        assert 1 <= r.simulations <= r.allowed
    # a larger PE budget allows a superset of configurations: the optimum never gets slower
    macs = sweep[sweep.knob == "max_macs"].sort_values("max_macs")
    assert macs.max_macs.tolist() == [256, 1024, 4096, 16384]
    assert (np.diff(macs.cycles) <= 0).all() and macs.cycles.iloc[-1] < macs.cycles.iloc[0]
    # the smallest budget's optimum, by brute force
    small = macs.iloc[0]
    label, cost, _, allowed = _brute_force(task, dict(M=512, N=256, K=128, max_macs=256, sram_kb=256,
                                                      bandwidth=8))
    assert (small["label"], small["cycles"], small["allowed"]) == (label, cost, allowed)


def test_per_workload_model_line(text):
    shipped = (ac.api.shipped_path("codesign") / "predictor.json").is_file()
    assert shipped and "no shipped codesign model" not in text
    if shipped:
        task = ac.tasks.get("codesign")
        q = {"M": [512], "N": [256], "K": [128], "max_macs": [1024], "sram_kb": [256], "bandwidth": [8]}
        optimum = float(re.search(r"exact optimum: .*: (\d+) cycles", text).group(1))
        for what in ("predicted", r"recommended \(k=8\)"):
            label, cycles, quality = re.search(rf"{what}: label (\d+), (\d+) cycles \((\d+\.\d) %", text).groups()
            assert task.cost_of(q, [int(label)])[0] == float(cycles) >= optimum
            assert float(quality) == round(100 * optimum / float(cycles), 1)


def test_network_results_are_layer_sums(text):
    task = ac.tasks.get("codesign")
    table = _table(text, "network")
    assert len(table) == 6 and set(table.network) == {"bert-base-128", "dlrm"}
    for r in table.itertuples():
        macs, sram, bw = int(r.max_macs), int(r.sram_kb), int(r.bandwidth)
        rows, cols, ifm, fil = int(r.rows), int(r.cols), int(r.ifmap_kb), int(r.filter_kb)
        assert rows * cols <= macs and ifm + fil + int(r.ofmap_kb) == sram
        label = _label(task, rows, cols, r.dataflow, sram, ifm, fil)
        cycles, energy = _network_figures(task, r.network, label, macs, sram, bw)
        assert cycles == int(r.cycles)
        assert energy == pytest.approx(float(r.energy_pj), rel=1e-10)
        assert 0 < int(r.simulations) <= int(r.enumeration)
        n_layers = len(network_layers(r.network).table)
        assert int(r.enumeration) == n_layers * int((task.space_columns()["pes"] <= macs).sum())


def _front_by_enumeration(task, net, max_macs, bandwidth, totals):
    """Every candidate (allowed configuration x SRAM total) simulated; the non-dominated ones
    of (cycles, energy, PEs, SRAM), equal figure vectors keeping the first (label, then total)."""
    s = task.space_columns()
    allowed = np.flatnonzero(s["pes"] <= max_macs)
    table = network_layers(net).table
    counts = table["count"].to_numpy(np.float64)
    parts = []
    for total in totals:
        inputs = task.validate({"M": table.M, "N": table.N, "K": table.K, "max_macs": max_macs,
                                "sram_kb": total, "bandwidth": bandwidth})
        sim = task.simulate(inputs, np.broadcast_to(allowed, (len(inputs), allowed.size)))
        parts.append(pd.DataFrame({"label": allowed, "sram_kb": total,
                                   "cycles": counts @ sim["total_cycles"].astype(np.float64),
                                   "energy_pj": counts @ sim["energy_pj"]}))
    cand = pd.concat(parts).sort_values(["label", "sram_kb"], kind="stable").reset_index(drop=True)
    cand["pes"] = s["pes"][cand.label]
    f = cand[["cycles", "energy_pj", "pes", "sram_kb"]].to_numpy(np.float64)
    keep = np.ones(len(f), dtype=bool)
    for start in range(0, len(f), 256):
        c = f[start:start + 256, None, :]
        le, lt = (f[None] <= c).all(2), (f[None] < c).any(2)
        earlier = np.arange(len(f))[None, :] < np.arange(start, start + len(c))[:, None]
        keep[start:start + len(c)] = ~(le & (lt | earlier)).any(1)
    front = cand[keep].copy()
    front["rows"], front["cols"] = s["rows"][front.label], s["cols"][front.label]
    front["dataflow"] = s["dataflow"][front.label]
    front["ifmap_kb"] = front.sram_kb * s["i"][front.label] // task.parts
    front["filter_kb"] = front.sram_kb * s["j"][front.label] // task.parts
    return front, len(cand)


def test_dlrm_pareto_front_equals_enumeration(text):
    task = ac.tasks.get("codesign", parts=8)
    front, n_candidates = _front_by_enumeration(task, "dlrm", 4096, 8, [128, 512])
    printed = _table(text, "rows")
    key = ["rows", "cols", "dataflow", "sram_kb", "ifmap_kb", "filter_kb"]
    for c in key + ["cycles"]:
        if c != "dataflow":
            printed[c] = printed[c].astype(float).astype(np.int64)
    got = printed.set_index(key).sort_index()
    want = front.set_index(key).sort_index()
    assert list(got.index) == list(want.index)
    assert (got.cycles.to_numpy() == want.cycles.to_numpy()).all()
    assert got.energy_pj.astype(float).to_numpy() == pytest.approx(want.energy_pj.to_numpy(), rel=1e-10)
    assert (printed.pes.astype(np.int64) == printed.rows * printed.cols).all()
    m = re.search(r"dlrm: (\d+) front points from (\d+) layer simulations \(enumeration (\d+)\); .*"
                  r"fastest (\d+) cycles, least energy (\S+) pJ", text)
    points, sims, enumeration, fastest, least = m.groups()
    assert int(points) == len(front) and int(enumeration) == n_candidates * 8 and int(sims) <= int(enumeration)
    assert float(fastest) == front.cycles.min()
    assert float(least) == pytest.approx(front.energy_pj.min(), rel=1e-10)
    assert re.search(r"mobilenetv2: \d+ front points", text)


def test_search_against_model(text):
    from airchitect.network_design.baselines import optuna_search
    from airchitect.network_design.model import SHIPPED

    task = ac.tasks.get("codesign")
    budget = dict(max_macs=4096, sram_kb=512, bandwidth=8)
    m = re.search(rf"exact: mobilenetv2: {CONFIG}: (\d+) cycles", text)
    rows, cols, flow, ifm, fil, _, cycles = m.groups()
    label = _label(task, int(rows), int(cols), flow, 512, int(ifm), int(fil))
    optimum = _network_figures(task, "mobilenetv2", label, **budget)[0]
    assert optimum == float(cycles)
    runs = re.findall(r"(random|tpe) seed (\d): best (\d+) cycles after 64 evaluations \((\d+\.\d) %", text)
    assert len(runs) == 6
    for sampler, seed, best, quality in runs:
        assert float(best) >= optimum and float(quality) == round(100 * optimum / float(best), 1)
    # the first run again: its best trial is a real configuration with that cost
    again = optuna_search("mobilenetv2", **budget, sampler=runs[0][0], n_trials=64, seed=int(runs[0][1]))
    assert again["cost"] == float(runs[0][2])
    assert _network_figures(task, "mobilenetv2", again["label"], **budget)[0] == again["cost"]
    shipped = (SHIPPED / "model.json").is_file()
    assert shipped and "no shipped network model" not in text
    points = re.findall(rf"model k=(\d+): {CONFIG}: (\d+) cycles after \d+ evaluations? \((\d+\.\d) %", text)
    assert [int(p[0]) for p in points] == ([1, 16] if shipped else [])
    for _, rows, cols, flow, ifm, fil, _, cycles, quality in points:
        label = _label(task, int(rows), int(cols), flow, 512, int(ifm), int(fil))
        assert _network_figures(task, "mobilenetv2", label, **budget)[0] == float(cycles) >= optimum
        assert float(quality) == round(100 * optimum / float(cycles), 1)

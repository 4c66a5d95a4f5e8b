"""ac.codesign(pareto=True): the exact front equals the front of the enumeration."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import airchitect as ac
from airchitect.network_design import codesign, network_layers
from airchitect.network_design.pareto import pareto_front, sram_ladder
from airchitect.tasks.codesign import CodesignTask

SMALL = CodesignTask(rows=[2, 4, 8, 16], cols=[2, 4, 8, 16], max_macs=[64, 256], parts=4)
NET = {"layer": ["a", "b", "c", "d"], "M": [64, 32, 64, 100], "N": [32, 64, 32, 20],
       "K": [16, 80, 16, 33], "count": [1, 2, 3, 1]}
BUDGETS = [(64, 16, 1), (256, 32, 4), (256, 64, 2), (256, 48, 8)]


def _candidates(task, net, max_macs, totals, bandwidth):
    """Every (label, SRAM total) candidate simulated: a DataFrame in label, then total order."""
    table = network_layers(pd.DataFrame(net)).table
    w = table["count"].to_numpy().astype(float)[:, None]
    s = task._space_arrays()
    allowed = np.flatnonzero(s["pes"] <= max_macs)
    parts = []
    for kb in totals:
        rows = task.validate(pd.DataFrame({"M": table.M, "N": table.N, "K": table.K, "max_macs": max_macs,
                                           "sram_kb": kb, "bandwidth": bandwidth}))
        sim = task.simulate(rows, np.broadcast_to(allowed, (len(rows), allowed.size)))
        parts.append(pd.DataFrame({
            "label": allowed, "sram_kb": kb, "pes": s["pes"][allowed],
            "cycles": (w * sim["total_cycles"]).sum(0), "energy_pj": (w * sim["energy_pj"]).sum(0),
            "dram_words": (w * sim["dram_words"]).sum(0)}))
    return pd.concat(parts).sort_values(["label", "sram_kb"], kind="stable").reset_index(drop=True)


def _brute_front(cands):
    """Indices of the candidates no other dominates, identical figures keeping the first."""
    fig = cands[["cycles", "energy_pj", "pes", "sram_kb"]].to_numpy(float)
    keep = []
    for x in range(len(fig)):
        le = (fig <= fig[x]).all(1)
        equal = (fig == fig[x]).all(1)
        beaten = le & ~equal
        beaten[:x] |= equal[:x]
        if not beaten.any():
            keep.append(x)
    return cands.iloc[keep]


def _key(frame):
    return sorted(zip(frame["label"], frame["sram_kb"], frame["cycles"], frame["energy_pj"]))


def _rows(task, net, max_macs, sram_kb, bandwidth):
    table = network_layers(pd.DataFrame(net)).table
    rows = task.validate(pd.DataFrame({"M": table.M, "N": table.N, "K": table.K, "max_macs": max_macs,
                                       "sram_kb": sram_kb, "bandwidth": bandwidth}))
    return rows, table["count"].to_numpy()


@pytest.fixture(scope="module", params=BUDGETS, ids=lambda b: "-".join(map(str, b)))
def case(request):
    max_macs, sram_kb, bandwidth = request.param
    rows, counts = _rows(SMALL, NET, max_macs, sram_kb, bandwidth)
    found = pareto_front(SMALL, rows, counts)
    cands = _candidates(SMALL, NET, max_macs, found["totals"], bandwidth)
    return request.param, found, cands


def test_front_equals_enumeration(case):
    (max_macs, sram_kb, _), found, cands = case
    assert found["totals"] == [t for t in (4, 8, 16, 32, 64) if t < sram_kb] + [sram_kb]
    want = _brute_front(cands)
    table = found["table"]
    assert _key(table) == _key(want)
    assert table["cycles"].is_monotonic_increasing
    s = SMALL._space_arrays()
    lab = table["label"].to_numpy()
    assert (table["rows"] * table["cols"] == table["pes"]).all() and (table["pes"] <= max_macs).all()
    assert (table["rows"].to_numpy() == s["rows"][lab]).all()
    assert (table["ifmap_kb"] + table["filter_kb"] + table["ofmap_kb"] == table["sram_kb"]).all()
    assert (table["ifmap_kb"].to_numpy() == table["sram_kb"].to_numpy() * s["i"][lab] // 4).all()
    assert (table["edp"] == table["energy_pj"] * table["cycles"]).all()
    # no front point is dominated by another one, and no two share figures
    fig = table[["cycles", "energy_pj", "pes", "sram_kb"]].to_numpy(float)
    assert len(np.unique(fig, axis=0)) == len(fig)
    assert found["candidates"] == len(cands) and found["enumeration"] == len(cands) * 3  # a and c merge
    assert found["simulations"] < found["enumeration"]


@pytest.mark.parametrize("objective", ["cycles", "energy", "edp"])
def test_objective_optimum_against_front(case, objective):
    (max_macs, sram_kb, bandwidth), found, cands = case
    got = codesign(NET, max_macs=max_macs, sram_kb=sram_kb, bandwidth=bandwidth, objective=objective,
                   task=SMALL, pareto=True)
    front = got.pareto
    assert list(front.columns) == ["rows", "cols", "pes", "dataflow", "sram_kb", "ifmap_kb", "filter_kb",
                                   "ofmap_kb", "cycles", "energy_pj", "edp"]
    assert _key(front.assign(label=found["table"]["label"])) == _key(found["table"])
    # the objective's optimum over all candidates of all totals is a front point's value
    value = {"cycles": cands.cycles, "energy": cands.energy_pj, "edp": cands.energy_pj * cands.cycles}
    front_value = {"cycles": front.cycles, "energy": front.energy_pj, "edp": front.edp}
    assert front_value[objective].min() == value[objective].min()
    # the optimum at the full SRAM budget: a front point is no worse in all four figures, and
    # it is itself a front point exactly when the enumeration's front holds it
    c = got.config
    assert ((front.cycles <= got.cycles) & (front.energy_pj <= got.energy_pj)
            & (front.pes <= c["pes"]) & (front.sram_kb <= sram_kb)).any()
    want = _brute_front(cands)
    label = SMALL.space_columns()
    match = want[(want.sram_kb == sram_kb) & (want.cycles == got.cycles) & (want.energy_pj == got.energy_pj)]
    held = any(int(label["rows"][x]) == c["rows"] and int(label["cols"][x]) == c["cols"]
               and str(label["dataflow"][x]) == c["dataflow"] for x in match.label)
    assert got.extra["optimum_on_front"] == held
    assert got.extra["pareto_simulations"] == found["simulations"]


def test_optimum_off_the_front_when_less_sram_matches():
    # with 64 kB the cycles optimum is matched in cycles by a 32 kB point that spends no more energy
    got = codesign(NET, max_macs=256, sram_kb=64, bandwidth=2, task=SMALL, pareto=True)
    cands = _candidates(SMALL, NET, 256, [4, 8, 16, 32, 64], 2)
    full = cands[cands.sram_kb == 64]
    best = full.cycles.min()
    smaller = cands[(cands.sram_kb < 64) & (cands.cycles == best) & (cands.pes <= got.config["pes"])
                    & (cands.energy_pj <= got.energy_pj)]
    assert got.cycles == best and len(smaller) > 0
    assert got.extra["optimum_on_front"] is False
    assert got.pareto.cycles.min() == best


def test_sram_totals_given():
    rows, counts = _rows(SMALL, NET, 256, 32, 4)
    found = pareto_front(SMALL, rows, counts, sram_totals=[32, 12])
    assert found["totals"] == [12, 32]
    assert _key(found["table"]) == _key(_brute_front(_candidates(SMALL, NET, 256, [12, 32], 4)))
    got = codesign(NET, max_macs=256, sram_kb=32, bandwidth=4, task=SMALL, pareto=[12, 32])
    assert got.extra["pareto_sram_totals"] == [12, 32] and len(got.pareto) == len(found["table"])


def test_default_task_prunes_most_candidates():
    task = ac.tasks.get("codesign")
    net = {"M": [64, 32], "N": [32, 64], "K": [16, 80], "count": [1, 2]}
    got = codesign(net, max_macs=256, sram_kb=32, bandwidth=4, pareto=True)
    assert got.extra["pareto_sram_totals"] == [16, 32]
    allowed = int((task._space_arrays()["pes"] <= 256).sum())
    assert got.extra["pareto_enumeration"] == allowed * 2 * 2
    assert got.extra["pareto_simulations"] < got.extra["pareto_enumeration"] / 4
    assert got.pareto.cycles.min() <= got.cycles and got.pareto.energy_pj.min() <= got.energy_pj


def test_walked_front_equals_enumeration_on_the_default_task():
    # parts = 16: the candidates about to be simulated get every layer of every undecided
    # candidate on their arrays walked first; the front is still the enumeration's, with
    # fewer simulations than the closed-form bounds alone
    task = ac.tasks.get("codesign")
    net = {"M": [196, 784, 49], "N": [64, 32, 128], "K": [288, 27, 576], "count": [2, 1, 1]}
    rows, counts = _rows(task, net, 256, 64, 2)
    found = pareto_front(task, rows, counts)
    assert found["totals"] == [16, 32, 64]
    cands = _candidates(task, net, 256, found["totals"], 2)
    assert _key(found["table"]) == _key(_brute_front(cands))
    plain = pareto_front(task, rows, counts, walk=False)
    assert plain["table"].equals(found["table"])
    assert found["simulations"] < plain["simulations"]


def test_sram_ladder():
    task = ac.tasks.get("codesign")
    assert sram_ladder(task, 512) == [16, 32, 64, 128, 256, 512]
    assert sram_ladder(task, 200) == [16, 32, 64, 128, 200]
    assert sram_ladder(task, 16) == [16]
    assert sram_ladder(SMALL, 48) == [4, 8, 16, 32, 48]
    listed = CodesignTask(rows=[4, 8], cols=[4, 8], max_macs=[64], parts=4, sram_kb=[8, 24, 40])
    assert sram_ladder(listed, 24) == [8, 24]


def test_bad_input():
    with pytest.raises(ValueError, match="dataflow='shared' only"):
        codesign(NET, max_macs=64, sram_kb=16, bandwidth=1, task=SMALL, pareto=True, dataflow="per-layer")
    with pytest.raises(TypeError, match="pareto must be a bool"):
        codesign(NET, max_macs=64, sram_kb=16, bandwidth=1, task=SMALL, pareto="yes")
    with pytest.raises(ValueError, match=r"sram_totals must hold multiples of 4 in \[4, sram_kb = 16\], "
                                         r"got 6"):
        codesign(NET, max_macs=64, sram_kb=16, bandwidth=1, task=SMALL, pareto=[6])
    with pytest.raises(ValueError, match="got 32"):
        codesign(NET, max_macs=64, sram_kb=16, bandwidth=1, task=SMALL, pareto=[16, 32])
    with pytest.raises(ValueError, match="at least one"):
        codesign(NET, max_macs=64, sram_kb=16, bandwidth=1, task=SMALL, pareto=[])
    with pytest.raises(TypeError, match="sram_totals must hold int"):
        codesign(NET, max_macs=64, sram_kb=16, bandwidth=1, task=SMALL, pareto=[8.0])
    rows, counts = _rows(SMALL, NET, 64, 16, 1)
    with pytest.raises(ValueError, match="max_simulations = 50 "):
        pareto_front(SMALL, rows, counts, max_simulations=50)
    with pytest.raises(ValueError, match="counts must hold one count per input row"):
        pareto_front(SMALL, rows, counts[:2])


def test_cli_pareto(tmp_path):
    csv = tmp_path / "net.csv"
    pd.DataFrame({"M": [64, 32], "N": [32, 64], "K": [16, 80], "count": [1, 2]}).to_csv(csv, index=False)
    args = [sys.executable, "-m", "airchitect", "codesign", "--csv", str(csv), "--max-macs", "256",
            "--sram-kb", "32", "--bandwidth", "4", "--pareto"]
    got = codesign(str(csv), max_macs=256, sram_kb=32, bandwidth=4, pareto=True)
    out = subprocess.run(args + ["--json"], capture_output=True, text=True, check=True)
    record = json.loads(out.stdout)
    assert pd.DataFrame(record["pareto"]).equals(got.pareto)
    assert record["pareto_simulations"] == got.extra["pareto_simulations"]
    text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    assert f"Pareto front of (cycles, energy, PEs, SRAM): {len(got.pareto)} points" in text
    bad = subprocess.run(args + ["--dataflow", "per-layer"], capture_output=True, text=True)
    assert bad.returncode == 2 and "dataflow='shared' only" in bad.stderr


def test_ties_keep_the_first_candidate():
    from airchitect.network_design.pareto import _dominated, _front_of

    # simulated points: order 5 at (10, 10) with 4 PEs and 16 kB; order 7 at (20, 5)
    pts = {"cycles": np.array([10.0, 20.0]), "energy": np.array([10.0, 5.0]), "pes": np.array([4.0, 4.0]),
           "sram": np.array([16.0, 16.0]), "order": np.array([5, 7])}
    # candidate bounds: equal to point 5 and later (excluded), equal and earlier (kept: it may tie
    # and win), above in cycles only (excluded), below in energy (kept), more PEs with equal
    # figures (excluded), less SRAM (kept)
    lb_c = np.array([10.0, 10.0, 11.0, 10.0, 10.0, 10.0])
    lb_e = np.array([10.0, 10.0, 10.0, 4.0, 10.0, 10.0])
    pes = np.array([4.0, 4.0, 4.0, 4.0, 8.0, 4.0])
    sram = np.array([16.0, 16.0, 16.0, 16.0, 16.0, 8.0])
    order = np.array([6, 3, 9, 9, 2, 1])
    assert _dominated(lb_c, lb_e, pes, sram, order, pts).tolist() == [True, False, True, False, True, False]
    # front: identical vectors keep the smaller order; a dominated point goes
    points = {"cycles": np.array([10.0, 10.0, 20.0, 12.0]), "energy": np.array([10.0, 10.0, 5.0, 11.0]),
              "pes": np.full(4, 4.0), "sram": np.full(4, 16.0), "order": np.array([8, 3, 7, 1])}
    assert _front_of(points).tolist() == [1, 2]

"""The learned network co-design model on a small codesign space."""

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

import airchitect as ac
from airchitect.network_design.baselines import network_cost
from airchitect.network_design.model import (
    NetworkModel, fit_scorer, model_pairs, network_pairs, pair_estimates, search_with_model,
)

NET = {"M": [96, 40, 7, 300], "N": [24, 64, 200, 9], "K": [50, 33, 64, 12], "count": [3, 1, 2, 1]}


def small_task():
    return ac.tasks.get("codesign", rows=[4, 8, 16], cols=[4, 8, 16], max_macs=[64, 256])


def layers(task, table=NET, max_macs=256, sram_kb=48, bandwidth=2):
    frame = pd.DataFrame(table)
    inputs = task.validate(frame[["M", "N", "K"]].assign(max_macs=max_macs, sram_kb=sram_kb,
                                                         bandwidth=bandwidth))
    return inputs, frame["count"].to_numpy()


@pytest.fixture(scope="module")
def trained():
    task = small_task()
    rng = np.random.default_rng(0)
    parts = [network_pairs(task, *layers(task, sram_kb=s, bandwidth=b), rng, configs=24)
             for s, b in ((48, 2), (96, 4), (32, 1))]
    x, y, w = (np.concatenate(p) for p in zip(*parts))
    torch.manual_seed(0)
    scorer = fit_scorer(x, y, w, width=16, epochs=5, batch_size=64)
    return task, NetworkModel(scorer, task.definition(), {"pairs": len(x)}), (x, y, w)


def test_pairs_targets_and_weights(trained):
    task, _, (x, y, w) = trained
    assert np.isfinite(x).all() and np.isfinite(y).all() and (y[:, 1] >= 0).all()
    inputs, counts = layers(task)
    rng = np.random.default_rng(1)
    x1, y1, w1 = network_pairs(task, inputs, counts, rng, configs=8)
    per_config = w1.reshape(len(inputs), -1)
    assert np.allclose(per_config.sum(axis=0), 1.0)  # a layer's share of the network's cycles


def test_pairs_skip_configurations_past_the_user_mode_limit(trained, monkeypatch):
    # with the limit lowered to 2,000 demand rows, the 4 x 4 arrays cannot simulate the
    # 96 x 24 x 50 layer (24 x 6 folds at least); the sampler draws none of them, so its
    # simulations (which refuse such pairs) all run
    import importlib

    simulate = importlib.import_module("airchitect.targets.systolic.simulate")
    task = trained[0]
    monkeypatch.setattr(simulate, "USER_ROWS_LIMIT", 2000)
    inputs, counts = layers(task)
    allowed = np.flatnonzero(task.allowed(inputs.iloc[:1], validated=True)[0])
    ok = task.simulable(inputs, np.broadcast_to(allowed, (len(inputs), allowed.size))).all(axis=0)
    assert 0 < ok.sum() < ok.size
    x, y, w = network_pairs(task, inputs, counts, np.random.default_rng(0), configs=24)
    assert np.isfinite(y).all() and np.allclose(w.reshape(len(inputs), -1).sum(axis=0), 1.0)
    rows, cols = (np.exp2(x[:, j]).round() for j in (6, 7))  # log2 rows and cols of each pair
    assert ((rows * cols) > 16).all()
    with pytest.raises(ValueError, match="USER_ROWS_LIMIT"):
        task.simulate(inputs, np.broadcast_to(allowed[~ok][:1], (len(inputs), 1)))


def test_model_pairs_are_the_models_own_best_simulated_exactly(trained):
    task, model, _ = trained
    inputs, counts = layers(task, sram_kb=64, bandwidth=1)
    x, y, w = model_pairs(model, task, inputs, counts, k=3)
    best = np.unique(np.concatenate([model.rank(task, inputs, counts, o, 3)["labels"] for o in ("cycles", "edp")]))
    assert 3 <= best.size <= 6 and x.shape == (len(inputs) * best.size, x.shape[1])
    grid = np.broadcast_to(best, (len(inputs), best.size))
    sim = task.simulate(inputs, grid)
    cycles = sim["total_cycles"].astype(float)
    bound = task.bounds(inputs, np.ascontiguousarray(grid))["cycles"]
    estimate = task.split_estimate(inputs, best // 105)[np.arange(len(inputs))[:, None],
                                                         np.arange(best.size), best % 105]
    # rows first: log2 of the exact cycles over the larger of the bound and the estimate
    assert np.allclose(y[:, 0], np.log2(cycles / np.maximum(bound, estimate)).ravel(), atol=1e-5)
    assert np.allclose(w, (counts[:, None] * cycles / (counts @ cycles)).ravel())
    # the scorer goes on training from these pairs (its feature scaling kept)
    start = copy.deepcopy(model.scorer).train()
    again = fit_scorer(x, y, w, epochs=1, batch_size=8, init=start)
    assert again is start and torch.equal(again.mean, model.scorer.mean)
    assert not torch.equal(again.net[0].weight, model.scorer.net[0].weight)


def test_rank_is_the_models_argmin_over_the_whole_space(trained):
    task, model, _ = trained
    inputs, counts = layers(task)
    allowed = np.flatnonzero(task.allowed(inputs.iloc[:1], validated=True)[0])
    labels = np.ascontiguousarray(np.broadcast_to(allowed, (len(inputs), allowed.size)))
    bounds = task.bounds(inputs, labels)
    cycles, energy = model.layer_figures(task, inputs, labels, bounds, *pair_estimates(task, inputs, labels))
    assert (cycles >= bounds["cycles"]).all() and (energy >= bounds["energy"] * (1 - 1e-12)).all()
    for objective, value in (("cycles", counts @ cycles), ("edp", (counts @ cycles) * (counts @ energy))):
        ranked = model.rank(task, inputs, counts, objective, k=5)
        expected = allowed[np.lexsort((allowed, counts @ cycles, value))[:5]]
        assert ranked["labels"].tolist() == expected.tolist()
        assert np.allclose(ranked[objective], np.sort(value)[:5])


def test_search_with_model_evaluates_exactly(trained):
    task, model, _ = trained
    inputs, counts = layers(task)
    found = search_with_model(model, task, inputs, counts, objective="cycles", k=4)
    assert found["simulations"] == found["evaluated"] * len(inputs) and 1 <= found["evaluated"] <= 4
    labels = [int(r["labels"][0]) for r in found["best"]]
    exact = network_cost(task, inputs, counts, labels, "cycles")
    assert [r["cycles"] for r in found["best"]] == exact["cycles"].tolist()
    assert exact["cycles"].tolist() == sorted(exact["cycles"].tolist())
    assert set(r["model_rank"] for r in found["best"]) <= {1, 2, 3, 4}
    assert 1 in {r["model_rank"] for r in found["best"]}  # the model's first is always evaluated


@pytest.mark.parametrize("objective, k", [("cycles", 4), ("edp", 7), ("energy", 16)])
def test_spread_ranking_is_half_the_best_then_one_split_per_array(trained, objective, k):
    # against every allowed configuration scored: the ceil(k / 2) best as ranked, then
    # the best split of each further array in order of its best prediction
    task, model, _ = trained
    inputs, counts = layers(task, sram_kb=64, bandwidth=1)
    every = model.rank(task, inputs, counts, objective, k=task.n_labels)
    labels = every["labels"]
    assert every["scored"] == every["allowed"] == labels.size
    top = (k + 1) // 2
    want = list(labels[:top])
    arrays = {int(a) for a in labels[:top] // 105}
    for label in labels[top:]:
        if len(want) == k:
            break
        if int(label) // 105 not in arrays:
            arrays.add(int(label) // 105)
            want.append(label)
    spread = model.rank(task, inputs, counts, objective, k=k, spread=True)
    assert sorted(spread["labels"].tolist()) == sorted(int(x) for x in want)
    assert (np.diff(spread[objective]) >= 0).all()  # best first
    assert spread["scored"] <= labels.size
    assert np.array_equal(model.rank(task, inputs, counts, objective, k=1, spread=True)["labels"], labels[:1])


@pytest.mark.parametrize("objective", ["cycles", "energy", "edp"])
def test_search_with_model_skips_by_bounds_and_equals_evaluating_all(trained, objective):
    task, model, _ = trained
    for sram_kb, bandwidth in ((48, 2), (32, 1), (160, 8)):
        inputs, counts = layers(task, sram_kb=sram_kb, bandwidth=bandwidth)
        k = 40
        ranked = model.rank(task, inputs, counts, objective, k, spread=True)
        every = network_cost(task, inputs, counts, ranked["labels"], objective)
        assert (ranked["bound"] <= every["cost"]).all()
        pes = np.asarray(task.space_columns()["pes"])[ranked["labels"]]
        # the exact search's tie-break: cost, cycles, PEs, DRAM words, label
        j = np.lexsort((ranked["labels"], every["dram_words"], pes, every["cycles"], every["cost"]))[0]
        found = search_with_model(model, task, inputs, counts, objective=objective, k=k)
        best = found["best"][0]
        assert best["labels"][0] == ranked["labels"][j] and best["model_rank"] == j + 1
        assert best[objective] == every[objective][j]
        evaluated = {r["model_rank"] - 1 for r in found["best"]}
        assert found["evaluated"] == len(evaluated) <= k
        assert found["simulations"] == found["evaluated"] * len(inputs)
        skipped = sorted(set(range(k)) - evaluated)
        assert (ranked["bound"][skipped] > every["cost"][j]).all()


def test_codesign_method_model(tmp_path, trained):
    task, model, _ = trained
    path = model.save(tmp_path / "net")
    result = ac.codesign(NET, max_macs=256, sram_kb=48, bandwidth=2, method="model", k=3, model=path,
                         task=task)
    inputs, counts = layers(task)
    exact = ac.codesign(NET, max_macs=256, sram_kb=48, bandwidth=2, task=task)
    # candidates whose network bound exceeds the best found are not evaluated
    assert result.simulations == result.extra["evaluated"] * len(inputs) and 1 <= result.extra["evaluated"] <= 3
    assert result.cycles >= exact.cycles
    chosen = task.space()
    label = int(chosen.index[(chosen.rows == result.config["rows"]) & (chosen.cols == result.config["cols"])
                             & (chosen.dataflow == result.config["dataflow"])
                             & (chosen.i * 48 // 16 == result.config["ifmap_kb"])
                             & (chosen.j * 48 // 16 == result.config["filter_kb"])][0])
    assert result.cycles == network_cost(task, inputs, counts, [label], "cycles")["cycles"][0]
    assert result.extra["method"] == "model" and 1 <= result.extra["model_rank"] <= 3
    with pytest.raises(ValueError, match="per-layer"):
        ac.codesign(NET, max_macs=256, sram_kb=48, bandwidth=2, method="model", model=path, task=task,
                    dataflow="per-layer")
    with pytest.raises(ValueError, match="method='model'"):
        ac.codesign(NET, max_macs=256, sram_kb=48, bandwidth=2, model=path, task=task)
    with pytest.raises(TypeError, match="NetworkModel"):
        ac.codesign(NET, max_macs=256, sram_kb=48, bandwidth=2, method="model", model=3, task=task)


def test_save_load_and_tampered_files(tmp_path, trained):
    task, model, _ = trained
    path = model.save(tmp_path / "net")
    loaded = NetworkModel.load(path)
    inputs, counts = layers(task)
    assert np.array_equal(loaded.rank(task, inputs, counts, k=3)["labels"],
                          model.rank(task, inputs, counts, k=3)["labels"])
    other = ac.tasks.get("codesign", rows=[4, 8], cols=[4, 8], max_macs=[64], parts=5)
    with pytest.raises(ValueError, match="another codesign space"):
        search_with_model(loaded, other, *layers(other, max_macs=64, sram_kb=40), objective="cycles")
    with pytest.raises(ValueError, match="split_estimate needs parts = 16, got 5"):
        loaded.rank(other, *layers(other, max_macs=64, sram_kb=40))
    meta = json.loads((path / "model.json").read_text())
    (path / "model.json").write_text(json.dumps({**meta, "version": 1}))  # a model of the old form
    with pytest.raises(ValueError, match="model.json: version"):
        NetworkModel.load(path)
    (path / "model.json").write_text(json.dumps({**meta, "width": "wide"}))
    with pytest.raises(ValueError, match="model.json: width"):
        NetworkModel.load(path)
    (path / "model.json").write_text(json.dumps({**meta, "width": 32}))
    with pytest.raises(ValueError, match="model.safetensors: tensor"):
        NetworkModel.load(path)
    (path / "model.json").write_text(json.dumps(meta))
    (path / "model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ValueError, match="not a safetensors file"):
        NetworkModel.load(path)
    with pytest.raises(FileNotFoundError, match="no model.json"):
        NetworkModel.load(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="no model.json"):  # as ac.predict(model=DIR) does
        ac.codesign("resnet50", method="model", model=tmp_path / "absent", max_macs=4096, sram_kb=512,
                    bandwidth=8)


def test_cli_method_model_with_the_shipped_model(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "net.csv"
    pd.DataFrame(NET).to_csv(path, index=False)
    args = [sys.executable, "-m", "airchitect", "codesign", "--csv", str(path), "--max-macs", "1024",
            "--sram-kb", "256", "--bandwidth", "4"]
    out = subprocess.run([*args, "--method", "model", "--k", "4", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    task = ac.tasks.get("codesign")
    assert record["method"] == "model" and record["simulations"] in [e * len(NET["M"]) for e in (1, 2, 3, 4)]
    c = record["config"]
    space = task.space()
    label = int(space.index[(space.rows == c["rows"]) & (space.cols == c["cols"])
                            & (space.dataflow == c["dataflow"]) & (space.i * 16 == c["ifmap_kb"])
                            & (space.j * 16 == c["filter_kb"])][0])
    inputs, counts = layers(task, max_macs=1024, sram_kb=256, bandwidth=4)
    assert record["cycles"] == network_cost(task, inputs, counts, [label], "cycles")["cycles"][0]
    exact = ac.codesign(NET, max_macs=1024, sram_kb=256, bandwidth=4)
    assert record["cycles"] >= exact.cycles
    bad = subprocess.run([*args, "--method", "model", "--dataflow", "per-layer"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "per-layer" in bad.stderr


def test_network_estimates_walk_past_a_large_layers_first_fill():
    # VGG16's second convolution (50176 x 64 x 576) on a 4 x 32 os array under 4096/512/4,
    # split 2/11/3 sixteenths: the ifmap buffer stalls only after its first 128 folds, so
    # the per-workload estimate (128 folds) is the stall-free figure, half the exact
    # cycles; the network model's walk (ESTIMATE_FOLDS) comes within 0.1% of them, and of
    # the energy
    task = ac.tasks.get("codesign")
    inputs = task.validate({"M": [50176], "N": [64], "K": [576], "max_macs": [4096], "sram_kb": [512],
                            "bandwidth": [4]})
    space = task.space()
    label = int(np.flatnonzero((space.rows == 4) & (space.cols == 32) & (space.dataflow == "os")
                               & (space.i == 2) & (space.j == 11))[0])
    exact = float(task.simulate(inputs, np.array([[label]]))["total_cycles"][0, 0])
    short = task.split_estimate(inputs, [label // 105])[0, 0, label % 105]
    free = task.stall_parts(inputs, np.array([[label]]))["free"][0, 0]
    assert short == free and exact > 1.9 * free
    estimate, energy = (e[0, 0] for e in pair_estimates(task, inputs, np.array([[label]])))
    assert abs(estimate / exact - 1) < 1e-3
    # the energy of the walks' DRAM reads: the ifmap is read from DRAM again as it misses
    sim = task.simulate(inputs, np.array([[label]]))
    assert abs(energy / sim["energy_pj"][0, 0] - 1) < 1e-3
    assert energy > 1.2 * task.bounds(inputs, np.array([[label]]))["energy"][0, 0]


@pytest.mark.parametrize("network, budget", [("dlrm", (4096, 512, 4)), ("mobilenetv2", (16384, 1024, 16))])
def test_shipped_model_predicts_the_exact_optimum_of_held_out_networks(network, budget):
    # real networks the shipped model never saw in training; its first choice alone
    # costs the branch-and-bound optimum here (benchmarks/results/codesign_network_model.md);
    # on dlrm it is a split of the optimum's array that ties on cycles, PEs and DRAM words,
    # with a larger ifmap share than the exact search's tie-break takes, so only the
    # array is compared
    macs, sram, bw = budget
    exact = ac.codesign(network, max_macs=macs, sram_kb=sram, bandwidth=bw)
    found = ac.codesign(network, max_macs=macs, sram_kb=sram, bandwidth=bw, method="model", k=1)
    assert found.extra["evaluated"] == 1
    assert found.cycles == exact.cycles
    array = ("rows", "cols", "dataflow")
    assert [found.config[a] for a in array] == [exact.config[a] for a in array]

"""Optuna baselines drive the same exact network cost as ac.codesign."""

import numpy as np
import pandas as pd
import pytest

from airchitect.network_design import codesign
from airchitect.network_design.baselines import network_cost, optuna_search
from airchitect.tasks.codesign import CodesignTask

TASK = CodesignTask(rows=[2, 4, 8], cols=[2, 4, 8], max_macs=[64], parts=4)
NET = {"M": [64, 32, 20], "N": [32, 64, 30], "K": [16, 80, 33], "count": [1, 2, 3]}


@pytest.mark.parametrize("sampler", ["random", "tpe", "nsga2"])
def test_never_beats_the_exact_optimum_and_scores_its_trials_exactly(sampler):
    exact = codesign(NET, max_macs=64, sram_kb=16, bandwidth=2, objective="energy", task=TASK)
    out = optuna_search(NET, max_macs=64, sram_kb=16, bandwidth=2, objective="energy",
                        sampler=sampler, n_trials=24, seed=1, task=TASK)
    assert out["evaluations"] == 24 and len(out["trace"]) == 24
    assert (np.diff(out["trace"]) <= 0).all()
    assert out["cost"] >= exact.energy_pj
    inputs = TASK.validate(pd.DataFrame({"M": NET["M"], "N": NET["N"], "K": NET["K"], "max_macs": 64,
                                         "sram_kb": 16, "bandwidth": 2}))
    again = network_cost(TASK, inputs, np.array(NET["count"]), [out["label"]], "energy")
    assert again["cost"][0] == out["cost"]


def test_configurations_past_the_user_mode_limit_score_inf(monkeypatch):
    # USER_ROWS_LIMIT lowered to the most demand rows any configuration of 16 PEs or more
    # needs on a layer: the 2 x 2, 2 x 4 and 4 x 2 arrays that need more cannot be
    # simulated; their trials score inf instead of stopping the search
    import importlib

    simulate = importlib.import_module("airchitect.targets.systolic.simulate")
    inputs = TASK.validate(pd.DataFrame({"M": NET["M"], "N": NET["N"], "K": NET["K"], "max_macs": 64,
                                         "sram_kb": 16, "bandwidth": 2}))
    s = TASK._space_arrays()
    labels = np.flatnonzero(s["pes"] <= 64)
    M, N, K = (inputs[c].to_numpy()[:, None] for c in "MNK")
    code, rows, cols = s["code"][labels], s["rows"][labels], s["cols"][labels]
    demand = (np.ceil(np.where(code == 0, M, K) / rows) * np.ceil(np.where(code == 2, M, N) / cols)
              * (np.choose(code, [K, M, N]) + 2 * rows + cols)).max(axis=0)
    limit = demand[s["pes"][labels] >= 16].max()
    monkeypatch.setattr(simulate, "USER_ROWS_LIMIT", limit)
    blocked = ~TASK.simulable(inputs, np.broadcast_to(labels, (3, labels.size))).all(axis=0)
    assert blocked.tolist() == (demand > limit).tolist() and blocked.any()
    assert (s["pes"][labels[blocked]] < 16).all()
    out = optuna_search(NET, max_macs=64, sram_kb=16, bandwidth=2, sampler="random", n_trials=40, seed=0,
                        task=TASK)
    # 40 random trials over 9 shapes draw one of the 3 blocked ones all but surely
    # (simulating it would raise); the best is one that can simulate
    assert np.isfinite(out["cost"]) and out["label"] in labels[~blocked].tolist()


def test_a_space_of_one_configuration_is_found():
    task = CodesignTask(rows=[4], cols=[4], max_macs=[16], dataflows=["ws"], parts=3)
    assert task.n_labels == 1
    exact = codesign(NET, max_macs=16, sram_kb=48, bandwidth=1, task=task)
    out = optuna_search(NET, max_macs=16, sram_kb=48, bandwidth=1, sampler="tpe", n_trials=3, task=task)
    assert out["cost"] == exact.cycles


@pytest.mark.parametrize("kwargs, message", [
    ({"sampler": "cmaes"}, "sampler"), ({"n_trials": 0}, "n_trials"), ({"objective": "area"}, "objective"),
    ({"max_macs": 100}, "max_macs"),
])
def test_bad_input(kwargs, message):
    args = dict(max_macs=64, sram_kb=16, bandwidth=2, task=TASK)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        optuna_search(NET, **args)


def test_estimate_choice_is_the_least_network_estimate():
    from airchitect.network_design.baselines import estimate_choice

    task = CodesignTask(rows=[4, 8, 16], cols=[4, 8, 16], max_macs=[64, 256])
    table = pd.DataFrame({"M": [96, 1], "N": [24, 512], "K": [50, 300]})
    inputs = task.validate(table.assign(max_macs=64, sram_kb=32, bandwidth=2))
    counts = np.array([3, 2])
    labels = estimate_choice(task, inputs, counts, k=4)
    allowed = np.flatnonzero(task.allowed(inputs.iloc[:1], validated=True)[0])
    grid = np.broadcast_to(allowed, (2, allowed.size))
    every = counts @ np.concatenate([task.split_estimate(inputs, [a])[:, 0] for a in allowed[::105] // 105], axis=1)
    assert task.space_columns()["pes"][labels].max() <= 64 and grid.shape[1] == 105 * 18  # 6 shapes x 3 dataflows
    assert labels.tolist() == allowed[np.lexsort((allowed, every))[:4]].tolist()

"""The codesign reranker: stall parts, features, training pairs, files and recommend."""

import json

import numpy as np
import pytest
import torch

import airchitect as ac
from airchitect import api
from airchitect.network_design.model import NetworkScorer
from airchitect.network_design.rerank import (
    N_RERANK_FEATURES, POOL, Reranker, new_reranker, rerank_features, rerank_pairs, shipped_reranker,
)

TASK = ac.tasks.get("codesign")


def queries(n, seed):
    return TASK.validate(TASK.sample(n, seed=seed))


def random_labels(n, k, seed):
    return np.random.default_rng(seed).integers(0, TASK.n_labels, (n, k))


def estimate_of(inputs, labels):
    """The split-stall estimate of each pair at the task's default 128 folds (the
    reranker's; the network model walks further, ESTIMATE_FOLDS)."""
    arrays, where = np.unique(labels // 105, return_inverse=True)
    table = TASK.split_estimate(inputs, arrays)
    return table[np.arange(len(inputs))[:, None], where.reshape(labels.shape), labels % 105]


def test_stall_parts_make_up_the_split_stall_estimate():
    inputs, labels = queries(12, 3), random_labels(12, 40, 0)
    parts = TASK.stall_parts(inputs, labels)
    stalls = np.stack([parts[b] for b in ("ifmap", "filter", "ofmap")])
    assert all(parts[key].shape == labels.shape for key in parts) and (stalls >= 0).all()
    # split_estimate walks by (row, array) for all 105 splits at once; the parts gather per pair
    assert np.array_equal(parts["free"] + stalls.max(axis=0), estimate_of(inputs, labels))


def test_stall_parts_of_a_gemm_that_fits_are_its_exact_cycles():
    # 32 x 32 x 32 on 8 x 8 arrays, 1024 kB: every split holds every operand whole
    inputs = TASK.validate({"M": [32], "N": [32], "K": [32], "max_macs": [256], "sram_kb": [1024],
                            "bandwidth": [4]})
    space = TASK.space()
    labels = np.flatnonzero((space.rows == 8) & (space.cols == 8)).reshape(1, -1)
    parts = TASK.stall_parts(inputs, labels)
    assert (parts["ifmap"] == 0).all() and (parts["filter"] == 0).all() and (parts["ofmap"] == 0).all()
    assert np.array_equal(parts["free"], TASK.simulate(inputs, labels)["total_cycles"].astype(float))


def test_stall_parts_need_sixteenths():
    small = ac.tasks.get("codesign", rows=[4, 8], cols=[4, 8], max_macs=[64], parts=4)
    rows = small.validate({"M": [8], "N": [8], "K": [8], "max_macs": [64], "sram_kb": [16], "bandwidth": [1]})
    with pytest.raises(ValueError, match="parts = 16"):
        small.stall_parts(rows, np.array([[0]]))


def test_rerank_features_add_the_stall_shares():
    inputs, labels = queries(5, 4), random_labels(5, 7, 1)
    features, bounds, estimate = rerank_features(TASK, inputs, labels)
    assert features.shape == (35, N_RERANK_FEATURES) and features.dtype == np.float32
    parts = TASK.stall_parts(inputs, labels)
    free = np.maximum(parts["free"], 1).ravel()
    stalls = np.stack([parts[b].ravel() for b in ("ifmap", "filter", "ofmap")], axis=1)
    expected = np.log2(1 + np.column_stack([stalls, np.sort(stalls, 1)[:, 1], stalls.sum(1)]) / free[:, None])
    assert np.allclose(features[:, -5:], expected, rtol=1e-6)
    assert np.array_equal(estimate, estimate_of(inputs, labels))
    assert np.array_equal(bounds["cycles"], TASK.bounds(inputs, labels)["cycles"])


def test_rerank_pairs_keep_one_of_each_and_target_the_exact_figures():
    inputs = queries(3, 5)
    labels = np.array([[5, 5, 9000, 17], [1, 2, 3, 3], [100, 100, 100, 100]])
    features, targets = rerank_pairs(TASK, inputs, labels)
    # the first of each label in each row, in row-major order
    row, kept = np.array([0, 0, 0, 1, 1, 1, 2]), np.array([5, 9000, 17, 1, 2, 3, 100])
    assert len(features) == len(targets) == kept.size
    pairs = inputs.take(row).reset_index(drop=True)
    sim = TASK.simulate(pairs, kept)
    bound = TASK.bounds(pairs, kept[:, None])
    estimate = estimate_of(pairs, kept[:, None])[:, 0]
    cycles = sim["total_cycles"].astype(float)
    assert np.allclose(targets[:, 0], np.log2(cycles / np.maximum(bound["cycles"][:, 0], estimate)), atol=1e-5)
    assert np.allclose(targets[:, 1], np.maximum(np.log2(sim["energy_pj"] / bound["energy"][:, 0]), 0),
                       atol=1e-5)
    assert np.allclose(features, rerank_features(TASK, pairs, kept[:, None])[0])


@pytest.fixture(scope="module")
def small_reranker():
    inputs = queries(40, 6)
    features, targets = rerank_pairs(TASK, inputs, random_labels(40, 30, 2))
    torch.manual_seed(0)
    return new_reranker(TASK, features, targets, width=16, epochs=3, training={"pairs": len(targets)})


def test_order_sorts_by_the_predicted_objective(small_reranker):
    inputs, labels = queries(4, 7), random_labels(4, 20, 3)
    cycles, energy = small_reranker.figures(TASK, inputs, labels)
    bounds = TASK.bounds(inputs, labels)
    assert (cycles >= bounds["cycles"]).all() and (energy >= bounds["energy"] * (1 - 1e-12)).all()
    for objective, value in (("cycles", cycles), ("energy", energy), ("edp", cycles * energy)):
        ordered = small_reranker.order(TASK, inputs, labels, objective)
        expected = np.take_along_axis(labels, np.lexsort((labels, value), axis=1), axis=1)
        assert np.array_equal(ordered, expected)


def test_save_load_and_refusals(tmp_path, small_reranker):
    path = small_reranker.save(tmp_path / "rr")
    again = Reranker.load(path)
    inputs, labels = queries(3, 8), random_labels(3, 9, 4)
    assert np.array_equal(again.order(TASK, inputs, labels), small_reranker.order(TASK, inputs, labels))
    assert again.training == {"pairs": small_reranker.training["pairs"]}
    meta = json.loads((path / "model.json").read_text())
    meta["n_features"] = 31
    (path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"model\.json: n_features"):
        Reranker.load(path)
    small_reranker.save(path)
    (path / "model.safetensors").write_bytes(b"not tensors")
    with pytest.raises(ValueError, match=r"model\.safetensors: not a safetensors file"):
        Reranker.load(path)
    with pytest.raises(FileNotFoundError, match="no model.json"):
        Reranker.load(tmp_path / "missing")


def test_applies_only_to_its_own_space(small_reranker):
    assert small_reranker.applies_to(TASK)
    assert not small_reranker.applies_to(ac.tasks.get("codesign", rows=[4, 8], cols=[4, 8], max_macs=[64]))
    assert not small_reranker.applies_to(ac.tasks.get("array"))
    assert isinstance(shipped_reranker().scorer, NetworkScorer) and shipped_reranker().applies_to(TASK)


@pytest.mark.parametrize("objective", [None, "edp"])
def test_recommend_simulates_the_reranked_candidates(objective):
    query = {"M": 325, "N": 178, "K": 150, "max_macs": 65536, "sram_kb": 48, "bandwidth": 8}
    rows = TASK.validate({k: [v] for k, v in query.items()})
    pool = api.shipped("codesign", "recommend", objective).top_k(rows, POOL)[0]
    if objective == "edp":  # with the cycles model's 128 best, each label once
        extra = api.shipped("codesign", "recommend").top_k(rows, POOL)[0]
        pool = np.concatenate([pool, [x for x in extra if x not in set(pool.tolist())]])
    assert np.unique(pool).size == pool.size >= POOL
    reranked = shipped_reranker().order(TASK, rows, pool[None, :], objective or "cycles")[0]
    found = ac.recommend("codesign", k=8, objective=objective, **query)
    costs = TASK.cost_of(rows, reranked[None, :8], objective)[0]
    best = int(np.argmin(costs))
    assert found["rank"] == best + 1 and found["cost"] == costs[best] and 1 <= found["simulations"] <= 8
    assert found["rows"] == TASK.space_columns()["rows"][reranked[best]]


def test_training_script_writes_a_reranker(tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "models" / "train_rerank.py"
    spec = importlib.util.spec_from_file_location("train_rerank", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--queries", "6", "--chunk", "3", "--jobs", "1", "--epochs", "1", "--width", "8",
                 "--out", str(tmp_path / "rr")])
    model = Reranker.load(tmp_path / "rr")
    assert model.applies_to(TASK) and model.scorer.width == 8
    # each query: two models' 128 best, 64 of their next 128, 8 random; repeats dropped
    assert model.training["queries"] == 6 and 6 * 128 <= model.training["pairs"] <= 6 * (2 * 192 + 8)
    with pytest.raises(SystemExit):
        module.main(["--deep", "500", "--out", str(tmp_path / "bad")])
    assert not (tmp_path / "bad").exists()

"""The shipped models: every task's loads, predicts allowed configurations and is near-optimal.

Fresh workloads (a seed no dataset used) are labelled with the exact cost model, and the
GeoMean percent of best of the shipped model's choices is checked against a floor a little
below the held-out figure in models/MODELS.md.
"""

import numpy as np
import pytest

import airchitect as ac
from airchitect.learn import metrics
from airchitect.network_design.rerank import POOL, shipped_reranker

# task: (fresh rows, GeoMean floor in percent of best)
FLOORS = {
    "array": (400, 99.9),
    "multiarray": (400, 99.5),
    "cim": (400, 99.5),
    "cim-schedule": (400, 99.5),
    "sve": (200, 99.0),
    "buffer": (200, 99.5),
    "codesign": (200, 99.3),
}
# tasks whose ac.recommend ranks with a model of its own (airchitect/models/<task>/recommend)
RANKER_FLOORS = {
    "buffer": (200, 99.9),
}


def candidates(name, predictor, query, k, objective=None):
    """What ac.recommend simulates, best first: the model's top k; on codesign, the first
    k of its proposal's 128 most probable (with the cycles model's 128 for EDP) reordered
    by the reranker."""
    if name != "codesign":
        return predictor.top_k(query, k)[0]
    pool = predictor.estimator.proposed(query, max(k, POOL))[0]
    if objective == "edp":
        extra = ac.api.shipped("codesign", "recommend").estimator.proposed(query, POOL)[0]
        pool = np.concatenate([pool, [x for x in extra if x not in set(pool.tolist())]])
    return shipped_reranker().order(predictor.task, query, pool[None, :], objective or "cycles")[0, :k]


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_shipped_model_is_near_optimal_on_fresh_workloads(name):
    predictor = ac.api.shipped(name)
    task = predictor.task
    rows, floor = FLOORS[name]
    inputs = task.validate(task.sample(rows, seed=987))
    truth = task.label(inputs)
    pred = predictor.estimator.predict(inputs)
    assert task.allowed(inputs)[np.arange(rows), pred].all()
    chosen = task.cost_of(inputs, pred)
    assert (chosen >= truth.best_cost.to_numpy()).all()
    assert metrics.geomean_percent(truth.best_cost, chosen) >= floor
    query = inputs.iloc[0].to_dict()
    best = ac.recommend(name, k=5, **query)
    assert best["cost"] >= truth.best_cost.iloc[0] and 1 <= best["rank"] <= 5
    assert ac.predict(name, **query)["label"] == pred[0]


@pytest.mark.parametrize("name", sorted(RANKER_FLOORS))
def test_shipped_ranking_model_is_near_optimal_and_ranks_recommend(name):
    predictor = ac.api.shipped(name, "recommend")
    assert predictor is not ac.api.shipped(name)
    task = predictor.task
    rows, floor = RANKER_FLOORS[name]
    inputs = task.validate(task.sample(rows, seed=988))
    truth = task.label(inputs)
    pred = predictor.estimator.predict(inputs)
    assert metrics.geomean_percent(truth.best_cost, task.cost_of(inputs, pred)) >= floor
    # recommend re-ranks this model's top five exactly, not the predict model's
    query = inputs.iloc[:1].reset_index(drop=True)
    top = candidates(name, predictor, query, 5)
    costs = task.cost_of(query.loc[np.zeros(5, dtype=int)].reset_index(drop=True), top)
    best = ac.recommend(name, k=5, **query.iloc[0].to_dict())
    assert best["label"] == top[np.argmin(costs)] and best["cost"] == costs.min()
    with pytest.raises(ValueError, match="purpose"):
        ac.api.shipped(name, "train")


def test_codesign_edp_model_is_used_for_edp_and_near_optimal():
    predictor = ac.api.shipped("codesign", objective="edp")
    assert predictor is not ac.api.shipped("codesign")
    assert predictor.estimator.objective == "edp"
    # its scorer ranks its own proposal's most probable labels (no companion's)
    assert getattr(predictor.estimator, "companion_", None) is None
    one = predictor.task.validate(predictor.task.sample(3, seed=990))
    assert np.array_equal(predictor.estimator.candidate_labels(one),
                          predictor.estimator.proposed(one, predictor.estimator.candidates))
    task = predictor.task
    inputs = task.validate(task.sample(100, seed=988))
    truth = task.label(inputs, objective="edp")
    pred = predictor.estimator.predict(inputs)
    chosen = task.cost_of(inputs, pred, "edp")
    assert (chosen >= truth.best_cost.to_numpy() * (1 - 1e-12)).all()
    assert metrics.geomean_percent(truth.best_cost, chosen) >= 99.3
    query = {k: int(v) for k, v in inputs.iloc[0].items()}
    assert ac.predict("codesign", objective="edp", **query)["label"] == pred[0]
    best = ac.recommend("codesign", k=8, objective="edp", **query)
    assert best["cost"] == min(task.cost_of(inputs.iloc[[0] * 8].reset_index(drop=True),
                                            candidates("codesign", predictor, inputs.iloc[[0]], 8, "edp"), "edp"))
    with pytest.raises(ValueError, match=r"objective: no shipped model of task 'array' for 'edp' "
                                         r"\(shipped: 'cycles'\)"):
        ac.predict("array", objective="edp", M=8, N=8, K=8, max_macs=256)
    with pytest.raises(ValueError, match=r"task 'codesign' for 'energy' \(shipped: 'cycles', 'edp'\)"):
        ac.predict("codesign", objective="energy", **query)


@pytest.mark.parametrize("objective", ["cycles", "edp"])
def test_codesign_recommend_skips_by_bounds_and_equals_the_full_rerank(objective):
    # every one of the 128 candidates simulated, against recommend's bound-pruned pass
    predictor = ac.api.shipped("codesign", objective=None if objective == "cycles" else objective)
    task = predictor.task
    inputs = task.validate(task.sample(12, seed=989))
    truth = task.label(inputs, objective=objective)
    sims = []
    for r in range(len(inputs)):
        row = inputs.iloc[[r]].reset_index(drop=True)
        top = candidates("codesign", predictor, row, 128, objective)
        costs = task.cost_of(row.loc[np.zeros(128, dtype=int)].reset_index(drop=True), top, objective)
        best = ac.recommend("codesign", k=128, objective=objective, **{k: int(v) for k, v in row.iloc[0].items()})
        assert best["label"] == top[np.argmin(costs)] and best["cost"] == costs.min()
        assert best["rank"] == np.argmin(costs) + 1 and 1 <= best["simulations"] <= 128
        assert best["cost"] >= truth.best_cost.iloc[r] * (1 - 1e-12)
        sims.append(best["simulations"])
    assert np.median(sims) < 128  # the bounds spare simulations
    assert ac.recommend("array", k=3, M=64, N=64, K=64, max_macs=256)["simulations"] == 3

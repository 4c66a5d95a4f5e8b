"""The factorised two-stage model on small codesign spaces, checked by hand."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch

import airchitect as ac
from airchitect.learn import Predictor, few_rows
from airchitect.learn.factorised import (
    N_PAIR_FEATURES, N_STALL_FEATURES, SERIAL_ROWS, FactorisedClassifier, FactorisedNet, pair_features,
    proposal_dtype, stall_features,
)


def small_task():
    return ac.tasks.get("codesign", rows=[4, 8], cols=[4, 8], max_macs=[16, 64], parts=4)


@pytest.fixture(scope="module")
def data():
    task = small_task()
    inputs = task.sample(400, seed=1)
    labels = task.label(inputs)["label"].to_numpy()
    return task, task.validate(inputs), labels


@pytest.fixture(scope="module")
def fitted(data):
    task, inputs, labels = data
    est = FactorisedClassifier(task=task, width=32, depth=1, embedding=8, scorer_width=16, beam=12,
                               candidates=6, epochs=40, batch_size=64, scorer_rows=100,
                               scorer_epochs=5, seed=0)
    return est.fit(inputs.iloc[:300], labels[:300])


def test_factors_are_array_label_times_split():
    task = ac.tasks.get("codesign")
    assert task.factors == (273, 105)
    space, arrays = task.space(), ac.tasks.get("array").space()
    for label in (0, 104, 105, 12345, 28664):
        a, s = divmod(label, 105)
        assert space.iloc[label][["rows", "cols", "dataflow"]].tolist() == \
            arrays.iloc[a][["rows", "cols", "dataflow"]].tolist()
        assert space.iloc[label][["i", "j"]].tolist() == space.iloc[s][["i", "j"]].tolist()


def test_joint_is_sum_of_head_log_probabilities(fitted, data):
    task, inputs, _ = data
    net = fitted.module_
    x = torch.as_tensor(fitted.encoder_.transform(inputs.iloc[:5]))
    with torch.no_grad():
        joint = net(x).numpy()
        h = net.trunk(x)
        arrays = torch.log_softmax(net.array(h), 1).numpy()
        a, s = 7, 2
        split = torch.log_softmax(net.split_logits(h, torch.full((5, 1), a)), 2)[:, 0].numpy()
    assert np.allclose(joint[:, a * net.n_splits + s], arrays[:, a] + split[:, s], atol=1e-5)
    assert np.allclose(np.log(np.exp(joint).sum(1)), 0, atol=1e-5)


def test_top_k_without_scorer_is_the_joint_order(data, fitted):
    task, inputs, _ = data
    est = FactorisedClassifier(**{**fitted.get_params(), "scorer_rows": 0})
    est.encoder_, est.module_, est.n_labels_ = fitted.encoder_, fitted.module_, fitted.n_labels_
    trained = est.module_.scorer_trained.clone()
    est.module_.scorer_trained.zero_()
    try:
        top = est.top_k(inputs.iloc[:20], 5)  # beam 12 = every array: exact
        scores = est.decision_function(inputs.iloc[:20])
    finally:
        est.module_.scorer_trained.copy_(trained)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    assert np.array_equal(np.take_along_axis(scores, top, 1), np.take_along_axis(scores, expected, 1))


def test_predictions_are_allowed_and_beat_majority(data, fitted):
    task, inputs, labels = data
    test = inputs.iloc[300:].reset_index(drop=True)
    pred = fitted.predict(test)
    assert task.allowed(test, validated=True)[np.arange(len(test)), pred].all()
    majority = np.bincount(labels[:300]).argmax()
    assert np.mean(pred == labels[300:]) > np.mean(labels[300:] == majority)


def test_scored_cost_is_at_least_the_bound(data, fitted):
    task, inputs, _ = data
    part = inputs.iloc[:10].reset_index(drop=True)
    labels = fitted.candidate_labels(part)
    bound = task.bounds(part, labels)["cycles"]
    assert (fitted.predicted_log_costs(part, labels) >= np.log2(np.maximum(bound, 1)) - 1e-9).all()


def test_pair_features_by_hand():
    task = small_task()
    row = task.validate(pd.DataFrame({"M": [40], "N": [12], "K": [9], "max_macs": [64],
                                      "sram_kb": [16], "bandwidth": [2]}))
    space = task.space()
    label = int(space.index[(space.rows == 8) & (space.cols == 4) & (space.dataflow == "ws")
                            & (space.i == 1)][0])
    labels = np.array([[label]])
    f = pair_features(task, row, labels, task.bounds(row, labels))
    assert f.shape == (1, N_PAIR_FEATURES)
    # ws: spatial rows K = 9, spatial cols N = 12, temporal M = 40
    assert f[0, 6:8].tolist() == [3.0, 2.0]
    assert f[0, 9] == 1.0
    assert np.allclose(f[0, 11:14], np.log2([2, 3, 40]))
    assert np.isclose(f[0, 14], np.log2(2 * 3 * (2 * 8 + 4 + 40 - 2)))
    assert np.isclose(f[0, 15], np.log2(16 * 1 // 4 * 1024))


def test_round_trip_and_tampered_file(tmp_path, data, fitted):
    task, inputs, _ = data
    path = Predictor(task, fitted).save(tmp_path / "m")
    loaded = Predictor.load(path)
    assert np.array_equal(loaded.predict(inputs.iloc[:30]).label, Predictor(task, fitted).predict(
        inputs.iloc[:30]).label)
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path / "model.safetensors"))
    tensors["array.bias"] = torch.zeros(3)
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(ValueError, match="array.bias"):
        Predictor.load(path)


def test_needs_a_task_with_factors():
    task = ac.tasks.get("array")
    x = task.validate(task.sample(8, seed=0))
    with pytest.raises(ValueError, match="no factors"):
        FactorisedClassifier(task=task, epochs=1).fit(x, np.zeros(8, dtype=int))


def scored_top_k(est, X, k):
    """``(labels, costs, top k)``: the candidates of every row of ``X`` (a companion's
    too), the scorer's cost of each (``inf`` for a companion's repeat of a label), and
    the ``k`` best by scoring every one (ties by probability), what the pruned ranking
    must equal."""
    labels, logp, repeated = est._pool(X, est.candidates)
    cost = np.where(repeated, np.inf, est.predicted_log_costs(X, labels))
    return labels, cost, np.take_along_axis(labels, np.lexsort((-logp, cost), axis=1)[:, :k], axis=1)


@pytest.mark.parametrize("k", [1, 2, 6])
def test_pruned_ranking_equals_scoring_every_candidate(data, fitted, k):
    """top_k scores only candidates whose bound can still rank in the k best; the k
    best and their order are those of scoring all candidates."""
    task, inputs, _ = data
    part = inputs  # 400 rows: at least SERIAL_ROWS, so the ranking prunes
    labels, cost, expected = scored_top_k(fitted, part, k)
    assert np.array_equal(fitted.top_k(part, k), expected)
    pruned = fitted._ranking_log_costs(part, labels, k)
    finite = np.isfinite(pruned)
    assert np.allclose(pruned[finite], cost[finite], rtol=0, atol=1e-5)  # float32 scorer, other batch
    assert finite.sum(axis=1).min() >= k
    if k + 3 < labels.shape[1]:  # the k + 3 least bounds are scored first: some left out
        assert not finite.all()


def test_split_logits_in_inference_equal_the_training_form(data, fitted):
    task, inputs, _ = data
    net = fitted.module_
    x = torch.as_tensor(fitted.encoder_.transform(inputs.iloc[:30]))
    arrays = torch.randint(0, net.n_arrays, (30, 5), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        h = net.trunk(x)
        with torch.enable_grad():
            training = net.split_logits(h, arrays).detach()
        inference = net.split_logits(h, arrays)
    assert torch.allclose(training, inference, rtol=0, atol=1e-5)


def test_chunks_run_two_at_a_time_give_the_serial_result(data, fitted):
    task, inputs, _ = data
    part = inputs.iloc[300:].reset_index(drop=True)
    est = FactorisedClassifier(**fitted.get_params())
    est.encoder_, est.module_, est.n_labels_ = fitted.encoder_, fitted.module_, fitted.n_labels_
    est.chunk = 7  # 100 rows: 15 chunks
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        together = est.top_k(part, 3)
        torch.set_num_threads(1)
        serial = est.top_k(part, 3)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(together, serial)
    assert np.array_equal(serial, fitted.top_k(part, 3))


def stall_task():
    """A small codesign space in the buffer task's sixteenths (what stall_parts needs)."""
    return ac.tasks.get("codesign", rows=[4, 8], cols=[4, 8], max_macs=[16, 64], parts=16)


def test_stall_features_by_hand():
    task = stall_task()
    rows = task.validate(pd.DataFrame({"M": [300, 40], "N": [200, 12], "K": [500, 9], "max_macs": [64, 64],
                                       "sram_kb": [16, 16], "bandwidth": [1, 2]}))
    labels = np.array([[0, 50], [7, 104]])
    bound = task.bounds(rows, labels)["cycles"]
    f, estimate = stall_features(task, rows, labels, bound)
    parts = task.stall_parts(rows, labels)
    assert f.shape == (4, N_STALL_FEATURES) and f.dtype == np.float32
    stalls = [parts[b][0, 1] for b in ("ifmap", "filter", "ofmap")]
    free = parts["free"][0, 1]
    assert max(stalls) > 0  # 16 kB cannot hold this GEMM's operands: the features say something
    assert estimate[0, 1] == free + max(stalls)
    expected = [np.log2(estimate[0, 1] / bound[0, 1]), *np.log2(1 + np.array(stalls) / free),
                np.log2(1 + sorted(stalls)[1] / free), np.log2(1 + sum(stalls) / free)]
    assert np.allclose(f[1], expected, rtol=1e-6)
    # the same pairs as a flat list (row of each) give the same features, bit for bit
    pick = [2, 1, 3]  # (row 1, 7), (row 0, 50), (row 1, 104)
    flat, flat_estimate = stall_features(task, rows, labels.ravel()[pick], bound.ravel()[pick],
                                         rows=np.array([1, 0, 1]))
    assert np.array_equal(flat, f[pick]) and np.array_equal(flat_estimate, estimate.ravel()[pick])


@pytest.fixture(scope="module")
def stall_data():
    task = stall_task()
    inputs = task.validate(task.sample(300, seed=1))
    return task, inputs, task.label(inputs)["label"].to_numpy()


@pytest.fixture(scope="module")
def stall_fitted(stall_data):
    task, inputs, labels = stall_data
    est = FactorisedClassifier(task=task, width=32, depth=1, embedding=8, scorer_width=16, beam=12,
                               candidates=6, epochs=20, batch_size=64, scorer_rows=100, scorer_epochs=5,
                               seed=0).fit(inputs.iloc[:200], labels[:200])
    before = est.candidate_labels(inputs)
    est.refit_scorer(inputs.iloc[:200], labels[:200], stall_features=True, scorer_epochs=10)
    return est, before


def test_refit_scorer_with_stalls_keeps_the_proposal(tmp_path, stall_data, stall_fitted):
    task, inputs, _ = stall_data
    est, before = stall_fitted
    test = inputs.iloc[200:].reset_index(drop=True)
    assert np.array_equal(est.candidate_labels(inputs), before)
    assert tuple(est.module_.pair_mean.shape) == (N_PAIR_FEATURES + N_STALL_FEATURES,)
    pred = est.predict(test)
    assert task.allowed(test, validated=True)[np.arange(len(test)), pred].all()
    loaded = Predictor.load(Predictor(task, est).save(tmp_path / "m"))
    assert loaded.estimator.stall_features is True
    assert np.array_equal(loaded.predict(test).label, pred)


def test_stall_features_need_the_sixteenths():
    task = small_task()  # parts = 4
    x = task.validate(task.sample(40, seed=0))
    est = FactorisedClassifier(task=task, width=8, depth=1, embedding=4, scorer_width=8, candidates=4,
                               epochs=1, scorer_rows=10, scorer_epochs=1, stall_features=True)
    with pytest.raises(ValueError, match="stall_parts needs parts = 16, got 4"):
        est.fit(x, task.label(x)["label"].to_numpy())


def test_stall_scorer_is_the_estimate_plus_a_correction_and_at_least_the_bound(stall_data, stall_fitted):
    task, inputs, _ = stall_data
    est, _ = stall_fitted
    part = inputs.iloc[:40].reset_index(drop=True)
    labels = est.candidate_labels(part)
    bounds = task.bounds(part, labels)
    pairs = torch.as_tensor(est._pair_features(task, part, labels, bounds))
    net = est.module_
    with torch.no_grad():
        raw = net.scorer((pairs - net.pair_mean) / net.pair_std)[:, 0].numpy()
        free = net.score(pairs, clamp=False).numpy()
        over = net.score(pairs).numpy()
    ratio = pairs[:, N_PAIR_FEATURES].numpy()  # log2(estimate / cycle bound)
    assert np.allclose(free, raw + np.maximum(ratio, 0), atol=1e-6)
    assert np.array_equal(over, np.maximum(free, 0)) and (over >= 0).all()
    assert (ratio > 0.5).any()  # some candidates stall well beyond the bound


def test_pruned_ranking_with_stalls_equals_scoring_every_candidate(stall_data, stall_fitted):
    task, inputs, _ = stall_data  # 300 rows: at least SERIAL_ROWS, so the ranking prunes
    est, _ = stall_fitted
    labels, cost, expected = scored_top_k(est, inputs, 1)
    assert np.allclose(est._ranking_log_costs(inputs, labels, 1).min(axis=1), cost.min(axis=1), atol=1e-5)
    assert np.array_equal(est.top_k(inputs, 1), expected)


def test_a_scorer_ranks_more_candidates_than_it_was_trained_on(stall_data, stall_fitted):
    # the shipped codesign scorer learns from 32 candidates a query and ranks 48
    task, inputs, _ = stall_data  # 300 rows: the pruned ranking
    trained = stall_fitted[0]
    est = copy.deepcopy(trained).set_params(candidates=10)
    labels, _, expected = scored_top_k(est, inputs, 1)
    assert labels.shape[1] == 10
    assert np.array_equal(labels[:, :trained.candidates], trained.candidate_labels(inputs))
    assert np.array_equal(est.predict(inputs), expected[:, 0])
    assert task.allowed(inputs, validated=True)[np.arange(len(inputs)), expected[:, 0]].all()


def test_a_model_saved_before_stall_features_loads_without_them(tmp_path, data, fitted):
    import json

    task, inputs, _ = data
    path = Predictor(task, fitted).save(tmp_path / "m")
    meta = json.loads((path / "predictor.json").read_text())
    del meta["params"]["stall_features"]
    (path / "predictor.json").write_text(json.dumps(meta))
    loaded = Predictor.load(path)
    assert loaded.estimator.stall_features is False
    assert np.array_equal(loaded.predict(inputs.iloc[:20]).label, Predictor(task, fitted).predict(
        inputs.iloc[:20]).label)
    meta["params"]["stall_features"] = "yes"
    (path / "predictor.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="stall_features"):
        Predictor.load(path)


@pytest.fixture(scope="module")
def with_companion(data, fitted):
    """``fitted`` carrying the proposal of a second model (another seed) as a companion."""
    task, inputs, labels = data
    other = FactorisedClassifier(**{**fitted.get_params(), "seed": 1, "epochs": 10, "scorer_rows": 0})
    other.fit(inputs.iloc[:300], labels[:300])
    return copy.deepcopy(fitted).attach_companion(other, 5), other


def test_a_companion_proposal_joins_the_candidates(data, fitted, with_companion):
    task, inputs, _ = data  # 400 rows: the pruned ranking
    est, other = with_companion
    labels, logp, repeated = est._pool(inputs, est.candidates)
    assert labels.shape[1] == 6 + 5
    assert np.array_equal(labels[:, :6], fitted.candidate_labels(inputs))
    assert np.array_equal(labels[:, 6:], other.proposed(inputs, 5))
    assert np.isneginf(logp[:, 6:]).all()
    for row, rep in zip(labels, repeated):  # a companion's label already proposed is marked
        assert [label in row[:6] for label in row[6:]] == rep[6:].tolist() and not rep[:6].any()
    assert repeated.any() and not repeated.all()
    for k in (1, 6):
        expected = scored_top_k(est, inputs, k)[2]
        top = est.top_k(inputs, k)
        assert np.array_equal(top, expected)
        assert all(len(set(row)) == k for row in top)  # a label ranks once
    assert np.array_equal(est.top_k(inputs.iloc[:20], 3), expected[:20, :3])  # few rows: no pruning
    # where the companion changes a prediction, the new one is a companion's label
    pick = est.predict(inputs)
    changed = np.nonzero(pick != fitted.predict(inputs))[0]
    assert changed.size
    assert all(pick[r] in labels[r, 6:] and pick[r] not in labels[r, :6] for r in changed)


def test_a_companion_is_saved_with_the_model_and_checked(tmp_path, data, with_companion):
    import json

    from safetensors.torch import load_file, save_file

    task, inputs, _ = data
    est, other = with_companion
    path = Predictor(task, est).save(tmp_path / "m")
    meta = json.loads((path / "predictor.json").read_text())
    assert meta["params"]["companion_candidates"] == 5
    assert meta["state"]["companion_encoder"] == other.encoder_.to_dict()
    loaded = Predictor.load(path)
    assert np.array_equal(loaded.estimator.top_k(inputs, 3), est.top_k(inputs, 3))
    tensors = load_file(str(path / "model.safetensors"))
    assert not [name for name in tensors if name.startswith("companion.scorer")]
    bad = dict(tensors, **{"companion.array.bias": torch.zeros(3)})
    save_file(bad, str(path / "model.safetensors"))
    with pytest.raises(ValueError, match="companion.array.bias"):
        Predictor.load(path)
    del meta["state"]["companion_encoder"]  # tensors with no encoder to read them
    (path / "predictor.json").write_text(json.dumps(meta))
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(ValueError, match="unexpected companion"):
        Predictor.load(path)


def test_a_companion_must_have_the_models_sizes(data, fitted):
    task, inputs, labels = data
    other = FactorisedClassifier(**{**fitted.get_params(), "width": 16, "epochs": 1, "scorer_rows": 0})
    other.fit(inputs.iloc[:50], labels[:50])
    with pytest.raises(ValueError, match="width 16 is not this model's 32"):
        copy.deepcopy(fitted).attach_companion(other, 4)


def test_training_script_attaches_a_companion_and_keeps_the_scorer(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "models" / "train_codesign_scorer.py"
    spec = importlib.util.spec_from_file_location("train_codesign_scorer", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = ac.api.shipped("codesign", objective="edp")
    before = {k: v.clone() for k, v in shipped.estimator.module_.state_dict().items()}
    cycles = ac.api.shipped_path("codesign")
    module.main(["--objective", "edp", "--keep-scorer", "--queries", "12", "--test", "10", "--jobs", "1",
                 "--candidates", "8", "--companion", str(cycles), "--companion-candidates", "4",
                 "--out", str(tmp_path / "m")])
    meta = json.loads((tmp_path / "m" / "predictor.json").read_text())
    assert meta["params"]["candidates"] == 8 and meta["params"]["companion_candidates"] == 4
    assert meta["training"]["companion"] == {"model": "codesign", "objective": "cycles", "candidates": 4}
    assert meta["training"]["scorer"]["ranked"] == 8 and meta["metrics"]["held_out"]["n"] == 10
    loaded = Predictor.load(tmp_path / "m").estimator
    inputs = shipped.task.validate(shipped.task.sample(3, seed=5))
    assert np.array_equal(loaded.candidate_labels(inputs)[:, 8:],
                          ac.api.shipped("codesign").estimator.proposed(inputs, 4))
    for name, value in loaded.module_.state_dict().items():  # the scorer kept, the proposal too
        assert torch.equal(value, before[name])
    # the model ac.predict uses in this process is untouched
    assert shipped is ac.api.shipped("codesign", objective="edp") and shipped.estimator.candidates == 64
    assert all(torch.equal(v, before[k]) for k, v in shipped.estimator.module_.state_dict().items())
    for bad in (["--companion", str(cycles)], ["--companion", str(cycles), "--companion-candidates", "0"],
                ["--companion", str(tmp_path / "none"), "--companion-candidates", "4"],
                ["--companion", str(ac.api.shipped_path("array")), "--companion-candidates", "4"]):
        with pytest.raises(SystemExit) as stop:
            module.main(["--objective", "edp", "--keep-scorer", "--out", str(tmp_path / "bad"), *bad])
        assert stop.value.code == 2
    assert not (tmp_path / "bad").exists()


def test_batch_precision_picks_the_proposal_dtype():
    assert proposal_dtype("float32", 10**5) == torch.float32
    assert proposal_dtype("bfloat16", SERIAL_ROWS - 1) == torch.float32  # few rows: always float32
    assert proposal_dtype("bfloat16", SERIAL_ROWS) == torch.bfloat16
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert proposal_dtype("auto", SERIAL_ROWS) == (torch.bfloat16 if native else torch.float32)
    with pytest.raises(ValueError, match="batch_precision must be one of auto, float32, bfloat16; got 'half'"):
        proposal_dtype("half", 10)


def test_a_bfloat16_proposal_is_close_to_the_float32_one(data, fitted):
    task, inputs, _ = data  # 400 rows: at least SERIAL_ROWS
    single = copy.deepcopy(fitted).set_params(batch_precision="float32")
    half = copy.deepcopy(fitted).set_params(batch_precision="bfloat16")
    (a, pa), (b, pb) = single._proposals(inputs, 6), half._proposals(inputs, 6)
    assert not np.array_equal(pa, pb)  # the products did run in bfloat16
    assert np.abs(np.sort(pa, 1) - np.sort(pb, 1)).max() < 0.1  # log-probabilities, 8 bits of mantissa
    same = (np.sort(a, 1) == np.sort(b, 1)).all(1).mean()
    assert same >= 0.9, same
    # the scorer stays float32: the ranking of equal candidates is the same
    both = (np.sort(a, 1) == np.sort(b, 1)).all(1)
    assert np.array_equal(single.predict(inputs)[both], half.predict(inputs)[both])
    # fewer rows than SERIAL_ROWS run in float32 whatever the setting
    assert np.array_equal(half.predict(inputs.iloc[:20]), single.predict(inputs.iloc[:20]))


def test_batch_precision_is_saved_and_checked(tmp_path, data, fitted):
    import json

    task, inputs, _ = data
    est = copy.deepcopy(fitted).set_params(batch_precision="float32")
    path = Predictor(task, est).save(tmp_path / "m")
    assert Predictor.load(path).estimator.batch_precision == "float32"
    meta = json.loads((path / "predictor.json").read_text())
    del meta["params"]["batch_precision"]  # a model saved before the parameter: "auto"
    (path / "predictor.json").write_text(json.dumps(meta))
    assert Predictor.load(path).estimator.batch_precision == "auto"
    meta["params"]["batch_precision"] = "float16"
    (path / "predictor.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="batch_precision"):
        Predictor.load(path)


# -- calls of a few rows run compiled (airchitect.learn.few_rows) -----------------------
def torch_only(monkeypatch):
    """Run every call through torch, as calls of FEW_ROWS rows or more do."""
    monkeypatch.setattr(few_rows, "FEW_ROWS", 0)


def one_row_calls(est, rows, k):
    return [(est._pool(r, est.candidates), est.top_k(r, k)) for r in rows]


@pytest.mark.parametrize("model", ["fitted", "stall_fitted", "with_companion"])
def test_a_few_rows_rank_compiled_as_in_torch(request, monkeypatch, data, stall_data, model):
    """One query at a time (compiled): the candidates, their log-probabilities and the
    ranking of the same query in torch."""
    est = request.getfixturevalue(model)[0] if model != "fitted" else request.getfixturevalue(model)
    inputs = (stall_data if model == "stall_fitted" else data)[1]
    rows = [inputs.iloc[[i]].reset_index(drop=True) for i in range(200, 260)]
    calls, proposals = [], few_rows.proposals
    monkeypatch.setattr(few_rows, "proposals", lambda *a: calls.append(1) or proposals(*a))
    few = one_row_calls(est, rows, 3)
    assert len(calls) >= 2 * len(rows)  # the compiled proposal ran (pool and top_k, each row)
    torch_only(monkeypatch)
    for ((labels, logp, repeated), top), ((labels_t, logp_t, repeated_t), top_t) in zip(
            few, one_row_calls(est, rows, 3)):
        assert np.array_equal(labels, labels_t) and np.array_equal(repeated, repeated_t)
        assert np.allclose(logp, logp_t, rtol=0, atol=1e-5)
        assert np.array_equal(top, top_t)


@pytest.mark.parametrize("model", ["fitted", "stall_fitted"])
def test_the_compiled_scorer_is_the_torch_scorer(request, data, stall_data, model):
    """Softplus of the raw output (fitted), or the stall estimate plus it, clamped (stall_fitted)."""
    est = request.getfixturevalue(model)
    est = est[0] if isinstance(est, tuple) else est
    task, inputs = (stall_data if model == "stall_fitted" else data)[:2]
    part = inputs.iloc[:40].reset_index(drop=True)
    labels = est._pool(part, est.candidates)[0]
    pairs = est._pair_features(task, part, labels, est._bounds(part, labels)[0])
    with torch.inference_mode():
        expected = est.module_.score(torch.as_tensor(pairs)).numpy()
    out = few_rows.score(few_rows.weights(est.module_), pairs, N_PAIR_FEATURES)
    assert out.shape == expected.shape and (out >= 0).all()
    assert np.allclose(out, expected, rtol=0, atol=1e-5)


def test_compiled_weights_follow_the_nets_tensors(data, fitted):
    """The arrays are cached, and rebuilt once a tensor changes in place (as training does)."""
    net = copy.deepcopy(fitted.module_)
    x = fitted.encoder_.transform(data[1].iloc[:3])
    allowed = np.ones((3, net.n_arrays), dtype=bool)
    assert few_rows.weights(net) is few_rows.weights(net)
    labels, before = few_rows.proposals(few_rows.weights(net), x, allowed, 4, 20)
    with torch.no_grad():
        net.inp.weight[:, 0].mul_(-3.0)
        joint = net(torch.as_tensor(x)).numpy()
    after = few_rows.proposals(few_rows.weights(net), x, allowed, 4, 20)
    assert not np.allclose(before, after[1], atol=1e-3)
    assert np.allclose(after[1], np.take_along_axis(joint, after[0], axis=1), rtol=0, atol=1e-5)


def test_compiled_proposals_break_ties_by_the_lower_label():
    """Equal log-probabilities: the lower array enters the beam first, the lower label ranks
    first; an array not allowed never enters."""
    net = FactorisedNet(6, (4, 3), width=8, depth=1, embedding=2, scorer_width=4, n_pair_features=5).eval()
    with torch.no_grad():
        for head in (net.array, net.split[2]):
            head.weight.zero_()
            head.bias.zero_()
    x = np.random.default_rng(0).normal(size=(2, 6)).astype(np.float32)
    allowed = np.array([[True] * 4, [False, True, True, True]])
    labels, logp = few_rows.proposals(few_rows.weights(net), x, allowed, 2, 5)
    assert labels.tolist() == [[0, 1, 2, 3, 4], [3, 4, 5, 6, 7]]
    assert np.allclose(logp[0], np.log(1 / 12), atol=1e-6)
    assert np.allclose(logp[1], np.log(1 / 9), atol=1e-6)


def test_compiled_proposals_of_a_net_without_residual_blocks():
    """depth 0: the trunk is the input layer and the norm; the compiled proposal is torch's."""
    net = FactorisedNet(6, (4, 3), width=8, depth=0, embedding=2, scorer_width=4, n_pair_features=5).eval()
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        joint = net(x).numpy()
    labels, logp = few_rows.proposals(few_rows.weights(net), x.numpy(), np.ones((3, 4), dtype=bool), 4, 12)
    assert np.array_equal(np.sort(labels, axis=1), np.tile(np.arange(12), (3, 1)))
    assert np.allclose(logp, np.take_along_axis(joint, labels, axis=1), rtol=0, atol=1e-5)


def test_compiled_gelu_is_erf_gelu():
    """The rational erf: within 3e-7 of the exact GELU over [-12, 12] (torch's float32 GELU: 1.2e-6)."""
    from scipy.special import erf

    x = np.linspace(-12, 12, 200_001).astype(np.float32)
    out = x.copy()
    few_rows._gelu(out)
    exact = 0.5 * x.astype(np.float64) * (1 + erf(x.astype(np.float64) / np.sqrt(2)))
    assert np.abs(out - exact).max() < 3e-7
    assert abs(out[0]) < 1e-7 and out[-1] == np.float32(12)


def test_the_shipped_codesign_models_predict_one_query_as_torch_does(monkeypatch):
    """On 100 sampled queries, one at a time: the same prediction in numpy and in torch,
    for the cycles model and the EDP model."""
    task = ac.tasks.get("codesign")
    queries = task.validate(task.sample(100, seed=31))
    rows = [queries.iloc[[i]].reset_index(drop=True) for i in range(len(queries))]
    models = [ac.api.shipped("codesign"), ac.api.shipped("codesign", objective="edp")]
    few = [[p.estimator.predict(r)[0] for r in rows] for p in models]
    torch_only(monkeypatch)
    assert [[p.estimator.predict(r)[0] for r in rows] for p in models] == few

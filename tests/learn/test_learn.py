"""Encodings, classifiers, metrics, training and safe persistence."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline

import airchitect as ac
from airchitect.learn import (
    AirchitectClassifier, Encoder, Predictor, ResMLPClassifier, make_baseline, metrics,
)


@pytest.fixture(scope="module")
def array_frame():
    task = ac.tasks.get("array")
    return task.label(task.sample(3000, seed=11))


def test_metrics_hand_computed():
    assert metrics.top1([1, 2, 3, 4], [1, 2, 0, 0]) == 0.5
    proba = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1]])
    assert metrics.topk([2, 2], proba, k=2) == 0.5
    # best / chosen = 1, 1/2, 1/4 -> geometric mean 1/2 -> 50 %
    assert metrics.geomean_percent([4, 4, 4], [4, 8, 16]) == pytest.approx(50.0)
    np.testing.assert_allclose(metrics.slowdowns([2, 4], [3, 4]), [1.5, 1.0])


def test_report_recomputes_costs_with_the_cost_model(array_frame):
    task = ac.tasks.get("array")
    inputs = array_frame[list(task.input_columns)]
    wrong = (array_frame.label.to_numpy() + 1) % 273
    allowed = task.allowed(inputs)
    wrong = np.where(allowed[np.arange(len(wrong)), wrong], wrong, array_frame.label)
    res = metrics.report(task, inputs, array_frame.label, wrong)
    chosen = task.cost_of(inputs, wrong)
    expected = np.exp(np.mean(np.log(array_frame.best_cost / chosen))) * 100
    assert res["geomean_percent_of_best"] == pytest.approx(expected)
    assert res["worst_slowdown"] == pytest.approx((chosen / array_frame.best_cost).max())
    perfect = metrics.report(task, inputs, array_frame.label, array_frame.label)
    assert perfect["top1"] == 1.0 and perfect["geomean_percent_of_best"] == pytest.approx(100)


def test_encoders():
    X = pd.DataFrame({"M": [1, 2, 1024], "N": [8, 8, 8], "dataflow": ["os", "is", "ws"]})
    tokens = Encoder("tokens").fit(X).transform(X)
    assert tokens[:, 0].tolist() == [0, 2, 20]  # round(2 * log2(M))
    assert tokens[:, 2].tolist() == [1, 0, 2]  # sorted vocabulary: is, os, ws
    cont = Encoder("continuous").fit(X)
    feats = cont.transform(X)
    # log2 M, log2 N, log2(M/N), one-hot of 3 dataflows
    assert feats.shape == (3, 6)
    np.testing.assert_allclose(feats.mean(axis=0)[:1], 0, atol=1e-6)
    round_trip = Encoder.from_dict(json.loads(json.dumps(cont.to_dict())))
    np.testing.assert_array_equal(round_trip.transform(X), feats)
    with pytest.raises(ValueError, match="dataflow must be one of"):
        cont.transform(X.assign(dataflow=["xx", "os", "os"]))


def test_models_learn_better_than_majority(array_frame):
    task = ac.tasks.get("array")
    train, test = ac.learn.split(array_frame, 0.2, seed=0)
    X, y = train[list(task.input_columns)], train.label.to_numpy()
    Xt, yt = test[list(task.input_columns)], test.label.to_numpy()
    majority = metrics.top1(yt, np.full(len(yt), pd.Series(y).mode()[0]))
    for est in (AirchitectClassifier(task="array", epochs=8, seed=0),
                ResMLPClassifier(task="array", epochs=8, width=64, depth=2, seed=0)):
        est.fit(X, y)
        pred = est.predict(Xt)
        assert est.score(Xt, yt) == metrics.top1(yt, pred) > majority + 0.1
        # never predicts a configuration the row's budget rules out
        allowed = task.allowed(Xt)
        assert allowed[np.arange(len(pred)), pred].all()
        proba = est.predict_proba(Xt)
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
        assert proba.shape == (len(yt), 273)


def test_sklearn_interface(array_frame):
    task = ac.tasks.get("array")
    X, y = array_frame[list(task.input_columns)][:600], array_frame.label[:600].to_numpy()
    est = ResMLPClassifier(task="array", epochs=2, width=32, depth=1)
    assert clone(est).get_params() == est.get_params()
    est.set_params(epochs=1)
    assert est.epochs == 1
    scores = cross_val_score(est, X, y, cv=2)
    assert scores.shape == (2,) and ((0 <= scores) & (scores <= 1)).all()
    pipe = Pipeline([("model", AirchitectClassifier(task="array", epochs=1))]).fit(X, y)
    assert pipe.predict(X[:5]).shape == (5,)
    for name in ("majority", "knn", "forest"):
        base = make_baseline(name).fit(X, y)
        assert base.predict(X[:3]).shape == (3,)
    knn = make_baseline("knn").fit(X, y)
    assert knn.score(X, y) == 1.0  # distance weighting recalls every training row


def test_train_save_load_round_trip(tmp_path, array_frame):
    ac.data.generate("array", 2000, seed=5, out=tmp_path / "data", workers=1, progress=False)
    predictor = ac.learn.train("array", tmp_path / "data", model="resmlp", epochs=3, width=32,
                               depth=1)
    held = predictor.metadata["metrics"]["held_out"]
    assert held["n"] == 200 and 0 < held["geomean_percent_of_best"] <= 100
    assert "top1" in held["majority"]
    path = predictor.save(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == ["model.safetensors", "predictor.json"]
    # readable by others, as a model shared on a cluster must be
    assert [oct(p.stat().st_mode & 0o777) for p in (path, *sorted(path.iterdir()))] == ["0o755", "0o644", "0o644"]
    loaded = Predictor.load(path)
    inputs = array_frame[list(predictor.task.input_columns)]
    pd.testing.assert_frame_equal(loaded.predict(inputs), predictor.predict(inputs))
    meta = json.loads((path / "predictor.json").read_text())
    assert meta["training_data"]["manifest_sha256"] == ac.data.store.manifest_hash(tmp_path / "data")
    with pytest.raises(ValueError, match="not 'multiarray'"):
        Predictor.load(path, task="multiarray")
    meta["schema_version"] = 99
    (path / "predictor.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="schema version 99"):
        Predictor.load(path)


def test_surrogate_learns_array_costs_and_round_trips(tmp_path, array_frame):
    from airchitect.learn import SurrogateClassifier

    task = ac.tasks.get("array")
    train, test = ac.learn.split(array_frame, 0.2, seed=1)
    X, Xt = train[list(task.input_columns)], test[list(task.input_columns)]
    model = SurrogateClassifier(task="array").fit(X, train.label)
    pred = model.predict(Xt)
    res = metrics.report(task, Xt, test.label, pred)
    # the basis spans SCALE-Sim's cycle formula: near-exact choices from 2400 rows
    assert res["top1"] > 0.9 and res["geomean_percent_of_best"] > 99.9
    assert task.allowed(Xt)[np.arange(len(pred)), pred].all()
    predictor = Predictor(task, model, {"metrics": {}})
    loaded = Predictor.load(predictor.save(tmp_path / "s"))
    np.testing.assert_array_equal(loaded.predict(Xt).label, pred)
    with pytest.raises(ValueError, match="needs task="):
        SurrogateClassifier().fit(X, train.label)


def test_surrogate_multiarray_combines_parts_exactly():
    from airchitect.learn import SurrogateClassifier

    task = ac.tasks.get("multiarray")
    frame = task.label(task.sample(3000, seed=2))
    train, test = ac.learn.split(frame, 0.2, seed=0)
    model = SurrogateClassifier(task="multiarray").fit(train[list(task.input_columns)], train.label)
    res = metrics.report(task, test[list(task.input_columns)], test.label,
                         model.predict(test[list(task.input_columns)]))
    assert res["geomean_percent_of_best"] > 99.5 and res["top1"] > 0.8


def test_cim_parts_combine_to_exact_latency_and_crossbars():
    from airchitect.learn import features
    from airchitect.tasks import cim as cim_space

    task = ac.tasks.get("cim")
    X = task.validate(task.sample(300, seed=4))
    tiles, reads, base = cim_space.base_counts(X)
    keys = features.surrogate_combine(task, X, [tiles.astype(float), reads.astype(float)])
    exact = task.costs(task.relax(X))  # inf only where no ADC of 14 bits is lossless
    finite = np.isfinite(exact)
    assert finite.mean() > 0.9
    np.testing.assert_allclose(keys[0][finite], exact[finite], rtol=1e-12)
    np.testing.assert_array_equal(keys[1], cim_space.crossbars_used(X))
    # conv1_1 of VGG16 (n = 27, m = 64, 8/8 bits) on 256x256, all rows, b_c 4, d 1, diff-column:
    # cols = 64 * 2 * 2 = 256 -> 1 tile; reads per vector = 8 slices x 1 tile x 1 row group
    one = task.validate(dict(P=[50176], n=[27], m=[64], w_bits=[8], in_bits=[8], n_xbars=[1], adc_bits=[13]))
    label = task.space().query("xbar == 256 and active_all and cell_bits == 4 and dac_bits == 1 "
                               "and mapping == 'differential-column' and duplication == 1").index[0]
    t, r, base = cim_space.base_counts(one)
    assert (t[0, base[label]], r[0, base[label]]) == (1, 8)


def test_surrogate_cim_learns_tiles_and_reads():
    from airchitect.learn import SurrogateClassifier

    task = ac.tasks.get("cim")
    frame = task.label(task.sample(4000, seed=5))
    train, test = ac.learn.split(frame, 0.2, seed=0)
    X, Xt = train[list(task.input_columns)], test[list(task.input_columns)]
    model = SurrogateClassifier(task="cim").fit(X, train.label)
    proba = model.predict_proba(Xt)
    res = metrics.report(task, Xt, test.label, model.predict(Xt), proba)
    assert res["geomean_percent_of_best"] > 99.9 and res["top1"] > 0.95
    assert res["top5"] >= res["top1"]
    assert task.allowed(Xt)[np.arange(len(Xt)), model.predict(Xt)].all()


def test_boosted_trees_flatten_to_the_same_predictions():
    from sklearn.ensemble import HistGradientBoostingRegressor

    from airchitect.learn.boosted import _flatten, _forest_parallel, _forest_serial

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 5))
    y = np.where(X[:, 0] > 0.3, 2.0, 0.0) + X[:, 1] ** 2 + rng.normal(scale=0.1, size=2000)
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, y)
    t = _flatten(model)
    for forest in (_forest_serial, _forest_parallel):
        out = np.full(len(X), t["baseline"][0])
        forest(X, t["feature"], t["threshold"], t["left"], t["right"], t["value"], t["roots"], out)
        np.testing.assert_allclose(out, model.predict(X), rtol=1e-12, atol=1e-12)


def test_boosted_buffer_model_beats_majority_and_round_trips(tmp_path):
    from airchitect.learn import BoostedCostClassifier

    task = ac.tasks.get("buffer")
    frame = task.label(task.sample(360, seed=7), keep_costs=True)
    train, test = ac.learn.split(frame, 60 / 360, seed=0)
    X, Xt = train[list(task.input_columns)], test[list(task.input_columns)]
    model = BoostedCostClassifier(task="buffer", max_iter=60).fit(X, train.label,
                                                                 costs=np.stack(train.costs))
    pred = model.predict(Xt)
    res = metrics.report(task, Xt, test.label, pred, model.predict_proba(Xt))
    base = metrics.majority_baseline(task, Xt, test.label, train.label)
    assert res["geomean_percent_of_best"] > base["geomean_percent_of_best"] + 20
    np.testing.assert_array_equal(np.stack(test.costs)[np.arange(60), pred], task.cost_of(Xt, pred))
    predictor = Predictor(task, model, {"metrics": {}})
    loaded = Predictor.load(predictor.save(tmp_path / "b"))
    np.testing.assert_array_equal(loaded.predict(Xt).label, pred)
    with pytest.raises(NotImplementedError, match="no pair features"):
        BoostedCostClassifier(task="array").fit(X.assign(max_macs=256).iloc[:5])


def test_split_stall_model_ranks_by_the_estimate_and_round_trips(tmp_path):
    from airchitect.learn import SplitStallClassifier

    task = ac.tasks.get("buffer")
    frame = task.label(task.sample(80, seed=8), keep_costs=True)
    X = frame[list(task.input_columns)]
    model = SplitStallClassifier(task="buffer", max_folds=32).fit(X, frame.label)
    cycles = model.estimated_cycles(X)
    assert cycles.shape == (80, 105)
    np.testing.assert_array_equal(model.predict(X), np.argmin(cycles, axis=1))
    assert (np.argmax(model.decision_function(X), axis=1) == model.predict(X)).all()
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)
    res = metrics.report(task, X, frame.label, model.predict(X))
    base = metrics.majority_baseline(task, X, frame.label, frame.label)
    assert res["geomean_percent_of_best"] > base["geomean_percent_of_best"] + 20
    assert clone(model).get_params()["max_folds"] == 32
    loaded = Predictor.load(Predictor(task, model, {"metrics": {}}).save(tmp_path / "s"))
    assert loaded.estimator.max_folds == 32
    np.testing.assert_array_equal(loaded.predict(X).label, model.predict(X))
    with pytest.raises(ValueError, match="task must be 'buffer'"):
        SplitStallClassifier(task="array").fit(X)
    with pytest.raises(ValueError, match="max_folds"):
        SplitStallClassifier(max_folds=0).fit(X)


def test_predict_and_recommend_with_a_given_model(array_frame):
    from airchitect.learn import SurrogateClassifier

    task = ac.tasks.get("array")
    model = Predictor(task, SurrogateClassifier(task="array").fit(
        array_frame[list(task.input_columns)], array_frame.label))
    query = dict(M=300, N=70, K=900, max_macs=1024)
    cfg = ac.predict("array", model=model, **query)
    assert set(cfg) == {"rows", "cols", "dataflow", "label"} and cfg["rows"] * cfg["cols"] <= 1024
    best = ac.recommend("array", k=5, model=model, **query)
    assert best["cost"] == task.search(**query)["cost"] and 1 <= best["rank"] <= 5
    with pytest.raises(TypeError, match="unexpected L"):
        ac.predict("array", model=model, L=3, **query)
    # bad values name their field, whichever way the query frame is built
    for bad, message in (({"M": 2**70}, r"M must be an integer in \[1, 16384\], got 1180591620717411303424"),
                         ({"M": True}, "M must be integers"), ({"K": 2.0}, "K must be integers"),
                         ({"max_macs": 4095}, "max_macs must be a power of two")):
        with pytest.raises((TypeError, ValueError), match=message):
            ac.predict("array", model=model, **{**query, **bad})
    # keyword order does not matter
    assert ac.predict("array", model=model, max_macs=1024, K=900, N=70, M=300) == cfg

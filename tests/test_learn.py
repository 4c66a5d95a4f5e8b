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

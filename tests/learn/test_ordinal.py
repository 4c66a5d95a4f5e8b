"""The AIrchitect v2 style ordinal transformer classifier."""

import os

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.base import clone

import airchitect as ac
from airchitect.learn import Predictor, predictor, schema
from airchitect.learn.encoding import Encoder
from airchitect.learn.ordinal import (
    OrdinalTransformerClassifier, OrdinalTransformerNet, column_values, identifying_columns,
)

# 2 x 2 arrays x 3 dataflows x 6 SRAM splits (i + j + k = 5): 72 labels
SMALL = dict(rows=[4, 8], cols=[4, 8], max_macs=[16, 32, 64], parts=5)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Train the small models on one thread: beside numba's thread pool (labelling),
    torch's own pool makes these tiny steps many times slower. The count is set
    before torch's pool starts (reading it first would start it) and put back to
    torch's default afterwards."""
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or len(os.sched_getaffinity(0))))


@pytest.fixture(scope="module")
def task():
    return ac.tasks.get("codesign", **SMALL)


@pytest.fixture(scope="module")
def frames(task):
    return task.label(task.sample(400, seed=3)), task.label(task.sample(200, seed=4))


@pytest.fixture(scope="module")
def trained(task, frames):
    train = frames[0]
    model = OrdinalTransformerClassifier(task=task, d_model=32, heads=4, layers=2, epochs=30,
                                         batch_size=64, learning_rate=3e-3, seed=0)
    return model.fit(train[list(task.input_columns)], train["label"])


def _inputs(task, frame):
    return frame[list(task.input_columns)]


@pytest.fixture
def registered():
    """The model is registered as ``ordinal`` where Predictor.load and the schema look it up."""
    assert predictor.MODELS["ordinal"] is OrdinalTransformerClassifier
    assert "ordinal" in schema._PARAMS and "ordinal" in schema._STATE


def test_label_columns_identify_every_label():
    assert identifying_columns(ac.tasks.get("codesign").space()) == ["rows", "cols", "dataflow", "i", "j"]
    # c goes (a, b tell the rows apart), then b stays (a alone does not), then a stays
    space = pd.DataFrame({"a": [1, 1, 2, 2], "b": ["x", "y", "x", "y"], "c": [5, 6, 7, 8]})
    assert identifying_columns(space) == ["a", "b"]
    # the last column is dropped first: of two identifying columns the first is kept
    assert identifying_columns(pd.DataFrame({"a": [1, 2, 3], "b": [3, 2, 1]})) == ["a"]
    assert identifying_columns(pd.DataFrame({"a": [7]})) == ["a"]
    values, ordinal, index = column_values(space, ["b", "a"])
    assert values == [["x", "y"], [1, 2]] and ordinal == [False, True]
    assert index.tolist() == [[0, 0], [1, 0], [0, 1], [1, 1]]


def test_full_codesign_module_builds_on_the_meta_device():
    task = ac.tasks.get("codesign")
    model = OrdinalTransformerClassifier(task="codesign")
    encoder = Encoder("tokens").fit(task.sample(20, seed=0))
    shapes = schema._torch_tensors(model, encoder, task.n_labels)
    assert model.columns_ == ["rows", "cols", "dataflow", "i", "j"]
    space = task.space()
    # ordinal heads have K - 1 outputs, the dataflow head one per dataflow
    expected = [space[c].nunique() - 1 for c in ("rows", "cols")] + [3] + [
        space[c].nunique() - 1 for c in ("i", "j")]
    assert [shapes[f"heads.{h}.weight"][1] for h in range(5)] == [(k, 64) for k in expected]
    assert shapes["tokens.weight"][1] == (6 * 65, 64) and shapes["position"][1] == (6, 64)
    assert not any(k.endswith("label_index") or k.endswith("offsets") for k in shapes)


def _softplus(x):
    return np.log1p(np.exp(x))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_scores_are_the_sum_of_head_log_probabilities():
    # parts=6: i and j take 4 values each, so their heads have 3 cumulative logits
    task = ac.tasks.get("codesign", **{**SMALL, "parts": 6})
    model = OrdinalTransformerClassifier(task=task, d_model=16, heads=2, layers=1, seed=5)
    X = task.validate(task.sample(6, seed=8))
    model.encoder_ = Encoder("tokens").fit(X)
    model.n_labels_ = task.n_labels
    torch.manual_seed(5)
    net = model.module_ = model._build(model.encoder_, task.n_labels).eval()
    tokens = torch.as_tensor(model.encoder_.transform(X))
    with torch.no_grad():
        z = net.pooled(tokens).double().numpy()
        scores = net(tokens).double().numpy()
    space = task.space()
    expected = np.zeros((len(X), task.n_labels))
    for c, column in enumerate(["rows", "cols", "dataflow", "i", "j"]):
        w = net.heads[c].weight.detach().double().numpy()
        b = net.heads[c].bias.detach().double().numpy()
        h = z @ w.T + b
        values = sorted(space[column].unique())
        if column == "dataflow":
            logp = h - np.log(np.exp(h).sum(axis=1, keepdims=True))
        else:
            cum = h[:, :1] - np.concatenate([np.zeros((len(h), 1)), np.cumsum(_softplus(h[:, 1:]), 1)], 1)
            above = np.concatenate([np.ones((len(h), 1)), _sigmoid(cum), np.zeros((len(h), 1))], 1)
            logp = np.log(np.maximum(above[:, :-1] - above[:, 1:], 1e-6))
        assert logp.shape[1] == len(values) == {"dataflow": 3, "i": 4, "j": 4}.get(column, 2)
        for label, value in enumerate(space[column]):
            expected[:, label] += logp[:, values.index(value)]
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)
    masked = model.decision_function(X)
    allowed = task.allowed(X)
    np.testing.assert_allclose(masked[allowed], scores[allowed], rtol=1e-5, atol=1e-5)
    assert (~allowed).any() and (masked[~allowed] == -1e9).all()


def test_ordinal_probabilities_are_hand_computed_and_sum_to_one(task, trained, frames):
    # cumulative logits log 3, 0: P(>v1) = 3/4, P(>v2) = 1/2 -> 1/4, 1/4, 1/2
    logp = OrdinalTransformerNet.ordinal_log_probs(torch.tensor([[np.log(3.0), 0.0]]))
    np.testing.assert_allclose(logp.exp().numpy(), [[0.25, 0.25, 0.5]], rtol=1e-6)
    X = _inputs(task, frames[1])
    net = trained.module_
    tokens = torch.as_tensor(trained.encoder_.transform(X))
    with torch.no_grad():
        cums = net.head_logits(tokens)
        probs = [lp.exp().numpy() for lp in net.column_log_probs(tokens)]
    assert [p.shape[1] for p in probs] == [2, 2, 3, 3, 3]
    for p in probs:
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    for c in (0, 1, 3, 4):  # ordinal heads: P(value > t_k) falls with k
        assert (cums[c][:, 1:] < cums[c][:, :-1]).all()
    # the labels' joint probabilities sum to 1 less the (i, j) combinations no label
    # has: (2, 3), (3, 2), (3, 3), since i + j + k = 5 with k >= 1
    index = net.label_index.numpy()
    joint = np.prod([p[:, index[:, c]] for c, p in enumerate(probs)], axis=0)
    pi, pj = probs[3], probs[4]
    missing = pi[:, 1] * pj[:, 2] + pi[:, 2] * pj[:, 1] + pi[:, 2] * pj[:, 2]
    np.testing.assert_allclose(joint.sum(axis=1), 1 - missing, atol=1e-5)


def test_loss_is_the_sum_of_per_head_losses(task, trained, frames):
    X = _inputs(task, frames[1].iloc[:8])
    labels = frames[1]["label"].to_numpy()[:8].copy()
    net = trained.module_
    tokens = torch.as_tensor(trained.encoder_.transform(X))
    space = task.space()
    with torch.no_grad():
        heads = [h.double().numpy() for h in net.head_logits(tokens)]
        loss = float(net.loss(tokens, torch.as_tensor(labels)))
    expected = 0.0
    for c, column in enumerate(["rows", "cols", "dataflow", "i", "j"]):
        values = sorted(space[column].unique())
        truth = np.array([values.index(v) for v in space[column].to_numpy()[labels]])
        h = heads[c]
        if column == "dataflow":
            expected += np.mean(np.log(np.exp(h).sum(1)) - h[np.arange(len(h)), truth])
        else:
            target = truth[:, None] > np.arange(h.shape[1])[None, :]
            p = _sigmoid(h)
            expected += np.mean(-(target * np.log(p) + (1 - target) * np.log(1 - p)).sum(1))
    assert loss == pytest.approx(expected, rel=1e-5)


def test_predictions_are_always_allowed(task, trained, frames):
    X = _inputs(task, frames[1])
    model = clone(trained).set_params(epochs=1).fit(_inputs(task, frames[0]), frames[0]["label"])
    with torch.no_grad():  # push both array dimensions to 8: the unmasked best has 64 PEs
        model.module_.heads[0].bias.fill_(20.0)
        model.module_.heads[1].bias.fill_(20.0)
        raw = model.module_(torch.as_tensor(model.encoder_.transform(X))).numpy()
    pes = task.space()["pes"].to_numpy()
    assert (pes[raw.argmax(axis=1)] == 64).all()
    for m in (model, trained):
        chosen = pes[m.predict(X)]
        assert (chosen <= X["max_macs"].to_numpy()).all()
    assert (pes[model.predict(X)] == X["max_macs"].to_numpy()).all()
    np.testing.assert_array_equal(model.predict(X), model.decision_function(X).argmax(axis=1))
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert (proba[~task.allowed(X)] == 0).all()


def test_training_beats_the_majority_label(task, trained, frames):
    train, test = frames
    majority = np.bincount(train["label"], minlength=task.n_labels).argmax()
    base = float((test["label"] == majority).mean())
    top1 = float((trained.predict(_inputs(task, test)) == test["label"].to_numpy()).mean())
    assert top1 > base + 0.1
    assert trained.columns_ == ["rows", "cols", "dataflow", "i", "j"]


def test_save_load_round_trip(tmp_path, task, trained, frames, registered):
    X = _inputs(task, frames[1])
    saved = Predictor(task, trained, {"metrics": {}})
    assert saved.model_name == "ordinal"
    loaded = Predictor.load(saved.save(tmp_path / "m"))
    assert isinstance(loaded.estimator, OrdinalTransformerClassifier)
    np.testing.assert_array_equal(loaded.estimator.decision_function(X), trained.decision_function(X))
    np.testing.assert_array_equal(loaded.predict(X)["label"], trained.predict(X))
    # explicit label columns survive the JSON round trip
    other = OrdinalTransformerClassifier(task=task, d_model=8, heads=2, layers=1, epochs=1,
                                         columns=["dataflow", "rows", "cols", "pes", "i", "j", "k"])
    other.fit(X, frames[1]["label"])
    back = Predictor.load(Predictor(task, other).save(tmp_path / "c")).estimator
    assert back.columns_ == ["dataflow", "rows", "cols", "pes", "i", "j", "k"]
    np.testing.assert_array_equal(back.decision_function(X), other.decision_function(X))


def test_tampered_tensor_shape_is_refused(tmp_path, task, trained, registered):
    path = Predictor(task, trained).save(tmp_path / "m")
    tensors = load_file(str(path / "model.safetensors"))
    tensors["heads.0.weight"] = torch.zeros(3, 32)
    save_file(tensors, str(path / "model.safetensors"))
    message = r"model.safetensors: heads.0.weight: shape \(3, 32\) is not \(1, 32\)"
    with pytest.raises(ValueError, match=message):
        Predictor.load(path)


def test_bad_parameters_raise(task, frames):
    X, y = _inputs(task, frames[1]), frames[1]["label"]
    with pytest.raises(ValueError, match="task must be"):
        OrdinalTransformerClassifier().fit(X, y)
    with pytest.raises(ValueError, match="d_model must be a multiple of heads"):
        OrdinalTransformerClassifier(task=task, d_model=10, heads=4).fit(X, y)
    with pytest.raises(ValueError, match="do not tell every label"):
        OrdinalTransformerClassifier(task=task, columns=["rows", "cols", "dataflow"]).fit(X, y)
    with pytest.raises(ValueError, match="columns must be distinct names"):
        OrdinalTransformerClassifier(task=task, columns=["rows", "M"]).fit(X, y)
    with pytest.raises(TypeError, match="columns must be a list"):
        OrdinalTransformerClassifier(task=task, columns="rows").fit(X, y)
    with pytest.raises(ValueError, match=r"y must be label ids in \[0, 71\], got 72"):
        OrdinalTransformerClassifier(task=task).fit(X, np.full(len(X), 72))

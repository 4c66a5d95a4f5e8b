"""Saved-model checks, k and task validation, CLI input files, output pipes and --out paths."""

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file, save_file

import airchitect as ac
from airchitect import cli
from airchitect.learn import Predictor
from airchitect.learn.estimators import TorchClassifier
from airchitect.learn.predictor import MODELS

SHIPPED = Path(ac.__file__).parent / "models"


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "airchitect", *map(str, args)],
                          capture_output=True, text=True, **kwargs)


def _one_line_error(res, *words):
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for word in words:
        assert str(word) in lines[0], lines[0]
    return lines[0]


# -- trained models of every kind ---------------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    """One small fitted estimator of every kind in MODELS, with inputs to predict."""
    array, buffer = ac.tasks.get("array"), ac.tasks.get("buffer")
    frame = array.label(array.sample(300, seed=3))
    X, y = frame[list(array.input_columns)], frame.label.to_numpy()
    bframe = buffer.label(buffer.sample(24, seed=4), keep_costs=True)
    bX = bframe[list(buffer.input_columns)]
    models = {
        "airchitect": (array, MODELS["airchitect"](task="array", epochs=1, hidden=32).fit(X, y), X),
        "resmlp": (array, MODELS["resmlp"](task="array", epochs=1, width=16, depth=2).fit(X, y), X),
        "surrogate": (array, MODELS["surrogate"](task="array").fit(X, y), X),
        "boosted": (buffer, MODELS["boosted"](task="buffer", max_iter=3).fit(
            bX, bframe.label, costs=np.stack(bframe.costs)), bX),
        "stalls": (buffer, MODELS["stalls"](task="buffer", max_folds=16).fit(bX), bX),
    }
    codesign = ac.tasks.get("codesign", rows=[4, 8], cols=[4, 8], max_macs=[64], parts=4)
    cframe = codesign.label(codesign.sample(60, seed=5))
    cX, cy = codesign.validate(cframe[list(codesign.input_columns)]), cframe.label.to_numpy()
    models["factorised"] = (codesign, MODELS["factorised"](
        task=codesign, width=16, depth=1, embedding=4, scorer_width=8, candidates=4, epochs=1,
        scorer_rows=20, scorer_epochs=1).fit(cX, cy), cX)
    models["ordinal"] = (codesign, MODELS["ordinal"](task=codesign, d_model=8, heads=2, layers=1,
                                                      epochs=1).fit(cX, cy), cX)
    assert sorted(models) == sorted(MODELS)
    return models


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_model_kind_round_trips(tmp_path, trained, kind):
    task, est, X = trained[kind]
    predictor = Predictor(task, est, {"metrics": {"note": 1}, "training": {}, "training_data": {}})
    path = predictor.save(tmp_path / "m")
    assert sorted(p.name for p in path.iterdir()) == ["model.safetensors", "predictor.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary left beside it
    loaded = Predictor.load(path, task=task.name)
    assert loaded.model_name == kind and loaded.metadata["metrics"] == {"note": 1}
    pd.testing.assert_frame_equal(loaded.predict(X), predictor.predict(X))
    np.testing.assert_array_equal(loaded.top_k(X, 3), predictor.top_k(X, 3))


@pytest.mark.parametrize("kind", [k for k in sorted(MODELS) if issubclass(MODELS[k], TorchClassifier)])
def test_expected_tensors_are_those_of_the_built_module(trained, kind):
    """The shapes load checks a file against are built on the meta device without the
    parameters' initial fills; they are those of the module built as training builds it,
    and the fills work as before outside the check."""
    import torch
    from airchitect.learn import schema

    task, est, _ = trained[kind]
    built = {k: tuple(v.shape) for k, v in est._build(est.encoder_, est.n_labels_).state_dict().items()}
    expected = schema._torch_tensors(est, est.encoder_, est.n_labels_)
    assert {k: shape for k, (_, shape) in expected.items()} == built
    weight = torch.zeros(3, 2)
    torch.nn.init.normal_(weight)
    assert weight.abs().sum() > 0


def _unchecked_load(path):
    """The predictor at ``path`` built the way load did before its checks."""
    from airchitect.learn.encoding import Encoder
    from safetensors.torch import load_file as load_torch

    meta = json.loads((path / "predictor.json").read_text())
    task = ac.tasks.get(meta["task"]["task"], **meta["task_params"])
    est = MODELS[meta["model"]](**meta["params"])
    est.n_labels_, est.classes_ = meta["n_labels"], np.arange(meta["n_labels"])
    tensors = load_torch(str(path / "model.safetensors"))
    if hasattr(est, "set_state"):
        est.set_state({k: v.numpy() for k, v in tensors.items()}, meta["state"])
    else:
        est.encoder_ = Encoder.from_dict(meta["state"]["encoder"])
        est.module_ = est._build(est.encoder_, est.n_labels_)
        est.module_.load_state_dict(tensors)
        est.module_.eval()
    return Predictor(task, est)


@pytest.mark.parametrize("name", ["array", "buffer", "buffer/recommend", "multiarray", "cim",
                                  "cim-schedule", "sve"])
def test_shipped_models_pass_the_checks_and_predict_as_before(name):
    path = SHIPPED / name
    loaded = Predictor.load(path)
    reference = _unchecked_load(path)
    X = loaded.task.validate(loaded.task.sample(50, seed=21))
    pd.testing.assert_frame_equal(loaded.predict(X), reference.predict(X))


# -- tampered model files ---------------------------------------------------------------------
def _copy(tmp_path, name):
    path = tmp_path / "model"
    shutil.copytree(SHIPPED / name, path, ignore=shutil.ignore_patterns("recommend"))
    return path


def _edit_meta(path, edit):
    meta = json.loads((path / "predictor.json").read_text())
    edit(meta)
    (path / "predictor.json").write_text(json.dumps(meta))


def _edit_tensors(path, edit):
    tensors = load_file(str(path / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(path / "model.safetensors"))


def _set(*keys, value):
    def edit(meta):
        target = meta
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return edit


META_TAMPERING = {
    # (shipped model, edit of predictor.json, field named in the error)
    "negative tie_tolerance": ("array", _set("params", "tie_tolerance", value=-1), "params.tie_tolerance"),
    "unknown objective": ("array", _set("params", "objective", value="bogus"), "params.objective"),
    "n_labels off by one": ("array", _set("n_labels", value=272), "n_labels"),
    "huge n_labels": ("array", _set("n_labels", value=10**12), "n_labels"),
    "boolean schema_version": ("array", _set("schema_version", value=True), "schema_version"),
    "extra top-level key": ("array", _set("surprise", value=1), "surprise"),
    "extra params key": ("array", _set("params", "surprise", value=1), "params.surprise"),
    "extra state key": ("array", _set("state", "surprise", value=1), "state.surprise"),
    "missing params key": ("array", lambda m: m["params"].pop("ridge"), "params.ridge"),
    "unknown folds": ("array", _set("params", "folds", value="bogus"), "params.folds"),
    "groups not a list": ("array", _set("state", "groups", value=5), "state.groups"),
    "unknown constraint": ("array", _set("state", "constraints", value=["Q"]), "state.constraints"),
    "unknown model kind": ("array", _set("model", value="bogus"), "model"),
    "unknown task": ("array", _set("task", "task", value="bogus"), "task.task"),
    "boolean n_labels": ("multiarray", _set("n_labels", value=True), "n_labels"),
    "stalls objective": ("buffer", _set("params", "objective", value="energy"), "params.objective"),
    "zero max_folds": ("buffer", _set("params", "max_folds", value=0), "params.max_folds"),
    "stalls max_folds unlike its tensor": ("buffer", _set("params", "max_folds", value=64), "max_folds"),
    "boosted tie_tolerance": ("buffer/recommend", _set("params", "tie_tolerance", value=-1),
                              "params.tie_tolerance"),
    "boosted extra state": ("buffer/recommend", _set("state", "x", value=[]), "state.x"),
}


@pytest.mark.parametrize("case", sorted(META_TAMPERING))
def test_tampered_predictor_json_names_file_and_field(tmp_path, case):
    name, edit, field = META_TAMPERING[case]
    path = _copy(tmp_path, name)
    _edit_meta(path, edit)
    file = "model.safetensors" if case == "stalls max_folds unlike its tensor" else "predictor.json"
    with pytest.raises(ValueError) as info:
        Predictor.load(path)
    message = str(info.value)
    assert "\n" not in message and f"{path / file}: {field}:" in message


def test_json_without_numbers_or_objects_is_refused(tmp_path):
    path = _copy(tmp_path, "array")
    text = (path / "predictor.json").read_text()
    (path / "predictor.json").write_text(text.replace('"tie_tolerance": 0.0001', '"tie_tolerance": NaN'))
    with pytest.raises(ValueError, match=r"predictor\.json: \(file\): not valid JSON: NaN"):
        Predictor.load(path)
    (path / "predictor.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"predictor\.json: \(top level\): must be a JSON object"):
        Predictor.load(path)
    (path / "predictor.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"predictor\.json: \(file\): not valid JSON"):
        Predictor.load(path)


def _nan_coef(tensors):
    tensors["coef"][0, 0, 0] = np.nan


def _swap(source):
    def edit(path):
        shutil.copy(SHIPPED / source / "model.safetensors", path / "model.safetensors")
    return edit


def _write(data):
    def edit(path):
        (path / "model.safetensors").write_bytes(data)
    return edit


def _truncate(path):
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])


def _bad_child(tensors):
    left = tensors["left"]
    left[np.flatnonzero(left >= 0)[0]] = 10**9


TENSOR_TAMPERING = {
    # (shipped model, edit of the model directory, field named in the error)
    "NaN coefficient": ("array", lambda p: _edit_tensors(p, _nan_coef), "coef"),
    "infinite coefficient": ("cim-schedule", lambda p: _edit_tensors(
        p, lambda t: t["coef"].__setitem__((0, 1, 2), np.inf)), "coef"),
    "garbage": ("array", _write(b"\x89garbage, not a safetensors file" * 10), "(file)"),
    "empty": ("array", _write(b""), "(file)"),
    "truncated": ("array", _truncate, "(file)"),
    "swapped with another task's": ("array", _swap("multiarray"), "coef"),
    "swapped with another kind's": ("array", _swap("buffer"), "tensors"),
    "swapped into boosted": ("buffer/recommend", _swap("buffer"), "tensors"),
    "coefficients as float32": ("multiarray", lambda p: _edit_tensors(
        p, lambda t: t.__setitem__("coef", t["coef"].astype(np.float32))), "coef"),
    "extra tensor": ("multiarray", lambda p: _edit_tensors(
        p, lambda t: t.__setitem__("extra", np.zeros(3))), "tensors"),
    "tree child out of range": ("buffer/recommend", lambda p: _edit_tensors(p, _bad_child), "left"),
    "tree feature out of range": ("buffer/recommend", lambda p: _edit_tensors(
        p, lambda t: t["feature"].__setitem__(0, 999)), "feature"),
    "tree arrays of unequal length": ("buffer/recommend", lambda p: _edit_tensors(
        p, lambda t: t.__setitem__("value", t["value"][:-1])), "value"),
}


@pytest.mark.parametrize("case", sorted(TENSOR_TAMPERING))
def test_tampered_safetensors_names_file_and_field(tmp_path, case):
    name, edit, field = TENSOR_TAMPERING[case]
    path = _copy(tmp_path, name)
    edit(path)
    with pytest.raises(ValueError) as info:
        Predictor.load(path)
    message = str(info.value)
    assert "\n" not in message and f"{path / 'model.safetensors'}: {field}:" in message


@pytest.fixture()
def resmlp_dir(tmp_path, trained):
    task, est, _ = trained["resmlp"]
    return Predictor(task, est).save(tmp_path / "resmlp")


@pytest.mark.parametrize("edit, file, field", [
    (_set("params", "depth", value=10**6), "predictor.json", "params.depth"),
    (_set("params", "width", value=10**9), "predictor.json", "params.width"),
    (_set("params", "depth", value=3), "model.safetensors", "tensors"),
    (_set("params", "width", value=32), "model.safetensors", "inp.weight"),
    (_set("state", "encoder", "kind", value="tokens"), "predictor.json", "state.encoder.kind"),
    (_set("state", "encoder", "columns", value=["M", "N", "K", "Q"]), "predictor.json",
     "state.encoder.columns"),
    (lambda m: m["state"]["encoder"]["mean"].pop(), "predictor.json", "state.encoder.mean"),
    (_set("params", "verbose", value=0), "predictor.json", "params.verbose"),
])
def test_tampered_torch_model_is_refused_before_it_is_built(resmlp_dir, edit, file, field):
    _edit_meta(resmlp_dir, edit)
    with pytest.raises(ValueError) as info:
        Predictor.load(resmlp_dir)
    assert f"{resmlp_dir / file}: {field}:" in str(info.value)


def test_tampered_model_on_the_command_line_is_one_line(tmp_path):
    path = _copy(tmp_path, "array")
    _edit_meta(path, _set("params", "tie_tolerance", value=-1))
    res = _cli("predict", "--task", "array", "--model", path, "M=5", "N=5", "K=5", "max_macs=4096")
    _one_line_error(res, path / "predictor.json", "params.tie_tolerance")


def test_save_refuses_metadata_load_would_refuse(tmp_path, trained):
    task, est, _ = trained["surrogate"]
    with pytest.raises(ValueError, match="metadata keys"):
        Predictor(task, est, {"surprise": 1}).save(tmp_path / "m")
    assert not (tmp_path / "m").exists()
    task, est, _ = trained["resmlp"]
    est.set_params(width=0)  # as fitted with width 16, but load would refuse the params
    try:
        with pytest.raises(ValueError, match=r"model 'resmlp': width must be an integer in \[1, 8192\], got 0"):
            Predictor(task, est).save(tmp_path / "m")
    finally:
        est.set_params(width=16)
    assert not (tmp_path / "m").exists()


# -- the model's task and k ------------------------------------------------------------------
QUERY = dict(M=512, N=512, K=64, max_macs=4096)


def test_model_of_another_task_is_refused():
    multiarray = ac.api.shipped("multiarray")
    with pytest.raises(ValueError, match="model is for task 'multiarray', not 'array'"):
        ac.predict("array", model=multiarray, **QUERY)
    with pytest.raises(ValueError, match="model is for task 'multiarray', not 'array'"):
        ac.recommend("array", k=2, model=multiarray, **QUERY)
    array = ac.api.shipped("array")
    assert ac.predict("array", model=array, **QUERY) == ac.predict("array", **QUERY)
    res = _cli("predict", "--task", "multiarray", "--model", SHIPPED / "array", *[f"{k}={v}" for k, v in QUERY.items()])
    _one_line_error(res, "model is for task 'array', not 'multiarray'")


def test_top_k_and_recommend_validate_k():
    predictor = ac.api.shipped("array")
    X = predictor.task.validate(pd.DataFrame([QUERY]))
    for k in (-3, 0, 274):
        with pytest.raises(ValueError, match=r"k must be an integer in \[1, 273\]"):
            predictor.top_k(X, k)
    for k in (2.0, True, "3"):
        with pytest.raises(TypeError, match="k must be an integer"):
            predictor.top_k(X, k)
    assert predictor.top_k(X, 273).shape == (1, 273)
    for k in (0, -1, 274):
        with pytest.raises(ValueError, match=r"k must be an integer in \[1, 273\]"):
            ac.recommend("array", k=k, **QUERY)
    assert ac.recommend("array", k=273, **QUERY)["rank"] >= 1


def test_cli_recommend_zero_is_refused_and_absent_means_predict():
    args = [f"{k}={v}" for k, v in QUERY.items()]
    for k in ("0", "-2", "274"):
        res = _cli("predict", "--task", "array", *args, "--recommend", k)
        _one_line_error(res, "--recommend must be an integer in [1, 273]")
    plain = json.loads(_cli("predict", "--task", "array", *args, "--json", check=True).stdout)
    assert plain == ac.predict("array", **QUERY) and "rank" not in plain


# -- CLI inputs ------------------------------------------------------------------------------
def test_cli_refuses_a_duplicated_input():
    res = _cli("predict", "--task", "array", "M=512", "M=5", "N=512", "K=64", "max_macs=4096")
    _one_line_error(res, "M is given more than once")


CSV_CASES = {
    "directory": None,
    "empty": b"",
    "blank": b"\n\n",
    "header only": b"M,N,K,max_macs\n",
    "binary": b"M,N\x00\x01\x02\xff\xfe" * 20,
    "not utf-8": b"M,N,K,max_macs\n\xff\xfe,1,2,4096\n",
    "extra field": b"M,N,K,max_macs\n1,2,3,4096,9\n",
    "ragged long row": b"M,N,K,max_macs\n1,2,3,4096\n1,2,3,4096,7\n",
    "ragged short row": b"M,N,K,max_macs\n1,2,3,4096\n1,2,3\n",
    "unknown column": b"M,N,K,max_macs,Q\n1,2,3,4096,7\n",
    "missing column": b"M,N,K\n1,2,3\n",
    "boolean column": b"M,N,K,max_macs\nTrue,2,3,4096\nFalse,2,3,4096\n",
    "boolean cell": b"M,N,K,max_macs\n1,2,3,4096\nTrue,2,3,4096\n",
    "float cell": b"M,N,K,max_macs\n1.5,2,3,4096\n",
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_cli_refuses_bad_csv_naming_the_file(tmp_path, case):
    path = tmp_path / "in.csv"
    if CSV_CASES[case] is None:
        path.mkdir()
    else:
        path.write_bytes(CSV_CASES[case])
    res = _cli("predict", "--task", "array", "--csv", path)
    line = _one_line_error(res, path)
    if case.startswith("boolean"):
        assert "M holds a boolean" in line


def test_cli_csv_predicts_and_help_states_the_row_bound(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("M,N,K,max_macs\n512,512,64,4096\n7,9,11,256\n")
    rows = json.loads(_cli("predict", "--task", "array", "--csv", path, "--json", check=True).stdout)
    assert [r["label"] for r in rows] == [ac.predict("array", **QUERY)["label"],
                                          ac.predict("array", M=7, N=9, K=11, max_macs=256)["label"]]
    assert "1,000,000 rows" in " ".join(_cli("predict", "--help", check=True).stdout.split())


def test_broken_pipe_exits_quietly(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("M,N,K,max_macs\n" + "512,512,64,4096\n" * 20000)
    proc = subprocess.Popen([sys.executable, "-m", "airchitect", "predict", "--task", "array", "--csv",
                             str(path), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait() == cli.EXIT_BROKEN_PIPE and stderr == ""
    shell = subprocess.run(f"{sys.executable} -m airchitect predict --help | head -c 10",
                           shell=True, capture_output=True, text=True)
    assert "Traceback" not in shell.stderr and "Error" not in shell.stderr


# -- hyper-parameters checked before training ----------------------------------------------------
@pytest.mark.parametrize("model, params, error, words", [
    ("resmlp", {"epochs": 0}, ValueError, "epochs must be an integer in [1, 1000000], got 0"),
    ("resmlp", {"epochs": 2.5}, TypeError, "epochs must be an integer in [1, 1000000], got float 2.5"),
    ("resmlp", {"width": 0}, ValueError, "width must be an integer in [1, 8192], got 0"),
    ("resmlp", {"learning_rate": 0.0}, ValueError, "learning_rate must be a number in (0, 10], got 0.0"),
    ("resmlp", {"learning_rate": "x"}, TypeError, "learning_rate must be a number in (0, 10], got str"),
    ("resmlp", {"weight_decay": float("nan")}, ValueError, "weight_decay must be a number in [0, 10], got nan"),
    ("airchitect", {"hidden": -3}, ValueError, "hidden must be an integer in [1, 65536], got -3"),
    ("airchitect", {"batch_size": True}, TypeError, "batch_size must be an integer"),
    ("ordinal", {"heads": 65}, ValueError, "heads must be an integer in [1, 64], got 65"),
    ("boosted", {"max_iter": 0}, ValueError, "max_iter must be an integer in [1, 100000], got 0"),
])
def test_train_checks_hyper_parameters_naming_them(model, params, error, words):
    # before any work: the dataset is not read (here it does not exist)
    with pytest.raises(error) as info:
        ac.learn.train("array", "/nonexistent/dataset", model=model, **params)
    assert str(info.value).startswith(f"model {model!r}: {words}"), str(info.value)


@pytest.mark.parametrize("model, params, words", [
    ("factorised", {"scorer_epochs": 0}, "scorer_epochs must be an integer in [1, 1000000], got 0"),
    ("factorised", {"batch_precision": "fp8"}, "batch_precision: 'fp8' is not one of"),
    ("factorised", {"stall_features": "yes"}, "stall_features: 'yes' is not of type 'boolean'"),
])
def test_factorised_hyper_parameters_are_checked(model, params, words):
    codesign = ac.tasks.get("codesign", rows=[4, 8], cols=[4, 8], max_macs=[64], parts=4)
    frame = codesign.label(codesign.sample(20, seed=5))
    with pytest.raises((TypeError, ValueError)) as info:
        ac.learn.train(codesign, frame, model=model, **params)
    assert str(info.value).startswith(f"model {model!r}: {words}"), str(info.value)


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (2**32, ValueError), ("a", TypeError)])
def test_train_checks_the_seed(seed, error):
    with pytest.raises(error, match=r"^seed must be an integer in \[0, 4294967295\], got"):
        ac.learn.train("array", SAMPLE, model="surrogate", seed=seed)


@pytest.mark.parametrize("column, value, error, words", [
    ("label", 273, ValueError, "task 'array': labels must be integers in [0, 273); got 273"),
    ("label", -1, ValueError, "task 'array': labels must be integers in [0, 273); got -1"),
    ("best_cost", np.nan, ValueError, "best_cost must be numbers in [0, inf], got nan"),
    ("best_cost", -2.0, ValueError, "best_cost must be numbers in [0, inf], got -2.0"),
    ("label", None, ValueError, "dataset frame: missing column label (a labelled frame holds the task's "
                                "input columns M, N, K, max_macs and label)"),
])
def test_a_labelled_frame_is_checked_as_a_dataset_is(column, value, error, words):
    # before, a label out of the space failed inside torch, and a NaN best cost gave NaN
    # held-out metrics
    frame = ac.data.load(SAMPLE)
    if value is None:
        frame = frame.drop(columns=[column])
    else:
        frame[column] = frame[column].astype(type(value))
        frame.loc[3, column] = value
    with pytest.raises(error) as info:
        ac.learn.train("array", frame, model="surrogate")
    assert str(info.value) == words
    with pytest.raises(error) as info:
        ac.learn.evaluate(ac.api.shipped("array"), frame)
    assert str(info.value) == words


def test_every_default_and_shipped_recipe_passes_the_check():
    from airchitect.learn.schema import check_params

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models"))
    try:
        import train as recipes
    finally:
        sys.path.pop(0)
    for model, cls in MODELS.items():
        check_params(model, cls().get_params())
    for params in [*recipes.HYPER.values(), *recipes.RANKERS.values()]:
        params = dict(params)
        model = params.pop("model")
        check_params(model, MODELS[model](**params).get_params())
    check_params("boosted", {"max_leaf_nodes": None})  # an unbounded tree: allowed


# -- train --out and save ---------------------------------------------------------------------
SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "array" / "sample"


@pytest.mark.parametrize("out", ["somefile/model", "somefile", "/proc/airchitect-no/model"])
def test_train_checks_out_before_training(tmp_path, monkeypatch, capsys, out):
    (tmp_path / "somefile").write_text("x")
    monkeypatch.chdir(tmp_path)

    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking --out")

    monkeypatch.setattr(ac.learn, "train", no_training)
    code = cli.main(["train", "--task", "array", "--data", str(SAMPLE), "--out", out])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and out in err[0] and err[0].startswith("airchitect train: error:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somefile"]


def test_failed_save_leaves_nothing_behind(tmp_path, monkeypatch, trained):
    import airchitect.learn.predictor as predictor_module

    task, est, X = trained["surrogate"]
    predictor = Predictor(task, est)

    def full_disk(tensors, filename, *args, **kwargs):
        Path(filename).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    monkeypatch.setattr(predictor_module, "save_file", full_disk)
    with pytest.raises(OSError, match="No space left"):
        predictor.save(tmp_path / "new" / "deeper" / "model")
    assert list(tmp_path.iterdir()) == []
    existing = predictor_module.Predictor(task, est)
    monkeypatch.undo()
    kept = existing.save(tmp_path / "kept")
    (kept / "notes.txt").write_text("mine")
    before = (kept / "predictor.json").read_bytes()
    monkeypatch.setattr(predictor_module, "save_file", full_disk)
    with pytest.raises(OSError):
        existing.save(kept)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    assert (kept / "predictor.json").read_bytes() == before
    monkeypatch.undo()
    existing.save(kept)  # overwriting keeps files of others
    assert sorted(p.name for p in kept.iterdir()) == ["model.safetensors", "notes.txt", "predictor.json"]
    pd.testing.assert_frame_equal(Predictor.load(kept).predict(X), predictor.predict(X))


# -- errors of cli.main -----------------------------------------------------------------------
def _main_raising(monkeypatch, capsys, error):
    def run(args):
        raise error

    monkeypatch.setattr("airchitect.cli.predict.run", run)
    code = cli.main(["predict", "--task", "array"])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("error", [
    OSError(errno.EROFS, "Read-only file system", "/ro/model"),
    OSError(errno.ENOSPC, "No space left on device", "/full/model"),
    IsADirectoryError(errno.EISDIR, "Is a directory", "/some/dir"),
])
def test_main_reports_os_errors_in_one_line(monkeypatch, capsys, error):
    code, err = _main_raising(monkeypatch, capsys, error)
    assert code == 2 and len(err) == 1
    assert err[0].startswith("airchitect predict: error:") and error.filename in err[0]


def test_main_interrupted_and_bugs(monkeypatch, capsys):
    code, err = _main_raising(monkeypatch, capsys, KeyboardInterrupt())
    assert code == cli.EXIT_INTERRUPTED == 130 and err == ["airchitect predict: interrupted"]
    with pytest.raises(RuntimeError, match="a bug"):
        _main_raising(monkeypatch, capsys, RuntimeError("a bug"))
    with pytest.raises(KeyError):
        _main_raising(monkeypatch, capsys, KeyError("a bug"))

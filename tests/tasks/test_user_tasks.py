"""Users' own design spaces: parameterised built-in tasks, registered tasks, and their
definitions recorded in datasets and models, end to end from the API and the CLI
(the example of docs/tasks.md, "Your own design space")."""

import json
import subprocess
import sys

import numpy as np
import pytest

import airchitect as ac
from airchitect.tasks.array import ArrayTask

BUDGETS = [1024, 4096, 16384]
SQUARE = {"square": True, "max_macs": BUDGETS}
ROWS = 3000


class AreaDelayTask(ArrayTask):
    """A user's task: the array task's space, objective cycles x PEs."""

    def costs(self, inputs, objective="cycles"):
        return super().costs(inputs, objective) * self.space_columns()["pes"][None, :]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "airchitect", *map(str, args)],
                          capture_output=True, text=True)


def _one_line_error(res, *words):
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    for word in words:
        assert word in res.stderr, res.stderr


def _argmin_labels(task, frame):
    inputs = task.validate(frame[list(task.input_columns)])
    return np.argmin(task.costs(inputs), axis=1)  # ties: lowest label id, the documented tie-break


# -- parameters ---------------------------------------------------------------------------
def test_default_tasks_are_unchanged():
    array = ac.tasks.get("array")
    assert array.params() == {} and array.space_version == "1" and array.n_labels == 273
    assert ac.tasks.get("array", **{}) is array and ac.tasks.get(array) is array
    np.testing.assert_array_equal(ArrayTask().space(), array.space())
    assert ArrayTask().sample(50, seed=3).equals(array.sample(50, seed=3))
    buffer = ac.tasks.get("buffer")
    assert buffer.n_labels == 105 and buffer.space_version == "1"
    assert buffer.params() == {"convention": "scalesim-3.0"}


def test_square_variant_space_and_identity():
    task = ac.tasks.get("array", **SQUARE)
    space = task.space()
    assert len(space) == 18 and (space.rows == space.cols).all() and space.rows.max() == 128
    assert task.params() == SQUARE and task.space_version.startswith("1-")
    definition = task.definition()
    assert json.loads(json.dumps(definition)) == definition
    assert definition["class"] == "airchitect.tasks.array:ArrayTask"
    assert definition["space_sha256"] != ac.tasks.get("array").definition()["space_sha256"]
    assert ac.tasks.from_definition(definition).space().equals(space)
    sample = task.sample(200, seed=1)
    assert set(sample.max_macs) == set(BUDGETS)


def test_explicit_shapes_and_bounds():
    task = ac.tasks.get("array", shapes=[[12, 20], [24, 24]], max_macs=[240, 576], dataflows=["ws"],
                        dim_low=8, dim_high=100)
    assert task.space()[["rows", "cols", "dataflow"]].values.tolist() == [[12, 20, "ws"], [24, 24, "ws"]]
    sample = task.sample(100, seed=0)
    assert sample[["M", "N", "K"]].min().min() >= 8 and sample[["M", "N", "K"]].max().max() <= 100
    assert task.search(M=50, N=50, K=50, max_macs=240)["rows"] == 12
    with pytest.raises(ValueError, match=r"M must be integers in \[8, 100\]"):
        task.search(M=101, N=50, K=50, max_macs=240)
    assert ac.tasks.get("array", rows=[3, 5], cols=[7]).n_labels == 6


@pytest.mark.parametrize("params, error, words", [
    ({"square": 1}, TypeError, "square"),
    ({"sqare": True}, TypeError, "no parameter 'sqare'"),
    ({"max_macs": [0]}, ValueError, "max_macs[0] must be an integer in [1, 268435456]"),
    ({"max_macs": 4096}, TypeError, "max_macs must be a non-empty list"),
    ({"rows": [4, 20000]}, ValueError, "rows[1] must be an integer in [1, 16384]"),
    ({"shapes": [[64, 64]], "max_macs": [1024]}, ValueError, "shapes[0]"),
    ({"shapes": [[4, 4]], "rows": [4]}, TypeError, "shapes or rows/cols"),
    ({"dataflows": ["os", "xs"]}, ValueError, "dataflows[1] must be one of os, ws, is"),
    ({"dim_low": 10, "dim_high": 5}, ValueError, "dim_high must be an integer in [10, 16384]"),
    ({"square": True, "max_macs": [8, 1024]}, ValueError, "max_macs: budget 8 allows no shape"),
    ({"rows": [200], "cols": [300], "max_macs": [1024]}, ValueError, "leave no shape"),
    # counted before any is built: 300 x 300 sides within 2^20 PEs are all 90,000 shapes
    ({"rows": list(range(1, 301)), "cols": list(range(1, 301)), "max_macs": [2**20]}, ValueError,
     "rows x cols give 90000 shapes of at most 1048576 PEs, more than MAX_SHAPES = 65536"),
    ({"shapes": [[1, c] for c in range(1, 65538)], "max_macs": [2**17]}, ValueError,
     "shapes holds 65537 shapes, more than MAX_SHAPES = 65536"),
])
def test_bad_array_params_name_the_param(params, error, words):
    with pytest.raises(error) as info:
        ac.tasks.get("array", **params)
    assert words in str(info.value)


def test_a_codesign_space_past_max_labels_is_refused_before_it_is_built():
    # 40 x 40 sides within 65536 PEs: 1600 shapes x 3 dataflows x 1953 splits of 64 parts
    with pytest.raises(ValueError, match=r"\(1600 shapes x 3 dataflows\) and parts = 64 give 9374400 "
                                         r"configurations, more than MAX_LABELS = 4194304"):
        ac.tasks.get("codesign", rows=list(range(1, 41)), cols=list(range(1, 41)), max_macs=[65536], parts=64)
    assert ac.tasks.get("codesign", rows=[4, 8], cols=[4, 8], max_macs=[64], parts=64).n_labels == 4 * 3 * 1953


def test_buffer_granularity_and_totals():
    task = ac.tasks.get("buffer", parts=8, sram_kb=[64, 128, 256])
    assert task.n_labels == 21 and task.space_version != "1"
    sample = task.sample(20, seed=0)
    assert set(sample.sram_kb) <= {64, 128, 256}
    labelled = task.label(sample.head(3))
    kb = labelled[["ifmap_kb", "filter_kb", "ofmap_kb"]].sum(axis=1)
    assert (kb == labelled.sram_kb).all() and (labelled.ifmap_kb % (labelled.sram_kb // 8) == 0).all()
    with pytest.raises(ValueError, match="sram_kb must be one of the task's totals 64, 128, 256, got 96"):
        task.search(M=8, N=8, K=8, rows=4, cols=4, dataflow="os", sram_kb=96, bandwidth=1)
    with pytest.raises(ValueError, match=r"parts must be an integer in \[3, 64\]"):
        ac.tasks.get("buffer", parts=2)
    with pytest.raises(ValueError, match="multiples of parts = 8"):
        ac.tasks.get("buffer", parts=8, sram_kb=[60])


# -- the registry ---------------------------------------------------------------------------
def test_register_get_names_and_refusals():
    try:
        task = ac.tasks.register("square-arrays", "array", **SQUARE)
        assert ac.tasks.get("square-arrays") is task and "square-arrays" in ac.tasks.names()
        assert task.name == "square-arrays" and task.n_labels == 18
        assert ac.tasks.from_definition(task.definition()) is task
        assert ac.tasks.get("square-arrays", dataflows=["os"]).n_labels == 6
        with pytest.raises(ValueError, match="'array' is a built-in task and cannot be replaced"):
            ac.tasks.register("array", ArrayTask, square=True)
        with pytest.raises(TypeError, match="no parameter 'nope'"):
            ac.tasks.register("other", ArrayTask, nope=1)
    finally:
        ac.tasks.unregister("square-arrays")
    assert "square-arrays" not in ac.tasks.names()
    rebuilt = ac.tasks.from_definition(task.definition())  # a built-in class: no registration needed
    assert rebuilt.name == "square-arrays" and rebuilt.n_labels == 18


def test_definitions_refuse_unknown_classes_and_tampering():
    definition = ac.tasks.get("array", **SQUARE).definition()
    with pytest.raises(ValueError, match="x.json: definition.space_sha256: recorded 0000"):
        ac.tasks.from_definition({**definition, "space_sha256": "0" * 64}, "x.json")
    with pytest.raises(ValueError, match="definition.class: 'os:system' is neither a built-in"):
        ac.tasks.from_definition({"task": "mine", "class": "os:system"})
    with pytest.raises(ValueError, match="definition.task: 'mine' is not a task of this process"):
        ac.tasks.from_definition({"task": "mine"})
    with pytest.raises(ValueError, match="definition.extra: unknown field"):
        ac.tasks.from_definition({**definition, "extra": 1})


# -- end to end from the API ------------------------------------------------------------------
@pytest.fixture(scope="module")
def square(tmp_path_factory):
    """A square-array dataset and a model trained on it, from the API."""
    root = tmp_path_factory.mktemp("square")
    task = ac.tasks.get("array", **SQUARE)
    manifest = ac.data.generate(task, ROWS, seed=0, out=root / "data", workers=2, progress=False)
    predictor = ac.learn.train(task, root / "data", model="surrogate")
    predictor.save(root / "model")
    return task, manifest, root


def test_api_dataset_labels_are_the_exact_optimum(square):
    task, manifest, root = square
    assert manifest["definition"] == task.definition()
    frame = ac.data.load(root / "data")
    assert len(frame) == ROWS and frame.label.nunique() > 5
    np.testing.assert_array_equal(frame.label.to_numpy(), _argmin_labels(task, frame))
    with pytest.raises(ValueError, match="manifest.json: definition.params: recorded"):
        ac.learn.train(ac.tasks.get("array"), root / "data")
    with pytest.raises(ValueError, match="manifest.json: definition.task: recorded 'array'"):
        ac.data.load(root / "data", task="multiarray")
    assert ac.data.load(root / "data", task="array", columns=["label"]).equals(frame[["label"]])


def test_api_predict_is_square_and_within_budget(square):
    task, _, root = square
    for M, N, K, budget in [(512, 512, 512, 4096), (64, 3000, 17, 1024), (9000, 40, 700, 16384)]:
        config = ac.predict("array", model=root / "model", M=M, N=N, K=K, max_macs=budget)
        assert config["rows"] == config["cols"] and config["rows"] * config["cols"] <= budget
        best = ac.recommend(task, k=18, model=str(root / "model"), M=M, N=N, K=K, max_macs=budget)
        assert best["cost"] == task.search(M=M, N=N, K=K, max_macs=budget)["cost"]
    with pytest.raises(ValueError, match="max_macs must be one of the task's budgets"):
        ac.predict("array", model=root / "model", M=8, N=8, K=8, max_macs=2048)
    with pytest.raises(ValueError, match="no shipped model for this variant"):
        ac.predict(task, M=8, N=8, K=8, max_macs=1024)


def test_model_definition_round_trips_and_tampering_is_refused(square, tmp_path):
    task, _, root = square
    meta = json.loads((root / "model" / "predictor.json").read_text())
    assert meta["definition"] == task.definition()
    loaded = ac.Predictor.load(root / "model")
    assert loaded.task.definition() == task.definition()
    with pytest.raises(ValueError, match="predictor.json: definition.params: recorded"):
        ac.Predictor.load(root / "model", task=ac.tasks.get("array"))
    tampered = tmp_path / "model"
    tampered.mkdir()
    (tampered / "model.safetensors").write_bytes((root / "model" / "model.safetensors").read_bytes())
    meta["definition"]["space_sha256"] = "1" * 64
    (tampered / "predictor.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"predictor.json: definition.space_sha256: recorded 1111"):
        ac.Predictor.load(tampered)


# -- end to end from the command line ---------------------------------------------------------
def test_cli_generate_train_evaluate_predict(tmp_path):
    data, model = tmp_path / "data", tmp_path / "model"
    options = json.dumps(SQUARE)
    res = _cli("dataset", "generate", "--task", "array", "--task-options", options, "--workloads", 2000,
               "--out", data, "--quiet", "--workers", 1)
    assert res.returncode == 0, res.stderr
    assert ac.data.read_manifest(data)["definition"] == ac.tasks.get("array", **SQUARE).definition()
    res = _cli("train", "--data", data, "--model", "surrogate", "--out", model, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["metrics"]["held_out"]["top1"] > 0.8
    res = _cli("evaluate", "--model", model, "--data", data, "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["geomean_percent_of_best"] > 99, res.stderr
    res = _cli("predict", "--model", model, "M=512", "N=512", "K=512", "max_macs=4096", "--json")
    assert res.returncode == 0, res.stderr
    config = json.loads(res.stdout)
    assert config["rows"] == config["cols"] and config["rows"] ** 2 <= 4096
    _one_line_error(_cli("evaluate", "--model", "array", "--data", data), "manifest.json", "definition")


def test_cli_bad_task_flags_are_one_line(tmp_path):
    out = tmp_path / "d"
    base = ("dataset", "generate", "--workloads", 10, "--out", out)
    _one_line_error(_cli(*base, "--task", "array", "--task-options", "{square: 1}"), "--task-options",
                    "not valid JSON")
    _one_line_error(_cli(*base, "--task", "array", "--task-options", '{"sqare": true}'), "--task-options",
                    "'sqare'")
    _one_line_error(_cli(*base, "--task", "array", "--task-options", '{"dim_high": 99999}'), "dim_high",
                    "[1, 16384]")
    bad = tmp_path / "task.json"
    bad.write_text(json.dumps({"task": "array", "params": {"square": True, "max_macs": [0]}}))
    _one_line_error(_cli(*base, "--task-file", bad), str(bad), "max_macs[0]")
    bad.write_text('{"task": "array", "params": ')
    _one_line_error(_cli(*base, "--task-file", bad), str(bad), "not valid JSON")
    assert not out.exists()


# -- a user's own task class ---------------------------------------------------------------------
def test_registered_subclass_generate_train_predict(tmp_path):
    try:
        task = ac.tasks.register("area-delay", AreaDelayTask, **SQUARE)
        assert task.definition()["class"].endswith(":AreaDelayTask")
        ac.data.generate("area-delay", ROWS, seed=1, out=tmp_path / "data", workers=2, progress=False)
        frame = ac.data.load(tmp_path / "data")
        np.testing.assert_array_equal(frame.label.to_numpy(), _argmin_labels(task, frame))
        assert (frame.label.to_numpy() != _argmin_labels(ac.tasks.get("array", **SQUARE), frame)).any()
        ac.learn.train("area-delay", tmp_path / "data", model="surrogate").save(tmp_path / "model")
        config = ac.predict("area-delay", model=tmp_path / "model", M=512, N=512, K=512, max_macs=16384)
        assert config["rows"] == config["cols"] and config["rows"] ** 2 <= 16384
    finally:
        ac.tasks.unregister("area-delay")
    with pytest.raises(ValueError, match="definition.class: .*AreaDelayTask' is neither a built-in"):
        ac.Predictor.load(tmp_path / "model")

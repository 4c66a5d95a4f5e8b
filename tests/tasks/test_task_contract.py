"""The contract every registered task keeps, built-in or a user's own.

For each task: ``label`` equals a brute-force argmin over ``costs`` with the
task's tie-break keys and then the lowest label id; a row's label does not
depend on the rows beside it; ``search`` of one row gives its label and cost;
a label is always allowed and finite; a bad or missing input raises one line
naming the field; a dataset and a model make a round trip through files.
"""

from __future__ import annotations

import numpy as np
import pytest

import airchitect as ac
from airchitect.tasks.array import ArrayTask

BUILT_IN = ["array", "buffer", "multiarray", "cim", "sve", "cim-schedule", "codesign"]
USER = ["contract-square", "contract-area-delay"]
ROWS = {"buffer": 12, "codesign": 3}  # the buffer and codesign tasks' exact costs are the slow ones


class AreaDelayTask(ArrayTask):
    """The array space with objective cycles x PEs (ties: fewer PEs, os < ws < is, fewer rows)."""

    def costs(self, inputs, objective="cycles"):
        return super().costs(inputs, objective) * self.space_columns()["pes"][None, :]


@pytest.fixture(scope="module", autouse=True)
def user_tasks():
    ac.tasks.register("contract-square", "array", square=True, max_macs=[1024, 4096, 16384])
    ac.tasks.register("contract-area-delay", AreaDelayTask, dataflows=["ws", "os"], max_macs=[256, 65536])
    yield
    for name in USER:
        ac.tasks.unregister(name)


def _inputs(task, n=None, seed=7):
    return task.sample(n or ROWS.get(task.name, 40), seed=seed)[list(task.input_columns)]


def _brute_force(task, inputs):
    """Per row: the label of least cost, then least tie-break keys, then least id."""
    costs = task.costs(inputs)
    keys = [np.broadcast_to(k, costs.shape) for k in task.tiebreak(inputs, costs)]
    labels = []
    for i in range(len(inputs)):
        order = sorted(range(task.n_labels),
                       key=lambda j: (costs[i, j], *(k[i, j] for k in keys), j))
        labels.append(order[0])
    return np.array(labels), costs


def test_registry_lists_built_in_then_user_tasks():
    assert ac.tasks.names()[: len(BUILT_IN)] == BUILT_IN
    assert set(USER) <= set(ac.tasks.names())
    with pytest.raises(ValueError, match="array"):
        ac.tasks.register("array", AreaDelayTask)


@pytest.mark.parametrize("name", BUILT_IN + USER)
def test_label_is_the_tie_broken_argmin_of_the_costs(name):
    task = ac.tasks.get(name)
    inputs = _inputs(task)
    expected, costs = _brute_force(task, inputs)
    labels = task.label(inputs)["label"].to_numpy()
    np.testing.assert_array_equal(labels, expected)
    rows = np.arange(len(inputs))
    assert np.isfinite(costs[rows, labels]).all()
    assert task.allowed(inputs)[rows, labels].all()


@pytest.mark.parametrize("name", BUILT_IN + USER)
def test_a_rows_label_does_not_depend_on_its_neighbours(name):
    task = ac.tasks.get(name)
    inputs = _inputs(task)
    together = task.label(inputs)["label"].to_numpy()
    for i in (0, len(inputs) // 2, len(inputs) - 1):
        alone = task.label(inputs.iloc[[i]])["label"].to_numpy()
        assert alone[0] == together[i]
    shuffled = np.random.default_rng(0).permutation(len(inputs))
    np.testing.assert_array_equal(task.label(inputs.iloc[shuffled])["label"].to_numpy(),
                                  together[shuffled])


@pytest.mark.parametrize("name", BUILT_IN + USER)
def test_search_of_one_row_gives_its_label_and_cost(name):
    task = ac.tasks.get(name)
    inputs = _inputs(task, n=3)
    labelled = task.label(inputs, keep_costs=True)
    costs = task.costs(inputs)
    for i in range(len(inputs)):
        row = {c: (v.item() if isinstance(v, np.generic) else v) for c, v in inputs.iloc[i].items()}
        found = task.search(**row)
        assert found["label"] == labelled["label"].iloc[i]
        assert found["cost"] == pytest.approx(costs[i, found["label"]], rel=0)
        config = task.configs(inputs.iloc[[i]], [found["label"]]).iloc[0]
        for column in task.config_columns:
            assert found[column] == config[column]


def _bad_value(value):
    return "not-a-choice" if isinstance(value, str) else -3


@pytest.mark.parametrize("name", BUILT_IN + USER)
def test_bad_and_missing_inputs_are_named(name):
    task = ac.tasks.get(name)
    inputs = _inputs(task, n=2)
    for column in task.input_columns:
        bad = inputs.copy()
        bad[column] = bad[column].astype(object)
        bad.loc[bad.index[1], column] = _bad_value(inputs[column].iloc[0])
        with pytest.raises((ValueError, TypeError)) as err:
            task.label(bad)
        assert column in str(err.value) and "\n" not in str(err.value)
        with pytest.raises((ValueError, TypeError)) as err:
            task.label(inputs.drop(columns=column))
        assert column in str(err.value)
        with pytest.raises((ValueError, TypeError)) as err:  # costs checks its inputs too
            task.costs(bad)
        assert column in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", BUILT_IN)
def test_a_mapping_of_one_rows_values_is_one_row(name):
    task = ac.tasks.get(name)
    row = task.validate(_inputs(task, n=1))
    scalars = {c: row[c].iloc[0] for c in task.input_columns}
    assert task.validate(scalars).equals(row)
    ragged = {**{c: [v, v] for c, v in scalars.items()}, task.input_columns[0]: [1]}
    with pytest.raises(ValueError, match="mapping of equal-length columns"):
        task.validate(ragged)
    with pytest.raises(TypeError, match="inputs must be a DataFrame or a mapping of columns, got str"):
        task.validate("M=64")


@pytest.mark.parametrize("name", BUILT_IN)
def test_search_gives_the_configuration_in_its_columns_types(name):
    # multiarray's array indices came back as floats (2.0) beside their float cost
    task = ac.tasks.get(name)
    row = task.validate(_inputs(task, n=1))
    found = task.search(**row.iloc[0].to_dict())
    want = task.configs(row, np.array([found["label"]]))
    for column in task.config_columns:
        value = want[column].to_numpy()[0]
        assert found[column] == value and not isinstance(found[column], np.generic)
        if np.asarray(value).dtype.kind in "iu":
            assert type(found[column]) is int


@pytest.mark.parametrize("name", BUILT_IN)
def test_sample_checks_n_and_seed(name):
    task = ac.tasks.get(name)
    for args, error, words in (((-1,), ValueError, "n must be an integer in [0, 100000000], got -1"),
                               ((10**9,), ValueError, "n must be an integer in [0, 100000000]"),
                               ((2.0,), TypeError, "n must be an integer"),
                               ((2, None), TypeError, "seed must be an integer in [0, 9223372036854775807]"),
                               ((2, 2**64), ValueError, "seed must be an integer")):
        with pytest.raises(error) as err:
            task.sample(*args)
        assert words in str(err.value)
    assert task.sample(4, seed=3).equals(task.sample(4, seed=3)) and len(task.sample(0)) == 0


@pytest.mark.parametrize("name", BUILT_IN + USER)
def test_cost_of_checks_its_labels(name):
    task = ac.tasks.get(name)
    inputs = task.validate(_inputs(task, n=2))
    for labels, error, words in (([0, task.n_labels], ValueError, f"labels must be integers in [0, {task.n_labels})"),
                                 ([-1, 0], ValueError, "got -1"),
                                 ([0], ValueError, "one label"),
                                 ([0.5, 1.0], TypeError, "labels must be integers")):
        with pytest.raises(error) as err:
            task.cost_of(inputs, labels)
        assert words in str(err.value)


@pytest.mark.parametrize("name", BUILT_IN + USER)
def test_dataset_and_model_round_trip(name, tmp_path):
    task = ac.tasks.get(name)
    out = tmp_path / "data"
    ac.data.generate(name, 300, seed=3, out=out, workers=1, progress=False)
    frame = ac.data.load(out)
    inputs = frame[list(task.input_columns)]
    np.testing.assert_array_equal(frame["label"].to_numpy(), task.label(inputs)["label"].to_numpy())
    predictor = ac.learn.train(name, out, model="airchitect", epochs=2, hidden=32)
    before = predictor.predict(inputs)["label"].to_numpy()
    predictor.save(tmp_path / "model")
    loaded = ac.Predictor.load(tmp_path / "model")
    assert loaded.task.definition() == task.definition()
    np.testing.assert_array_equal(loaded.predict(inputs)["label"].to_numpy(), before)
    row = {c: (v.item() if isinstance(v, np.generic) else v) for c, v in inputs.iloc[0].items()}
    assert ac.predict(name, model=tmp_path / "model", **row)["label"] == before[0]

"""The shipped models predict and rank exactly as when they were trained, on 10^4
sampled workloads per task (``tests/api/shipped_labels.npz``, written by
``tests/api/make_shipped_labels.py``)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import airchitect as ac

DATA = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("make_shipped_labels", DATA / "make_shipped_labels.py")
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)


@pytest.fixture(scope="module")
def recorded():
    with np.load(DATA / "shipped_labels.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


#: tasks whose shipped models score in float32 torch (ties may break differently across
#: thread counts): their behaviour is checked by tests/api/test_shipped_models.py instead
NOT_SHIPPED = ("codesign",)


@pytest.mark.parametrize("name", [n for n in ac.tasks.names() if n not in NOT_SHIPPED])
def test_shipped_models_give_the_recorded_labels(name, recorded):
    predicted, ranked = make.shipped_labels(name)
    assert predicted.shape == (make.N_ROWS,) and ranked.shape == (make.N_ROWS, 5)
    np.testing.assert_array_equal(predicted, recorded[f"{name}/predict"])
    np.testing.assert_array_equal(ranked, recorded[f"{name}/recommend"])

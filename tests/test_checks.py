"""Column checks at the API boundary and the one-pass column reader."""

import numpy as np
import pandas as pd
import pytest

from airchitect._checks import check_int_columns
from airchitect._columns import column_block, column_dict

LIMITS = {"M": (1, 100), "K": (1, 8)}


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"M": [3, 100], "K": [8, 1]}),                       # exactly the columns
    pd.DataFrame({"K": [8, 1], "M": [3, 100]}),                       # another order
    pd.DataFrame({"M": np.array([3, 100], np.uint16), "K": np.array([8, 1], np.int8)}),
])
def test_integer_columns_in_range_come_back_as_int64(frame):
    out = check_int_columns(frame, LIMITS)
    assert out.columns.tolist() == ["M", "K"]
    assert (out.dtypes == np.int64).all()
    assert out.to_numpy().tolist() == [[3, 8], [100, 1]]


@pytest.mark.parametrize("frame, error, words", [
    (pd.DataFrame({"M": [3, 101], "K": [8, 1]}), ValueError, "M must be integers in [1, 100], got 101"),
    (pd.DataFrame({"M": [3, 4], "K": [0, 1]}), ValueError, "K must be integers in [1, 8], got 0"),
    (pd.DataFrame({"M": [3.0, 4.0], "K": [8, 1]}), TypeError, "M must be integers"),
    (pd.DataFrame({"M": [3, 4], "K": [True, False]}), TypeError, "K must be integers"),
    (pd.DataFrame({"M": np.array([2**63], np.uint64), "K": [1]}), ValueError,
     "M must be integers in [1, 100], got 9223372036854775808"),  # the value, not int64's wrap of it
])
def test_bad_columns_name_the_field(frame, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        check_int_columns(frame, LIMITS)


def test_column_block_reads_the_named_columns_in_their_order():
    frame = pd.DataFrame({"M": [1, 2], "N": [3, 4], "K": [5, 6]})
    assert column_block(frame, ["M", "N", "K"], np.int64).tolist() == [[1, 3, 5], [2, 4, 6]]
    assert column_block(frame, ["K", "M"], np.float64).tolist() == [[5.0, 1.0], [6.0, 2.0]]
    assert {k: v.tolist() for k, v in column_dict(frame, ["N"], np.int64).items()} == {"N": [3, 4]}


FLOWS = ("os", "ws", "is")


@pytest.mark.parametrize("n", [3, 200])  # element by element, and hashed once per distinct value
def test_choice_arrays_come_back_as_strings_in_their_shape(n):
    from airchitect._checks import check_choice_array

    values = np.resize(np.array(["is", "os", "ws"], dtype=object), n)
    out = check_choice_array("dataflow", values, FLOWS)
    assert out.dtype.kind == "U" and out.tolist() == values.tolist()
    grid = check_choice_array("dataflow", values.reshape(-1, 1), FLOWS)
    assert grid.shape == (n, 1) and grid[:, 0].tolist() == values.tolist()


@pytest.mark.parametrize("n", [3, 200])
@pytest.mark.parametrize("odd, error, words", [
    (None, TypeError, "got None"),
    (float("nan"), TypeError, "got nan"),
    (7, TypeError, "got 7"),
    ([1], TypeError, r"got \[1\]"),  # unhashable
    ("OS", ValueError, "got 'OS'"),
])
def test_bad_choices_name_the_first_bad_value_as_given(n, odd, error, words):
    from airchitect._checks import check_choice_array

    values = np.resize(np.array(["os", "ws"], dtype=object), n)
    values[n // 2] = odd
    values[-1] = "xs"  # a later bad name: the first one is named
    with pytest.raises(error, match="dataflow must be one of os, ws, is; " + words):
        check_choice_array("dataflow", values, FLOWS)

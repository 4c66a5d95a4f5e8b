"""The validated Gemm type."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airchitect import Gemm

INT_MAX = 2**31 - 1

bad_values = st.one_of(
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(float("nan")),
    st.just(3.0),
    st.none(),
    st.text(),
    st.just("7"),
    st.integers(max_value=0),
    st.integers(min_value=INT_MAX + 1),
    st.just(np.float64(4.0)),
    st.just(np.bool_(True)),
)


@given(field=st.sampled_from(["M", "N", "K"]), value=bad_values)
def test_bad_field_raises_naming_it(field, value):
    args = {"M": 2, "N": 3, "K": 4, field: value}
    with pytest.raises((ValueError, TypeError)) as err:
        Gemm(**args)
    assert str(err.value).startswith(f"{field} must be an integer in [1, {INT_MAX}]")


@given(M=st.integers(1, INT_MAX), N=st.integers(1, INT_MAX), K=st.integers(1, INT_MAX))
def test_valid_values_are_kept_as_int(M, N, K):
    g = Gemm(np.int64(M), N, K)
    assert (g.M, g.N, g.K) == (M, N, K)
    assert type(g.M) is int
    assert g.macs == M * N * K


def test_frozen_and_hashable():
    g = Gemm(64, 128, 32)
    with pytest.raises(AttributeError):
        g.M = 3
    assert g == Gemm(64, 128, 32) and hash(g) == hash(Gemm(64, 128, 32))
    assert g.macs == 64 * 128 * 32 == math.prod((64, 128, 32))


def test_bounds_are_inclusive():
    assert Gemm(1, 1, 1).macs == 1
    assert Gemm(INT_MAX, 1, 1).M == INT_MAX

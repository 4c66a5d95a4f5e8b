"""Property tests: broadcasting of ``simulate`` and its rejection of bad input."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import airchitect as ac
from airchitect.targets.systolic.compute import total_cycles_calc

small = st.integers(1, 400)
dims = st.integers(1, 64)
flows = st.sampled_from(["os", "ws", "is"])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(small, small, small), min_size=1, max_size=4),
       st.lists(st.tuples(dims, dims), min_size=1, max_size=3), flows,
       st.sampled_from([1, 2, 256]))
def test_broadcast_equals_per_element_calls(gemms, shapes, flow, ofmap_kb):
    M, N, K = (np.array(v)[:, None] for v in zip(*gemms))
    R, C = (np.array(v)[None, :] for v in zip(*shapes))
    grid = ac.systolic.simulate(M, N, K, R, C, flow, ofmap_kb=ofmap_kb)
    assert len(grid) == len(gemms) * len(shapes)
    i = 0
    for m, n, k in gemms:
        for r, c in shapes:
            one = ac.systolic.simulate(m, n, k, r, c, flow, ofmap_kb=ofmap_kb)
            row = grid.iloc[i]
            for name in one.columns:
                assert row[name] == one.iloc[0][name], name
            i += 1
    code = {"os": 0, "ws": 1, "is": 2}[flow]
    np.testing.assert_array_equal(total_cycles_calc(M, N, K, R, C, code).ravel(),
                                  grid["total_cycles"].to_numpy())


def test_fast_path_chunks_like_one_call():
    rng = np.random.default_rng(0)
    M, N, K = (rng.integers(1, 5000, size=(3000, 1)) for _ in range(3))
    R = 2 ** rng.integers(2, 9, size=(1, 700))
    full = total_cycles_calc(M, N, K, R, R, 1)
    assert full.shape == (3000, 700)
    np.testing.assert_array_equal(full[1234], total_cycles_calc(M[1234], N[1234], K[1234], R[0], R[0], 1))


bad_ints = st.one_of(st.integers(max_value=0), st.just(2**31), st.floats(allow_nan=True),
                     st.none(), st.text(max_size=3), st.booleans())
GOOD = dict(M=8, N=8, K=8, rows=4, cols=4, dataflow="os")


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["M", "N", "K"]), bad_ints)
def test_bad_gemm_sizes_raise_naming_field(field, value):
    kw = dict(GOOD, **{field: value})
    with pytest.raises((ValueError, TypeError), match=field):
        ac.systolic.simulate(**kw)
    with pytest.raises((ValueError, TypeError), match=field):
        ac.Gemm(*(kw[f] for f in ("M", "N", "K")))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["rows", "cols"]),
       st.one_of(st.integers(max_value=0), st.integers(16385, 2**40), st.floats(), st.none()))
def test_bad_array_dims_raise(field, value):
    with pytest.raises((ValueError, TypeError), match=field):
        ac.systolic.simulate(**dict(GOOD, **{field: value}))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["ifmap_kb", "filter_kb", "ofmap_kb", "bandwidth"]),
       st.one_of(st.integers(max_value=0), st.floats(), st.none(), st.text(max_size=2)))
def test_bad_memory_args_raise(field, value):
    with pytest.raises((ValueError, TypeError), match=field):
        ac.systolic.simulate(**GOOD, **{field: value})


@pytest.mark.parametrize("value", ["OS", "xs", "", 3, None])
def test_bad_dataflow_raises(value):
    with pytest.raises((ValueError, TypeError), match="dataflow"):
        ac.systolic.simulate(**dict(GOOD, dataflow=value))


def test_bad_mode_rejected_and_user_mode_only_adds_stalls():
    calc = ac.systolic.simulate(**GOOD).iloc[0]
    user = ac.systolic.simulate(**GOOD, mode="user", bandwidth=1, ifmap_kb=1).iloc[0]
    assert user.total_cycles - user.stall_cycles == calc.total_cycles
    with pytest.raises(ValueError, match="mode"):
        ac.systolic.simulate(**GOOD, mode="fast")


def test_bad_conv_layers_raise():
    with pytest.raises(ValueError, match="filter_h"):
        ac.systolic.simulate_conv(3, 8, 4, 1, 1, 1, 1, 4, 4, "os")
    with pytest.raises(ValueError, match="stride"):
        ac.systolic.simulate_conv(8, 8, 3, 3, 1, 1, 0, 4, 4, "os")

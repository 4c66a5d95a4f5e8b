"""The scalar and already-shaped fast paths of simulate give what the general paths give."""

import numpy as np
import pandas as pd
import pytest

from airchitect._checks import check_choice_array, check_int_array
from airchitect.targets.systolic import simulate, simulate_conv
from airchitect.targets.systolic.config import check_bool_array, dataflow_codes
from airchitect.targets.systolic.geometry import gemm_geometry, geometry
from airchitect.targets.systolic.memory.calc_drain import calc_ofmap_drain_cycles
from airchitect.targets.systolic.simulate import frame, simulate_columns


def test_check_int_array_scalar_int():
    out = check_int_array("rows", 7, 1, 16384)
    assert out.shape == () and out.dtype == np.int64 and int(out) == 7
    with pytest.raises(ValueError, match=r"^rows must be integers in \[1, 16384\], got 0$"):
        check_int_array("rows", 0, 1, 16384)
    with pytest.raises(ValueError, match=r"^rows must be integers in \[1, 16384\], got 16385$"):
        check_int_array("rows", 16385, 1, 16384)
    with pytest.raises(ValueError, match=r"^M must be an integer in \[1, 2147483647\], got "
                                         r"1180591620717411303424$"):
        check_int_array("M", 2**70)
    with pytest.raises(TypeError, match="got dtype bool"):
        check_int_array("cols", True)


def test_check_choice_and_bool_scalars():
    out = check_choice_array("dataflow", "ws", ("os", "ws", "is"))
    assert out.shape == () and out.dtype == np.dtype("<U2") and str(out) == "ws"
    with pytest.raises(ValueError, match=r"^dataflow must be one of os, ws, is; got .*'xs'"):
        check_choice_array("dataflow", "xs", ("os", "ws", "is"))
    flag = check_bool_array("ifmap_custom_layout", True)
    assert flag.shape == () and flag.dtype == bool and bool(flag)
    with pytest.raises(TypeError, match="ifmap_custom_layout must be True or False"):
        check_bool_array("ifmap_custom_layout", 1)


def test_dataflow_codes_scalar_and_arrays():
    assert [int(dataflow_codes(n)) for n in ("os", "ws", "is")] == [0, 1, 2]
    codes = dataflow_codes(np.array([["is", "os"], ["ws", "is"]]))
    assert codes.dtype == np.int64 and codes.tolist() == [[2, 0], [1, 2]]
    assert dataflow_codes(np.array([], dtype=str)).shape == (0,)


def test_geometry_broadcasts_in_place():
    G = geometry(np.array([[1], [2], [3]]), np.array([[10, 20]]), 5, 6, 7, 8, 9, 10, 11,
                 12, 13, 1, np.array([0, 1]))
    assert G.shape == (6, 13) and G.dtype == np.int64 and G.flags.c_contiguous
    assert G[:, 0].tolist() == [1, 1, 2, 2, 3, 3]
    assert G[:, 1].tolist() == [10, 20, 10, 20, 10, 20]
    assert G[:, 12].tolist() == [0, 1, 0, 1, 0, 1]
    assert (G[:, 2] == 5).all() and (G[:, 11] == 1).all()
    # a GEMM is a K-wide one-channel image of M rows: P = M, Wn = K, Nf = N
    assert gemm_geometry(4, 5, 6, 8, 4, 2)[0].tolist() == [4, 6, 5, 4, 6, 6, 1, 1, 1, 8, 4, 2, 1]


def test_calc_drain_lists_and_arrays_agree():
    # 20 valid words fit in half of a 1 kB buffer: start 31, stop 31 + ceil(20 / 4) - 1
    from_lists = calc_ofmap_drain_cycles(0, 4, 4, 6, 4, 5, 1, [31], [20])
    arrays = [np.array([v], dtype=np.int64) for v in (0, 4, 4, 6, 4, 5, 1, 31, 20)]
    from_arrays = calc_ofmap_drain_cycles(*arrays)
    assert [v.tolist() for v in from_lists] == [[31], [35], [20], [False]]
    assert [v.tolist() for v in from_arrays] == [[31], [35], [20], [False]]


@pytest.mark.parametrize("mode", ["calc", "user"])
def test_scalar_configuration_equals_broadcast_arrays(mode):
    M, N, K = np.array([4, 33, 70]), np.array([5, 9, 64]), np.array([6, 40, 17])
    scalars = simulate(M, N, K, 8, 4, "ws", ifmap_kb=2, filter_kb=3, ofmap_kb=4, bandwidth=5,
                       mode=mode, ifmap_banks=1, ifmap_bank_bandwidth=5)
    arrays = simulate(M, N, K, np.full(3, 8), np.full(3, 4), np.array(["ws"] * 3),
                      ifmap_kb=np.full(3, 2), filter_kb=np.full(3, 3), ofmap_kb=np.full(3, 4),
                      bandwidth=np.full(3, 5), mode=mode, ifmap_banks=np.ones(3, np.int64),
                      ifmap_bank_bandwidth=np.full(3, 5))
    pd.testing.assert_frame_equal(scalars, arrays, check_exact=True)
    # ws: Sr = K, Sc = N, T = M; folds x (T + 2R + C - 2) - 1 with R = 8, C = 4
    if mode == "calc":
        assert scalars["total_cycles"].tolist() == [1 * 2 * (4 + 16 + 2) - 1,
                                                    5 * 3 * (33 + 16 + 2) - 1,
                                                    3 * 16 * (70 + 16 + 2) - 1]


def test_frame_short_text_columns_are_not_shared():
    table = {"layer": np.array(["a", "b"], dtype=object), "x": np.array([1, 2])}
    first = frame(table)
    first.loc[0, "layer"] = "changed"
    second = frame(table)
    assert second["layer"].tolist() == ["a", "b"]
    assert second["layer"].dtype == first["layer"].dtype
    assert table["layer"].tolist() == ["a", "b"]


def test_frame_text_cache_keeps_types_apart():
    ints = frame({"v": np.array([1, 2], dtype=object)})
    strs = frame({"v": np.array(["1", "2"], dtype=object)})
    floats = frame({"v": np.array([1.0, 2.0], dtype=object)})
    assert ints["v"].tolist() == ["1", "2"] == strs["v"].tolist()
    assert floats["v"].tolist() == ["1.0", "2.0"]


def test_simulate_columns_are_independent_arrays():
    out = simulate_columns([4, 5], 5, 6, 8, 4, "os")
    # the documented example: os, 8 x 4 array, M = 4, N = 5, K = 6 runs 31 cycles
    assert out["total_cycles"].tolist()[0] == 31
    before = out["sram_ifmap_reads"].copy()
    out["total_cycles"][:] = 0
    assert (out["sram_ifmap_reads"] == before).all()


def test_conv_scalar_layer_with_array_config():
    one = simulate_conv(7, 7, 3, 3, 2, 4, 2, [4, 8], 4, "os")
    assert one["total_cycles"].tolist()[0] == 71  # the documented example
    two = simulate_conv(7, 7, 3, 3, 2, 4, 2, 8, 4, "os")
    assert one["total_cycles"].tolist()[1] == two["total_cycles"].tolist()[0]

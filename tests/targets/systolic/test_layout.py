"""SCALE-Sim 3.0.0's [layout] section and request buffers: exact against the real package.

Every reference run below takes well under two seconds of SCALE-Sim time; the
configurations are chosen so that each key changes some report field (per-operand
bank bandwidths, bank counts and ports with and without a custom layout, custom
layouts of a conv and a GEMM layer) or is shown to change none (request buffers).
"""

import numpy as np
import pytest

import airchitect as ac
from airchitect.targets.systolic import scalesim as sb
from airchitect.targets.systolic.layout import (
    Layout, filter_order, ifmap_order, line_columns,
)
from airchitect.targets.systolic.scalesim import REPORT_ITEMS


def _ours(kind, layer, rows, cols, dataflow, kb, bandwidth, mode="user", **keys):
    run = ac.systolic.simulate if kind == "gemm" else ac.systolic.simulate_conv
    out = run(*layer, rows, cols, dataflow, ifmap_kb=kb[0], filter_kb=kb[1], ofmap_kb=kb[2],
              bandwidth=bandwidth, mode=mode, **keys)
    return out


def _check(kind, layers, rows, cols, dataflow, kb, bandwidth, mode="user", **keys):
    """Every report field of every layer equal to SCALE-Sim's; return SCALE-Sim's rows."""
    ref = sb.run_scalesim_layers([(kind, *layer) for layer in layers], rows, cols, dataflow,
                                 *kb, bandwidth, mode, **keys)
    for layer, want in zip(layers, ref):
        got = _ours(kind, layer, rows, cols, dataflow, kb, bandwidth, mode.lower(), **keys)
        bad = {n: (want[n], got[n].iloc[0]) for n in REPORT_ITEMS if want[n] != got[n].iloc[0]}
        assert not bad, (kind, layer, dataflow, keys, bad)
    return ref


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_per_operand_bank_bandwidth_all_dataflows(dataflow):
    keys = dict(ifmap_bank_bandwidth=2, filter_bank_bandwidth=8)
    ref = _check("gemm", [(20, 12, 16)], 4, 4, dataflow, (1, 1, 1), 4, "USER", **keys)
    plain = _ours("gemm", (20, 12, 16), 4, 4, dataflow, (1, 1, 1), 4)
    # the IFMAP buffer fetches at 2 words/cycle and the filter at 8, the OFMAP drains at 4
    assert ref[0]["dram_ifmap_start_cycle"] != plain["dram_ifmap_start_cycle"].iloc[0]
    assert ref[0]["avg_ifmap_dram_bw"] == 2.0 and ref[0]["avg_filter_dram_bw"] == 8.0


def test_per_operand_bandwidth_conv_stalls():
    # a 3-words/cycle IFMAP feed on a 1 kB buffer stalls; the filter's 16 do not matter
    ref = _check("conv", [(9, 9, 3, 3, 4, 8, 1)], 4, 4, "os", (1, 1, 1), 8, "USER",
                 ifmap_bank_bandwidth=3, filter_bank_bandwidth=16)
    assert ref[0]["stall_cycles"] > 0


def test_banks_and_ports_without_custom_layout_change_nothing():
    keys = dict(ifmap_banks=2, ifmap_bank_ports=1, filter_banks=4, filter_bank_ports=3)
    ref = _check("gemm", [(20, 12, 16), (9, 30, 7)], 4, 4, "ws", (1, 1, 1), 4, "USER", **keys)
    plain = _ours("gemm", ([20, 9], [12, 30], [16, 7]), 4, 4, "ws", (1, 1, 1), 4)
    assert [r["total_cycles"] for r in ref] == plain["total_cycles"].tolist()


# a conv layout: IFMAP tiles of 1 x 8 x 4 words, filter tiles of 8 x 4 x 2 x 2, orders mixed
CONV_LAYOUT = Layout(ifmap_w_factor=8, channel_factor=4, num_filter_factor=8, filter_h_factor=2,
                     filter_w_factor=2, ifmap_interline_order=(1, 0, 2),
                     ifmap_intraline_order=(5, 3, 4), filter_interline_order=(0, 3, 2, 1),
                     filter_intraline_order=(7, 6, 5, 4))


def test_custom_layout_conv_layer_bank_conflicts():
    keys = dict(ifmap_custom_layout=True, filter_custom_layout=True, ifmap_bank_bandwidth=64,
                ifmap_banks=8, ifmap_bank_ports=1, filter_bank_bandwidth=128, filter_banks=4,
                layout=CONV_LAYOUT)
    ref = _check("conv", [(12, 12, 3, 3, 8, 16, 1)], 8, 8, "os", (2, 2, 2), 32, "USER", **keys)
    assert ref[0]["stall_cycles"] == 1605  # SCALE-Sim's figure; no stall without the layout
    assert _ours("conv", (12, 12, 3, 3, 8, 16, 1), 8, 8, "os", (2, 2, 2), 32,
                 ifmap_bank_bandwidth=64, filter_bank_bandwidth=128)["stall_cycles"].iloc[0] == 0


def test_custom_layout_ifmap_only_conv_ws():
    keys = dict(ifmap_custom_layout=True, ifmap_bank_bandwidth=16, ifmap_banks=4,
                ifmap_bank_ports=1, filter_bank_bandwidth=4,
                layout=Layout(ifmap_h_factor=2, ifmap_w_factor=2, channel_factor=4))
    ref = _check("conv", [(8, 8, 3, 3, 4, 8, 1)], 4, 4, "ws", (1, 1, 1), 8, "USER", **keys)
    assert ref[0]["stall_cycles"] > 0


@pytest.mark.parametrize("dataflow,ports", [("is", 2), ("os", 1)])
def test_custom_layout_gemm_layer(dataflow, ports):
    keys = dict(ifmap_custom_layout=True, filter_custom_layout=True, ifmap_bank_bandwidth=8,
                filter_bank_bandwidth=8, ifmap_banks=2, filter_banks=4, filter_bank_ports=ports,
                layout=Layout(ifmap_h_factor=2, ifmap_w_factor=4, num_filter_factor=2,
                              filter_w_factor=4, ifmap_interline_order=(1, 0, 2),
                              ifmap_intraline_order=(4, 3, 5)))
    ref = _check("gemm", [(20, 12, 16)], 4, 4, dataflow, (1, 1, 1), 4, "USER", **keys)
    assert ref[0]["stall_cycles"] > 0


def test_request_buffers_change_no_report_field():
    keys = dict(ifmap_bank_bandwidth=3, filter_bank_bandwidth=16, filter_banks=4,
                read_request_buffer=4, write_request_buffer=100)
    ref = _check("gemm", [(64, 32, 48)], 8, 8, "os", (1, 1, 1), 8, "USER", **keys)
    assert ref[0]["stall_cycles"] == 4174
    same = _ours("gemm", (64, 32, 48), 8, 8, "os", (1, 1, 1), 8, ifmap_bank_bandwidth=3,
                 filter_bank_bandwidth=16)
    assert same["stall_cycles"].iloc[0] == 4174


def test_calc_mode_ignores_layout_keys():
    keys = dict(ifmap_custom_layout=True, filter_custom_layout=True, ifmap_bank_bandwidth=64,
                ifmap_banks=10, filter_bank_bandwidth=128, layout=CONV_LAYOUT)
    _check("conv", [(12, 12, 3, 3, 8, 16, 1)], 8, 8, "is", (1, 1, 1), 64, "CALC", **keys)


def test_default_keys_are_bit_identical_and_broadcast():
    base = ac.systolic.simulate([20, 64], 12, 16, 4, 4, "os", ifmap_kb=1, filter_kb=1,
                                ofmap_kb=1, bandwidth=4, mode="user")
    same = ac.systolic.simulate([20, 64], 12, 16, 4, 4, "os", ifmap_kb=1, filter_kb=1,
                                ofmap_kb=1, bandwidth=4, mode="user", ifmap_bank_bandwidth=4,
                                filter_bank_bandwidth=[4], ifmap_banks=2, filter_bank_ports=1,
                                read_request_buffer=0)
    assert base.equals(same)
    lay = Layout(ifmap_w_factor=4, num_filter_factor=4)
    mixed = ac.systolic.simulate(20, 12, 16, 4, 4, "os", ifmap_kb=1, filter_kb=1, ofmap_kb=1,
                                 bandwidth=4, mode="user", filter_custom_layout=[False, True],
                                 layout=[lay, lay])
    assert mixed.iloc[0].equals(base.iloc[0])
    alone = ac.systolic.simulate(20, 12, 16, 4, 4, "os", ifmap_kb=1, filter_kb=1, ofmap_kb=1,
                                 bandwidth=4, mode="user", filter_custom_layout=True, layout=lay)
    assert mixed.iloc[1].equals(alone.iloc[0])


def test_layout_orders_by_hand():
    lay = Layout(channel_factor=2, ifmap_interline_order=(0, 1, 2),
                 ifmap_intraline_order=(3, 4, 5))
    assert ifmap_order(lay, 1, 2, 3).tolist() == [0, 1, 2, -1, 3, 4, 5, -1]
    # the default CSV orders visit the offsets inside a tile first
    assert ifmap_order(Layout(channel_factor=2), 1, 2, 3).tolist() == [0, 2, 3, 5, 1, -1, 4, -1]
    # filter (K, C, R, S) = (2, 1, 1, 2) with K factor 2: offsets of K innermost
    lay = Layout(num_filter_factor=2, filter_interline_order=(0, 1, 2, 3),
                 filter_intraline_order=(4, 5, 6, 7))
    assert filter_order(lay, 2, 1, 1, 2).tolist() == [0, 2, 1, 3]
    assert Layout.from_row(CONV_LAYOUT.row()) == CONV_LAYOUT


def test_line_columns_follow_python_set_order():
    # lines of 2 words: {8, 0} iterates as [8, 0] (both hash to slot 0), {3, 1} as [1, 3]
    line, column = line_columns(np.array([8, 0, 3, 1]), 9, 2)
    assert line[[8, 0, 3, 1]].tolist() == [0, 0, 1, 1]
    assert column[[8, 0, 3, 1]].tolist() == [0, 1, 1, 0]


@pytest.mark.parametrize("keys,match", [
    (dict(ifmap_banks=3), "ifmap_banks must divide ifmap_bank_bandwidth"),
    (dict(filter_bank_bandwidth=8, filter_banks=5), "filter_banks must divide"),
    (dict(ifmap_custom_layout=True, layout=Layout(ifmap_w_factor=8)), "IFMAP intraline factors"),
    (dict(filter_custom_layout=True, layout=Layout(num_filter_factor=2)),
     "filter intraline factors"),
    (dict(ifmap_banks=0), r"ifmap_banks must be integers in \[1, "),
    (dict(filter_bank_ports=0), r"filter_bank_ports must be integers in \[1, "),
    (dict(ifmap_bank_bandwidth=0), r"ifmap_bank_bandwidth must be integers in \[1, "),
    (dict(read_request_buffer=-1), r"read_request_buffer must be integers in \[0, "),
])
def test_hostile_values_one_line_errors(keys, match):
    with pytest.raises(ValueError, match=match) as err:
        ac.systolic.simulate(20, 12, 16, 4, 4, "os", bandwidth=4, mode="user", **keys)
    assert "\n" not in str(err.value)


def test_layout_factors_checked_in_calc_mode_too():
    with pytest.raises(ValueError, match="filter intraline factors"):
        ac.systolic.simulate(20, 12, 16, 4, 4, "os", bandwidth=4, filter_custom_layout=True,
                             layout=Layout(num_filter_factor=2))
    # banks need not divide the bandwidth in CALC mode (SCALE-Sim never checks it there)
    assert len(ac.systolic.simulate(20, 12, 16, 4, 4, "os", bandwidth=4, ifmap_banks=3)) == 1


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(ifmap_interline_order=(0, 1, 2), ifmap_intraline_order=(0, 1, 2)), ValueError,
     "permutation of 0..5"),
    (dict(filter_intraline_order=(0, 1, 2)), ValueError, "filter_intraline_order must be 4"),
    (dict(channel_factor=0), ValueError, r"channel_factor must be an integer in \[1, "),
    (dict(ifmap_h_factor=2.0), TypeError, "ifmap_h_factor must be an integer"),
    (dict(ifmap_intraline_order=(0, 1, 9)), ValueError, r"ifmap_intraline_order must be an "),
])
def test_hostile_layouts(kwargs, error, match):
    with pytest.raises(error, match=match) as err:
        Layout(**kwargs)
    assert "\n" not in str(err.value)


def test_hostile_layout_arguments():
    with pytest.raises(TypeError, match="layout must be a Layout"):
        ac.systolic.simulate(4, 4, 4, 4, 4, "os", layout=(1, 2, 3))
    with pytest.raises(TypeError, match="ifmap_custom_layout must be True or False"):
        ac.systolic.simulate(4, 4, 4, 4, 4, "os", ifmap_custom_layout=1)
    with pytest.raises(ValueError, match="must have 20 numbers"):
        Layout.from_row([1, 2, 3])
    with pytest.raises(ValueError, match="MAX_LAYOUT_WORDS"):
        ac.systolic.simulate(4, 4, 4, 4, 4, "os", bandwidth=2**30, mode="user",
                             ifmap_custom_layout=True,
                             layout=Layout(ifmap_h_factor=2**15, ifmap_w_factor=2**15))
    with pytest.raises(ValueError, match="shape mismatch|broadcast"):
        ac.systolic.simulate([4, 5], 4, 4, 4, 4, "os", ifmap_banks=[1, 1, 1])


def test_backend_writes_layout_keys(tmp_path):
    paths = sb.write_inputs(tmp_path, [(4, 5, 6)], 4, 4, "os", bandwidth=8, mode="user",
                            ifmap_bank_bandwidth=16, filter_banks=2, ifmap_custom_layout=True,
                            read_request_buffer=7, layout=CONV_LAYOUT)
    cfg = open(paths["config"]).read()
    for line in ("IfmapSRAMBankBandwidth : 16", "FilterSRAMBankBandwidth : 8",
                 "FilterSRAMBankNum : 2", "IfmapCustomLayout : True", "ReadRequestBuffer : 7",
                 "FilterCustomLayout : False", "Bandwidth : 8"):
        assert line in cfg.splitlines()
    row = open(paths["layout"]).read().splitlines()[1]
    assert row == "layer0, " + ", ".join(map(str, CONV_LAYOUT.row())) + ","
    with pytest.raises(TypeError, match="unknown keyword"):
        sb.config_text(4, 4, "os", ifmap_bank=3)


def test_scalesim_applies_the_first_layout_row_to_every_layer(tmp_path):
    import subprocess
    import sys

    lay = Layout(num_filter_factor=4)
    paths = sb.write_inputs(tmp_path, [(20, 12, 16), (9, 30, 7)], 4, 4, "os", ifmap_kb=1,
                            filter_kb=1, ofmap_kb=1, bandwidth=4, mode="user",
                            filter_custom_layout=True, layout=lay)
    lines = open(paths["layout"]).read().splitlines()
    # a second row whose filter factors (product 2, not 4) SCALE-Sim would refuse
    lines[2] = "layer1, " + ", ".join(map(str, Layout(num_filter_factor=2).row())) + ","
    open(paths["layout"], "w").write("\n".join(lines) + "\n")
    proc = subprocess.run([sys.executable, "-m", "scalesim.scale", "-c", paths["config"], "-t",
                           paths["topology"], "-l", paths["layout"], "-i", "gemm", "-s", "N",
                           "-p", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-500:]
    ref = sb.read_reports(tmp_path / "out" / "airchitect")
    ours = ac.systolic.simulate([20, 9], [12, 30], [16, 7], 4, 4, "os", ifmap_kb=1, filter_kb=1,
                                ofmap_kb=1, bandwidth=4, mode="user", filter_custom_layout=True,
                                layout=lay)
    for name in ("total_cycles", "stall_cycles", "dram_filter_reads", "dram_filter_start_cycle"):
        assert ref[name].tolist() == ours[name].tolist(), name

"""SCALE-Sim's own files: reading configs, topologies and layouts, and writing its reports.

The reference is the real SCALE-Sim 3.0.0 package, run in-process on small
fixtures (written here with the parameter values of SCALE-Sim's shipped
configs and topologies); its report files are compared byte for byte.
"""

import contextlib
import io
import os

import numpy as np
import pandas as pd
import pytest

import airchitect as ac
from airchitect.targets.systolic import files
from airchitect.targets.systolic.reports import REPORTS, report_text, write_reports
from airchitect.targets.systolic.scalesim import _LAYOUT_HEADER, _LAYOUT_ROW

REPORT_NAMES = tuple(REPORTS)

# SCALE-Sim's configs/scale.cfg layout of keys, with small sizes so that the layers stall.
FULL_CONFIG = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:   1
FilterSramSzkB:  1
OfmapSramSzkB:   1
IfmapOffset:    5
FilterOffset:   7
OfmapOffset:    9
Bandwidth : {bw}
Dataflow : {df}
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""

# configs/eyeriss.cfg's shape: no [layout] section (SCALE-Sim 3.0.0 stops on it).
EYERISS = """[general]
run_name = eyeriss

[architecture_presets]
ArrayHeight:    12
ArrayWidth:     14
IfmapSramSzkB:    36
FilterSramSzkB:   36
OfmapSramSzkB:    36
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Dataflow : ws
Bandwidth : 10
OnChipMemoryBanks:   1
OnChipMemoryBankPorts:   2
ReadRequestBuffer: 128
WriteRequestBuffer: 128

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

CONV_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
               "Num Filter, Strides,")
# Small conv layers: a stride that overflows the edge, a depthwise layer, a 1x1 layer.
CONV_ROWS = ["c1, 9, 9, 3, 3, 2, 5, 2,", "c2_DP, 7, 7, 2, 2, 3, 1, 1,", "c3, 12, 10, 3, 2, 3, 6, 1,",
             "c4, 6, 6, 1, 1, 4, 3, 1,"]
GEMM_ROWS = ["g1, 20, 9, 13,", "g2, 5, 33, 7,", "g3, 1, 17, 40,"]


def _write(path, text):
    path.write_text(text)
    return path


def _topology(tmp_path, kind):
    rows = CONV_ROWS if kind == "conv" else GEMM_ROWS
    header = CONV_HEADER if kind == "conv" else "Layer, M, N, K,"
    return _write(tmp_path / f"{kind}.csv", "\n".join([header, *rows]) + "\n")


def _layout(tmp_path, n=8):
    rows = [f"l{i}, {_LAYOUT_ROW}" for i in range(n)]
    return _write(tmp_path / "layout.csv", "\n".join([_LAYOUT_HEADER, *rows]) + "\n")


def _scalesim_reports(config, topology, layout, kind, out):
    """Run the real SCALE-Sim 3.0.0 on the files; return {report name: bytes}."""
    from scalesim.scale_sim import scalesim

    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=str(config),
                       topology=str(topology), layout=str(layout),
                       input_type_gemm=(kind == "gemm"))
        sim.run_scale(top_path=str(out))
    folder = out / sim.config.get_run_name()
    return {name: (folder / name).read_bytes() for name in REPORT_NAMES}


CASES = [(kind, mode, df) for kind in ("conv", "gemm") for mode in ("CALC", "USER")
         for df in ("os", "ws", "is")]


@pytest.mark.parametrize("kind,mode,df", CASES)
def test_report_bytes_equal_scalesim(tmp_path, kind, mode, df):
    config = _write(tmp_path / "run.cfg", FULL_CONFIG.format(run_name="tiny", rows=8, cols=4,
                                                             bw=2, df=df, mode=mode))
    topology, layout = _topology(tmp_path, kind), _layout(tmp_path)
    ref = _scalesim_reports(config, topology, layout, kind, tmp_path / "ref")
    out = ac.systolic.run_files(config, topology, kind=kind, layout=layout, out=tmp_path / "ours")
    for name in REPORT_NAMES:
        assert (tmp_path / "ours" / "tiny" / name).read_bytes() == ref[name], name
    assert out.attrs["report_dir"] == str(tmp_path / "ours" / "tiny")
    n_layers = 6 if kind == "conv" else 3  # c2_DP has 3 channels
    assert len(out) == n_layers and out["layer_id"].tolist() == list(range(n_layers))


def test_missing_layout_section_gets_scalesim_defaults(tmp_path):
    eyeriss = _write(tmp_path / "eyeriss.cfg", EYERISS)
    config = files.read_config(eyeriss)
    assert config.array_height == 12 and config.array_width == 14 and config.dataflow == "ws"
    assert config.on_chip_memory_banks == 1 and config.read_request_buffer == 128
    assert "layout.IfmapSRAMBankNum" in config.defaulted
    assert config.ifmap_sram_bank_num == 10 and config.ifmap_sram_bank_bandwidth == 10
    note = config.note()
    assert "\n" not in note and "layout.IfmapCustomLayout=False" in note and str(eyeriss) in note
    # SCALE-Sim itself stops on the file ...
    from scalesim.scale_config import scale_config

    with pytest.raises(Exception):
        scale_config().read_conf_file(str(eyeriss))
    # ... and runs it once the defaults are written out: the same bytes.
    completed = EYERISS.replace("[sparsity]", "[layout]\nIfmapCustomLayout: False\n"
                                "IfmapSRAMBankBandwidth: 10\nIfmapSRAMBankNum: 10\n"
                                "IfmapSRAMBankPort: 2\nFilterCustomLayout: False\n"
                                "FilterSRAMBankBandwidth: 10\nFilterSRAMBankNum: 10\n"
                                "FilterSRAMBankPort: 2\n\n[sparsity]")
    full = _write(tmp_path / "full.cfg", completed)
    topology, layout = _topology(tmp_path, "conv"), _layout(tmp_path)
    ref = _scalesim_reports(full, topology, layout, "conv", tmp_path / "ref")
    out = ac.systolic.run_files(eyeriss, topology, out=tmp_path / "ours")
    assert out.attrs["note"] == note
    for name in REPORT_NAMES:
        assert (tmp_path / "ours" / "eyeriss" / name).read_bytes() == ref[name]


def test_config_keys_case_and_defaults(tmp_path):
    text = ("[architecture_presets]\narrayheight = 16\nARRAYWIDTH : 8\nifmapsramszkb: 2\n"
            "FilterSramSzkB: 3\nOfmapSramSzkB: 4\nDataflow: is\n"
            "[run_presets]\nInterfaceBandwidth: USER\n[architecture_presets]\n")
    with pytest.raises(ValueError, match="not a SCALE-Sim config"):  # a repeated section
        files.read_config(_write(tmp_path / "dup.cfg", text))
    text = text.rsplit("[architecture_presets]", 1)[0]
    with pytest.raises(ValueError, match=r"\[architecture_presets\] Bandwidth is missing"):
        files.read_config(_write(tmp_path / "a.cfg", text))
    config = files.read_config(_write(tmp_path / "b.cfg", text.replace(
        "Dataflow: is", "Dataflow: is\nBandwidth: 4")))
    assert (config.array_height, config.array_width, config.ifmap_sram_kb, config.filter_sram_kb,
            config.ofmap_sram_kb, config.bandwidth, config.mode) == (16, 8, 2, 3, 4, (4,), "user")
    assert (config.run_name, config.ifmap_offset, config.filter_offset, config.ofmap_offset,
            config.read_request_buffer, config.use_ramulator_trace) == (
        "scale_run", 0, 10000000, 20000000, 60, False)
    assert "general.run_name" in config.defaulted and "run_presets.UseRamulatorTrace" in config.defaulted
    # USER mode without [layout]: SCALE-Sim's 10 words/cycle for IFMAP and filter, Bandwidth
    # for the OFMAP drain.
    function, kwargs = files.simulate_arguments(
        config, files.read_topology(_topology(tmp_path, "gemm"), "gemm"))
    assert function == "simulate" and kwargs["M"].tolist() == [20, 5, 1]
    assert (kwargs["bandwidth"], kwargs["ifmap_bank_bandwidth"], kwargs["filter_bank_bandwidth"],
            kwargs["ifmap_banks"], kwargs["ifmap_bank_ports"], kwargs["read_request_buffer"],
            kwargs["mode"], kwargs["layout"]) == (4, 10, 10, 10, 2, 60, "user", None)


def _config_text(**changes):
    text = FULL_CONFIG.format(run_name="t", rows=8, cols=4, bw=2, df="os", mode="USER")
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


BAD_CONFIGS = [
    ({"ArrayHeight:    8": "ArrayHeight: 0"}, r"\[architecture_presets\] ArrayHeight must be an integer in \[1, 16384\], got '0'"),
    ({"ArrayWidth:     4": "ArrayWidth: 4.5"}, r"ArrayWidth must be an integer in \[1, 16384\]"),
    ({"Dataflow : os": "Dataflow : OS"}, r"Dataflow must be one of os, ws, is, got 'OS'"),
    ({"InterfaceBandwidth: USER": "InterfaceBandwidth: user"}, r"InterfaceBandwidth must be one of CALC, USER"),
    ({"IfmapOffset:    5": "IfmapOffset: -1"}, r"IfmapOffset must be an integer in \[0, "),
    ({"Bandwidth : 2": "Bandwidth : 2,x"}, r"Bandwidth must be integers"),
    ({"IfmapCustomLayout: False": "IfmapCustomLayout: maybe"}, r"IfmapCustomLayout must be True or False"),
    ({"run_name = t": "run_name = ../up"}, r"run_name must be a folder name"),
    ({"[sparsity]": "[sparsity]\nNonZeroElems: 2"}, r"\[sparsity\] unknown key 'nonzeroelems'"),
    ({"[general]": "[network_presets]\nTopologyCsvLoc: \"x.csv\"\n[general]"}, r"unknown section \[network_presets\]"),
    ({"[general]": "run_name = early\n[general]"}, r"not a SCALE-Sim config"),
    ({"ArrayWidth:     4": ""}, r"\[architecture_presets\] ArrayWidth is missing"),
]


@pytest.mark.parametrize("changes,message", BAD_CONFIGS)
def test_bad_config_names_file_section_key(tmp_path, changes, message):
    path = _write(tmp_path / "bad.cfg", _config_text(**changes))
    with pytest.raises(ValueError, match=message) as err:
        files.read_config(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


REFUSED = [
    ({"SparsitySupport : false": "SparsitySupport : true"}, r"\[sparsity\] SparsitySupport = true"),
    ({"UseRamulatorTrace: False": "UseRamulatorTrace: True"}, r"\[run_presets\] UseRamulatorTrace = True"),
    ({"FilterCustomLayout: False": "FilterCustomLayout: True"}, r"\[layout\] FilterCustomLayout = True needs a layout file"),
    ({"Bandwidth : 2": "Bandwidth : 2,4"}, r"Bandwidth must be one integer"),
    ({"IfmapSRAMBankNum: 1": "IfmapSRAMBankNum: 3"}, r"IfmapSRAMBankBandwidth = 2 must be a multiple of IfmapSRAMBankNum = 3"),
]


@pytest.mark.parametrize("changes,message", REFUSED)
def test_unmodelled_features_refused_by_name(tmp_path, changes, message):
    path = _write(tmp_path / "f.cfg", _config_text(**changes))
    with pytest.raises(ValueError, match=message) as err:
        ac.systolic.run_files(path, _topology(tmp_path, "gemm"), kind="gemm")
    assert str(path) in str(err.value)


OFFSETS = {"IfmapOffset:    5": "IfmapOffset: 0", "FilterOffset:   7": "FilterOffset: 10000000",
           "OfmapOffset:    9": "OfmapOffset: 20000000"}
# The custom layout of a GEMM that stalls and has bank conflicts (SCALE-Sim runs it in <1 s).
CUSTOM = {"ArrayHeight:    8": "ArrayHeight: 4", "Bandwidth : 2": "Bandwidth : 4",
          "IfmapCustomLayout: False": "IfmapCustomLayout: True",
          "FilterCustomLayout: False": "FilterCustomLayout: True",
          "IfmapSRAMBankBandwidth: 2": "IfmapSRAMBankBandwidth: 8",
          "FilterSRAMBankBandwidth: 2": "FilterSRAMBankBandwidth: 8",
          "IfmapSRAMBankNum: 1": "IfmapSRAMBankNum: 2", "FilterSRAMBankNum: 1": "FilterSRAMBankNum: 4",
          "FilterSRAMBankPort: 2": "FilterSRAMBankPort: 1", **OFFSETS}


@pytest.mark.parametrize("df", ["os", "is"])
def test_custom_layout_report_bytes_equal_scalesim(tmp_path, df):
    from airchitect.targets.systolic.layout import Layout

    lay = Layout(ifmap_h_factor=2, ifmap_w_factor=4, num_filter_factor=2, filter_w_factor=4,
                 ifmap_interline_order=(1, 0, 2), ifmap_intraline_order=(4, 3, 5))
    # SCALE-Sim 3.0.0 applies the first row to every layer; the second must not matter.
    layout = _write(tmp_path / "lay.csv", "\n".join([
        _LAYOUT_HEADER, "l0, " + ", ".join(map(str, lay.row())) + ",", f"l1, {_LAYOUT_ROW}"]) + "\n")
    config = _write(tmp_path / "c.cfg", _config_text(**CUSTOM).replace("Dataflow : os",
                                                                      f"Dataflow : {df}"))
    topology = _write(tmp_path / "g.csv", "Layer, M, N, K,\ng, 20, 12, 16,\n")
    ref = _scalesim_reports(config, topology, layout, "gemm", tmp_path / "ref")
    out = ac.systolic.run_files(config, topology, kind="gemm", layout=layout, out=tmp_path / "o")
    for name in REPORT_NAMES:
        assert (tmp_path / "o" / "t" / name).read_bytes() == ref[name], name
    assert out["stall_cycles"][0] > 0
    with pytest.raises(ValueError, match=r"IfmapCustomLayout = True needs a layout file"):
        ac.systolic.run_files(config, topology, kind="gemm")
    moved = _write(tmp_path / "m.cfg", config.read_text().replace("IfmapOffset: 0",
                                                                  "IfmapOffset: 5"))
    with pytest.raises(ValueError, match=r"m.cfg: \[architecture_presets\] IfmapOffset, "):
        ac.systolic.run_files(moved, topology, kind="gemm", layout=layout)


@pytest.mark.parametrize("kind,df", [("gemm", "os"), ("conv", "ws")])
def test_per_operand_dram_bandwidths_bytes_equal_scalesim(tmp_path, kind, df):
    # USER mode: IFMAP fetched at IfmapSRAMBankBandwidth, filter at FilterSRAMBankBandwidth,
    # the OFMAP drained at Bandwidth.
    config = _write(tmp_path / "c.cfg", _config_text(**{
        "IfmapSRAMBankBandwidth: 2": "IfmapSRAMBankBandwidth: 4",
        "FilterSRAMBankBandwidth: 2": "FilterSRAMBankBandwidth: 3",
        "Dataflow : os": f"Dataflow : {df}"}))
    topology, layout = _topology(tmp_path, kind), _layout(tmp_path)
    ref = _scalesim_reports(config, topology, layout, kind, tmp_path / "ref")
    ac.systolic.run_files(config, topology, kind=kind, out=tmp_path / "o")
    for name in REPORT_NAMES:
        assert (tmp_path / "o" / "t" / name).read_bytes() == ref[name], name


def test_calc_mode_ignores_bandwidth_keys(tmp_path):
    text = _config_text(**{"InterfaceBandwidth: USER": "InterfaceBandwidth: CALC",
                           "FilterSRAMBankBandwidth: 2": "FilterSRAMBankBandwidth: 64",
                           "IfmapSRAMBankNum: 1": "IfmapSRAMBankNum: 3"})
    out = ac.systolic.run_files(_write(tmp_path / "c.cfg", text), _topology(tmp_path, "gemm"),
                                kind="gemm")
    direct = ac.systolic.simulate([20, 5, 1], [9, 33, 17], [13, 7, 40], 8, 4, "os", ifmap_kb=1,
                                  filter_kb=1, ofmap_kb=1)
    pd.testing.assert_frame_equal(out.drop(columns=["layer_id", "layer"]), direct)


def test_topology_reading_as_scalesim(tmp_path):
    text = (CONV_HEADER + "\n\nconvA ,224 ,224 ,11 ,11 ,3 ,96 ,4 ,\n  b_DP, 5, 6, 3, 2, 4, 9, 2, 1:1,\n")
    topo = files.read_topology(_write(tmp_path / "t.csv", text))
    assert topo.names == ("convA", "b_DPChannel_0", "b_DPChannel_1", "b_DPChannel_2",
                          "b_DPChannel_3")
    assert topo.table.tolist() == [[224, 224, 11, 11, 3, 96, 4]] + [[5, 6, 3, 2, 1, 9, 2]] * 4
    assert topo.lines.tolist() == [3, 4, 4, 4, 4]
    # The reader SCALE-Sim uses gives the same layers.
    from scalesim.topology_utils import topologies

    ref = topologies()
    ref.load_arrays(str(tmp_path / "t.csv"))
    assert [row[0] for row in ref.topo_arrays] == list(topo.names)
    assert [row[1:8] for row in ref.topo_arrays] == [r[:6] + [r[6]] for r in topo.table.tolist()]
    gemm = files.read_topology(_write(tmp_path / "g.csv", "Layer,M,N,K,\nQKT,1024,1024,64,\n"),
                               kind="gemm")
    assert gemm.table.tolist() == [[1024, 1024, 64]] and gemm.kind == "gemm"


BAD_TOPOLOGIES = [
    ("c1, 9, 9, 3, 3, 2, 5, 2", r"line 2: must end with a comma"),
    ("c1, 9, 9, 3, 3, 2, 5,", r"line 2: a conv row has a name"),
    ("c1, 9, 9, 3, x, 2, 5, 2,", r"line 2: Filter Width must be an integer in \[1, "),
    ("c1, 9, 9, 10, 3, 2, 5, 2,", r"line 2: Filter Height must be an integer in \[1, IFMAP Height = 9\]"),
    ("c1, 9, 9, 3, 3, 0, 5, 2,", r"line 2: Channels must be an integer in \[1, "),
    ("c1, 9, 9, 3, 3, 2, 5, 2, 2:x,", r"line 2: the sparsity ratio must be N:M"),
]


@pytest.mark.parametrize("row,message", BAD_TOPOLOGIES)
def test_malformed_topology_names_file_and_line(tmp_path, row, message):
    path = _write(tmp_path / "bad.csv", CONV_HEADER + "\n" + row + "\n")
    with pytest.raises(ValueError, match=message) as err:
        files.read_topology(path)
    assert str(path) in str(err.value)


def test_sparse_topology_row_refused(tmp_path):
    topo = _write(tmp_path / "s.csv", "Layer, M, N, K,\nfc, 4, 5, 6, 2:4,\n")
    config = _write(tmp_path / "c.cfg", _config_text())
    with pytest.raises(ValueError, match=r"s.csv: line 2: sparsity ratio 2:4"):
        ac.systolic.run_files(config, topo, kind="gemm")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such config file"):
        files.read_config(tmp_path / "none.cfg")
    with pytest.raises(FileNotFoundError, match="no such topology file"):
        files.read_topology(tmp_path / "none.csv")
    with pytest.raises(ValueError, match="no layers"):
        files.read_topology(_write(tmp_path / "e.csv", CONV_HEADER + "\n"))
    with pytest.raises(ValueError, match="kind must be one of conv, gemm, auto, got 'fc'"):
        files.read_topology(_write(tmp_path / "k.csv", CONV_HEADER + "\n"), kind="fc")


@pytest.mark.parametrize("header, kind", [
    ("Layer, M, N, K,", "gemm"), ("layer,m,n,k,", "gemm"), ("Layer, M, N, K, Sparsity,", "gemm"),
    (CONV_HEADER, "conv"), ("name, a, b, c, d, e, f, g,", "conv"),
])
def test_auto_kind_reads_the_header(tmp_path, header, kind):
    row = "x, 4, 5, 6," if kind == "gemm" else "x, 9, 9, 3, 3, 2, 4, 1,"
    topology = files.read_topology(_write(tmp_path / "t.csv", f"{header}\n{row}\n"), kind="auto")
    assert topology.kind == kind and len(topology) == 1


def test_depthwise_expansion_bounded_before_expanding(tmp_path):
    row = f"x_DP, 3, 3, 1, 1, {files.MAX_LAYERS + 1}, 1, 1,"
    with pytest.raises(ValueError, match="MAX_LAYERS"):
        files.read_topology(_write(tmp_path / "dp.csv", CONV_HEADER + "\n" + row + "\n"))


def test_layout_reading(tmp_path):
    layout = files.read_layout(_layout(tmp_path, 2))
    assert layout.names == ("l0", "l1") and layout.table.shape == (2, 20)
    assert layout.table[0].tolist() == [1] * 6 + [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 7]
    bad = _write(tmp_path / "bad.csv", _LAYOUT_HEADER + "\nl0, 1, 1,\n")
    with pytest.raises(ValueError, match=r"bad.csv: line 2: a layout row has a name and 20"):
        files.read_layout(bad)


def test_report_text_refuses_nan_and_writes_nothing(tmp_path):
    row = {c: 1 for name in REPORT_NAMES for c in REPORTS[name][1]}
    row["avg_ofmap_dram_bw"] = np.nan
    with pytest.raises(ValueError, match="avg_ofmap_dram_bw of layer 0"):
        write_reports(pd.DataFrame([row]), tmp_path / "r")
    assert not (tmp_path / "r").exists()
    # Floats print at full precision (repr), cycles as floats, counts as integers.
    row.update(avg_ofmap_dram_bw=0.1 + 0.2, sram_ifmap_start_cycle=-3, sram_ifmap_reads=7.0)
    text = report_text(pd.DataFrame([row]), "DETAILED_ACCESS_REPORT.csv").splitlines()[1]
    assert text.startswith("0, -3.0, 1.0, 7, ") and text.endswith(", 1,")
    bw = report_text(pd.DataFrame([row]), "BANDWIDTH_REPORT.csv").splitlines()[1]
    assert bw == "0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.30000000000000004,"


def test_report_text_same_from_dict_of_columns(tmp_path):
    row = {c: 1 for name in REPORT_NAMES for c in REPORTS[name][1]}
    row.update(avg_ofmap_dram_bw=0.1 + 0.2, sram_ifmap_start_cycle=-3, sram_ifmap_reads=7.0)
    table = {c: np.array([v, v]) for c, v in row.items()}
    for name in REPORT_NAMES:
        assert report_text(table, name) == report_text(pd.DataFrame(table), name)
    assert report_text(table, "BANDWIDTH_REPORT.csv").splitlines()[2] == (
        "1, 1.0, 1.0, 1.0, 1.0, 1.0, 0.30000000000000004,")
    del table["avg_ofmap_dram_bw"]
    with pytest.raises(ValueError, match="lacks the columns avg_ofmap_dram_bw"):
        report_text(table, "BANDWIDTH_REPORT.csv")


def test_rewritten_files_are_read_again(tmp_path):
    # run_files keeps parses keyed by path and text: a file rewritten in place gives the new run.
    config = _write(tmp_path / "c.cfg", _config_text())
    topo = _write(tmp_path / "t.csv", "Layer, M, N, K,\nfc, 4, 5, 6,\n")
    first = ac.systolic.run_files(config, topo, kind="gemm", convention="corrected")
    _write(topo, "Layer, M, N, K,\nfc, 40, 5, 6,\nfc2, 4, 5, 6,\n")
    second = ac.systolic.run_files(config, topo, kind="gemm", convention="corrected")
    assert second["M"].tolist() == [40, 4] and second["layer"].tolist() == ["fc", "fc2"]
    pd.testing.assert_frame_equal(
        second.iloc[1:].reset_index(drop=True).drop(columns=["layer_id", "layer"]),
        first.drop(columns=["layer_id", "layer"]))
    assert first["total_cycles"].tolist() != second["total_cycles"].tolist()[:1]
    _write(config, _config_text().replace("ArrayWidth:     4", "ArrayWidth:     2"))
    third = ac.systolic.run_files(config, topo, kind="gemm", convention="corrected")
    direct = ac.systolic.simulate([40, 4], 5, 6, 8, 2, "os", ifmap_kb=1, filter_kb=1, ofmap_kb=1,
                                  bandwidth=2, mode="user", convention="corrected")
    pd.testing.assert_frame_equal(third.drop(columns=["layer_id", "layer"]), direct)
    # the reader's own result is the caller's to change; run_files' parses are not shared
    table = files.read_topology(topo, kind="gemm").table
    table[0, 0] = 1
    assert ac.systolic.run_files(config, topo, kind="gemm")["M"].tolist() == [40, 4]


def test_directory_is_no_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r": a folder, not a config file$"):
        files.read_config(tmp_path)
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(FileNotFoundError, match=r"pipe: not a regular file, not a topology file$"):
        files.read_topology(tmp_path / "pipe")

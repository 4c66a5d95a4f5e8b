"""``airchitect simulate -c CONFIG -t TOPOLOGY``: the SCALE-Sim drop-in on the command line."""

import contextlib
import io
import json
import subprocess
import sys

import pytest

from airchitect.cli import main
from airchitect.targets.systolic.reports import REPORTS

# configs/scale.cfg's keys with SCALE-Sim's values, a small array and small SRAMs.
CONFIG = """[general]
run_name = cli_run

[architecture_presets]
ArrayHeight:    8
ArrayWidth:     4
IfmapSramSzkB:   1
FilterSramSzkB:  1
OfmapSramSzkB:   1
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 2
Dataflow : ws
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 2
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 2
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
GEMM = "Layer, M, N, K,\ng1, 20, 9, 13,\ng2, 5, 33, 7,\n"
CONV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
        "Num Filter, Strides,\nc1, 9, 9, 3, 3, 2, 5, 2,\nd_DP, 6, 6, 2, 2, 2, 1, 1,\n")


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "run.cfg").write_text(CONFIG.format(mode="USER"))
    (tmp_path / "gemm.csv").write_text(GEMM)
    (tmp_path / "conv.csv").write_text(CONV)
    return tmp_path


def _scalesim(config, topology, kind, out):
    from scalesim.scale_sim import scalesim
    from airchitect.targets.systolic.scalesim import layout_text

    layout = out.parent / "layout.csv"
    layout.write_text(layout_text(4))
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=str(config),
                       topology=str(topology), layout=str(layout), input_type_gemm=kind == "gemm")
        sim.run_scale(top_path=str(out))
    return out / "cli_run"


@pytest.mark.parametrize("kind", ["gemm", "conv"])
def test_reports_byte_equal_and_json(inputs, kind):
    argv = ["simulate", "-c", str(inputs / "run.cfg"), "-t", str(inputs / f"{kind}.csv"),
            "-p", str(inputs / "ours"), "--json"]
    if kind == "gemm":
        argv[5:5] = ["-i", "gemm"]
    code, out, err = _run(argv)
    assert code == 0 and err == ""
    record = json.loads(out)
    ref = _scalesim(inputs / "run.cfg", inputs / f"{kind}.csv", kind, inputs / "ref")
    for name in REPORTS:
        assert (inputs / "ours" / "cli_run" / name).read_bytes() == (ref / name).read_bytes()
    assert record["report_dir"] == str(inputs / "ours" / "cli_run")
    assert len(record["layers"]) == (2 if kind == "gemm" else 3)
    # --json keeps every float digit: the report prints the same value with repr.
    bandwidth = (ref / "BANDWIDTH_REPORT.csv").read_text().splitlines()[1].split(", ")
    assert repr(record["layers"][0]["avg_ifmap_sram_bw"]) == bandwidth[1]


def test_note_for_defaults_on_stderr(inputs):
    text = CONFIG.format(mode="CALC").split("[layout]")[0] + "[sparsity]" + \
        CONFIG.split("[sparsity]")[1].format(mode="CALC")
    (inputs / "nolayout.cfg").write_text(text.replace("UseRamulatorTrace: False\n", ""))
    code, out, err = _run(["simulate", "-c", str(inputs / "nolayout.cfg"), "-t",
                           str(inputs / "conv.csv"), "-p", str(inputs / "o")])
    assert code == 0
    assert err.count("\n") == 1 and "read with SCALE-Sim's defaults" in err
    assert "run_presets.UseRamulatorTrace=False" in err and "layout.IfmapSRAMBankNum=10" in err
    assert f"reports: {inputs / 'o' / 'cli_run'}" in out


def _bad(tmp, name, text):
    (tmp / name).write_text(text)
    return str(tmp / name)


HOSTILE = [
    (lambda t: ["-c", str(t / "none.cfg"), "-t", str(t / "gemm.csv")], "no such config file"),
    (lambda t: ["-c", str(t / "run.cfg"), "-t", str(t / "none.csv")], "no such topology file"),
    (lambda t: ["-c", _bad(t, "b.cfg", CONFIG.format(mode="USER").replace("ArrayHeight:    8",
                                                                          "ArrayHeight: 99999")),
                "-t", str(t / "conv.csv")],
     r"b.cfg: [architecture_presets] ArrayHeight must be an integer in [1, 16384]"),
    (lambda t: ["-c", _bad(t, "u.cfg", CONFIG.format(mode="USER") + "Speed: 3\n"),
                "-t", str(t / "conv.csv")], "[run_presets] unknown key 'speed'"),
    (lambda t: ["-c", _bad(t, "s.cfg", CONFIG.format(mode="USER").replace(
        "SparsitySupport : false", "SparsitySupport : true")), "-t", str(t / "conv.csv")],
     "[sparsity] SparsitySupport = true"),
    (lambda t: ["-c", _bad(t, "r.cfg", CONFIG.format(mode="USER").replace(
        "UseRamulatorTrace: False", "UseRamulatorTrace: True")), "-t", str(t / "conv.csv")],
     "[run_presets] UseRamulatorTrace = True"),
    (lambda t: ["-c", str(t / "run.cfg"), "-t", _bad(t, "m.csv", GEMM + "g3, 4, x, 2,\n"),
                "-i", "gemm"], "m.csv: line 4: N must be an integer"),
    (lambda t: ["-c", str(t / "run.cfg"), "-t", str(t / "gemm.csv"), "-i", "fc"],
     "-i/--input-type must be one of conv, gemm"),
    (lambda t: ["-c", str(t / "run.cfg"), "-t", str(t / "gemm.csv"), "--rows", "4"],
     "drop --rows"),
    (lambda t: ["-c", str(t / "run.cfg")], "needs -t/--topology"),
    (lambda t: ["-t", str(t / "gemm.csv")], "need -c/--config"),
    (lambda t: ["-c", str(t / "run.cfg"), "-t", str(t / "gemm.csv"), "-s", "Y"],
     "traces are not written"),
]


@pytest.mark.parametrize("make_argv,message", HOSTILE)
def test_hostile_inputs_exit_2_one_line(inputs, make_argv, message):
    code, out, err = _run(["simulate", *make_argv(inputs), "-p", str(inputs / "o")])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (inputs / "o").exists()


def test_conv_layer_flag_matches_simulate_conv(capsys):
    import airchitect as ac

    assert main(["simulate", "--conv", "7", "7", "3", "3", "2", "4", "2", "--rows", "4", "--cols",
                 "4", "--dataflow", "os", "--per-layer", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = ac.systolic.simulate_conv(7, 7, 3, 3, 2, 4, 2, 4, 4, "os")
    assert len(out) == 1 and out[0]["total_cycles"] == int(ref["total_cycles"][0]) == 71
    assert out[0]["overall_util"] == float(ref["overall_util"][0])  # full precision
    assert out[0]["M"] == 9 and out[0]["K"] == 18 and out[0]["stride"] == 2


def test_conv_flag_with_gemm_flags_exit_2():
    code, _, err = _run(["simulate", "--conv", "7", "7", "3", "3", "2", "4", "2", "--M", "4"])
    assert code == 2 and "give one of --conv" in err


def test_json_keeps_full_float_precision(capsys):
    # os, M=4 N=5 K=6 on 8x4: overall_util = 120 * 100 / (31 * 32), more than 10 decimals.
    assert main(["simulate", "--M", "4", "--N", "5", "--K", "6", "--rows", "8", "--cols", "4",
                 "--dataflow", "os", "--per-layer", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["overall_util"] == 120 * 100 / (31 * 32)


def test_subprocess_drop_in(inputs):
    proc = subprocess.run([sys.executable, "-m", "airchitect", "simulate", "-c",
                           str(inputs / "run.cfg"), "-t", str(inputs / "gemm.csv"), "-i", "gemm",
                           "-p", str(inputs / "sub")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (inputs / "sub" / "cli_run").iterdir()) == sorted(REPORTS)

"""``airchitect simulate``: output and exit codes."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from airchitect.cli import main


def test_json_gemm_matches_hand_count(capsys):
    # os, M=4 N=5 K=6 on 8x4: 2 folds of 6 + 8 + 4 - 2 = 16 cycles -> 31.
    assert main(["simulate", "--M", "4", "--N", "5", "--K", "6", "--rows", "8", "--cols", "4",
                 "--dataflow", "os", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["total_cycles"] == 31 and out[0]["sram_ofmap_writes"] == 44


def test_per_layer_table(capsys):
    assert main(["simulate", "--M", "64", "--N", "64", "--K", "64", "--rows", "8", "16",
                 "--cols", "8", "--dataflow", "ws", "is", "--per-layer", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 4 and {r["rows"] for r in out} == {8, 16}


def test_a_run_of_zero_cycles_has_no_utilization(capsys):
    # 1x1x1 on a 1x1 os array: one fold of K + R + C - 2 = 1 cycle, less the 1 that every
    # run loses (as 2 x 16 - 1 = 31 above): 0 cycles
    argv = ["simulate", "--M", "1", "--N", "1", "--K", "1", "--rows", "1", "--cols", "1", "--dataflow", "os"]
    for extra in ([], ["--per-layer"]):
        assert main([*argv, *extra, "--json"]) == 0
        record = json.loads(capsys.readouterr().out)[0]
        assert record["total_cycles"] == 0 and record["overall_util"] is None
        assert main([*argv, *extra]) == 0
        text = capsys.readouterr().out
        assert "NaN" in text and "inf" not in text


BAD = [
    ["--M", "0", "--N", "1", "--K", "1"],
    ["--M", "4", "--N", "4"],
    ["--M", "4", "--N", "4", "--K", "4", "--rows", "0"],
    ["--M", "4", "--N", "4", "--K", "4", "--cols", "20000"],
    ["--M", "4", "--N", "4", "--K", "4", "--dataflow", "xs"],
    ["--M", "4", "--N", "4", "--K", "4", "--backend", "gpu"],
    ["--M", "4", "--N", "4", "--K", "4", "--ofmap-kb", "0"],
    ["--M", "4", "--N", "4", "--K", "4", "--mode", "fast"],
    ["--M", "x"],
]


@pytest.mark.parametrize("argv", BAD)
def test_bad_input_exit_2_one_line(argv, capsys):
    with pytest.raises(SystemExit) if "x" in argv else _nothing():
        code = main(["simulate", *argv])
        assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(["--M", "--N", "--K", "--rows", "--cols", "--ifmap-kb", "--bandwidth"]),
       st.integers(-5, 0))
def test_bad_numbers_exit_2(flag, value):
    argv = ["simulate", "--M", "4", "--N", "4", "--K", "4", flag, str(value)]
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 2
    assert len(err.getvalue().strip().splitlines()) == 1


def test_subprocess_bad_input_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "airchitect", "simulate", "--M", "-1", "--N", "1",
                           "--K", "1"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr

"""Bad input to ``codesign``, ``train`` and ``simulate``: exit code 2 and one line on stderr
naming the flag, and ``--json`` output that is strict JSON."""

import contextlib
import io
import json

import pytest

from airchitect.cli import finite_json, main

MODULE = """import torch.nn as nn
net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(288, 10))


class Forever(nn.Module):
    def forward(self, x):
        return self.forward(x)


forever = Forever()
"""

BUDGET = ["--max-macs", "256", "--sram-kb", "64"]


def _run(argv, cwd):
    """``(exit_code, stdout, stderr)`` of the command run in this process from ``cwd``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def _refused(argv, cwd):
    """The one stderr line of a command that must exit with code 2."""
    code, out, err = _run(argv, cwd)
    lines = err.strip().splitlines()
    assert code == 2, (argv, code, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert out == ""
    return lines[0]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    code, _, err = _run(["dataset", "generate", "--task", "array", "--workloads", "40", "--seed", "0",
                         "--out", "ds", "--quiet", "--workers", "1"], root)
    assert code == 0, err
    return root / "ds"


# -- codesign --module: a forward that fails on --input-shape ---------------------------------


def test_codesign_module_failing_forward(tmp_path):
    (tmp_path / "m.py").write_text(MODULE)
    line = _refused(["codesign", "--module", "m.py:net", "--input-shape", "1,1,8,8", *BUDGET], tmp_path)
    assert line.startswith("airchitect codesign: error: module fails on an input of shape "
                           "(1, 1, 8, 8): RuntimeError: ")


def test_codesign_module_forward_recursing_forever(tmp_path):
    (tmp_path / "m.py").write_text(MODULE)
    line = _refused(["codesign", "--module", "m.py:forever", "--input-shape", "1,1,8,8", *BUDGET],
                    tmp_path)
    assert "module fails on an input of shape (1, 1, 8, 8): RecursionError" in line


# -- codesign --csv reads a file, whatever its name --------------------------------------------


def test_codesign_csv_reads_any_file_name(tmp_path):
    (tmp_path / "g.txt").write_text("M,N,K\n64,64,64\n128,64,32\n")
    (tmp_path / "g.csv").write_text("M,N,K\n64,64,64\n128,64,32\n")
    code, out, err = _run(["codesign", "--csv", "g.txt", *BUDGET, "--json"], tmp_path)
    assert code == 0, err
    txt = json.loads(out)
    code, out, err = _run(["codesign", "--csv", "g.csv", *BUDGET, "--json"], tmp_path)
    want = json.loads(out)
    assert txt["network"] == "g" and txt["cycles"] == want["cycles"] > 0
    assert txt["config"] == want["config"] and len(txt["layers"]) == 2


@pytest.mark.parametrize("value, message", [
    ("bert-base-128", "--csv: bert-base-128: no such file"),
    ("missing.csv", "--csv: missing.csv: no such file"),
    ("folder", "--csv: folder: is a folder, not a GEMM table file"),
])
def test_codesign_csv_missing_or_folder(tmp_path, value, message):
    (tmp_path / "folder").mkdir()
    line = _refused(["codesign", "--csv", value, *BUDGET], tmp_path)
    assert line == f"airchitect codesign: error: {message}"


def test_codesign_csv_bad_row_names_the_file(tmp_path):
    (tmp_path / "bad.txt").write_text("M,N,K\n0,64,64\n")
    line = _refused(["codesign", "--csv", "bad.txt", *BUDGET], tmp_path)
    assert "bad.txt: line 2: M must be an integer in [1, 2147483647]" in line


def test_codesign_network_is_a_name_not_a_file(tmp_path):
    (tmp_path / "g.csv").write_text("M,N,K\n64,64,64\n")
    line = _refused(["codesign", "--network", "g.csv", *BUDGET], tmp_path)
    assert "--network must be one of resnet50," in line and "got 'g.csv'" in line


# -- empty strings are refused, never taken as "not given" -------------------------------------


@pytest.mark.parametrize("argv, flag", [
    (["train", "--data", "ds", "--out", ""], "--out"),
    (["train", "--data", "", "--out", "m"], "--data"),
    (["simulate", "-c", "scale.cfg", "-t", "conv.csv", "-p", ""], "-p/--path"),
    (["simulate", "--network", ""], "--network"),
    (["simulate", "--M", "4", "--N", "4", "--K", "4", "--dataflow", "os", ""], "--dataflow"),
    (["codesign", "--network", "", *BUDGET], "--network"),
    (["codesign", "--csv", "", *BUDGET], "--csv"),
    (["codesign", "--module", "", "--input-shape", "1,3,8,8"], "--module"),
    (["compile", "--target", "cim", "--out", ""], "--out"),
    (["dataset", "generate", "--task", "array", "--workloads", "3", "--out", ""], "--out"),
])
def test_empty_string_flags_refused(tmp_path, argv, flag):
    line = _refused(argv, tmp_path)
    assert line.endswith(f": error: {flag} must not be empty")
    assert list(tmp_path.iterdir()) == []  # nothing written into the current folder


# -- train: models of the task, --epochs, --seed -----------------------------------------------


def test_train_model_the_task_has_no_features_for(dataset, tmp_path):
    line = _refused(["train", "--data", dataset, "--model", "boosted", "--out", "m"], tmp_path)
    assert "--model boosted cannot learn task 'array'" in line
    assert line.endswith("models for it: airchitect, resmlp, ordinal, surrogate")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("epochs", ["0", "-1", str(10**20), "10001"])
def test_train_epochs_out_of_range(dataset, tmp_path, epochs):
    line = _refused(["train", "--data", dataset, "--model", "resmlp", "--epochs", epochs,
                     "--out", "m"], tmp_path)
    assert line == f"airchitect train: error: --epochs must be an integer in [1, 10000], got {epochs}"


def test_train_epochs_for_a_model_without_epochs(dataset, tmp_path):
    line = _refused(["train", "--data", dataset, "--model", "surrogate", "--epochs", "1",
                     "--out", "m"], tmp_path)
    assert line == ("airchitect train: error: --epochs: model 'surrogate' is not trained by epochs; "
                    "drop --epochs")


def test_train_negative_seed(dataset, tmp_path):
    line = _refused(["train", "--data", dataset, "--seed", "-1", "--out", "m"], tmp_path)
    assert line == "airchitect train: error: --seed must be an integer in [0, 4294967295], got -1"


def test_train_epochs_help_names_the_bound(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "1..10000" in " ".join(capsys.readouterr().out.split())


# -- simulate: zero-cycle runs in JSON, SCALE-Sim's own failures --------------------------------


def test_simulate_zero_cycles_json_is_strict(tmp_path):
    code, out, err = _run(["simulate", "--M", "1", "--N", "1", "--K", "1", "--rows", "1", "--cols", "1",
                           "--json"], tmp_path)
    assert code == 0 and err == ""
    records = json.loads(out, parse_constant=lambda token: pytest.fail(f"{token} in JSON"))
    by_flow = {r["dataflow"]: r for r in records}
    assert by_flow["os"]["total_cycles"] == 0 and by_flow["os"]["overall_util"] is None
    assert by_flow["ws"]["total_cycles"] == 1 and by_flow["ws"]["overall_util"] == 100.0


def test_simulate_zero_cycles_per_layer_json_is_strict(tmp_path):
    code, out, err = _run(["simulate", "--M", "1", "--N", "1", "--K", "1", "--rows", "1", "--cols", "1",
                           "--dataflow", "os", "--per-layer", "--json"], tmp_path)
    assert code == 0
    record = json.loads(out, parse_constant=lambda token: pytest.fail(f"{token} in JSON"))[0]
    assert record["total_cycles"] == 0 and record["overall_util"] is None
    assert record["avg_ifmap_sram_bw"] is None and record["sram_ofmap_writes"] == 3


def test_simulate_zero_cycles_table_has_no_inf(tmp_path):
    code, out, _ = _run(["simulate", "--M", "1", "--N", "1", "--K", "1", "--rows", "1", "--cols", "1",
                         "--dataflow", "os"], tmp_path)
    assert code == 0 and "inf" not in out and "NaN" in out


def test_simulate_scalesim_failure_is_one_line(tmp_path):
    line = _refused(["simulate", "--M", "1", "--N", "1", "--K", "1", "--rows", "1", "--cols", "1",
                     "--backend", "scalesim", "--dataflow", "os"], tmp_path)
    assert line == ("airchitect simulate: error: --backend scalesim: SCALE-Sim 3.0.0 fails on layer gemm "
                    "on a 1x1 array, dataflow os (ZeroDivisionError: division by zero)")


def test_finite_json_nested():
    import numpy as np

    value = {"a": [1.0, float("inf"), np.float64("nan")], "b": (np.int64(3), -float("inf")), "c": "x"}
    assert finite_json(value) == {"a": [1.0, None, None], "b": [3, None], "c": "x"}
    assert json.dumps(finite_json(value), allow_nan=False) == '{"a": [1.0, null, null], "b": [3, null], "c": "x"}'


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--M", "4", "--N", "4", "--K", "4", "--rows", "4", "--cols", "4", "--mode", "user",
      "--ifmap-kb", "0"], "airchitect simulate: error: --ifmap-kb must be integers in [1, 2147483647], got 0"),
    (["dataset", "generate", "--task", "array", "--workloads", "0", "--out", "d"],
     "airchitect dataset: error: --workloads must be an integer in [1, 1000000000], got 0"),
    (["dataset", "generate", "--task", "array", "--workloads", "8", "--out", "d", "--shard-rows", "0"],
     "airchitect dataset: error: --shard-rows must be an integer in [1, 2147483647], got 0"),
    (["codesign", "--network", "resnet50", "--max-macs", "1000"],
     "airchitect codesign: error: resnet50: --max-macs must be one of the task's budgets 256, 512, 1024, "
     "2048, 4096, 8192, 16384, 32768, 65536, got 1000"),
    (["compile", "--target", "cim", "--bits", "1", "--out", "p.json"],
     "airchitect compile: error: --bits must be an integer in [2, 16], got 1"),
    (["evaluate", "--model", "no/such/dir", "--data", "d"],
     "airchitect evaluate: error: --model 'no/such/dir' is neither a saved predictor directory nor a task "
     "name (array, buffer, multiarray, cim, sve, cim-schedule, codesign)"),
    # a word that is also a flag's name, but not as "NAME must", is left alone
    (["codesign", "--module", "m.py:net", "--input-shape", "1,1,8,8", *BUDGET],
     "airchitect codesign: error: module fails on an input of shape (1, 1, 8, 8): RuntimeError:"),
])
def test_errors_name_the_flag_not_the_library_argument(tmp_path, argv, message):
    (tmp_path / "m.py").write_text(MODULE)
    assert _refused(argv, tmp_path).startswith(message)
    assert list(p.name for p in tmp_path.iterdir()) == ["m.py"]

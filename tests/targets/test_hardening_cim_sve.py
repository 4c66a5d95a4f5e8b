"""Limits and input checks of the cim and sve families, their tasks, backends and CLI."""

import importlib
import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import airchitect as ac
from airchitect import cli
from airchitect.backends import iree
from airchitect.targets.cim import cost as cim_cost
from airchitect.targets.cim import functional, precision
from airchitect.tasks import cim as cim_space
from airchitect.targets.sve import config as sve_config

cim_schedule = importlib.import_module("airchitect.targets.cim.schedule")

CIM_QUERY = dict(P=100, n=64, m=64, w_bits=8, in_bits=8, n_xbars=1024, adc_bits=1)
PAIR_QUERY = dict(H=8, c_in=64, c_mid=64, c_out=64, k1=3, k2=3, n_pes=1)


# -- 1. work and memory limits ---------------------------------------------------

def test_mmt4d_refuses_huge_tiles_before_allocating():
    with pytest.raises(ValueError, match=r"m0=1048576.*limit 134217728"):
        ac.sve.mmt4d(np.ones((3, 4)), np.ones((4, 5)), 2**20, 2**20, 2**20)
    a, b = np.arange(12).reshape(3, 4), np.ones((4, 5), dtype=int)
    assert np.array_equal(ac.sve.mmt4d(a, b, 2, 4, 3), a @ b)


def test_mmt4d_refuses_work_past_the_mac_limit():
    a = b = np.broadcast_to(0.0, (4100, 4100))
    with pytest.raises(ValueError, match=f"multiply-adds, more than the limit {sve_config.MAX_MACS}"):
        ac.sve.mmt4d(a, b, 1, 1, 1)


def test_simulate_limits_rows():
    big = np.arange(1, 3000)
    with pytest.raises(ValueError, match=f"limit {sve_config.MAX_ROWS}"):
        ac.sve.simulate(big[:, None], big, 5, 128, 1, 1, 1)
    with pytest.raises(ValueError, match=f"limit {cim_cost.MAX_ROWS}"):
        ac.cim.simulate(big[:, None], big, 5, 8, 8)


def test_schedule_refuses_huge_m_and_timelines():
    table = pd.DataFrame({"M": [2**40], "N": [4], "K": [4]})
    with pytest.raises(ValueError, match=f"sets .*limit {cim_schedule.MAX_SETS}.*set_rows"):
        ac.cim.schedule(table, 4)
    wide = pd.DataFrame({"M": [2**20], "N": [2**14], "K": [2**12]})
    with pytest.raises(ValueError, match=f"timeline .*limit {cim_schedule.MAX_TIMELINE_ROWS}"):
        ac.cim.schedule(wide, 2**24)


def test_mvm_refuses_huge_matrices_and_reads():
    with pytest.raises(ValueError, match=f"cells .*limit {functional.MAX_CELLS}"):
        ac.cim.program(np.full((8192, 8192), 100, dtype=np.int16), cell_bits=1)
    layer = ac.cim.program(np.full((64, 256), 100), cell_bits=1)
    x = np.full((2**16, 256), 255)
    with pytest.raises(ValueError, match=f"limit {functional.MAX_READ_VALUES}; pass at most"):
        layer.mvm(x)


def test_precision_search_refuses_too_much_work():
    with pytest.raises(ValueError, match="sample inferences"):
        precision._check_work(200, 9, "greedy", 200, 10**5)
    with pytest.raises(ValueError, match="layers, more than the limit"):
        precision._check_work(precision.MAX_LAYERS + 1, 9, "random", 200, 10)
    precision._check_work(4, 9, "greedy", 200, 360)


def test_iree_compile_refuses_huge_shapes_and_tiles(tmp_path):
    out = tmp_path / "g.vmfb"
    with pytest.raises(ValueError, match="M must be an integer in"):
        iree.compile_gemm(2**21, 4, 4, 256, out)
    with pytest.raises(ValueError, match="m0 must be an integer in"):
        iree.compile_gemm(4, 4, 4, 256, out, m0=10**6)
    with pytest.raises(ValueError, match="packed elements"):
        iree.compile_gemm(2**20, 2**20, 4, 256, out)
    assert not out.exists()


def test_cim_backend_refuses_too_many_ops():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(64, 64))
    x = torch.rand(4, 64)
    with pytest.raises(ValueError, match="ops"):
        ac.backends.cim.compile(net, calibration=x, xbar_rows=2, xbar_cols=2, duplication=4096)
    with pytest.raises(ValueError, match="calibration must be finite"):
        ac.backends.cim.compile(net, calibration=x * float("nan"))


_UNDER_RLIMIT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import pandas as pd
    import airchitect as ac

    def vm_bytes():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

    limit = vm_bytes() + 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    try:
        np.ones(2**28)  # 2 GiB: the limit is in force
        print("unlimited")
    except MemoryError:
        print("limited")
    calls = {
        "mmt4d": lambda: ac.sve.mmt4d(np.ones((3, 4)), np.ones((4, 5)), 2**20, 2**20, 2**20),
        "schedule": lambda: ac.cim.schedule(pd.DataFrame({"M": [2**40], "N": [4], "K": [4]}), 4),
    }
    for name, call in calls.items():
        try:
            call()
            print(name, "ok")
        except ValueError as err:
            print(name, "ValueError", err)
        except MemoryError:
            print(name, "MemoryError")
""")


def test_huge_calls_fail_clearly_under_an_address_space_limit():
    done = subprocess.run([sys.executable, "-c", _UNDER_RLIMIT], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "limited"
    assert lines[1].startswith("mmt4d ValueError") and "limit" in lines[1]
    assert lines[2].startswith("schedule ValueError") and "set_rows" in lines[2]


# -- 2. infeasible queries and silent garbage ---------------------------------------

@pytest.mark.parametrize("call", ["predict", "recommend", "search", "label"])
def test_cim_infeasible_query_raises_naming_adc_bits(call):
    task = ac.tasks.get("cim")
    with pytest.raises(ValueError, match="no feasible configuration: adc_bits must be at least 5"):
        if call == "predict":
            ac.predict("cim", **CIM_QUERY)
        elif call == "recommend":
            ac.recommend("cim", **CIM_QUERY)
        elif call == "search":
            task.search(**CIM_QUERY)
        else:
            task.label(pd.DataFrame([CIM_QUERY]))


def test_cim_infeasible_query_raises_naming_n_xbars():
    query = {**CIM_QUERY, "adc_bits": 14, "n_xbars": 1, "n": 4096, "m": 4096}
    with pytest.raises(ValueError, match="n_xbars must be at least 136"):
        ac.predict("cim", **query)


def test_cim_feasibility_check_agrees_with_the_costs():
    rng = np.random.default_rng(1)
    n = 400
    rows = pd.DataFrame({
        "P": rng.integers(1, 1000, n), "n": rng.integers(1, 20000, n), "m": rng.integers(1, 8000, n),
        "w_bits": rng.integers(1, 9, n), "in_bits": rng.integers(1, 9, n),
        "n_xbars": 2 ** rng.integers(0, 15, n), "adc_bits": rng.integers(1, 16, n)})
    feasible = np.isfinite(cim_space.task_costs(rows, cim_space.design_space())).any(axis=1)
    task = ac.tasks.get("cim")
    checked = []
    for i in range(n):
        try:
            task.validate(rows.iloc[[i]])
            checked.append(True)
        except ValueError:
            checked.append(False)
    assert 0 < feasible.mean() < 1
    assert np.array_equal(checked, feasible)


@pytest.mark.parametrize("call", ["predict", "recommend", "search"])
def test_cim_schedule_infeasible_query_raises_naming_n_pes(call):
    pattern = r"no feasible configuration: n_pes must be at least 6 .*got 1"
    with pytest.raises(ValueError, match=pattern):
        if call == "search":
            ac.tasks.get("cim-schedule").search(**PAIR_QUERY)
        else:
            getattr(ac, call)("cim-schedule", **PAIR_QUERY)


def test_feasible_queries_are_unchanged():
    query = {**CIM_QUERY, "adc_bits": 14}
    rows = pd.DataFrame([query])
    best = ac.tasks.get("cim").search(**query)
    costs = cim_space.task_costs(rows, cim_space.design_space())[0]
    assert best["cost"] == costs.min() and np.isfinite(best["cost"])
    pair = {**PAIR_QUERY, "n_pes": 6}
    assert np.isfinite(ac.tasks.get("cim-schedule").search(**pair)["cost"])


def test_sve_simulate_refuses_int64_overflow():
    with pytest.raises(ValueError, match=r"M, N, K must keep every count below .*2\*\*62"):
        ac.sve.simulate(2**31 - 1, 2**31 - 1, 2**31 - 1, 128, 1, 1, 1)
    df = ac.sve.simulate(2**17, 2**17, 2**16, 128, 1, 1, 1)
    assert df.instructions[0] == 2251851354603536  # M * N * K = 2**50: exact, positive


def test_cim_simulate_refuses_int64_overflow():
    with pytest.raises(ValueError, match="P, n and m must keep every count below"):
        ac.cim.simulate(2**40, 2**31 - 1, 2**31 - 1, 8, 8)


@pytest.mark.parametrize("column, value, error", [
    ("M", 1.7, TypeError), ("M", True, TypeError), ("M", float("nan"), ValueError),
    ("count", "x", TypeError), ("K", 2**41, ValueError), ("kh", 2.5, TypeError),
])
def test_schedule_table_columns_are_checked(column, value, error):
    table = pd.DataFrame({"M": [16], "N": [4], "K": [4]}).astype(object)
    table[column] = [value]
    with pytest.raises(error, match=column):
        ac.cim.schedule(table, 4)


def test_schedule_inputs_column_is_checked():
    table = pd.DataFrame({"M": [4, 4], "N": [4, 4], "K": [4, 4], "inputs": [(), (0.5,)]})
    with pytest.raises(TypeError, match="inputs of layer 1"):
        ac.cim.schedule(table, 4)


def test_schedule_whole_float_columns_still_work():
    ints = pd.DataFrame({"M": [16, 16], "N": [2, 1], "K": [9, 18]})
    floats = ints.astype(float)
    a, b = ac.cim.schedule(ints, 4), ac.cim.schedule(floats, 4)
    assert a.makespan_us == b.makespan_us


@pytest.mark.parametrize("kwargs, error, name", [
    (dict(n_pes=True), TypeError, "n_pes"), (dict(set_rows=1.5), TypeError, "set_rows"),
    (dict(transfer_latency_us=float("nan")), ValueError, "transfer_latency_us"),
    (dict(w_bits=True), TypeError, "w_bits"),
])
def test_schedule_numeric_arguments_are_checked(kwargs, error, name):
    args = {"n_pes": 4, **kwargs}
    with pytest.raises(error, match=name):
        ac.cim.schedule(pd.DataFrame({"M": [16], "N": [4], "K": [4]}), **args)


@pytest.mark.parametrize("call, error, name", [
    (lambda: ac.cim.simulate(True, 4, 4, 8, 8), TypeError, "P"),
    (lambda: ac.cim.simulate(4, 4, 4, 8, 8, t_exec_us=float("nan")), ValueError, "t_exec_us"),
    (lambda: ac.cim.mvm([[1, 2]], [1, 2], accumulator=[float("nan")]), ValueError, "accumulator"),
    (lambda: ac.cim.mvm([[1, 2]], [1, 2], accumulator=[True]), TypeError, "accumulator"),
    (lambda: ac.cim.mvm([[1, 2]], [1, 2], in_bits=True), TypeError, "in_bits"),
    (lambda: ac.cim.mvm([[1, 2]], [1, 2], seed=True), TypeError, "seed"),
    (lambda: ac.sve.simulate(8, 8, 8, 128, True, 1, 1), TypeError, "m0"),
    (lambda: ac.sve.simulate(8, 8, float("nan"), 128, 1, 1, 1), TypeError, "K"),
    (lambda: ac.sve.mmt4d(np.ones((2, 2)), np.ones((2, 2)), 2, 2.0, 1), TypeError, "n0"),
    (lambda: precision.search_precision(budget=float("nan")), ValueError, "budget"),
])
def test_numeric_arguments_refuse_bools_and_nan(call, error, name):
    with pytest.raises(error, match=name):
        call()


# -- 3. the IREE sidecar ---------------------------------------------------------------

def _sidecar(tmp_path, **changes):
    vmfb = tmp_path / "g.vmfb"
    data = {"vmfb": str(vmfb), "vl_bits": 256, "mode": "explicit", "tile": [8, 16],
            "function": "main", "flags": ["--iree-hal-target-device=local"],
            "compiler_version": "3.13.0", "substituted": ["main_dispatch_0"], **changes}
    vmfb.with_name("g.vmfb.json").write_text(json.dumps(data))
    return vmfb


def test_valid_sidecar_loads(tmp_path):
    art = iree.Artifact.load(_sidecar(tmp_path))
    assert art.tile == (8, 16) and art.compiler_version == "3.13.0"
    assert art.substituted == ("main_dispatch_0",)


@pytest.mark.parametrize("field, value", [
    ("compiler_version", "../../../tmp/evil"), ("compiler_version", "3.13.0/../x"),
    ("compiler_version", "1.2..3"), ("compiler_version", 3.13), ("vl_bits", 300),
    ("vl_bits", True), ("mode", "fast"), ("tile", [8, "16"]), ("function", "main --x"),
    ("flags", "--a"), ("substituted", ["../x"]),
])
def test_bad_sidecar_field_is_refused(tmp_path, field, value):
    vmfb = _sidecar(tmp_path, **{field: value})
    with pytest.raises(ValueError, match=rf"g\.vmfb\.json: field {field} must be"):
        iree.Artifact.load(vmfb)


def test_sidecar_with_unknown_key_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"g\.vmfb\.json: unknown field\(s\) cache"):
        iree.Artifact.load(_sidecar(tmp_path, cache="/"))


def test_run_refuses_a_crafted_sidecar_before_any_download(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRCHITECT_SVE_CACHE", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(iree.subprocess, "run", lambda *a, **k: calls.append(a))
    vmfb = _sidecar(tmp_path, compiler_version="../../escape")
    with pytest.raises(ValueError, match="compiler_version"):
        iree.run(vmfb, [np.ones((2, 2))])
    assert calls == [] and not (tmp_path / "escape").exists()


def test_runtime_tool_keeps_paths_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRCHITECT_SVE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="version must match"):
        iree.runtime_tool(version="../x")
    with pytest.raises(ValueError, match="name must match"):
        iree.runtime_tool("../../bin/sh", version="3.13.0")
    cache = tmp_path / "cache"
    assert not cache.exists() or list(cache.iterdir()) == []


# -- 4. the compile command ----------------------------------------------------------------

def _compile(capsys, *argv):
    code = cli.main(["compile", *map(str, argv)])
    err = capsys.readouterr().err
    return code, err


def _one_line_error(code, err, *words):
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    for word in words:
        assert word in err


@pytest.mark.parametrize("target", ["sve", "cim"])
def test_compile_out_folder_is_refused(tmp_path, capsys, target):
    code, err = _compile(capsys, "--target", target, "--out", tmp_path)
    _one_line_error(code, err, "out must be a file path")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target", ["sve", "cim"])
def test_compile_out_in_missing_folder_is_refused(tmp_path, capsys, target):
    code, err = _compile(capsys, "--target", target, "--out", tmp_path / "no" / "f.out")
    _one_line_error(code, err, "existing folder")
    assert not (tmp_path / "no").exists()


def test_compile_out_under_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code, err = _compile(capsys, "--target", "cim", "--out", tmp_path / "file" / "p.json")
    _one_line_error(code, err, "existing folder")


def test_compile_out_in_unwritable_folder_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("airchitect.cli.compile.os.access", lambda path, mode: False)
    code, err = _compile(capsys, "--target", "sve", "--out", tmp_path / "g.vmfb")
    _one_line_error(code, err, "writable")


def test_compile_partial_tile_flags_are_refused(tmp_path, capsys):
    code, err = _compile(capsys, "--target", "sve", "--m0", 4, "--out", tmp_path / "g.vmfb")
    _one_line_error(code, err, "--m0, --n-v and --k0 go together", "missing --n-v, --k0")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("m0, n_v, k0, words", [
    (99, 1, 1, ("--m0 must be an integer in [1, 16]", "99")),
    (4, 5, 1, ("--n-v must be an integer in [1, 4]",)),
    (4, 1, 3, ("--k0 must be one of 1, 2, 4",)),
    (16, 4, 1, ("70 vector registers, more than 32",)),
])
def test_compile_out_of_space_tile_is_refused(tmp_path, capsys, m0, n_v, k0, words):
    code, err = _compile(capsys, "--target", "sve", "--m0", m0, "--n-v", n_v, "--k0", k0,
                         "--out", tmp_path / "g.vmfb")
    _one_line_error(code, err, *words)
    assert list(tmp_path.iterdir()) == []


def test_compile_cim_options_are_checked_before_training(tmp_path, capsys):
    code, err = _compile(capsys, "--target", "cim", "--xbar", 0, "--out", tmp_path / "p.json")
    _one_line_error(code, err, "xbar must be an integer in [1, 65536]")
    code, err = _compile(capsys, "--target", "cim", "--bits", 1, "--out", tmp_path / "p.json")
    _one_line_error(code, err, "--bits must be an integer in [2, 16]")
    assert list(tmp_path.iterdir()) == []


def test_compile_sve_failure_leaves_no_partial_module(tmp_path, monkeypatch):
    def fail(mlir_path, out, flags, extra=()):
        out.write_bytes(b"partial")
        raise RuntimeError("iree-compile failed: boom")

    monkeypatch.setattr(iree, "_iree_compile", fail)
    with pytest.raises(RuntimeError):
        iree.compile_gemm(8, 8, 8, 256, tmp_path / "g.vmfb", mode="data-tiling")
    assert list(tmp_path.iterdir()) == []

"""Hostile input at every public door: the API's ``predict``, ``recommend`` and
``search`` of every task, and every sub-command of the ``airchitect`` command.

The contract checked here:

- the API either answers with finite costs or raises ``ValueError``/``TypeError``
  in one line that names the offending field;
- ``predict``, ``recommend`` and ``search`` agree on what they accept;
- the CLI exits 0 or 2, never with a traceback, and a refusal is one line on stderr.

Set ``AIRCHITECT_FUZZ_EXAMPLES=N`` for N examples per test (default 30 for the API,
25 for each sub-command).
"""

from __future__ import annotations

import contextlib
import io
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import airchitect as ac
from airchitect.cli import main

TASKS = ac.tasks.names()
#: tasks with no shipped model: only their exact search is fuzzed
NOT_SHIPPED = ()

HOSTILE = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 2**31, 2**31 - 1, 2**40, 2**63 - 1]),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.5, 8.0, float("nan"), float("inf"), "8", "", "os", None, [8], {"a": 1}]),
)


def _base(task, seed):
    row = task.sample(1, seed=seed).iloc[0].to_dict()
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}


def _call(how, task, query):
    if how == "predict":
        return ac.predict(task.name, **query)
    if how == "recommend":
        return ac.recommend(task.name, k=3, **query)
    return task.search(**query)


def _outcome(how, task, query):
    """``("ok", result)`` or ``("refused", message)``; anything else propagates."""
    try:
        return "ok", _call(how, task, query)
    except (ValueError, TypeError) as err:
        return "refused", str(err)


@pytest.mark.parametrize("name", TASKS)
@settings(max_examples=int(os.environ.get("AIRCHITECT_FUZZ_EXAMPLES", 30)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), field_index=st.integers(0, 99), value=HOSTILE)
def test_api_refuses_or_answers_finitely(name, seed, field_index, value):
    task = ac.tasks.get(name)
    fields = (*task.input_columns, "bogus")
    field = fields[field_index % len(fields)]
    query = {**_base(task, seed), field: value}
    hows = ("search",) if name in NOT_SHIPPED else ("predict", "recommend", "search")
    outcomes = {how: _outcome(how, task, query) for how in hows}
    kinds = {kind for kind, _ in outcomes.values()}
    assert len(kinds) == 1, f"{field}={value!r}: {outcomes}"
    for how, (kind, result) in outcomes.items():
        if kind == "refused":
            assert "\n" not in result and field in result, f"{how}: {result!r}"
        else:
            assert field != "bogus" and not isinstance(value, (bool, type(None), list, dict))
            assert not isinstance(value, str) or isinstance(_base(task, seed)[field], str)
            if isinstance(value, float):
                assert math.isfinite(value) and value == int(value)
            costs = [v for k, v in result.items() if k in ("cost", "cycles", "latency", "energy")]
            assert all(math.isfinite(float(c)) for c in costs), result


@pytest.mark.parametrize("name", TASKS)
def test_api_unknown_objective_named(name):
    task = ac.tasks.get(name)
    with pytest.raises(ValueError, match="objective"):
        task.search(objective="bogus", **_base(task, 0))


def _run_cli(argv, cwd):
    """``(exit_code, stdout, stderr)`` of the command, run in this process with
    ``cwd`` as working directory (relative paths the fuzz draws land there)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def _assert_clean(argv, code, err):
    assert code in (0, 2), f"{argv}: exit {code}: {err}"
    assert "Traceback" not in err, f"{argv}: {err}"
    if code == 2:
        assert len(err.strip().splitlines()) == 1, f"{argv}: {err!r}"


WORDS = st.sampled_from(
    ["0", "-1", "1", "8", "2.5", "nan", "inf", "1e30", "2147483648", "99999999999999999999",
     "True", "x", "", "os", "ws", "../x", "/proc/airchitect", "/dev/null", "-", "%s", "\u00e9"]
)

FLAGS = {
    "simulate": ["--M", "--N", "--K", "--rows", "--cols", "--dataflow", "--ifmap-kb",
                 "--filter-kb", "--ofmap-kb", "--bandwidth", "--mode", "--network", "-c", "-t", "-i",
                 "-l", "-p", "-s"],
    "predict": ["--task", "--model", "--csv", "--recommend"],
    "evaluate": ["--model", "--data"],
    "train": ["--task", "--data", "--model", "--out", "--epochs", "--seed", "--test-size"],
    "compile": ["--target", "--out", "--M", "--N", "--K", "--vl-bits", "--m0", "--n-v", "--k0",
                "--xbar", "--bits", "--module", "--input-shape", "--config", "--adc-bits",
                "--n-xbars", "--mapping"],
    "dataset generate": ["--task", "--workloads", "--seed", "--out", "--workers", "--objective",
                         "--shard-rows"],
    "demo": ["--network", "--max-macs"],
    "codesign": ["--network", "--csv", "--module", "--input-shape", "--max-macs", "--sram-kb",
                 "--bandwidth", "--objective", "--dataflow", "--k"],
}

# A valid start for each sub-command, cheap to run, into which hostile flags go.
START = {
    "simulate": ["--M", "8", "--N", "8", "--K", "8", "--rows", "4", "--cols", "4"],
    "predict": ["--task", "array", "M=64", "N=64", "K=64", "max_macs=256"],
    "evaluate": ["--model", "array", "--data", "{tmp}/no-such-data"],
    "train": ["--task", "array", "--data", "{tmp}/no-such-data", "--out", "{tmp}/model"],
    "compile": ["--target", "cim", "--out", "{tmp}/program.json", "--xbar", "3"],
    "dataset generate": ["--task", "array", "--workloads", "3", "--out", "{tmp}/data",
                         "--workers", "1", "--quiet"],
    "demo": ["--no-scalesim", "--max-macs", "7"],
    "codesign": ["--csv", "{tmp}/no-such.csv", "--max-macs", "256", "--sram-kb", "16"],
}


@pytest.mark.parametrize("command", list(FLAGS))
@settings(max_examples=int(os.environ.get("AIRCHITECT_FUZZ_EXAMPLES", 25)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_cli_exit_0_or_2_never_traceback(command, data, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("fuzz"))
    argv = command.split() + [a.format(tmp=tmp) for a in START[command]]
    for _ in range(data.draw(st.integers(1, 3))):
        argv += [data.draw(st.sampled_from(FLAGS[command])), data.draw(WORDS)]
    if command == "predict":
        argv += data.draw(st.lists(st.sampled_from(["M=1.5", "M=True", "M=", "=3", "M=64",
                                                    "bogus=1", "M=-4", "x"]), max_size=2))
    if command == "demo":
        argv += ["--max-macs", data.draw(st.sampled_from(["0", "3", "x", "1e9", "2.5"]))]
    code, _, err = _run_cli(argv, tmp)
    _assert_clean(argv, code, err)
    if command == "demo":
        assert code == 2

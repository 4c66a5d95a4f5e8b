"""Work limits, input checks and finite energy of the systolic simulators and tasks."""

import importlib
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

import airchitect as ac
from airchitect.cli import main
from airchitect.targets.systolic import memory

sim = importlib.import_module("airchitect.targets.systolic.simulate")

BUFFER_QUERY = dict(M=64, N=64, K=64, rows=8, cols=8, dataflow="os", sram_kb=64, bandwidth=2)


# -- 1. resource exhaustion ----------------------------------------------------------------
def test_user_mode_work_is_refused_before_it_starts():
    start = time.perf_counter()
    with pytest.raises(ValueError, match="USER_ROWS_LIMIT"):
        ac.systolic.simulate(2**31 - 1, 8, 8, 8, 8, "os", mode="user", bandwidth=1)
    assert time.perf_counter() - start < 5


def test_user_mode_call_limit(monkeypatch):
    monkeypatch.setattr(sim, "USER_CALL_ROWS_LIMIT", 10**4)
    with pytest.raises(ValueError, match="USER_CALL_ROWS_LIMIT"):
        ac.systolic.simulate([64] * 10, 64, 64, 8, 8, "os", mode="user")


def test_large_broadcast_is_refused():
    with pytest.raises(ValueError, match="MAX_ELEMENTS"):
        ac.systolic.simulate(np.arange(1, 10**5), np.arange(1, 10**4)[:, None], 8, 8, 8, "os")
    with pytest.raises(ValueError, match="MAX_ELEMENTS"):
        ac.systolic.simulate_conv(np.arange(8, 10**5), 8, 3, 3, 1, np.arange(1, 10**4)[:, None], 1,
                                  8, 8, "os")


def test_large_broadcast_fails_cleanly_under_a_memory_limit():
    code = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
        import numpy as np
        import airchitect as ac
        try:
            ac.systolic.simulate(np.arange(1, 10**5), np.arange(1, 10**4)[:, None], 8, 8, 8, "os")
        except ValueError as error:
            print("ValueError", error)
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ValueError") and "MAX_ELEMENTS" in run.stdout


def test_chunked_user_mode_equals_one_call(monkeypatch):
    args = ([64, 200, 33], [64, 17, 90], [128, 40, 64], 8, 4, ["os", "ws", "is"])
    kw = dict(mode="user", ifmap_kb=1, filter_kb=1, ofmap_kb=1, bandwidth=2)
    whole = ac.systolic.simulate(*args, **kw)
    monkeypatch.setattr(sim, "_USER_CHUNK_ROWS", 100)
    pd.testing.assert_frame_equal(ac.systolic.simulate(*args, **kw), whole)


def test_chunked_calc_replay_equals_one_call(monkeypatch):
    # conv ifmaps past a 1 kB estimate buffer are replayed: chunks of ~100 im2col reads
    args = ([16, 20, 12], [16, 18, 12], 3, [3, 2, 3], 4, 8, [1, 2, 3], 4, 4, ["os", "ws", "is"])
    whole = ac.systolic.simulate_conv(*args, ifmap_kb=1, filter_kb=1)
    monkeypatch.setattr(sim, "_CALC_CHUNK_READS", 100)
    pd.testing.assert_frame_equal(ac.systolic.simulate_conv(*args, ifmap_kb=1, filter_kb=1), whole)


def test_conv_replay_past_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(sim, "CALC_DRAM_WORK_LIMIT", 10)
    with pytest.raises(ValueError, match="CALC_DRAM_WORK_LIMIT"):
        ac.systolic.simulate_conv(16, 16, 3, 3, 4, 8, 1, 4, 4, "os", ifmap_kb=1, filter_kb=1)


def test_buffer_dims_are_bounded_on_the_command_line(capsys):
    code = main(["predict", "--task", "buffer", "M=2147483647", "N=64", "K=64", "rows=8", "cols=8",
                 "dataflow=os", "sram_kb=64", "bandwidth=1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "M" in err and "16384" in err


def test_buffer_folds_are_bounded():
    task = ac.tasks.get("buffer")
    query = dict(BUFFER_QUERY, M=16384, N=16384, K=16384, rows=1, cols=1)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="MAX_FOLDS"):
        task.search(**query)
    with pytest.raises(ValueError, match="MAX_FOLDS"):
        ac.predict("buffer", **query)
    assert time.perf_counter() - start < 10


def test_task_costs_size_is_bounded(monkeypatch):
    base = importlib.import_module("airchitect.tasks.base")
    monkeypatch.setattr(base, "MAX_COST_ELEMENTS", 1000)
    task = ac.tasks.get("array")
    with pytest.raises(ValueError, match="MAX_COST_ELEMENTS"):
        task.costs(task.sample(10, seed=0))


# -- 2. silent garbage ---------------------------------------------------------------------
@pytest.mark.parametrize("M", [[8, True], [[8], [True]], (8, np.bool_(True))])
def test_simulate_refuses_booleans_in_lists(M):
    with pytest.raises(TypeError, match="^M must be integers"):
        ac.systolic.simulate(M, 8, 8, 8, 8, "os")


def test_simulate_refuses_boolean_keywords():
    with pytest.raises(TypeError, match="^bandwidth"):
        ac.systolic.simulate(8, 8, 8, 8, 8, "os", bandwidth=True, mode="user")


@pytest.mark.parametrize("column", ["M", "bandwidth", "sram_kb"])
def test_buffer_refuses_boolean_columns(column):
    task = ac.tasks.get("buffer")
    frame = pd.DataFrame({k: [v] for k, v in BUFFER_QUERY.items()})
    frame[column] = [True]
    for df in (frame, frame[frame.columns[::-1]]):
        with pytest.raises(TypeError, match=f"^{column} must be integers"):
            task.validate(df)
    with pytest.raises(TypeError, match=f"^{column}"):
        ac.predict("buffer", **dict(BUFFER_QUERY, **{column: True}))


def test_buffer_refuses_boolean_csv_cells(tmp_path, capsys):
    path = tmp_path / "q.csv"
    frame = pd.DataFrame({k: [v, v] for k, v in BUFFER_QUERY.items()})
    frame["bandwidth"] = ["True", "False"]
    frame.to_csv(path, index=False)
    assert main(["predict", "--task", "buffer", "--csv", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bandwidth" in err


def test_convention_is_checked_in_calc_mode():
    for mode in ("calc", "user"):
        with pytest.raises(ValueError, match="convention must be one of scalesim-3.0, corrected"):
            ac.systolic.simulate(8, 8, 8, 8, 8, "os", mode=mode, convention="bogus")
    with pytest.raises(ValueError, match="^convention"):
        ac.systolic.simulate_conv(7, 7, 3, 3, 2, 4, 2, 4, 4, "os", convention="bogus")


@pytest.mark.parametrize("name", ac.tasks.names())
def test_search_refuses_unknown_inputs(name):
    task = ac.tasks.get(name)
    inputs = task.sample(1, seed=0).iloc[0].to_dict()
    with pytest.raises(TypeError, match=f"task '{name}' search got unknown input 'foo'; its inputs are"):
        task.search(**inputs, foo=1)


@pytest.mark.parametrize("value", [np.nan, np.inf, 8.0])
def test_non_integers_are_refused(value):
    with pytest.raises(TypeError, match="^K must be integers"):
        ac.systolic.simulate(8, 8, [value], 8, 8, "os")
    with pytest.raises(TypeError, match="^N must be integers"):
        ac.tasks.get("buffer").validate(pd.DataFrame(dict({k: [v] for k, v in BUFFER_QUERY.items()},
                                                          N=[value])))
    with pytest.raises(TypeError, match="^M must be integers"):
        ac.tasks.get("array").validate(pd.DataFrame(dict(M=[value], N=[8], K=[8], max_macs=[256])))


def test_energy_model_refuses_nan():
    from airchitect.targets.systolic.energy import EnergyModel

    with pytest.raises(ValueError, match="^dram_pj"):
        EnergyModel(dram_pj=float("nan"))


# -- 3. energy and EDP are real numbers ----------------------------------------------------
def test_closed_form_dram_reads_equal_the_replay():
    # simulate's CALC path (memory.calc_reads) against the word-by-word replay of the
    # estimate buffers (memory.calc_mode) and the older closed form (calc_dram_reads)
    rng = np.random.default_rng(0)
    n = 120
    M, N, K = np.exp(rng.uniform(0, np.log(400), (3, n))).astype(np.int64) + 1
    rows, cols = rng.choice([1, 2, 3, 4, 8, 16], (2, n))
    flows = rng.choice(["os", "ws", "is"], n)
    kb = rng.choice([1, 2, 4], (2, n))
    ours = ac.systolic.simulate(M, N, K, rows, cols, flows, ifmap_kb=kb[0], filter_kb=kb[1])
    code = np.select([flows == "os", flows == "ws"], [0, 1], 2)
    replay = memory.calc_mode(M, N, K, rows, cols, code, kb[0], kb[1], 256)
    for name in ("dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes",
                 "dram_ifmap_start_cycle", "dram_ifmap_stop_cycle", "dram_filter_start_cycle",
                 "dram_filter_stop_cycle", "dram_ofmap_start_cycle", "dram_ofmap_stop_cycle",
                 "total_cycles_incl_prefetch"):
        assert (ours[name].to_numpy() == replay[name]).all(), name
    ifmap, filt = memory.calc_dram_reads(M, N, K, rows, cols, code, kb[0], kb[1])
    assert (ours["dram_ifmap_reads"].to_numpy() == ifmap).all()
    assert (ours["dram_filter_reads"].to_numpy() == filt).all()


def test_energy_of_the_reported_small_arrays_is_finite():
    out = ac.systolic.simulate(256, 1024, 256, [4, 4, 8, 4, 16], [4, 8, 4, 16, 4], "os")
    assert np.isfinite(out["energy_pj"]).all() and np.isfinite(out["edp"]).all()
    ifmap, filt = memory.calc_dram_reads(256, 1024, 256, 4, 4, 0, 256, 256)
    assert (ifmap[0], filt[0]) == (65536, 264148)  # the word-by-word replay's counts


def test_closed_form_is_fast_on_the_largest_array_task_gemm():
    start = time.perf_counter()
    ifmap, filt = memory.calc_dram_reads(16384, 16384, 16384, 4, 4, [0, 1, 2], 256, 256)
    assert time.perf_counter() - start < 10
    assert (ifmap > 0).all() and (filt > 0).all()


@pytest.mark.parametrize("objective", ["energy", "edp"])
def test_energy_search_equals_brute_force(objective, monkeypatch):
    monkeypatch.setattr(sim, "CALC_DRAM_WORK_LIMIT", 10**4)  # the closed form on most labels
    task = ac.tasks.get("array")
    query = dict(M=48, N=160, K=40, max_macs=1024)
    found = task.search(objective=objective, **query)
    costs = task.costs(task.validate(pd.DataFrame({k: [v] for k, v in query.items()})), objective)[0]
    assert np.isfinite(found["cost"]) and not np.isnan(costs).any()
    assert found["cost"] == costs.min() and found["label"] == int(np.argmin(costs))


@pytest.mark.parametrize("gemm", [(1, 1, 1), (3, 700, 5), (64, 64, 64), (200, 1, 900)])
def test_energy_is_finite_for_every_array_configuration(gemm, monkeypatch):
    monkeypatch.setattr(sim, "CALC_DRAM_WORK_LIMIT", 10**4)
    task = ac.tasks.get("array")
    inputs = task.validate(pd.DataFrame(dict(M=[gemm[0]], N=[gemm[1]], K=[gemm[2]], max_macs=[65536])))
    for objective in ("energy", "edp"):
        costs = task.costs(inputs, objective)
        assert np.isfinite(costs).all() and (costs > 0).all()


def test_nan_costs_raise_naming_task_objective_and_configuration():
    from airchitect.tasks.array import ArrayTask

    class Broken(ArrayTask):
        name = "broken"

        def costs(self, inputs, objective="cycles"):
            out = super().costs(inputs, "cycles")
            out[0, 5] = np.nan
            return out

    with pytest.raises(ValueError, match=r"task 'broken': objective 'edp' is NaN for row 0, label 5 "):
        Broken().search(objective="edp", M=8, N=8, K=8, max_macs=65536)

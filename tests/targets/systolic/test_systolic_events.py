"""The event-by-event memory model and its estimate against the row model, and by hand."""

import numpy as np
import pytest

import airchitect as ac
from airchitect.targets.systolic import memory
from airchitect.targets.systolic.memory import read_buffer as memory_engine
from airchitect.targets.systolic.memory.events import (
    burst as _burst, drain_writes as _drain_writes, writes_before as _writes_before, estimate_user_mode,
    read_windows, user_mode_totals,
)


@pytest.fixture(scope="module")
def buffer_pairs():
    """60 sampled buffer-task workloads x all 105 splits, estimated and simulated."""
    task = ac.tasks.get("buffer")
    inputs = task.validate(task.sample(60, seed=11))
    ifmap, filt, ofmap = task.split_kb(inputs)
    code = np.array([("os", "ws", "is").index(d) for d in inputs["dataflow"]])[:, None]
    args = [inputs[c].to_numpy()[:, None] for c in ("M", "N", "K", "rows", "cols")]
    args += [code, ifmap, filt, ofmap, inputs["bandwidth"].to_numpy()[:, None]]
    shape = ifmap.shape
    est = {k: v.reshape(shape) for k, v in estimate_user_mode(*args).items()}
    exact = {k: v.reshape(shape) for k, v in memory.user_mode(*args).items()}
    fast = {k: v.reshape(shape) for k, v in user_mode_totals(*args).items()}
    return est, exact, fast


def test_event_model_equals_the_row_model(buffer_pairs):
    _, exact, fast = buffer_pairs
    assert (exact["stall_cycles"] > 0).mean() > 0.2  # the sample really stalls
    for name, value in fast.items():
        np.testing.assert_array_equal(value, exact[name], err_msg=name)


def test_prefetches_and_dram_reads_are_exact(buffer_pairs):
    est, exact, _ = buffer_pairs
    for name in ("dram_ifmap_reads", "dram_filter_reads"):
        np.testing.assert_array_equal(est[name], exact[name])
    assert (est["ifmap_prefetches"] > 0).mean() > 0.1  # the sample really misses


def test_stall_free_cycles_are_exact(buffer_pairs):
    # without a miss and without a write stall, the estimate is the stall-free row
    # count, which is SCALE-Sim's total less its stalls
    est, exact, _ = buffer_pairs
    quiet = ((est["ifmap_prefetches"] == 0) & (est["filter_prefetches"] == 0)
             & (est["ofmap_stall_cycles"] == 0))
    assert quiet.sum() > 1000
    np.testing.assert_array_equal(est["total_cycles"][quiet],
                                  (exact["total_cycles"] - exact["stall_cycles"])[quiet])
    assert (exact["stall_cycles"][quiet] == 0).mean() > 0.95


def test_estimate_ranks_splits_near_the_optimum(buffer_pairs):
    est, exact, _ = buffer_pairs
    cycles = exact["total_cycles"].astype(float)
    ratio = cycles / est["total_cycles"]
    assert np.median(np.abs(ratio - 1)) < 1e-3
    pick = est["total_cycles"].argmin(axis=1)
    chosen = cycles[np.arange(len(cycles)), pick]
    geomean = np.exp(np.mean(np.log(cycles.min(axis=1) / chosen))) * 100
    assert geomean > 99.95  # 99.995 measured


def test_estimate_follows_the_write_buffer_drains(buffer_pairs):
    # pairs whose array waits on the ofmap write buffer: within 0.1% for the median pair
    est, exact, _ = buffer_pairs
    writes = est["ofmap_stall_cycles"] > 0
    assert writes.sum() > 300
    error = np.abs(exact["total_cycles"][writes] / est["total_cycles"][writes] - 1)
    assert np.median(error) < 1e-3  # 4.5e-5 measured
    assert error.mean() < 0.01  # 0.0017 measured


def test_drain_writes_by_hand():
    # a buffer of 8 words, active half 4, drains of up to 4 one-word lines (bw 1)
    # 16 words at 2 per cycle from cycle 0: 5 words leave 3 free (t 2.5), a drain
    # of 4 lines frees 4 (7 free, ends 5.5); 7 words fill it at t 6.0, after the
    # drain's end, so a second drain starts (4 free, ends 9.0); the last 4 fit
    free, end, wait = _drain_writes(8.0, -1.0, 0, 16, 2.0, 8, 4, 4, 1)
    assert (free, end, wait) == (0.0, 9.0, 0)
    # 4 words at 4 per cycle from cycle 7: full, so wait for the drain's end (2 cycles);
    # one word starts a drain (free -1 + 4), the other 3 fill it
    assert _drain_writes(free, end, 7, 4, 4.0, 8, 4, 4, 1) == (0.0, 12.25, 2)


@pytest.mark.parametrize("last, F, cycle, m", [
    (-1, 9, 40, 1), (-1, 9, 40, 5), (100, 9, 40, 1), (100, 9, 40, 4), (35, 9, 40, 3),
    (38, 17, 40, 6), (500, 3, 10, 7), (-1, 50, 0, 2),
])
def test_burst_follows_scalesim_recurrence(last, F, cycle, m):
    # the closed form equals SCALE-Sim 3.0.0's new_prefetch/service_reads loop
    st = np.zeros(1, memory_engine.READ_BUFFER_STATE)
    st[0]["last"] = last
    st[0]["req1"] = F - 1
    st[0]["n_lines"] = 10
    st[0]["n_active"] = 4
    st[0]["n_pre"] = 4
    offset = 1
    for _ in range(m):
        offset = memory_engine._miss(st, cycle, offset)
    assert _burst(last, F, cycle, m) == (st[0]["last"], offset)


def test_bad_input():
    with pytest.raises(ValueError, match="ifmap_kb"):
        estimate_user_mode(8, 8, 8, 4, 4, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="dataflow_code"):
        estimate_user_mode(8, 8, 8, 4, 4, 3, 1, 1, 1, 1)


@pytest.mark.parametrize("cv, h, shift", [(4, 9, 3), (8, 3, 0), (1, 5, 2), (5, 5, 7)])
def test_writes_before_is_the_running_total_of_the_row_writes(cv, h, shift):
    # row j writes #{c < cv: 0 <= j - shift - c < h} words
    per = shift + h + cv + 3
    rows = [sum(1 for c in range(cv) if 0 <= j - shift - c < h) for j in range(per)]
    total = np.concatenate([[0], np.cumsum(rows)])
    assert [_writes_before(j - shift, cv, h) for j in range(per + 1)] == total.tolist()


def test_read_windows_by_hand():
    # 64 x 64 x 64 (os) with 4096-word buffers at 4 words/cycle: sets of ceil(4096 / 100) = 41
    # words; the 4096-word operand spans 4096 // 41 + 1 = 100 sets; the active half holds
    # ceil(2048 / 41) = 50 of them, a prefetch the other 50, in ceil(2048 / 4) = 512 cycles.
    # 8 x 8 x 8 (ws): the 64-word ifmap spans 2 sets of 41 words and fits (no prefetch);
    # the filter's 2048 words make sets of 21 words, 4 of them, refilled in 256 cycles.
    G = memory.gemm_geometry(np.array([64, 8]), np.array([64, 8]), np.array([64, 8]), np.array([8, 8]),
                             np.array([8, 8]), np.array([0, 1]))
    out = read_windows(G, np.array([[4096, 4096, 4096], [4096, 2048, 1024]]), np.array([4, 4]))
    assert out.tolist() == [[[41, 100, 50, 50, 512], [41, 100, 50, 50, 512]],
                            [[41, 2, 2, 0, 512], [21, 4, 4, 0, 256]]]

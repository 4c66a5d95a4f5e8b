"""The event-by-event memory model and its estimate against the row model.

    python benchmarks/bench_memory_events.py [--workloads 200]

On sampled ``buffer``-task workloads x all 105 SRAM splits, in the same run:
time of the row model (``memory.user_mode``), of the exact event model
(``memory.events.user_mode_totals``) and of its estimate
(``memory.events.estimate_user_mode``); whether the event model's figures equal
the row model's; the estimate's accuracy (DRAM reads equal, share of pairs within
0.1% of the exact cycles, GeoMean percent of best performance of the split of
least estimated cycles and of the best of its five least).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import airchitect as ac
from airchitect.targets.systolic.memory import user_mode
from airchitect.targets.systolic.memory.events import estimate_user_mode, user_mode_totals


def _timed(fn, args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=200)
    args = parser.parse_args(argv)
    task = ac.tasks.get("buffer")
    inputs = task.validate(task.sample(args.workloads, seed=2024))
    code = np.array([("os", "ws", "is").index(d) for d in inputs["dataflow"]])[:, None]
    gemm = [inputs[c].to_numpy()[:, None] for c in ("M", "N", "K", "rows", "cols")]
    call = [*gemm, code, *task.split_kb(inputs), inputs["bandwidth"].to_numpy()[:, None]]
    for fn in (user_mode, user_mode_totals, estimate_user_mode):  # compile
        fn(*(np.asarray(a)[:2, :2] for a in call))
    row, t_row = _timed(user_mode, call)
    fast, t_fast = _timed(user_mode_totals, call)
    est, t_est = _timed(estimate_user_mode, call)
    pairs = row["total_cycles"].size
    same = all(np.array_equal(v, row[k]) for k, v in fast.items())
    shape = (len(inputs), -1)
    cycles = row["total_cycles"].reshape(shape).astype(float)
    guess = est["total_cycles"].reshape(shape)
    best = cycles.min(axis=1)
    pick = cycles[np.arange(len(cycles)), guess.argmin(axis=1)]
    five = np.take_along_axis(cycles, np.argsort(guess, axis=1, kind="stable")[:, :5], axis=1).min(axis=1)
    traffic = all(np.array_equal(est[f], row[f]) for f in ("dram_ifmap_reads", "dram_filter_reads"))
    close = np.mean(np.abs(cycles / guess - 1) < 1e-3)
    us = lambda t: t / pairs * 1e6
    print(f"{len(inputs)} workloads x 105 splits = {pairs} pairs")
    print(f"row model: {t_row:.2f} s ({us(t_row):.1f} us/pair)")
    print(f"event model: {t_fast:.2f} s ({us(t_fast):.1f} us/pair), {t_row / t_fast:.1f}x faster; "
          f"every figure equal to the row model's: {same}")
    print(f"estimate: {t_est:.2f} s ({us(t_est):.1f} us/pair), {t_row / t_est:.1f}x faster; "
          f"DRAM reads equal: {traffic}; cycles within 0.1%: {close * 100:.1f}% of pairs")
    print(f"least-estimate split: GeoMean {np.exp(np.mean(np.log(best / pick))) * 100:.3f}% of best; "
          f"best of its 5 least: {np.exp(np.mean(np.log(best / five))) * 100:.4f}%")


if __name__ == "__main__":
    main()

"""The fast fold-level estimate against the exact USER-mode memory model.

    python benchmarks/bench_memory_estimate.py [--workloads 200]

On sampled ``buffer``-task workloads x all 105 SRAM splits: time of the exact
model (``memory.user_mode``) and of the estimate
(``memory_estimate.estimate_user_mode``) in the same run, their ratio, and
the estimate's accuracy: DRAM read traffic equal to the exact model's, share of
pairs within 0.1% of the exact cycles, and the GeoMean percent of best
performance of the split of least estimated cycles (and of the best of its
five least, re-ranked exactly).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import airchitect as ac
from airchitect.targets.systolic.memory import user_mode
from airchitect.targets.systolic.memory_estimate import estimate_user_mode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=200)
    args = parser.parse_args(argv)
    task = ac.tasks.get("buffer")
    inputs = task.validate(task.sample(args.workloads, seed=2024))
    code = np.array([("os", "ws", "is").index(d) for d in inputs["dataflow"]])[:, None]
    gemm = [inputs[c].to_numpy()[:, None] for c in ("M", "N", "K", "rows", "cols")]
    call = [*gemm, code, *task.split_kb(inputs), inputs["bandwidth"].to_numpy()[:, None]]
    estimate_user_mode(*(np.asarray(a)[:2] for a in call))  # compile
    start = time.perf_counter()
    exact = user_mode(*call)
    t_exact = time.perf_counter() - start
    start = time.perf_counter()
    est = estimate_user_mode(*call)
    t_est = time.perf_counter() - start
    pairs = exact["total_cycles"].size
    shape = (len(inputs), -1)
    cycles = exact["total_cycles"].reshape(shape).astype(float)
    guess = est["total_cycles"].reshape(shape)
    best = cycles.min(axis=1)
    pick = cycles[np.arange(len(cycles)), guess.argmin(axis=1)]
    five = np.take_along_axis(cycles, np.argsort(guess, axis=1, kind="stable")[:, :5], axis=1).min(axis=1)
    traffic = all((est[f] == exact[f]).all() for f in ("dram_ifmap_reads", "dram_filter_reads"))
    close = np.mean(np.abs(cycles / guess - 1) < 1e-3)
    print(f"{len(inputs)} workloads x 105 splits = {pairs} pairs")
    print(f"exact user_mode: {t_exact:.2f} s ({t_exact / pairs * 1e6:.1f} us/pair); estimate: "
          f"{t_est:.3f} s ({t_est / pairs * 1e6:.1f} us/pair); speedup {t_exact / t_est:.0f}x")
    print(f"DRAM ifmap and filter reads equal to the exact model's: {traffic}")
    print(f"cycles within 0.1%: {close * 100:.1f}% of pairs")
    print(f"least-estimate split: GeoMean {np.exp(np.mean(np.log(best / pick))) * 100:.3f}% of best; "
          f"best of its 5 least: {np.exp(np.mean(np.log(best / five))) * 100:.4f}%")


if __name__ == "__main__":
    main()

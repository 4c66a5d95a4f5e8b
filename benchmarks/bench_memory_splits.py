"""The split-stall estimate against the event model's estimate, on held-out buffer workloads.

    python benchmarks/bench_memory_splits.py [--workloads 2000]

Takes the held-out 10% of ``datasets/buffer/full`` (the split ``models/train.py``
holds out; it is regenerated when missing), whose rows keep the exact cycles of all
105 SRAM splits, and times in the same run: the event model's estimate of every
split (``Task.estimate``, what the boosted buffer model reads) and the split-stall
estimate (``Task.split_estimate``) at several fold budgets and walked to the end.
For each: microseconds per workload (all 105 splits), the ratio to the event
model's estimate, and the GeoMean percent of best performance of the split of
least estimate and of the best of its five least.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import airchitect as ac
from airchitect.learn.train import split

ROOT = Path(__file__).resolve().parents[1]


def geomean(best, costs, order, k):
    chosen = np.take_along_axis(costs, order[:, :k], axis=1).min(axis=1)
    return 100 * np.exp(np.mean(np.log(best / chosen)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=2000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "models"))
    from train import dataset  # noqa: E402  (regenerates the dataset when missing)

    frame = ac.data.load(dataset("buffer", 100_000))
    _, test = split(frame, 0.1, 0)
    test = test.iloc[:args.workloads]
    task = ac.tasks.get("buffer")
    X = task.validate(test[list(task.input_columns)])
    costs = np.stack(test["costs"].to_numpy()).astype(np.float64)
    best = costs.min(axis=1)
    task.estimate(X.iloc[:5])  # compile
    task.split_estimate(X.iloc[:5])
    runs = [("event model estimate", lambda: task.estimate(X)["total_cycles"])]
    runs += [(f"split-stall, max_folds={f}", lambda f=f: task.split_estimate(X, f)) for f in (64, 128, 256)]
    runs += [("split-stall, every fold", lambda: task.split_estimate(X, 10**9))]
    reference = None
    print(f"{len(X)} held-out buffer workloads x 105 splits")
    for name, run in runs:
        start = time.perf_counter()
        cycles = run()
        seconds = time.perf_counter() - start
        reference = reference or seconds
        order = np.argsort(cycles, axis=1, kind="stable")
        print(f"{name}: {seconds / len(X) * 1e6:.1f} us per workload ({reference / seconds:.1f}x the event "
              f"model's estimate); least split {geomean(best, costs, order, 1):.3f}% of best, best of its five "
              f"least {geomean(best, costs, order, 5):.3f}%", flush=True)


if __name__ == "__main__":
    main()

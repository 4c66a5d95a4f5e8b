"""Prediction speed of the shipped models.

    python benchmarks/bench_predict.py

For each shipped model, in its own process: the median latency of one
``ac.predict`` call once the model is loaded (measured first), the time of 10^5 batched
predictions (``Predictor.predict``), and the time the exact search
(``Task.search``) takes for the same query.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch

import airchitect as ac
from airchitect.api import SHIPPED


def measure(name):
    """Print the figures of the shipped model of task ``name``."""
    torch.set_num_threads(2)
    predictor = ac.api.shipped(name)
    task = predictor.task
    inputs = task.sample(100_000, seed=123)
    query = inputs.iloc[0].to_dict()
    for _ in range(20):
        ac.predict(task.name, **query)
    times = []
    for _ in range(200):
        start = time.perf_counter()
        ac.predict(task.name, **query)
        times.append(time.perf_counter() - start)
    predictor.predict(inputs[:1000])
    start = time.perf_counter()
    predictor.predict(inputs)
    batch = time.perf_counter() - start
    start = time.perf_counter()
    task.search(**query)
    search = time.perf_counter() - start
    one = statistics.median(times)
    print(f"{task.name}: 10^5 batched predictions in {batch:.3f} s; one ac.predict "
          f"{one * 1e3:.2f} ms (median of 200); exact search of that query "
          f"{search * 1e3:.1f} ms ({search / one:.0f}x the prediction)", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", help="measure this task only (in this process)")
    args = parser.parse_args(argv)
    if args.task:
        measure(args.task)
        return
    # one process per model, as a user loads one: no model's threads or memory
    # weigh on another's timings
    for path in sorted(p for p in SHIPPED.iterdir() if (p / "predictor.json").exists()):
        subprocess.run([sys.executable, __file__, "--task", path.name], check=True)


if __name__ == "__main__":
    main()

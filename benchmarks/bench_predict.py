"""Prediction speed of the shipped models.

    python benchmarks/bench_predict.py

For each shipped model, in its own process: the latency of one ``ac.predict``
call once the model is loaded (measured first; median and 90th percentile over 200
different sampled workloads, one call each), the median time of the exact search
(``Task.search``) of 20 of them, and the time of 10^5 batched predictions
(``Predictor.predict``; the median of three runs unless the first ones take 10 s);
for a task whose ``ac.recommend`` ranks with a model of its own (buffer), the
median latency of 50 ``ac.recommend`` calls.
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
    queries = [_plain(inputs.iloc[i].to_dict()) for i in range(200)]
    for _ in range(20):
        ac.predict(task.name, **queries[0])
    times = []
    for query in queries:  # 200 different workloads, one call each
        start = time.perf_counter()
        ac.predict(task.name, **query)
        times.append(time.perf_counter() - start)
    searches = []
    for query in queries[:20]:
        start = time.perf_counter()
        task.search(**query)
        searches.append(time.perf_counter() - start)
    predictor.predict(inputs[:1000])
    batches = []
    while len(batches) < 3 and sum(batches) < 10:  # three runs unless they are slow
        start = time.perf_counter()
        predictor.predict(inputs)
        batches.append(time.perf_counter() - start)
    ranker = ac.api.shipped(task.name, "recommend")
    recommend = ""
    if ranker is not predictor:  # a task whose recommend ranks with a model of its own
        ac.recommend(task.name, **queries[0])
        times_r = []
        for query in queries[:50]:
            start = time.perf_counter()
            ac.recommend(task.name, **query)
            times_r.append(time.perf_counter() - start)
        recommend = (f"; one ac.recommend(k=5) with its {ranker.model_name} ranking "
                     f"{statistics.median(times_r) * 1e3:.2f} ms (median of 50)")
    batch = statistics.median(batches)
    one, p90 = statistics.median(times), statistics.quantiles(times, n=10)[-1]
    search = statistics.median(searches)
    runs = ", ".join(f"{b:.3f}" for b in batches)
    print(f"{task.name}: 10^5 batched predictions in {batch:.3f} s (median of {runs}); one ac.predict "
          f"{one * 1e3:.2f} ms (median of 200 workloads; 90th percentile {p90 * 1e3:.2f} ms); "
          f"exact search {search * 1e3:.1f} ms (median of 20; {search / one:.0f}x the prediction){recommend}",
          flush=True)


def _plain(row):
    return {k: v.item() if hasattr(v, "item") else v for k, v in row.items()}


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

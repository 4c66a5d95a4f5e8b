"""Prediction speed of the shipped models.

    python benchmarks/bench_predict.py

For each shipped model: the median latency of one ``ac.predict`` call once the
model is loaded (measured first, in a fresh state), the time of 10^5 batched
predictions (``Predictor.predict``), and the time the exact search
(``Task.search``) takes for the same query.
"""

from __future__ import annotations

import gc
import statistics
import time

import torch

import airchitect as ac
from airchitect.api import SHIPPED


def main():
    torch.set_num_threads(2)
    for path in sorted(p for p in SHIPPED.iterdir() if (p / "predictor.json").exists()):
        predictor = ac.api.shipped(path.name)
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
              f"{search * 1e3:.1f} ms ({search / one:.0f}x the prediction)")
        del inputs
        gc.collect()


if __name__ == "__main__":
    main()

"""Benchmark the CIM target: cost-model evaluations/s and functional MVMs/s.

Run: python benchmarks/bench_cim.py [--quick]

Prints each rate with its ratio to a reference measured in the same run:
the cost model against a plain-Python loop of the same CIM-AQ formula, the
functional simulator against numpy's exact integer ``W @ x``.
Targets: >= 1e7 cost-model evaluations/s, >= 1e4 functional 256x256 8-bit MVMs/s.
"""

import argparse
import math
import os
import time

import numpy as np

import airchitect as ac
from airchitect.tasks import cim as cim_space


def best_of(fn, repeat=3):
    """Smallest wall time of ``repeat`` calls, seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def python_latency_us(P, n, m, w, a):
    cols = m * math.ceil(w / 4) * 2
    tiles = math.ceil(cols / 256) * math.ceil(n / 256)
    return tiles * 56 + P * tiles * a * 1.4


def bench_cost(quick):
    inputs = cim_space.sample_inputs(2000 if quick else 20000, seed=0)
    space = cim_space.design_space()
    cim_space.task_costs(inputs.iloc[:10], space)  # compile
    t = best_of(lambda: cim_space.task_costs(inputs, space, "latency"))
    task_rate = len(inputs) * len(space) / t
    rows = 10**5 if quick else 10**6
    rng = np.random.default_rng(0)
    P, n, m = (rng.integers(1, 4096, rows) for _ in range(3))
    w, a = (rng.integers(2, 9, rows) for _ in range(2))
    t = best_of(lambda: ac.cim.simulate(P, n, m, w, a))
    sim_rate = rows / t
    t = best_of(lambda: ac.cim.layer_costs(P, n, m, w, a))
    arr_rate = rows / t
    k = 20000
    args = list(zip(P[:k].tolist(), n[:k].tolist(), m[:k].tolist(), w[:k].tolist(), a[:k].tolist()))
    t = best_of(lambda: [python_latency_us(*x) for x in args])
    py_rate = k / t
    print(f"cost model, task kernel ({len(inputs)} workloads x {len(space)} configs): "
          f"{task_rate:.3g} evaluations/s  ({task_rate / py_rate:.0f}x plain Python, target 1e7)")
    print(f"cost model, layer_costs arrays ({rows} layers):          {arr_rate:.3g} evaluations/s  "
          f"({arr_rate / py_rate:.0f}x plain Python)")
    print(f"cost model, simulate DataFrame ({rows} layers):          {sim_rate:.3g} evaluations/s  "
          f"({sim_rate / py_rate:.0f}x plain Python)")
    print(f"reference, plain-Python latency formula:                {py_rate:.3g} evaluations/s")


def bench_mvm(quick):
    rng = np.random.default_rng(0)
    batch = 2048 if quick else 8192
    X = rng.integers(0, 256, (batch, 256))
    cases = [
        ("one 256x256 crossbar (W 64x256, 8-bit, b_c=4, differential-column), ideal", (64, 256), {}),
        ("one 256x256 crossbar, 8-bit ADC, d2d+c2c sigma 0.02", (64, 256),
         dict(adc_bits=8, d2d_sigma=0.02, c2c_sigma=0.02)),
        ("W 256x256 8-bit on four 256x256 crossbars, ideal", (256, 256), {}),
    ]
    for label, shape, kw in cases:
        W = rng.integers(-128, 128, shape)
        layer = ac.cim.program(W, **kw)
        layer.mvm(X[:8])
        t = best_of(lambda: layer.mvm(X))
        t_ref = best_of(lambda: X @ W.T)
        rate = batch / t
        print(f"functional MVM, {label}: {rate:.3g} MVMs/s  "
              f"(numpy integer W @ x: {batch / t_ref:.3g}/s, ratio {t_ref / t:.3f}; target 1e4)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    bench_cost(args.quick)
    bench_mvm(args.quick)


if __name__ == "__main__":
    main()

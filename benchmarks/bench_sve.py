"""Speed of the SVE model and its agreement with qemu-measured instruction counts.

Run: ``python benchmarks/bench_sve.py [--workloads 20000] [--shapes 20]``

* ``task_costs`` (cycles, all 615 configurations of the sve task) over
  ``workloads`` sampled inputs, against calling ``simulate`` once per
  configuration (a Python loop over the space) in the same run: evaluations
  per second and the ratio;
* the qemu validation table: ``shapes`` random GEMMs (M, N, K in 1..96) x the
  five vector lengths for four tiles; measured = instructions executed inside
  ``mmt4d_kernel`` (TCG plugin), modelled = ``simulate(...).instructions``.
"""

import argparse
import time

import numpy as np

from airchitect.targets.sve import simulate
from airchitect.tasks.sve import design_space, sample_inputs, task_costs
from airchitect.targets.sve import toolchain
from airchitect.targets.sve.config import VL_BITS

TILES = [(8, 2, 1, "f32"), (3, 4, 4, "f32"), (4, 2, 8, "bf16"), (6, 2, 16, "i8")]


def speed(n):
    space = design_space(2048)
    inputs = sample_inputs(n, seed=0)
    t = time.perf_counter()
    task_costs(inputs, space)
    fast = n * len(space) / (time.perf_counter() - t)
    sub = inputs.iloc[:50]
    t = time.perf_counter()
    for _, c in space.iterrows():
        for dtype in ("f32", "bf16", "i8"):
            rows = sub[sub.dtype == dtype]
            simulate(rows.M, rows.N, rows.K, c.vl_bits, c.m0, c.n_v, c.u * {"f32": 1, "bf16": 2, "i8": 4}[dtype],
                     dtype=dtype)
    loop = len(sub) * len(space) / (time.perf_counter() - t)
    print(f"task_costs: {fast:,.0f} evaluations/s over {n} x {len(space)}")
    print(f"simulate per configuration (Python loop over the space): {loop:,.0f} evaluations/s")
    print(f"ratio: {fast / loop:.1f}x")


def validation(n_shapes):
    shapes = [tuple(int(x) for x in s) for s in np.random.default_rng(1).integers(1, 97, size=(n_shapes, 3))]
    M, N, K = np.array(shapes).T
    print("\n| tile (m0 x n_v x k0, dtype) | M x N x K | VL | measured | model | error % |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    worst, rows = 0.0, 0
    for m0, n_v, k0, dtype in TILES:
        for vl in VL_BITS:
            results, expected, counts = toolchain.run(shapes, vl, m0, n_v, k0, dtype, count=True)
            assert all(np.array_equal(r, e) for r, e in zip(results, expected))
            model = simulate(M, N, K, vl, m0, n_v, k0, dtype=dtype).instructions.to_numpy()
            err = 100 * (model - counts) / counts
            worst = max(worst, np.abs(err).max())
            rows += len(shapes)
            for s, c, m, e in zip(shapes, counts, model, err):
                print(f"| {m0} x {n_v} x {k0} {dtype} | {s[0]} x {s[1]} x {s[2]} | {vl} | {c} | {m} | {e:+.2f} |")
    print(f"\n{rows} runs (outputs equal numpy in all); largest |error| {worst:.2f}%")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workloads", type=int, default=20000)
    p.add_argument("--shapes", type=int, default=20)
    args = p.parse_args()
    speed(args.workloads)
    if toolchain.tools_missing():
        print("qemu validation skipped: missing", ", ".join(toolchain.tools_missing()))
    else:
        validation(args.shapes)


if __name__ == "__main__":
    main()

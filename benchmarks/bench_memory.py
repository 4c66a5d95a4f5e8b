"""Speed and memory of the USER-mode memory model against the real SCALE-Sim 3.0.0.

Run: ``python benchmarks/bench_memory.py [--cases 16] [--seed 0]``

* per case: SCALE-Sim 3.0.0 in USER mode (one in-process run, one layer) and
  :func:`airchitect.targets.systolic.memory.user_mode` on the same GEMM and
  configuration (best of 3, after a compile run), checked equal on every field;
  printed: the speedup of each case, then the median and the minimum;
* peak memory: a fresh process that imports the model and simulates
  1024 x 1024 x 1024 on an 8x8 output-stationary array (ru_maxrss, and the
  process's resident size just before the simulation, for reference);
* the buffer task's load: mean time per simulation over workloads drawn like
  the buffer task's sampler x its 105 SRAM splits.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from airchitect.targets.systolic import memory
from airchitect.targets.systolic.scalesim import run_scalesim_layers

DATAFLOWS = ("os", "ws", "is")

PEAK_SCRIPT = """
import resource, time
from airchitect.targets.systolic import memory
memory.user_mode(8, 8, 8, 8, 8, 0, 1, 1, 1, 1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
out = memory.user_mode(1024, 1024, 1024, 8, 8, 0, 256, 256, 256, 10)
dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before / 1024, peak / 1024, dt, int(out["total_cycles"][0]), int(out["stall_cycles"][0]))
"""


def _cases(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        stall_heavy = i % 2 == 0
        M, N, K = (int(v) for v in rng.integers(16, 97, 3))
        R, C = (int(v) for v in rng.choice([4, 8, 16], 2))
        kb = [int(v) for v in rng.integers(1, 5, 3)] if stall_heavy else \
            [int(v) for v in rng.integers(8, 65, 3)]
        bw = int(rng.integers(1, 3)) if stall_heavy else int(rng.integers(2, 11))
        out.append((M, N, K, R, C, DATAFLOWS[i % 3], *kb, bw))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--buffer-workloads", type=int, default=40)
    args = p.parse_args(argv)

    memory.user_mode(8, 8, 8, 4, 4, 0, 1, 1, 1, 1)  # compile / load the cache
    speedups = []
    print(f"{'M':>4} {'N':>4} {'K':>4} {'RxC':>6} df {'kB':>9} bw {'stalls':>8} "
          f"{'scalesim_s':>10} {'ours_ms':>8} {'speedup':>9}")
    for M, N, K, R, C, df, ik, fk, ok, bw in _cases(args.cases, args.seed):
        t = time.perf_counter()
        ref = run_scalesim_layers([("gemm", M, N, K)], R, C, df, ik, fk, ok, bw)[0]
        t_ref = time.perf_counter() - t
        best = np.inf
        for _ in range(3):
            t = time.perf_counter()
            ours = memory.user_mode(M, N, K, R, C, DATAFLOWS.index(df), ik, fk, ok, bw)
            best = min(best, time.perf_counter() - t)
        bad = [f for f in ref if f in ours and ours[f][0] != ref[f]]
        if bad:
            raise SystemExit(f"mismatch on {(M, N, K, R, C, df, ik, fk, ok, bw)}: {bad}")
        speedups.append(t_ref / best)
        print(f"{M:4d} {N:4d} {K:4d} {R:>3d}x{C:<2d} {df} {ik:>3d}/{fk}/{ok:<3d} {bw:2d} "
              f"{ref['stall_cycles']:8d} {t_ref:10.3f} {best * 1e3:8.3f} {t_ref / best:9.0f}x")
    speedups = np.array(speedups)
    print(f"\nall {len(speedups)} cases exact on every field; speedup over scalesim: "
          f"median {np.median(speedups):.0f}x, min {speedups.min():.0f}x")

    res = subprocess.run([sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True,
                         check=True)
    before, peak, dt, total, stalls = res.stdout.split()
    print(f"\n1024x1024x1024 on 8x8 os (256 kB SRAMs, 10 words/cycle): {float(dt):.1f} s, "
          f"total_cycles {total}, stalls {stalls}; peak RSS {float(peak):.0f} MB "
          f"(process before the run: {float(before):.0f} MB)")

    # the buffer task's load: its sampler's ranges x 105 splits of the SRAM
    rng = np.random.default_rng(args.seed)
    n = args.buffer_workloads
    dims = np.exp(rng.uniform(np.log(8), np.log(513), size=(n, 3))).astype(np.int64)
    sram = np.clip((np.exp(rng.uniform(np.log(16), np.log(1040), size=n)) // 16)
                   .astype(np.int64) * 16, 16, 1024)
    R = rng.choice([4, 8, 16, 32], n)
    C = rng.choice([4, 8, 16, 32], n)
    code = rng.integers(0, 3, n)
    bw = rng.choice([1, 2, 4, 8, 16], n)
    i, j = np.meshgrid(np.arange(1, 15), np.arange(1, 15), indexing="ij")
    keep = i + j <= 15
    i, j = i[keep], j[keep]
    k = 16 - i - j
    per = []
    for w in range(n):
        t = time.perf_counter()
        memory.user_mode(*dims[w], R[w], C[w], code[w], sram[w] * i // 16, sram[w] * j // 16,
                         sram[w] * k // 16, bw[w])
        per.append((time.perf_counter() - t) / len(i))
    per = np.array(per) * 1e3
    print(f"\nbuffer-task load ({n} workloads x {len(i)} splits, M, N, K log-uniform in "
          f"[8, 512], arrays 4..32): per simulation mean {per.mean():.2f} ms, "
          f"median {np.median(per):.3f} ms, max {per.max():.1f} ms")


if __name__ == "__main__":
    main()

"""Speed of the systolic model: the fast path, ``simulate``, and the real SCALE-Sim.

Run: ``python benchmarks/bench_systolic.py [--workloads 100000] [--simulate-workloads 20]
[--scalesim-gemms 20]``

* fast path: ``total_cycles_calc`` over ``workloads x 273`` array configurations
  (rows = 2^a, cols = 2^b, a, b >= 2, rows * cols <= 2^16, dataflow os/ws/is),
  M, N, K log-uniform over 1..16384; evaluations per second and peak traced memory;
* ``simulate`` (every CALC-mode report field) over ``simulate-workloads x 273``;
* the real ``scalesim`` 3.0.0 package on 20 GEMMs, one run each, against ``simulate``
  on the same GEMMs in the same process: per-GEMM speedup (and the outputs must agree).
"""

import argparse
import os
import time
import tracemalloc

import numpy as np

import airchitect as ac
from airchitect.targets.systolic.compute import total_cycles_calc
from airchitect.targets.systolic.scalesim import run_scalesim
from airchitect.targets.systolic.simulate import REPORT_FIELDS


def array_space():
    rows, cols, flows = [], [], []
    for a in range(2, 15):
        for b in range(2, 17 - a):
            for code in range(3):
                rows.append(2**a)
                cols.append(2**b)
                flows.append(code)
    return np.array(rows), np.array(cols), np.array(flows)


def sample(n, rng, high=16384, low=1):
    """M, N, K, each log-uniform over ``low..high``."""
    return [np.floor(np.exp(rng.uniform(np.log(low), np.log(high + 1), n))).astype(np.int64)
            .clip(low, high) for _ in range(3)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workloads", type=int, default=100_000)
    p.add_argument("--simulate-workloads", type=int, default=20)
    p.add_argument("--simulate-high", type=int, default=256)
    p.add_argument("--scalesim-low", type=int, default=32)
    p.add_argument("--scalesim-high", type=int, default=256)
    p.add_argument("--scalesim-gemms", type=int, default=20)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    R, C, D = array_space()
    print(f"array configurations: {R.size}; cores visible: {os.cpu_count()}")

    M, N, K = sample(args.workloads, rng)
    total_cycles_calc(M[:10, None], N[:10, None], K[:10, None], R, C, D)  # compile
    tracemalloc.start()
    t0 = time.perf_counter()
    cycles = total_cycles_calc(M[:, None], N[:, None], K[:, None], R[None], C[None], D[None])
    fast_s = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    evals = cycles.size
    print(f"fast path total_cycles_calc: {args.workloads} x {R.size} = {evals} evaluations in "
          f"{fast_s:.3f} s -> {evals / fast_s:.3e} evals/s (single thread); "
          f"peak traced memory {peak / 2**20:.0f} MiB (output alone {cycles.nbytes / 2**20:.0f} MiB)", flush=True)

    n_sim = args.simulate_workloads
    flows = np.array(["os", "ws", "is"])[D]
    sm, sn, sk = sample(n_sim, np.random.default_rng(2), high=args.simulate_high)
    ac.systolic.simulate(sm[:2, None], sn[:2, None], sk[:2, None], R, C, flows)  # compile
    t0 = time.perf_counter()
    df = ac.systolic.simulate(sm[:, None], sn[:, None], sk[:, None], R, C, flows)
    sim_s = time.perf_counter() - t0
    assert (df["total_cycles"].to_numpy()
            == total_cycles_calc(sm[:, None], sn[:, None], sk[:, None], R, C, D).ravel()).all()
    print(f"simulate (every CALC column, M, N, K <= {args.simulate_high}): {n_sim} x {R.size} = "
          f"{len(df)} rows in {sim_s:.2f} s -> {len(df) / sim_s:.3e} evals/s", flush=True)

    # Real SCALE-Sim, one GEMM per run, on GEMMs of SCALE-Sim-tractable size.
    gm, gn, gk = sample(args.scalesim_gemms, np.random.default_rng(1), high=args.scalesim_high, low=args.scalesim_low)
    shapes = [(8, 8, "os"), (16, 8, "ws"), (8, 16, "is"), (16, 16, "os")]
    ref_s, ours_s, speedups = 0.0, 0.0, []
    for i in range(args.scalesim_gemms):
        r, c, flow = shapes[i % len(shapes)]
        t0 = time.perf_counter()
        ref = run_scalesim([(int(gm[i]), int(gn[i]), int(gk[i]))], r, c, flow)
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = ac.systolic.simulate(gm[i], gn[i], gk[i], r, c, flow)
        t_ours = time.perf_counter() - t0
        for name in REPORT_FIELDS:
            assert ours[name][0] == ref[name][0], (name, i)
        ref_s += t_ref
        ours_s += t_ours
        speedups.append(t_ref / t_ours)
    code = np.array([{"os": 0, "ws": 1, "is": 2}[shapes[i % 4][2]] for i in range(args.scalesim_gemms)])
    rr = np.array([shapes[i % 4][0] for i in range(args.scalesim_gemms)])
    cc = np.array([shapes[i % 4][1] for i in range(args.scalesim_gemms)])
    t0 = time.perf_counter()
    for _ in range(1000):
        total_cycles_calc(gm, gn, gk, rr, cc, code)
    fast_per_gemm = (time.perf_counter() - t0) / 1000 / args.scalesim_gemms
    per_ref = ref_s / args.scalesim_gemms
    print(f"scalesim 3.0.0: {args.scalesim_gemms} GEMMs (M, N, K log-uniform in {args.scalesim_low}..{args.scalesim_high}) in {ref_s:.1f} s, "
          f"{per_ref * 1e3:.0f} ms per GEMM; all report fields equal to simulate")
    print(f"simulate, one call per GEMM: {ours_s / args.scalesim_gemms * 1e3:.2f} ms per GEMM -> "
          f"speedup median {np.median(speedups):.0f}x, min {np.min(speedups):.0f}x")
    from airchitect.targets.systolic import compute
    from airchitect.targets.systolic.geometry import spatial_dims
    from airchitect.targets.systolic.memory.calc_drain import calc_ofmap_drain

    a = [np.asarray(v, np.int64) for v in (gm, gn, gk, rr, cc, code)]
    t0 = time.perf_counter()
    for _ in range(20):
        f = compute.compute_fields(*a)
        Sr, Sc, T = spatial_dims(a[0], a[1], a[2], a[5])
        calc_ofmap_drain(a[5], a[3], a[4], T, Sr, Sc, 256, f["total_cycles"], f["ofmap_valid_writes"])
    model_per_gemm = (time.perf_counter() - t0) / 20 / args.scalesim_gemms
    print(f"compute model alone (compute_fields + CALC OFMAP drain, one call for the 20 GEMMs): "
          f"{model_per_gemm * 1e6:.1f} us per GEMM -> speedup {per_ref / model_per_gemm:.2e}x")
    print(f"fast path, one call for the 20 GEMMs: {fast_per_gemm * 1e6:.3f} us per GEMM -> "
          f"speedup {per_ref / fast_per_gemm:.2e}x")
    print(f"fast path at the bulk rate ({evals / fast_s:.2e} evals/s): speedup "
          f"{per_ref * evals / fast_s:.2e}x")


if __name__ == "__main__":
    main()

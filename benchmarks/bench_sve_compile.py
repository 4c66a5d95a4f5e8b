"""Do the tiles the shipped ``sve`` model predicts compile with IREE and run correctly?

Run: ``python benchmarks/bench_sve_compile.py [--queries 200] [--seed 0] [--space VL ...]``

* ``queries`` workloads from :func:`airchitect.tasks.sve.sample_inputs`
  (``seed``) with ``dtype = "f32"`` (the IREE backend and ``airchitect
  compile --target sve`` are f32): ``ac.predict("sve", ...)`` gives each
  one's ``(vl_bits, m0, n_v, u)``, ``k0 = u``;
* every distinct ``(vl_bits, m0, n_v, k0)`` is compiled with
  ``iree.compile_gemm`` at its vector length and run with ``iree.run`` under
  qemu at that length, on the query's GEMM with each dimension cut to at most
  67 x 71 x 61 (primes, so most tiles are padded); operands are integers in
  -4..4, so the f32 result must equal numpy's ``A @ B`` exactly;
* ``--space VL ...`` instead checks every legal tile of the task's space
  (123) at each given vector length, on the 67 x 71 x 61 GEMM.

Prints one line per pair, then the counts (by ``k0`` and vector length) and
every failure with the first error line of the failing tool. Exit code 1
when a pair fails. Work: one compile (two ``iree-compile`` runs, 2-40 s on
a 2-core machine) and one qemu run (< 1 s) per pair, one pair at a time.
"""

import argparse
import sys
import tempfile
import time
from collections import Counter

import numpy as np

import airchitect as ac
from airchitect.backends import iree
from airchitect.tasks.sve import design_space, sample_inputs

CHECK_SHAPE = (67, 71, 61)


def predicted_pairs(n, seed):
    """Distinct ``(vl_bits, m0, n_v, k0)`` predicted for ``n`` sampled f32 queries, with a check shape each."""
    queries = sample_inputs(n, seed=seed).assign(dtype="f32")
    pairs = {}
    for q in queries.itertuples():
        cfg = ac.predict("sve", M=int(q.M), N=int(q.N), K=int(q.K), dtype="f32", max_vl_bits=int(q.max_vl_bits))
        key = (cfg["vl_bits"], cfg["m0"], cfg["n_v"], cfg["u"])
        shape = tuple(min(int(d), c) for d, c in zip((q.M, q.N, q.K), CHECK_SHAPE))
        pairs.setdefault(key, shape)
    return pairs


def space_pairs(vls):
    """Every legal tile of the sve space at each vector length in ``vls``, on the check shape."""
    space = design_space(2048)
    space = space[space.vl_bits.isin(vls)]
    return {(int(r.vl_bits), int(r.m0), int(r.n_v), int(r.u)): CHECK_SHAPE for r in space.itertuples()}


def check(pair, shape, folder, seed):
    """Compile and run one pair; return ``(ok, compile_s, run_s, message)``."""
    vl, m0, n_v, k0 = pair
    M, N, K = shape
    rng = np.random.default_rng(seed)
    a = rng.integers(-4, 5, (M, K)).astype(np.float32)
    b = rng.integers(-4, 5, (K, N)).astype(np.float32)
    t0 = time.perf_counter()
    try:
        art = iree.compile_gemm(M, N, K, vl, f"{folder}/g.vmfb", m0=m0, n_v=n_v, k0=k0)
    except RuntimeError as err:
        return False, time.perf_counter() - t0, 0.0, f"compile: {err}"
    t1 = time.perf_counter()
    try:
        out = iree.run(art, [a, b])
    except RuntimeError as err:
        return False, t1 - t0, time.perf_counter() - t1, f"run: {err}"
    t2 = time.perf_counter()
    if not np.array_equal(out, a @ b):
        return False, t1 - t0, t2 - t1, f"wrong result: max |error| {float(np.abs(out - a @ b).max())}"
    return True, t1 - t0, t2 - t1, ""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--space", type=int, nargs="*", default=None, help="check the whole space at these VLs")
    args = p.parse_args()
    if iree.missing():
        print("skipped: " + "; ".join(iree.missing()))
        return 0
    print(f"iree-base-compiler {iree.compiler_version()}")
    t = time.perf_counter()
    if args.space:
        pairs = space_pairs(args.space)
        print(f"space: {len(pairs)} legal tiles at VL {', '.join(map(str, args.space))}")
    else:
        pairs = predicted_pairs(args.queries, args.seed)
        print(f"{args.queries} queries (seed {args.seed}, f32) -> {len(pairs)} distinct (tile, VL) pairs "
              f"predicted in {time.perf_counter() - t:.1f} s")
    ok, fails, by_k0, by_vl, total_compile = 0, [], Counter(), Counter(), 0.0
    with tempfile.TemporaryDirectory() as folder:
        for i, (pair, shape) in enumerate(sorted(pairs.items())):
            good, tc, tr, msg = check(pair, shape, folder, seed=i)
            vl, m0, n_v, k0 = pair
            total_compile += tc
            by_k0[(k0, good)] += 1
            by_vl[(vl, good)] += 1
            ok += good
            if not good:
                fails.append((pair, shape, msg))
            print(f"VL {vl:4d} tile {m0:2d} x {n_v} x {k0} on {shape[0]}x{shape[1]}x{shape[2]}: "
                  f"{'ok' if good else 'FAIL'} (compile {tc:.1f} s, run {tr:.1f} s)", flush=True)
    n = len(pairs)
    print(f"\ncompiled and ran correctly: {ok} / {n} ({100 * ok / n:.1f}%); "
          f"total compile time {total_compile:.0f} s, wall {time.perf_counter() - t:.0f} s")
    for k0 in sorted({k for k, _ in by_k0}):
        print(f"  k0 = {k0}: {by_k0[(k0, True)]} / {by_k0[(k0, True)] + by_k0[(k0, False)]}")
    for vl in sorted({v for v, _ in by_vl}):
        print(f"  VL {vl}: {by_vl[(vl, True)]} / {by_vl[(vl, True)] + by_vl[(vl, False)]}")
    for pair, shape, msg in fails:
        print(f"FAILED VL {pair[0]} tile {pair[1]} x {pair[2]} x {pair[3]} on {shape}: {msg}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())

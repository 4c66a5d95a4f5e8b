"""Two versions of the package, timed on the same public calls in the same run.

    python benchmarks/bench_versions.py --base DIR [--rounds 5]

``DIR`` is a checkout of another version (``git worktree add DIR <commit>``).
Each case runs in a fresh process, alternating the base version and this one
(``PYTHONPATH`` first), ``rounds`` times; a process warms the call up once
(imports, numba compilation, model loading) and then times it. Printed per
case: the median seconds of each version and the ratio this / base (below 1:
this version is faster). Only public calls are timed, so any two versions
that share them can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

# name -> (set-up code, timed statement, repeats); both run after ``import airchitect as ac``.
CASES = {
    "predict array, one call": (
        "q = dict(M=512, N=512, K=64, max_macs=4096)", "ac.predict('array', **q)", 200),
    "predict buffer, one call": (
        "q = dict(M=300, N=200, K=100, rows=8, cols=8, dataflow='ws', sram_kb=64, bandwidth=2)",
        "ac.predict('buffer', **q)", 100),
    "recommend buffer k=5, one call": (
        "q = dict(M=300, N=200, K=100, rows=8, cols=8, dataflow='ws', sram_kb=64, bandwidth=2)",
        "ac.recommend('buffer', k=5, **q)", 30),
    "predict sve, one call": (
        "q = dict(M=256, N=256, K=256, dtype='f32', max_vl_bits=512)", "ac.predict('sve', **q)", 100),
    "batch predict array, 10^5 rows": (
        "from airchitect import api; p = api.shipped('array'); X = ac.tasks.get('array').sample(100_000, seed=1)",
        "p.predict(X)", 3),
    "label array, 2x10^4 rows": (
        "t = ac.tasks.get('array'); X = t.sample(20_000, seed=1)", "t.label(X)", 5),
    "label buffer, 300 rows": (
        "t = ac.tasks.get('buffer'); X = t.sample(300, seed=1)", "t.label(X)", 3),
    "label multiarray, 2x10^4 rows": (
        "t = ac.tasks.get('multiarray'); X = t.sample(20_000, seed=1)", "t.label(X)", 5),
    "label cim, 4000 rows": (
        "t = ac.tasks.get('cim'); X = t.sample(4000, seed=1)", "t.label(X)", 5),
    "label sve, 4000 rows": (
        "t = ac.tasks.get('sve'); X = t.sample(4000, seed=1)", "t.label(X)", 5),
    "label cim-schedule, 4000 rows": (
        "t = ac.tasks.get('cim-schedule'); X = t.sample(4000, seed=1)", "t.label(X)", 5),
    "simulate CALC, 500 GEMMs": (
        "g = ac.tasks.get('array').sample(500, seed=2).clip(upper=256)",
        "ac.systolic.simulate(g.M.to_numpy(), g.N.to_numpy(), g.K.to_numpy(), 32, 32, 'ws')", 20),
    "simulate USER, 200 GEMMs": (
        "g = ac.tasks.get('array').sample(200, seed=2).clip(upper=512)",
        "ac.systolic.simulate(g.M.to_numpy(), g.N.to_numpy(), g.K.to_numpy(), 16, 16, 'os', "
        "ifmap_kb=32, filter_kb=32, ofmap_kb=16, bandwidth=4, mode='user')", 5),
    "cim schedule resnet50, 2048 PEs": (
        "", "ac.cim.schedule('resnet50', n_pes=2048, strategy='cross-layer', duplication='auto')", 3),
}

RUNNER = textwrap.dedent("""
    import json, sys, time
    import airchitect as ac
    setup, stmt, repeats = json.loads(sys.argv[1])
    exec(setup)
    exec(stmt)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        exec(stmt)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps(times[len(times) // 2]))
""")


def time_case(root, case):
    """Median seconds of one call of ``case`` in a fresh process importing ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(case)], env=env, cwd="/",
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="checkout of the version to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES), metavar="CASE")
    args = parser.parse_args(argv)
    base = Path(args.base).resolve()
    print(f"base {base}, this {HERE}, {args.rounds} rounds alternating, median of each")
    print("| case | base (s) | this (s) | this / base |\n| --- | --- | --- | --- |")
    for name in args.cases:
        times = {"base": [], "this": []}
        for _ in range(args.rounds):
            times["base"].append(time_case(base, CASES[name]))
            times["this"].append(time_case(HERE, CASES[name]))
        old, new = statistics.median(times["base"]), statistics.median(times["this"])
        print(f"| {name} | {old:.4g} | {new:.4g} | {new / old:.3f} |", flush=True)


if __name__ == "__main__":
    main()

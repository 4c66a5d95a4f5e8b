"""The codesign task's exact cost against SCALE-Sim 3.0.0, on sampled queries of its own space.

For ``--queries`` queries of the codesign sampler (``--seed``) whose GEMM has at most
``--max-macs-per-gemm`` multiply-adds, three configurations each: the exact optimum
(``task.label``, branch and bound), the shipped model's prediction, and the first
random configuration that fits the query's PE budget. Each (query, configuration)
is run through the real SCALE-Sim 3.0.0 in USER mode (in process,
``save_disk_space=True``) and its total cycles, stalls included, compared with
``task.cost_of(..., "cycles")``. A case whose cycles x (rows + cols) exceeds
``--max-trace`` is skipped and counted: SCALE-Sim keeps each layer's traces in
memory, about that many words (a 4 x 256 array on a 4-million-MAC GEMM took 24 GB).

Prints every mismatch, one line of progress every 100 queries and the totals.

Usage: ``python benchmarks/check_codesign_scalesim.py [--queries 300] [--seed 12]
[--max-macs-per-gemm 4000000] [--max-trace 20000000] [--out FILE.md]``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np

import airchitect as ac
from _emit import emit
from airchitect.targets.systolic.scalesim import run_scalesim_layers


def labels_of(task, query, optimum, predicted, rng):
    """The optimum, the prediction and one random label whose array fits the budget."""
    pes = task._space_arrays()["pes"]
    fits = np.flatnonzero(pes <= int(query["max_macs"].iloc[0]))
    return sorted({optimum, predicted, int(rng.choice(fits))})


def scalesim_cycles(query, c):
    """SCALE-Sim's USER-mode total cycles of ``query`` on configuration ``c``
    (``task.config_values`` of one label)."""
    row = run_scalesim_layers([("gemm", *(int(query[d].iloc[0]) for d in "MNK"))],
                              int(c["rows"][0]), int(c["cols"][0]), str(c["dataflow"][0]),
                              int(c["ifmap_kb"][0]), int(c["filter_kb"][0]), int(c["ofmap_kb"][0]),
                              int(query["bandwidth"].iloc[0]))[0]
    return int(row["total_cycles"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--max-macs-per-gemm", type=float, default=4e6)
    parser.add_argument("--max-trace", type=float, default=2e7)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    task = ac.tasks.get("codesign")
    sample = task.validate(task.sample(20 * args.queries, seed=args.seed))
    small = sample[sample.M * sample.N * sample.K <= args.max_macs_per_gemm].reset_index(drop=True)
    inputs = small.iloc[:args.queries].reset_index(drop=True)
    optima = task.label(inputs, objective="cycles")["label"].to_numpy()
    predicted = ac.api.shipped("codesign").estimator.predict(inputs)
    rng = np.random.default_rng(args.seed)
    cases = mismatches = skipped = 0
    start = time.perf_counter()
    for r in range(len(inputs)):
        query = inputs.iloc[[r]].reset_index(drop=True)
        for label in labels_of(task, query, int(optima[r]), int(predicted[r]), rng):
            ours = int(np.asarray(task.cost_of(query, np.array([label]), "cycles"))[0])
            c = task.config_values(query, [label])
            if ours * (int(c["rows"][0]) + int(c["cols"][0])) > args.max_trace:
                skipped += 1
                continue
            theirs = scalesim_cycles(query, c)
            cases += 1
            if ours != theirs:
                mismatches += 1
                print(f"mismatch: {query.iloc[0].to_dict()} label {label}: ours {ours}, SCALE-Sim {theirs}",
                      flush=True)
        if (r + 1) % 100 == 0:
            print(f"{r + 1} queries, {cases} cases, {mismatches} mismatches, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)
    emit(f"machine: {platform.machine()}, python {platform.python_version()}; {len(inputs)} codesign "
         f"queries (seed {args.seed}, at most {args.max_macs_per_gemm:.0f} MACs a GEMM); {cases} "
         f"(query, configuration) cases run through SCALE-Sim 3.0.0 in USER mode, {mismatches} "
         f"with other total cycles than task.cost_of; {skipped} skipped (cycles x (rows + cols) "
         f"above {args.max_trace:.0f}); {time.perf_counter() - start:.0f} s", args.out)
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())

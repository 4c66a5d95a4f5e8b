"""Network co-design: exact branch and bound against the searches users run (Optuna).

For real networks under several (max_macs, sram_kb, bandwidth) budgets this
prints, measured in the same run:

* the exact optimum of ``ac.codesign`` (USER-mode layer simulations used, the
  enumeration's count, wall time);
* for Optuna's random, TPE and NSGA-II samplers (and the GP sampler on the
  first budget, at most 32 trials: its cost grows with the trials), the best
  network cost found after 8, 32, 128 and 512 exact network evaluations, as a
  percentage of the exact optimum (100% = found it), the number of evaluations
  it needed to reach the optimum (">512" when it did not) and its wall time;
* the same per workload (a GEMM is a network of one layer) on sampled queries.

Usage: ``python benchmarks/bench_codesign_network.py [--quick] [--out FILE.md]``
(``--quick``: one network, one budget, 32 trials). About 30-60 minutes on the
2-core machine.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np
import pandas as pd

import airchitect as ac
from airchitect.network_design.baselines import optuna_search

NETWORKS = ("resnet50", "mobilenetv2", "bert-base-128", "gpt2-decode")
BUDGETS = ((1024, 256, 8), (4096, 512, 4), (16384, 1024, 16))
CHECKPOINTS = (8, 32, 128, 512)
SAMPLERS = ("random", "tpe", "nsga2")


def _markdown(frame, index=False):
    """A DataFrame as a Markdown table."""
    if index:
        frame = frame.reset_index()
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _quality(optimum, trace):
    """Percent of the optimum reached after each checkpoint (100 = optimum)."""
    return [100.0 * optimum / trace[min(c, len(trace)) - 1] for c in CHECKPOINTS if c <= len(trace)]


def _needed(optimum, trace):
    hit = np.flatnonzero(trace <= optimum * (1 + 1e-12))
    return str(int(hit[0]) + 1) if hit.size else f">{len(trace)}"


def run_network(name, budget, objective, trials, gp):
    max_macs, sram_kb, bandwidth = budget
    exact = ac.codesign(name, max_macs=max_macs, sram_kb=sram_kb, bandwidth=bandwidth,
                        objective=objective)
    rows = [{"network": name, "budget": f"{max_macs}/{sram_kb}/{bandwidth}", "search": "exact (B&B)",
             "evaluations": f"{exact.simulations} sims of {exact.enumeration}",
             **{f"@{c}": "" for c in CHECKPOINTS}, "to optimum": "-",
             "wall_s": round(exact.wall_s, 2)}]
    samplers = SAMPLERS + (("gp",) if gp else ())
    for sampler in samplers:
        n = min(trials, 32) if sampler == "gp" else trials
        out = optuna_search(name, max_macs=max_macs, sram_kb=sram_kb, bandwidth=bandwidth,
                            objective=objective, sampler=sampler, n_trials=n, seed=0)
        quality = _quality(exact.cost, out["trace"])
        rows.append({"network": name, "budget": rows[0]["budget"], "search": f"optuna {sampler}",
                     "evaluations": f"{n} network evals ({n * len(exact.layers)} sims)",
                     **{f"@{c}": (f"{q:.2f}%" if c <= n else "not run") for c, q in
                        zip(CHECKPOINTS, quality + [0.0] * len(CHECKPOINTS))},
                     "to optimum": _needed(exact.cost, out["trace"]), "wall_s": round(out["wall_s"], 2)})
    return rows, exact


def run_workloads(n, objective, trials):
    task = ac.tasks.get("codesign")
    queries = task.sample(n, seed=11)
    rows = []
    for _, q in queries.iterrows():
        net = {"M": [q.M], "N": [q.N], "K": [q.K]}
        exact = ac.codesign(net, max_macs=q.max_macs, sram_kb=q.sram_kb, bandwidth=q.bandwidth,
                            objective=objective)
        rec = {"sims": exact.simulations, "exact_s": exact.wall_s}
        for sampler in SAMPLERS:
            out = optuna_search(net, max_macs=q.max_macs, sram_kb=q.sram_kb, bandwidth=q.bandwidth,
                                objective=objective, sampler=sampler, n_trials=trials, seed=0)
            for c, qual in zip(CHECKPOINTS, _quality(exact.cost, out["trace"])):
                rec[f"{sampler}@{c}"] = qual
            rec[f"{sampler}_s"] = out["wall_s"]
        rows.append(rec)
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--objective", default="cycles")
    parser.add_argument("--workloads", type=int, default=20)
    args = parser.parse_args(argv)
    networks = NETWORKS[:1] if args.quick else NETWORKS
    budgets = BUDGETS[:1] if args.quick else BUDGETS
    trials = 32 if args.quick else CHECKPOINTS[-1]
    print(f"# Network co-design: exact search vs Optuna ({args.objective})\n")
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python "
          f"{sys.version.split()[0]}; optuna {__import__('optuna').__version__}\n")
    all_rows = []
    for name in networks:
        for b, budget in enumerate(budgets):
            start = time.perf_counter()
            rows, exact = run_network(name, budget, args.objective, trials, gp=(b == 0))
            all_rows += rows
            print(f"{name} {budget}: {exact.summary()} [{time.perf_counter() - start:.0f} s]",
                  flush=True)
    table = pd.DataFrame(all_rows)
    print("\n## Per network (quality = exact optimum / best found, after N exact network evaluations)\n")
    print(_markdown(table))
    frame = run_workloads(2 if args.quick else args.workloads, args.objective, trials)
    print(f"\n## Per workload ({len(frame)} sampled codesign queries; GeoMean quality after N "
          f"evaluations)\n")
    summary = {"exact: simulations (median, p90)": f"{np.median(frame.sims):.0f}, "
                                                   f"{np.percentile(frame.sims, 90):.0f} of 28,665",
               "exact: wall time median (s)": f"{np.median(frame.exact_s):.3f}"}
    for sampler in SAMPLERS:
        for c in CHECKPOINTS:
            column = f"{sampler}@{c}"
            if column in frame:
                summary[f"optuna {sampler} @{c}"] = f"{np.exp(np.log(frame[column]).mean()):.3f}%"
        summary[f"optuna {sampler}: wall time median (s)"] = f"{np.median(frame[f'{sampler}_s']):.3f}"
    print(_markdown(pd.Series(summary).to_frame("value"), index=True))


if __name__ == "__main__":
    main()

"""How good a task's shipped models are on many fresh queries.

The held-out figures in MODELS.md are one seed's queries; this measures the same on
any number of further queries of the task's sampler (``--seed``), batched through
the shipped predictor of every objective the task ships one for (codesign: cycles
and EDP): the exact optimum of every query (``task.label``; codesign's branch and
bound), the predicted configuration's exact cost (``task.cost_of``), and from them
GeoMean % of the optimum, top-1, the worst slowdowns and how many queries lose more
than 2x. A GeoMean is a mean of logs, so one query that loses 1000x moves 2,000
queries' GeoMean by 0.35 points: the GeoMean without the worst query is printed
beside it.

Work: the exact labels (codesign: about 6 ms a query for cycles and 9 ms for EDP;
buffer: the event model on all 105 splits), on numba's threads; memory that of
``task.label`` over the queries.

Usage: ``python benchmarks/bench_model_quality.py [--task codesign] [--queries 10000] [--seed 2027] [--out FILE.md]``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np

import airchitect as ac
from _emit import emit
from airchitect import api


def shipped_objectives(task):
    """The task's default objective, then every other one it ships a model for."""
    extra = [o for o in task.objectives[1:] if api._shipped_objective(task, None, o) is not None]
    return [task.default_objective] + [o for o in extra if o != task.default_objective]


def quality(task, inputs, objective):
    """One table row: the shipped ``objective`` model's batched predictions on ``inputs``
    (validated) against the exact optima."""
    start = time.perf_counter()
    shipped_for = None if objective == task.default_objective else objective
    estimator = api.shipped(task.name, objective=shipped_for).estimator
    labelled = task.label(inputs, objective=objective)
    predicted = estimator.predict(inputs)
    cost = np.asarray(task.cost_of(inputs, predicted, objective), dtype=np.float64)
    slowdown = np.sort(cost / labelled["best_cost"].to_numpy(dtype=np.float64))
    geomean = 100 / np.exp(np.log(slowdown).mean())
    without = 100 / np.exp(np.log(slowdown[:-1]).mean())
    top1 = (predicted == labelled["label"].to_numpy()).mean()
    return (f"| {objective} | {geomean:.4f} | {without:.4f} | {top1:.2%} | "
            f"{', '.join(f'{s:.4g}' for s in slowdown[::-1][:3])} | {(slowdown > 2).sum()} "
            f"| {time.perf_counter() - start:.0f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="codesign")
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2027, help="seed of the queries")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    task = ac.tasks.get(args.task)
    inputs = task.validate(task.sample(args.queries, seed=args.seed))
    lines = [f"machine: {platform.machine()}, python {platform.python_version()}; {args.queries} queries "
             f"of the {task.name} sampler, seed {args.seed}; shipped models, batched predictions", "",
             "| objective | GeoMean % | without the worst query | top-1 | worst slowdowns | "
             "queries > 2x | s |", "|---|---:|---:|---:|---|---:|---:|"]
    lines += [quality(task, inputs, objective) for objective in shipped_objectives(task)]
    emit("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

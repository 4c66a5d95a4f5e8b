"""Where one codesign prediction's time goes, against the per-query targets.

Issue 18 asks one ``ac.predict("codesign", ...)`` to be at least 50x faster than
the branch-and-bound search and 1000x faster than enumerating the space. This
measures, in one run on the queries of ``bench_codesign_model.py`` (sampler seed 7):

* the references: ``task.search`` (median of the queries) and ``task.costs``
  over the 28,665 configurations (median of ``--enumerate`` queries), and the
  time each target leaves a prediction (search / 50, enumeration / 1000);
* the public call, ``ac.predict`` (median), and its parts: the query checked and
  framed (``api._query``), the model's answer for that frame
  (``Predictor.labels_of_validated``), the answer's record (``api._record``), and
  within the answer its candidates alone: every proposal the model carries (trunk,
  heads, beam search; ``FactorisedClassifier._pool``, compiled for one query);
* a floor no implementation of these networks escapes: each of the proposals'
  weight matrices times one vector, back to back (the least memory traffic of
  one query: every weight read once).

Each figure is also printed as a share of the tighter of the two budgets.

Usage: ``python benchmarks/bench_codesign_floor.py [--queries 200] [--enumerate 5] [--out FILE.md]``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np

import airchitect as ac
from _emit import emit
from bench_codesign_model import query_arguments, sampled_queries
from airchitect import api
from airchitect.learn import few_rows


def median_us(fn, n):
    """Median wall time of ``fn(i)`` for ``i`` in ``range(n)``, microseconds."""
    times = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def proposal_nets(estimator):
    """``(encoder, weights)`` of every proposal the model carries (its own, a companion's)."""
    nets = [(estimator.encoder_, estimator.module_)]
    if getattr(estimator, "companion_", None) is not None:
        nets.append(estimator.companion_)
    return [(encoder, few_rows.weights(net)) for encoder, net in nets]


def main(argv=None):
    args = query_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv)
    task = ac.tasks.get("codesign")
    sample, records = sampled_queries(task, args.queries, args.seed)
    n = len(records)
    task.costs(task.validate(sample.iloc[[0]]), "cycles")  # compile once
    enumeration = median_us(lambda i: task.costs(task.validate(sample.iloc[[i]]), "cycles"), args.enumerate)
    lines = [f"machine: {platform.machine()}, python {platform.python_version()}; {n} queries of the "
             f"codesign sampler, seed {args.seed}; enumeration (task.costs, 28,665 configurations): "
             f"median {enumeration / 1e3:.1f} ms over {args.enumerate} queries", "",
             "| objective | B&B us | budget 50x us | budget 1000x us | ac.predict us | query checked us "
             "| model answer us | answer recorded us | proposals us | weights x one vector us (MB) | floor / budget |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for objective in ("cycles", "edp"):
        predictor = api.shipped("codesign", objective=None if objective == "cycles" else objective)
        estimator = predictor.estimator
        ac.predict("codesign", objective=objective, **records[0])  # load and compile once
        task.search(objective=objective, runner_up=False, **records[0])
        search = median_us(lambda i: task.search(objective=objective, runner_up=False, **records[i]), n)
        public = median_us(lambda i: ac.predict("codesign", objective=objective, **records[i]), n)
        checked = median_us(lambda i: api._query(predictor, records[i]), n)
        frames = [api._query(predictor, r) for r in records]
        answer = median_us(lambda i: predictor.labels_of_validated(frames[i]), n)
        labels = [int(predictor.labels_of_validated(f)[0]) for f in frames]
        recorded = median_us(lambda i: api._record(task, frames[i], labels[i]), n)
        proposals = median_us(lambda i: estimator._pool(frames[i], estimator.candidates), n)
        nets = proposal_nets(estimator)
        matrices = [m for _, w in nets for name, m in w.items()
                    if m.ndim == 2 and not name.startswith(("scorer", "array_embedding"))]
        vectors = [np.ones((1, m.shape[0]), np.float32) for m in matrices]
        floor = median_us(lambda i: [v @ m for v, m in zip(vectors, matrices)], n)
        budget = min(search / 50, enumeration / 1000)
        megabytes = sum(m.nbytes for m in matrices) / 1e6
        lines.append(f"| {objective} | {search:.0f} | {search / 50:.0f} | {enumeration / 1000:.0f} | {public:.0f} "
                     f"| {checked:.0f} | {answer:.0f} | {recorded:.0f} | {proposals:.0f} | {floor:.0f} ({megabytes:.1f}) "
                     f"| {floor / budget:.2f} |")
    lines += ["", "budget 50x: the branch and bound's median / 50; budget 1000x: the enumeration's / 1000; "
              "floor / budget: the weights-times-one-vector floor over the tighter budget."]
    emit("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

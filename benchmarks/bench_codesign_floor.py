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
  one query: every weight read once);
* the compiled kernels inside the public call, each timed where the call runs it
  (every numba kernel of the package that the call enters from Python, wrapped in a
  timer): what would be left if everything around them (pandas, numpy passes over
  small arrays, Python) cost nothing;
* how many candidates a prediction must rank: the GeoMean of the best exact cost
  among the proposal's ``k`` most probable (a perfect scorer), against the exact
  optima (``task.label``).

Each time is also printed as a share of the tighter of the two budgets.

Usage: ``python benchmarks/bench_codesign_floor.py [--queries 200] [--enumerate 5] [--out FILE.md]``.
"""

from __future__ import annotations

import argparse
import functools
import platform
import sys
import time

import numpy as np

import airchitect as ac
from _emit import emit
from bench_codesign_model import query_arguments, sampled_queries
from airchitect import api
from airchitect.learn import few_rows
from numba.core.registry import CPUDispatcher

#: candidates of the best-of-k table
BEST_OF = (1, 4, 8, 16, 24, 32, 48, 64)


def median_us(fn, n):
    """Median wall time of ``fn(i)`` for ``i`` in ``range(n)``, microseconds."""
    times = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def kernel_times(call, n):
    """Median over ``call(i)``, ``i`` in ``range(n)``, of the time spent in each numba
    kernel of the package that Python enters, and of their sum: ``{name: us}``."""
    spent, per_call = {}, []

    def timed(name, kernel):
        @functools.wraps(kernel)
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return kernel(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
        return run

    wrapped = [(module, name, value) for module_name, module in list(sys.modules.items())
               if module_name.startswith("airchitect") and module is not None
               for name, value in list(vars(module).items())
               if isinstance(value, CPUDispatcher) and value.__module__ == module_name]
    for module, name, kernel in wrapped:
        setattr(module, name, timed(f"{module.__name__.removeprefix('airchitect.')}.{name}", kernel))
    try:
        for i in range(n):
            spent.clear()
            call(i)
            per_call.append(dict(spent))
    finally:
        for module, name, kernel in wrapped:
            setattr(module, name, kernel)
    names = sorted({k for p in per_call for k in p})
    out = {k: float(np.median([p.get(k, 0.0) for p in per_call])) * 1e6 for k in names}
    out["sum"] = float(np.median([sum(p.values()) for p in per_call])) * 1e6
    return out


def best_of_k(task, sample, estimator, objective):
    """GeoMean % of the exact optimum of the best exact cost among the proposal's
    ``k`` most probable candidates, for each ``k`` of :data:`BEST_OF`."""
    inputs = task.validate(sample)
    best = task.label(inputs, objective=objective)["best_cost"].to_numpy(dtype=np.float64)
    proposed = estimator.proposed(inputs, max(BEST_OF))
    cost = np.stack([np.asarray(task.cost_of(inputs, proposed[:, j], objective), dtype=np.float64)
                     for j in range(proposed.shape[1])], axis=1)
    return {k: 100 / float(np.exp(np.log(cost[:, :k].min(axis=1) / best).mean())) for k in BEST_OF}


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
    kernels, best = {}, {}
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
        kernels[objective] = (kernel_times(
            lambda i: ac.predict("codesign", objective=objective, **records[i]), n), budget)
        best[objective] = best_of_k(task, sample, estimator, objective)
        megabytes = sum(m.nbytes for m in matrices) / 1e6
        lines.append(f"| {objective} | {search:.0f} | {search / 50:.0f} | {enumeration / 1000:.0f} | {public:.0f} "
                     f"| {checked:.0f} | {answer:.0f} | {recorded:.0f} | {proposals:.0f} | {floor:.0f} ({megabytes:.1f}) "
                     f"| {floor / budget:.2f} |")
    lines += ["", "budget 50x: the branch and bound's median / 50; budget 1000x: the enumeration's / 1000; "
              "floor / budget: the weights-times-one-vector floor over the tighter budget."]
    names = sorted({k for t, _ in kernels.values() for k in t if k != "sum"})
    lines += ["", "Compiled kernels inside one `ac.predict` (median us a call; a kernel the call "
              "does not enter: 0):", "",
              "| objective | " + " | ".join(names) + " | all kernels | all / budget |",
              "|---|" + "---:|" * (len(names) + 2)]
    for objective, (t, budget) in kernels.items():
        lines.append(f"| {objective} | " + " | ".join(f"{t.get(k, 0.0):.0f}" for k in names)
                     + f" | {t['sum']:.0f} | {t['sum'] / budget:.2f} |")
    lines += ["", "Best exact cost among the proposal's k most probable candidates (a perfect "
              "scorer), GeoMean % of the exact optimum:", "",
              "| objective | " + " | ".join(f"k={k}" for k in BEST_OF) + " |",
              "|---|" + "---:|" * len(BEST_OF)]
    for objective, table in best.items():
        lines.append(f"| {objective} | " + " | ".join(f"{table[k]:.3f}" for k in BEST_OF) + " |")
    emit("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

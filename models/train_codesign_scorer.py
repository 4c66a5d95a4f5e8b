"""Retrain the scorer of a shipped codesign model to read the buffers' stalls.

    python models/train_codesign_scorer.py [--objective cycles|edp] [--queries 50000] [--jobs 2]

Keeps the proposal of the shipped per-workload model (``models/train.py --task
codesign``, ``airchitect/models/codesign`` or ``.../edp``) and trains its scorer
anew with ``stall_features=True`` (:func:`airchitect.learn.factorised.stall_features`):
``--queries`` fresh queries of the codesign sampler (seed ``--seed``), labelled
exactly by the branch and bound (``task.label``), the proposal's candidates and
the optimum of each simulated exactly, ``--epochs`` passes of smooth-L1
regression. The held-out metrics are measured on ``--test`` further queries
(seed ``--seed + 1``), labelled the same way, and replace the model's; the model
is saved in place (or to ``--out``). Work: the labels (about 6 ms a query for
cycles, 9 ms for EDP, over ``--jobs`` processes), then about 33 simulated pairs a
training query and the scorer's epochs over them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd
import torch

import airchitect as ac
from airchitect import api
from airchitect.learn import metrics
from airchitect.learn.train import evaluate


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def label_chunk(queries, objective):
    torch.set_num_threads(1)
    return ac.tasks.get("codesign").label(queries, objective=objective)


def labelled(task, n, seed, objective, jobs, chunk=500):
    """``n`` sampler queries (``seed``) with their exact optimum: ``task.label``'s frame."""
    from joblib import Parallel, delayed

    queries = task.validate(task.sample(n, seed=seed))
    parts = Parallel(n_jobs=jobs)(delayed(label_chunk)(queries.iloc[s:s + chunk], objective)
                                  for s in range(0, n, chunk))
    return pd.concat(parts, ignore_index=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objective", default="cycles", choices=["cycles", "edp"])
    parser.add_argument("--queries", type=int, default=50_000)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=106)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.queries < 1 or args.test < 1:
        parser.error("--queries and --test must be >= 1")
    task = ac.tasks.get("codesign")
    objective = None if args.objective == "cycles" else args.objective
    out = args.out or api.shipped_path("codesign", objective=objective)
    predictor = api.shipped("codesign", objective=objective)
    start = time.perf_counter()
    train = labelled(task, args.queries, args.seed, args.objective, args.jobs)
    test = labelled(task, args.test, args.seed + 1, args.objective, args.jobs)
    label_s = time.perf_counter() - start
    log(f"{args.queries} + {args.test} queries labelled in {label_s:.0f} s")
    torch.set_num_threads(2)
    start = time.perf_counter()
    inputs = task.validate(train[list(task.input_columns)])
    predictor.estimator.refit_scorer(inputs, train["label"].to_numpy(), stall_features=True,
                                     scorer_width=args.width, scorer_rows=args.queries,
                                     scorer_epochs=args.epochs, seed=args.seed, verbose=True)
    fit_s = time.perf_counter() - start
    log(f"scorer fitted in {fit_s:.0f} s")
    held = evaluate(predictor, test, args.objective)
    held["majority"] = metrics.majority_baseline(task, task.validate(test[list(task.input_columns)]),
                                                 test["label"].to_numpy(), train["label"].to_numpy(),
                                                 args.objective)
    held["queries"] = {"sampler_seed": args.seed + 1, "n": args.test}
    predictor.metadata["metrics"]["held_out"] = held
    predictor.metadata["training"]["scorer"] = {
        "stall_features": True, "queries": args.queries, "sampler_seed": args.seed,
        "epochs": args.epochs, "width": args.width, "label_seconds": round(label_s, 1),
        "fit_seconds": round(fit_s, 1)}
    predictor.save(out)
    print(json.dumps(predictor.metadata["metrics"], indent=2))


if __name__ == "__main__":
    main()

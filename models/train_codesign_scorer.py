"""Retrain the scorer of a shipped codesign model to read the buffers' stalls.

    python models/train_codesign_scorer.py [--objective cycles|edp] [--candidates N]
        [--train-candidates N] [--queries 50000] [--epochs 30]

Keeps the proposal of the shipped per-workload model (``models/train.py --task
codesign``, ``airchitect/models/codesign`` or ``.../edp``) and trains its scorer
anew with ``stall_features=True`` (:func:`airchitect.learn.factorised.stall_features`):
``--queries`` fresh queries of the codesign sampler (seed ``--seed``), labelled
exactly by the branch and bound (``task.label``), the proposal's candidates and
the optimum of each simulated exactly, ``--epochs`` passes of smooth-L1
regression. The held-out metrics are measured on ``--test`` further queries
(seed ``--seed + 1``), labelled the same way, and replace the model's; the model
is saved in place (or to ``--out``). With ``--cache DIR`` the labelled queries are
kept there as Parquet and reused by a later run with the same arguments. Work: the labels (about 6 ms a query for
cycles, 9 ms for EDP, over ``--jobs`` processes), then about 33 simulated pairs a
training query and the scorer's epochs over them.

``--companion DIR --companion-candidates N`` makes the model carry the proposal of
the factorised codesign model saved in ``DIR`` (e.g. ``airchitect/models/codesign``,
the cycles model): its ``N`` most probable labels join the candidates the scorer
ranks (:meth:`~airchitect.learn.factorised.FactorisedClassifier.attach_companion`).
``--keep-scorer`` keeps the model's scorer (the training queries then serve only
the majority baseline; the held-out metrics are measured anew). The shipped EDP model is
``python models/train.py --task codesign --objective edp``, then::

    python models/train_codesign_scorer.py --objective edp --candidates 64 \
        --train-candidates 128 --epochs 40
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import pandas as pd
import torch

import airchitect as ac
from airchitect import api
from airchitect._files import write_atomic
from airchitect.learn import Predictor, metrics
from airchitect.learn.train import evaluate


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def label_chunk(queries, objective):
    torch.set_num_threads(1)
    return ac.tasks.get("codesign").label(queries, objective=objective)


def cache_name(objective, seed, n):
    return f"codesign-{objective}-seed{seed}-n{n}.parquet"


def labelled(task, n, seed, objective, jobs, cache=None, chunk=500):
    """``n`` sampler queries (``seed``) with their exact optimum: ``task.label``'s frame,
    read from or kept in the folder ``cache`` when given."""
    from joblib import Parallel, delayed

    file = None if cache is None else Path(cache) / cache_name(objective, seed, n)
    if file is not None and file.exists():
        return pd.read_parquet(file)
    queries = task.validate(task.sample(n, seed=seed))
    parts = Parallel(n_jobs=jobs)(delayed(label_chunk)(queries.iloc[s:s + chunk], objective)
                                  for s in range(0, n, chunk))
    frame = pd.concat(parts, ignore_index=True)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        write_atomic(file, buffer.getvalue())
    return frame


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objective", default="cycles", choices=["cycles", "edp"])
    parser.add_argument("--queries", type=int, default=50_000)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=106)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--candidates", type=int, default=None,
                        help="candidates the scorer ranks (default: the model's, 32)")
    parser.add_argument("--train-candidates", type=int, default=None,
                        help="candidates of each training query the scorer learns from "
                             "(default: --candidates)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None)
    parser.add_argument("--cache", default=None, help="folder that keeps the labelled queries")
    parser.add_argument("--companion", default=None, help="folder of a saved factorised codesign model "
                                                          "whose proposal the model carries")
    parser.add_argument("--companion-candidates", type=int, default=None,
                        help="the companion's candidates that join the ranking (with --companion)")
    parser.add_argument("--keep-scorer", action="store_true", help="keep the model's scorer")
    args = parser.parse_args(argv)
    if args.queries < 1 or args.test < 1:
        parser.error("--queries and --test must be >= 1")
    if (args.companion is None) != (args.companion_candidates is None):
        parser.error("--companion and --companion-candidates go together")
    if args.companion_candidates is not None and not 1 <= args.companion_candidates <= 4096:
        parser.error("--companion-candidates must be in [1, 4096]")
    task = ac.tasks.get("codesign")
    objective = None if args.objective == "cycles" else args.objective
    out = args.out or api.shipped_path("codesign", objective=objective)
    # a copy of its own: the one api.shipped keeps for ac.predict in this process stays as it is
    predictor = Predictor.load(api.shipped_path("codesign", objective=objective))
    ranked = predictor.estimator.candidates if args.candidates is None else args.candidates
    learned = ranked if args.train_candidates is None else args.train_candidates
    if not (1 <= learned <= 4096 and 1 <= ranked <= 4096):
        parser.error("--candidates and --train-candidates must be in [1, 4096]")
    if args.companion is not None:
        try:
            companion = Predictor.load(args.companion, task="codesign")
            if not hasattr(companion.estimator, "attach_companion"):
                raise ValueError("not a factorised codesign model")
            predictor.estimator.attach_companion(companion.estimator, args.companion_candidates)
        except (OSError, ValueError) as err:
            parser.error(f"--companion {args.companion}: {err}")
        predictor.metadata["training"]["companion"] = {
            "model": Path(args.companion).resolve().name, "objective": companion.estimator.objective,
            "candidates": args.companion_candidates}
    names = [cache_name(args.objective, s, n) for s, n in ((args.seed, args.queries), (args.seed + 1, args.test))]
    from_cache = args.cache is not None and all((Path(args.cache) / name).exists() for name in names)
    start = time.perf_counter()
    train = labelled(task, args.queries, args.seed, args.objective, args.jobs, args.cache)
    test = labelled(task, args.test, args.seed + 1, args.objective, args.jobs, args.cache)
    label_s = time.perf_counter() - start
    log(f"{args.queries} + {args.test} queries labelled in {label_s:.0f} s")
    torch.set_num_threads(2)
    if args.keep_scorer:
        predictor.metadata["training"].setdefault("scorer", {})["ranked"] = ranked
    else:
        start = time.perf_counter()
        inputs = task.validate(train[list(task.input_columns)])
        predictor.estimator.refit_scorer(inputs, train["label"].to_numpy(), stall_features=True,
                                         scorer_width=args.width, scorer_rows=args.queries,
                                         scorer_epochs=args.epochs, seed=args.seed, verbose=True,
                                         candidates=learned)
        fit_s = time.perf_counter() - start
        log(f"scorer fitted in {fit_s:.0f} s")
        predictor.metadata["training"]["scorer"] = {
            "stall_features": True, "queries": args.queries, "sampler_seed": args.seed,
            "epochs": args.epochs, "width": args.width, "candidates": learned, "ranked": ranked,
            "fit_seconds": round(fit_s, 1),
            **({"labels_from_cache": True} if from_cache else {"label_seconds": round(label_s, 1)})}
    predictor.estimator.set_params(candidates=ranked)
    held = evaluate(predictor, test, args.objective)
    held["majority"] = metrics.majority_baseline(task, task.validate(test[list(task.input_columns)]),
                                                 test["label"].to_numpy(), train["label"].to_numpy(),
                                                 args.objective)
    held["queries"] = {"sampler_seed": args.seed + 1, "n": args.test}
    predictor.metadata["metrics"]["held_out"] = held
    predictor.save(out)
    print(json.dumps(predictor.metadata["metrics"], indent=2))


if __name__ == "__main__":
    main()

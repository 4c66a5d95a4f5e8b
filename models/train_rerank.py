"""Train the codesign reranker that ``ac.recommend`` uses, with a fixed seed.

    python models/train_rerank.py [--queries 40000] [--epochs 10] [--jobs 2]

Draws ``--queries`` workloads of the codesign sampler (seed ``--seed``, not the
seeds of the benchmarks), takes each shipped per-workload model's (cycles and
EDP) ``POOL`` best candidates, ``--deep`` drawn from its next ``POOL`` and
``--random`` allowed configurations at random, simulates every distinct
(workload, configuration) pair exactly and fits the reranker
(:mod:`airchitect.network_design.rerank`) to them. The reranker is saved to
``airchitect/models/codesign/rerank`` (or ``--out``). Work: about 200 pairs a
query, simulated and featurised in chunks of ``--chunk`` queries over ``--jobs``
processes, then ``--epochs`` passes of the scorer over the pairs.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import airchitect as ac
from airchitect import api
from airchitect.network_design.rerank import POOL, SHIPPED, new_reranker, rerank_pairs


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def candidates(task, inputs, deep, n_random, seed):
    """``(n, 2 x (POOL + deep) + n_random)`` labels of each validated row: for each
    shipped model, its ``POOL`` best and ``deep`` of its next ``POOL``, then random
    allowed labels (repeats possible; :func:`rerank_pairs` keeps one of each)."""
    rng = np.random.default_rng([seed, 3])
    parts = []
    for objective in (None, "edp"):  # the cycles model, then the EDP model
        predictor = api.shipped("codesign", "recommend", objective)
        top = predictor.top_k(inputs, 2 * POOL)
        pick = rng.random((len(inputs), POOL)).argsort(axis=1)[:, :deep] + POOL
        parts += [top[:, :POOL], np.take_along_axis(top, pick, axis=1)]
    allowed = task.allowed(inputs, validated=True)
    draws = rng.random(allowed.shape) * allowed
    parts.append(np.argsort(-draws, axis=1)[:, :n_random])
    return np.concatenate(parts, axis=1)


def chunk_pairs(inputs, start, args):
    """Training pairs of the validated queries ``inputs``, the sample's from ``start``."""
    import torch

    torch.set_num_threads(1)
    task = ac.tasks.get("codesign")
    inputs = inputs.reset_index(drop=True)
    return rerank_pairs(task, inputs, candidates(task, inputs, args.deep, args.random, args.seed + start))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=105)
    parser.add_argument("--deep", type=int, default=64, help=f"candidates drawn from ranks {POOL + 1}..{2 * POOL}")
    parser.add_argument("--random", type=int, default=8, help="random allowed configurations a query")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=str(SHIPPED))
    args = parser.parse_args(argv)
    if not 0 <= args.deep <= POOL or args.queries < 1 or args.random < 0:
        parser.error(f"--deep must be in [0, {POOL}], --queries >= 1 and --random >= 0")
    from joblib import Parallel, delayed

    task = ac.tasks.get("codesign")
    start = time.perf_counter()
    queries = task.validate(task.sample(args.queries, seed=args.seed))
    parts = Parallel(n_jobs=args.jobs)(delayed(chunk_pairs)(queries.iloc[b:b + args.chunk], b, args)
                                       for b in range(0, args.queries, args.chunk))
    features = np.concatenate([p[0] for p in parts])
    targets = np.concatenate([p[1] for p in parts])
    data_s = time.perf_counter() - start
    log(f"{len(targets)} pairs of {args.queries} queries in {data_s:.0f} s")
    start = time.perf_counter()
    training = {"queries": args.queries, "seed": args.seed, "pool": POOL, "deep": args.deep,
                "random": args.random, "pairs": int(len(targets)), "epochs": args.epochs, "width": args.width,
                "data_seconds": round(data_s, 1)}
    model = new_reranker(task, features, targets, width=args.width, epochs=args.epochs, verbose=True,
                         training=training)
    model.training["fit_seconds"] = round(time.perf_counter() - start, 1)
    model.save(args.out)
    log(f"saved to {args.out} (fit {model.training['fit_seconds']} s)")


if __name__ == "__main__":
    main()

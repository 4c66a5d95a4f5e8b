"""Train a shipped model from its regenerated dataset, with a fixed seed.

    python models/train.py --task array

Regenerates ``datasets/<task>/full`` (10^5 workloads, seed 0) if it is
missing, trains the task's model with the hyper-parameters below, measures it
on the held-out 10% (and, for ``array``, on the GEMM layers of every network
in ``ac.workloads.networks()`` under every ``max_macs`` budget), and saves it
to ``airchitect/models/<task>`` where ``ac.predict`` finds it. With
``--recommend``, trains the model whose ranking ``ac.recommend`` re-ranks where
the task has one of its own (buffer: boosted trees, while ``ac.predict`` uses the
split-stall estimate) into ``airchitect/models/<task>/recommend``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import airchitect as ac
from airchitect.learn import metrics

ROOT = Path(__file__).resolve().parents[1]
N_WORKLOADS = 100_000
SEED = 0
HYPER = {
    "array": {"model": "surrogate"},
    "multiarray": {"model": "surrogate"},
    "sve": {"model": "surrogate", "folds": "tiles"},
    "cim": {"model": "surrogate"},
    "cim-schedule": {"model": "surrogate"},
    "buffer": {"model": "stalls"},
    "codesign": {"model": "factorised", "epochs": 20, "scorer_epochs": 30},
}
#: models whose ranking ``ac.recommend`` re-ranks, where it is not the shipped model's
#: (saved to ``airchitect/models/<task>/recommend``)
RANKERS = {
    "buffer": {"model": "boosted", "best_per_row": 16},
}


def dataset(task, n, objective=None):
    """``datasets/<task>/full`` (``full-<objective>`` for another objective than the
    task's first), generated (resumed) when missing or incomplete."""
    out = ROOT / "datasets" / task / ("full" if objective is None else f"full-{objective}")
    if not (out / "manifest.json").exists() or not ac.data.read_manifest(out).get("complete"):
        ac.data.generate(task, n, seed=SEED, out=out, objective=objective)
    return out


def network_metrics(predictor):
    """Array task: GeoMean and top-1 on every real-network layer under every budget."""
    task = predictor.task
    layers = ac.workloads.networks()
    layers = layers[(layers[["M", "N", "K"]] <= 16384).all(axis=1)]
    rows = []
    for budget in (2**e for e in range(8, 17)):
        inputs = task.validate(layers[["M", "N", "K"]].assign(max_macs=budget))
        truth = task.label(inputs)
        pred = predictor.estimator.predict(inputs)
        chosen = task.cost_of(inputs, pred)
        rows.append({
            "max_macs": budget, "layers": len(inputs),
            "top1": metrics.top1(truth.label, pred),
            "geomean_percent_of_best": metrics.geomean_percent(truth.best_cost, chosen),
            "worst_slowdown": float((chosen / truth.best_cost).max()),
        })
    table = pd.DataFrame(rows)
    return {
        "per_budget": table.to_dict(orient="records"),
        "top1": float(np.average(table.top1, weights=table.layers)),
        "geomean_percent_of_best": float(
            np.exp(np.average(np.log(table.geomean_percent_of_best / 100), weights=table.layers)) * 100
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=sorted(HYPER))
    parser.add_argument("--workloads", type=int, default=N_WORKLOADS)
    parser.add_argument("--out", default=None)
    parser.add_argument("--model", default=None,
                        help="train another model than the shipped one (a baseline), with --out")
    parser.add_argument("--params", default="{}", help="JSON object of that model's hyper-parameters")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 on a shared machine)")
    parser.add_argument("--objective", default=None,
                        help="train for another objective than the task's first (codesign: edp); "
                             "the model goes to airchitect/models/<task>/<objective>")
    parser.add_argument("--recommend", action="store_true",
                        help="train the task's ranking model for ac.recommend (buffer) instead")
    args = parser.parse_args(argv)
    if args.recommend and args.task not in RANKERS:
        parser.error(f"--recommend: task {args.task} has no separate ranking model")
    torch.set_num_threads(args.threads)
    objective = None
    if args.objective is not None:
        objective = ac.tasks.get(args.task).check_objective(args.objective)
        objective = None if objective == ac.tasks.get(args.task).objectives[0] else objective
    data = dataset(args.task, args.workloads, objective)
    params = dict((RANKERS if args.recommend else HYPER)[args.task])
    model = params.pop("model")
    if args.model is not None:
        if args.out is None:
            parser.error("--model trains a baseline: give --out (the shipped model is not replaced)")
        model, params = args.model, json.loads(args.params)
    if model in ("airchitect", "resmlp", "factorised"):
        params["verbose"] = True
    start = time.perf_counter()
    predictor = ac.learn.train(args.task, data, model=model, seed=SEED, **params)
    predictor.metadata["training"]["wall_seconds"] = round(time.perf_counter() - start, 1)
    if args.task == "array":
        predictor.metadata["metrics"]["networks"] = network_metrics(predictor)
    out = Path(args.out) if args.out else ROOT / "airchitect" / "models" / args.task
    if args.recommend and not args.out:
        out = out / "recommend"
    elif objective is not None and not args.out:
        out = out / objective
    predictor.save(out)
    print(json.dumps(predictor.metadata, indent=2))


if __name__ == "__main__":
    main()

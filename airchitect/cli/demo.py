"""``airchitect demo``: the main job on embedded defaults.

With the shipped ``array`` model it predicts the systolic array shape and
dataflow of every GEMM layer of a real network under a MAC budget, compares
each prediction with the exact optimum (SCALE-Sim-exact search over all 273
configurations), runs the real SCALE-Sim 3.0.0 on one layer with the predicted
configuration to confirm its cycle count, and prints a table.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd

from airchitect._checks import check_int


def add_parser(sub):
    parser = sub.add_parser("demo", help="predict array configurations for a real network",
                            description=__doc__)
    parser.add_argument("--network", default="resnet50", help="network name (default resnet50)")
    parser.add_argument("--max-macs", type=int, default=4096, help="PE budget, 2^8 .. 2^16")
    parser.add_argument("--no-scalesim", action="store_true", help="skip the SCALE-Sim run")
    parser.add_argument("--json", action="store_true", help="print the table as JSON records")
    parser.set_defaults(func=run)


def layer_table(network, max_macs):
    """The network's distinct GEMM layers that fit the array task's bounds."""
    from airchitect.workloads import network as load_network

    layers = load_network(network)
    keep = (layers[["M", "N", "K"]] <= 16384).all(axis=1)
    layers = layers[keep].drop_duplicates(subset=["M", "N", "K"]).reset_index(drop=True)
    return layers.assign(max_macs=max_macs)


def run(args):
    from airchitect import api
    from airchitect.tasks import get

    max_macs = check_int("max_macs", args.max_macs, 256, 65536)
    task = get("array")
    layers = layer_table(args.network, max_macs)
    inputs = task.validate(layers[list(task.input_columns)])
    predictor = api.shipped("array")
    predictor.predict(inputs[:1])  # the first call compiles (once per install); time the rest
    start = time.perf_counter()
    predicted = predictor.predict(inputs)
    predict_us = (time.perf_counter() - start) * 1e6 / len(inputs)
    exact = task.label(inputs)
    cost = task.cost_of(inputs, predicted.label)
    table = pd.DataFrame({
        "layer": layers.layer, "M": inputs.M, "N": inputs.N, "K": inputs.K,
        "predicted": [f"{r}x{c} {d}" for r, c, d in zip(predicted.rows, predicted.cols, predicted.dataflow)],
        "predicted_cycles": cost.astype(np.int64),
        "optimal": [f"{r}x{c} {d}" for r, c, d in zip(exact.rows, exact.cols, exact.dataflow)],
        "optimal_cycles": exact.best_cost.astype(np.int64),
    })
    table["percent_of_best"] = 100 * table.optimal_cycles / table.predicted_cycles
    geo = float(np.exp(np.log(table.percent_of_best / 100).mean()) * 100)
    check = None if args.no_scalesim else _scalesim_check(inputs, predicted, cost)
    if args.json:
        json.dump({"layers": json.loads(table.to_json(orient="records")), "geomean_percent": geo,
                   "predict_us_per_layer": predict_us, "scalesim_check": check}, sys.stdout)
        print()
        return 0
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"\n{args.network}, max_macs={max_macs}: {len(table)} layers, "
          f"top-1 {100 * (predicted.label == exact.label).mean():.1f}%, "
          f"GeoMean {geo:.3f}% of the best cycles, {predict_us:.1f} us per prediction")
    if check:
        print(f"SCALE-Sim 3.0.0 on layer {check['layer']} ({check['config']}): "
              f"{check['scalesim_cycles']} cycles, airchitect {check['airchitect_cycles']}"
              f" -> {'exact' if check['exact'] else 'DIFFERENT'}")
    return 0


def _scalesim_check(inputs, predicted, cost):
    """Run the real SCALE-Sim on the smallest layer with its predicted configuration."""
    from airchitect.targets.systolic.scalesim import run_scalesim

    i = int((inputs.M * inputs.N * inputs.K).to_numpy().argmin())
    row = predicted.iloc[i]
    report = run_scalesim([(int(inputs.M[i]), int(inputs.N[i]), int(inputs.K[i]))],
                          int(row.rows), int(row.cols), row.dataflow)
    cycles = int(report.total_cycles.iloc[0])
    return {"layer": i, "config": f"{row.rows}x{row.cols} {row.dataflow}",
            "scalesim_cycles": cycles, "airchitect_cycles": int(cost[i]),
            "exact": cycles == int(cost[i])}

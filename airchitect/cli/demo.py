"""``airchitect demo``: the main job on embedded defaults.

With the shipped ``array`` model it predicts the systolic array shape and
dataflow of every GEMM layer of a real network under a MAC budget, compares
each prediction with the exact optimum (SCALE-Sim-exact search over all 273
configurations), runs the real SCALE-Sim 3.0.0 on a sample of the distinct
layers with their predicted configurations to confirm every cycle count (and
every other report field), and prints a table.

The SCALE-Sim sample (``--scalesim-layers N``, default 6; ``all`` for every
distinct layer) is the N layers with the least estimated SCALE-Sim work
(predicted cycles x (rows + cols), about what SCALE-Sim's run time follows);
SCALE-Sim needs seconds to minutes per layer, so ``all`` takes tens of minutes
on ResNet-50.

Then it answers the architect's question for a second network
(``--codesign-network``, default bert-base-128): the one accelerator (array,
dataflow and SRAM split) with the fewest USER-mode cycles for the whole network
under the same PE budget, 512 kB of SRAM and 8 words/cycle of DRAM bandwidth,
found exactly by ``ac.codesign``; beside it every layer's own optimum and their
count-weighted sum (what a per-layer reconfigurable machine would reach), and
the real SCALE-Sim 3.0.0 in USER mode on a sample of the distinct layers on
that accelerator (the 3 with the least estimated SCALE-Sim work; every one with
``--scalesim-layers all``), every report field compared.

SCALE-Sim's runs (pure Python, one core) go to one child process as soon as
their configurations are known (:mod:`airchitect.cli.scalesim_worker`, JSON over
a pipe), so that they overlap with this process's own work (on a first run,
mostly compiling the kernels); the child ignores Ctrl-C and is stopped with the
command.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from airchitect._checks import check_int
from airchitect.cli import json_records, print_json
from airchitect.cli.scalesim_worker import Reference


def add_parser(sub):
    parser = sub.add_parser("demo", help="predict array configurations for a real network",
                            description=__doc__)
    parser.add_argument("--network", default="resnet50", help="network name (default resnet50)")
    parser.add_argument("--max-macs", type=int, default=4096, help="PE budget, 2^8 .. 2^16")
    parser.add_argument("--no-scalesim", action="store_true", help="skip the SCALE-Sim run")
    parser.add_argument("--scalesim-layers", default="6", metavar="N|all",
                        help="distinct layers to check with SCALE-Sim (default 6, the cheapest "
                             "to run; all = every one)")
    parser.add_argument("--codesign-network", default="bert-base-128",
                        help="network for the one-accelerator co-design (default bert-base-128)")
    parser.add_argument("--no-codesign", action="store_true", help="skip the co-design part")
    parser.add_argument("--json", action="store_true", help="print the table as JSON records")
    parser.set_defaults(func=run)


#: the co-design part's SRAM total (kB) and DRAM bandwidth (words/cycle)
CODESIGN_SRAM_KB, CODESIGN_BANDWIDTH = 512, 8
#: distinct layers of the co-designed accelerator checked with SCALE-Sim by default
CODESIGN_CHECK = 3


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
    sample = _sample_size(args.scalesim_layers)
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
    pool = None if args.no_scalesim else Reference()
    try:
        check = None if pool is None else _scalesim_check(layers, inputs, predicted, cost, sample, pool)
        network = None if args.no_codesign else _codesign(args.codesign_network, max_macs,
                                                          None if pool is None else
                                                          (sample and CODESIGN_CHECK), pool)
        check = check and _finish(check)
        if network and "scalesim_check" in network:
            network["scalesim_check"] = _finish(network["scalesim_check"])
    finally:
        if pool is not None:
            pool.stop()
    if args.json:
        print_json({"layers": json_records(table), "geomean_percent": geo,
                    "predict_us_per_layer": predict_us, "scalesim_check": check,
                    "codesign": network})
        return 0
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"\n{args.network}, max_macs={max_macs}: {len(table)} layers, "
          f"top-1 {100 * (predicted.label == exact.label).mean():.1f}%, "
          f"GeoMean {geo:.3f}% of the best cycles, {predict_us:.1f} us per prediction")
    if check:
        for item in check["layers"]:
            print(f"SCALE-Sim 3.0.0 on {item['layer']} ({item['config']}): "
                  f"{item['scalesim_cycles']} cycles, airchitect {item['airchitect_cycles']}, "
                  f"all report fields {'equal' if item['fields_equal'] else 'DIFFERENT'}"
                  f" -> {'exact' if item['exact'] else 'DIFFERENT'}")
        print(f"SCALE-Sim check: {check['checked']} of {check['distinct_layers']} distinct layers "
              f"({check['sample']}), {'all exact' if check['exact'] else 'NOT all exact'}")
    if network:
        _print_codesign(network)
    return 0


def _codesign(name, max_macs, sample, pool=None):
    """The one accelerator for network ``name`` (exact), beside its layers' own optima, and
    SCALE-Sim on ``sample`` of its distinct layers (None: skip, 0: every one) started in
    ``pool`` (the check is pending: :func:`_finish`)."""
    from airchitect.network_design import codesign

    result = codesign(name, max_macs=max_macs, sram_kb=CODESIGN_SRAM_KB,
                      bandwidth=CODESIGN_BANDWIDTH, per_layer_optima=True)
    layers = result.layers
    alone = float((layers["count"] * layers["best_alone"]).sum())
    out = {"network": result.network, "max_macs": max_macs, "sram_kb": CODESIGN_SRAM_KB,
           "bandwidth": CODESIGN_BANDWIDTH, "config": result.config, "cycles": result.cycles,
           "energy_pj": result.energy_pj, "per_layer_optima_cycles": alone,
           "percent_of_per_layer_optima": 100.0 * alone / result.cycles,
           "simulations": result.simulations, "enumeration": result.enumeration,
           "wall_s": result.wall_s, "layers": json_records(layers)}
    if sample is not None:
        out["scalesim_check"] = _codesign_check(result, sample or None, pool)
    return out


def _finish(check):
    """A check whose SCALE-Sim reports were pending, completed: each layer's cycles, whether
    every report field equals ours, and whether all are exact."""
    from airchitect.targets.systolic.scalesim import REPORT_ITEMS

    pool = check.pop("pool")
    for item in check["layers"]:
        report = pool.result(item.pop("pending"))
        ours = item.pop("ours")
        item["scalesim_cycles"] = int(report.total_cycles)
        item["fields_equal"] = all(report[f] == ours[f] for f in REPORT_ITEMS)
        if "exact" in item:
            item["exact"] = item["scalesim_cycles"] == item["airchitect_cycles"]
    check["exact"] = all(x["fields_equal"] and x["scalesim_cycles"] == x["airchitect_cycles"]
                         for x in check["layers"])
    return check


def _codesign_check(result, sample, pool):
    """SCALE-Sim 3.0.0 (USER mode) on ``sample`` distinct layers (None = all) of the
    co-designed accelerator, started in ``pool``; every report field is compared with
    ``simulate`` by :func:`_finish`."""
    from airchitect.targets.systolic import simulate

    c, layers = result.config, result.layers
    memory = dict(ifmap_kb=c["ifmap_kb"], filter_kb=c["filter_kb"], ofmap_kb=c["ofmap_kb"],
                  bandwidth=CODESIGN_BANDWIDTH, mode="user")
    order = np.argsort(layers["cycles"].to_numpy() * (c["rows"] + c["cols"]), kind="stable")
    chosen = sorted(order[:sample].tolist() if sample is not None else order.tolist())
    out = []
    for i in chosen:
        row = layers.iloc[i]
        gemm = (int(row.M), int(row.N), int(row.K))
        pending = pool.submit([gemm], c["rows"], c["cols"], row.dataflow, **memory)
        ours = simulate(*gemm, c["rows"], c["cols"], row.dataflow, **memory).iloc[0]
        out.append({"layers": row.layers, "gemm": "x".join(map(str, gemm)),
                    "airchitect_cycles": int(row.cycles), "pending": pending, "ours": ours})
    what = ("every distinct layer" if sample is None or sample >= len(order) else
            f"the {len(chosen)} with the least estimated SCALE-Sim work")
    return {"layers": out, "checked": len(out), "distinct_layers": int(len(order)), "sample": what,
            "pool": pool}


def _print_codesign(network):
    c = network["config"]
    print(f"\nOne accelerator for {network['network']} ({network['max_macs']} PEs, "
          f"{network['sram_kb']} kB SRAM, {network['bandwidth']} words/cycle): "
          f"{c['rows']}x{c['cols']} {c['dataflow']}, SRAM {c['ifmap_kb']}/{c['filter_kb']}/"
          f"{c['ofmap_kb']} kB -> {network['cycles']:.0f} cycles, {network['energy_pj']:.4g} pJ "
          f"(exact: {network['simulations']} of {network['enumeration']} layer simulations, "
          f"{network['wall_s']:.1f} s)")
    print(f"Every layer on its own optimum (a different accelerator per layer) would take "
          f"{network['per_layer_optima_cycles']:.0f} cycles: the one accelerator reaches "
          f"{network['percent_of_per_layer_optima']:.1f}% of that ideal")
    table = pd.DataFrame(network["layers"])[["M", "N", "K", "count", "dataflow", "cycles",
                                             "best_alone", "best_alone_config"]]
    with pd.option_context("display.width", 200):
        print(table.to_string(index=False))
    check = network.get("scalesim_check")
    if check:
        for item in check["layers"]:
            print(f"SCALE-Sim 3.0.0 (USER) on {item['gemm']}: {item['scalesim_cycles']} cycles, "
                  f"airchitect {item['airchitect_cycles']}, all report fields "
                  f"{'equal' if item['fields_equal'] else 'DIFFERENT'}")
        print(f"SCALE-Sim check: {check['checked']} of {check['distinct_layers']} distinct layers "
              f"({check['sample']}), {'all exact' if check['exact'] else 'NOT all exact'}")


def _sample_size(value):
    """``--scalesim-layers``: a count >= 1, or None for all."""
    if str(value) == "all":
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError(f"--scalesim-layers must be an integer >= 1 or all, "
                         f"got {value!r}") from None
    return check_int("--scalesim-layers", number, 1, 2**31 - 1)


def _scalesim_check(layers, inputs, predicted, cost, sample, pool):
    """Start the real SCALE-Sim in ``pool`` on a sample of the distinct layers (``sample`` of
    them, None = all), each with its predicted configuration; :func:`_finish` compares every
    report field."""
    from airchitect.targets.systolic import simulate

    perimeter = predicted.rows.to_numpy() + predicted.cols.to_numpy()
    work = np.asarray(cost, dtype=np.float64) * perimeter
    order = np.argsort(work, kind="stable")
    chosen = sorted(order[:sample].tolist() if sample is not None else order.tolist())
    out = []
    for i in chosen:
        row = predicted.iloc[i]
        gemm = (int(inputs.M[i]), int(inputs.N[i]), int(inputs.K[i]))
        config = (int(row.rows), int(row.cols), row.dataflow)
        pending = pool.submit([gemm], *config)
        out.append({"layer": str(layers.layer[i]), "index": int(i),
                    "config": f"{row.rows}x{row.cols} {row.dataflow}",
                    "airchitect_cycles": int(cost[i]), "exact": None, "pending": pending,
                    "ours": simulate(*gemm, *config).iloc[0]})
    what = ("every distinct layer" if sample is None or sample >= len(order) else
            f"the {len(chosen)} with the least estimated SCALE-Sim work")
    return {"layers": out, "checked": len(out), "distinct_layers": int(len(order)), "sample": what,
            "pool": pool}

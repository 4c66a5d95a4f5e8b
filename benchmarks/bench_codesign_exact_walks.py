"""Exact network co-design with walked bounds against the closed-form bounds alone.

For real networks under three (max_macs, sram_kb, bandwidth) budgets this
runs, in the same process:

* the exact search as it was (``walk=False``: the closed-form bounds, walks
  only for configurations some layer cannot simulate);
* the exact search of ``ac.codesign`` (bounds of the candidates that come to the
  front tightened by walking their read buffers before they are simulated);
* the network model through ``ac.codesign(..., method="model")`` with k=1 and k=16,

checks that both exact searches return the same configuration and cost, and
prints simulations, wall times and the ratios (closed forms / walked, walked /
model).

With ``--pareto MAX_MACS SRAM_KB BANDWIDTH`` it compares the exact Pareto fronts
instead (``pareto_front(..., walk=True | False)``, the default SRAM ladder) on
the networks given: same front, simulations, wall times.

Usage: ``python benchmarks/bench_codesign_exact_walks.py [--networks ...]
[--objective cycles|energy|edp] [--pareto MAX_MACS SRAM_KB BANDWIDTH] [--out FILE.md]``.
About 15-20 minutes for the eight default networks on the 2-core machine (the
closed-form search is most of it).
"""

from __future__ import annotations

import argparse
import functools
import platform
import sys
import time

import numpy as np
import pandas as pd

import airchitect as ac
import airchitect.network_design as network_design
from _emit import emit

NETWORKS = ("resnet50", "mobilenetv2", "vgg16", "bert-base-128", "vit-b16", "gpt2-decode",
            "llama2-7b-decode", "dlrm")
BUDGETS = ((1024, 256, 8), (4096, 512, 4), (16384, 1024, 16))


def _timed(call):
    start = time.perf_counter()
    out = call()
    return out, time.perf_counter() - start


def run(name, budget, objective):
    kw = dict(zip(("max_macs", "sram_kb", "bandwidth"), budget), objective=objective)
    search = network_design.search_network
    network_design.search_network = functools.partial(search, walk=False)
    try:
        plain, plain_s = _timed(lambda: ac.codesign(name, **kw))
    finally:
        network_design.search_network = search
    walked, walked_s = _timed(lambda: ac.codesign(name, **kw))
    if (walked.config != plain.config) or (walked.cost != plain.cost):
        raise AssertionError(f"{name} {budget}: the two exact searches differ: {walked.summary()} against "
                             f"{plain.summary()}")
    model, model_s = _timed(lambda: ac.codesign(name, **kw, method="model", k=1))
    _, model16_s = _timed(lambda: ac.codesign(name, **kw, method="model", k=16))
    return {"network": name, "budget": "/".join(map(str, budget)),
            "closed-form sims": plain.simulations, "closed-form s": round(plain_s, 2),
            "walked sims": walked.simulations, "walked s": round(walked_s, 2),
            "sims ratio": round(plain.simulations / walked.simulations, 1),
            "speed-up": round(plain_s / walked_s, 1),
            "model k=1 s": round(model_s, 2), "model k=1 %": round(100 * walked.cost / model.cost, 3),
            "walked / model k=1": round(walked_s / model_s, 1),
            "model k=16 s": round(model16_s, 2)}


def run_pareto(name, budget):
    from airchitect.network_design.baselines import network_inputs
    from airchitect.network_design.pareto import pareto_front

    task = ac.tasks.get("codesign")
    inputs, counts = network_inputs(task, name, **dict(zip(("max_macs", "sram_kb", "bandwidth"), budget)))
    plain, plain_s = _timed(lambda: pareto_front(task, inputs, counts, walk=False))
    walked, walked_s = _timed(lambda: pareto_front(task, inputs, counts))
    if not walked["table"].equals(plain["table"]):
        raise AssertionError(f"{name} {budget}: the two Pareto fronts differ")
    return {"network": name, "budget": "/".join(map(str, budget)), "front points": len(walked["table"]),
            "enumeration": walked["enumeration"],
            "closed-form sims": plain["simulations"], "closed-form s": round(plain_s, 2),
            "walked sims": walked["simulations"], "walked s": round(walked_s, 2),
            "sims ratio": round(plain["simulations"] / walked["simulations"], 1),
            "speed-up": round(plain_s / walked_s, 1)}


def main_pareto(args):
    rows = []
    for name in args.networks:
        rows.append(run_pareto(name, tuple(args.pareto)))
        print(rows[-1], file=sys.stderr, flush=True)
    frame = pd.DataFrame(rows)
    emit("\n".join([
        "# Exact Pareto fronts: walked bounds against the closed forms alone", "",
        f"machine: {platform.machine()}, python {sys.version.split()[0]}; every pair of fronts was equal, "
        f"point for point", "", frame.to_markdown(index=False)]), args.out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS))
    parser.add_argument("--objective", default="cycles", choices=("cycles", "energy", "edp"))
    parser.add_argument("--pareto", nargs=3, type=int, default=None,
                        metavar=("MAX_MACS", "SRAM_KB", "BANDWIDTH"))
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.pareto:
        return main_pareto(args)
    ac.codesign("bert-base-128", max_macs=256, sram_kb=64, bandwidth=2)  # compile the kernels first
    ac.codesign("bert-base-128", max_macs=256, sram_kb=64, bandwidth=2, method="model")
    rows = []
    for name in args.networks:
        for budget in BUDGETS:
            rows.append(run(name, budget, args.objective))
            print(rows[-1], file=sys.stderr, flush=True)
    frame = pd.DataFrame(rows)
    geo = lambda c: float(np.exp(np.log(frame[c]).mean()))  # noqa: E731
    text = "\n".join([
        f"# Exact network co-design: walked bounds against the closed forms alone ({args.objective})", "",
        f"machine: {platform.machine()}, python {sys.version.split()[0]}; every pair of exact searches "
        f"returned the same configuration and cost", "",
        frame.to_markdown(index=False), "",
        f"GeoMean: {geo('sims ratio'):.1f}x fewer simulations, {geo('speed-up'):.1f}x faster "
        f"(median {frame['speed-up'].median():.1f}x); total {frame['closed-form s'].sum():.0f} s -> "
        f"{frame['walked s'].sum():.0f} s. The walked exact search against one model prediction (k=1): "
        f"median {frame['walked / model k=1'].median():.1f}x, {frame['walked / model k=1'].min():.1f}-"
        f"{frame['walked / model k=1'].max():.1f}x."])
    emit(text, args.out)


if __name__ == "__main__":
    main()

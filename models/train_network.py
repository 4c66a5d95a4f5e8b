"""Train the network co-design model from synthetic networks, with a fixed seed.

    python models/train_network.py [--networks 200] [--data-only]

Draws ``--networks`` synthetic networks (``ac.workloads.synthetic_networks``,
seed 0; no real network of ``ac.workloads.networks()`` among them; those above
``MAX_NETWORK_MACS`` MACs per inference are skipped for time), one budget
triple each (``airchitect.network_design.model.sample_budgets``), samples
configurations of each network and simulates them exactly on every distinct
layer (``network_pairs``). The pairs are written to
``datasets/codesign-networks/pairs.parquet`` (regenerated when missing or made
with other arguments), the scorer is trained on them and saved to
``airchitect/models/codesign-network`` where ``ac.codesign(method="model")``
finds it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import airchitect as ac
from airchitect._files import write_atomic
from airchitect.network_design.layers import network_layers
from airchitect.network_design.model import (
    ESTIMATE_FOLDS, N_NETWORK_FEATURES, SHIPPED, NetworkModel, fit_scorer, model_pairs, network_pairs, sample_budgets,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets" / "codesign-networks" / "pairs.parquet"
SEED = 0
#: networks with more MACs per inference are left out of training (their exact
#: simulations at low bandwidth take minutes); the model is applied to larger ones
MAX_NETWORK_MACS = 2.0**38


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def training_networks(n_networks, budget_seed, seed=SEED):
    """``(index, name, inputs, counts)`` of each synthetic network kept for training,
    its distinct layers validated under one budget triple drawn with ``budget_seed``."""
    task = ac.tasks.get("codesign")
    nets = ac.workloads.synthetic_networks(n_networks, seed=seed)
    budgets = sample_budgets(task, n_networks, budget_seed)
    for i, (name, table) in enumerate(nets.groupby("net", sort=False)):
        t = network_layers(table).table
        macs = float((t["count"] * t["M"].astype(float) * t["N"] * t["K"]).sum())
        if macs > MAX_NETWORK_MACS:
            log(f"{name}: {macs:.3g} MACs, above {MAX_NETWORK_MACS:.3g}: skipped")
            continue
        m, s, b = (int(v) for v in budgets[i])
        inputs = task.validate(pd.DataFrame({"M": t.M, "N": t.N, "K": t.K, "max_macs": m,
                                             "sram_kb": s, "bandwidth": b}))
        yield i, name, inputs, t["count"].to_numpy()


def pairs_frame(x, y, w, network):
    """One network's pairs as a DataFrame (features, targets, weight, network index)."""
    frame = pd.DataFrame(x, columns=[f"f{j}" for j in range(N_NETWORK_FEATURES)])
    frame["delta_cycles"], frame["over_energy"], frame["weight"] = y[:, 0], y[:, 1], w
    frame["network"] = network
    return frame


def make_pairs(n_networks, configs, seed=SEED):
    """The training pairs of ``n_networks`` synthetic networks as one DataFrame."""
    task = ac.tasks.get("codesign")
    rng = np.random.default_rng([seed, 13])
    parts = []
    for i, name, inputs, counts in training_networks(n_networks, seed, seed):
        start = time.perf_counter()
        parts.append(pairs_frame(*network_pairs(task, inputs, counts, rng, configs), i))
        log(f"{name} ({len(inputs)} layers, budget {inputs.max_macs[0]}/{inputs.sram_kb[0]}/"
            f"{inputs.bandwidth[0]}): {len(parts[-1])} pairs, {time.perf_counter() - start:.1f} s")
    return pd.concat(parts, ignore_index=True)


def model_round(model, n_networks, round_, top, seed=SEED):
    """Pairs of one aggregation round: under a fresh budget per network, the
    model's ``top`` best configurations for cycles and for EDP, simulated exactly."""
    task = ac.tasks.get("codesign")
    parts = []
    for i, name, inputs, counts in training_networks(n_networks, seed + 1000 * round_, seed):
        start = time.perf_counter()
        parts.append(pairs_frame(*model_pairs(model, task, inputs, counts, top), i))
        log(f"round {round_}: {name}: {len(parts[-1])} pairs, {time.perf_counter() - start:.1f} s")
    return pd.concat(parts, ignore_index=True)


def fit(pairs, args, init=None, epochs=None):
    """A scorer fitted to ``pairs`` (from ``init`` if given)."""
    x = pairs[[f"f{j}" for j in range(N_NETWORK_FEATURES)]].to_numpy(np.float32, copy=True)
    y = pairs[["delta_cycles", "over_energy"]].to_numpy(np.float32, copy=True)
    return fit_scorer(x, y, pairs["weight"].to_numpy(), width=args.width, epochs=epochs or args.epochs,
                      seed=SEED, verbose=True, init=init)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=200)
    parser.add_argument("--configs", type=int, default=48, help="configurations sampled per network")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=0,
                        help="aggregation rounds: the model's own best configurations added to its data")
    parser.add_argument("--top", type=int, default=16, help="configurations per objective a round adds")
    parser.add_argument("--round-epochs", type=int, default=15)
    parser.add_argument("--keep-rounds", default=None, metavar="DIR",
                        help="also save the model before each round in DIR/round-R")
    parser.add_argument("--data-only", action="store_true")
    parser.add_argument("--out", default=str(SHIPPED))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    meta_file = DATA.with_suffix(".json")
    wanted = {"networks": args.networks, "configs": args.configs, "seed": SEED, "features": N_NETWORK_FEATURES,
              "estimate_folds": ESTIMATE_FOLDS, "max_network_macs": MAX_NETWORK_MACS, "package_version": ac.__version__}
    if DATA.exists() and meta_file.exists() and json.loads(meta_file.read_text()) == wanted:
        pairs = pd.read_parquet(DATA)
    else:
        start = time.perf_counter()
        pairs = make_pairs(args.networks, args.configs)
        DATA.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(DATA, pairs.to_parquet(index=False))
        write_atomic(meta_file, (json.dumps(wanted) + "\n").encode())
        log(f"{len(pairs)} pairs of {args.networks} networks in {time.perf_counter() - start:.1f} s")
    if args.data_only:
        return 0
    start = time.perf_counter()
    task_definition = ac.tasks.get("codesign").definition()
    scorer = fit(pairs, args)
    for round_ in range(1, args.rounds + 1):
        model = NetworkModel(scorer, task_definition, {"rounds": round_ - 1})
        if args.keep_rounds:
            model.save(Path(args.keep_rounds) / f"round-{round_ - 1}")
        added = model_round(model, args.networks, round_, args.top)
        log(f"round {round_}: {len(added)} pairs added")
        pairs = pd.concat([pairs, added], ignore_index=True)
        scorer = fit(pairs, args, init=scorer.train(), epochs=args.round_epochs)
    training = {"networks": args.networks, "configs": args.configs, "pairs": int(len(pairs)),
                "epochs": args.epochs, "rounds": args.rounds, "top": args.top,
                "round_epochs": args.round_epochs, "seed": SEED, "estimate_folds": ESTIMATE_FOLDS,
                "fit_seconds": round(time.perf_counter() - start, 1),
                "held_out": "every network of ac.workloads.networks()"}
    model = NetworkModel(scorer, task_definition, training)
    model.save(args.out)
    print(json.dumps(training, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
from airchitect.learn.factorised import N_PAIR_FEATURES
from airchitect.network_design.layers import network_layers
from airchitect.network_design.model import (
    SHIPPED, NetworkModel, fit_scorer, network_pairs, sample_budgets,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets" / "codesign-networks" / "pairs.parquet"
SEED = 0
#: networks with more MACs per inference are left out of training (their exact
#: simulations at low bandwidth take minutes); the model is applied to larger ones
MAX_NETWORK_MACS = 2.0**38


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def make_pairs(n_networks, configs, seed=SEED):
    """The training pairs of ``n_networks`` synthetic networks as one DataFrame."""
    task = ac.tasks.get("codesign")
    nets = ac.workloads.synthetic_networks(n_networks, seed=seed)
    budgets = sample_budgets(task, n_networks, seed)
    rng = np.random.default_rng([seed, 13])
    parts = []
    skipped = 0
    for i, (name, table) in enumerate(nets.groupby("net", sort=False)):
        t = network_layers(table).table
        macs = float((t["count"] * t["M"].astype(float) * t["N"] * t["K"]).sum())
        if macs > MAX_NETWORK_MACS:
            skipped += 1
            log(f"{name}: {macs:.3g} MACs, above {MAX_NETWORK_MACS:.3g}: skipped")
            continue
        m, s, b = (int(v) for v in budgets[i])
        inputs = task.validate(pd.DataFrame({"M": t.M, "N": t.N, "K": t.K, "max_macs": m,
                                             "sram_kb": s, "bandwidth": b}))
        start = time.perf_counter()
        x, y, w = network_pairs(task, inputs, t["count"].to_numpy(), rng, configs)
        frame = pd.DataFrame(x, columns=[f"f{j}" for j in range(N_PAIR_FEATURES)])
        frame["over_cycles"], frame["over_energy"], frame["weight"] = y[:, 0], y[:, 1], w
        frame["network"] = i
        parts.append(frame)
        log(f"{name} ({len(t)} layers, budget {m}/{s}/{b}): {len(frame)} pairs, "
            f"{time.perf_counter() - start:.1f} s")
    log(f"{skipped} of {n_networks} networks skipped for size")
    return pd.concat(parts, ignore_index=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=200)
    parser.add_argument("--configs", type=int, default=48, help="configurations sampled per network")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--data-only", action="store_true")
    parser.add_argument("--out", default=str(SHIPPED))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    meta_file = DATA.with_suffix(".json")
    wanted = {"networks": args.networks, "configs": args.configs, "seed": SEED,
              "max_network_macs": MAX_NETWORK_MACS, "package_version": ac.__version__}
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
    x = pairs[[f"f{j}" for j in range(N_PAIR_FEATURES)]].to_numpy(np.float32)
    y = pairs[["over_cycles", "over_energy"]].to_numpy(np.float32)
    start = time.perf_counter()
    scorer = fit_scorer(x, y, pairs["weight"].to_numpy(), width=args.width, epochs=args.epochs, seed=SEED,
                        verbose=True)
    training = {"networks": args.networks, "configs": args.configs, "pairs": int(len(pairs)),
                "epochs": args.epochs, "seed": SEED, "fit_seconds": round(time.perf_counter() - start, 1),
                "held_out": "every network of ac.workloads.networks()"}
    model = NetworkModel(scorer, ac.tasks.get("codesign").definition(), training)
    model.save(args.out)
    print(json.dumps(training, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""External benchmark: AIrchitect v2's public dataset, held-out accuracy.

    python benchmarks/bench_airchitect_v2.py [--epochs 20] [--rows N]

Loads ``gemm.csv`` (bad rows rejected loudly by the loader), splits it 90/10
with seed 0, trains the AIRCHITECT classifier, our residual MLP, k-nearest
neighbours and a random forest on the 90%, and prints held-out top-1 beside
the majority baselines (the majority ConfigID, and the majority PE index).
The dataset's authors reported training accuracy only.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split

from airchitect.data import load_airchitect_v2
from airchitect.learn import AirchitectClassifier, ResMLPClassifier, make_baseline


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rows", type=int, default=None, help="use only this many rows")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_airchitect_v2("gemm")
    if args.rows:
        data = data.sample(args.rows, random_state=0)
    X = data[["M", "N", "GEMM_K", "df"]].reset_index(drop=True)
    y = data["ConfigID"].to_numpy()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.1, random_state=0)
    pe_te = yte // 12
    majority = pd.Series(ytr).mode()[0]
    print(f"rows: {len(X)} ({len(Xtr)} train, {len(Xte)} held out); classes seen: {len(np.unique(y))}")
    print(f"majority ConfigID {majority}: held-out top-1 {100 * np.mean(yte == majority):.2f}%")
    pe_major = pd.Series(ytr // 12).mode()[0]
    print(f"majority PE index {pe_major}: held-out PE accuracy {100 * np.mean(pe_te == pe_major):.2f}%")
    models = {
        "airchitect": AirchitectClassifier(epochs=args.epochs, seed=0),
        "resmlp": ResMLPClassifier(epochs=args.epochs, regret_weight=0.0, seed=0),
        "knn": make_baseline("knn"),
        "forest": make_baseline("forest"),
    }
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(Xtr, ytr)
        pred = model.predict(Xte)
        print(f"{name:>10}: held-out top-1 {100 * np.mean(pred == yte):.2f}%, "
              f"PE index exact {100 * np.mean(pred // 12 == pe_te):.2f}%, "
              f"PE within +-5 {100 * np.mean(np.abs(pred // 12 - pe_te) <= 5):.2f}% "
              f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

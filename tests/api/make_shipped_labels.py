"""Write ``shipped_labels.npz``: what every shipped model predicts, and the top 5
that every shipped ranking model recommends, for 10^4 sampled workloads per task.

The file pins the shipped models' behaviour across refactors of the package
(``tests/api/test_shipped_labels.py``). Regenerate it only when a model is retrained,
or the estimate a model ranks by is corrected, on purpose (say which labels moved and
why in the commit)::

    python tests/api/make_shipped_labels.py
"""

from pathlib import Path

import numpy as np

import airchitect as ac
from airchitect import api

N_ROWS = 10_000
SEED = 20261205
OUT = Path(__file__).with_name("shipped_labels.npz")


def shipped_labels(name, n=N_ROWS, seed=SEED):
    """``(predict labels (n,), recommend top-5 labels (n, 5))`` of task ``name``'s
    shipped models on ``n`` workloads drawn by the task's sampler."""
    task = ac.tasks.get(name)
    inputs = task.sample(n, seed=seed)[list(task.input_columns)]
    predicted = api.shipped(name).predict(inputs)["label"].to_numpy()
    ranked = api.shipped(name, "recommend").top_k(inputs, 5)
    return np.asarray(predicted, dtype=np.int32), np.asarray(ranked, dtype=np.int32)


def main():
    arrays = {}
    for name in ac.tasks.names():
        if name in ("codesign",):  # float32 torch scores: see test_shipped_labels.NOT_SHIPPED
            continue
        arrays[f"{name}/predict"], arrays[f"{name}/recommend"] = shipped_labels(name)
    tmp = OUT.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

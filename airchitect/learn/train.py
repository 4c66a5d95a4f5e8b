"""Train a predictor on a labelled dataset and measure it on a held-out split."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from airchitect._checks import check_choice, check_int, check_number_array
from airchitect.data.store import load, manifest_hash, read_manifest
from airchitect.learn import metrics
from airchitect.learn.predictor import MODELS, Predictor
from airchitect.learn.schema import check_params


def split(frame, test_size=0.1, seed=0):
    """Seeded train/test split of a dataset frame."""
    return train_test_split(frame, test_size=test_size, random_state=seed, shuffle=True)


def _dataset(dataset, task):
    """``(frame, provenance, task)`` of ``dataset``; ``task`` (None: the dataset's own,
    rebuilt from its recorded definition) is checked against the recorded one."""
    from airchitect.data.store import MANIFEST, dataset_task
    from airchitect.tasks import get

    if isinstance(dataset, pd.DataFrame):
        if task is None:
            raise TypeError("task is needed to train on a DataFrame (only a dataset directory records it)")
        task = get(task)
        return _checked_frame(dataset, task), {}, task
    path = Path(dataset)
    manifest = read_manifest(path)
    directory = path if path.is_dir() else path.parent
    task = dataset_task(manifest, directory / MANIFEST, task)
    return load(path, task=task), {
        "manifest_sha256": manifest_hash(path),
        "task": manifest["arguments"]["task"],
        "objective": manifest["arguments"]["objective"],
        "seed": manifest["arguments"]["seed"],
        "n": manifest["arguments"]["n"],
    }, task


def _checked_frame(frame, task):
    """A labelled DataFrame given to :func:`train` or :func:`evaluate`, checked as a
    dataset's shards are: the task's input columns and ``label`` present, the labels in
    the task's space, and ``best_cost`` (where given) finite and at least 0. Inputs are
    checked later, by the task."""
    missing = [c for c in (*task.input_columns, "label") if c not in frame.columns]
    if missing:
        raise ValueError(f"dataset frame: missing column {', '.join(missing)} (a labelled frame holds "
                         f"the task's input columns {', '.join(task.input_columns)} and label)")
    task.check_labels(frame["label"].to_numpy(), len(frame), ndim=(1,))
    if "best_cost" in frame.columns:
        check_number_array("best_cost", frame["best_cost"].to_numpy(), 0, np.inf)
    return frame


def evaluate(predictor, frame, objective=None):
    """Metrics of ``predictor`` on a labelled frame, beside the majority baseline.

    Costs of predicted configurations come from the task's exact cost model.
    """
    return _held_out_metrics(predictor, _checked_frame(frame, predictor.task), objective)


def _held_out_metrics(predictor, frame, objective):
    """:func:`evaluate` of a frame already checked (:func:`train`'s held-out part)."""
    task = predictor.task
    inputs = task.validate(frame[list(task.input_columns)])
    y_pred = predictor.labels_of_validated(inputs)
    best = frame["best_cost"].to_numpy() if "best_cost" in frame else None
    out = metrics.report(task, inputs, frame["label"].to_numpy(), y_pred, objective=objective,
                         best_cost=best)
    top5 = predictor.top_k(inputs, min(5, task.n_labels))
    out["top5"] = float(np.mean((top5 == frame["label"].to_numpy()[:, None]).any(axis=1)))
    recommended = np.min([task.cost_of(inputs, top5[:, j], objective) for j in range(top5.shape[1])],
                         axis=0)
    best = task.cost_of(inputs, frame["label"].to_numpy(), objective) if best is None else best
    out["recommend5_geomean_percent_of_best"] = metrics.geomean_percent(best, recommended)
    return out


def train(task, dataset, model="resmlp", objective=None, test_size=0.1, seed=0, **params):
    """Train ``model`` on ``dataset`` and return a :class:`Predictor` with its metrics.

    Parameters
    ----------
    task : str, Task or None
        A task name (built in or registered), a Task such as
        ``ac.tasks.get("array", square=True)``, or None for the task the
        dataset records. A dataset recorded for another definition (name,
        class, params, space) raises ``ValueError`` naming its manifest and
        the field. The predictor records the task's definition.
    dataset : path or DataFrame
        A dataset directory (checked against its manifest) or a labelled frame.
    model : {"airchitect", "resmlp", "surrogate", "boosted"}
    objective : str, optional
        Defaults to the dataset's objective (or ``cycles``).
    test_size : float in (0, 1)
        Share of rows held out for the reported metrics.
    seed : int
    **params
        Hyper-parameters of the model (see its class).
    """
    check_choice("model", model, tuple(MODELS))
    check_int("seed", seed, 0, 2**32 - 1)  # the split's seed (scikit-learn's range)
    check_number_array("test_size", test_size, 0, 0.9, low_open=True)
    check_params(model, MODELS[model](**params).get_params())  # before the dataset is read
    frame, provenance, task = _dataset(dataset, task)
    objective = task.check_objective(objective or provenance.get("objective"))
    train_frame, test_frame = split(frame, test_size, seed)
    inputs = task.validate(train_frame[list(task.input_columns)])
    est = MODELS[model](task=task, objective=objective, **params)
    if "seed" in est.get_params():
        est.set_params(seed=seed)
    start = time.perf_counter()
    costs = None
    if "costs" in train_frame and not task.cheap_costs:
        costs = np.stack(train_frame["costs"].to_numpy())
    elif getattr(est, "regret_weight", 0) > 0 and task.cheap_costs:
        costs = np.concatenate(
            [
                task.costs(inputs.iloc[s : s + task.chunk_rows], objective)
                for s in range(0, len(inputs), task.chunk_rows)
            ]
        )
    est.fit(inputs, train_frame["label"].to_numpy(), costs=costs)
    fit_s = time.perf_counter() - start
    predictor = Predictor(task, est)
    held = _held_out_metrics(predictor, test_frame, objective)  # checked with the dataset
    test_inputs = task.validate(test_frame[list(task.input_columns)])
    held["majority"] = metrics.majority_baseline(
        task, test_inputs, test_frame["label"].to_numpy(), train_frame["label"].to_numpy(), objective
    )
    predictor.metadata = {
        "metrics": {"held_out": held},
        "training_data": provenance,
        "training": {
            "rows": int(len(train_frame)), "test_rows": int(len(test_frame)),
            "seed": seed, "objective": objective, "fit_seconds": round(fit_s, 1),
        },
    }
    return predictor

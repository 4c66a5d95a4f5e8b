"""Metrics of design-space predictors.

The cost of a predicted configuration is always recomputed with the task's
exact cost model (:meth:`Task.cost_of`), never looked up in a label table.

>>> geomean_percent([10.0, 10.0], [10.0, 20.0])  # best / chosen: 1 and 0.5
70.71067811865476
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def top1(y_true, y_pred):
    """Share of rows whose predicted label is the optimal one (0..1)."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def topk(y_true, proba, k=5):
    """Share of rows whose optimal label is among the ``k`` most probable."""
    proba = np.asarray(proba)
    k = min(k, proba.shape[1])
    top = np.argpartition(-proba, k - 1, axis=1)[:, :k]
    return float(np.mean((top == np.asarray(y_true)[:, None]).any(axis=1)))


def geomean_percent(best_cost, chosen_cost):
    """Geometric mean over queries of ``best_cost / chosen_cost``, times 100."""
    ratio = np.asarray(best_cost, dtype=np.float64) / np.asarray(chosen_cost, dtype=np.float64)
    return float(np.exp(np.mean(np.log(ratio))) * 100)


def slowdowns(best_cost, chosen_cost):
    """Per-query slowdown ``chosen_cost / best_cost`` (1 = optimal)."""
    return np.asarray(chosen_cost, dtype=np.float64) / np.asarray(best_cost, dtype=np.float64)


def report(task, inputs, y_true, y_pred, proba=None, objective=None, best_cost=None):
    """All metrics of one set of predictions, as a dict.

    Parameters
    ----------
    task : Task
    inputs : DataFrame
        The queries (task input columns).
    y_true, y_pred : arrays of label ids
    proba : array, optional
        ``(n, n_labels)`` probabilities, for top-5.
    best_cost : array, optional
        The optimum's cost; recomputed from the cost model when omitted.
    """
    y_true = np.asarray(y_true)
    chosen = task.cost_of(inputs, y_pred, objective)
    best = task.cost_of(inputs, y_true, objective) if best_cost is None else np.asarray(best_cost)
    slow = slowdowns(best, chosen)
    out = {
        "n": int(len(y_true)),
        "top1": top1(y_true, y_pred),
        "geomean_percent_of_best": geomean_percent(best, chosen),
        "worst_slowdown": float(slow.max()),
        "p99_slowdown": float(np.quantile(slow, 0.99)),
    }
    if proba is not None:
        out["top5"] = topk(y_true, proba, 5)
    return out


def majority_baseline(task, inputs, y_true, train_labels, objective=None):
    """Metrics of always predicting the training set's most frequent label."""
    majority = int(pd.Series(train_labels).value_counts().idxmax())
    y_pred = np.full(len(y_true), majority)
    allowed = task.allowed(inputs)
    if not allowed[np.arange(len(y_pred)), y_pred].all():
        # the majority configuration is ruled out for some rows: take the
        # most frequent training label among those each row allows
        order = pd.Series(train_labels).value_counts().index.to_numpy()
        first = allowed[:, order].argmax(axis=1)
        y_pred = order[first]
    return report(task, inputs, y_true, y_pred, objective=objective)

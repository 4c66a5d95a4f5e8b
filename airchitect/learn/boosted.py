"""Boosted trees over (workload, configuration) pairs: predict slowdowns, pick the least.

For every training row and configuration the target is the configuration's
slowdown, ``log2(cost / best cost of the row)`` (0 for the optimum). One
gradient-boosted tree ensemble (scikit-learn's
``HistGradientBoostingRegressor``) learns it from the task's *pair
features* (:func:`airchitect.learn.features.pair_features`): the workload's inputs beside the
configuration's, and whatever the task adds about how the two meet (for the
buffer task: how many words of each operand fit each buffer). The prediction
is the allowed configuration of least predicted slowdown.

Trees find thresholds, which suits costs that jump where an operand stops
fitting its buffer; a linear surrogate (:mod:`airchitect.learn.surrogate`)
smooths over such jumps.

The fitted trees are kept as flat arrays (feature, threshold, children,
leaf values), so a model is saved as tensors and predicts with a compiled
loop, without scikit-learn objects or pickles.
"""

from __future__ import annotations

import numba
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from airchitect.learn.features import pair_features
from airchitect.learn.surrogate import log_costs, softmax


_CHUNK_ROWS = 2000


def _forest_rows(F, feature, threshold, left, right, value, roots, out):
    """Add the sum of the trees' leaf values for every row of ``F`` to ``out``."""
    for i in numba.prange(F.shape[0]):
        total = 0.0
        for root in roots:
            node = root
            while left[node] >= 0:
                node = left[node] if F[i, feature[node]] <= threshold[node] else right[node]
            total += value[node]
        out[i] += total


_forest_serial = numba.njit(cache=True)(_forest_rows)
_forest_parallel = numba.njit(cache=True, parallel=True)(_forest_rows)
_PARALLEL_ROWS = 4096


def _flatten(model):
    """Concatenate the trees of a fitted HistGradientBoostingRegressor."""
    feature, threshold, left, right, value, roots = [], [], [], [], [], []
    offset = 0
    for (tree,) in model._predictors:
        nodes = tree.nodes
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not supported")
        leaf = nodes["is_leaf"].astype(bool)
        roots.append(offset)
        feature.append(nodes["feature_idx"].astype(np.int64))
        threshold.append(nodes["num_threshold"].astype(np.float64))
        left.append(np.where(leaf, -1, nodes["left"].astype(np.int64) + offset))
        right.append(np.where(leaf, -1, nodes["right"].astype(np.int64) + offset))
        value.append(np.where(leaf, nodes["value"], 0.0).astype(np.float64))
        offset += len(nodes)
    return {
        "feature": np.concatenate(feature), "threshold": np.concatenate(threshold),
        "left": np.concatenate(left), "right": np.concatenate(right),
        "value": np.concatenate(value), "roots": np.array(roots, dtype=np.int64),
        "baseline": np.array([float(np.ravel(model._baseline_prediction)[0])]),
    }


def _slowdowns(costs):
    """log2(cost / row best); infinite costs get the row's worst + 4."""
    y = log_costs(costs)
    return y - y.min(axis=1, keepdims=True)


class BoostedCostClassifier(ClassifierMixin, BaseEstimator):
    """Gradient-boosted regression of every configuration's log2 slowdown.

    Parameters
    ----------
    task : str
        The task (required): its pair features and costs train the model.
    objective : str, optional
    max_iter, max_leaf_nodes, learning_rate, l2_regularization
        Of the tree ensemble (``HistGradientBoostingRegressor``).
    labels_per_row : int
        Configurations drawn (seeded, without replacement) from every training
        row, to bound memory; all of them when it is the space size or more.
    best_per_row : int
        Of those, how many are the row's least-cost configurations (the rest
        are random), to learn the near-optimal region more closely.
    tie_tolerance : float
        Configurations within this many log2 units of the least predicted
        slowdown tie and go to the lowest label id.
    seed : int

    Examples
    --------
    >>> import airchitect as ac
    >>> task = ac.tasks.get("buffer")
    >>> frame = task.label(task.sample(40, seed=1), keep_costs=True)
    >>> X = frame[list(task.input_columns)]
    >>> model = BoostedCostClassifier(task="buffer", max_iter=20)
    >>> model.fit(X, frame.label, costs=np.stack(frame.costs)).predict(X[:3]).shape
    (3,)
    """

    def __init__(self, task=None, objective=None, max_iter=300, max_leaf_nodes=63, learning_rate=0.1,
                 l2_regularization=0.0, labels_per_row=32, best_per_row=0, tie_tolerance=1e-3, seed=0):
        self.task = task
        self.objective = objective
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.learning_rate = learning_rate
        self.l2_regularization = l2_regularization
        self.labels_per_row = labels_per_row
        self.best_per_row = best_per_row
        self.tie_tolerance = tie_tolerance
        self.seed = seed

    def _task(self):
        from airchitect.tasks import get

        if self.task is None:
            raise ValueError("BoostedCostClassifier needs task= (its costs train the model)")
        return get(self.task)

    def fit(self, X, y=None, costs=None):
        """Fit on inputs ``X``; ``costs`` ``(n, n_labels)`` are computed when not given.

        ``y`` is accepted for the scikit-learn interface.
        """
        from sklearn.ensemble import HistGradientBoostingRegressor

        task = self._task()
        X = task.validate(X)
        if costs is None:
            costs = task.costs(X, self.objective)
        target = _slowdowns(costs)
        n, labels = target.shape
        per = min(int(self.labels_per_row), labels)
        rng = np.random.default_rng(self.seed)
        # the `best_per_row` least-cost configurations, then random others
        key = rng.random((n, labels))
        best = min(int(self.best_per_row), per)
        if best:
            key[np.arange(n)[:, None], np.argsort(target, axis=1, kind="stable")[:, :best]] = -1.0
        picks = np.argsort(key, axis=1)[:, :per]
        F = pair_features(task, X, picks).reshape(n * per, -1)
        rows = np.repeat(np.arange(n), per)
        model = HistGradientBoostingRegressor(
            max_iter=self.max_iter, max_leaf_nodes=self.max_leaf_nodes, learning_rate=self.learning_rate,
            l2_regularization=self.l2_regularization, early_stopping=False, random_state=self.seed,
        ).fit(F, target[rows, picks.ravel()])
        self.trees_ = _flatten(model)
        self.n_labels_ = labels
        self.classes_ = np.arange(labels)
        return self

    def predicted_slowdowns(self, X):
        """Predicted log2 slowdown of every label, ``inf`` where not allowed, ``(n, n_labels)``."""
        task = self._task()
        X = task.validate(X)
        t = self.trees_
        out = np.empty((len(X), self.n_labels_))
        every = np.arange(self.n_labels_)
        for start in range(0, len(X), _CHUNK_ROWS):
            part = X.iloc[start:start + _CHUNK_ROWS]
            features = pair_features(task, part, np.broadcast_to(every, (len(part), self.n_labels_)))
            flat = np.ascontiguousarray(features.reshape(-1, features.shape[2]), dtype=np.float64)
            chunk = np.full(len(flat), t["baseline"][0])
            forest = _forest_parallel if len(flat) >= _PARALLEL_ROWS else _forest_serial
            forest(flat, t["feature"], t["threshold"], t["left"], t["right"], t["value"], t["roots"],
                        chunk)
            out[start:start + len(part)] = chunk.reshape(len(part), -1)
        return np.where(task.allowed(X, validated=True), out, np.inf)

    def decision_function(self, X):
        """Scores (higher is better): minus the predicted slowdown, ties to the lower
        id; the label :meth:`predict` picks scores highest, so rankings start with it."""
        slow = self.predicted_slowdowns(X)
        scores = -slow - 1e-10 * np.arange(slow.shape[1])
        scores[np.arange(len(slow)), self._pick(slow)] = scores.max(axis=1) + 1.0
        return scores

    def predict(self, X):
        """The lowest label id within ``tie_tolerance`` of the least predicted slowdown."""
        return self._pick(self.predicted_slowdowns(X))

    def _pick(self, slow):
        return (slow <= slow.min(axis=1, keepdims=True) + self.tie_tolerance).argmax(axis=1)

    def predict_proba(self, X):
        """A softmax of minus the predicted slowdowns (temperature 1/16)."""
        return softmax(self.decision_function(X), 16.0)

    # -- persistence (used by Predictor) ----------------------------------------------
    def get_state(self):
        """``(arrays, json_state)`` of the fitted trees."""
        return dict(self.trees_), {}

    def set_state(self, arrays, state):
        """Restore what :meth:`get_state` returned."""
        self.trees_ = {k: np.asarray(arrays[k]) for k in
                       ("feature", "threshold", "left", "right", "value", "roots", "baseline")}
        return self

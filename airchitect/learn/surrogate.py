"""A learned cost surrogate: predict every configuration's log cost, pick the least.

For every label ``l`` the model learns a linear function of *basis features*
of the inputs that approximates ``log2(cost_l)``, by least squares on the
training rows' exact costs. Its prediction is the allowed label of least
predicted cost; labels within ``tie_tolerance`` (in log2 units) of the least
go to the lowest label id, the order in which every task sorts its space.

Basis features of a numeric input ``x`` (the tiled cost models are sums of
logs of these): ``log2 x``, ``log2 ceil(x / t)`` for tile sizes ``t`` (folds on
a hardware dimension of ``t``: ``folds="pow2"``, ``t = 2**a``, ``a = 1..14``; or
``folds="tiles"``, every ``t = d * 2**a <= 16384`` with ``d`` in 1..16) and ``log2(x + 2**b)`` for ``b = 1..15``
(pipeline fill and drain). A separate linear model is fitted for every
combination of string inputs (e.g. each element type).

Costs of configurations that a row's constraints rule out are taken with the
constraints relaxed (``Task.relax``), so every label sees every row; the
constraint columns themselves only mask labels and are not features.

A task may split its objective into parts
(:func:`airchitect.learn.features.surrogate_parts`): the
multi-array task learns one GEMM's cycles on each array and combines the parts
with the exact makespan rule.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from airchitect.learn import features

FOLDS = {
    "pow2": 2.0 ** np.arange(1, 15),
    "tiles": np.unique([d * 2.0**a for d in range(1, 17) for a in range(15) if 1 < d * 2**a <= 16384]),
}
OFFSETS = 2.0 ** np.arange(1, 16)


def basis(frame, folds="pow2", columns=None):
    """Basis features of the numeric ``columns`` of ``frame`` (all by default), plus a constant.

    Per column ``x`` (clipped to >= 1): ``log2(x)``, ``log2(ceil(x / f))`` for
    every fold ``f`` of ``FOLDS[folds]``, ``log2(x + o)`` for every offset ``o``
    of ``OFFSETS``; then a column of ones.
    """
    # column_stack makes a fresh writable array: read-only views would compile a second kernel
    columns = frame.columns if columns is None else columns
    X = np.column_stack([frame[c].to_numpy(dtype=np.float64) for c in columns]).reshape(len(frame), -1)
    steps = FOLDS[folds]
    F = np.empty((len(frame), (1 + len(steps) + len(OFFSETS)) * X.shape[1] + 1))
    # threads pay off on large batches only; a single query stays on one thread
    (_basis_parallel if len(X) >= _PARALLEL_ROWS else _basis_serial)(X, steps, OFFSETS, F)
    return F


def _basis_rows(X, steps, offsets, F):
    width = 1 + len(steps) + len(offsets)
    for i in numba.prange(X.shape[0]):
        for j in range(X.shape[1]):
            x = max(X[i, j], 1.0)
            at = j * width
            F[i, at] = np.log2(x)
            for a in range(len(steps)):
                F[i, at + 1 + a] = np.log2(np.ceil(x / steps[a]))
            for b in range(len(offsets)):
                F[i, at + 1 + len(steps) + b] = np.log2(x + offsets[b])
        F[i, F.shape[1] - 1] = 1.0


_basis_serial = numba.njit(cache=True)(_basis_rows)
_basis_parallel = numba.njit(cache=True, parallel=True)(_basis_rows)
_PARALLEL_ROWS = 4096


def log_costs(costs):
    """log2 of costs; entries that stay infinite get the row's worst + 4."""
    with np.errstate(divide="ignore"):
        y = np.log2(np.asarray(costs, dtype=np.float64))
    finite = np.isfinite(y)
    worst = np.where(finite, y, -np.inf).max(axis=1, keepdims=True)
    return np.where(finite, y, np.where(np.isfinite(worst), worst, 0.0) + 4.0)


class SurrogateClassifier(ClassifierMixin, BaseEstimator):
    """Per-label least-squares surrogate of log2 cost over basis features.

    Parameters
    ----------
    task : str
        The task whose exact costs train the surrogate (required).
    objective : str, optional
    tie_tolerance : float
        Labels within this many log2 units of the least predicted cost tie.
    ridge : float
        L2 penalty of the least-squares fit (relative to the data scale).
    folds : {"pow2", "tiles"}
        Tile sizes of the fold features.
    """

    def __init__(self, task=None, objective=None, tie_tolerance=1e-4, ridge=1e-8, folds="pow2"):
        self.task = task
        self.objective = objective
        self.tie_tolerance = tie_tolerance
        self.ridge = ridge
        self.folds = folds

    def _task(self):
        from airchitect.tasks import get

        if self.task is None:
            raise ValueError("SurrogateClassifier needs task= (its costs train the model)")
        return get(self.task)

    def _groups(self, X):
        strings = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        if not strings:
            return strings, np.full(len(X), "", dtype=object)
        return strings, X[strings].astype(str).agg("|".join, axis=1).to_numpy()

    def _solve(self, F, Y):
        gram = F.T @ F
        gram[np.diag_indices_from(gram)] += self.ridge * np.trace(gram) / len(gram)
        return np.linalg.solve(gram, F.T @ Y)

    def fit(self, X, y=None, costs=None):
        """Fit on inputs ``X``; ``y`` is accepted for the scikit-learn interface.

        The targets are the task's exact costs of every label for every row
        (computed here, with constraints relaxed).
        """
        task = self._task()
        X = task.validate(X)
        self.n_labels_ = task.n_labels
        self.classes_ = np.arange(self.n_labels_)
        relaxed = task.relax(X)
        self.constraints_ = [c for c in X.columns if not relaxed[c].equals(X[c])]
        parts = features.surrogate_parts(task, X, self.objective)
        frames, targets = (parts if parts is not None else
                           ([X], [task.costs(relaxed, self.objective)]))
        F = np.concatenate([self._basis(f) for f in frames])
        Y = np.concatenate([log_costs(t) for t in targets])
        _, keys = self._groups(pd.concat(frames, ignore_index=True))
        self.groups_ = sorted(set(keys))
        self.coef_ = np.stack([self._solve(F[keys == g], Y[keys == g]) for g in self.groups_])
        return self

    def _basis(self, frame):
        numeric = [c for c, dtype in frame.dtypes.items() if pd.api.types.is_numeric_dtype(dtype)
                   and c not in self.constraints_]
        return basis(frame, self.folds, numeric)

    def _predict_parts(self, frame):
        _, keys = self._groups(frame)
        unknown = sorted(set(keys) - set(self.groups_))
        if unknown:
            raise ValueError(f"inputs hold a category never seen in training: {unknown[0]!r}")
        F = self._basis(frame)
        if len(self.groups_) == 1:
            return F @ self.coef_[0]
        out = np.empty((len(frame), self.coef_.shape[2]))
        for g, coef in zip(self.groups_, self.coef_):
            rows = keys == g
            out[rows] = F[rows] @ coef
        return out

    def predicted_log_costs(self, X):
        """Predicted log2 cost keys of every label, ``inf`` where not allowed.

        A list of ``(n, n_labels)`` arrays: the objective, then the task's
        tie-break keys where the task combines parts.
        """
        task = self._task()
        X = task.validate(X)
        table = features.surrogate_table(task, X, self.objective)
        if table is None:
            keys = [self._predict_parts(X)]
        else:
            # one pass over all parts, then split back into parts
            frame, lengths = table
            every = np.exp2(self._predict_parts(frame))
            parts = np.split(every, np.cumsum(lengths)[:-1])
            keys = [np.log2(k) for k in features.surrogate_combine(task, X, parts, self.objective)]
        barred = ~task.allowed(X, validated=True)
        for k in keys:
            k[barred] = np.inf
        return keys

    def decision_function(self, X):
        """Scores (higher is better): minus the predicted log2 cost.

        Tie-break keys and then the label id enter with tiny weights
        (``1e-8`` per log2 unit, ``1e-10`` per id), so that labels of equal
        predicted cost rank in the order :meth:`predict` picks them.
        """
        keys = self.predicted_log_costs(X)
        score = -keys[0]
        for key in keys[1:]:
            score = score - 1e-8 * np.where(np.isfinite(key), key, 0.0)
        return score - 1e-10 * np.arange(score.shape[1])

    def predict(self, X):
        """Lexicographic least predicted key, equal within ``tie_tolerance``, then lowest id."""
        candidates = None
        for key in self.predicted_log_costs(X):
            if candidates is not None:
                key = np.where(candidates, key, np.inf)
            tied = key <= key.min(axis=1, keepdims=True) + self.tie_tolerance
            candidates = tied if candidates is None else candidates & tied
        return candidates.argmax(axis=1)

    def predict_proba(self, X):
        """A softmax of minus the predicted log2 costs (sharp: temperature 1/64)."""
        return softmax(self.decision_function(X), 64.0)

    # -- persistence (used by Predictor) ----------------------------------------------
    def get_state(self):
        """``(arrays, json_state)`` of the fitted coefficients."""
        return {"coef": self.coef_}, {"groups": list(self.groups_), "constraints": list(self.constraints_)}

    def set_state(self, arrays, state):
        """Restore what :meth:`get_state` returned."""
        self.coef_ = np.asarray(arrays["coef"])
        self.groups_ = list(state["groups"])
        self.constraints_ = list(state["constraints"])
        return self


def softmax(scores, sharpness):
    """Row-wise softmax of ``scores * sharpness`` (probabilities of ``(n, L)`` scores)."""
    scores = np.asarray(scores) * sharpness
    scores = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    return p / p.sum(axis=1, keepdims=True)

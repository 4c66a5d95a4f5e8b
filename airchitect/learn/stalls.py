"""A fast ``buffer`` model: every split ranked by its buffers' stalls, each alone.

:class:`SplitStallClassifier` learns nothing from data: it ranks the 105 SRAM
splits of every row by the estimate of
:func:`airchitect.targets.systolic.memory.splits.split_cycles` (stall-free
cycles plus the largest stall any one buffer causes at its size). It stands
beside the learned models behind the same estimator interface because it is
what makes 10^5 buffer predictions take under a second rather than minutes: 42
single-buffer walks per workload, each stopped after ``max_folds`` folds that
may miss (and, for :meth:`predict`, once it cannot win), instead of the event
model's 105 three-buffer walks (docs/learn.md, "The split-stall model").
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from airchitect._checks import check_int
from airchitect.learn.surrogate import softmax

_CHUNK_ROWS = 20_000


class SplitStallClassifier(ClassifierMixin, BaseEstimator):
    """The split whose estimated USER-mode cycles are least (``buffer`` task only).

    Parameters
    ----------
    task : str
        Must be ``"buffer"``.
    objective : str, optional
        Only ``"cycles"`` (the estimate has no energy).
    max_folds : int
        Folds that may miss that each single-buffer walk visits before it extends
        the stall's growth to the rest (more is slower and closer to the event
        model's estimate).

    Examples
    --------
    >>> import airchitect as ac
    >>> task = ac.tasks.get("buffer")
    >>> X = task.sample(3, seed=1)
    >>> SplitStallClassifier(task="buffer").fit(X).predict(X).shape
    (3,)
    """

    def __init__(self, task="buffer", objective=None, max_folds=128):
        self.task = task
        self.objective = objective
        self.max_folds = max_folds

    def _task(self):
        from airchitect.tasks import get

        task = get(self.task)
        if task.name != "buffer":
            raise ValueError(f"task must be 'buffer' for the split-stall model, got {task.name!r}")
        if self.objective not in (None, "cycles"):
            raise ValueError(f"objective must be 'cycles' for the split-stall model, got {self.objective!r}")
        check_int("max_folds", self.max_folds, 1, 10**9)
        return task

    def fit(self, X=None, y=None, costs=None):
        """Check the parameters; nothing is learned (``X``, ``y``, ``costs`` are
        accepted for the scikit-learn interface)."""
        self.n_labels_ = self._task().n_labels
        self.classes_ = np.arange(self.n_labels_)
        return self

    def estimated_cycles(self, X):
        """Estimated cycles of every split, ``(n, 105)`` float64."""
        return self._chunks(X, least=False)

    def _chunks(self, X, least, validated=False):
        """``Task.split_estimate`` of ``X`` in chunks of rows, joined (``validated``: ``X``
        is what the task's ``validate`` returned)."""
        task = self._task()
        X = X if validated else task.validate(X)
        parts = [task.split_estimate(X.iloc[s:s + _CHUNK_ROWS], self.max_folds, least=least)
                 for s in range(0, len(X), _CHUNK_ROWS)]
        if parts:
            return np.concatenate(parts)
        return np.zeros(0, np.int64) if least else np.zeros((0, task.n_labels))

    def decision_function(self, X):
        """Scores (higher is better): minus log2 of the estimated cycles; among equal
        estimates the lower label id scores higher."""
        cycles = self.estimated_cycles(X)
        return -np.log2(cycles + 1.0) - 1e-12 * np.arange(cycles.shape[1])

    def predict(self, X):
        """The split of least estimated cycles (the lowest label id among equals)."""
        return self._chunks(X, least=True)

    def predict_validated(self, X):
        """:meth:`predict` of rows the task's ``validate`` returned, not checked again
        (:class:`~airchitect.learn.predictor.Predictor` validates first; 10^5 rows take
        about 0.05 s to check)."""
        return self._chunks(X, least=True, validated=True)

    def predict_proba(self, X):
        """A softmax of minus the estimated log2 cycles (temperature 1/16)."""
        return softmax(self.decision_function(X), 16.0)

    # -- persistence (used by Predictor) ----------------------------------------------
    def get_state(self):
        """``(arrays, json_state)``: the fold budget (the model has no weights)."""
        return {"max_folds": np.array([self.max_folds], dtype=np.int64)}, {}

    def set_state(self, arrays, state):
        """Restore what :meth:`get_state` returned."""
        self.max_folds = int(np.asarray(arrays["max_folds"])[0])
        return self

"""Classifiers behind the scikit-learn estimator interface.

Every classifier takes the task's inputs as a DataFrame ``X`` and label ids
``y``; ``classes_`` is the task's whole label vocabulary, so ``predict_proba``
has one column per configuration. When a ``task`` is given, configurations that
a row's constraints rule out (``task.allowed``) are never predicted.

- :class:`AirchitectClassifier` -- AIRCHITECT's embedding + MLP model;
- :class:`ResMLPClassifier` -- a residual MLP over continuous features trained
  with a regret-aware loss (cross-entropy plus the expected log2 slowdown of the
  predicted distribution, from the task's exact costs);
- :func:`make_baseline` -- majority label, k-nearest neighbours and a
  random forest, as scikit-learn pipelines.

>>> from sklearn.base import clone
>>> clone(ResMLPClassifier(epochs=3)).get_params()["epochs"]
3
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from airchitect._checks import check_choice
from airchitect._columns import rows_frame
from airchitect.learn.encoding import Encoder
from airchitect.learn.loop import fit_loop
from airchitect.learn.nets import AirchitectNet, ResMLP


#: most (row, label) mask elements held at once in training (larger sets are masked per batch)
MASK_ELEMENTS = 1 << 28
#: rows whose logits are computed at once in prediction, at most
PREDICT_ROWS = 4096
#: and at most this many rows x labels (codesign's 28,665 labels: 585 rows, 64 MiB of float32)
PREDICT_ELEMENTS = 1 << 24


def _task(task):
    if task is None:
        return None
    from airchitect.tasks import get

    return get(task)


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """Shared training loop of the torch classifiers (AdamW, cosine schedule)."""

    encoding = "continuous"

    def _build(self, encoder, n_labels):
        raise NotImplementedError

    def _n_labels(self, y):
        task = _task(self.task)
        return task.n_labels if task is not None else int(np.max(y)) + 1

    def _allowed(self, X):
        task = _task(self.task)
        if task is None:
            return None
        return torch.as_tensor(task.allowed(X))

    def _slowdowns(self, X, costs):
        """log2(cost / best) per row and label, or None without costs."""
        if self.regret_weight <= 0:
            return None
        if costs is None:
            task = _task(self.task)
            if task is None or not task.cheap_costs:
                return None
            costs = task.costs(task.validate(X), self.objective)
        costs = np.asarray(costs, dtype=np.float64)
        best = costs.min(axis=1, keepdims=True)
        slow = np.log2(np.where(np.isfinite(costs), costs, best) / np.maximum(best, 1e-300))
        return torch.as_tensor(slow, dtype=torch.float32)

    def fit(self, X, y, costs=None):
        """Train on inputs ``X`` (DataFrame) and labels ``y``.

        ``costs`` (``(n, n_labels)``, inf where disallowed) feeds the regret
        term; when omitted it is computed from ``task`` if that is cheap.
        """
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        X = pd.DataFrame(X).reset_index(drop=True)
        y = np.array(y, dtype=np.int64)
        self.encoder_ = Encoder(self.encoding).fit(X)
        self.n_labels_ = self._n_labels(y)
        self.classes_ = np.arange(self.n_labels_)
        self.module_ = self._build(self.encoder_, self.n_labels_)
        features = torch.as_tensor(self.encoder_.transform(X))
        targets = torch.as_tensor(y)
        allowed = self._allowed(X) if len(X) * self.n_labels_ <= MASK_ELEMENTS else None
        slowdowns = self._slowdowns(X, costs)
        self.module_.train()

        def loss_of(batch):
            mask = allowed[batch] if allowed is not None else self._allowed(X.iloc[batch.numpy()])
            logits = self._masked(self.module_(features[batch]), mask)
            loss = torch.nn.functional.cross_entropy(logits, targets[batch])
            if slowdowns is not None:
                p = torch.softmax(logits, dim=1)
                loss = loss + self.regret_weight * (p * slowdowns[batch]).sum(1).mean()
            return loss

        fit_loop(self.module_.parameters(), len(y), loss_of, epochs=self.epochs, batch_size=self.batch_size,
                 learning_rate=self.learning_rate, weight_decay=self.weight_decay, generator=generator,
                 verbose=self.verbose)
        self.module_.eval()
        return self

    @staticmethod
    def _masked(logits, allowed):
        return logits if allowed is None else logits.masked_fill(~allowed, -1e9)

    def _chunks(self, X):
        """Masked logits of ``X`` in chunks of at most :data:`PREDICT_ROWS` rows and
        :data:`PREDICT_ELEMENTS` rows x labels (a generator)."""
        X = rows_frame(X)
        features = torch.as_tensor(self.encoder_.transform(X))
        rows = max(1, min(PREDICT_ROWS, PREDICT_ELEMENTS // max(1, self.n_labels_)))
        with torch.inference_mode():
            for start in range(0, len(X), rows):
                part = X.iloc[start:start + rows]
                yield self._masked(self.module_(features[start:start + rows]), self._allowed(part))

    def decision_function(self, X):
        """Masked logits, ``(n, n_labels)`` (float32)."""
        parts = [logits.numpy() for logits in self._chunks(X)]
        return np.concatenate(parts) if parts else np.zeros((0, self.n_labels_), dtype=np.float32)

    def predict_proba(self, X):
        logits = torch.as_tensor(self.decision_function(X))
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, X):
        """The most probable allowed label of every row (chunked: the logits of all
        rows are never held at once)."""
        parts = [logits.argmax(1).numpy() for logits in self._chunks(X)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class AirchitectClassifier(TorchClassifier):
    """AIRCHITECT (Samajdar et al., DATE 2023): per-input embeddings, one hidden
    ReLU layer, softmax over the labels; plain cross-entropy by default.

    Parameters
    ----------
    task : str, optional
        Task name; masks configurations its constraints rule out.
    embedding_dim, hidden : int
    epochs, batch_size : int
    learning_rate, weight_decay : float
    regret_weight : float
        Weight of the expected-slowdown term (0: AIRCHITECT's plain loss).
    objective : str
    seed : int
    verbose : bool
        Print the loss of every epoch on stderr.
    """

    encoding = "tokens"

    def __init__(self, task=None, embedding_dim=16, hidden=256, epochs=20, batch_size=256,
                 learning_rate=3e-3, weight_decay=1e-4, regret_weight=0.0, objective=None,
                 seed=0, verbose=False):
        self.task = task
        self.verbose = verbose
        self.embedding_dim = embedding_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.regret_weight = regret_weight
        self.objective = objective
        self.seed = seed

    def _build(self, encoder, n_labels):
        return AirchitectNet(encoder.vocab_sizes(), n_labels, self.embedding_dim, self.hidden)


class ResMLPClassifier(TorchClassifier):
    """A residual MLP over continuous and fold features with a regret-aware loss.

    Parameters
    ----------
    task : str, optional
        Task name; masks configurations its constraints rule out and, when
        its costs are cheap, supplies them to the regret term.
    width, depth : int
    epochs, batch_size : int
    learning_rate, weight_decay : float
    regret_weight : float
        Weight of the expected log2 slowdown in the loss.
    objective : str
    seed : int
    verbose : bool
        Print the loss of every epoch on stderr.
    """

    encoding = "folds"

    def __init__(self, task=None, width=256, depth=3, epochs=30, batch_size=256,
                 learning_rate=2e-3, weight_decay=1e-4, regret_weight=1.0, objective=None,
                 seed=0, verbose=False):
        self.task = task
        self.verbose = verbose
        self.width = width
        self.depth = depth
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.regret_weight = regret_weight
        self.objective = objective
        self.seed = seed

    def _build(self, encoder, n_labels):
        return ResMLP(encoder.n_features, n_labels, self.width, self.depth)


class _Encode(FunctionTransformer):
    """Continuous encoding as a scikit-learn transformer (fitted on ``X``)."""

    def __init__(self):
        super().__init__()

    def fit(self, X, y=None):
        self.encoder_ = Encoder("continuous").fit(pd.DataFrame(X))
        return self

    def transform(self, X):
        return self.encoder_.transform(pd.DataFrame(X))


BASELINES = ("majority", "knn", "forest")


def make_baseline(name, seed=0):
    """A scikit-learn baseline: ``majority``, ``knn`` or ``forest``.

    ``knn``: 5 nearest neighbours (distance-weighted) and ``forest``: a
    random forest of 100 trees, both on the continuous encoding.
    """
    check_choice("model", name, BASELINES)
    if name == "majority":
        return DummyClassifier(strategy="most_frequent")
    if name == "knn":
        return make_pipeline(_Encode(), KNeighborsClassifier(n_neighbors=5, weights="distance"))
    return make_pipeline(
        _Encode(), RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=seed)
    )

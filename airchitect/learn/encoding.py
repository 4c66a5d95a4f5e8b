"""Feature encodings of task inputs.

Two encodings, both fitted on training inputs and saved as plain JSON:

- ``"tokens"`` (AIRCHITECT's): every input becomes one categorical token with
  its own embedding table. A positive number ``x`` becomes the token
  ``round(2 * log2(x))`` (half-octave bins), clipped to the vocabulary; a
  string becomes its index in the vocabulary seen in training.
- ``"continuous"``: ``log2`` of every numeric input, the pairwise differences
  of those logs (log-ratios such as ``log2(M / rows)``), and a one-hot of every
  string input; standardised with the training mean and deviation.
- ``"folds"``: the continuous features plus, for every numeric input ``x``,
  ``log2(ceil(x / 2**a))`` for ``a = 1 .. 14``: how many folds ``x`` takes on a
  hardware dimension of ``2**a``, the quantity that decides tiled cost models.

>>> import pandas as pd
>>> enc = Encoder("tokens").fit(pd.DataFrame({"M": [1, 4, 64], "dataflow": ["os", "ws", "os"]}))
>>> enc.transform(pd.DataFrame({"M": [64], "dataflow": ["ws"]})).tolist()
[[12, 1]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect._checks import check_choice
from airchitect._columns import column_block

ENCODINGS = ("tokens", "continuous", "folds")
FOLD_EXPONENTS = np.arange(1, 15)
TOKEN_BINS_PER_OCTAVE = 2
TOKEN_VOCAB = 2 * 32 + 1  # log2 up to 32, half-octave bins


class Encoder:
    """Turn an inputs DataFrame into model features; see the module docstring."""

    def __init__(self, kind="continuous"):
        self.kind = check_choice("encoding", kind, ENCODINGS)
        self.columns = []
        self.categories = {}
        self.mean = None
        self.std = None

    # -- fitting ----------------------------------------------------------------
    def fit(self, X: pd.DataFrame):
        self.columns = list(X.columns)
        self.categories = {
            c: sorted(map(str, pd.unique(X[c])))
            for c in self.columns
            if not pd.api.types.is_numeric_dtype(X[c])
        }
        if self.kind != "tokens":
            raw = self._continuous(X)
            self.mean = raw.mean(axis=0).tolist()
            self.std = np.where(raw.std(axis=0) > 0, raw.std(axis=0), 1.0).tolist()
        return self

    @property
    def numeric(self):
        return [c for c in self.columns if c not in self.categories]

    # -- transforming -------------------------------------------------------------
    def transform(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ValueError(f"inputs lack the columns {', '.join(missing)}")
        if self.kind == "tokens":
            return self._tokens(X)
        raw = self._continuous(X)
        return ((raw - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def vocab_sizes(self):
        """Embedding table size of every token column (``tokens`` encoding)."""
        return [len(self.categories[c]) if c in self.categories else TOKEN_VOCAB for c in self.columns]

    @property
    def n_features(self):
        if self.kind == "tokens":
            return len(self.columns)
        return len(self.mean)

    def _category_index(self, X, column):
        vocab = self.categories[column]
        values = X[column].astype(str).to_numpy()
        index = np.searchsorted(vocab, values)
        index = np.clip(index, 0, len(vocab) - 1)
        unknown = np.asarray(vocab, dtype=object)[index] != values
        if unknown.any():
            raise ValueError(
                f"{column} must be one of {', '.join(vocab)}; got {values[unknown][0]!r}"
            )
        return index

    def _tokens(self, X):
        out = np.empty((len(X), len(self.columns)), dtype=np.int64)
        for j, column in enumerate(self.columns):
            if column in self.categories:
                out[:, j] = self._category_index(X, column)
            else:
                logs = np.log2(np.maximum(X[column].to_numpy(dtype=np.float64), 1e-9))
                out[:, j] = np.clip(np.rint(logs * TOKEN_BINS_PER_OCTAVE), 0, TOKEN_VOCAB - 1)
        return out

    def _continuous(self, X):
        raw = column_block(X, self.numeric, np.float64)
        logs = np.log2(np.maximum(raw, 1e-9))
        i, j = np.triu_indices(logs.shape[1], k=1)
        parts = [logs, logs[:, i] - logs[:, j]]
        if self.kind == "folds":
            values = np.maximum(raw, 1.0)
            folds = np.ceil(values[:, :, None] / 2.0 ** FOLD_EXPONENTS[None, None, :])
            parts.append(np.log2(folds).reshape(len(values), -1))
        for column, vocab in self.categories.items():
            parts.append(np.eye(len(vocab))[self._category_index(X, column)])
        return np.concatenate(parts, axis=1)

    # -- persistence ----------------------------------------------------------------
    def to_dict(self):
        return {
            "kind": self.kind,
            "columns": self.columns,
            "categories": self.categories,
            "mean": self.mean,
            "std": self.std,
        }

    @classmethod
    def from_dict(cls, data):
        enc = cls(data["kind"])
        enc.columns = list(data["columns"])
        enc.categories = {k: list(v) for k, v in data["categories"].items()}
        enc.mean, enc.std = data["mean"], data["std"]
        return enc

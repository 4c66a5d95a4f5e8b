"""The :class:`Predictor`: a trained classifier bound to its task, saved safely.

On disk a predictor is a directory::

    model.safetensors   # tensor weights only
    predictor.json      # task, label vocabulary, encoding, hyper-parameters,
                        # schema and package versions, training-data hash, metrics

Nothing is ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from airchitect import __version__
from airchitect.data.store import write_atomic, write_json_atomic
from airchitect.learn.boosted import BoostedCostClassifier
from airchitect.learn.encoding import Encoder
from airchitect.learn.estimators import AirchitectClassifier, ResMLPClassifier
from airchitect.learn.stalls import SplitStallClassifier
from airchitect.learn.surrogate import SurrogateClassifier

SCHEMA_VERSION = 1
MODELS = {
    "airchitect": AirchitectClassifier,
    "resmlp": ResMLPClassifier,
    "surrogate": SurrogateClassifier,
    "boosted": BoostedCostClassifier,
    "stalls": SplitStallClassifier,
}


class Predictor:
    """A trained model of one task: ``predict`` maps inputs to configurations.

    Parameters
    ----------
    task : Task
    estimator : a fitted estimator of :data:`MODELS`
    metadata : dict
        Free-form facts kept with the model (metrics, training data hash).
    """

    def __init__(self, task, estimator, metadata=None):
        self.task = task
        self.estimator = estimator
        self.metadata = dict(metadata or {})

    @property
    def model_name(self):
        return next(k for k, v in MODELS.items() if isinstance(self.estimator, v))

    # -- prediction -------------------------------------------------------------
    def predict_proba(self, inputs) -> np.ndarray:
        """Probabilities over the task's labels, ``(n, n_labels)``."""
        return self.estimator.predict_proba(self.task.validate(inputs))

    def predict(self, inputs) -> pd.DataFrame:
        """The predicted configuration of every row: ``label`` and config columns."""
        inputs = self.task.validate(inputs)
        labels = self.estimator.predict(inputs)
        config = self.task.configs(inputs, labels)
        config.insert(0, "label", labels)
        return config

    def top_k(self, inputs, k=5) -> np.ndarray:
        """The ``k`` most probable allowed labels of every row, best first, ``(n, k)``."""
        scores = self.estimator.decision_function(self.task.validate(inputs))
        k = min(k, scores.shape[1])
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]

    # -- persistence ----------------------------------------------------------------
    def save(self, path):
        """Write ``model.safetensors`` and ``predictor.json`` into directory ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        est = self.estimator
        if hasattr(est, "get_state"):
            arrays, state = est.get_state()
            tensors = {k: torch.as_tensor(np.ascontiguousarray(v)) for k, v in arrays.items()}
        else:
            tensors = {k: v.contiguous() for k, v in est.module_.state_dict().items()}
            state = {"encoder": est.encoder_.to_dict()}
        tmp = path / ".model.safetensors.tmp"
        save_file(tensors, str(tmp))
        write_atomic(path / "model.safetensors", tmp.read_bytes())
        tmp.unlink()
        params = self.estimator.get_params()
        meta = {
            "schema_version": SCHEMA_VERSION,
            "package_version": __version__,
            "task": self.task.describe(),
            "task_params": self.task.params(),
            "labels": json.loads(self.task.space().to_json(orient="records")),
            "model": self.model_name,
            "params": params,
            "state": state,
            "n_labels": int(self.estimator.n_labels_),
            **self.metadata,
        }
        write_json_atomic(path / "predictor.json", meta)
        return path

    @classmethod
    def load(cls, path, task=None):
        """Load a predictor saved by :meth:`save` (see :meth:`_load`)."""
        try:
            return cls._load(path, task)
        except KeyError as err:
            raise ValueError(f"{path}: predictor.json lacks the field {err}; not a predictor "
                             f"this airchitect can read") from None

    @classmethod
    def _load(cls, path, task=None):
        """Load a predictor saved by :meth:`save`.

        ``task`` (a name), when given, must match the saved model's task.
        A model of another task, schema or label vocabulary raises ``ValueError``.
        """
        from airchitect.tasks import get

        path = Path(path)
        meta_file = path / "predictor.json"
        if not meta_file.exists():
            raise FileNotFoundError(f"{path}: no predictor.json; not a saved predictor")
        meta = json.loads(meta_file.read_text())
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"{path}: model schema version {meta.get('schema_version')} is not "
                f"{SCHEMA_VERSION}, the one this airchitect reads"
            )
        name = meta["task"]["task"]
        if task is not None and name != task:
            raise ValueError(f"{path}: model is for task {name!r}, not {task!r}")
        task_obj = get(name, **meta.get("task_params", {}))
        if task_obj.describe() != meta["task"]:
            raise ValueError(f"{path}: model's task definition differs from this airchitect's")
        space = json.loads(task_obj.space().to_json(orient="records"))
        if space != meta["labels"]:
            raise ValueError(f"{path}: model's label vocabulary differs from task {name!r}")
        est = MODELS[meta["model"]](**meta["params"])
        est.n_labels_ = meta["n_labels"]
        est.classes_ = np.arange(est.n_labels_)
        tensors = load_file(str(path / "model.safetensors"))
        if hasattr(est, "set_state"):
            est.set_state({k: v.numpy() for k, v in tensors.items()}, meta["state"])
        else:
            est.encoder_ = Encoder.from_dict(meta["state"]["encoder"])
            est.module_ = est._build(est.encoder_, est.n_labels_)
            est.module_.load_state_dict(tensors)
            est.module_.eval()
        keep = {k: v for k, v in meta.items() if k in ("metrics", "training_data", "training")}
        return cls(task_obj, est, keep)

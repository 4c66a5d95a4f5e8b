"""The :class:`Predictor`: a trained classifier bound to its task, saved safely.

On disk a predictor is a directory::

    model.safetensors   # tensor weights only
    predictor.json      # task, label vocabulary, encoding, hyper-parameters,
                        # schema and package versions, training-data hash, metrics

Nothing is ever unpickled. :meth:`Predictor.load` checks both files before it
builds anything (:mod:`airchitect.learn.schema`).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file

from airchitect import __version__
from airchitect._checks import check_int
from airchitect.learn import schema
from airchitect.learn.boosted import BoostedCostClassifier
from airchitect.learn.encoding import Encoder
from airchitect.learn.estimators import AirchitectClassifier, ResMLPClassifier
from airchitect.learn.factorised import FactorisedClassifier
from airchitect.learn.ordinal import OrdinalTransformerClassifier
from airchitect.learn.schema import METADATA_KEYS, SCHEMA_VERSION
from airchitect.learn.stalls import SplitStallClassifier
from airchitect.learn.surrogate import SurrogateClassifier

MODELS = {
    "airchitect": AirchitectClassifier,
    "resmlp": ResMLPClassifier,
    "factorised": FactorisedClassifier,
    "ordinal": OrdinalTransformerClassifier,
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
        labels = self.labels_of_validated(inputs)
        config = self.task.configs(inputs, labels)
        config.insert(0, "label", labels)
        return config

    def labels_of_validated(self, inputs) -> np.ndarray:
        """The predicted label of every row of ``inputs``, rows the task's ``validate``
        returned (an estimator that checks its rows itself, the split-stall model, is
        not made to check them again)."""
        return getattr(self.estimator, "predict_validated", self.estimator.predict)(inputs)

    def top_k(self, inputs, k=5) -> np.ndarray:
        """The ``k`` most probable allowed labels of every row, best first, ``(n, k)``.

        ``k`` is an integer in ``[1, n_labels]``.
        """
        k = check_int("k", k, 1, int(self.estimator.n_labels_))
        if hasattr(self.estimator, "top_k"):
            return self.estimator.top_k(self.task.validate(inputs), k)
        scores = self.estimator.decision_function(self.task.validate(inputs))
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]

    # -- persistence ----------------------------------------------------------------
    def _payload(self):
        """``(tensors, metadata)`` that :meth:`save` writes."""
        extra = sorted(set(self.metadata) - set(METADATA_KEYS))
        if extra:
            raise ValueError(f"metadata keys must be among {', '.join(METADATA_KEYS)}; got {extra[0]!r}")
        est = self.estimator
        schema.check_params(self.model_name, est.get_params())  # load would refuse it
        if hasattr(est, "get_state"):
            arrays, state = est.get_state()
            tensors = {k: torch.as_tensor(np.ascontiguousarray(v)) for k, v in arrays.items()}
        else:
            tensors = {k: v.contiguous() for k, v in est.module_.state_dict().items()}
            state = {"encoder": est.encoder_.to_dict()}
        params = self.estimator.get_params()
        if "task" in params and params["task"] is not None:
            params["task"] = self.task.name
        meta = {
            "schema_version": SCHEMA_VERSION,
            "package_version": __version__,
            "task": self.task.describe(),
            "task_params": self.task.params(),
            "definition": self.task.definition(),
            "labels": json.loads(self.task.space().to_json(orient="records")),
            "model": self.model_name,
            "params": params,
            "state": state,
            "n_labels": int(self.estimator.n_labels_),
            **self.metadata,
        }
        return tensors, meta

    def save(self, path):
        """Write ``model.safetensors`` and ``predictor.json`` into directory ``path``.

        Both files are written into a temporary directory beside ``path`` and
        moved into place: a new ``path`` appears whole (one rename); in an
        existing directory each file is replaced atomically and other files are
        kept. On failure nothing is left behind, not even parent directories
        this call created. Returns ``path`` as a ``Path``.
        """
        path = Path(path)
        tensors, meta = self._payload()
        made = _make_parents(path)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        except BaseException:
            _remove_dirs(made)
            raise
        try:
            save_file(tensors, str(tmp / "model.safetensors"))
            _fsync(tmp / "model.safetensors")
            with open(tmp / "predictor.json", "w") as fh:
                fh.write(json.dumps(meta, indent=2, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            _place(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            _remove_dirs(made)
            raise
        return path

    @classmethod
    def load(cls, path, task=None):
        """Load a predictor saved by :meth:`save`.

        ``task`` (a name or a Task), when given, must match the saved model's
        task: its definition (:meth:`airchitect.tasks.Task.definition`) must
        equal the one recorded in ``predictor.json``. Without ``task`` the task
        is rebuilt from the recorded definition (a built-in class, or a name or
        class registered in this process), or, in a model saved without one,
        from its name and parameters. A name not registered here but recorded
        in the model is rebuilt from the definition too.
        Both files are checked before anything is built
        (:mod:`airchitect.learn.schema`): a file that is not what :meth:`save`
        writes, or a model of another task, schema or label vocabulary, raises
        one ``ValueError`` naming the file and the field.
        """
        path = Path(path)
        meta_file = path / "predictor.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{path}: no predictor.json; not a saved predictor")
        meta = schema.read_metadata(meta_file)
        task_obj = _task(meta, meta_file, task)
        schema.check_against_task(meta, task_obj, meta_file)
        est = MODELS[meta["model"]](**meta["params"])
        if getattr(est, "task", None) is not None:
            est.task = task_obj  # the built task: a variant's name may be unknown to get()
        model_file = path / "model.safetensors"
        expected = schema.expected_tensors(meta, task_obj, est)
        tensors = schema.read_tensors(model_file, expected)
        arrays = {k: v.numpy() for k, v in tensors.items()}
        schema.check_values(arrays, meta, task_obj, model_file)
        est.n_labels_ = meta["n_labels"]
        est.classes_ = np.arange(est.n_labels_)
        if hasattr(est, "set_state"):
            est.set_state(arrays, meta["state"])
        else:
            est.encoder_ = Encoder.from_dict(meta["state"]["encoder"])
            est.module_ = est._build(est.encoder_, est.n_labels_)
            est.module_.load_state_dict(tensors)
            est.module_.eval()
        keep = {k: v for k, v in meta.items() if k in METADATA_KEYS}
        return cls(task_obj, est, keep)


def _task(meta, meta_file, wanted=None):
    """The task of ``meta``: rebuilt from the recorded definition, or ``wanted`` (a Task,
    or a name registered with :func:`airchitect.tasks.register`) checked against it."""
    from airchitect.tasks import BUILTIN, Task, get, identity, names, recorded_task

    name = meta["task"]["task"]
    wanted_name = wanted.name if isinstance(wanted, Task) else wanted
    if wanted_name is not None and wanted_name != name:
        raise ValueError(f"{meta_file.parent}: model is for task {name!r}, not {wanted_name!r}")
    if "definition" in meta:
        task = recorded_task(meta["definition"], wanted, meta_file)
    elif isinstance(wanted, Task) or (wanted in names() and wanted not in BUILTIN):
        task = get(wanted)
    elif name not in names():
        schema.fail(meta_file, "task.task", f"must be one of {', '.join(names())}; got {name!r}")
    else:
        try:
            task = get(name, **meta["task_params"])
        except (TypeError, ValueError) as err:
            schema.fail(meta_file, "task_params", err)
    if identity.plain(task.params()) != meta["task_params"]:
        schema.fail(meta_file, "task_params", f"{meta['task_params']} are not the parameters "
                                              f"{identity.plain(task.params())} of task {name!r}")
    if task.describe() != meta["task"]:
        schema.fail(meta_file, "task", "model's task definition differs from this airchitect's")
    if json.loads(task.space().to_json(orient="records")) != meta["labels"]:
        schema.fail(meta_file, "labels", f"model's label vocabulary differs from task {name!r}")
    return task


def check_writable(path):
    """Raise ``OSError`` unless :meth:`Predictor.save` can write at ``path``.

    Tries what :meth:`Predictor.save` does first (create the missing parent
    directories and a temporary directory beside ``path``, and write into
    ``path`` when it exists) and removes all of it again.
    """
    path = Path(path)
    made = _make_parents(path)
    try:
        for where in (path.parent, path) if path.is_dir() else (path.parent,):
            os.rmdir(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=where))
    except OSError as err:
        raise type(err)(err.errno, f"{path}: cannot write a predictor here ({err.strerror})") from None
    finally:
        _remove_dirs(made)


def _make_parents(path):
    """Create the missing parents of ``path``; return those made, deepest last.

    ``path`` itself must be a directory or absent.
    """
    if path.exists() and not path.is_dir():
        raise FileExistsError(errno.EEXIST, f"{path}: exists and is not a directory")
    missing = []
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{path}: {parent} is not a directory")
    made = []
    try:
        for directory in reversed(missing):
            directory.mkdir()
            made.append(directory)
    except OSError as err:
        _remove_dirs(made)
        raise type(err)(err.errno, f"{path}: cannot create {directory} ({err.strerror})") from None
    return made


def _remove_dirs(made):
    for directory in reversed(made):
        try:
            directory.rmdir()
        except OSError:
            pass


def _fsync(file):
    with open(file, "rb") as fh:
        os.fsync(fh.fileno())


def _place(tmp, path):
    """Move the files of directory ``tmp`` to ``path``: one rename when ``path`` is
    absent, else file by file (``predictor.json`` last); ``tmp`` is removed."""
    os.chmod(tmp, 0o755)
    os.chmod(tmp / "model.safetensors", 0o644)  # safetensors writes it readable by its owner alone
    if not path.exists():
        try:
            os.rename(tmp, path)
            return
        except OSError as err:
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not path.is_dir():
                raise
    for name in ("model.safetensors", "predictor.json"):
        os.replace(tmp / name, path / name)
    tmp.rmdir()

"""The public face: ``predict`` and ``recommend`` with the shipped models.

>>> import airchitect as ac
>>> cfg = ac.predict("array", M=512, N=512, K=512, max_macs=4096)
>>> sorted(cfg)[:3]
['cols', 'dataflow', 'label']
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_int
from airchitect._columns import frame
from airchitect.learn.predictor import Predictor
from airchitect.tasks.pruning import evaluate_in_order

SHIPPED = Path(__file__).parent / "models"


def shipped_path(task, purpose="predict", objective=None):
    """Directory of the shipped model of ``task`` that ``purpose`` uses: ``predict``
    (and batched predictions) or ``recommend`` (whose ranking is re-ranked
    exactly; the same model unless the task ships ``<task>/recommend``). A task
    may ship a model per further objective in ``<task>/<objective>`` (codesign:
    ``edp``); ``objective`` picks it."""
    path = SHIPPED / task
    by_objective = _objective_dir(task, objective)
    if by_objective is not None:
        return by_objective
    if purpose == "recommend" and (path / "recommend" / "predictor.json").exists():
        return path / "recommend"
    return path


def _objective_dir(task, objective):
    """``<task>/<objective>`` of the shipped models when it holds a model, else None."""
    if objective is None:
        return None
    path = SHIPPED / task / str(objective)
    return path if (path / "predictor.json").exists() else None


def shipped(task, purpose="predict", objective=None) -> Predictor:
    """The shipped predictor of ``task`` for ``purpose`` (see :func:`shipped_path`),
    loaded once per process (one object where both purposes use the same model).
    With ``objective``, the model trained for it (``ValueError`` when none is shipped).

    >>> shipped("buffer").model_name, shipped("buffer", "recommend").model_name
    ('stalls', 'boosted')
    """
    from airchitect import tasks

    if all(isinstance(v, str) for v in (task, purpose)) and (objective is None or isinstance(objective, str)):
        return _shipped_named(task, purpose, objective, tasks.generation)  # checked once per registry state
    return _shipped(task, purpose, objective)


@functools.lru_cache(maxsize=64)
def _shipped_named(task, purpose, objective, generation):
    return _shipped(task, purpose, objective)


def _shipped(task, purpose, objective):
    from airchitect.tasks import get

    check_choice("purpose", purpose, ("predict", "recommend"))
    built = get(task)
    if objective is not None:
        objective = built.check_objective(objective)
    predictor = _load(shipped_path(built.name, purpose, objective), built.name)
    trained = predictor.estimator.get_params().get("objective") or built.objectives[0]
    if objective is not None and trained != objective:
        default = _load(shipped_path(built.name, purpose, None), built.name).estimator.get_params()
        ships = [default.get("objective") or built.objectives[0]]
        ships += [o for o in built.objectives if o not in ships and _objective_dir(built.name, o)]
        raise ValueError(f"objective: no shipped model of task {built.name!r} for {objective!r} "
                         f"(shipped: {', '.join(map(repr, ships))}); train one and pass model=DIR")
    if built is not predictor.task and built.definition() != predictor.task.definition():
        raise ValueError(f"no shipped model for this variant of task {built.name!r} (params "
                         f"{built.params()}); train one and pass model=DIR")
    return predictor


@functools.lru_cache(maxsize=None)
def _load(path, task):
    if not (path / "predictor.json").exists():
        raise ValueError(f"no shipped model for task {task!r}; train one with airchitect train")
    return Predictor.load(path, task=task)


def _predictor(task, model, purpose, objective=None):
    """``model`` (a Predictor or a saved predictor's directory), checked to be a
    predictor of ``task``, or the shipped one for ``purpose`` and ``objective``."""
    if model is None:
        return shipped(task, purpose, objective)
    if isinstance(model, (str, os.PathLike)):
        return _load_dir(Path(model), task)
    if not isinstance(model, Predictor):
        raise TypeError(f"model must be a Predictor or a saved predictor's directory, "
                        f"got {type(model).__name__}")
    name = getattr(task, "name", task)
    if model.task.name != name:
        raise ValueError(f"model is for task {model.task.name!r}, not {name!r}")
    if not isinstance(task, str) and model.task is not task:
        from airchitect.tasks import identity

        identity.compare(model.task.definition(), task, identity.Where(None, "model.task"))
    return model


def _load_dir(path, task):
    """The predictor saved in ``path`` for ``task``, loaded once while its files are unchanged."""
    from airchitect import tasks

    try:
        stamp = tuple((path / f).stat().st_mtime_ns for f in ("predictor.json", "model.safetensors"))
    except OSError:
        stamp = None  # Predictor.load names what is missing
    return _load_saved(path.resolve(), stamp, task, tasks.generation)


@functools.lru_cache(maxsize=8)
def _load_saved(path, stamp, task, generation):
    return Predictor.load(path, task=task)


def _query(predictor, inputs):
    task = predictor.task
    extra = sorted(set(inputs) - set(task.input_columns))
    if extra:
        raise TypeError(
            f"task {task.name!r} takes {', '.join(task.input_columns)}; unexpected {', '.join(extra)}"
        )
    ordered = [c for c in task.input_columns if c in inputs]  # validate then takes the frame as is
    values = [inputs[c] for c in ordered]
    if all(type(v) is int and abs(v) < 2**62 for v in values):  # one block of integers, built at once
        return task.validate(frame(np.array([values], dtype=np.int64), ordered))
    return task.validate(pd.DataFrame({c: [v] for c, v in zip(ordered, values)}))


def _record(task, query, label):
    row = task.config_values(query, [int(label)])
    return {**{c: _plain(row[c][0]) for c in task.config_columns}, "label": int(label)}


def _shipped_objective(task, model, objective):
    """``objective`` where the task ships a model of its own for it, else None."""
    name = getattr(task, "name", task)
    if model is None and isinstance(name, str) and _objective_dir(name, objective) is not None:
        return objective
    return None


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def predict(task, model=None, objective=None, **inputs) -> dict:
    """The configuration the shipped (or given) model predicts for one query.

    Parameters
    ----------
    task : str or Task
        Task name, e.g. ``"array"`` (or one registered with
        :func:`airchitect.tasks.register`), or a Task.
    model : Predictor or path, optional
        Use this predictor, or the one saved in this directory, instead of the
        shipped one; it must be a model of ``task`` (``ValueError`` naming
        the field otherwise). A saved model of a variant of a built-in task
        is rebuilt from its recorded definition, so ``predict("array",
        model=DIR, ...)`` needs no registration.
    objective : str, optional
        Use the shipped model trained for this objective (codesign ships
        ``cycles`` and ``edp``); default the task's shipped model.
    **inputs
        The task's input columns, e.g. ``M, N, K, max_macs`` for ``array``.
    """
    predictor = _predictor(task, model, "predict", objective)
    query = _query(predictor, inputs)
    label = predictor.labels_of_validated(query)[0]
    return _record(predictor.task, query, label)


def recommend(task, k=5, model=None, objective=None, **inputs) -> dict:
    """The best of the model's top-``k`` configurations, ranked by the exact cost model.

    Returns the configuration with ``cost`` (the exact objective), ``rank``
    (its position, from 1, in the model's own ranking) and ``simulations``
    (exact cost evaluations used). Where the task has provable lower bounds
    (``codesign``), a candidate whose bound is no less than the best cost
    simulated so far is skipped unsimulated: the answer is the same as
    simulating all ``k``, in fewer simulations. The shipped ranking model
    may differ from :func:`predict`'s (buffer: boosted trees rank, the split-stall
    estimate predicts). ``k`` is an integer in ``[1, n_labels]``; ``model``, when
    given (a Predictor or a saved predictor's directory, as for :func:`predict`),
    must be a model of ``task``. Where the task ships a model trained for
    ``objective`` (codesign: ``edp``), that model ranks. On ``codesign``'s own
    space the model's best ``max(k, 128)`` candidates (for EDP or energy, with the
    cycles model's best 128) are first reordered by the shipped reranker
    (:mod:`airchitect.network_design.rerank`, a learned correction of the
    split-stall estimate), and the first ``k`` of that order are simulated:
    ``rank`` is then the position in the reranked order.
    """
    predictor = _predictor(task, model, "recommend", _shipped_objective(task, model, objective))
    k = check_int("k", k, 1, int(predictor.estimator.n_labels_))
    query = _query(predictor, inputs)
    labels = _ranking(predictor, query, k, objective)
    best, cost, simulations = _exact_best(predictor.task, query, labels, objective)
    return {**_record(predictor.task, query, labels[best]), "cost": cost, "rank": best + 1,
            "simulations": simulations}


def _ranking(predictor, query, k, objective):
    """The ``k`` labels that :func:`recommend` simulates for the one-row ``query``, best
    first: the model's top ``k``; on codesign's own space, the first ``k`` of the
    reranked pool (:func:`_codesign_pool`)."""
    if getattr(predictor.task, "name", None) == "codesign":
        from airchitect.network_design.rerank import shipped_reranker

        reranker = shipped_reranker()
        if reranker.applies_to(predictor.task):
            key = predictor.task.check_objective(objective)
            pool = _codesign_pool(predictor, query, k, key)
            return reranker.order(predictor.task, query, pool[None, :], key)[0, :k]
    return predictor.top_k(query, k)[0]


def _codesign_pool(predictor, query, k, objective):
    """The candidates the codesign reranker orders: the model's ``max(k, POOL)`` best,
    and for an objective other than cycles also the shipped cycles model's ``POOL``
    best (an EDP or energy optimum is often among the fastest configurations, which
    the cycles model, trained on more labels, proposes best), each label once."""
    from airchitect.network_design.rerank import POOL

    pool = [_best_set(predictor, query, max(k, POOL))]
    if objective != "cycles":
        pool.append(_best_set(shipped("codesign", "recommend"), query, POOL))
    labels = np.concatenate(pool)
    _, first = np.unique(labels, return_index=True)
    return labels[np.sort(first)]


def _best_set(predictor, query, k):
    """The labels of the model's ``k`` best for the one-row ``query``, in any order: the
    factorised model's ``k`` most probable (what its scorer would order), else ``top_k``."""
    if hasattr(predictor.estimator, "proposed") and k >= predictor.estimator.candidates:
        return predictor.estimator.proposed(query, k)[0]
    return predictor.top_k(query, k)[0]


def _exact_best(task, query, labels, objective):
    """``(index, exact cost, simulations)`` of the least exact cost among ``labels`` (the
    first of equals) for the one-row ``query``, skipping the labels that the task's
    lower bounds rule out (:func:`airchitect.tasks.pruning.evaluate_in_order`)."""
    costs = np.full(len(labels), np.inf)
    if hasattr(task, "bounds"):  # such tasks take (n, k) labels in bounds and cost_of

        def evaluate(idx):
            costs[idx] = task.cost_of(query, labels[None, idx], objective)[0]
            return costs[idx]

        key = task.check_objective(objective)
        bound = task.bounds(query, labels[None, :], energy=key != "cycles")[key][0]
        done, _ = evaluate_in_order(bound, evaluate)
    else:
        done = np.arange(len(labels))
        repeated = query.loc[np.zeros(done.size, dtype=int)].reset_index(drop=True)
        costs[:] = task.cost_of(repeated, labels, objective)
    best = int(np.argmin(costs))
    return best, float(costs[best]), int(done.size)

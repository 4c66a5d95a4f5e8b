"""The :class:`Task`: a design space, an objective and a deterministic tie-break.

A task turns a table of workloads-with-constraints (its *inputs*) into the
id of the best configuration of its *space* (the label vocabulary). Every
task reduces to two vectorised pieces that subclasses provide:

- :meth:`Task.costs` -- an ``(n_rows, n_labels)`` array of the objective for
  every row and every configuration, ``inf`` where a configuration is not
  allowed for that row;
- :meth:`Task.tiebreak` -- the secondary keys that order configurations of
  equal cost (the space's own order is the last key).

Everything else (labelling, the exact search of one query, the margin to the
runner-up) is shared here.
"""

from __future__ import annotations

import functools
import weakref

import numpy as np
import pandas as pd

from airchitect._checks import check_choice
from airchitect._columns import has_columns, range_indexed
from airchitect.workloads.sampling import check_sample_args

OBJECTIVES = ("cycles", "energy", "edp")
#: largest ``M, N, K`` of a GEMM query of the array, buffer and multiarray tasks
DIM_HIGH = 16384
_REMEMBER_ROWS = 64
#: most cost entries (rows x labels) of one :meth:`Task.costs` call, 2 GiB of float64
MAX_COST_ELEMENTS = 2**28


def _values(df):
    """The values of ``df`` as one array (integer frames without an object copy)."""
    values = df.to_numpy()  # integer where every column is (mixed integer kinds: not)
    if values.dtype.kind in "iu":
        return values
    return df.to_numpy(dtype=object)  # every value as it is (an int stays exact beside a float)


def _frame(name, inputs):
    """``inputs`` (a mapping of columns, or of scalars: one row) as a DataFrame."""
    if not isinstance(inputs, (dict, list, np.ndarray)):
        raise TypeError(f"task {name!r}: inputs must be a DataFrame or a mapping of columns, "
                        f"got {type(inputs).__name__}")
    if isinstance(inputs, dict) and inputs and all(np.ndim(v) == 0 for v in inputs.values()):
        inputs = {k: [v] for k, v in inputs.items()}
    try:
        return pd.DataFrame(inputs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"task {name!r}: inputs must be a DataFrame or a mapping of equal-length "
                         f"columns ({err})") from None


def checked_sample(method):
    """Decorate a task's ``sample(n, seed)`` so that ``n`` and ``seed`` are checked first
    (:func:`~airchitect.workloads.sampling.check_sample_args`)."""

    @functools.wraps(method)
    def sample(self, n, seed=0):
        return method(self, *check_sample_args(n, seed))

    return sample


class Task:
    """Base class of every task; see the module docstring.

    Subclasses set ``name``, ``space_version``, ``input_columns`` and
    ``config_columns`` and implement ``_space``, ``sample``, ``costs``.
    """

    name = ""
    space_version = "1"
    input_columns: tuple = ()
    config_columns: tuple = ()
    objectives = OBJECTIVES
    default_objective = "cycles"
    chunk_rows = 20_000
    #: whether :meth:`costs` is cheap enough to call while training a model;
    #: datasets of tasks whose costs are dear store every configuration's cost
    cheap_costs = True
    #: rows per dataset shard
    shard_rows = 10_000

    def __init__(self):
        self._space_cache = None
        self._columns_cache = None
        self._checked = None

    # -- the label vocabulary ------------------------------------------------
    def space(self) -> pd.DataFrame:
        """The label vocabulary: one row per configuration, index = label id."""
        return self._cached_space().copy()

    def _cached_space(self):
        if self._space_cache is None:
            space = self._space().reset_index(drop=True)
            space.index.name = "label"
            self._space_cache = space
        return self._space_cache

    def space_columns(self):
        """The label vocabulary as ``{column: array}``, shared (read-only)."""
        if self._columns_cache is None:
            space = self._cached_space()
            columns = {c: space[c].to_numpy() for c in space.columns}
            for values in columns.values():
                values.flags.writeable = False
            self._columns_cache = columns
        return self._columns_cache

    @property
    def n_labels(self) -> int:
        return len(self._cached_space())

    def _space(self) -> pd.DataFrame:
        raise NotImplementedError

    # -- inputs ----------------------------------------------------------------
    def sample(self, n, seed=0) -> pd.DataFrame:
        """``n`` seeded rows of inputs (workloads and constraints)."""
        raise NotImplementedError

    def validate(self, inputs) -> pd.DataFrame:
        """Check ``inputs`` (a DataFrame, a mapping of columns, or of one row's values)
        and return a DataFrame."""
        df = inputs if isinstance(inputs, pd.DataFrame) else _frame(self.name, inputs)
        missing = [c for c in self.input_columns if c not in df.columns]
        if missing:
            raise ValueError(
                f"task {self.name!r} needs input columns {', '.join(self.input_columns)}; "
                f"missing {', '.join(missing)}"
            )
        if self._is_checked(df):
            return df
        columns = list(self.input_columns)
        if has_columns(df, columns) and range_indexed(df):
            out = self._validate(df.copy(deep=False))
        else:
            out = self._validate(df[columns].reset_index(drop=True))
        if len(out) <= _REMEMBER_ROWS:  # a query checked again by the estimator is not re-checked
            self._checked = (weakref.ref(out), _values(out).copy())
        return out

    def _is_checked(self, df):
        """Whether ``df`` is the last small frame :meth:`validate` returned, unchanged."""
        if self._checked is None or self._checked[0]() is not df:
            return False
        values, before = _values(df), self._checked[1]
        return values.shape == before.shape and bool((values == before).all())

    def _validate(self, df):
        return df

    def check_objective(self, objective):
        if objective is None:
            return self.default_objective
        return check_choice("objective", objective, self.objectives)

    # -- the objective ------------------------------------------------------------
    def costs(self, inputs, objective="cycles") -> np.ndarray:
        """Objective of every configuration for every row, ``(n_rows, n_labels)``.

        ``inf`` marks configurations that a row's constraints rule out.
        """
        raise NotImplementedError

    def check_cost_size(self, inputs):
        """Refuse a :meth:`costs` call of more than ``MAX_COST_ELEMENTS`` entries."""
        size = len(inputs) * self.n_labels
        if size > MAX_COST_ELEMENTS:
            raise ValueError(f"task {self.name!r}: {len(inputs)} rows x {self.n_labels} labels is more "
                             f"than MAX_COST_ELEMENTS = {MAX_COST_ELEMENTS} costs; call it in chunks")

    def checked_costs(self, inputs, objective=None):
        """:meth:`costs` (its default objective if ``objective`` is None), raising a
        ValueError that names the task, the objective and the first configuration
        whose cost is NaN (an objective never computed)."""
        costs = self.costs(inputs) if objective is None else self.costs(inputs, objective)
        if np.isnan(np.sum(costs)) and np.isnan(costs).any():
            row, label = (int(i[0]) for i in np.nonzero(np.isnan(costs)))
            config = {c: v[label] for c, v in self.space_columns().items()}
            raise ValueError(f"task {self.name!r}: objective {objective!r} is NaN for row {row}, "
                             f"label {label} {config}")
        return costs

    def tiebreak(self, inputs, costs, objective="cycles"):
        """Secondary keys that order equal costs, each ``(n_rows, n_labels)`` or
        ``(n_labels,)`` (one value per configuration).

        The default is none: ties go to the lower label id (the space is
        sorted so that this is the documented tie-break).
        """
        return []

    def relax(self, inputs) -> pd.DataFrame:
        """``inputs`` with every constraint at its loosest, so every label has a cost."""
        return inputs

    def configs(self, inputs, labels) -> pd.DataFrame:
        """The configuration columns of label ``labels[i]`` for row ``i``."""
        return pd.DataFrame(self.config_values(inputs, labels))

    def config_values(self, inputs, labels):
        """:meth:`configs` as ``{column: array}``."""
        labels = np.asarray(labels)
        return {c: values[labels] for c, values in self.space_columns().items()}

    def allowed(self, inputs, validated=False) -> np.ndarray:
        """``(n_rows, n_labels)`` booleans: configurations a row's constraints allow.

        ``validated=True`` skips :meth:`validate` for inputs that it returned.
        """
        return self._allowed(inputs if validated else self.validate(inputs))

    def _allowed(self, inputs):
        """:meth:`allowed` of inputs that :meth:`validate` has already checked."""
        if not self.cheap_costs:
            return np.ones((len(inputs), self.n_labels), dtype=bool)
        return np.concatenate(
            [
                np.isfinite(self.checked_costs(inputs.iloc[s : s + self.chunk_rows]))
                for s in range(0, max(len(inputs), 1), self.chunk_rows)
            ]
        )[: len(inputs)]

    def check_labels(self, labels, n_rows, ndim=(1, 2)):
        """``labels`` as int64, checked: integers in ``[0, n_labels)``, one (``ndim``
        1) or a row of them (2) per input row.

        >>> import airchitect as ac
        >>> ac.tasks.get("array").check_labels([3, 7], 2).tolist()
        [3, 7]
        """
        arr = np.asarray(labels)
        if arr.dtype.kind not in "iu" or arr.dtype == np.bool_:
            raise TypeError(f"task {self.name!r}: labels must be integers in [0, {self.n_labels}); "
                            f"got {arr.dtype} values")
        if arr.ndim not in ndim or arr.shape[0] != n_rows:
            form = "one label" if ndim == (1,) else "one label or a row of labels"
            raise ValueError(f"task {self.name!r}: labels must hold {form} per input row "
                             f"({n_rows} rows); got shape {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.n_labels):
            bad = arr.min() if arr.min() < 0 else arr.max()
            raise ValueError(f"task {self.name!r}: labels must be integers in [0, {self.n_labels}); got {bad}")
        return arr.astype(np.int64)

    def cost_of(self, inputs, labels, objective=None) -> np.ndarray:
        """Exact objective of configuration ``labels[i]`` for row ``i``."""
        objective = self.check_objective(objective)
        inputs = self.validate(inputs)
        labels = self.check_labels(labels, len(inputs), ndim=(1,))
        out = np.empty(len(inputs), dtype=np.float64)
        for start in range(0, len(inputs), self.chunk_rows):
            part = inputs.iloc[start : start + self.chunk_rows]
            costs = self.checked_costs(part, objective)
            out[start : start + len(part)] = costs[
                np.arange(len(part)), labels[start : start + len(part)]
            ]
        return out

    # -- labels --------------------------------------------------------------------
    def label(self, inputs, objective=None, keep_costs=False) -> pd.DataFrame:
        """Label every row with its optimal configuration.

        Returns the inputs, ``label`` (id into :meth:`space`), the label's
        configuration columns, ``best_cost`` and ``second_cost`` (the best
        cost among the other configurations, the margin to the runner-up)
        and, with ``keep_costs``, ``costs``: every configuration's cost
        (a float64 array per row, ``inf`` where not allowed).
        """
        objective = self.check_objective(objective)
        inputs = self.validate(inputs)
        labels = np.empty(len(inputs), dtype=np.int64)
        best = np.empty(len(inputs))
        second = np.empty(len(inputs))
        kept = []
        for start in range(0, len(inputs), self.chunk_rows):
            # one chunk is the checked frame itself, which costs() does not check again
            part = inputs if len(inputs) <= self.chunk_rows else inputs.iloc[start : start + self.chunk_rows]
            stop = start + len(part)
            costs = self.checked_costs(part, objective)
            labels[start:stop], best[start:stop], second[start:stop] = self._choose(
                part, costs, objective
            )
            if keep_costs:
                kept.extend(np.asarray(costs, dtype=np.float64))
        config = self.configs(inputs, labels)
        out = pd.concat([inputs, config], axis=1)
        out.insert(len(inputs.columns), "label", labels)
        out["best_cost"] = best
        out["second_cost"] = second
        if keep_costs:
            out["costs"] = kept
        return out

    def _choose(self, inputs, costs, objective):
        """Labels by :func:`tiebroken_argmin` of (cost, :meth:`tiebreak` keys), their costs
        and the runner-up costs; a row with no finite cost is refused."""
        labels = tiebroken_argmin(costs, self.tiebreak(inputs, costs, objective))
        rows = np.arange(costs.shape[0])
        best = costs[rows, labels]
        if not np.isfinite(best).all():
            bad = int(np.flatnonzero(~np.isfinite(best))[0])
            raise ValueError(f"task {self.name!r}: row {bad} has no feasible configuration")
        others = costs.copy()
        others[rows, labels] = np.inf
        return labels, best, others.min(axis=1)

    def query_frame(self, inputs):
        """One query's inputs (a dict of name -> value) as a 1-row DataFrame; a name
        that is not an input raises ``TypeError``."""
        unknown = [k for k in inputs if k not in self.input_columns]
        if unknown:
            raise TypeError(f"task {self.name!r} search got unknown input {unknown[0]!r}; "
                            f"its inputs are {', '.join(self.input_columns)}")
        return pd.DataFrame({k: [v] for k, v in inputs.items()})

    def search(self, objective=None, **inputs) -> dict:
        """The exact optimum of one query: its configuration, label and cost.

        Examples
        --------
        >>> import airchitect as ac
        >>> ac.tasks.get("array").search(M=64, N=64, K=64, max_macs=256)["label"] >= 0
        True
        """
        objective = self.check_objective(objective)
        row = self.label(self.query_frame(inputs), objective)
        record = row.iloc[0].to_dict()
        config = {c: row[c].to_numpy()[0] for c in self.config_columns}  # each in its column's type
        return {
            **{c: v.item() if isinstance(v, np.generic) else v for c, v in config.items()},
            "label": int(record["label"]),
            "cost": float(record["best_cost"]),
            "second_cost": float(record["second_cost"]),
            "objective": objective,
        }

    def params(self) -> dict:
        """Constructor arguments that rebuild this task (JSON-serialisable)."""
        return {}

    def describe(self) -> dict:
        """The task's identity as written into dataset and model manifests."""
        return {
            "task": self.name,
            "space_version": self.space_version,
            "n_labels": self.n_labels,
            "input_columns": list(self.input_columns),
            "config_columns": list(self.config_columns),
        }

    def definition(self) -> dict:
        """The task's full definition, a JSON-able dict: ``task`` (its registered
        name), ``class`` (``module:Class``), ``params``, ``space_version`` and
        ``space_sha256`` (of the space table); :func:`airchitect.tasks.from_definition`
        rebuilds the task from it (see :mod:`airchitect.tasks.identity`)."""
        from airchitect.tasks.identity import definition

        return definition(self)


def tiebroken_argmin(costs, keys=()):
    """The label of every row: the lexicographic minimum of (cost, ``keys``..., label id).

    ``costs`` is ``(n_rows, n_labels)``; each key broadcasts to it (a
    ``(n_labels,)`` key is one value per configuration). Returns ``(n_rows,)``
    int64; a row whose costs are all ``inf`` gets the label its keys prefer.
    """
    candidates = costs == costs.min(axis=1, keepdims=True)
    for key in keys:
        tied = np.flatnonzero(np.count_nonzero(candidates, axis=1) > 1)
        if not tied.size:
            break
        masked = np.where(candidates[tied], np.broadcast_to(key, costs.shape)[tied], np.inf)
        candidates[tied] = masked == masked.min(axis=1, keepdims=True)
    return candidates.argmax(axis=1)


def systolic_objective(objective, M, N, K, rows, cols, dataflow_code, cycles, **memory):
    """Energy (pJ) or EDP (pJ x cycles) of systolic runs, by broadcasting.

    ``cycles`` is returned unchanged for the ``cycles`` objective; the other
    objectives come from :func:`airchitect.systolic.simulate`.
    """
    if objective == "cycles":
        return cycles
    from airchitect.targets.systolic.simulate import MAX_ELEMENTS, simulate

    flows = np.asarray(["os", "ws", "is"])[np.asarray(dataflow_code)]
    shape = np.broadcast_shapes(np.shape(M), np.shape(rows), np.shape(cycles))
    args = [np.broadcast_to(a, shape).ravel() for a in (M, N, K, rows, cols, flows)]
    column = "energy_pj" if objective == "energy" else "edp"
    out = np.empty(int(np.prod(shape)), dtype=np.float64)
    for start in range(0, out.size, MAX_ELEMENTS):
        part = [a[start:start + MAX_ELEMENTS] for a in args]
        out[start:start + len(part[0])] = simulate(*part, **memory)[column].to_numpy(np.float64)
    return out.reshape(shape)

"""The ``array`` task (AIRCHITECT case study 1): array shape and dataflow.

Definition
----------
Inputs
    ``M, N, K`` (integers in 1..16384; the sampler draws each log-uniformly)
    and ``max_macs`` in {2^8, ..., 2^16}.
Space
    ``rows = 2^a``, ``cols = 2^b`` with ``a, b >= 2``, ``rows * cols <= 2^16``,
    ``rows, cols <= 16384``, ``dataflow`` in {os, ws, is}: 273 labels.
    A configuration is allowed for a row when ``rows * cols <= max_macs``.
Objective
    SCALE-Sim 3.0.0 ``Total Cycles`` in CALC mode (``cycles``); ``energy`` and
    ``edp`` are the ``energy_pj`` and ``edp`` columns of
    :func:`airchitect.systolic.simulate` in CALC mode.
Tie-break
    fewer cycles, then fewer PEs, then dataflow os < ws < is, then fewer rows.
    The space is sorted by (PEs, dataflow, rows), so the tie-break is the
    lowest label id among the configurations of least cost.
Parameters
    the definition above is the default; ``ArrayTask(...)`` (or
    ``ac.tasks.get("array", ...)``) takes other shapes, budgets, dataflows
    and dimension bounds (see :class:`ArrayTask`), with the same objective
    and tie-break.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_int, check_int_columns, check_int_list, check_list
from airchitect.targets.systolic.compute import total_cycles_calc
from airchitect.targets.systolic.config import DATAFLOWS, MAX_ARRAY_DIM
from airchitect.tasks.base import checked_sample, DIM_HIGH, systolic_objective, Task
from airchitect.tasks.identity import variant_version

MAX_MACS_CHOICES = tuple(2**e for e in range(8, 17))
#: side lengths of the default space: powers of two 4..16384
DEFAULT_SIDES = tuple(2**a for a in range(2, 15))
#: largest rows, cols of a configuration
MAX_SIDE = MAX_ARRAY_DIM
#: largest PE budget
MAX_BUDGET = MAX_SIDE * MAX_SIDE
#: most array shapes a space may hold (the labels are shapes x dataflows)
MAX_SHAPES = 2**16
#: parameters that ``params()`` leaves out at these values (the others default to None)
_DEFAULT_PARAMS = {"max_macs": list(MAX_MACS_CHOICES), "dataflows": list(DATAFLOWS), "dim_low": 1,
                   "dim_high": DIM_HIGH}


def check_max_macs(macs, budgets):
    """Raise ``ValueError`` naming the first ``max_macs`` value not among ``budgets``."""
    outside = macs[~np.isin(macs, budgets)]
    if outside.size:
        raise ValueError(f"max_macs must be one of the task's budgets "
                         f"{', '.join(map(str, budgets))}, got {outside[0]}")


class ArrayTask(Task):
    """Pick the systolic array shape and dataflow that minimise cycles.

    Every parameter defaults to the AIRCHITECT definition of the module
    docstring (273 labels); ``params()`` records the ones that differ.

    Parameters
    ----------
    shapes : list of [rows, cols], optional
        The array shapes, each side an integer in 1..16384 (any, not only
        powers of two); a shape with more PEs than the largest budget is refused.
    rows, cols : list of int, optional
        Side lengths (1..16384) whose cross product gives the shapes, instead of
        ``shapes``; default: the powers of two 4..16384. Shapes with more PEs
        than the largest budget are left out.
    square : bool
        Keep only the shapes with ``rows == cols``.
    max_macs : list of int
        The PE budgets an input's ``max_macs`` may take (each in 1..2^28); the
        sampler draws one uniformly. Default ``2^8 .. 2^16``.
    dataflows : list of str
        A subset of ``os, ws, is`` (ties still go os < ws < is).
    dim_low, dim_high : int
        Bounds of ``M, N, K`` for validation and the sampler,
        ``1 <= dim_low <= dim_high <= 16384``.

    Examples
    --------
    >>> task = ArrayTask(square=True, max_macs=[1024, 4096, 16384])
    >>> task.n_labels, int(task.space().rows.max()), task.params()["square"]
    (18, 128, True)
    """

    name = "array"
    space_version = "1"
    input_columns = ("M", "N", "K", "max_macs")
    config_columns = ("rows", "cols", "dataflow")

    def __init__(self, shapes=None, rows=None, cols=None, square=False, max_macs=None, dataflows=None,
                 dim_low=1, dim_high=DIM_HIGH):
        super().__init__()
        self.budgets = _budgets(max_macs)
        self.dataflows = _dataflows(dataflows)
        self.dim_low = check_int("dim_low", dim_low, 1, DIM_HIGH)
        self.dim_high = check_int("dim_high", dim_high, self.dim_low, DIM_HIGH)
        self.shapes = _shapes(shapes, rows, cols, square, self.budgets)
        given = {"shapes": shapes and [list(s) for s in self.shapes], "rows": _sides("rows", rows),
                 "cols": _sides("cols", cols), "square": bool(square) or None,
                 "max_macs": list(self.budgets), "dataflows": list(self.dataflows),
                 "dim_low": self.dim_low, "dim_high": self.dim_high}
        self._params = {k: v for k, v in given.items() if v is not None and v != _DEFAULT_PARAMS.get(k)}
        self.space_version = variant_version(type(self).space_version, self._params)
        self._limits = {"M": (self.dim_low, self.dim_high), "N": (self.dim_low, self.dim_high),
                        "K": (self.dim_low, self.dim_high), "max_macs": (self.budgets[0], self.budgets[-1])}

    def params(self):
        return dict(self._params)

    def _space(self):
        rows = np.array([r for r, _ in self.shapes for _ in self.dataflows])
        cols = np.array([c for _, c in self.shapes for _ in self.dataflows])
        flows = np.array([d for _ in self.shapes for d in self.dataflows])
        space = pd.DataFrame({"rows": rows, "cols": cols, "dataflow": flows})
        space["pes"] = space.rows * space.cols
        space["_df"] = space.dataflow.map({d: i for i, d in enumerate(DATAFLOWS)})
        space = space.sort_values(["pes", "_df", "rows"], kind="stable")
        return space.drop(columns="_df").reset_index(drop=True)

    @checked_sample
    def sample(self, n, seed=0):
        from airchitect.workloads import sample_gemms

        gemms = sample_gemms(n, seed=seed, low=self.dim_low, high=self.dim_high)
        rng = np.random.default_rng([seed, 1])
        gemms["max_macs"] = rng.choice(np.array(self.budgets, dtype=np.int64), size=n)
        return gemms

    def _validate(self, df):
        df = check_int_columns(df, self._limits)
        macs = df["max_macs"].to_numpy()
        if self.budgets == MAX_MACS_CHOICES and not np.isin(macs, self.budgets).all():
            bad = macs[~np.isin(macs, self.budgets)][0]
            raise ValueError(f"max_macs must be a power of two in [256, 65536], got {bad}")
        check_max_macs(macs, self.budgets)
        return df

    def relax(self, inputs):
        return inputs.assign(max_macs=self.budgets[-1])

    def _allowed(self, inputs):
        return self._cached_space().pes.to_numpy()[None, :] <= inputs["max_macs"].to_numpy()[:, None]

    def costs(self, inputs, objective="cycles"):
        objective = self.check_objective(objective)
        inputs = self.validate(inputs)
        self.check_cost_size(inputs)
        space = self.space()
        M, N, K = (inputs[c].to_numpy()[:, None] for c in ("M", "N", "K"))
        rows = space.rows.to_numpy()[None, :]
        cols = space.cols.to_numpy()[None, :]
        code = space.dataflow.map({d: i for i, d in enumerate(DATAFLOWS)}).to_numpy()[None, :]
        cycles = total_cycles_calc(M, N, K, rows, cols, code).astype(np.float64)
        if objective != "cycles":
            cycles = systolic_objective(objective, M, N, K, rows, cols, code, cycles)
        allowed = space.pes.to_numpy()[None, :] <= inputs["max_macs"].to_numpy()[:, None]
        return np.where(allowed, cycles, np.inf)


def _budgets(max_macs):
    """The PE budgets, sorted: ``max_macs`` checked, or the default ones."""
    if max_macs is None:
        return MAX_MACS_CHOICES
    return tuple(check_int_list("max_macs", max_macs, 1, MAX_BUDGET))


def _dataflows(dataflows):
    """The dataflows in the order os, ws, is: ``dataflows`` checked, or all three."""
    if dataflows is None:
        return DATAFLOWS
    chosen = [check_choice(f"dataflows[{i}]", d, DATAFLOWS)
              for i, d in enumerate(check_list("dataflows", dataflows, "os, ws, is"))]
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"dataflows must not repeat a dataflow, got {chosen}")
    return tuple(d for d in DATAFLOWS if d in chosen)


def _sides(name, sides):
    """``sides`` (rows or cols) as a sorted list of distinct integers in 1..16384, or None."""
    return None if sides is None else check_int_list(name, sides, 1, MAX_SIDE)


def _shapes(shapes, rows, cols, square, budgets):
    """The (rows, cols) shapes of the space, before the dataflows are crossed in."""
    if shapes is not None:
        if rows is not None or cols is not None:
            raise TypeError("give shapes or rows/cols, not both")
        shapes = check_list("shapes", shapes, "[rows, cols]")
        if len(shapes) > MAX_SHAPES:
            raise ValueError(f"shapes holds {len(shapes)} shapes, more than MAX_SHAPES = {MAX_SHAPES}")
        out = []
        for i, shape in enumerate(shapes):
            if not isinstance(shape, (list, tuple)) or len(shape) != 2:
                raise TypeError(f"shapes[{i}] must be [rows, cols], got {shape!r}")
            r, c = (check_int(f"shapes[{i}][{j}]", v, 1, MAX_SIDE) for j, v in enumerate(shape))
            if r * c > budgets[-1]:
                raise ValueError(f"shapes[{i}] = [{r}, {c}] has {r * c} PEs, more than the largest "
                                 f"budget max_macs = {budgets[-1]}")
            out.append((r, c))
        if len(set(out)) != len(out):
            raise ValueError("shapes must not repeat a shape")
    else:
        rows = _sides("rows", rows) or DEFAULT_SIDES
        cols = _sides("cols", cols) or DEFAULT_SIDES
        per_row = np.searchsorted(np.sort(np.asarray(cols)), budgets[-1] // np.asarray(rows), side="right")
        if per_row.sum() > MAX_SHAPES:  # counted before any is built
            raise ValueError(f"rows x cols give {int(per_row.sum())} shapes of at most {budgets[-1]} PEs, "
                             f"more than MAX_SHAPES = {MAX_SHAPES}")
        out = [(r, c) for r in rows for c in cols if r * c <= budgets[-1]]
    if not isinstance(square, (bool, np.bool_)):
        raise TypeError(f"square must be true or false, got {square!r}")
    out = [(r, c) for r, c in out if r == c or not square]
    if not out:
        raise ValueError("shapes/rows/cols, square and max_macs leave no shape: none has at most "
                         f"{budgets[-1]} PEs (the largest budget)")
    smallest = min(r * c for r, c in out)
    if smallest > budgets[0]:
        raise ValueError(f"max_macs: budget {budgets[0]} allows no shape; the smallest shape has "
                         f"{smallest} PEs")
    return tuple(out)

"""The ``cim-schedule`` task: weight duplication of a convolution pair on a CIM chip.

Inputs ``H, c_in, c_mid, c_out, k1, k2, n_pes``: a producer convolution
(``c_in -> c_mid``, kernel ``k1``) feeding a consumer (``c_mid -> c_out``,
kernel ``k2``) on an ``H x H`` map, and the PEs available. Space: the copies
``(D1, D2)`` in {1, 2, 4, 8}^2 (16 labels, D1 major). Objective ``latency``:
the pair's cross-layer makespan in us as :func:`airchitect.cim.schedule`
simulates it (:func:`airchitect.targets.cim.schedule_pairs.pair_makespans`),
rounded to 1e-9 us so that equal schedules tie exactly. Tie-break: fewer PEs
used (``D1 * T1 + D2 * T2``), then the lower label. The full definition is in
``docs/tasks.md``.

>>> duplication_costs(sample_inputs(3, seed=0), duplication_space()).shape
(3, 16)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect._checks import check_int_array
from airchitect.targets.cim.schedule_pairs import pair_makespans, pair_tiles
from airchitect.tasks.base import checked_sample, Task, tiebroken_argmin
from airchitect.workloads.sampling import check_sample_args

#: Copies per layer in the space.
COPIES = (1, 2, 4, 8)
INPUT_COLUMNS = ("H", "c_in", "c_mid", "c_out", "k1", "k2", "n_pes")
#: digits the makespans (us) are rounded to, so that equal schedules tie exactly
ROUND_DIGITS = 9


def duplication_space():
    """The 16 labels: ``label, D1, D2`` with ``D1, D2`` in ``COPIES`` (D1 major).

    >>> duplication_space().iloc[5].tolist()
    [5, 2, 2]
    """
    d1, d2 = np.meshgrid(COPIES, COPIES, indexing="ij")
    return pd.DataFrame({"label": np.arange(d1.size), "D1": d1.ravel(), "D2": d2.ravel()})


def sample_inputs(n, seed=0):
    """Draw ``n`` seeded layer pairs with a PE budget.

    ``H`` uniform in 4..64; channels ``round(2 ** u)``, ``u`` uniform in
    [4, 9] (16..512); ``k1, k2`` in {1, 3} with equal odds; ``n_pes =
    ceil((T1 + T2) * f)`` with ``f = 2 ** v``, ``v`` uniform in [0, 3]
    (1x to 8x the tiles of one copy each).
    """
    n, seed = check_sample_args(n, seed)
    rng = np.random.default_rng(seed)
    H = rng.integers(4, 65, n)
    ch = np.rint(2.0 ** rng.uniform(4, 9, (3, n))).astype(np.int64)
    k = np.where(rng.random((2, n)) < 0.5, 1, 3)
    factor = 2.0 ** rng.uniform(0, 3, n)
    t1, t2 = pair_tiles(ch[0], ch[1], ch[2], k[0], k[1])
    n_pes = np.ceil((t1 + t2) * factor).astype(np.int64)
    return pd.DataFrame({"H": H, "c_in": ch[0], "c_mid": ch[1], "c_out": ch[2],
                         "k1": k[0], "k2": k[1], "n_pes": n_pes})


def check_inputs(inputs):
    """The input columns as checked int64 arrays, ``{column: array}``."""
    missing = [c for c in INPUT_COLUMNS if c not in inputs.columns]
    if missing:
        raise ValueError(f"inputs need columns {', '.join(INPUT_COLUMNS)}; missing {', '.join(missing)}")
    out = {c: check_int_array(c, inputs[c].to_numpy(), 1, 2**31 - 1) for c in INPUT_COLUMNS}
    for c in ("k1", "k2"):
        if not np.isin(out[c], (1, 3, 5, 7)).all():
            raise ValueError(f"{c} must be odd kernel sizes in {{1, 3, 5, 7}}")
    for c, k in (("c_in", "k1"), ("c_mid", "k2")):
        rows = out[c] * out[k] ** 2
        if rows.size and rows.max() > 2**31 - 1:
            raise ValueError(f"{c} * {k}^2 (weight rows of the layer) must be at most 2147483647, "
                             f"got {int(rows.max())}")
    if out["H"].size and out["H"].max() > 4096:
        raise ValueError("H must be integers in [1, 4096]")
    return out


def pes_used(x, space):
    """PEs of every input under every choice, ``D1 * T1 + D2 * T2``, ``(n, L)`` int64;
    ``x`` as from :func:`check_inputs`."""
    t1, t2 = pair_tiles(x["c_in"], x["c_mid"], x["c_out"], x["k1"], x["k2"])
    return space["D1"].to_numpy()[None] * t1[:, None] + space["D2"].to_numpy()[None] * t2[:, None]


def duplication_costs(inputs, space=None):
    """Cross-layer makespan (us) of every input pair under every duplication choice.

    Parameters
    ----------
    inputs : pandas.DataFrame
        Columns ``H, c_in, c_mid, c_out, k1, k2, n_pes`` (see :func:`sample_inputs`).
    space : pandas.DataFrame, optional
        Columns ``D1, D2``; default :func:`duplication_space`.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(inputs), len(space))``; ``inf`` where ``D1 * T1 + D2 * T2``
        exceeds ``n_pes``.
    """
    x = check_inputs(inputs)
    space = duplication_space() if space is None else space
    D1 = check_int_array("D1", space["D1"].to_numpy(), 1, 2**20)
    D2 = check_int_array("D2", space["D2"].to_numpy(), 1, 2**20)
    return pair_makespans(x, D1, D2)


def duplication_labels(inputs, space=None):
    """Best label per input (the task's label): least makespan rounded to
    :data:`ROUND_DIGITS` digits, then fewer PEs used, then lower label."""
    space = duplication_space() if space is None else space
    costs = np.round(duplication_costs(inputs, space), ROUND_DIGITS)
    return tiebroken_argmin(costs, [pes_used(check_inputs(inputs), space)])


class CimScheduleTask(Task):
    """Pick per-layer weight duplication of a layer pair under a PE budget."""

    name = "cim-schedule"
    space_version = "1"
    input_columns = INPUT_COLUMNS
    config_columns = ("D1", "D2")
    objectives = ("latency",)
    default_objective = "latency"

    def _space(self):
        return duplication_space().drop(columns=["label"])

    @checked_sample
    def sample(self, n, seed=0):
        return sample_inputs(n, seed=seed)

    def _validate(self, df):
        x = check_inputs(df)
        t1, t2 = pair_tiles(x["c_in"], x["c_mid"], x["c_out"], x["k1"], x["k2"])
        least = np.asarray(t1 + t2, dtype=np.int64)
        bad = least > x["n_pes"]
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            layers = ", ".join(f"{c}={int(x[c][i])}" for c in ("c_in", "c_mid", "c_out", "k1", "k2"))
            raise ValueError(f"task 'cim-schedule': row {i} has no feasible configuration: n_pes must be "
                             f"at least {int(least[i])} for layers of {layers} (one copy of each "
                             f"layer: {int(t1[i])} + {int(t2[i])} PEs), got {int(x['n_pes'][i])}")
        return df

    def relax(self, inputs):
        return inputs.assign(n_pes=2**30)

    def costs(self, inputs, objective="latency"):
        objective = self.check_objective(objective)
        return np.round(duplication_costs(inputs, self.space()), ROUND_DIGITS)

    def tiebreak(self, inputs, costs, objective="latency"):
        return [pes_used(check_inputs(inputs), self.space())]

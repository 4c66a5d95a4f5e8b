"""The ``cim-schedule`` task: weight duplication of a convolution pair on a CIM chip.

Inputs ``H, c_in, c_mid, c_out, k1, k2, n_pes``: a producer convolution
(``c_in -> c_mid``, kernel ``k1``) feeding a consumer (``c_mid -> c_out``,
kernel ``k2``) on an ``H x H`` map, and the PEs available. Space: the copies
``(D1, D2)`` in {1, 2, 4, 8}^2 (16 labels, D1 major). Objective ``latency``:
the pair's cross-layer makespan in us as :func:`airchitect.cim.schedule`
simulates it (rounded to 1e-9 us so that equal schedules tie exactly).
Tie-break: fewer PEs used (``D1 * T1 + D2 * T2``), then the lower label. The
full definition is in ``docs/tasks.md``.
"""

from __future__ import annotations

import numpy as np

from airchitect.targets.cim import schedule_pairs as pairs
from airchitect.tasks.base import Task


class CimScheduleTask(Task):
    """Pick per-layer weight duplication of a layer pair under a PE budget."""

    name = "cim-schedule"
    space_version = "1"
    input_columns = pairs.INPUT_COLUMNS
    config_columns = ("D1", "D2")
    objectives = ("latency",)
    default_objective = "latency"

    def _space(self):
        return pairs.duplication_space().drop(columns=["label"])

    def sample(self, n, seed=0):
        return pairs.sample_inputs(n, seed=seed)

    def _validate(self, df):
        x = pairs._check_inputs(df)
        t1, t2 = pairs._tiles(x["c_in"], x["c_mid"], x["c_out"], x["k1"], x["k2"])
        least = np.asarray(t1 + t2, dtype=np.int64)
        bad = least > x["n_pes"]
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"task 'cim-schedule': row {i} has no feasible configuration: n_pes must be "
                             f"at least {int(least[i])} (one copy of each layer: {int(t1[i])} + "
                             f"{int(t2[i])} PEs), got {int(x['n_pes'][i])}")
        return df

    def relax(self, inputs):
        return inputs.assign(n_pes=2**30)

    def costs(self, inputs, objective="latency"):
        objective = self.check_objective(objective)
        return np.round(pairs.duplication_costs(inputs, self.space()), 9)

    def tiebreak(self, inputs, costs, objective="latency"):
        space = self.space()
        x = pairs._check_inputs(inputs)
        t1, t2 = pairs._tiles(x["c_in"], x["c_mid"], x["c_out"], x["k1"], x["k2"])
        return [space.D1.to_numpy()[None] * t1[:, None] + space.D2.to_numpy()[None] * t2[:, None]]

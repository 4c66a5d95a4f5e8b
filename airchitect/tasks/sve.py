"""The ``sve`` task: vector length and register tile of a GEMM on Arm SVE.

Inputs ``M, N, K`` (1..16384, log-uniform), ``dtype`` (f32, bf16, i8) and
``max_vl_bits`` (128..2048). Space: every vector length times every legal
micro-kernel tile ``(m0, n_v, u)`` (615 labels, sorted by
``(vl_bits, m0, n_v, u)``); ``k0 = u * dot width of dtype``. Objective:
``cycles`` of :func:`airchitect.sve.simulate` on a core (default the
Neoverse-V1-like ``v1``), or ``instructions``. Tie-break: fewer cycles, then
shorter vector length, then fewer registers, then smaller m0, n_v, u. The full
definition is in ``docs/tasks.md`` and :mod:`airchitect.targets.sve.space`.
"""

from __future__ import annotations

import numpy as np

from airchitect._checks import check_choice, check_choice_array, check_int_array
from airchitect.targets.sve import space as sve_space
from airchitect.targets.sve.config import DTYPES, VL_BITS
from airchitect.targets.sve.model import CORES
from airchitect.tasks.base import Task


class SveTask(Task):
    """Pick the SVE vector length and register tile that minimise cycles."""

    name = "sve"
    space_version = "1"
    input_columns = ("M", "N", "K", "dtype", "max_vl_bits")
    config_columns = ("vl_bits", "m0", "n_v", "u", "n0")
    objectives = sve_space.OBJECTIVES

    def __init__(self, core="v1"):
        super().__init__()
        self.core = check_choice("core", core, tuple(CORES))

    def params(self):
        return {"core": self.core}

    def _space(self):
        return sve_space.design_space(2048, "f32").drop(columns=["k0"])

    def sample(self, n, seed=0):
        return sve_space.sample_inputs(n, seed=seed)

    def _validate(self, df):
        for name in ("M", "N", "K"):
            df[name] = check_int_array(name, df[name].to_numpy(), 1, sve_space.MAX_DIM)
        df["dtype"] = check_choice_array("dtype", df["dtype"].to_numpy(), DTYPES)
        vl = check_int_array("max_vl_bits", df["max_vl_bits"].to_numpy(), 128, 2048)
        if not np.isin(vl, VL_BITS).all():
            raise ValueError(f"max_vl_bits must be one of {', '.join(map(str, VL_BITS))}; "
                             f"got {vl[~np.isin(vl, VL_BITS)][0]}")
        df["max_vl_bits"] = vl
        return df

    def _allowed(self, inputs):
        return self._cached_space().vl_bits.to_numpy()[None, :] <= inputs["max_vl_bits"].to_numpy()[:, None]

    def relax(self, inputs):
        return inputs.assign(max_vl_bits=max(VL_BITS))

    def costs(self, inputs, objective="cycles"):
        objective = self.check_objective(objective)
        return sve_space.task_costs(inputs, self.space(), objective, self.core)

    def tiebreak(self, inputs, costs, objective="cycles"):
        space = self.space()
        shape = costs.shape
        return [np.broadcast_to(space.vl_bits.to_numpy(), shape),
                np.broadcast_to(space.registers.to_numpy(), shape)]

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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect._checks import check_int_columns
from airchitect.targets.systolic.compute import total_cycles_calc
from airchitect.tasks.base import Task, systolic_objective

DATAFLOWS = ("os", "ws", "is")
MAX_MACS_CHOICES = tuple(2**e for e in range(8, 17))
DIM_HIGH = 16384


class ArrayTask(Task):
    """Pick the systolic array shape and dataflow that minimise cycles."""

    name = "array"
    space_version = "1"
    input_columns = ("M", "N", "K", "max_macs")
    config_columns = ("rows", "cols", "dataflow")

    def _space(self):
        exps = [(a, b) for a in range(2, 15) for b in range(2, 15) if a + b <= 16]
        rows = np.array([2**a for a, b in exps for _ in DATAFLOWS])
        cols = np.array([2**b for a, b in exps for _ in DATAFLOWS])
        flows = np.array([d for _ in exps for d in DATAFLOWS])
        space = pd.DataFrame({"rows": rows, "cols": cols, "dataflow": flows})
        space["pes"] = space.rows * space.cols
        space["_df"] = space.dataflow.map({d: i for i, d in enumerate(DATAFLOWS)})
        space = space.sort_values(["pes", "_df", "rows"], kind="stable")
        return space.drop(columns="_df").reset_index(drop=True)

    def sample(self, n, seed=0):
        from airchitect.workloads import sample_gemms

        gemms = sample_gemms(n, seed=seed, low=1, high=DIM_HIGH)
        rng = np.random.default_rng([seed, 1])
        gemms["max_macs"] = rng.choice(np.array(MAX_MACS_CHOICES, dtype=np.int64), size=n)
        return gemms

    def _validate(self, df):
        df = check_int_columns(df, {"M": (1, DIM_HIGH), "N": (1, DIM_HIGH), "K": (1, DIM_HIGH),
                                    "max_macs": (2**8, 2**16)})
        macs = df["max_macs"].to_numpy()
        if not np.isin(macs, MAX_MACS_CHOICES).all():
            bad = macs[~np.isin(macs, MAX_MACS_CHOICES)][0]
            raise ValueError(f"max_macs must be a power of two in [256, 65536], got {bad}")
        return df

    def relax(self, inputs):
        return inputs.assign(max_macs=MAX_MACS_CHOICES[-1])

    def _allowed(self, inputs):
        return self._cached_space().pes.to_numpy()[None, :] <= inputs["max_macs"].to_numpy()[:, None]

    def costs(self, inputs, objective="cycles"):
        objective = self.check_objective(objective)
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

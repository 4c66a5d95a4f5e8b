"""The ``multiarray`` task (AIRCHITECT case study 3): map four GEMMs onto four arrays.

Definition
----------
Inputs
    four GEMMs ``M0, N0, K0, ..., M3, N3, K3`` (integers in 1..16384, each
    drawn log-uniformly by the sampler).
System
    four heterogeneous arrays, fixed per task instance; default
    32x32 os, 64x16 ws, 16x64 is, 128x8 ws.
Space
    the 24 assignments of the GEMMs to the arrays, in the lexicographic order
    of ``itertools.permutations(range(4))``; in assignment ``p`` GEMM ``i``
    runs on array ``p[i]`` (columns ``gemm0_array .. gemm3_array``).
Objective
    ``cycles``: the makespan, the largest CALC-mode SCALE-Sim ``Total Cycles``
    among the four GEMMs, each on its array. ``energy``: the sum of the four
    energies (pJ). ``edp``: that sum times the makespan.
Tie-break
    for ``cycles``, smaller sum of the four cycle counts, then lower
    permutation index; for ``energy`` and ``edp``, smaller makespan, then
    lower permutation index.
"""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_int, check_int_columns
from airchitect.targets.systolic.compute import total_cycles_calc
from airchitect.targets.systolic.config import DATAFLOWS
from airchitect.tasks.base import checked_sample, DIM_HIGH, systolic_objective, Task

DEFAULT_SYSTEM = ((32, 32, "os"), (64, 16, "ws"), (16, 64, "is"), (128, 8, "ws"))


class MultiArrayTask(Task):
    """Assign four GEMMs to four heterogeneous arrays to minimise the makespan.

    Parameters
    ----------
    system : sequence of four (rows, cols, dataflow)
        The arrays; rows and cols in 1..16384, dataflow in os, ws, is.
    """

    name = "multiarray"
    space_version = "1"
    input_columns = tuple(f"{d}{i}" for i in range(4) for d in "MNK")
    config_columns = tuple(f"gemm{i}_array" for i in range(4))

    def __init__(self, system=DEFAULT_SYSTEM):
        super().__init__()
        if len(system) != 4:
            raise ValueError(f"system must hold 4 arrays, got {len(system)}")
        self.system = tuple(
            (
                check_int("rows", r, 1, DIM_HIGH),
                check_int("cols", c, 1, DIM_HIGH),
                check_choice("dataflow", d, DATAFLOWS),
            )
            for r, c, d in system
        )

    def params(self):
        return {"system": [list(a) for a in self.system]}

    def describe(self):
        return {**super().describe(), **self.params()}

    def _space(self):
        perms = np.array(list(permutations(range(4))))
        return pd.DataFrame({f"gemm{i}_array": perms[:, i] for i in range(4)})

    @checked_sample
    def sample(self, n, seed=0):
        from airchitect.workloads import sample_gemms

        parts = [
            sample_gemms(n, seed=int(seq.generate_state(1)[0]), low=1, high=DIM_HIGH)
            .rename(columns=lambda c, i=i: f"{c}{i}")
            for i, seq in enumerate(np.random.SeedSequence(seed).spawn(4))
        ]
        return pd.concat(parts, axis=1)[list(self.input_columns)]

    def _validate(self, df):
        return check_int_columns(df, {name: (1, DIM_HIGH) for name in self.input_columns})

    def _allowed(self, inputs):
        """Every assignment is allowed (the task has no constraints)."""
        return np.ones((len(inputs), self.n_labels), dtype=bool)

    def gemm_costs(self, inputs, objective="cycles"):
        """Objective of every GEMM on every array: ``(n_rows, 4 gemms, 4 arrays)``."""
        rows = np.array([a[0] for a in self.system])
        cols = np.array([a[1] for a in self.system])
        code = np.array([DATAFLOWS.index(a[2]) for a in self.system])
        M, N, K = (
            np.stack([inputs[f"{d}{i}"].to_numpy() for i in range(4)], axis=1)[:, :, None]
            for d in "MNK"
        )
        cycles = total_cycles_calc(M, N, K, rows, cols, code).astype(np.float64)
        return systolic_objective(objective, M, N, K, rows, cols, code, cycles)

    def _per_assignment(self, inputs, objective):
        per = self.gemm_costs(inputs, objective)
        perms = self.space().to_numpy()
        gemm = np.arange(4)[None, :]
        return per[:, gemm, perms]  # (n_rows, 24 assignments, 4 gemms)

    def costs(self, inputs, objective="cycles"):
        """Makespan (cycles), total energy (pJ), or total energy x makespan (EDP)."""
        objective = self.check_objective(objective)
        inputs = self.validate(inputs)
        self.check_cost_size(inputs)
        makespan = self._per_assignment(inputs, "cycles").max(axis=2)
        if objective == "cycles":
            return makespan
        energy = self._per_assignment(inputs, "energy").sum(axis=2)
        return energy if objective == "energy" else energy * makespan

    def tiebreak(self, inputs, costs, objective="cycles"):
        if objective != "cycles":
            return [self._per_assignment(inputs, "cycles").max(axis=2)]
        return [self._per_assignment(inputs, "cycles").sum(axis=2)]

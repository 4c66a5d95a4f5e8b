"""The ``cim`` task: the crossbar configuration of one layer on an RRAM chip.

The definition (inputs, 1224-configuration space, lossless-ADC and crossbar
budget feasibility, objectives) lives with the cost model in
:mod:`airchitect.targets.cim.space` and in ``docs/tasks.md``.

Tie-break: lower objective, then fewer crossbars used (tiles x duplication),
then the lower label id.
"""

from __future__ import annotations

from airchitect.targets.cim import space as cim_space
from airchitect.tasks.base import Task


class CimTask(Task):
    """Pick crossbar size, active rows, cell/DAC bits, mapping and duplication."""

    name = "cim"
    space_version = "1"
    input_columns = cim_space.INPUT_COLUMNS
    config_columns = cim_space.CONFIG_COLUMNS
    objectives = cim_space.OBJECTIVES
    default_objective = "latency"
    chunk_rows = 4096

    def _space(self):
        return cim_space.design_space()

    def sample(self, n, seed=0):
        return cim_space.sample_inputs(n, seed=seed)

    def _validate(self, df):
        return cim_space.check_inputs(df).reset_index(drop=True)

    def relax(self, inputs):
        return inputs.assign(n_xbars=2**14, adc_bits=14)

    def costs(self, inputs, objective="latency"):
        objective = self.check_objective(objective)
        return cim_space.task_costs(inputs, self.space(), objective)

    def tiebreak(self, inputs, costs, objective="latency"):
        return [cim_space.crossbars_used(inputs, self.space())]

"""The ``cim`` task: the crossbar configuration of one layer on an RRAM chip.

The definition (inputs, 1224-configuration space, lossless-ADC and crossbar
budget feasibility, objectives) lives with the cost model in
:mod:`airchitect.targets.cim.space` and in ``docs/tasks.md``.

Tie-break: lower objective, then fewer crossbars used (tiles x duplication),
then the lower label id.

For the latency objective the cost surrogate learns two parts of every base
configuration (all but duplication): its tiles and its reads per vector, from
the layer's rows ``n``, its weight columns per cell width ``m * ceil(w_bits /
b_c)`` (and one more, the offset column) and its input slices per DAC width
``ceil(in_bits / d)``. Latency and crossbars used then follow exactly from
``P`` and the duplication.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect.targets.cim import space as cim_space
from airchitect.targets.cim.config import CrossbarConfig
from airchitect.tasks.base import Task


def check_feasible(inputs, space):
    """Raise ValueError naming the field(s) of the first row no configuration of ``space`` allows.

    A row is feasible when some configuration has a lossless ADC of at most
    ``adc_bits`` bits and fits ``n_xbars`` crossbars with one copy (more
    copies only need more crossbars).
    """
    if not len(inputs):
        return
    tiles, _, base = cim_space.base_counts(inputs, space)
    need = cim_space.lossless_adc_bits(
        space["active_rows"].to_numpy(np.int64), space["cell_bits"].to_numpy(np.int64),
        space["dac_bits"].to_numpy(np.int64), np.isin(space["mapping"], ("differential-column", "differential-row")))
    base_need = np.full(tiles.shape[1], np.iinfo(np.int64).max)
    np.minimum.at(base_need, base, need)
    adc = inputs["adc_bits"].to_numpy(np.int64)
    adc_ok = base_need[None, :] <= adc[:, None]
    fewest = np.where(adc_ok, tiles, np.iinfo(np.int64).max).min(axis=1)
    bad = fewest > inputs["n_xbars"].to_numpy(np.int64)
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    if not adc_ok[i].any():
        raise ValueError(f"task 'cim': row {i} has no feasible configuration: adc_bits must be at "
                         f"least {int(base_need.min())} (the smallest lossless ADC of the space), "
                         f"got {int(adc[i])}")
    raise ValueError(f"task 'cim': row {i} has no feasible configuration: n_xbars must be at least "
                     f"{int(fewest[i])} (the fewest crossbars of a configuration with adc_bits="
                     f"{int(adc[i])} for n={int(inputs['n'].iat[i])}, m={int(inputs['m'].iat[i])}, "
                     f"w_bits={int(inputs['w_bits'].iat[i])}), got {int(inputs['n_xbars'].iat[i])}")


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
        out = cim_space.check_inputs(df).reset_index(drop=True)
        check_feasible(out, self.space())
        return out

    def relax(self, inputs):
        return inputs.assign(n_xbars=2**14, adc_bits=14)

    def costs(self, inputs, objective="latency"):
        objective = self.check_objective(objective)
        return cim_space.task_costs(inputs, self.space(), objective)

    def tiebreak(self, inputs, costs, objective="latency"):
        return [cim_space.crossbars_used(inputs, self.space())]

    def surrogate_frames(self, inputs, objective=None):
        """Features of the tiles and reads parts (latency objective only)."""
        if objective not in (None, "latency"):
            return None
        n, m, w, i = (inputs[c].to_numpy(np.int64) for c in ("n", "m", "w_bits", "in_bits"))
        features = {"n": n}
        for bits in cim_space.CELL_BITS:
            cells = m * -(-w // bits)
            features[f"m_cells{bits}"] = cells
            features[f"m_cells{bits}_offset"] = cells + 1
        for bits in cim_space.DAC_BITS:
            features[f"slices{bits}"] = -(-i // bits)
        frame = pd.DataFrame(features)
        return [frame.assign(part="tiles"), frame.assign(part="reads")]

    def surrogate_parts(self, inputs, objective=None):
        """Learn tiles and reads per vector of every base configuration."""
        frames = self.surrogate_frames(inputs, objective)
        if frames is None:
            return None
        tiles, reads, _ = cim_space.base_counts(inputs, self.space())
        return frames, [tiles, reads]

    def surrogate_combine(self, inputs, part_costs, objective=None):
        """Latency (us) and crossbars used of every configuration from tiles and reads."""
        if objective not in (None, "latency"):
            raise ValueError("the cim surrogate learns the latency objective only")
        base = cim_space.configuration_bases(self.space())
        tiles, reads = (np.maximum(np.rint(p), 1.0)[:, base] for p in part_costs)
        dup = self.space()["duplication"].to_numpy(np.float64)
        P = inputs["P"].to_numpy(np.float64)[:, None]
        config = CrossbarConfig()
        latency = tiles * dup * config.t_write_us + np.ceil(P / dup) * reads * config.t_exec_us
        return [latency, tiles * dup]

"""RRAM cells of the functional simulator: the device model and programmed cell arrays.

Every cell level ``l`` (``0..level_max``) becomes a conductance between HRS
(``1 / r_off_ohm``) and LRS (``1 / r_on_ohm``), ``G_off + l * (G_on - G_off) / level_max``,
held in units of one level step. Device-to-device variation multiplies each
conductance by ``1 + d2d_sigma * N(0, 1)`` once, when the array is
programmed; cycle-to-cycle variation multiplies every cell by a fresh
``1 + c2c_sigma * N(0, 1)`` on every read, drawn as the exactly equivalent
Gaussian of each column sum. A read drives ``active_rows`` rows of an
``xbar_rows``-row tile at a time (a row group) and returns each group's
column sums, in level units, with the HRS leakage of the applied input removed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from airchitect._checks import check_number_array
from airchitect._math import ceil_div
from airchitect.targets.cim.energy import NEUROSIM_R_OFF_OHM, NEUROSIM_R_ON_OHM


@dataclasses.dataclass(frozen=True)
class Device:
    """RRAM cell model: LRS/HRS resistances and Gaussian variation (relative sigma).

    Defaults: NeuroSim's R_on = 6 kOhm, R_off = 900 kOhm; ideal (no variation).
    """

    r_on_ohm: float = NEUROSIM_R_ON_OHM
    r_off_ohm: float = NEUROSIM_R_OFF_OHM
    d2d_sigma: float = 0.0
    c2c_sigma: float = 0.0

    def __post_init__(self):
        check_number_array("r_on_ohm", self.r_on_ohm, 0.0, 1e15, low_open=True)
        check_number_array("r_off_ohm", self.r_off_ohm, self.r_on_ohm, 1e15, low_open=True)
        check_number_array("d2d_sigma", self.d2d_sigma, 0.0, 10.0)
        check_number_array("c2c_sigma", self.c2c_sigma, 0.0, 10.0)

    def hrs_in_steps(self, levels):
        """HRS conductance in units of one level step (``levels`` steps from HRS to LRS)."""
        g_on, g_off = 1.0 / self.r_on_ohm, 1.0 / self.r_off_ohm
        return g_off / ((g_on - g_off) / levels)


#: Keyword arguments that set :class:`Device` fields.
DEVICE_FIELDS = {f.name for f in dataclasses.fields(Device)}


def row_groups(rows, xbar_rows, active_rows=None):
    """``(group, slot, active)``: each physical row's read group and place in it, and rows per read.

    A tile of ``xbar_rows`` rows is read ``active_rows`` rows at a time (all
    rows when None); ``active`` is the rows per read the ADC range is designed for.
    """
    active = min(active_rows or xbar_rows, xbar_rows)
    r = np.arange(rows)
    per_tile = ceil_div(xbar_rows, active)
    group = (r // xbar_rows) * per_tile + (r % xbar_rows) // active
    slot = (r % xbar_rows) % active
    return group, slot, active


class CellArray:
    """One programmed cell matrix (physical rows x columns) and its row grouping."""

    def __init__(self, levels, level_max, cfg, device, rng):
        rows, cols = levels.shape
        self.rows = rows
        self.group, self.slot, self.active = row_groups(rows, cfg.xbar_rows, cfg.active_rows)
        group, slot = self.group, self.slot
        self.n_groups = int(group.max()) + 1
        self.width = int(slot.max()) + 1  # rows per read actually used
        h = device.hrs_in_steps(level_max)
        g = levels.astype(np.float64) + h
        if device.d2d_sigma:
            g = g * (1.0 + device.d2d_sigma * rng.standard_normal(g.shape))
        self.c2c_sigma = device.c2c_sigma
        self.dtype = np.float32 if self.active * level_max * 255 < 2**24 else np.float64
        eff = np.zeros((self.n_groups, self.width, cols), dtype=self.dtype)
        eff[group, slot] = g - h if device.d2d_sigma else levels
        self.eff = eff
        self.ideal = np.zeros_like(eff)
        self.ideal[group, slot] = levels
        if self.c2c_sigma:
            sq = np.zeros_like(eff)
            sq[group, slot] = g**2
            self.sq = sq

    def minus(self, other):
        """The analog difference of two arrays read with the same inputs (one ADC)."""
        out = object.__new__(CellArray)
        out.__dict__.update(self.__dict__)
        out.eff, out.ideal = self.eff - other.eff, self.ideal - other.ideal
        if self.c2c_sigma:
            out.sq = self.sq + other.sq
        return out

    def read(self, inputs, rng):
        """Column sums per row group, (groups, batch, cols), in level units."""
        v = self._layout(inputs)
        out = np.matmul(v, self.eff)
        if self.c2c_sigma:
            binary = bool(np.all((inputs == 0) | (inputs == 1)))
            std = np.matmul(v if binary else v * v, self.sq)  # variance / sigma^2
            np.sqrt(std, out=std)
            std *= rng.standard_normal(out.shape, dtype=np.float32).astype(self.dtype, copy=False)
            std *= self.c2c_sigma
            out += std
        return out

    def _layout(self, inputs):
        """Inputs (batch, rows) arranged as (groups, batch, active)."""
        G, a, rows = self.n_groups, self.width, self.rows
        x = inputs.astype(self.dtype, copy=False)
        if G == 1 and rows == a:
            return x[None]
        if np.array_equal(self.group * a + self.slot, np.arange(rows)):
            if rows < G * a:
                x = np.concatenate([x, np.zeros((x.shape[0], G * a - rows), self.dtype)], axis=1)
            return x.reshape(x.shape[0], G, a).transpose(1, 0, 2)
        v = np.zeros((G, x.shape[0], a), dtype=self.dtype)
        v[self.group, :, self.slot] = x.T
        return v


def nominal(array):
    """A copy of ``array`` with nominal cells and no read noise."""
    out = object.__new__(CellArray)
    out.__dict__.update(array.__dict__)
    out.eff, out.c2c_sigma = array.ideal, 0.0
    return out

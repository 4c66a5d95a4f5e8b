"""Per-access energy of a systolic array layer: MACs, SRAM accesses, DRAM words.

Default constants
-----------------
The relative costs are Eyeriss' normalised access energies (Chen, Emer, Sze,
"Eyeriss: A Spatial Architecture for Energy-Efficient Dataflow for
Convolutional Neural Networks", ISCA 2016, Fig. 1 / Table IV, 65 nm): with a
MAC (ALU op) = 1x, a register-file access = 1x, an inter-PE (array) transfer
= 2x, a global-buffer (SRAM, 108 kB in Eyeriss) access = 6x and a DRAM access
= 200x. The absolute MAC energy is Horowitz's 45 nm 8-bit figures ("Computing's
energy problem", ISSCC 2014): 0.2 pJ multiply + 0.03 pJ add = 0.23 pJ.

So, per word (one byte, SCALE-Sim's word size):

* ``mac_pj`` = 0.23 pJ per MAC, plus ``array_pj`` = 2 x 0.23 = 0.46 pJ for
  the operand hop into each MAC from the neighbouring PE (Eyeriss' array level);
* SRAM read or write = 6 x 0.23 = 1.38 pJ for a buffer of ``sram_ref_kb`` =
  108 kB, scaled by ``(kb / 108) ** sram_exponent`` with ``sram_exponent`` =
  0.5 -- an assumption of this model (CACTI-style: the per-access energy of
  an SRAM grows roughly with the square root of its capacity, the bit- and
  word-line length), not an Eyeriss figure;
* DRAM read or write = 200 x 0.23 = 46 pJ.

Every constant can be overridden through :class:`EnergyModel`.

Examples
--------
>>> m = EnergyModel()
>>> round(float(m.sram_pj(108)), 4), round(float(m.sram_pj(27)), 4)
(1.38, 0.69)
>>> round(float(layer_energy_pj(macs=1000, sram_reads=(0, 0), sram_kb=(108, 108, 108),
...                             sram_writes=0, dram_words=0)), 6)
690.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airchitect._checks import check_number_array
from airchitect.targets.systolic.geometry import geometry_macs, geometry_sram_counts

MAC_PJ = 0.23  # Horowitz, ISSCC 2014: 8-bit multiply 0.2 pJ + 8-bit add 0.03 pJ (45 nm)


@dataclass(frozen=True)
class EnergyModel:
    """Energy per access, in pJ (defaults: Eyeriss ratios x Horowitz MAC)."""

    mac_pj: float = MAC_PJ
    array_pj: float = 2 * MAC_PJ
    sram_read_pj: float = 6 * MAC_PJ
    sram_write_pj: float = 6 * MAC_PJ
    sram_ref_kb: float = 108.0
    sram_exponent: float = 0.5
    dram_pj: float = 200 * MAC_PJ

    def __post_init__(self):
        for name in ("mac_pj", "array_pj", "sram_read_pj", "sram_write_pj", "dram_pj",
                     "sram_exponent"):
            check_number_array(name, getattr(self, name), 0.0, 1e9)
        check_number_array("sram_ref_kb", self.sram_ref_kb, 0.0, 1e9, low_open=True)

    def sram_pj(self, kb, write=False):
        """Energy of one SRAM access (pJ) for a buffer of ``kb`` kB."""
        base = self.sram_write_pj if write else self.sram_read_pj
        return base * (np.asarray(kb, dtype=np.float64) / self.sram_ref_kb) ** self.sram_exponent


DEFAULT = EnergyModel()


def layer_energy_pj(macs, sram_reads, sram_kb, sram_writes, dram_words, model=DEFAULT):
    """Energy of a layer in pJ (arrays broadcast).

    Parameters
    ----------
    macs : array_like
        Multiply-accumulates (each also pays one inter-PE operand hop).
    sram_reads : (ifmap_reads, filter_reads)
        SRAM words read from the ifmap and filter buffers.
    sram_kb : (ifmap_kb, filter_kb, ofmap_kb)
        Buffer sizes, which set each buffer's per-access energy.
    sram_writes : array_like
        Words written to the ofmap SRAM.
    dram_words : array_like
        Words moved to or from DRAM (reads + writes).
    """
    ifmap_kb, filter_kb, ofmap_kb = sram_kb
    ifmap_reads, filter_reads = sram_reads
    return (np.asarray(macs, dtype=np.float64) * (model.mac_pj + model.array_pj)
            + np.asarray(ifmap_reads, dtype=np.float64) * model.sram_pj(ifmap_kb)
            + np.asarray(filter_reads, dtype=np.float64) * model.sram_pj(filter_kb)
            + np.asarray(sram_writes, dtype=np.float64) * model.sram_pj(ofmap_kb, write=True)
            + np.asarray(dram_words, dtype=np.float64) * model.dram_pj)


def energy_columns(df, macs, model=DEFAULT):
    """``energy_pj`` and ``edp`` (pJ x cycles, using ``total_cycles``) for a report
    table ``df`` holding SCALE-Sim's SRAM/DRAM count columns and the buffer sizes."""
    energy = layer_energy_pj(
        macs,
        (df["sram_ifmap_reads"].to_numpy(), df["sram_filter_reads"].to_numpy()),
        (df["ifmap_kb"].to_numpy(), df["filter_kb"].to_numpy(), df["ofmap_kb"].to_numpy()),
        df["sram_ofmap_writes"].to_numpy(),
        (df["dram_ifmap_reads"].to_numpy() + df["dram_filter_reads"].to_numpy()
         + df["dram_ofmap_writes"].to_numpy()),
        model)
    return energy, energy * df["total_cycles"].to_numpy()


def add_energy(G, kb, out, model=DEFAULT):
    """Add the SRAM access counts (words), ``energy_pj`` (pJ) and ``edp`` (pJ x cycles)
    to ``out``, which holds ``total_cycles`` and the three DRAM counts of geometry
    vectors ``G`` (n, 13) with SRAM sizes ``kb`` (n, 3, kB); return ``out``."""
    names = ("sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes")
    for name, value in zip(names, geometry_sram_counts(G)):
        out[name] = value
    out["energy_pj"] = layer_energy_pj(
        geometry_macs(G), (out["sram_ifmap_reads"], out["sram_filter_reads"]),
        tuple(np.asarray(kb).T), out["sram_ofmap_writes"],
        out["dram_ifmap_reads"] + out["dram_filter_reads"] + out["dram_ofmap_writes"], model)
    out["edp"] = out["energy_pj"] * out["total_cycles"]
    return out

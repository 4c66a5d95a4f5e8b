"""Arm SVE target: vector-length-aware packed GEMM layouts (mmt4d).

* :func:`mmt4d` — numpy pack / tiled product / unpack, equal to ``A @ B``;
* :func:`simulate` — vectorised analytic model of the SVE micro-kernel plus
  pack/unpack on a parameterised core (``CORES``: ``"v1"``, ``"v2"``);
* :mod:`~airchitect.targets.sve.kernel` — ACLE C micro-kernel source for any
  legal tile; :mod:`~airchitect.targets.sve.toolchain` cross-compiles it, runs
  it under qemu at any vector length and counts its executed instructions;
* :mod:`~airchitect.targets.sve.iree` — the IREE backend (``ac.backends.iree``).
"""

from airchitect.targets.sve.config import (ACC_BITS, DOT_WIDTH, DTYPES, UNROLLS, VL_BITS, check_tile, is_legal,
                                          k0_choices, n0_of, registers)
from airchitect.targets.sve.layout import mmt4d, pack_lhs, pack_rhs, unpack
from airchitect.targets.sve.model import CORES, Core, simulate

__all__ = [
    "ACC_BITS", "CORES", "Core", "DOT_WIDTH", "DTYPES", "UNROLLS", "VL_BITS",
    "check_tile", "is_legal", "k0_choices", "mmt4d", "n0_of", "pack_lhs", "pack_rhs",
    "registers", "simulate", "unpack",
]

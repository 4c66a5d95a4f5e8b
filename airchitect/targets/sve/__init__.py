"""Arm SVE target: vector-length-aware packed GEMM layouts (mmt4d).

* :func:`mmt4d` — numpy pack / tiled product / unpack, equal to ``A @ B``;
* :func:`simulate` — vectorised analytic model of the SVE micro-kernel plus
  pack/unpack on a parameterised core (``CORES``: ``"v1"``, ``"v2"``);
* :func:`design_space`, :func:`task_costs`, :func:`sample_inputs`,
  :func:`best_config` — the ``sve`` task's pieces;
* :mod:`~airchitect.targets.sve.kernel` — ACLE C micro-kernels cross-compiled
  and run under qemu at any vector length; :mod:`~airchitect.targets.sve.plugin`
  counts their executed instructions.
"""

from airchitect.targets.sve.config import ACC_BITS, DOT_WIDTH, DTYPES, UNROLLS, VL_BITS, is_legal, k0_choices, n0_of, registers
from airchitect.targets.sve.layout import mmt4d, pack_lhs, pack_rhs, unpack
from airchitect.targets.sve.model import CORES, Core, simulate
from airchitect.targets.sve.space import best_config, design_space, sample_inputs, task_costs

__all__ = [
    "ACC_BITS", "CORES", "Core", "DOT_WIDTH", "DTYPES", "UNROLLS", "VL_BITS", "best_config",
    "design_space", "is_legal", "k0_choices", "mmt4d", "n0_of", "pack_lhs", "pack_rhs",
    "registers", "sample_inputs", "simulate", "task_costs", "unpack",
]

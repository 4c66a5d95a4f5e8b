"""Backends: turn a predicted configuration into something that runs.

Each backend lives with its hardware family; this package names them:

- ``backends.cim`` is :mod:`airchitect.targets.cim.compiler`: compile a
  PyTorch model into a crossbar program and execute it on the functional
  RRAM simulator.
- ``backends.iree`` is :mod:`airchitect.targets.sve.iree`: compile GEMMs and
  small networks with the IREE compiler for Arm SVE with predicted tiles,
  and run them under qemu.
"""

import sys

from airchitect.targets.cim import compiler as cim
from airchitect.targets.sve import iree

# ``import airchitect.backends.cim`` and ``from airchitect.backends.iree import ...``
# name the same modules.
sys.modules[__name__ + ".cim"] = cim
sys.modules[__name__ + ".iree"] = iree

__all__ = ["cim", "iree"]

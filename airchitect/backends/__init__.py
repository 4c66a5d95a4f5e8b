"""Backends: turn a predicted configuration into something that runs.

- :mod:`airchitect.backends.cim`: compile a PyTorch model into a crossbar
  program and execute it on the functional RRAM simulator.
- :mod:`airchitect.backends.iree`: compile GEMMs and small networks with the
  IREE compiler for Arm SVE with predicted tiles, and run them under qemu.
"""

from airchitect.backends import cim, iree

__all__ = ["cim", "iree"]

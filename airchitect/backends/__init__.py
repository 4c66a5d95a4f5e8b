"""Backends: turn a predicted configuration into something that runs.

- :mod:`airchitect.backends.cim`: compile a PyTorch model into a crossbar
  program and execute it on the functional RRAM simulator.
"""

from airchitect.backends import cim

__all__ = ["cim"]

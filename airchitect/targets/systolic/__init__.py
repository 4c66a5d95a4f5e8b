"""Systolic arrays: SCALE-Sim 3.0.0's cost model, vectorised, and its backend.

>>> import airchitect as ac
>>> ac.systolic.simulate(64, 64, 64, 32, 32, "os")["total_cycles"].tolist()
[503]
"""

from airchitect.targets.systolic.compute import total_cycles_calc
from airchitect.targets.systolic.scalesim_backend import run_scalesim
from airchitect.targets.systolic.simulate import simulate, simulate_conv

__all__ = ["simulate", "simulate_conv", "total_cycles_calc", "run_scalesim"]

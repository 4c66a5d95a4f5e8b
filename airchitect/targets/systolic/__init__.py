"""Systolic arrays: SCALE-Sim 3.0.0's cost model, vectorised, and its backend.

Modules: :mod:`.config` (the vocabulary: dataflows, modes, conventions, limits,
:class:`~.config.ArrayConfig` and its one check), :mod:`.geometry` (the
``(Sr, Sc, T)`` mapping, folds, geometry vectors), :mod:`.compute` (CALC-mode
compute and SRAM fields, :mod:`.fold_mean` for SCALE-Sim's float means),
:mod:`.memory` (the memory system: buffers and the row, event and split models),
:mod:`.energy`, :mod:`.layout` (SCALE-Sim's custom SRAM layouts), :mod:`.conv` (conv layers as GEMMs), :mod:`.simulate` (the public
``simulate``), :mod:`.scalesim` (the real package as a backend), :mod:`.files`
(SCALE-Sim's own config, topology and layout files; ``run_files``, the drop-in)
and :mod:`.reports` (SCALE-Sim's report CSVs, byte for byte).

>>> import airchitect as ac
>>> ac.systolic.simulate(64, 64, 64, 32, 32, "os")["total_cycles"].tolist()
[503]
"""

from airchitect.targets.systolic.compute import total_cycles_calc
from airchitect.targets.systolic.config import ArrayConfig, check_config
from airchitect.targets.systolic.scalesim import run_scalesim
from airchitect.targets.systolic.files import (LayoutTable, ScaleSimConfig, Topology,
                                               read_config, read_layout, read_topology,
                                               run_files, simulate_arguments)
from airchitect.targets.systolic.layout import Layout
from airchitect.targets.systolic.reports import write_reports
from airchitect.targets.systolic.simulate import simulate, simulate_conv

__all__ = ["simulate", "simulate_conv", "total_cycles_calc", "run_scalesim", "ArrayConfig",
           "check_config", "run_files", "read_config", "read_topology", "read_layout",
           "simulate_arguments", "write_reports", "ScaleSimConfig", "Topology", "LayoutTable", "Layout"]

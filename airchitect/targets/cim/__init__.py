"""RRAM computing-in-memory target: crossbar configuration, cost model, functional
simulator, costs over a configuration table, tiled-chip scheduling, mixed-precision search and the crossbar compiler for PyTorch modules."""

from airchitect.targets.cim.compiler import CrossbarProgram, compile
from airchitect.targets.cim.config import MAPPINGS, CrossbarConfig, make_config
from airchitect.targets.cim.functional import CrossbarLayer, Device, mvm, program
from airchitect.targets.cim.cost import layer_costs, lossless_adc_bits, mapping_properties, simulate
from airchitect.targets.cim.precision import PrecisionResult, search_precision
from airchitect.targets.cim.schedule import ScheduleResult, auto_duplication, schedule

__all__ = [
    "MAPPINGS",
    "PrecisionResult",
    "ScheduleResult",
    "auto_duplication",
    "schedule",
    "search_precision",
    "CrossbarConfig",
    "CrossbarLayer",
    "CrossbarProgram",
    "compile",
    "Device",
    "layer_costs",
    "lossless_adc_bits",
    "make_config",
    "mapping_properties",
    "mvm",
    "program",
    "simulate",
]

"""RRAM computing-in-memory target: crossbar configuration, cost model, functional
simulator, task space, tiled-chip scheduling and mixed-precision search."""

from airchitect.targets.cim.config import MAPPINGS, CrossbarConfig, make_config
from airchitect.targets.cim.functional import CrossbarLayer, Device, mvm, program
from airchitect.targets.cim.cost import layer_costs, lossless_adc_bits, mapping_properties, simulate
from airchitect.targets.cim.space import best_configs, crossbars_used, design_space, sample_inputs, task_costs
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
    "Device",
    "best_configs",
    "crossbars_used",
    "design_space",
    "layer_costs",
    "lossless_adc_bits",
    "make_config",
    "mapping_properties",
    "mvm",
    "program",
    "sample_inputs",
    "simulate",
    "task_costs",
]

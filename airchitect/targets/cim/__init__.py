"""RRAM computing-in-memory target: crossbar configuration, cost model, functional simulator, task space."""

from airchitect.targets.cim.config import MAPPINGS, CrossbarConfig, make_config
from airchitect.targets.cim.functional import CrossbarLayer, Device, mvm, program
from airchitect.targets.cim.cost import layer_costs, lossless_adc_bits, mapping_properties, simulate
from airchitect.targets.cim.space import best_configs, crossbars_used, design_space, sample_inputs, task_costs

__all__ = [
    "MAPPINGS",
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

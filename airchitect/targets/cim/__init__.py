"""RRAM computing-in-memory target: crossbar configuration and cost model."""

from airchitect.targets.cim.config import MAPPINGS, CrossbarConfig, make_config
from airchitect.targets.cim.functional import CrossbarLayer, Device, mvm, program
from airchitect.targets.cim.cost import layer_costs, lossless_adc_bits, mapping_properties, simulate

__all__ = [
    "MAPPINGS",
    "CrossbarConfig",
    "CrossbarLayer",
    "Device",
    "layer_costs",
    "lossless_adc_bits",
    "make_config",
    "mapping_properties",
    "mvm",
    "program",
    "simulate",
]

"""GEMM workloads: the :class:`Gemm` type, seeded samplers, real networks and
seeded synthetic networks of the same families (:func:`synthetic_networks`).

Importing this package does not import torch; :func:`network`,
:func:`networks` and :func:`gemms_from_module` import it when called.
"""

from airchitect.workloads.gemm import Gemm
from airchitect.workloads.networks import NETWORKS, network, networks
from airchitect.workloads.sampling import sample_gemms
from airchitect.workloads.synthetic import FAMILIES, synthetic_networks
from airchitect.workloads.trace import COLUMNS, INPUT_DTYPES, gemms_from_module

__all__ = ["COLUMNS", "FAMILIES", "Gemm", "INPUT_DTYPES", "NETWORKS", "gemms_from_module", "network",
           "networks", "sample_gemms", "synthetic_networks"]

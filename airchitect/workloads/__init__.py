"""GEMM workloads: the :class:`Gemm` type, seeded samplers and real networks."""

from airchitect.workloads.gemm import Gemm

__all__ = ["Gemm"]

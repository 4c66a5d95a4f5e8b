"""airchitect: learn the design and mapping space of ML accelerators."""

__version__ = "0.1.0"

from airchitect.workloads import Gemm  # noqa: E402

__all__ = ["Gemm", "__version__"]

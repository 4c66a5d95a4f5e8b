"""airchitect: learn the design and mapping space of ML accelerators."""

__version__ = "0.1.0"

from airchitect.workloads import Gemm  # noqa: E402
from airchitect.targets import systolic  # noqa: E402
from airchitect.targets import cim  # noqa: E402
from airchitect.targets import sve  # noqa: E402

_LAZY = {
    "tasks": ("airchitect.tasks", None),
    "data": ("airchitect.data", None),
    "learn": ("airchitect.learn", None),
    "backends": ("airchitect.backends", None),
    "workloads": ("airchitect.workloads", None),
    "api": ("airchitect.api", None),
    "Predictor": ("airchitect.learn.predictor", "Predictor"),
    "predict": ("airchitect.api", "predict"),
    "recommend": ("airchitect.api", "recommend"),
    "codesign": ("airchitect.network_design", "codesign"),
}


def __getattr__(name):
    # The learning stack (torch) is imported on first use only.
    if name not in _LAZY:
        raise AttributeError(f"module 'airchitect' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    return getattr(value, attr) if attr else value


__all__ = ["Gemm", "cim", "sve", "systolic", "__version__", *_LAZY]

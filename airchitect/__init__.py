"""airchitect: learn the design and mapping space of ML accelerators."""

__version__ = "0.1.0"

_LAZY = {
    "Gemm": ("airchitect.workloads", "Gemm"),
    "systolic": ("airchitect.targets.systolic", None),
    "cim": ("airchitect.targets.cim", None),
    "sve": ("airchitect.targets.sve", None),
    "tasks": ("airchitect.tasks", None),
    "data": ("airchitect.data", None),
    "learn": ("airchitect.learn", None),
    "backends": ("airchitect.backends", None),
    "workloads": ("airchitect.workloads", None),
    "network_design": ("airchitect.network_design", None),
    "api": ("airchitect.api", None),
    "Predictor": ("airchitect.learn.predictor", "Predictor"),
    "predict": ("airchitect.api", "predict"),
    "recommend": ("airchitect.api", "recommend"),
    "codesign": ("airchitect.network_design", "codesign"),
}


def __getattr__(name):
    # Every part is imported on first use only: ``import airchitect`` (and the
    # ``airchitect`` command's start, which Ctrl-C may interrupt) stays light.
    if name not in _LAZY:
        raise AttributeError(f"module 'airchitect' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    value = getattr(value, attr) if attr else value
    globals()[name] = value
    return value


__all__ = ["Gemm", "cim", "sve", "systolic", "__version__", *_LAZY]

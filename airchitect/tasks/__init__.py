"""Tasks: a design space, an objective over a cost model, a sampler and a tie-break.

>>> import airchitect as ac
>>> task = ac.tasks.get("array")
>>> len(task.space())
273
"""

from __future__ import annotations

import importlib

from airchitect._checks import check_choice
from airchitect.tasks.base import OBJECTIVES, Task

_REGISTRY = {
    "array": ("airchitect.tasks.array", "ArrayTask"),
    "buffer": ("airchitect.tasks.buffer", "BufferTask"),
    "multiarray": ("airchitect.tasks.multiarray", "MultiArrayTask"),
    "cim": ("airchitect.tasks.cim", "CimTask"),
    "sve": ("airchitect.tasks.sve", "SveTask"),
    "cim-schedule": ("airchitect.tasks.cim_schedule", "CimScheduleTask"),
}


def names():
    """Names of the registered tasks whose modules are importable."""
    out = []
    for name, (module, _) in _REGISTRY.items():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            continue
        out.append(name)
    return out


def get(name, **params) -> Task:
    """The task registered under ``name``; ``params`` go to its constructor."""
    if isinstance(name, Task):
        return name
    check_choice("task", name, names())
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(module), cls)(**params)


__all__ = ["OBJECTIVES", "Task", "get", "names"]

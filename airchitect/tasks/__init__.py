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


_DEFAULTS = {}


def get(name, **params) -> Task:
    """The task registered under ``name``; ``params`` go to its constructor.

    Without ``params`` the same instance (with its cached space) is returned
    on every call.
    """
    if isinstance(name, Task):
        return name
    if not params and name in _DEFAULTS:
        return _DEFAULTS[name]
    check_choice("task", name, names())
    module, cls = _REGISTRY[name]
    task = getattr(importlib.import_module(module), cls)(**params)
    if not params:
        _DEFAULTS[name] = task
    return task


__all__ = ["OBJECTIVES", "Task", "get", "names"]

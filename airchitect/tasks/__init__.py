"""Tasks: a design space, an objective over a cost model, a sampler and a tie-break.

>>> import airchitect as ac
>>> task = ac.tasks.get("array")
>>> len(task.space())
273
"""

from __future__ import annotations

import importlib
import json

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

    Without ``params``, or with the default ones, the same instance (with its
    cached space) is returned on every call.
    """
    if isinstance(name, Task):
        return name
    if name not in _DEFAULTS:
        check_choice("task", name, names())
        _DEFAULTS[name] = _build(name)
    default = _DEFAULTS[name]
    if not params or _plain(params) == _plain(default.params()):
        return default
    return _build(name, **params)


def _build(name, **params):
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(module), cls)(**params)


def _plain(params):
    """``params`` as JSON would hold them (tuples become lists)."""
    return json.loads(json.dumps(params))


__all__ = ["OBJECTIVES", "Task", "get", "names"]

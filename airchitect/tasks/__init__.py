"""Tasks: a design space, an objective over a cost model, a sampler and a tie-break.

>>> import airchitect as ac
>>> task = ac.tasks.get("array")
>>> len(task.space())
273

Built-in tasks take parameters (``ac.tasks.get("array", square=True)``), and
users register their own tasks or variants under a name of their choice:

>>> small = ac.tasks.register("square-128", "array", square=True, max_macs=[1024, 4096, 16384])
>>> ac.tasks.get("square-128").n_labels, "square-128" in ac.tasks.names()
(18, True)
>>> ac.tasks.from_definition(small.definition()) is small
True
>>> ac.tasks.unregister("square-128")
"""

from __future__ import annotations

import copy
import importlib
import inspect

from airchitect._checks import check_choice
from airchitect.tasks import identity
from airchitect.tasks.base import OBJECTIVES, Task

#: the built-in tasks: name -> (module, class)
_REGISTRY = {
    "array": ("airchitect.tasks.array", "ArrayTask"),
    "buffer": ("airchitect.tasks.buffer", "BufferTask"),
    "multiarray": ("airchitect.tasks.multiarray", "MultiArrayTask"),
    "cim": ("airchitect.tasks.cim", "CimTask"),
    "sve": ("airchitect.tasks.sve", "SveTask"),
    "cim-schedule": ("airchitect.tasks.cim_schedule", "CimScheduleTask"),
    "codesign": ("airchitect.tasks.codesign", "CodesignTask"),
}
#: names of the built-in tasks (never replaced by :func:`register`)
BUILTIN = tuple(_REGISTRY)
#: tasks registered in this process: name -> (factory, params, the built task)
_USER = {}
_DEFAULTS = {}
#: bumped by every register/unregister, so caches keyed on names can tell
generation = 0


def names():
    """Names of the built-in tasks whose modules are importable, then of the registered ones."""
    out = []
    for name, (module, _) in _REGISTRY.items():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            continue
        out.append(name)
    return out + list(_USER)


def get(name, **params) -> Task:
    """The task registered under ``name``; ``params`` go to its constructor.

    ``name`` may also be a :class:`Task`, returned as it is. Without ``params``,
    or with the default ones, the same instance (with its cached space) is
    returned on every call. An unknown parameter raises ``TypeError`` naming it
    and the task's parameters; a bad value, the task's own ``ValueError``.

    >>> get("array", square=True, max_macs=[1024, 4096, 16384]).n_labels
    18
    """
    if isinstance(name, Task):
        if params:
            raise TypeError(f"params are for a task name; task {name.name!r} is already built")
        return name
    if name not in _DEFAULTS:
        check_choice("task", name, names())
        _DEFAULTS[name] = _build(name)
    default = _DEFAULTS[name]
    if not params or identity.plain(params) == identity.plain(default.params()):
        return default
    return _build(name, **params)


def _factory(name):
    """``(factory, params)`` of ``name``: a class or callable and the parameters it is called with."""
    if name in _USER:
        return _USER[name][:2]
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(module), cls), {}


def _build(name, **params):
    factory, base = _factory(name)
    return _make(name, factory, {**base, **params})


def _make(name, factory, params):
    """``factory(**params)``, checked to be a Task, under ``name``."""
    _check_params(name, factory, params)
    task = factory(**params)
    if not isinstance(task, Task):
        raise TypeError(f"task {name!r}: its factory returned {type(task).__name__}, not a Task")
    return _named(task, name)


def _named(task, name):
    """``task`` under ``name`` (a shallow copy where its name differs)."""
    if task.name != name:
        task = copy.copy(task)
        task.name = name
    return task


def _check_params(name, factory, params):
    """Refuse a parameter the task's constructor does not take, naming it."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    taken = [p.name for p in signature.parameters.values()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    unknown = [k for k in params if k not in taken]
    if unknown:
        allowed = ", ".join(taken) or "none"
        raise TypeError(f"task {name!r} has no parameter {unknown[0]!r}; its parameters are {allowed}")


def register(name, task, **params) -> Task:
    """Register ``task`` under ``name`` and return the task :func:`get` then gives.

    Parameters
    ----------
    name : str
        1 to 64 characters among letters, digits and ``_ . + -``; not the
        name of a built-in task (``ValueError``). Registering a name again
        replaces the earlier registration.
    task : Task subclass, callable returning a Task, Task instance, or str
        A class or factory (called with ``params``, now and by
        ``get(name, **more)``), a built task (kept as it is, or copied
        under ``name``), or the name of a task already registered to
        register a variant of it with ``params``.
    **params
        Constructor parameters, JSON-serialisable.

    Examples
    --------
    >>> import airchitect as ac
    >>> ac.tasks.register("small-array", "array", max_macs=[256, 1024]).n_labels
    84
    >>> ac.tasks.unregister("small-array")
    """
    global generation
    _check_name(name)
    if isinstance(task, str):
        factory, base = _factory(check_choice("task", task, names()))
    elif isinstance(task, Task):
        if params:
            raise TypeError("register(name, task_instance) takes no params; pass the class instead")
        factory, base = type(task), identity.plain(task.params())
    elif callable(task):
        factory, base = task, {}
    else:
        raise TypeError(f"task must be a Task, a Task subclass, a factory or a task name, "
                        f"got {type(task).__name__}")
    merged = {**base, **params}
    built = _named(task, name) if isinstance(task, Task) else _make(name, factory, merged)
    built.definition()  # params must be JSON
    _USER[name] = (factory, merged, built)
    _DEFAULTS[name] = built
    generation += 1
    return built


def unregister(name):
    """Remove a task registered with :func:`register` (``ValueError`` for a built-in name)."""
    global generation
    if name in _REGISTRY:
        raise ValueError(f"task {name!r} is built in and cannot be unregistered")
    if name not in _USER:
        raise ValueError(f"task {name!r} is not registered; registered: {', '.join(_USER) or 'none'}")
    del _USER[name]
    _DEFAULTS.pop(name, None)
    generation += 1


def _check_name(name):
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    identity.check_schema({"task": name}, identity.Where(None, "name"))
    if name in _REGISTRY:
        raise ValueError(f"name {name!r} is a built-in task and cannot be replaced; "
                         f"choose another name (built in: {', '.join(_REGISTRY)})")


def task_classes(builtin=False):
    """``{module:Class: class}`` that definitions may name: the built-in task classes
    and (unless ``builtin``) those of the tasks registered in this process. Nothing
    else is ever imported."""
    out = {}
    for module, cls in _REGISTRY.values():
        try:
            found = getattr(importlib.import_module(module), cls)
        except ModuleNotFoundError:
            continue
        out[identity.class_path(found)] = found
    if builtin:
        return out
    for factory, _, built in _USER.values():
        for cls in (factory, type(built)):
            if isinstance(cls, type) and issubclass(cls, Task):
                out[identity.class_path(cls)] = cls
    return out


def from_definition(definition, where=None, field="definition") -> Task:
    """Rebuild the task of a recorded ``definition`` (see :meth:`Task.definition`).

    ``definition`` needs ``task`` (a name); ``class``, ``params``,
    ``space_version`` and ``space_sha256`` are checked where given. A name
    registered in this process (or built in) is built with ``params``; an
    unknown name is built from its ``class``, which must be a built-in task
    class or the class of a task registered in this process (no module named
    in a definition is ever imported). Every failure is a ``ValueError`` (or
    ``TypeError`` for a parameter) naming ``where`` (a file, if given) and
    the field, e.g. ``m/predictor.json: definition.space_sha256: recorded ...``.

    >>> import airchitect as ac
    >>> d = {"task": "array", "params": {"square": True, "max_macs": [1024, 4096, 16384]}}
    >>> ac.tasks.from_definition(d).n_labels
    18
    """
    at = identity.Where(where, field)
    identity.check_schema(definition, at)
    name, params = definition["task"], definition.get("params", {})
    classes = task_classes()
    wanted = definition.get("class")
    if wanted is not None and wanted not in classes:
        raise ValueError(f"{at('class')}: {wanted!r} is neither a built-in task class nor the class "
                         f"of a task registered in this process; register it with ac.tasks.register")
    if name not in names() and wanted is None:
        raise ValueError(f"{at('task')}: {name!r} is not a task of this process (known: "
                         f"{', '.join(names())}) and the definition names no class to build it from")
    try:
        task = get(name, **params) if name in names() else _make(name, classes[wanted], params)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{at('params')}: {err}") from None
    identity.compare(definition, task, at)
    return task


def recorded_task(definition, task=None, where=None) -> Task:
    """The task a dataset or model that recorded ``definition`` is used with.

    ``task`` None, or the name of a built-in task (the family: its parameters
    are the recorded ones), gives the task rebuilt from ``definition``
    (:func:`from_definition`). A Task, or a name registered with
    :func:`register`, must have the recorded definition: a difference raises
    one ``ValueError`` naming ``where`` (the file) and the field.
    """
    if isinstance(task, Task) or (task in names() and task not in BUILTIN):
        task = get(task)
        identity.compare(definition, task, identity.Where(where))
        return task
    if task is not None and task != definition["task"]:
        raise ValueError(f"{identity.Where(where)('task')}: recorded {definition['task']!r}, but the "
                         f"task it is used with is {task!r}")
    return from_definition(definition, where)


__all__ = ["BUILTIN", "OBJECTIVES", "Task", "from_definition", "get", "names", "recorded_task",
           "register", "task_classes", "unregister"]

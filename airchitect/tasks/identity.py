"""A task's identity: its definition (a JSON object) and the checks made against it.

A definition says which task a dataset or a model belongs to, exactly::

    {"task": "array",                                # the name it is registered under
     "class": "airchitect.tasks.array:ArrayTask",    # module:Class of its class
     "params": {"square": true},                     # constructor parameters (JSON)
     "space_version": "1-3f0c9a1b2d4e",              # version of the label space
     "space_sha256": "9c1e...e7"}                    # sha256 of the space table

The sha256 covers the space table (column names and every configuration in
label order), so a space that a code change or a hand edit altered is caught
even when the name and parameters agree.

>>> import airchitect as ac
>>> definition = ac.tasks.get("array").definition()
>>> definition["class"], definition["params"], len(definition["space_sha256"])
('airchitect.tasks.array:ArrayTask', {}, 64)
"""

from __future__ import annotations

import hashlib
import json

SHA256 = r"^[0-9a-f]{64}$"
#: the fields of a full definition, in the order they are compared
FIELDS = ("task", "class", "params", "space_version", "space_sha256")
#: longest task name
MAX_NAME = 64
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"
CLASS_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.<>]*$"

_PROPERTIES = {
    "task": {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": NAME_PATTERN},
    "class": {"type": "string", "maxLength": 300, "pattern": CLASS_PATTERN},
    "params": {"type": "object"},
    "space_version": {"type": "string", "maxLength": 64},
    "space_sha256": {"type": "string", "pattern": SHA256},
}

#: JSON schema of a definition as :meth:`Task.definition` writes it (every field)
SCHEMA = {"type": "object", "properties": _PROPERTIES, "required": list(FIELDS),
          "additionalProperties": False}
#: JSON schema of a definition a user writes (``--task-file``): only ``task`` is needed
INPUT_SCHEMA = {**SCHEMA, "required": ["task"]}


def plain(value):
    """``value`` as JSON holds it (tuples become lists); TypeError if it is not JSON."""
    return json.loads(json.dumps(value))


def class_path(cls):
    """``module:QualifiedName`` of a class, e.g. ``airchitect.tasks.array:ArrayTask``."""
    return f"{cls.__module__}:{cls.__qualname__}"


def space_sha256(task):
    """sha256 (hex) of ``task``'s space table: its columns and rows in label order (cached)."""
    cached = task.__dict__.get("_space_sha256")
    if cached is None or cached[0] is not task._cached_space():
        space = task._cached_space()
        text = space.to_json(orient="split", index=False, double_precision=15)
        cached = (space, hashlib.sha256(text.encode()).hexdigest())
        task._space_sha256 = cached
    return cached[1]


def definition(task):
    """The definition of ``task``, a JSON-able dict of :data:`FIELDS`."""
    try:
        params = plain(task.params())
    except (TypeError, ValueError) as err:
        raise TypeError(f"task {task.name!r}: params() must be JSON-serialisable: {err}") from None
    return {
        "task": task.name,
        "class": class_path(type(task)),
        "params": params,
        "space_version": task.space_version,
        "space_sha256": space_sha256(task),
    }


def variant_version(base, params):
    """The space version of a variant: ``base`` alone for default parameters (``{}``),
    else ``base`` and 12 hex digits of the sha256 of the parameters.

    >>> variant_version("1", {}), variant_version("1", {"square": True})
    ('1', '1-d72b1336b877')
    """
    if not params:
        return base
    text = json.dumps(plain(params), sort_keys=True, separators=(",", ":"))
    return f"{base}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


class Where:
    """Where a definition came from, for messages: ``Where("m/predictor.json",
    "definition")("params")`` is ``m/predictor.json: definition.params``."""

    def __init__(self, file=None, field="definition"):
        self.file, self.field = file, field

    def __call__(self, key=""):
        path = ".".join(p for p in (self.field, key) if p) or "(top level)"
        return f"{self.file}: {path}" if self.file is not None else path


def check_schema(data, at, schema=INPUT_SCHEMA):
    """Raise ``ValueError`` naming ``at`` (a :class:`Where`) and the field unless
    ``data`` follows ``schema``."""
    import jsonschema

    if not isinstance(data, dict):
        raise ValueError(f"{at()}: a task definition must be a JSON object, got {type(data).__name__}")
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is not None:
        key = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "additionalProperties":
            key = sorted(k for k in error.instance if k not in _PROPERTIES)[0]
            reason = f"unknown field; a definition has {', '.join(FIELDS)}"
        elif error.validator == "required":
            key, reason = "task", "missing (the name of the task)"
        else:
            reason = error.message
        raise ValueError(f"{at(key)}: {_short(reason)}")


def compare(recorded, task, at):
    """Raise one ``ValueError`` naming ``at`` (a :class:`Where`) and the first field of
    ``recorded`` (a definition) that differs from ``task``'s definition."""
    current = task.definition()
    for key in FIELDS:
        if key in recorded and plain(recorded[key]) != current[key]:
            raise ValueError(f"{at(key)}: recorded {_short(recorded[key])}, but the task it is used "
                             f"with has {_short(current[key])}")


def _short(value, limit=160):
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."

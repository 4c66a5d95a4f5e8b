"""The ``manifest.json`` of a dataset: its JSON schema and its consistency checks.

:func:`check` validates a manifest in two steps: the JSON schema
(:data:`SCHEMA`, types and required fields) and the cross-field rules that a
schema cannot say (shard ``i`` is ``shard-0000i.parquet`` and holds
``min(shard_rows, n - i * shard_rows)`` rows, the task of the description is
the task of the arguments). Every error is a ``ValueError`` naming the
manifest file and the field, e.g.::

    data/x/manifest.json: shards[3].file must be shard-00003.parquet, got '../../etc/passwd'
"""

from __future__ import annotations

import math

import jsonschema

from airchitect.tasks import identity

FORMAT = "airchitect-dataset"
FORMAT_VERSION = 1
SHA256 = r"^[0-9a-f]{64}$"

_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}

SHARD = {
    "type": "object",
    "required": ["file", "rows"],
    "additionalProperties": False,
    "properties": {
        "file": _STRING,
        "rows": {"type": "integer", "minimum": 1},
        "sha256": {"type": "string", "pattern": SHA256},
    },
}

ARGUMENTS = {
    "type": "object",
    "required": ["task", "task_params", "space_version", "objective", "seed", "n", "shard_rows",
                 "package_version", "convention", "stored_costs"],
    "properties": {
        "task": _STRING,
        "task_params": {"type": "object"},
        "space_version": _STRING,
        "objective": _STRING,
        "seed": {"type": "integer", "minimum": 0},
        "n": {"type": "integer", "minimum": 1, "maximum": 10**9},
        "shard_rows": {"type": "integer", "minimum": 1},
        "package_version": _STRING,
        "convention": _STRING,
        "stored_costs": {"type": "boolean"},
    },
}

TASK = {
    "type": "object",
    "required": ["task", "space_version", "n_labels", "input_columns", "config_columns"],
    "properties": {
        "task": _STRING,
        "space_version": _STRING,
        "n_labels": {"type": "integer", "minimum": 1},
        "input_columns": _STRINGS,
        "config_columns": _STRINGS,
    },
}

#: JSON schema of a format-1 manifest. A complete manifest has a sha256 for
#: every shard; ``timings`` and ``summary`` are informative; ``definition``
#: (the task's full definition, :meth:`airchitect.tasks.Task.definition`) is
#: written by every run and optional, so that older datasets still load.
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["format", "format_version", "arguments", "task", "complete", "shards"],
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"const": FORMAT_VERSION},
        "arguments": ARGUMENTS,
        "task": TASK,
        "definition": identity.SCHEMA,
        "complete": {"type": "boolean"},
        "shards": {"type": "array", "items": SHARD},
        "timings": {"type": "object"},
        "summary": {"type": "object"},
    },
    "if": {"properties": {"complete": {"const": True}}},
    "then": {"properties": {"shards": {"items": {"required": ["file", "rows", "sha256"]}}}},
}


def _is_integer(checker, value):
    return isinstance(value, int) and not isinstance(value, bool)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)
_VALIDATOR = _Validator(SCHEMA)


def shard_name(index):
    """The file name of shard ``index``: ``shard-00003.parquet``."""
    return f"shard-{index:05d}.parquet"


def shard_rows_of(n, shard_rows):
    """Rows of every shard of an ``n``-row dataset cut into ``shard_rows``-row shards."""
    return [min(shard_rows, n - i * shard_rows) for i in range(math.ceil(n / shard_rows))]


def field_name(path):
    """``["shards", 3, "file"]`` as ``shards[3].file``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "(top level)"


def check(data, where):
    """Raise ``ValueError`` naming ``where`` and the field unless ``data`` is a valid manifest.

    Parameters
    ----------
    data : object
        The parsed JSON of a manifest.
    where : str or Path
        The manifest file, for the messages.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a manifest must be a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise ValueError(f"{where}: format must be {FORMAT!r}; not an airchitect dataset manifest")
    version = data.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ValueError(
            f"{where}: format_version {version!r} is not supported; "
            f"this airchitect reads format_version {FORMAT_VERSION}"
        )
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(data))
    if error is not None:
        raise ValueError(f"{where}: {field_name(error.absolute_path)}: {error.message}")
    _check_task(data, where)
    _check_shards(data, where)


def _check_task(data, where):
    arguments, task = data["arguments"], data["task"]
    for key in ("task", "space_version"):
        if task[key] != arguments[key]:
            raise ValueError(
                f"{where}: task.{key} is {task[key]!r} but arguments.{key} is {arguments[key]!r}"
            )
    definition = data.get("definition", {})
    for key, argument in (("params", "task_params"), ("space_version", "space_version")):
        if key in definition and definition[key] != arguments[argument]:
            raise ValueError(f"{where}: definition.{key} is {definition[key]!r} but "
                             f"arguments.{argument} is {arguments[argument]!r}")


def _check_shards(data, where):
    shards, arguments = data["shards"], data["arguments"]
    for i, shard in enumerate(shards):
        if shard["file"] != shard_name(i):
            raise ValueError(
                f"{where}: shards[{i}].file must be {shard_name(i)}, got {shard['file']!r}"
            )
    n, size = arguments["n"], arguments["shard_rows"]
    expected = shard_rows_of(n, size)
    if len(shards) != len(expected):
        raise ValueError(
            f"{where}: shards has {len(shards)} entries; arguments.n = {n} in shards of "
            f"arguments.shard_rows = {size} rows makes {len(expected)}"
        )
    for i, (shard, rows) in enumerate(zip(shards, expected)):
        if shard["rows"] != rows:
            raise ValueError(
                f"{where}: shards[{i}].rows must be {rows} (arguments.n = {n}, "
                f"arguments.shard_rows = {size}), got {shard['rows']}"
            )

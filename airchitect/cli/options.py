"""The task flags shared by ``dataset generate``, ``train`` and ``predict``.

``--task NAME`` names a task; ``--task-options JSON`` gives the parameters of a
built-in one (``'{"square": true, "max_macs": [1024, 4096, 16384]}'``);
``--task-file FILE.json`` holds a definition, ``{"task": "array", "params":
{...}}`` (``class``, ``space_version`` and ``space_sha256`` are checked where
given), with ``--task-options`` overriding its parameters. Bad JSON, an unknown
parameter or a value out of range is a ``ValueError``/``TypeError`` naming the
flag (or the file) and the field: exit code 2, one line on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

#: largest --task-file read, in bytes
MAX_TASK_FILE_BYTES = 2**20


def add_task_options(parser, required_text="a task name (array, buffer, multiarray, ...)"):
    """Add ``--task``, ``--task-options`` and ``--task-file`` to ``parser``."""
    parser.add_argument("--task", default=None, help=required_text)
    parser.add_argument("--task-options", default=None, metavar="JSON",
                        help="JSON object of the task's parameters, e.g. "
                             "'{\"square\": true, \"max_macs\": [1024, 4096, 16384]}' (docs/tasks.md)")
    parser.add_argument("--task-file", default=None, metavar="FILE.json",
                        help="a task definition: {\"task\": \"array\", \"params\": {...}}")


def task_spec(args):
    """The task the flags name: None (no flag), a name (``--task`` alone) or a built Task."""
    options = _options(args.task_options)
    if args.task_file is not None:
        return _from_file(Path(args.task_file), args.task, options)
    if args.task is None:
        if options is not None:
            raise ValueError("--task-options needs --task (or --task-file)")
        return None
    if options is None:
        return args.task
    from airchitect.tasks import get, names

    if args.task not in names():
        raise ValueError(f"--task must be one of {', '.join(names())}, got {args.task!r}")
    try:
        return get(args.task, **options)
    except (TypeError, ValueError) as err:
        raise type(err)(f"--task-options: {err}") from None


def _options(text):
    if text is None:
        return None
    try:
        options = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ValueError(f"--task-options: not valid JSON: {err}") from None
    if not isinstance(options, dict):
        raise ValueError(f"--task-options must be a JSON object of the task's parameters, "
                         f"got {type(options).__name__}")
    return options


def _from_file(path, name, options):
    from airchitect.tasks import from_definition

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (--task-file needs a JSON file)")
    if path.stat().st_size > MAX_TASK_FILE_BYTES:
        raise ValueError(f"{path}: more than {MAX_TASK_FILE_BYTES} bytes; not a task definition")
    try:
        definition = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from None
    if isinstance(definition, dict) and options is not None:
        params = definition.get("params", {})
        if not isinstance(params, dict):
            raise ValueError(f"{path}: params: must be a JSON object, got {type(params).__name__}")
        definition = {**definition, "params": {**params, **options}}
        definition.pop("space_sha256", None)  # other params, another space
        definition.pop("space_version", None)
    task = from_definition(definition, path, field="")
    if name is not None and name != task.name:
        raise ValueError(f"--task {name!r} is not the task {task.name!r} of {path}")
    return task

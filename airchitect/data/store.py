"""Datasets on disk: Parquet shards plus ``manifest.json``.

Layout of a dataset directory::

    manifest.json              # arguments, versions, per-shard rows and sha256, timings
    shard-00000.parquet
    shard-00001.parquet
    ...
    .airchitect-dataset.lock   # held by the run writing the directory
    .journal.jsonl             # while a run is unfinished: sha256 of every shard written

Every file is written under a temporary name in the same directory
(``.<name>.<random>.tmp``) and then renamed, so a reader never sees a
half-written file. The manifest's schema and checks are in
:mod:`airchitect.data.manifest`; ``docs/data.md`` describes the format.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from airchitect._files import write_atomic, write_error, write_json_atomic  # noqa: F401 (re-exported)
from airchitect.data import manifest as schema
from airchitect.data.manifest import FORMAT, FORMAT_VERSION, shard_name

MANIFEST = "manifest.json"
JOURNAL = ".journal.jsonl"
LOCK = ".airchitect-dataset.lock"
_TEMPORARY = re.compile(
    r"^\.(manifest\.json|\.journal\.jsonl|shard-[0-9]{5,}\.parquet)\.[A-Za-z0-9_]+\.tmp$"
    r"|^\.write-probe\.tmp$"
)

__all__ = ["FORMAT", "FORMAT_VERSION", "JOURNAL", "LOCK", "MANIFEST", "load", "read_manifest",
           "shard_name"]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_temporary(name) -> bool:
    """Whether the file name ``name`` is a temporary file of a dataset write."""
    return bool(_TEMPORARY.match(name))


def is_run_file(name) -> bool:
    """Whether ``name`` is a file of a run rather than of the data: temporary, journal or lock."""
    return name in (JOURNAL, LOCK) or is_temporary(name)


def remove_temporaries(directory):
    """Delete the temporary files of writes that were killed before their rename."""
    for path in Path(directory).iterdir():
        if is_temporary(path.name) and not path.is_dir():
            path.unlink(missing_ok=True)


def frame_to_parquet(df: pd.DataFrame) -> bytes:
    """Serialise ``df`` to Parquet bytes; the same frame gives the same bytes."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


# -- the journal: sha256 of each shard, recorded when it is written ------------
def read_journal(directory) -> dict:
    """``{file: sha256}`` of the shards recorded in the journal of ``directory``.

    Lines that do not parse (the last line of a killed write) are skipped.
    """
    path = Path(directory) / JOURNAL
    if not path.is_file():
        return {}
    records = {}
    for line in path.read_bytes().splitlines():
        try:
            record = json.loads(line)
            file, sha = record["file"], record["sha256"]
        except (ValueError, TypeError, KeyError):
            continue
        if isinstance(file, str) and isinstance(sha, str) and re.fullmatch(schema.SHA256, sha):
            records[file] = sha
    return records


def _journal_line(file, sha):
    return json.dumps({"file": file, "sha256": sha}, sort_keys=True) + "\n"


def write_journal(directory, records):
    """Replace the journal of ``directory`` by ``records`` (``{file: sha256}``), atomically."""
    text = "".join(_journal_line(file, sha) for file, sha in sorted(records.items()))
    write_atomic(Path(directory) / JOURNAL, text.encode())


def append_journal(directory, file, sha):
    """Record, durably, that shard ``file`` was written with the checksum ``sha``."""
    path = Path(directory) / JOURNAL
    try:
        with open(path, "ab") as fh:
            fh.write(_journal_line(file, sha).encode())
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as err:
        raise write_error(path, err) from err


def remove_journal(directory):
    (Path(directory) / JOURNAL).unlink(missing_ok=True)


# -- reading ---------------------------------------------------------------------
def read_manifest(path) -> dict:
    """The manifest of the dataset directory ``path`` (or the manifest file ``path``), checked.

    Raises ``FileNotFoundError`` where there is no manifest and ``ValueError``
    naming the file and the field where it is not valid JSON, does not follow
    :data:`airchitect.data.manifest.SCHEMA` or is inconsistent (see
    :func:`airchitect.data.manifest.check`).
    """
    path = Path(path)
    file = path / MANIFEST if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"{path}: no {MANIFEST}; not an airchitect dataset")
    if not file.is_file():
        raise ValueError(f"{file}: not a regular file; not an airchitect dataset manifest")
    try:
        data = json.loads(file.read_bytes().decode("utf-8"))
    except ValueError as err:
        raise ValueError(f"{file}: not valid JSON: {err}") from None
    schema.check(data, file)
    return data


def dataset_task(manifest, where, task=None):
    """The task of a checked ``manifest`` that the dataset is used with (``task``: None,
    a name or a Task; see :func:`airchitect.tasks.recorded_task`). A manifest without a
    recorded definition is checked by its arguments. A mismatch raises ``ValueError``
    naming ``where`` and the field."""
    from airchitect.tasks import BUILTIN, Task, get, identity, recorded_task

    arguments, definition = manifest["arguments"], manifest.get("definition")
    if definition is not None and definition["task"] != arguments["task"]:
        _task_of_arguments(arguments, where)
        raise ValueError(f"{where}: definition.task is {definition['task']!r} but arguments.task "
                         f"is {arguments['task']!r}")
    if definition is not None:
        task = recorded_task(definition, task, where)
    elif isinstance(task, Task) or task not in (None, *BUILTIN):
        task = get(task)
        if (arguments["task"], arguments["task_params"]) != (task.name, identity.plain(task.params())):
            raise ValueError(f"{where}: arguments.task {arguments['task']!r} with arguments.task_params "
                             f"{arguments['task_params']} is not the task {task.name!r} it is used with")
    elif task is not None and task != arguments["task"]:
        raise ValueError(f"{where}: arguments.task: the dataset is for task {arguments['task']!r}, "
                         f"not {task!r}")
    else:
        task = _task_of_arguments(arguments, where)
    if manifest["task"]["n_labels"] != task.n_labels:
        raise ValueError(
            f"{where}: task.n_labels is {manifest['task']['n_labels']} but the "
            f"{task.name} task has {task.n_labels} labels"
        )
    return task


def _task_of_arguments(arguments, where):
    """The task ``arguments.task`` names, built with ``arguments.task_params``."""
    from airchitect.tasks import get

    try:
        return get(arguments["task"], **arguments["task_params"])
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{where}: arguments.task {arguments['task']!r} with arguments.task_params "
            f"{arguments['task_params']} is not a task of this airchitect: {err}"
        ) from None


def _columns(columns):
    if columns is None:
        return None
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise TypeError(f"columns must be a list of column names, got {columns!r}")
    return list(columns)


def _read_shard(directory, shard, task, columns):
    """One shard as a DataFrame, after its checksum, rows, columns and labels are checked."""
    name = shard["file"]
    file = directory / name
    if not file.exists():
        raise ValueError(f"{directory}: shard {name} is missing")
    if not file.is_file():
        raise ValueError(f"{directory}: shard {name} is not a regular file")
    if sha256_file(file) != shard["sha256"]:
        raise ValueError(f"{directory}: shard {name} does not match its sha256 checksum")
    try:
        names = pq.read_schema(file).names
        needed = [*task.input_columns, "label"]
        missing = [c for c in needed if c not in names]
        if missing:
            raise ValueError(
                f"{directory}: shard {name} lacks the column(s) {missing} of the {task.name} task"
            )
        unknown = [c for c in columns or () if c not in names]
        if unknown:
            raise ValueError(f"columns: {unknown[0]!r} is not a column of {directory}")
        wanted = None if columns is None else list(dict.fromkeys([*columns, "label"]))
        frame = pq.read_table(file, columns=wanted).to_pandas()
    except pa.ArrowException as err:
        raise ValueError(f"{directory}: shard {name} is not readable Parquet: {err}") from None
    if len(frame) != shard["rows"]:
        raise ValueError(
            f"{directory}: shard {name} has {len(frame)} rows, manifest says {shard['rows']}"
        )
    where = f"{directory}: shard {name}"
    _check_labels(frame["label"], task, where)
    _check_costs(frame, where)
    if all(c in frame for c in task.input_columns):
        try:
            task.validate(frame[list(task.input_columns)])
        except (TypeError, ValueError) as err:
            raise type(err)(f"{where}: {err}") from None
    if columns is not None and "label" not in columns:
        frame = frame.drop(columns="label")
    return frame


def _check_costs(frame, where):
    """The optimum's cost is a finite number >= 0; the runner-up's is a number (inf
    where the query allows one configuration)."""
    for column, finite in (("best_cost", True), ("second_cost", False)):
        if column not in frame:
            continue
        values = frame[column].to_numpy()
        if values.dtype.kind != "f":
            raise ValueError(f"{where}: {column} must be floats, got dtype {values.dtype}")
        bad = np.isnan(values) | (values < 0) | (~np.isfinite(values) if finite else False)
        if bad.any():
            at = int(np.argmax(bad))
            kind = "a finite number >= 0" if finite else "a number >= 0 (inf: no runner-up)"
            raise ValueError(f"{where}: {column} must be {kind}; row {at} holds {values[at]}")


def _check_labels(labels, task, where):
    high = task.n_labels - 1
    if labels.dtype.kind not in "iu":
        raise ValueError(
            f"{where}: label must be integers in [0, {high}], got dtype {labels.dtype}"
        )
    bad = labels[(labels < 0) | (labels > high)]
    if len(bad):
        raise ValueError(
            f"{where}: label must be in [0, {high}] for the {task.name} task, got {bad.iloc[0]}"
        )


def load(path, columns=None, task=None) -> pd.DataFrame:
    """Read a dataset directory after checking its manifest and every shard.

    The manifest must be valid (see :func:`read_manifest`) and complete. A
    missing, truncated or tampered shard (row count or sha256 differing from
    the manifest), a shard lacking the task's input columns or ``label``, or a
    label outside the task's space raises ``ValueError`` naming the shard.

    Parameters
    ----------
    path : str or Path
        The dataset directory written by :func:`airchitect.data.generate`.
    columns : list of str, optional
        Read only these columns.
    task : str or Task, optional
        The task the data is for: a Task, or a registered name, whose definition
        (:meth:`airchitect.tasks.Task.definition`) differs from the recorded one
        raises ``ValueError`` naming ``manifest.json`` and the field; a built-in
        name must be the recorded task's. Default: the recorded task, rebuilt
        from its definition (a registered name or a built-in class).
    """
    path = Path(path)
    manifest = read_manifest(path)
    directory = path if path.is_dir() else path.parent
    if not manifest["complete"]:
        raise ValueError(
            f"{path}: dataset is incomplete; run the same generate command again to resume"
        )
    task = dataset_task(manifest, directory / MANIFEST, task)
    columns = _columns(columns)
    frames = [_read_shard(directory, shard, task, columns) for shard in manifest["shards"]]
    return pd.concat(frames, ignore_index=True)


def load_column(path, shards, column):
    """One column of every shard, concatenated, as a numpy array."""
    tables = [pq.read_table(Path(path) / s["file"], columns=[column]) for s in shards]
    return np.concatenate([table[column].to_numpy() for table in tables])


def manifest_hash(path) -> str:
    """sha256 of the manifest's shard list: identifies the data a model was trained on."""
    shards = read_manifest(path)["shards"]
    return sha256_bytes(json.dumps(shards, sort_keys=True).encode())

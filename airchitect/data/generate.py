"""Generate labelled datasets: seeded shards, local or Dask-distributed, resumable.

Shard ``i`` of a dataset holds rows ``i * shard_rows ...``; its inputs are
sampled with the seed ``SeedSequence([seed, i])``, so a shard's bytes depend
only on the arguments, never on the number of workers or on where it ran.

A run holds an exclusive lock on its directory. Each shard's sha256 goes to
the directory's journal before the shard is renamed into place; a resumed
run keeps only the shards that match their recorded checksum and writes the
others again, so an interrupted run ends with the bytes of an uninterrupted one.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from airchitect import __version__
from airchitect._checks import check_int
from airchitect.data import store
from airchitect.data.cluster import CONNECT_TIMEOUT_S, SchedulerError, connect  # noqa: F401 (re-exported)
from airchitect.data.manifest import shard_rows_of
from airchitect.tasks import Task, from_definition, task_classes
from airchitect.tasks import get as get_task
from airchitect.tasks.identity import class_path, plain

#: Test hook: the environment variable naming a point at which the run kills
#: itself with SIGKILL (see :func:`kill_point`).
KILL_AT = "AIRCHITECT_TEST_KILL_AT"


def shard_seed(seed, index):
    """The sampler seed of shard ``index`` of a dataset generated with ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def make_shard(task, objective, rows, seed):
    """Sample and label one shard; returns ``(parquet_bytes, seconds)``.

    A module-level function so that joblib and Dask workers can run it.
    ``task`` is a Task or the definition of one of a built-in class (which
    every process rebuilds alike; see :func:`shard_task`).
    """
    start = time.perf_counter()
    task = task if isinstance(task, Task) else from_definition(task)
    frame = task.label(task.sample(rows, seed=seed), objective=objective,
                       keep_costs=not task.cheap_costs)
    return store.frame_to_parquet(frame), time.perf_counter() - start


def shard_task(task):
    """What a worker needs to rebuild ``task``: its definition where its class is
    built in (any process can rebuild it), else the task itself (sent to local
    workers by joblib, to Dask workers pickled, as any Dask task is)."""
    return task.definition() if class_path(type(task)) in task_classes(builtin=True) else task


def _arguments(task, n, seed, objective, shard_rows):
    """The arguments recorded in the manifest, as JSON holds them (tuples become lists)."""
    return plain({
        "task": task.name,
        "task_params": task.params(),
        "space_version": task.space_version,
        "objective": objective,
        "seed": seed,
        "n": n,
        "shard_rows": shard_rows,
        "package_version": __version__,
        "convention": getattr(task, "convention", "scalesim-3.0"),
        "stored_costs": not task.cheap_costs,
    })


def kill_point(name):
    """Test hook: kill this process with SIGKILL if ``$AIRCHITECT_TEST_KILL_AT`` is ``name``.

    The points of a run, in order: ``manifest`` (the manifest is written to
    its temporary file, not yet renamed), then for each shard ``i`` written
    ``journal:i`` (computed, its sha256 not yet recorded), ``shard-rename:i``
    (recorded and written to its temporary file, not yet renamed) and
    ``shard-done:i`` (renamed); then ``final-manifest`` (the complete
    manifest is in its temporary file) and ``journal-removal`` (renamed, the
    journal not yet removed). Tests use it to check that a run killed at any
    of them resumes to the bytes of an uninterrupted run.
    """
    if os.environ.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _os_error(text, err):
    """``PermissionError`` for a permission failure, else ``ValueError``: ``text: reason``."""
    reason = err.strerror or str(err)
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionError(f"{text}: {reason}")
    return ValueError(f"{text}: {reason}")


def _make_directory(out):
    """Create ``out`` and its parents; return the topmost directory created, or None."""
    missing = [p for p in (out, *out.parents) if not p.exists() and not p.is_symlink()]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _os_error(f"out directory {out} cannot be created", err) from None
    return missing[-1] if missing else None


def _lock(out):
    """Hold the exclusive lock of the dataset directory ``out``, without waiting."""
    from filelock import FileLock, Timeout

    lock = FileLock(out / store.LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise FileExistsError(
            f"another airchitect dataset generate is writing {out}; "
            "wait for it to end or choose another directory"
        ) from None
    except OSError as err:
        raise _os_error(f"out directory {out} is not writable", err) from None
    return lock


def _dataset_in(out):
    """The checked manifest of the directory ``out``, or None if it holds no data.

    Files of a run (temporaries, journal, lock) count as no data. Raises
    ``FileExistsError`` naming the first file of a directory without a
    manifest, and ``ValueError`` for a manifest that is not valid.
    """
    if not out.is_dir():
        return None
    names = sorted(p.name for p in out.iterdir())
    if store.MANIFEST in names:
        return store.read_manifest(out)
    foreign = [n for n in names if not store.is_run_file(n)]
    if foreign:
        raise FileExistsError(
            f"{out} holds files that are not a dataset ({foreign[0]}); "
            "choose another directory (overwrite removes only a dataset's own files)"
        )
    return None


def _same(old, arguments, definition):
    """Whether the dataset ``old`` has these arguments and (where it records one) definition."""
    return old["arguments"] == arguments and old.get("definition", definition) == definition


def _survey(out, arguments, definition, overwrite):
    """The manifest in ``out`` if it is a dataset to resume or overwrite, None if ``out`` is empty.

    Files of a run (temporaries, journal, lock) count as empty. Raises
    ``FileExistsError`` naming the first file that is not ours, or if the
    dataset has other arguments and not ``overwrite``; ``ValueError`` if the
    manifest is not valid.
    """
    old = _dataset_in(out)
    if old is None or _same(old, arguments, definition):
        return old
    if not overwrite:
        raise FileExistsError(
            f"{out} holds a dataset of other arguments; choose another directory or pass overwrite=True (CLI: --overwrite)"
        )
    listed = {shard["file"] for shard in old["shards"]} | {store.MANIFEST}
    for name in sorted(p.name for p in out.iterdir()):
        path = out / name
        ours = store.is_run_file(name) or name in listed
        if not ours or path.is_dir():
            raise FileExistsError(
                f"{path} is not part of the dataset in {out}; overwrite removes only the files "
                "its manifest lists, so nothing was deleted"
            )
    return old


def _clear(out, old):
    """Delete the dataset ``old`` from ``out``: its shards, the run files, then its manifest."""
    for shard in old["shards"]:
        (out / shard["file"]).unlink(missing_ok=True)
    store.remove_temporaries(out)
    store.remove_journal(out)
    (out / store.MANIFEST).unlink()


def _remove_created(out, created):
    """Undo a run that wrote no shard into the directory it created: its files, then the folders."""
    for name in (store.MANIFEST, store.JOURNAL, store.LOCK):
        (out / name).unlink(missing_ok=True)
    store.remove_temporaries(out)
    path = out
    while True:
        try:
            path.rmdir()
        except OSError:
            return
        if path == created:
            return
        path = path.parent


def _prepare(out, arguments, definition, overwrite):
    """Lock ``out`` (created if needed) and check what it holds.

    Returns ``(out, lock, created, old)``: the directory, the held lock, the
    topmost directory this call created (or None) and the manifest of the same
    arguments found there (or None).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a directory, got the file {out}")
    _dataset_in(out)
    created = _make_directory(out)
    lock = _lock(out)
    try:
        old = _survey(out, arguments, definition, overwrite)
        if old is not None and not _same(old, arguments, definition):
            _clear(out, old)
            old = None
        store.remove_temporaries(out)
    except BaseException:
        lock.release()
        if created is not None:
            _remove_created(out, created)
        raise
    return out, lock, created, old


def _recorded(out, shards, old):
    """``{index: sha256}`` recorded as each shard was written (manifest, else journal)."""
    if old is not None and old["complete"]:
        return {i: shard["sha256"] for i, shard in enumerate(old["shards"])}
    journal = store.read_journal(out)
    return {i: journal[s["file"]] for i, s in enumerate(shards) if s["file"] in journal}


def _verified(out, shards, old):
    """``{index: sha256}`` of the shards on disk that match their recorded sha256.

    A shard that does not match, or has no record, is deleted (it will be
    written again) and said so on stderr; a shard path that is not a
    regular file raises ``FileExistsError``.
    """
    recorded = _recorded(out, shards, old)
    verified = {}
    for i, shard in enumerate(shards):
        path = out / shard["file"]
        if not path.exists() and not path.is_symlink():
            continue
        if not path.is_file():
            raise FileExistsError(f"{path} is not a regular file; remove it and run again")
        if i in recorded and store.sha256_file(path) == recorded[i]:
            verified[i] = recorded[i]
            continue
        if i in recorded:
            why = "does not match the sha256 recorded when it was written"
        else:
            why = "has no sha256 recorded when it was written"
        print(f"airchitect: {path} {why}; writing it again", file=sys.stderr)
        path.unlink()
    return verified


def _run_local(jobs, workers):
    from joblib import Parallel, delayed

    if workers == 1:
        for index, args in jobs:
            yield index, make_shard(*args)
        return
    parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
    tagged = parallel(delayed(_tagged)(index, args) for index, args in jobs)
    yield from tagged


def _tagged(index, args):
    return index, make_shard(*args)


def _run_dask(jobs, client):
    from dask.distributed import as_completed

    futures = {client.submit(make_shard, *args, pure=False): index for index, args in jobs}
    for future in as_completed(futures):
        yield futures[future], future.result()


def generate(
    task,
    n_workloads,
    seed=0,
    out="dataset",
    workers=None,
    scheduler=None,
    objective=None,
    shard_rows=None,
    overwrite=False,
    progress=True,
):
    """Generate a dataset of ``n_workloads`` labelled rows of ``task`` in ``out``.

    The run holds an exclusive lock on ``out``; a second run into the same
    directory raises ``FileExistsError`` at once. See ``docs/data.md`` for the
    format, resume and overwrite rules.

    Parameters
    ----------
    task : str or Task
        A registered task name (``array``, ``buffer``, ``multiarray``, ...,
        or one given to :func:`airchitect.tasks.register`) or a Task, such as
        ``ac.tasks.get("array", square=True)``. The manifest records its
        definition (:meth:`airchitect.tasks.Task.definition`).
    n_workloads : int
        Number of rows, in ``[1, 10**9]``.
    seed : int
        Seed of the input sampler; the same arguments give byte-identical shards.
    out : str or Path
        Output directory. One holding an unfinished run of the same arguments
        is resumed: shards that match the sha256 recorded when they were
        written are kept, others written again. One holding a dataset of other
        arguments is refused unless ``overwrite``; one holding other files is
        refused.
    workers : int, optional
        Local worker processes (joblib); default: the number of cores.
    scheduler : str or dask.distributed.Client, optional
        Run the shards on a Dask cluster instead (its address or a client).
        The scheduler is trusted: results come back pickled, so use only a
        cluster you control. An address that does not answer within
        ``CONNECT_TIMEOUT_S`` (5 s) raises :class:`SchedulerError`.
    objective : str, optional
        One of the task's objectives (``cycles``, ``energy``, ``edp`` for the
        systolic tasks); default: the task's default.
    shard_rows : int, optional
        Rows per shard, at least 1; default (None): the task's ``shard_rows``.
    overwrite : bool
        Replace a dataset of other arguments in ``out``. Only the files its
        manifest lists, and the files of a run, are deleted; a directory
        holding anything else is refused, with nothing deleted.
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    dict
        The manifest, with a ``summary`` of rows/s, label entropy (bits) and
        the majority label's share.
    """
    task = get_task(task)
    n = check_int("n_workloads", n_workloads, 1, 10**9)
    seed = check_int("seed", seed, 0, 2**63 - 1)
    objective = task.check_objective(objective)
    if shard_rows is None:
        shard_rows = getattr(task, "shard_rows", 10_000)
    shard_rows = check_int("shard_rows", shard_rows, 1)
    if workers is not None:
        workers = check_int("workers", workers, 1, 1024)
    arguments = _arguments(task, n, seed, objective, shard_rows)
    client = connect(scheduler) if scheduler is not None else None
    try:
        out, lock, created, old = _prepare(out, arguments, task.definition(), overwrite)
        try:
            return _generate(task, arguments, out, old, workers, client, progress)
        except Exception:
            if created is not None and not any(out.glob("shard-*.parquet")):
                _remove_created(out, created)
            raise
        finally:
            lock.release()
    finally:
        if client is not None and client is not scheduler:
            client.close()


def _generate(task, arguments, out, old, workers, client, progress):
    """Write the shards missing from ``out``, then the complete manifest; return it."""
    n = arguments["n"]
    shards = [
        {"file": store.shard_name(i), "rows": rows}
        for i, rows in enumerate(shard_rows_of(n, arguments["shard_rows"]))
    ]
    verified = _verified(out, shards, old)
    if old is not None and old["complete"] and len(verified) == len(shards):
        store.remove_journal(out)
        return old
    store.write_journal(out, {shards[i]["file"]: sha for i, sha in verified.items()})
    manifest = {
        "format": store.FORMAT,
        "format_version": store.FORMAT_VERSION,
        "arguments": arguments,
        "task": task.describe(),
        "definition": task.definition(),
        "complete": False,
        "shards": shards,
    }
    store.write_json_atomic(out / store.MANIFEST, manifest,
                            before_rename=lambda: kill_point("manifest"))

    todo = [i for i in range(len(shards)) if i not in verified]
    sent = shard_task(task)
    jobs = [(i, (sent, arguments["objective"], shards[i]["rows"], shard_seed(arguments["seed"], i)))
            for i in todo]
    start = time.perf_counter()
    seconds = 0.0
    from tqdm.auto import tqdm

    bar = tqdm(
        total=n, initial=n - sum(shards[i]["rows"] for i in todo), unit="rows",
        disable=not progress, file=sys.stderr, desc=f"{task.name} dataset",
    )
    results = _run_dask(jobs, client) if client is not None else _run_local(
        jobs, workers or os.cpu_count() or 1
    )
    with bar:
        for index, (data, elapsed) in results:
            verified[index] = _write_shard(out, shards[index]["file"], index, data)
            seconds += elapsed
            bar.update(shards[index]["rows"])
    wall = time.perf_counter() - start

    for i, shard in enumerate(shards):
        shard["sha256"] = verified[i]
    generated = int(sum(shards[i]["rows"] for i in todo))
    manifest["complete"] = True
    manifest["timings"] = {
        "wall_s": round(wall, 3),
        "shard_compute_s": round(seconds, 3),
        "rows_generated": generated,
    }
    manifest["summary"] = summarize(store.load_column(out, shards, "label"), generated, wall)
    store.write_json_atomic(out / store.MANIFEST, manifest,
                            before_rename=lambda: kill_point("final-manifest"))
    kill_point("journal-removal")
    store.remove_journal(out)
    return manifest


def _write_shard(out, file, index, data):
    """Record the sha256 of ``data`` in the journal, then write it as ``out / file``; return it."""
    sha = store.sha256_bytes(data)
    kill_point(f"journal:{index}")
    store.append_journal(out, file, sha)
    store.write_atomic(out / file, data, before_rename=lambda: kill_point(f"shard-rename:{index}"))
    kill_point(f"shard-done:{index}")
    return sha


def summarize(labels, rows_generated, wall_s):
    """Rows per second, label entropy in bits, and the majority label's share."""
    counts = np.bincount(labels) if len(labels) else np.zeros(1)
    p = counts[counts > 0] / max(counts.sum(), 1)
    return {
        "rows_per_s": round(rows_generated / wall_s, 1) if wall_s > 0 else None,
        "label_entropy_bits": round(float(-(p * np.log2(p)).sum()), 4),
        "majority_label": int(counts.argmax()),
        "majority_share": round(float(counts.max() / max(counts.sum(), 1)), 4),
        "distinct_labels": int((counts > 0).sum()),
    }

"""Generate labelled datasets: seeded shards, local or Dask-distributed, resumable.

Shard ``i`` of a dataset holds rows ``i * shard_rows ...``; its inputs are
sampled with the seed ``SeedSequence([seed, i])``, so a shard's bytes depend
only on the arguments, never on the number of workers or on where it ran.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from airchitect import __version__
from airchitect._checks import check_int
from airchitect.data import store
from airchitect.tasks import get as get_task


def shard_seed(seed, index):
    """The sampler seed of shard ``index`` of a dataset generated with ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def make_shard(task_name, task_params, objective, rows, seed):
    """Sample and label one shard; returns ``(parquet_bytes, seconds)``.

    A module-level function so that joblib and Dask workers can run it.
    """
    start = time.perf_counter()
    task = get_task(task_name, **task_params)
    frame = task.label(task.sample(rows, seed=seed), objective=objective,
                       keep_costs=not task.cheap_costs)
    return store.frame_to_parquet(frame), time.perf_counter() - start


def _arguments(task, n, seed, objective, shard_rows):
    return {
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
    }


def _prepare(out, arguments, overwrite):
    """Create ``out`` or check that it holds (part of) the same dataset."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a directory, got the file {out}")
    if out.exists() and any(out.iterdir()):
        try:
            old = store.read_manifest(out).get("arguments")
        except (FileNotFoundError, ValueError):
            old = None
        if old != arguments:
            if not overwrite:
                what = "a dataset of other arguments" if old else "files that are not a dataset"
                raise FileExistsError(
                    f"{out} holds {what}; choose another directory or pass overwrite"
                )
            shutil.rmtree(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-probe.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"out directory {out} is not writable: {err.strerror}") from None
    store.remove_temporaries(out)
    return out


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


def _run_dask(jobs, scheduler):
    from dask.distributed import Client, as_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = {client.submit(make_shard, *args, pure=False): index for index, args in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        if client is not scheduler:
            client.close()


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

    Parameters
    ----------
    task : str or Task
        A registered task name (``array``, ``buffer``, ``multiarray``, ...).
    n_workloads : int
        Number of rows, in ``[1, 10**9]``.
    seed : int
        Seed of the input sampler; the same arguments give byte-identical shards.
    out : str or Path
        Output directory. A directory holding a dataset of other arguments is
        refused unless ``overwrite``; one holding an unfinished run of the same
        arguments is resumed.
    workers : int, optional
        Local worker processes (joblib); default: the number of cores.
    scheduler : str or dask.distributed.Client, optional
        Run the shards on a Dask cluster instead (its address or a client).
    objective : str, optional
        One of the task's objectives (``cycles``, ``energy``, ``edp`` for the
        systolic tasks); default: the task's default.
    shard_rows : int, optional
        Rows per shard; default: the task's ``shard_rows``.
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
    shard_rows = check_int("shard_rows", shard_rows or getattr(task, "shard_rows", 10_000), 1)
    if workers is not None:
        workers = check_int("workers", workers, 1, 1024)
    arguments = _arguments(task, n, seed, objective, shard_rows)
    out = _prepare(out, arguments, overwrite)

    n_shards = math.ceil(n / shard_rows)
    shards = [
        {"file": store.shard_name(i), "rows": min(shard_rows, n - i * shard_rows)}
        for i in range(n_shards)
    ]
    manifest = {
        "format": store.FORMAT,
        "format_version": store.FORMAT_VERSION,
        "arguments": arguments,
        "task": task.describe(),
        "complete": False,
        "shards": shards,
    }
    store.write_json_atomic(out / store.MANIFEST, manifest)

    todo = [i for i in range(n_shards) if not (out / shards[i]["file"]).exists()]
    task_params = arguments["task_params"]
    jobs = [
        (i, (task.name, task_params, objective, shards[i]["rows"], shard_seed(seed, i)))
        for i in todo
    ]
    start = time.perf_counter()
    seconds = 0.0
    from tqdm.auto import tqdm

    bar = tqdm(
        total=n, initial=n - sum(shards[i]["rows"] for i in todo), unit="rows",
        disable=not progress, file=sys.stderr, desc=f"{task.name} dataset",
    )
    results = _run_dask(jobs, scheduler) if scheduler is not None else _run_local(
        jobs, workers or os.cpu_count() or 1
    )
    with bar:
        for index, (data, elapsed) in results:
            store.write_atomic(out / shards[index]["file"], data)
            seconds += elapsed
            bar.update(shards[index]["rows"])
    wall = time.perf_counter() - start

    for shard in shards:
        shard["sha256"] = store.sha256_file(out / shard["file"])
    generated = int(sum(shards[i]["rows"] for i in todo))
    manifest["complete"] = True
    manifest["timings"] = {
        "wall_s": round(wall, 3),
        "shard_compute_s": round(seconds, 3),
        "rows_generated": generated,
    }
    manifest["summary"] = summarize(store.load_column(out, shards, "label"), generated, wall)
    store.write_json_atomic(out / store.MANIFEST, manifest)
    return manifest


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

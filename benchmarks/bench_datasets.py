"""Dataset generation: wall time of 10^5-workload datasets, Dask scaling.

    python benchmarks/bench_datasets.py [--tasks array multiarray cim sve]
        [--buffer-rows 2000] [--dask-task buffer] [--n 100000]

Prints, per task, the wall time of generating ``n`` labelled workloads with
local workers, and for the ``--dask-task`` (buffer, or codesign) the throughput
(rows/s) on a Dask ``LocalCluster`` with 1 and then 2 worker processes (one
thread each), measured in this run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import airchitect as ac


def timed_generate(task, n, out, **kw):
    start = time.perf_counter()
    manifest = ac.data.generate(task, n, seed=0, out=out, progress=False, **kw)
    return time.perf_counter() - start, manifest


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", nargs="*", default=["array", "multiarray", "cim", "sve"])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--buffer-rows", type=int, default=2000, help="rows of the Dask measurement")
    parser.add_argument("--dask-task", default="buffer")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-datasets-")
    print(f"cores: {os.cpu_count()}")
    try:
        for task in args.tasks:
            if task not in ac.tasks.names():
                print(f"{task}: not available")
                continue
            wall, manifest = timed_generate(task, args.n, f"{tmp}/{task}")
            s = manifest["summary"]
            print(f"{task}: {args.n} workloads in {wall:.1f} s ({args.n / wall:.0f} rows/s), "
                  f"{s['distinct_labels']} labels, entropy {s['label_entropy_bits']:.2f} bits, "
                  f"majority {100 * s['majority_share']:.1f}%")
        if args.buffer_rows:
            from dask.distributed import LocalCluster

            rates = {}
            for workers in (1, 2):
                with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
                    # warm the workers (imports, numba compilation) before timing
                    timed_generate(args.dask_task, 50, f"{tmp}/warm{workers}", shard_rows=25,
                                   scheduler=cluster.scheduler_address)
                    wall, _ = timed_generate(args.dask_task, args.buffer_rows, f"{tmp}/dask{workers}",
                                             scheduler=cluster.scheduler_address, shard_rows=100)
                rates[workers] = args.buffer_rows / wall
                print(f"{args.dask_task} on Dask, {workers} worker(s): {args.buffer_rows} rows in "
                      f"{wall:.1f} s = {rates[workers]:.1f} rows/s")
            print(f"{args.dask_task} Dask scaling 1 -> 2 workers: {rates[2] / rates[1]:.2f}x; "
                  f"10^5 rows at 2 workers: {1e5 / rates[2] / 3600:.2f} h")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

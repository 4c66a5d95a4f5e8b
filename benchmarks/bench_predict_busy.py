"""One codesign prediction on an idle and on a busy machine, with BLAS's threads and without.

A single ``ac.predict("codesign", ...)`` runs its networks' products compiled, through
BLAS (:mod:`airchitect.learn.few_rows`), on one BLAS thread
(:func:`airchitect._threads.blas_one_thread`). This measures, in one run on the
queries of ``bench_codesign_model.py`` (sampler seed 7), the median public call of
each shipped model on an idle machine and while ``--busy`` other processes keep
the cores busy, with the products on one BLAS thread (as shipped) and with BLAS's own
thread count (the block replaced by one that changes nothing), alternating call by
call, and prints the ratio of their mean times in the same state.

Work: ``4 x --rounds x --queries`` predictions per model; the busy processes stop at the end.

Usage: ``python benchmarks/bench_predict_busy.py [--queries 200] [--busy 1] [--out FILE.md]``.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import sys
import time

import numpy as np

import airchitect as ac
from _emit import emit
from bench_codesign_model import sampled_queries
from airchitect.learn import few_rows


def spin(stop):
    """Busy work until ``stop`` is set: products of 512 x 512 matrices (numpy's BLAS,
    its own threads), as other numeric jobs on the machine would run."""
    a = np.random.default_rng(0).random((512, 512))
    while not stop.is_set():
        a @ a


#: the one-BLAS-thread block as shipped (the benchmark swaps it for a no-op and back)
shipped = few_rows.blas_one_thread


def timings(objectives, records, rounds):
    """``{(objective, blas): seconds of every call}``, one BLAS thread ("one") and
    BLAS's own ("own"), the two alternating query by query, ``rounds`` times."""
    out = {(o, b): [] for o in objectives for b in ("one", "own")}
    for _ in range(rounds):
        for objective in objectives:
            for r in records:
                for blas in ("one", "own"):
                    few_rows.blas_one_thread = shipped if blas == "one" else contextlib.nullcontext
                    start = time.perf_counter()
                    ac.predict("codesign", objective=objective, **r)
                    out[objective, blas].append(time.perf_counter() - start)
    few_rows.blas_one_thread = shipped
    return out


def cell(times):
    """``median / p90 / mean`` ms."""
    ms = np.asarray(times) * 1e3
    return f"{np.median(ms):.2f} / {np.percentile(ms, 90):.2f} / {ms.mean():.2f}"



def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--busy", type=int, default=1, help="busy processes in the busy runs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the queries in each state")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    task = ac.tasks.get("codesign")
    records = sampled_queries(task, args.queries, args.seed)[1]
    objectives = ("cycles", "edp")
    for objective in objectives:  # load and compile once
        ac.predict("codesign", objective=objective, **records[0])
    idle = timings(objectives, records, args.rounds)
    stop = multiprocessing.Event()
    workers = [multiprocessing.Process(target=spin, args=(stop,)) for _ in range(args.busy)]
    for w in workers:
        w.start()
    try:
        time.sleep(1)
        busy = timings(objectives, records, args.rounds)
    finally:
        stop.set()
        for w in workers:
            w.join()
    lines = [f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}; "
             f"{len(records)} queries of the codesign sampler, seed {args.seed}; busy: {args.busy} "
             "busy processes (each multiplying 512 x 512 matrices through numpy on all cores)", "",
             "| objective | machine | one BLAS thread (shipped) ms | BLAS's own threads ms | own / one (means) |",
             "|---|---|---:|---:|---:|"]
    for objective in objectives:
        for name, t in (("idle", idle), ("busy", busy)):
            one, own = t[objective, "one"], t[objective, "own"]
            lines.append(f"| {objective} | {name} | {cell(one)} | {cell(own)} | {np.mean(own) / np.mean(one):.1f} |")
    lines += ["", f"ms: median / p90 / mean wall time of one `ac.predict`, {args.rounds} passes over the "
              "queries, the two settings alternating call by call."]
    emit("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

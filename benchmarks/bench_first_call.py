"""First calls after an install: the numba kernels a public entry compiles once.

Each entry runs in a fresh process with an empty numba cache (``NUMBA_CACHE_DIR``
set to a new temporary folder), then once more in another fresh process with the
cache it left (what every later call costs). Both include importing airchitect.

Usage: ``python benchmarks/bench_first_call.py [--previous FOLDER] [--demo]``

* ``--previous FOLDER``: an older airchitect package (``git archive REV airchitect |
  tar -x -C FOLDER``) runs the same entries in the same way, alternated with this one;
* ``--demo``: also ``airchitect demo`` (about two minutes each run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ENTRIES = {
    "predict codesign": 'ac.predict("codesign", M=300, N=200, K=100, max_macs=1024, sram_kb=256, bandwidth=8)',
    "predict buffer": 'ac.predict("buffer", M=300, N=200, K=100, rows=8, cols=8, dataflow="ws", sram_kb=64, '
                      'bandwidth=2)',
    "recommend codesign": 'ac.recommend("codesign", k=8, M=300, N=200, K=100, max_macs=1024, sram_kb=256, '
                          'bandwidth=8)',
    "simulate user": 'ac.systolic.simulate(64, 64, 64, 8, 8, "os", ifmap_kb=1, filter_kb=1, ofmap_kb=1, '
                     'bandwidth=2, mode="user")',
}


def _run(command, cache, package):
    """Seconds ``command`` (argv) takes with numba's cache in ``cache``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    if package:
        env["PYTHONPATH"] = package
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(f"{' '.join(command[:3])} failed: {last}")
    return seconds


def _cold_warm(command, package):
    with tempfile.TemporaryDirectory() as cache:
        return _run(command, cache, package), _run(command, cache, package)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previous", default=None)
    parser.add_argument("--demo", action="store_true")
    args = parser.parse_args(argv)
    commands = {name: [sys.executable, "-c", f"import airchitect as ac; {call}"] for name, call in ENTRIES.items()}
    if args.demo:
        commands["airchitect demo"] = [sys.executable, "-m", "airchitect", "demo"]
    codes = [("this code", None)] + ([("previous", os.path.abspath(args.previous))] if args.previous else [])
    print(f"{'entry':20s} {'code':10s} {'first call s':>13s} {'cached s':>9s}")
    for name, command in commands.items():
        for label, package in codes:
            cold, warm = _cold_warm(command, package)
            print(f"{name:20s} {label:10s} {cold:13.1f} {warm:9.1f}", flush=True)


if __name__ == "__main__":
    main()

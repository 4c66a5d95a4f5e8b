"""The ``codesign`` task's branch and bound against enumeration, and the cost of energy.

    python benchmarks/bench_codesign.py [--queries 200] [--seed 2026] [--out benchmarks/results/codesign.md]

On ``--queries`` queries of the task's sampler (the default 28,665-label space), in
the same run:

* **enumeration**: every allowed configuration simulated (USER mode, exact), one
  pass per query serving all three objectives, then the tie-broken argmin of each
  objective (written out here with ``numpy.lexsort``);
* **branch and bound**: ``task.search(objective, runner_up=False)`` per query and
  objective (the exact optimum only) and ``task.label`` of all queries (runner-up
  cost included, rows searched together);
* per objective: USER-mode simulations per query (median, p90), wall time per query
  (median), the number of queries where the search's label and cost equal the
  enumeration's;
* energy: evaluations per second of the energy and EDP of (workload, configuration)
  pairs from their simulated counts (``energy.layer_energy_pj``, what the task uses),
  of the energy lower bound, of the task's simulation with and without energy, and of
  the previous public path (``ac.systolic.simulate(..., mode="user")``, one report
  row per pair).

Work: the enumeration simulates up to 28,665 configurations per query (about a
second each on two cores); 200 queries take about 10-20 minutes. The report is
printed and written to ``--out`` (through a temporary file and a rename).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

import airchitect as ac
from airchitect._files import write_atomic
from airchitect.targets.systolic import energy
from airchitect.targets.systolic.config import WORDS_PER_KB
from airchitect.targets.systolic.memory.events import run_geometry
from airchitect.targets.systolic.geometry import gemm_geometry
from airchitect.tasks import codesign_bounds

ROOT = Path(__file__).resolve().parents[1]
OBJECTIVES = ("cycles", "energy", "edp")


def enumerate_query(task, row):
    """Labels and costs of every objective for one query by simulating every allowed config."""
    space = task.space_columns()
    flows = np.asarray(space["dataflow"])
    code = np.select([flows == "os", flows == "ws"], [0, 1], 2)
    allowed = np.flatnonzero(space["pes"] <= int(row["max_macs"].iloc[0]))
    sim = task.simulate(row, allowed[None, :])
    out = {}
    for objective in OBJECTIVES:
        cost = task._objective(sim, objective)[0]
        keys = [cost, sim["total_cycles"][0], space["pes"][allowed], sim["dram_words"][0], code[allowed],
                space["rows"][allowed], space["i"][allowed], space["j"][allowed]]
        first = np.lexsort(keys[::-1])[0]
        out[objective] = (int(allowed[first]), float(cost[first]))
    return out, allowed.size


def energy_rates(task, queries, pairs=2_000_000, seed=0):
    """Evaluations per second of the energy paths (see the module docstring)."""
    rng = np.random.default_rng(seed)
    space = task.space_columns()
    q = queries.iloc[rng.integers(0, len(queries), pairs)].reset_index(drop=True)
    labels = rng.integers(0, task.n_labels, pairs)
    p = task._pairs(q, labels)
    G = gemm_geometry(p["M"], p["N"], p["K"], p["rows"], p["cols"], p["code"])
    words = np.stack([p["ifmap_words"], p["filter_words"], p["ofmap_words"]], axis=1)
    small = 4000  # pairs simulated (the simulation's rate is measured on these)
    sim = task.simulate(q.iloc[:small], labels[:small])
    # counts for all pairs: the simulated ones repeated (the arithmetic does not depend on them)
    rep = np.arange(pairs) % small
    counts = {k: sim[k][rep] for k in ("sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
                                       "dram_words", "total_cycles")}
    kb = tuple(words[:, c] // WORDS_PER_KB for c in range(3))
    macs = p["M"] * p["N"] * p["K"]
    rates = {}
    start = time.perf_counter()
    e = energy.layer_energy_pj(macs, (counts["sram_ifmap_reads"], counts["sram_filter_reads"]), kb,
                               counts["sram_ofmap_writes"], counts["dram_words"])
    edp = e * counts["total_cycles"]
    rates["energy and edp from simulated counts (layer_energy_pj)"] = pairs / (time.perf_counter() - start)
    assert np.isfinite(edp).all()
    start = time.perf_counter()
    codesign_bounds.bounds(*(p[c] for c in task._ORDER))
    rates["every lower bound (cycles, DRAM, energy, edp)"] = pairs / (time.perf_counter() - start)
    start = time.perf_counter()
    task.simulate(q.iloc[:small], labels[:small])
    rates["task.simulate: cycles, DRAM counts, energy, edp"] = small / (time.perf_counter() - start)
    start = time.perf_counter()
    run_geometry(G[:small], words[:small], p["bandwidth"][:small] if np.ndim(p["bandwidth"]) else
                 np.broadcast_to(p["bandwidth"], (small,)))
    rates["event model alone (cycles, no energy)"] = small / (time.perf_counter() - start)
    few = 200
    flows = np.asarray(space["dataflow"])[labels[:few]]
    start = time.perf_counter()
    old = ac.systolic.simulate(p["M"][:few], p["N"][:few], p["K"][:few], p["rows"][:few], p["cols"][:few], flows,
                               ifmap_kb=kb[0][:few], filter_kb=kb[1][:few], ofmap_kb=kb[2][:few],
                               bandwidth=q["bandwidth"].to_numpy()[:few], mode="user")
    rates["previous path: ac.systolic.simulate(mode='user')"] = few / (time.perf_counter() - start)
    same = np.array_equal(old["energy_pj"].to_numpy(), sim["energy_pj"][:few])
    return rates, same


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "codesign.md"))
    args = parser.parse_args(argv)
    task = ac.tasks.get("codesign")
    queries = task.validate(task.sample(args.queries, seed=args.seed))
    warm = queries.iloc[[0]].reset_index(drop=True)
    task.label(warm)  # compile
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    say(f"{len(queries)} queries of the codesign sampler (seed {args.seed}), {task.n_labels} labels; "
        f"{platform.processor() or platform.machine()}, load average {' '.join(f'{v:.1f}' for v in _load())}")
    enum_s, enum_sims, truth = [], [], []
    for r in range(len(queries)):
        row = queries.iloc[[r]].reset_index(drop=True)
        start = time.perf_counter()
        found, sims = enumerate_query(task, row)
        enum_s.append(time.perf_counter() - start)
        enum_sims.append(sims)
        truth.append(found)
    say(f"enumeration: {np.median(enum_sims):.0f} simulations per query (median; p90 "
        f"{np.percentile(enum_sims, 90):.0f}), {np.median(enum_s):.3f} s per query (median), one pass "
        f"for all three objectives")
    say()
    say("| objective | B&B sims/query median | p90 | enumeration median / B&B median | B&B s/query median "
        "| enumeration s/query median | speed-up (median s) | equal to enumeration | label(): sims median | p90 |")
    say("|---|---|---|---|---|---|---|---|---|---|")
    for objective in OBJECTIVES:
        sims, seconds, equal = [], [], 0
        for r in range(len(queries)):
            query = {c: int(v) for c, v in queries.iloc[r].items()}
            start = time.perf_counter()
            out = task.search(objective, runner_up=False, return_stats=True, **query)
            seconds.append(time.perf_counter() - start)
            sims.append(out["stats"]["simulations"])
            label, cost = truth[r][objective]
            equal += out["label"] == label and out["cost"] == cost
        labelled = task.label(queries, objective)
        label_sims = task.last_stats["simulations"]
        same = sum(int(labelled["label"].iloc[r]) == truth[r][objective][0] for r in range(len(queries)))
        assert same == len(queries) and equal == len(queries), (objective, equal, same)
        say(f"| {objective} | {np.median(sims):.0f} | {np.percentile(sims, 90):.0f} | "
            f"{np.median(enum_sims) / np.median(sims):.0f}x | {np.median(seconds):.3f} | {np.median(enum_s):.3f} | "
            f"{np.median(enum_s) / np.median(seconds):.0f}x | {equal}/{len(queries)} (label(): {same}) | "
            f"{np.median(label_sims):.0f} | {np.percentile(label_sims, 90):.0f} |")
    say()
    rates, same = energy_rates(task, queries)
    say("| energy path | evaluations per second |")
    say("|---|---|")
    for name, rate in rates.items():
        say(f"| {name} | {rate:,.0f} |")
    old = rates["previous path: ac.systolic.simulate(mode='user')"]
    say()
    say(f"energy from counts: {rates['energy and edp from simulated counts (layer_energy_pj)'] / old:,.0f}x the "
        f"previous path's evaluations per second; task.simulate (cycles and energy together) "
        f"{rates['task.simulate: cycles, DRAM counts, energy, edp'] / old:,.0f}x; the previous path's energies "
        f"equal the task's: {same}")
    text = "\n".join(lines) + "\n"
    write_atomic(Path(args.out), _header(args).encode() + text.encode())


def _load():
    try:
        import os

        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def _header(args):
    return (f"# The codesign task's exact search (`bench_codesign.py`)\n\n"
            f"`python benchmarks/bench_codesign.py --queries {args.queries} --seed {args.seed}` on the 2-core "
            f"development machine, shared with other work (load average at the end: "
            f"{' '.join(f'{v:.1f}' for v in _load())}), {time.strftime('%d %b %Y', time.gmtime())}. Times are "
            f"wall-clock and move with the load; simulation counts and equality do not.\n\n")


if __name__ == "__main__":
    main()

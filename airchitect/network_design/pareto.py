"""The exact Pareto front of one-accelerator co-design: (cycles, energy, PEs, SRAM).

A *candidate* is one configuration of the ``codesign`` task's space (array
rows x cols, dataflow, SRAM split ``(i, j, k)``) with ``rows x cols <=
max_macs``, crossed with one SRAM total of a ladder (:func:`sram_ladder`). Its
figures are the network's count-weighted USER-mode cycles and energy (pJ), its
PEs and its SRAM total (kB); all four are minimised. The front is every
candidate no other candidate dominates (no worse in all four, better in one);
candidates with identical figure vectors keep the first in the candidate order
(task label order, then the SRAM total).

:func:`pareto_front` finds it exactly without enumerating: the lower bounds of
:meth:`airchitect.tasks.codesign.CodesignTask.bounds`, summed over the layers
with their counts, bound a candidate's network figures; a candidate whose
bounds an already simulated point dominates (or equals, that point coming
first) cannot be on the front and is never simulated. Before candidates are
first simulated, the bounds of every undecided candidate on their arrays and SRAM
totals are tightened by walking the read buffers to the end (as the exact search
does, :func:`airchitect.network_design.exact.walk_bounds`). Candidates left are
refined lazily -- the layers with the largest bound shares first, the bound
of a layer replaced by its exact figure -- a few candidates of every
(PEs, SRAM) group a round, the groups' best bound energy-delay products first.

Examples
--------
>>> from airchitect.tasks.codesign import CodesignTask
>>> task = CodesignTask(rows=[4, 8], cols=[4, 8], max_macs=[64], parts=4)
>>> rows = task.validate({"M": [32, 64], "N": [32, 16], "K": [16, 64], "max_macs": 64,
...                       "sram_kb": 16, "bandwidth": 4})
>>> front = pareto_front(task, rows, np.array([2, 1]))
>>> bool(front["table"]["cycles"].is_monotonic_increasing)
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect.network_design.exact import (MAX_SIMULATIONS, check_entries, largest_open_layers, layer_sum,
                                             walk_bounds)
from airchitect.targets.systolic.memory.splits import PARTS as SIXTEENTHS

__all__ = ["pareto_front", "sram_ladder"]

#: candidates of every (PEs, SRAM) group refined in the first round, and the most a round
FIRST_PER_GROUP, MAX_PER_GROUP = 2, 64
#: simulated points compared at once when the final front is filtered
_CHUNK = 2048


def sram_ladder(task, sram_kb):
    """SRAM totals (kB) a front is searched over, ascending, ending at ``sram_kb``.

    With the task's own ``sram_kb`` totals, those up to ``sram_kb``; otherwise
    ``parts x 2^n`` below ``sram_kb`` (16, 32, 64, ... kB by default) and
    ``sram_kb`` itself: at most ``log2(4096 / 16) + 1 = 9`` totals, where every
    multiple of 16 kB would be up to 256.

    >>> import airchitect as ac
    >>> sram_ladder(ac.tasks.get("codesign"), 200)
    [16, 32, 64, 128, 200]
    """
    if task.totals:
        return [int(t) for t in task.totals if t <= sram_kb]
    ladder, total = [], task.parts
    while total < sram_kb:
        ladder.append(total)
        total *= 2
    return ladder + [int(sram_kb)]


def _check_totals(task, sram_totals, sram_kb):
    if isinstance(sram_totals, (str, bytes)) or not hasattr(sram_totals, "__iter__"):
        raise TypeError(f"sram_totals must be a list of int, got {type(sram_totals).__name__}")
    totals = []
    for t in sram_totals:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
            raise TypeError(f"sram_totals must hold int, got {type(t).__name__}")
        if not task.parts <= t <= sram_kb or t % task.parts:
            raise ValueError(f"sram_totals must hold multiples of {task.parts} in "
                             f"[{task.parts}, sram_kb = {sram_kb}], got {t}")
        totals.append(int(t))
    if not totals:
        raise ValueError("sram_totals must hold at least one total")
    return sorted(set(totals))


def _dominated(lb_c, lb_e, pes, sram, order, pts):
    """Which candidates a simulated point provably excludes from the front.

    A point ``q`` excludes candidate ``c`` when ``PEs_q <= PEs_c``, ``SRAM_q <=
    SRAM_c``, ``cycles_q <= lb_cycles(c)``, ``energy_q <= lb_energy(c)`` and either
    one of the four is strict or ``q`` comes first in the candidate order (then
    ``c`` is dominated, or has ``q``'s figures and loses the tie).
    """
    out = np.zeros(lb_c.size, dtype=bool)
    if not pts["pes"].size:
        return out
    groups = np.unique(np.stack([pes, sram]), axis=1)
    for P, S in groups.T:
        member = np.flatnonzero((pes == P) & (sram == S))
        below = (pts["pes"] <= P) & (pts["sram"] <= S)
        if not below.any():
            continue
        same = below & (pts["pes"] == P) & (pts["sram"] == S)
        c, e = lb_c[member], lb_e[member]
        hit = np.zeros(member.size, dtype=bool)
        for mask, strict in ((below & ~same, False), (same, True)):
            if not mask.any():
                continue
            qc, qe = pts["cycles"][mask], pts["energy"][mask]
            by = np.argsort(qc, kind="stable")
            qc, low = qc[by], np.minimum.accumulate(qe[by])
            right = np.searchsorted(qc, c, side="right")
            has = right > 0
            prefix = np.where(has, low[np.maximum(right - 1, 0)], np.inf)
            if not strict:
                hit |= prefix <= e
                continue
            left = np.searchsorted(qc, c, side="left")
            before = np.where(left > 0, low[np.maximum(left - 1, 0)], np.inf)
            hit |= (before <= e) | (prefix < e)
            # equal figures: excluded when the equal point comes first
            tied = np.flatnonzero(~hit & (prefix == e))
            if tied.size:
                qo = pts["order"][mask]
                qc0, qe0 = pts["cycles"][mask], pts["energy"][mask]
                for t in tied:
                    equal = (qc0 == c[t]) & (qe0 == e[t])
                    hit[t] = bool((qo[equal] < order[member[t]]).any())
        out[member] = hit
    return out


def _front_of(points):
    """Indices of the non-dominated points (ties: the first in order), by cycles."""
    fig = np.stack([points["cycles"], points["energy"], points["pes"], points["sram"]], 1)
    order = points["order"]
    n = len(fig)
    keep = np.ones(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        a = fig[start:start + _CHUNK]
        le = (fig[None, :, :] <= a[:, None, :]).all(2)  # le[x, y]: point y <= point x
        equal = (fig[None, :, :] == a[:, None, :]).all(2)
        beats = le & (~equal | (order[None, :] < order[start:start + _CHUNK, None]))
        keep[start:start + _CHUNK] = ~beats.any(1)
    idx = np.flatnonzero(keep)
    return idx[np.lexsort([order[idx], points["sram"][idx], points["pes"][idx],
                           points["energy"][idx], points["cycles"][idx]])]


def _tighten(task, per_total, T, label, lb, walked, which):
    """Raise the bounds ``lb`` of every layer of candidates ``which`` (bool) not yet
    walked to :meth:`CodesignTask.walked_bounds`', one SRAM total at a time."""
    layers, cand = np.nonzero(~walked & which[None, :])
    for t in range(T):
        m = cand % T == t
        if m.any():
            walk_bounds(task, per_total[t], layers[m], label[cand[m]], lb, (layers[m], cand[m]))
    walked[:, which] = True


def pareto_front(task, inputs, counts, *, sram_totals=None, max_simulations=MAX_SIMULATIONS, walk=True):
    """The exact Pareto front of (cycles, energy, PEs, SRAM); see the module docstring.

    Parameters
    ----------
    task : CodesignTask
    inputs : pandas.DataFrame
        Validated task rows, one per distinct layer, with one ``max_macs``,
        ``sram_kb`` (the SRAM budget, kB) and ``bandwidth``.
    counts : ndarray of int
        Repeat count of each row.
    sram_totals : list of int, optional
        SRAM totals (kB) searched, multiples of the task's ``parts`` up to the
        budget; default :func:`sram_ladder`.
    max_simulations : int
        Work bound: most USER-mode layer simulations; past it a ValueError.
        Memory: a few float arrays of ``layers x candidates``
        (candidates = allowed configurations x totals, at most 28,665 x 9 by default),
        at most ``exact.MAX_ENTRIES`` entries (refused past it).
    walk : bool
        Before candidates are first simulated, tighten the bounds of every
        undecided candidate on their arrays and SRAM totals by walking the read
        buffers (:meth:`CodesignTask.walked_bounds`; tasks with ``parts = 16``).
        False: the closed-form bounds alone (for comparisons).

    Returns
    -------
    dict
        ``table``: the front, a DataFrame (``rows, cols, pes, dataflow,
        sram_kb, ifmap_kb, filter_kb, ofmap_kb, cycles, energy_pj, edp``, and
        the task ``label``) sorted by cycles (then energy, PEs, SRAM);
        ``simulations`` (USER-mode layer simulations run), ``enumeration``
        (``candidates x layers``), ``candidates``, ``totals``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_layers = len(inputs)
    if counts.shape != (n_layers,) or n_layers == 0:
        raise ValueError(f"counts must hold one count per input row ({n_layers}), got {counts.shape}")
    for column in ("max_macs", "sram_kb", "bandwidth"):
        if inputs[column].nunique() != 1:
            raise ValueError(f"inputs must share one {column}")
    max_macs, budget = int(inputs["max_macs"].iloc[0]), int(inputs["sram_kb"].iloc[0])
    totals = sram_ladder(task, budget) if sram_totals is None else _check_totals(task, sram_totals, budget)
    s = task._space_arrays()
    allowed = np.flatnonzero(s["pes"] <= max_macs)
    if not allowed.size:
        raise ValueError(f"max_macs = {max_macs}: no configuration of the space fits the budget")
    H, T = allowed.size, len(totals)
    N = H * T
    check_entries(n_layers, N, "the Pareto search")
    # candidate n = h * T + t: label order, then the total
    label = np.repeat(allowed, T)
    total = np.tile(np.array(totals, dtype=np.int64), H)
    pes = s["pes"][label].astype(np.float64)
    sram = total.astype(np.float64)
    order = np.arange(N)
    per_total = []
    lb = {"cycles": np.empty((n_layers, N)), "energy": np.empty((n_layers, N))}
    for t, kb in enumerate(totals):
        rows = task.validate(inputs.assign(sram_kb=kb))
        per_total.append(rows)
        b = task.bounds(rows, np.broadcast_to(allowed, (n_layers, H)))
        lb["cycles"][:, t::T] = b["cycles"]
        lb["energy"][:, t::T] = b["energy"]
    ex = {"cycles": np.zeros((n_layers, N)), "energy": np.zeros((n_layers, N))}
    done = np.zeros((n_layers, N), dtype=bool)
    w = counts.astype(np.float64)[:, None]
    undecided = np.ones(N, dtype=bool)
    points = {k: np.zeros(0) for k in ("cycles", "energy", "pes", "sram")}
    points["order"] = np.zeros(0, dtype=np.int64)
    group = np.unique(np.stack([pes, sram], 1), axis=0, return_inverse=True)[1].ravel()
    # candidates on one array (rows, cols, dataflow) and SRAM total share their walks
    array = np.unique(np.stack([s["rows"][label], s["cols"][label], s["code"][label], total], 1), axis=0,
                      return_inverse=True)[1].ravel()
    walked = np.full((n_layers, N), not walk or task.parts != SIXTEENTHS)
    sims, per_group = 0, FIRST_PER_GROUP
    while True:
        # bounds and simulated figures summed by one formula: float rounding keeps the order
        val_c = layer_sum(counts, np.where(done, ex["cycles"], lb["cycles"]))
        val_e = layer_sum(counts, np.where(done, ex["energy"], lb["energy"]))
        open_ = np.flatnonzero(undecided)
        gone = _dominated(val_c[open_], val_e[open_], pes[open_], sram[open_], order[open_], points)
        undecided[open_[gone]] = False
        open_ = open_[~gone]
        if not open_.size:
            break
        # a few candidates of every group: those under way, then the smallest bound
        # energy-delay products
        started = done[:, open_].any(0)
        key = np.lexsort([open_, val_e[open_] * val_c[open_], ~started, group[open_]])
        ranked = open_[key]
        g = group[ranked]
        start = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
        rank = np.arange(ranked.size) - np.repeat(start, np.diff(np.r_[start, ranked.size]))
        chosen = ranked[rank < per_group]
        if not walked[:, chosen].all():
            _tighten(task, per_total, T, label, lb, walked, undecided & np.isin(array, array[chosen]))
            continue
        # their largest unsimulated layers (half of those left, at least one)
        share = w * np.where(done, 0.0, lb["cycles"] / np.maximum(val_c, 1.0)
                             + lb["energy"] / np.maximum(val_e, 1e-300))
        layers_, cand = largest_open_layers(done, share, chosen)
        sims += layers_.size
        if sims > max_simulations:
            raise ValueError(f"pareto: the exact front needs more than max_simulations = "
                             f"{max_simulations} USER-mode simulations; narrow the space, the "
                             f"SRAM totals or the network")
        t_of = cand % T
        for t in np.unique(t_of):
            m = t_of == t
            rows = per_total[t]
            sim = task.simulate(rows.iloc[layers_[m]].reset_index(drop=True), label[cand[m]])
            ex["cycles"][layers_[m], cand[m]] = sim["total_cycles"]
            ex["energy"][layers_[m], cand[m]] = sim["energy_pj"]
        done[layers_, cand] = True
        full = chosen[done[:, chosen].all(0)]
        if full.size:
            undecided[full] = False
            points = {"cycles": np.r_[points["cycles"], layer_sum(counts, ex["cycles"][:, full])],
                      "energy": np.r_[points["energy"], layer_sum(counts, ex["energy"][:, full])],
                      "pes": np.r_[points["pes"], pes[full]], "sram": np.r_[points["sram"], sram[full]],
                      "order": np.r_[points["order"], order[full]]}
        per_group = min(2 * per_group, MAX_PER_GROUP)
    keep = _front_of(points)
    n = points["order"][keep]
    lab, kb = label[n], total[n]
    space = task.space_columns()
    table = pd.DataFrame({
        "rows": s["rows"][lab], "cols": s["cols"][lab], "pes": s["pes"][lab],
        "dataflow": np.asarray(space["dataflow"])[lab], "sram_kb": kb,
        "ifmap_kb": kb * s["i"][lab] // task.parts, "filter_kb": kb * s["j"][lab] // task.parts,
        "ofmap_kb": kb * s["k"][lab] // task.parts, "cycles": points["cycles"][keep],
        "energy_pj": points["energy"][keep], "edp": points["energy"][keep] * points["cycles"][keep],
        "label": lab})
    return {"table": table.reset_index(drop=True), "simulations": int(sims),
            "enumeration": int(N * n_layers), "candidates": int(N), "totals": list(totals)}

"""Exact network co-design: one accelerator for every layer, by branch and bound.

A *hardware* candidate is one array (rows x cols) and one SRAM split; with a
shared dataflow (``dataflow="shared"``) it also fixes the dataflow, with
``dataflow="per-layer"`` every layer runs the dataflow that is best for the
network. The network's figures are count-weighted sums over its distinct GEMMs:

* ``cycles = sum(count x total_cycles)``, ``energy = sum(count x energy_pj)``,
  ``dram_words = sum(count x dram_words)``;
* ``edp = energy x cycles`` (the energy-delay product of one inference).

Lower bounds of every figure are the same sums of the per-layer bounds of
:meth:`airchitect.tasks.codesign.CodesignTask.bounds` (sums of lower bounds
bound the sum; the product of two non-negative lower bounds bounds the
product), tightened by walking the read buffers of the candidates that come
to the front before they are simulated. Candidates are visited in increasing
order of their bound key (objective, cycles, PEs, DRAM words, candidate index)
and simulated in batches
(every distinct layer of every candidate of a batch); the search stops when
every candidate left has a bound key above the ``k``-th best key found. The
result is the exact optimum of the enumeration, tie-break included: fewer
cycles, fewer PEs, fewer DRAM words, then the candidate order (dataflow os < ws
< is, fewer rows, smaller split (i, j)).

With ``dataflow="per-layer"`` and the ``cycles`` or ``energy`` objective each
layer takes its own best dataflow (ties: fewer cycles, fewer DRAM words,
os < ws < is); with ``edp`` the per-layer choice is not separable, and the
exact choice is found on the Pareto front of (energy, cycles) sums over the
layers' three options (the product is monotone in both, so its minimum lies
on that front).
"""

from __future__ import annotations

import numpy as np

from airchitect.targets.systolic.config import DATAFLOWS
from airchitect.targets.systolic.memory.splits import PARTS as SIXTEENTHS

#: first batch of candidates simulated, and the largest batch
FIRST_BATCH, MAX_BATCH = 8, 256
#: most USER-mode simulations one exact co-design may run (a network's distinct
#: layers x candidates); past it the search stops with a ValueError
MAX_SIMULATIONS = 20_000_000
FIGURES = ("cycles", "energy", "dram_words")
#: most (distinct layer, candidate, dataflow) entries of one search (about 60 bytes each
#: while it runs: bounds, exact figures, flags), about 1 GB at the limit
MAX_ENTRIES = 2**24
#: most (layer, candidate) pairs whose bounds one call of ``walked_bounds`` tightens
#: (about 700 bytes each while it runs: about 180 MB)
TIGHTEN_CHUNK = 2**18


def check_entries(n_layers, n_candidates, what="the exact search"):
    """Refuse a search over more than :data:`MAX_ENTRIES` (layer, candidate) entries."""
    if n_layers * n_candidates > MAX_ENTRIES:
        raise ValueError(f"codesign: {what} would hold {n_layers} distinct layers x {n_candidates} "
                         f"candidates, more than MAX_ENTRIES = {MAX_ENTRIES}; narrow the space or "
                         f"split the network")


def _objective(figures, objective):
    if objective == "edp":
        return figures["energy"] * figures["cycles"]
    return figures[objective].astype(np.float64)


class Candidates:
    """The hardware candidates of a task's space and their labels.

    ``labels`` is ``(H, D)``: the task labels of each candidate, one column per
    dataflow it may run (``D = 1`` shared, 3 per-layer; -1 where the space lacks one).
    """

    def __init__(self, task, max_macs, per_layer):
        s = task._space_arrays()
        allowed = np.flatnonzero(s["pes"] <= max_macs)
        if not allowed.size:
            raise ValueError(f"max_macs = {max_macs}: no configuration of the space fits the budget")
        if not per_layer:
            self.labels = allowed[:, None]
        else:
            keys = np.stack([s["rows"][allowed], s["cols"][allowed], s["i"][allowed], s["j"][allowed]], 1)
            hw, inverse = np.unique(keys, axis=0, return_inverse=True)
            labels = np.full((len(hw), len(DATAFLOWS)), -1, dtype=np.int64)
            labels[inverse.ravel(), s["code"][allowed]] = allowed
            # label order of the space: by PEs, then dataflow, rows, i, j -> order the hardware by
            # its first label
            first = np.where(labels >= 0, labels, np.iinfo(np.int64).max).min(axis=1)
            self.labels = labels[np.argsort(first, kind="stable")]
        some = self.labels.max(axis=1)  # a label of each candidate: one rows x cols
        self.pes = s["pes"][some]
        # candidates of the same array (rows, cols and dataflows) share an id
        keys = np.stack([s["rows"][some], s["cols"][some]]
                        + [np.where(self.labels[:, d] >= 0, s["code"][self.labels[:, d]], -1)
                           for d in range(self.labels.shape[1])], 1)
        self.array = np.unique(keys, axis=0, return_inverse=True)[1].reshape(-1)

    def __len__(self):
        return len(self.labels)


def _combine(per_layer_figures, counts, objective, per_layer):
    """Network figures of candidates from per-layer figures ``(n_layers, H, D)``.

    Returns (figures dict of ``(H,)`` arrays, chosen dataflow column ``(n_layers, H)``).
    """
    cyc = per_layer_figures["cycles"].astype(np.float64)
    en = per_layer_figures["energy"].astype(np.float64)
    dram = per_layer_figures["dram_words"].astype(np.float64)
    w = counts.astype(np.float64)[:, None, None]
    if not per_layer:
        choice = np.zeros(cyc.shape[:2], dtype=np.int64)
    elif objective in ("cycles", "energy"):
        main = cyc if objective == "cycles" else en
        # lexicographic per layer: objective, cycles, DRAM words, then the dataflow order
        live = np.ones(cyc.shape, dtype=bool)
        for key in (main, cyc, dram):
            masked = np.where(live, key, np.inf)
            live &= masked == masked.min(axis=2, keepdims=True)
        choice = np.argmax(live, axis=2)
    else:
        choice = _edp_choice(cyc, en, dram, w[:, 0, 0])
    pick = lambda a: np.take_along_axis(a, choice[:, :, None], axis=2)[:, :, 0]  # noqa: E731
    figures = {"cycles": layer_sum(w[:, 0, 0], pick(cyc)), "energy": layer_sum(w[:, 0, 0], pick(en)),
               "dram_words": layer_sum(w[:, 0, 0], pick(dram))}
    return figures, choice


def layer_sum(counts, values):
    """``sum(counts[l] x values[l])`` over layers ``l`` of ``values`` ``(n_layers, H)``,
    added layer by layer: the same floating-point sum whichever candidates share the call."""
    total = np.zeros(values.shape[1])
    for count, row in zip(counts, values):
        total += count * row
    return total


def _edp_choice(cyc, en, dram, counts):
    """Per-layer dataflow columns minimising ``sum(E) x sum(T)`` exactly (Pareto sums)."""
    n_layers, H, D = cyc.shape
    choice = np.zeros((n_layers, H), dtype=np.int64)
    for h in range(H):
        # front: list of (E, T, DRAM, choices tuple); start from the empty sum
        front = [(0.0, 0.0, 0.0, ())]
        for layer in range(n_layers):
            c = counts[layer]
            grown = [(e + c * en[layer, h, d], t + c * cyc[layer, h, d], w + c * dram[layer, h, d],
                      ch + (d,)) for e, t, w, ch in front for d in range(D)
                     if np.isfinite(cyc[layer, h, d])]
            grown.sort(key=lambda p: (p[0], p[1], p[2], p[3]))
            front, best_t = [], np.inf
            for p in grown:  # keep the points no other point beats in both E and T
                if p[1] < best_t:
                    front.append(p)
                    best_t = p[1]
        best = min(front, key=lambda p: (p[0] * p[1], p[1], p[2], p[3]))
        choice[:, h] = best[3]
    return choice


def largest_open_layers(done, share, candidates):
    """(layer, candidate) pairs to simulate next: of every candidate, the half (at least
    one) of its unsimulated layers with the largest ``share`` (``(n_layers, n)``)."""
    layers, owners = [], []
    for h in candidates:
        todo = np.flatnonzero(~done[:, h])
        take = todo[np.argsort(-share[todo, h], kind="stable")][: max(1, -(-todo.size // 2))]
        layers.append(take)
        owners.append(np.full(take.size, h))
    return np.concatenate(layers), np.concatenate(owners)


def _bound_values(lb, ex, done):
    """Per-layer values of every figure, ``(n_layers, H)``: the exact value where the
    layer was simulated (its best dataflow's, shared: the only one) and the bound
    elsewhere; with several dataflows, each figure's smallest over them (a bound)."""
    out = {}
    for name in FIGURES:
        value = np.where(done[:, :, None], ex[name], lb[name])
        out[name] = value.min(axis=2)
    return out


def _refuse(task, inputs, labels, can):
    """Stop the search: candidate ``labels`` (one per dataflow) cannot be ruled out by
    its bound and some layer cannot simulate it (``can``: ``(layers, dataflows)``)."""
    from airchitect.targets.systolic.simulate import USER_ROWS_LIMIT

    layer, column = np.argwhere(~can)[0]
    label, s = int(labels[column]), task.space_columns()
    row = inputs.iloc[layer]
    raise ValueError(
        f"codesign: the exact search cannot rule out configuration {label} ({s['rows'][label]} x "
        f"{s['cols'][label]} {s['dataflow'][label]}) by its bound, and layer M, N, K = {row.M}, {row.N}, "
        f"{row.K} on it needs more than USER_ROWS_LIMIT = {USER_ROWS_LIMIT:.0e} demand rows to simulate; "
        f"split that layer, or use method='model' (configurations every layer can simulate)")


def walk_bounds(task, inputs, rows, labels, lb, at):
    """Raise every bound array of ``lb`` at index ``at`` (a tuple of ``(p,)`` arrays) to
    :meth:`CodesignTask.walked_bounds`' of the pairs (row ``rows[p]`` of ``inputs``,
    ``labels[p]``), in chunks of :data:`TIGHTEN_CHUNK` pairs (pairs of one array next to
    each other share its walks)."""
    for start in range(0, rows.size, TIGHTEN_CHUNK):
        part = slice(start, start + TIGHTEN_CHUNK)
        tight = task.walked_bounds(inputs.iloc[rows[part]].reset_index(drop=True), labels[part])
        index = tuple(a[part] for a in at)
        for name, values in lb.items():
            values[index] = np.maximum(values[index], tight[name])


def _tighten(task, inputs, safe, valid, lb, layers, hw):
    """Raise the bounds ``lb`` of pairs (``layers[p]``, candidate ``hw[p]``), every
    dataflow column of the candidate, to :meth:`CodesignTask.walked_bounds`'."""
    D = safe.shape[1]
    rows, cols = np.repeat(layers, D), np.tile(np.arange(D), layers.size)
    owners = np.repeat(hw, D)
    ok = valid[owners, cols]
    rows, cols, owners = rows[ok], cols[ok], owners[ok]
    walk_bounds(task, inputs, rows, safe[owners, cols], lb, (rows, owners, cols))


def search_network(task, inputs, counts, *, objective, per_layer, k=1, max_simulations=MAX_SIMULATIONS,
                   walk=True):
    """The ``k`` best candidates of a network, exactly; see the module docstring.

    Best first with lazy refinement: a candidate's bound is the count-weighted sum
    over layers of the exact figure where that layer was simulated and the
    layer's lower bound elsewhere. The candidates with the smallest bound keys
    get their largest unsimulated layers simulated, in batches, until the
    ``k`` smallest keys belong to fully simulated candidates. Before a candidate
    is first simulated, the bounds of every layer of every candidate of the same
    array (rows, cols, dataflows) are tightened by walking their read buffers to
    the end (:meth:`CodesignTask.walked_bounds`; one walk per layer, array and
    buffer size, shared by the splits), and the order is taken again: most
    candidates the walks push back are never simulated.

    Parameters
    ----------
    task : CodesignTask
    inputs : pandas.DataFrame
        Validated task rows, one per distinct layer (same ``max_macs``,
        ``sram_kb``, ``bandwidth``).
    counts : ndarray of int
        Repeat count of each row.
    objective : {"cycles", "energy", "edp"}
    per_layer : bool
        Each layer picks its dataflow (True) or all share the candidate's.
    k : int
        How many of the best candidates to return, in order.
    walk : bool
        Tighten bounds by walking (True), or only those of the (layer, candidate)
        pairs that cannot simulate (False, the search before the walks; for
        comparisons).

    Returns
    -------
    dict
        ``best``: list of ``k`` dicts (``candidate``, ``labels`` per layer,
        ``cycles``, ``energy``, ``edp``, ``dram_words``, ``pes``,
        ``layer_cycles``, ``layer_energy``); ``simulations``; ``candidates``.
    """
    cand = Candidates(task, int(inputs["max_macs"].iloc[0]), per_layer)
    n_layers, (H, D) = len(inputs), cand.labels.shape
    check_entries(n_layers, H * D)
    valid = cand.labels >= 0
    safe = np.where(valid, cand.labels, 0)
    grid = np.broadcast_to(safe.reshape(1, -1), (n_layers, safe.size))
    b = task.bounds(inputs, grid)
    # a candidate some layer of which simulate refuses (USER_ROWS_LIMIT) is never refined:
    # it must be ruled out by its bound, or the search stops naming the pair
    can = task.simulable(inputs, grid).reshape(n_layers, H, D) | ~valid[None]
    blocked = ~can.all(axis=(0, 2))
    is_final = np.zeros(H, dtype=bool)
    lb, ex = {}, {}
    for name in FIGURES:
        lb[name] = np.where(valid[None], b[name].reshape(n_layers, H, D).astype(np.float64), np.inf)
        ex[name] = np.full((n_layers, H, D), np.inf)
    # (layer, candidate) pairs whose bounds were tightened by walking (all of them where
    # the task cannot walk; with walk false, all but the pairs that cannot simulate)
    walked = np.full((n_layers, H), task.parts != SIXTEENTHS)
    if not walk:
        walked |= can.all(axis=2)
    done = np.zeros((n_layers, H), dtype=bool)
    w = counts.astype(np.float64)[:, None]
    pes, index = cand.pes.astype(np.float64), np.arange(H, dtype=np.float64)
    final = {}  # candidate -> (true key, record)
    best, sims, batch = [], 0, FIRST_BATCH
    while True:
        values = _bound_values(lb, ex, done)
        net = {name: layer_sum(counts, values[name]) for name in FIGURES}
        cost = net["energy"] * net["cycles"] if objective == "edp" else net[objective]
        keys = [cost, net["cycles"], pes, net["dram_words"], index]
        for h, (key, _) in final.items():  # fully simulated: the true key
            for column, value in zip(keys, key):
                column[h] = value
        order = np.lexsort(keys[::-1])
        best = [final[h] for h in order[:k] if h in final]
        if len(best) == k and is_final[order[:k]].all():
            break
        # the first candidates not yet final: walk their pairs' read buffers first (a bound
        # closer to the simulation, shared by every split of the same buffer sizes), so that
        # the candidates the walks push back are never simulated
        open_ = list(order[~is_final[order] & ~blocked[order]][:batch])
        front = np.union1d(np.asarray(open_, dtype=np.int64), order[~is_final[order]][:k])
        if not walked[:, front].all():  # every split of their arrays: the walks are shared
            front = np.flatnonzero(np.isin(cand.array, cand.array[front]))
            loose = np.argwhere(~walked[:, front])
            _tighten(task, inputs, safe, valid, lb, loose[:, 0], front[loose[:, 1]])
            walked[:, front] = True
            continue
        stuck = np.flatnonzero(blocked[order[:k]])
        if stuck.size and is_final[order[:stuck[0]]].all():
            _refuse(task, inputs, cand.labels[order[stuck[0]]], can[:, order[stuck[0]]])
        # simulate the largest unsimulated layers of the first candidates not yet final
        share = w * values["cycles" if objective == "cycles" else "energy"]
        layers_, hw = largest_open_layers(done, share, open_)
        rows = np.repeat(layers_, D)
        cols = np.tile(np.arange(D), layers_.size)
        labels = cand.labels[np.repeat(hw, D), cols]
        ok = labels >= 0
        sims += int(ok.sum())
        if sims > max_simulations:
            raise ValueError(f"codesign: the exact search needs more than MAX_SIMULATIONS = "
                             f"{max_simulations} USER-mode simulations; narrow the space or the network")
        sim = task.simulate(inputs.iloc[rows[ok]].reset_index(drop=True), labels[ok])
        for name, key in (("cycles", "total_cycles"), ("energy", "energy_pj"), ("dram_words", "dram_words")):
            ex[name][rows[ok], np.repeat(hw, D)[ok], cols[ok]] = sim[key]
        done[layers_, hw] = True
        finished = [h for h in open_ if done[:, h].all()]
        if finished:
            figures, choice = _combine({name: ex[name][:, finished, :] for name in FIGURES}, counts,
                                       objective, per_layer)
            value = _objective(figures, objective)
            for slot, h in enumerate(finished):
                key = (float(value[slot]), float(figures["cycles"][slot]), float(pes[h]),
                       float(figures["dram_words"][slot]), float(h))
                pick = choice[:, slot]
                is_final[h] = True
                final[h] = (key, {
                    "candidate": int(h), "labels": cand.labels[h][pick],
                    "cycles": figures["cycles"][slot], "energy": figures["energy"][slot],
                    "edp": figures["energy"][slot] * figures["cycles"][slot],
                    "dram_words": figures["dram_words"][slot], "pes": int(cand.pes[h]),
                    "layer_cycles": ex["cycles"][np.arange(n_layers), h, pick],
                    "layer_energy": ex["energy"][np.arange(n_layers), h, pick]})
        batch = min(2 * batch, MAX_BATCH)
    return {"best": [record for _, record in best], "simulations": sims, "candidates": H}

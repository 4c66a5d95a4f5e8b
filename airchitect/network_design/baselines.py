"""The searches a user would run instead: Optuna samplers on the exact network cost.

:func:`optuna_search` drives one of Optuna's samplers (``random``, ``tpe``,
``nsga2``, ``gp``) over the same space and the same exact cost as
:func:`airchitect.network_design.codesign`: each trial picks an array shape
(rows x cols within the PE budget), a dataflow and an SRAM split, and is
scored by simulating every distinct layer of the network (USER mode, exact).
A GEMM is a network of one layer. The result records the best configuration
found after every trial, so quality can be read against the number of exact
evaluations.

Examples
--------
>>> out = optuna_search({"M": [64], "N": [64], "K": [64]}, max_macs=256, sram_kb=32,
...                     bandwidth=4, sampler="random", n_trials=8, seed=0)
>>> len(out["trace"]), out["evaluations"]
(8, 8)
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_int
from airchitect.network_design.exact import layer_sum

SAMPLERS = ("random", "tpe", "nsga2", "gp")
#: most trials of one search (each simulates every distinct layer once)
MAX_TRIALS = 10_000

#: folds each walk of the split-stall estimate visits before it extends the stall's
#: growth linearly: a large layer's buffers often stall only once their first fill is
#: spent, past the 128 folds the per-workload models walk (VGG16's 50176 x 64 x 576 on
#: a 4 x 32 os array stalls 14.0 M cycles, none in its first 128 folds)
ESTIMATE_FOLDS = 4096


def _sampler(name, seed):
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    return optuna.samplers.GPSampler(seed=seed)


def network_inputs(task, network, max_macs, sram_kb, bandwidth, input_shape=None, input_dtype=None):
    """A network's distinct layers as the task's validated rows under one budget,
    and their repeat counts: ``(inputs, counts)``. ``network`` is what
    :func:`airchitect.network_design.layers.network_layers` takes (or its result,
    or a dict of columns)."""
    from airchitect.network_design.layers import NetworkLayers, layer_inputs, network_layers

    if isinstance(network, dict):
        network = pd.DataFrame(network)
    if not isinstance(network, NetworkLayers):
        network = network_layers(network, input_shape, input_dtype=input_dtype)
    inputs = layer_inputs(task, network, max_macs, sram_kb, bandwidth)
    return inputs, network.table["count"].to_numpy(np.int64)


def estimate_choice(task, inputs, counts, k=1, max_folds=None):
    """The ``k`` configurations of least count-weighted split-stall estimate of the
    network's cycles (:meth:`airchitect.tasks.codesign.CodesignTask.split_estimate`),
    best first: the estimate alone, nothing learned, the baseline of the network
    model's cycle predictions. ``inputs``: the validated distinct layers (one budget);
    ``counts`` their repeats. Returns the labels, ``(k,)`` int64.

    Work: one estimate per (layer, array within the budget), each walking every
    buffer at its 14 sizes, at most ``max_folds`` folds that may miss per walk
    (default: the network model's,
    :data:`ESTIMATE_FOLDS`).
    """
    n_splits = task.factors[1]
    arrays = np.flatnonzero(task.array_allowed(inputs.iloc[:1])[0])
    table = task.split_estimate(inputs, arrays, max_folds or ESTIMATE_FOLDS)
    total = np.asarray(counts, dtype=np.float64) @ table.reshape(len(inputs), -1)
    labels = (arrays[:, None] * n_splits + np.arange(n_splits)[None, :]).ravel()
    return labels[np.lexsort((labels, total))[:k]]


def every_layer_simulates(task, inputs, labels):
    """Whether every layer (row of ``inputs``) can simulate each of ``labels`` (one per
    candidate, ``(n,)`` bool): :meth:`~airchitect.tasks.codesign.CodesignTask.simulable`
    on all rows."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    return task.simulable(inputs, np.broadcast_to(labels, (len(inputs), labels.size))).all(axis=0)


def network_cost(task, inputs, counts, labels, objective):
    """Exact network figures of task ``labels`` (one per candidate): a dict of ``(n,)``
    arrays ``cycles``, ``energy``, ``edp``, ``dram_words`` and ``cost``, and the
    per-layer ``layer_cycles`` and ``layer_energy`` (``(layers, n)``); simulates every
    distinct layer of every candidate (USER mode)."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    sim = task.simulate(inputs, np.broadcast_to(labels, (len(inputs), labels.size)))
    # summed as the exact search sums them: a candidate's figures do not depend on the others'
    w = np.asarray(counts, dtype=np.float64)
    out = {"cycles": layer_sum(w, sim["total_cycles"]), "energy": layer_sum(w, sim["energy_pj"]),
           "dram_words": layer_sum(w, sim["dram_words"]),
           "layer_cycles": sim["total_cycles"], "layer_energy": sim["energy_pj"]}
    out["edp"] = out["energy"] * out["cycles"]
    out["cost"] = out[objective]
    return out


def optuna_search(network, *, max_macs, sram_kb, bandwidth, objective="cycles", sampler="tpe",
                  n_trials=128, seed=0, task=None, input_shape=None, input_dtype=None):
    """Search the network's accelerator with an Optuna sampler; see the module docstring.

    Parameters
    ----------
    network, max_macs, sram_kb, bandwidth, objective, input_shape, input_dtype, task :
        As :func:`airchitect.network_design.codesign` (shared dataflow).
    sampler : {"random", "tpe", "nsga2", "gp"}
    n_trials : int
        Exact network evaluations, 1..10,000 (a repeated configuration is
        evaluated again, as a user's loop would).
    seed : int

    Returns
    -------
    dict
        ``label`` and ``cost`` of the best trial, ``trace`` (the best cost after
        each trial), ``evaluations`` (= ``n_trials``), ``wall_s`` (seconds).
    """
    import optuna

    from airchitect.network_design import _task, check_budgets

    check_choice("sampler", sampler, SAMPLERS)
    check_choice("objective", objective, ("cycles", "energy", "edp"))
    n_trials = check_int("n_trials", n_trials, 1, MAX_TRIALS)
    check_budgets(max_macs, sram_kb, bandwidth)
    task = _task(task)
    inputs, counts = network_inputs(task, network, max_macs, sram_kb, bandwidth, input_shape,
                                    input_dtype)
    s = task._space_arrays()
    allowed = np.flatnonzero(s["pes"] <= max_macs)
    if not allowed.size:
        raise ValueError(f"max_macs = {max_macs}: no configuration of the space fits the budget")
    # a configuration some layer cannot simulate (USER_ROWS_LIMIT) scores inf, as a missing one
    simulable = every_layer_simulates(task, inputs, allowed)
    index = {(int(s["rows"][a]), int(s["cols"][a]), int(s["code"][a]), int(s["i"][a]),
              int(s["j"][a])): int(a) if ok else None for a, ok in zip(allowed, simulable)}
    shapes = sorted({f"{r}x{c}" for r, c, *_ in index})
    flows = sorted({code for _, _, code, _, _ in index})
    splits = sorted({f"{i},{j}" for *_, i, j in index})
    from airchitect.targets.systolic.config import DATAFLOWS

    def objective_fn(trial):
        rows, cols = map(int, trial.suggest_categorical("shape", shapes).split("x"))
        code = DATAFLOWS.index(trial.suggest_categorical("dataflow", [DATAFLOWS[c] for c in flows]))
        i, j = map(int, trial.suggest_categorical("split", splits).split(","))
        label = index.get((rows, cols, code, i, j))
        if label is None:  # a user space may lack a combination, or a layer cannot simulate it
            return float("inf")
        trial.set_user_attr("label", label)
        return float(network_cost(task, inputs, counts, [label], objective)["cost"][0])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    study = optuna.create_study(direction="minimize", sampler=_sampler(sampler, seed))
    study.optimize(objective_fn, n_trials=n_trials)
    values = np.array([t.value for t in study.trials], dtype=np.float64)
    best = study.best_trial
    return {"label": int(best.user_attrs.get("label", -1)), "cost": float(best.value),
            "trace": np.minimum.accumulate(values), "evaluations": len(study.trials),
            "wall_s": time.perf_counter() - start, "sampler": sampler}

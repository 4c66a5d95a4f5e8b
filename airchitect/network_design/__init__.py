"""One accelerator for a whole network: array, dataflow and SRAM split together.

:func:`codesign` answers the architect's question for a network (a name, a GEMM
table or a ``torch.nn.Module``): the systolic array (rows x cols), dataflow and
SRAM split that minimise the network's SCALE-Sim 3.0.0 USER-mode cycles,
energy or energy-delay product under a PE budget, an SRAM total and a DRAM
bandwidth, found exactly by branch and bound (:mod:`airchitect.network_design.exact`)
over the ``codesign`` task's space (:mod:`airchitect.tasks.codesign`).
:func:`network_on_config` costs the user's own design (a SCALE-Sim config) on the
same network with the same model, to set beside the optimum.

Examples
--------
>>> import airchitect as ac
>>> table = {"M": [64, 128], "N": [64, 32], "K": [32, 64], "count": [2, 1]}
>>> result = ac.codesign(table, max_macs=256, sram_kb=64, bandwidth=4)
>>> result.config["rows"] * result.config["cols"] <= 256
True
"""

from __future__ import annotations

import functools
import numbers
import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_int
from airchitect.network_design.design import network_on_config
from airchitect.network_design.exact import MAX_SIMULATIONS, search_network
from airchitect.network_design.layers import NetworkLayers, layer_inputs, network_layers

__all__ = ["CodesignResult", "codesign", "network_layers", "network_on_config"]

METHODS = ("exact", "model")
DATAFLOW_MODES = ("shared", "per-layer")
#: most configurations :func:`codesign` returns with ``k``
MAX_K = 1000


@dataclass
class CodesignResult:
    """The answer of :func:`codesign`.

    Attributes
    ----------
    config : dict
        ``rows, cols, pes, dataflow`` (a name, or ``"per-layer"``), ``ifmap_kb,
        filter_kb, ofmap_kb`` (kB) of the best accelerator.
    cycles, energy_pj, edp, dram_words : float
        The network's figures on it: count-weighted sums over the layers of
        USER-mode total cycles, energy (pJ) and DRAM words; ``edp = energy_pj x cycles``.
    layers : pandas.DataFrame
        One row per distinct GEMM: ``layers`` (the layer names merged into it),
        ``rows_merged``, ``M, N, K, count``, ``dataflow`` it runs,
        ``cycles`` and ``energy_pj`` of one run, and with
        ``per_layer_optima=True`` the layer's own optimum over the whole space
        (``best_alone``, in the objective's unit; ``best_alone_config``).
    top : pandas.DataFrame
        The ``k`` best configurations in order, ``rank`` from 1 (as
        :func:`airchitect.recommend` counts), with their network figures.
    network : str
    merged : int
        Input rows merged into another identical GEMM (``n_rows - len(layers)``).
    simulations : int
        USER-mode layer simulations run (``candidates x distinct layers`` of
        enumeration: ``enumeration``).
    enumeration : int
    wall_s : float
        Wall time of the call, in seconds.
    objective : str
    pareto : pandas.DataFrame or None
        With ``pareto=True``: the exact Pareto front of (cycles, energy, PEs,
        SRAM) under the budgets (:func:`airchitect.network_design.pareto.pareto_front`),
        one row per point -- ``rows, cols, pes, dataflow, sram_kb, ifmap_kb,
        filter_kb, ofmap_kb, cycles, energy_pj, edp`` -- sorted by cycles;
        ``extra`` then holds ``pareto_simulations``, ``pareto_enumeration``,
        ``pareto_sram_totals`` and ``optimum_on_front`` (whether ``config`` is a
        front point).
    """

    config: dict
    cycles: float
    energy_pj: float
    edp: float
    dram_words: float
    layers: pd.DataFrame
    top: pd.DataFrame
    network: str
    merged: int
    simulations: int
    enumeration: int
    wall_s: float
    objective: str
    extra: dict = field(default_factory=dict)
    pareto: pd.DataFrame | None = None

    @property
    def cost(self):
        """The objective's value (cycles, pJ or pJ x cycles)."""
        return {"cycles": self.cycles, "energy": self.energy_pj, "edp": self.edp}[self.objective]

    def summary(self):
        """A one-line description."""
        c = self.config
        return (f"{self.network}: {c['rows']}x{c['cols']} {c['dataflow']}, SRAM {c['ifmap_kb']}/"
                f"{c['filter_kb']}/{c['ofmap_kb']} kB: {self.cycles:.0f} cycles, "
                f"{self.energy_pj:.4g} pJ ({self.simulations} simulations, {self.wall_s:.2f} s)")


@functools.lru_cache(maxsize=1)
def _shipped_model():
    from airchitect.network_design.model import NetworkModel

    return NetworkModel.load()


def _network_model(model):
    """``model`` as a NetworkModel: the shipped one for None, loaded from a directory."""
    from airchitect.network_design.model import NetworkModel

    if model is None:
        return _shipped_model()
    if isinstance(model, (str, os.PathLike)):
        return NetworkModel.load(model)
    if not isinstance(model, NetworkModel):
        raise TypeError(f"model must be a NetworkModel or a saved model's directory, "
                        f"got {type(model).__name__}")
    return model


def check_budgets(max_macs, sram_kb, bandwidth):
    """Refuse a budget that is not one integer (the task's validation checks its range)."""
    for name, value in (("max_macs", max_macs), ("sram_kb", sram_kb), ("bandwidth", bandwidth)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be one integer, got {type(value).__name__} {value!r}")


def _task(task):
    from airchitect.tasks import get
    from airchitect.tasks.codesign import CodesignTask

    task = get("codesign") if task is None else (get(task) if isinstance(task, str) else task)
    if not isinstance(task, CodesignTask):
        raise TypeError(f"task must be a codesign task, got {type(task).__name__}")
    return task


def _config(task, inputs, labels, per_layer):
    space = task.space_columns()
    first = int(labels[0])
    sram = int(inputs["sram_kb"].iloc[0])
    config = {"rows": int(space["rows"][first]), "cols": int(space["cols"][first]),
              "pes": int(space["pes"][first]),
              "dataflow": "per-layer" if per_layer else str(space["dataflow"][first])}
    for column, part in zip(("ifmap_kb", "filter_kb", "ofmap_kb"), "ijk"):
        config[column] = sram * int(space[part][first]) // task.parts
    return config


def _top(task, inputs, best, per_layer):
    rows = []
    for rank, record in enumerate(best, start=1):
        config = _config(task, inputs, record["labels"], per_layer)
        rows.append({"rank": rank, **config, "cycles": record["cycles"],
                     "energy_pj": record["energy"], "edp": record["edp"],
                     "dram_words": record["dram_words"]})
    return pd.DataFrame(rows)


def _pareto_totals(pareto):
    """``pareto`` checked: False (no front), None (the default ladder) or a list of totals."""
    if isinstance(pareto, (bool, np.bool_)):
        return None if pareto else False
    if isinstance(pareto, (list, tuple, np.ndarray)):
        return [int(v) if isinstance(v, np.integer) else v for v in pareto]
    raise TypeError(f"pareto must be a bool or a list of SRAM totals (kB), got {type(pareto).__name__}")


def _add_front(result, task, inputs, counts, sram_totals, max_simulations):
    """Attach the exact Pareto front to ``result`` (see :func:`codesign`)."""
    from airchitect.network_design.pareto import pareto_front

    found = pareto_front(task, inputs, counts, sram_totals=sram_totals, max_simulations=max_simulations)
    front = found["table"].drop(columns="label")
    c = result.config
    sram = c["ifmap_kb"] + c["filter_kb"] + c["ofmap_kb"]
    on = ((front["rows"] == c["rows"]) & (front["cols"] == c["cols"])
          & (front["dataflow"] == c["dataflow"]) & (front["sram_kb"] == sram)
          & (front["ifmap_kb"] == c["ifmap_kb"]) & (front["filter_kb"] == c["filter_kb"]))
    result.pareto = front
    result.extra.update(pareto_simulations=found["simulations"], pareto_enumeration=found["enumeration"],
                        pareto_sram_totals=found["totals"], optimum_on_front=bool(on.any()))


def codesign(network, *, max_macs, sram_kb, bandwidth, objective="cycles", method="exact", k=1,
             pareto=False, dataflow="shared", input_shape=None, batch=1, per_layer_optima=False,
             task=None, max_simulations=MAX_SIMULATIONS, model=None, input_dtype=None):
    """The best accelerator for a whole network; see the module docstring.

    Parameters
    ----------
    network : str, path, pandas.DataFrame, dict of columns, Topology or torch.nn.Module
        A name from :data:`airchitect.workloads.NETWORKS`, a GEMM table with
        columns ``M, N, K`` (and optionally ``net, layer, count``; a CSV path
        or a DataFrame), a SCALE-Sim topology (:func:`airchitect.systolic.read_topology`;
        conv layers as the GEMMs SCALE-Sim maps them to), or a module traced
        with ``input_shape``.
    max_macs : int
        PE budget, one of the task's budgets (2^8..2^16 by default).
    sram_kb : int
        Total SRAM in kB (a multiple of 16 in 16..4096 by default), split three ways.
    bandwidth : int
        DRAM bandwidth in words/cycle (all operands).
    objective : {"cycles", "energy", "edp"}
    method : {"exact", "model"}
        ``exact``: branch and bound over network lower bounds. ``model``: the
        learned network model (:mod:`airchitect.network_design.model`) ranks the
        space and the best of its ``k`` best is found by exact evaluation (at
        most ``k`` network evaluations: a candidate whose network lower bound
        exceeds the best cost found is skipped; ``extra["evaluated"]`` says how
        many ran; ``k=1`` is the prediction alone); shared dataflow, no
        ``pareto``.
    k : int
        How many of the best configurations ``top`` lists (1..1000); with
        ``method="model"``, how many of the model's best are candidates (``top``
        lists those evaluated).
    pareto : bool or list of int
        Also find the exact Pareto front of (cycles, energy, PEs, SRAM) over every
        configuration with ``rows x cols <= max_macs`` and every SRAM total of
        :func:`~airchitect.network_design.pareto.sram_ladder` (or of the list
        given, kB, each a multiple of the task's ``parts`` up to ``sram_kb``);
        shared dataflow only. Its simulations count against ``max_simulations``
        on their own.
    dataflow : {"shared", "per-layer"}
        One dataflow for the network, or each layer's own.
    input_shape : tuple of int
        Example input shape of a module.
    input_dtype : str or torch.dtype, optional
        A module's input dtype: ``"float32"`` (default) or ``"int64"`` for
        token ids (any of :data:`airchitect.workloads.trace.INPUT_DTYPES`).
    per_layer_optima : bool
        Also search every layer's own optimum (one exact search per distinct layer);
        their simulations count against ``max_simulations`` (checked between layers).
    task : CodesignTask, optional
        A user's codesign space (``ac.tasks.get("codesign", ...)``).
    max_simulations : int
        Work bound: most USER-mode layer simulations (default 2e7).
    model : path or NetworkModel, optional
        With ``method="model"``: a saved network model (default: the shipped one).

    Returns
    -------
    CodesignResult
    """
    start = time.perf_counter()
    check_choice("objective", objective, ("cycles", "energy", "edp"))
    check_choice("method", method, METHODS)
    check_choice("dataflow", dataflow, DATAFLOW_MODES)
    sram_totals = _pareto_totals(pareto)
    if method == "model" and (dataflow != "shared" or sram_totals is not False):
        raise ValueError("method='model' searches one shared dataflow without pareto; "
                         "use method='exact' for dataflow='per-layer' or pareto")
    if model is not None and method != "model":
        raise ValueError("model is for method='model'")
    if sram_totals is not False and dataflow == "per-layer":
        raise ValueError("pareto: the front is searched with dataflow='shared' only, got 'per-layer'")
    k = check_int("k", k, 1, MAX_K)
    if not isinstance(per_layer_optima, (bool, np.bool_)):
        raise TypeError(f"per_layer_optima must be true or false, got {per_layer_optima!r}")
    check_budgets(max_macs, sram_kb, bandwidth)
    max_simulations = check_int("max_simulations", max_simulations, 1, 10**12)
    task = _task(task)
    if isinstance(network, dict):
        network = pd.DataFrame(network)
    layers = network if isinstance(network, NetworkLayers) else network_layers(
        network, input_shape, batch=batch, input_dtype=input_dtype)
    table = layers.table
    inputs = layer_inputs(task, layers, max_macs, sram_kb, bandwidth)
    counts = table["count"].to_numpy(np.int64)
    per_layer = dataflow == "per-layer"
    if method == "model":
        from airchitect.network_design.model import search_with_model

        found = search_with_model(_network_model(model), task, inputs, counts, objective=objective, k=k)
    else:
        found = search_network(task, inputs, counts, objective=objective, per_layer=per_layer, k=k,
                               max_simulations=max_simulations)
    best = found["best"][0]
    config = _config(task, inputs, best["labels"], per_layer)
    space = task.space_columns()
    out = pd.DataFrame({"layers": table["layers"], "rows_merged": table["rows"], "M": table["M"],
                        "N": table["N"], "K": table["K"], "count": table["count"],
                        "dataflow": np.asarray(space["dataflow"])[best["labels"]],
                        "cycles": best["layer_cycles"], "energy_pj": best["layer_energy"]})
    if per_layer_optima:
        alone, alone_config = [], []
        left = max_simulations - int(found["simulations"])
        for r in range(len(inputs)):
            if left <= 0:
                raise ValueError(f"max_simulations: the network search and the per-layer optima of "
                                 f"{r} of {len(inputs)} distinct layers used {max_simulations - left} "
                                 f"simulations, max_simulations = {max_simulations}; raise it or drop "
                                 f"per_layer_optima")
            found_r = task.search(objective=objective, runner_up=False,
                                  **{c: int(inputs[c].iloc[r]) for c in task.input_columns})
            left -= task.last_stats["simulations"]
            alone.append(found_r["cost"])
            alone_config.append(f"{found_r['rows']}x{found_r['cols']} {found_r['dataflow']} "
                                f"{found_r['ifmap_kb']}/{found_r['filter_kb']}/{found_r['ofmap_kb']}")
        out["best_alone"] = alone
        out["best_alone_config"] = alone_config
    n_candidates = found["candidates"] * (3 if per_layer else 1)
    result = CodesignResult(
        config=config, cycles=float(best["cycles"]), energy_pj=float(best["energy"]),
        edp=float(best["edp"]), dram_words=float(best["dram_words"]), layers=out,
        top=_top(task, inputs, found["best"], per_layer), network=layers.name,
        merged=int(layers.n_rows - len(table)), simulations=int(found["simulations"]),
        enumeration=int(n_candidates * len(inputs)), wall_s=time.perf_counter() - start,
        objective=objective)
    if method == "model":
        result.extra.update(method="model", scored=found["scored"], evaluated=found["evaluated"],
                            predicted=best["predicted"], model_rank=best["model_rank"])
    if sram_totals is not False:
        _add_front(result, task, inputs, counts, sram_totals, max_simulations)
        result.wall_s = time.perf_counter() - start
    return result

"""Re-ranking one GEMM's candidate configurations before exact simulation.

The per-workload ``codesign`` model (:mod:`airchitect.learn.factorised`) proposes
configurations from the workload alone and its scorer ranks only its few most
probable ones. The reranker, larger and trained on more pairs, orders a wider
pool (:data:`POOL`) by a learned correction of the split-stall estimate, as the
network model does for a network's layers
(:mod:`airchitect.network_design.model`), with five more features: each
buffer's stall alone, the second largest and their sum, over the stall-free
cycles (:meth:`~airchitect.tasks.codesign.CodesignTask.stall_parts`). The
estimate charges only the largest stall; buffers that stall together cost
more, and these features let the scorer learn by how much.

:func:`airchitect.recommend` on ``codesign`` reranks the shipped model's
:data:`POOL` best candidates with the shipped reranker and simulates the first
``k`` of them. The shipped reranker is trained by ``models/train_rerank.py``
on the candidates of sampled queries, simulated exactly.

Examples
--------
>>> import airchitect as ac
>>> task = ac.tasks.get("codesign")
>>> rows = task.validate({"M": [256], "N": [64], "K": [512], "max_macs": [4096],
...                       "sram_kb": [64], "bandwidth": [4]})
>>> labels = np.array([[100, 5000, 20000]])
>>> order = Reranker.load().order(task, rows, labels, "cycles")
>>> sorted(order[0].tolist()) == [100, 5000, 20000]
True
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from airchitect.learn.factorised import stall_features
from airchitect.network_design.model import N_ESTIMATE_FEATURES, PairModel, fit_scorer, network_features

#: features of a pair: the network model's but its energy estimate, then log2(1 + stall / stall-free cycles)
#: of the ifmap, filter and ofmap buffers, of the second largest and of their sum
N_RERANK_FEATURES = N_ESTIMATE_FEATURES + 5
#: candidates of the per-workload model that :func:`airchitect.recommend` reranks
POOL = 128
FORMAT = "airchitect-codesign-reranker"
SHIPPED = Path(__file__).resolve().parents[1] / "models" / "codesign" / "rerank"


def rerank_features(task, inputs, labels):
    """``(features (n x k, N_RERANK_FEATURES) float32, bounds, estimate)`` of the pairs
    (row ``r`` of the validated ``inputs``, ``labels[r, j]``), ``labels`` ``(n, k)``:
    the task's bounds and the split-stall estimate (cycles) each of ``labels``' shape."""
    bounds = task.bounds(inputs, labels)
    stalls, estimate = stall_features(task, inputs, labels, bounds["cycles"])
    base = network_features(task, inputs, labels, bounds, estimate)
    return np.concatenate([base, stalls[:, 1:]], axis=1), bounds, estimate


class Reranker(PairModel):
    """A trained pair scorer that orders a GEMM's candidate configurations: a
    :class:`~airchitect.network_design.model.PairModel` over
    :data:`N_RERANK_FEATURES` features (:func:`rerank_features`) that predicts the
    correction of the split-stall estimate and the energy's excess over its bound
    (log2). Parameters as ``PairModel``'s; ``task_definition`` is the codesign
    space it was trained for.
    """

    format_name, version, n_features, shipped, what = FORMAT, 1, N_RERANK_FEATURES, SHIPPED, "codesign reranker"

    def figures(self, task, inputs, labels):
        """Predicted ``(cycles, energy)`` (cycles, pJ) of configuration ``labels[r, j]``
        for row ``r`` of the validated ``inputs``, each of ``labels``' shape ``(n, k)``.
        The cycles are at least the task's cycle bound."""
        labels = np.asarray(labels, dtype=np.int64)
        features, bounds, estimate = rerank_features(task, inputs, labels)
        return self._figures(features, bounds, estimate, labels.shape)

    def order(self, task, inputs, labels, objective="cycles"):
        """``labels`` ``(n, k)`` with each row sorted by predicted ``objective``
        (``cycles``, ``energy`` or ``edp``), the smaller label first among equals."""
        labels = np.asarray(labels, dtype=np.int64)
        cycles, energy = self.figures(task, inputs, labels)
        cost = {"cycles": cycles, "energy": energy, "edp": cycles * energy}[objective]
        return np.take_along_axis(labels, np.lexsort((labels, cost), axis=1), axis=1)

    def applies_to(self, task):
        """Whether this reranker was trained for ``task``'s space."""
        return getattr(task, "name", None) == "codesign" and task.definition() == self.task_definition


@functools.lru_cache(maxsize=1)
def shipped_reranker():
    """The shipped :class:`Reranker`, loaded once per process."""
    return Reranker.load()


def rerank_pairs(task, inputs, labels):
    """Training pairs: the distinct configurations of each row of ``labels`` ``(n, k)``
    on that row of the validated ``inputs``, simulated exactly.

    Returns ``(features (m, N_RERANK_FEATURES), targets (m, 2))``: targets are
    ``log2(cycles / max(bound, estimate))`` and ``log2(energy / bound) >= 0``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    features, bounds, estimate = rerank_features(task, inputs, labels)
    by_label = np.argsort(labels, axis=1, kind="stable")
    ordered = np.take_along_axis(labels, by_label, axis=1)
    repeat = np.zeros(labels.shape, dtype=bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    keep = np.ones(labels.shape, dtype=bool)
    np.put_along_axis(keep, by_label, ~repeat, axis=1)
    r, j = np.nonzero(keep)
    sim = task.simulate(inputs.take(r).reset_index(drop=True), labels[r, j])
    base = np.maximum(np.maximum(bounds["cycles"][r, j], 1), estimate[r, j])
    delta = np.log2(np.maximum(sim["total_cycles"].astype(np.float64), 1) / base)
    over = np.log2(sim["energy_pj"] / np.maximum(np.asarray(bounds["energy"], np.float64)[r, j], 1e-300))
    targets = np.stack([delta, np.maximum(over, 0)], axis=1).astype(np.float32)
    return features[keep.ravel()], targets


def new_reranker(task, features, targets, *, width=256, epochs=10, seed=0, verbose=False, training=None):
    """A :class:`Reranker` for ``task`` fitted to the pairs of :func:`rerank_pairs`
    (unweighted smooth-L1 regression, :func:`~airchitect.network_design.model.fit_scorer`)."""
    scorer = fit_scorer(features, targets, np.ones(len(targets), np.float32), width=width, epochs=epochs,
                        seed=seed, verbose=verbose)
    return Reranker(scorer, task.definition(), training)


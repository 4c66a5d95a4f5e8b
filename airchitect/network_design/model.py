"""The learned network co-design model: a per-layer cost scorer pooled over the layers.

A network's cost on one accelerator is the count-weighted sum of its layers'
costs, so the model is a set model with count-weighted sum pooling: a neural
scorer corrects, for every (distinct layer, configuration) pair, the ``buffer``
task's split-stall estimate of the USER-mode cycles and the energy of the same
walks' DRAM reads (:meth:`airchitect.tasks.codesign.CodesignTask.split_estimate`
with ``energy``), each at least its closed-form lower bound
(:meth:`airchitect.tasks.codesign.CodesignTask.bounds`)::

    cycles(l, c) ~ max(bound(l, c), base(l, c) x 2 ** delta(l, c)),
        base(l, c) = max(bound(l, c), estimate(l, c))
    energy(l, c) ~ max(bound_energy(l, c), energy_estimate(l, c)) x 2 ** over_energy(l, c)
        (over >= 0)
    network cycles(c) ~ sum_l count_l x cycles(l, c)

and ``edp`` is the product of the network figures. The estimate walks each
buffer's misses, so it follows how a split's DRAM traffic jumps with the
buffer's set size (a filter swept 1.1 or 4 times as its buffer grows from 448
to 512 kB), which no smooth function of the sizes can; the scorer learns what
the estimate leaves out. Its features are those of the per-workload model
(:func:`airchitect.learn.factorised.pair_features`) and the estimate against
the bound (:func:`network_features`). Because every prediction is at least its
bound, configurations are scored in increasing order of their network bound and
the scan stops once the next bound exceeds the ``k``-th best predicted cost: the
model's own top ``k`` without scoring the whole space.

It is trained (``models/train_network.py``) on the exact figures of sampled
configurations of synthetic networks (:func:`airchitect.workloads.synthetic_networks`)
under sampled budgets; no network of :func:`airchitect.workloads.networks` is
seen in training. On disk: ``model.safetensors`` (tensors only) and
``model.json`` (checked with a JSON schema before anything is built).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from jsonschema import Draft202012Validator
from torch import nn

from airchitect.learn.factorised import N_PAIR_FEATURES, pair_features
from airchitect.learn.loop import fit_loop
from airchitect.network_design.baselines import ESTIMATE_FOLDS, every_layer_simulates, network_cost
from airchitect.tasks.pruning import evaluate_in_order

#: features of a (layer, configuration) pair without the energy estimate: the
#: per-workload model's, then the split-stall estimate against the cycle bound and on
#: its own (log2); the codesign reranker's first features
N_ESTIMATE_FEATURES = N_PAIR_FEATURES + 2
#: the network model's: those and the walks' energy estimate against the energy bound (log2)
N_NETWORK_FEATURES = N_ESTIMATE_FEATURES + 1
#: configurations scored at once (their pairs with every distinct layer)
SCORE_BATCH = 1024
#: most (layer, configuration) pairs whose features are held at once
MAX_PAIRS = 1 << 21
#: training configurations drawn at random have a network cycle bound at most this
#: many times the smallest (the rest cannot be optimal and cost the most to simulate)
PAIR_BOUND_RATIO = 16
FORMAT = "airchitect-network-model"
SHIPPED = Path(__file__).resolve().parents[1] / "models" / "codesign-network"

class NetworkScorer(nn.Module):
    """MLP from pair features to ``(delta_cycles, over_energy)`` (log2 units): the
    correction of the cycle estimate (any sign) and the energy above its bound (``>= 0``).

    Parameters
    ----------
    width : int
        Hidden width (three layers).
    n_features : int
        Features of a pair (:func:`network_features`' by default).
    """

    def __init__(self, width=256, n_features=N_NETWORK_FEATURES):
        super().__init__()
        self.width, self.n_features = int(width), int(n_features)
        self.net = nn.Sequential(nn.Linear(n_features, width), nn.GELU(), nn.Linear(width, width),
                                 nn.GELU(), nn.Linear(width, width), nn.GELU(), nn.Linear(width, 2))
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    def forward(self, pairs):
        out = self.net((pairs - self.mean) / self.std)
        return torch.stack([out[:, 0], nn.functional.softplus(out[:, 1])], dim=1)


class PairModel:
    """A trained :class:`NetworkScorer` with what it was trained on, saved as
    ``model.safetensors`` and ``model.json``; :class:`NetworkModel` and the codesign
    reranker (:class:`airchitect.network_design.rerank.Reranker`) are such models.
    A subclass names its file format (:attr:`format_name`, :attr:`version`), its
    features (:attr:`n_features`), where the shipped one lies (:attr:`shipped`) and
    what it is (:attr:`what`, for errors).

    Parameters
    ----------
    scorer : NetworkScorer
    task_definition : dict
        The codesign task's definition (:meth:`~airchitect.tasks.base.Task.definition`).
    training : dict
        Free-form facts of the training run (data, rows, losses).
    """

    format_name, version, n_features, shipped, what = FORMAT, 2, N_NETWORK_FEATURES, SHIPPED, "pair model"

    def __init__(self, scorer, task_definition, training=None):
        self.scorer = scorer.eval()
        self.task_definition = task_definition
        self.training = dict(training or {})

    def _figures(self, features, bounds, estimate, shape, energy_estimate=None):
        """Predicted ``(cycles, energy)`` of ``shape`` from the pairs' ``features``, their
        task ``bounds`` and split-stall ``estimate``: ``cycles = max(bound, max(bound,
        estimate) x 2^delta)`` and ``energy = max(energy bound, energy_estimate) x 2^over``
        (the energy bound alone without ``energy_estimate``)."""
        with torch.inference_mode():
            out = self.scorer(torch.as_tensor(features)).numpy()
        out = out.astype(np.float64).reshape(shape + (2,))
        bound = np.maximum(bounds["cycles"], 1).astype(np.float64)
        cycles = np.maximum(bound, np.maximum(bound, estimate) * np.exp2(out[..., 0]))
        energy = np.asarray(bounds["energy"], dtype=np.float64)
        if energy_estimate is not None:
            energy = np.maximum(energy, energy_estimate)
        return cycles, energy * np.exp2(out[..., 1])

    # -- persistence ---------------------------------------------------------------------
    @classmethod
    def _schema(cls):
        return {
            "type": "object",
            "required": ["format", "version", "width", "n_features", "task_definition", "training"],
            "additionalProperties": False,
            "properties": {
                "format": {"const": cls.format_name},
                "version": {"const": cls.version},
                "width": {"type": "integer", "minimum": 1, "maximum": 4096},
                "n_features": {"const": cls.n_features},
                "task_definition": {"type": "object"},
                "training": {"type": "object"},
            },
        }

    def save(self, path):
        """Write ``model.safetensors`` and ``model.json`` into directory ``path``
        (each written to a temporary name and renamed)."""
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"format": self.format_name, "version": self.version, "width": self.scorer.width,
                "n_features": self.n_features, "task_definition": self.task_definition,
                "training": self.training}
        tensors = {k: v.contiguous() for k, v in self.scorer.state_dict().items()}
        for name, write in (("model.safetensors", lambda f: save_file(tensors, f)),
                            ("model.json", lambda f: Path(f).write_text(json.dumps(meta, indent=2) + "\n"))):
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=path)
            os.close(fd)
            try:
                write(tmp)
                os.replace(tmp, path / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return path

    @classmethod
    def load(cls, path=None):
        """The model saved in ``path`` (default: the shipped one). A folder without
        ``model.json`` raises ``FileNotFoundError`` (as a missing predictor does); a file
        that is not what :meth:`save` writes raises ``ValueError`` naming the file and field."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = cls.shipped if path is None else Path(path)
        meta_file, tensor_file = path / "model.json", path / "model.safetensors"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{path}: no model.json; not a saved {cls.what}")
        try:
            meta = json.loads(meta_file.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{meta_file}: not JSON ({err})") from None
        error = next(iter(Draft202012Validator(cls._schema()).iter_errors(meta)), None)
        if error is not None:
            field = ".".join(str(p) for p in error.absolute_path) or "(top level)"
            raise ValueError(f"{meta_file}: {field}: {error.message[:200]}")
        scorer = NetworkScorer(meta["width"], meta["n_features"])
        expected = {k: tuple(v.shape) for k, v in scorer.state_dict().items()}
        try:
            tensors = load_file(str(tensor_file))
        except (SafetensorError, OSError) as err:
            raise ValueError(f"{tensor_file}: not a safetensors file ({err})") from None
        got = {k: tuple(v.shape) for k, v in tensors.items()}
        if got != expected:
            bad = sorted(set(got) ^ set(expected)) or [k for k in expected if got[k] != expected[k]]
            raise ValueError(f"{tensor_file}: tensor {bad[0]}: not the shapes model.json implies")
        if not all(torch.isfinite(v).all() for v in tensors.values()):
            raise ValueError(f"{tensor_file}: tensors: not finite")
        scorer.load_state_dict(tensors)
        return cls(scorer, meta["task_definition"], meta["training"])


class NetworkModel(PairModel):
    """The network model: a :class:`PairModel` over :func:`network_features`, pooled
    over a network's layers by their counts (parameters as :class:`PairModel`'s)."""

    what = "network co-design model"
    #: 3: cycle and energy estimates walking ESTIMATE_FOLDS folds (2: cycles, 128 folds)
    version = 3

    # -- prediction ----------------------------------------------------------------------
    def layer_figures(self, task, inputs, labels, bounds, estimate, energy_estimate):
        """Predicted ``(cycles, energy)`` of configuration ``labels[r, j]`` on layer ``r``,
        each of ``labels``' shape; ``bounds`` are the task's bounds of those pairs and
        ``estimate``, ``energy_estimate`` the walks' estimates of their cycles and
        energy (:func:`pair_estimates`)."""
        features = network_features(task, inputs, labels, bounds, estimate, energy_estimate)
        return self._figures(features, bounds, estimate, labels.shape, energy_estimate)

    def rank(self, task, inputs, counts, objective="cycles", k=1, spread=False):
        """The model's ``k`` best configurations of a network, best first.

        Parameters
        ----------
        task : CodesignTask
        inputs : DataFrame
            The network's distinct layers, validated (one budget triple).
        counts : array of int
            Each layer's repeat count.
        objective : {"cycles", "energy", "edp"}
        k : int
        spread : bool
            If true, only the ``ceil(k / 2)`` best are taken as ranked; the rest are
            the best-predicted split of each next array (rows, cols, dataflow) in
            order of its best prediction, skipping arrays already taken, so that a
            few exact evaluations do not all go to splits of one array. Still best
            first by prediction.

        Returns
        -------
        dict
            ``labels`` (k,), predicted network ``cycles``, ``energy``, ``edp``
            (k,), ``bound``: the network lower bound of the objective (k,),
            ``scored``: configurations whose pairs were scored, and
            ``allowed``: configurations the budget allows.

        Work: the task's bounds of every layer and configuration, then batches of
        1024 configurations x layers through the scorer until the bounds prove the
        rest cannot enter the top ``k``; the cycle and energy estimates of all of an
        array's splits (walks of up to :data:`ESTIMATE_FOLDS` folds) are computed when
        the scan first reaches one of them. Memory: two float64 tables of layers x
        arrays x 105.
        """
        counts = np.asarray(counts, dtype=np.float64)
        allowed, b, net_cycles, net_energy = network_bounds(task, inputs, counts)
        n_splits = task.factors[1]
        arrays = allowed[::n_splits] // n_splits  # allowed holds every split of these arrays
        estimates = np.empty((len(inputs), arrays.size, n_splits))
        energies = np.empty((len(inputs), arrays.size, n_splits))
        known = np.zeros(arrays.size, dtype=bool)
        bound = {"cycles": net_cycles, "energy": net_energy, "edp": net_cycles * net_energy}[objective]
        order = np.argsort(bound, kind="stable")
        step = max(1, min(SCORE_BATCH, MAX_PAIRS // max(len(inputs), 1)))
        found_l, found_c, found_e, found_b = [], [], [], []
        kth, scored = np.inf, 0
        for start in range(0, order.size, step):
            idx = order[start:start + step]
            if bound[idx[0]] > kth:
                break
            labels = np.broadcast_to(allowed[idx], (len(inputs), idx.size))
            sub = {key: value[:, idx] for key, value in b.items()}
            new = np.unique(idx // n_splits)
            new = new[~known[new]]
            if new.size:
                estimates[:, new], energies[:, new] = task.split_estimate(inputs, arrays[new], ESTIMATE_FOLDS,
                                                                          energy=True)
                known[new] = True
            at = (slice(None), idx // n_splits, idx % n_splits)
            cycles, energy = self.layer_figures(task, inputs, np.ascontiguousarray(labels), sub,
                                                estimates[at], energies[at])
            found_l.append(allowed[idx])
            found_b.append(bound[idx])
            found_c.append(counts @ cycles)
            found_e.append(counts @ energy)
            scored += idx.size
            cost = _cost(np.concatenate(found_c), np.concatenate(found_e), objective)
            kth = _kth_cost(cost, np.concatenate(found_l) // n_splits, k, spread)
        labels, cycles, energy, lower = (np.concatenate(x) for x in (found_l, found_c, found_e, found_b))
        cost = _cost(cycles, energy, objective)
        order = np.lexsort((labels, cycles, cost))
        best = _spread(order, labels[order] // n_splits, k) if spread else order[:k]
        return {"labels": labels[best], "cycles": cycles[best], "energy": energy[best],
                "edp": cycles[best] * energy[best], "bound": lower[best], "scored": int(scored),
                "allowed": int(allowed.size)}


def _kth_cost(cost, arrays, k, spread):
    """The predicted cost past which no configuration can enter :meth:`NetworkModel.rank`'s
    ``k`` (inf until enough are scored): the ``k``-th least cost, and with ``spread``
    also the ``k``-th least of the arrays' least costs (their best splits)."""
    kth = np.partition(cost, k - 1)[k - 1] if cost.size >= k else np.inf
    if spread and k > 1:
        least = np.full(arrays.max() + 1, np.inf)
        np.minimum.at(least, arrays, cost)
        least = least[np.isfinite(least)]
        kth = max(kth, np.partition(least, k - 1)[k - 1] if least.size >= k else np.inf)
    return kth


def _spread(order, arrays, k):
    """Positions in ``order`` (configurations best first, of ``arrays``) of the
    ``ceil(k / 2)`` best and then the best of each further array, up to ``k`` in all
    (the next best ones where fewer arrays exist), best first."""
    top = (k + 1) // 2
    _, first = np.unique(arrays, return_index=True)
    first = np.sort(first)
    taken = np.zeros(order.size, dtype=bool)
    taken[:top] = True
    others = first[~np.isin(arrays[first], arrays[:top])][:k - top]
    taken[others] = True
    if taken.sum() < min(k, order.size):
        rest = np.flatnonzero(~taken)[:min(k, order.size) - taken.sum()]
        taken[rest] = True
    return order[np.flatnonzero(taken)]


def network_bounds(task, inputs, counts):
    """``(allowed, bounds, cycles, energy)`` of a network under one budget: the labels
    its budget allows whose every layer :meth:`~airchitect.tasks.codesign.CodesignTask.simulate`
    accepts (at most ``USER_ROWS_LIMIT`` demand rows; this depends on the array, not the
    split), the task's per-layer bounds of each (``(layers, allowed)`` arrays) and
    their count-weighted sums (network lower bounds, ``(allowed,)``)."""
    allowed = np.flatnonzero(task.allowed(inputs.iloc[:1], validated=True)[0])
    allowed = allowed[every_layer_simulates(task, inputs, allowed)]
    if not allowed.size:
        raise ValueError("codesign: no configuration the budget allows can simulate every layer "
                         "(USER_ROWS_LIMIT demand rows); raise max_macs or split the GEMMs")
    b = task.bounds(inputs, np.broadcast_to(allowed, (len(inputs), allowed.size)))
    counts = np.asarray(counts, dtype=np.float64)
    return (allowed, b, counts @ b["cycles"].astype(np.float64),
            counts @ np.asarray(b["energy"], dtype=np.float64))


def pair_estimates(task, inputs, labels):
    """``(cycles, energy)``: the walks' estimates of configuration ``labels[r, j]`` on
    layer ``r`` (each of ``labels``' shape; :meth:`~airchitect.tasks.codesign.CodesignTask.split_estimate`
    with ``energy``), each walk visiting up to :data:`ESTIMATE_FOLDS` folds."""
    n_splits = task.factors[1]
    arrays, where = np.unique(labels // n_splits, return_inverse=True)
    cycles, energy = task.split_estimate(inputs, arrays, ESTIMATE_FOLDS, energy=True)
    at = (np.arange(len(inputs))[:, None], where.reshape(labels.shape), labels % n_splits)
    return cycles[at], energy[at]


def network_features(task, inputs, labels, bounds, estimate, energy_estimate=None):
    """Features ``(layers x k, N_NETWORK_FEATURES)`` (float32) of the pairs (layer ``r``,
    configuration ``labels[r, j]``): the per-workload model's
    (:func:`airchitect.learn.factorised.pair_features`), then log2 of the
    estimate over the cycle bound, log2 of the estimate and, with
    ``energy_estimate``, log2 of it over the energy bound (without it,
    ``N_ESTIMATE_FEATURES`` features)."""
    est = np.clip(np.asarray(estimate, dtype=np.float64), 1.0, 2.0**62)
    bound = np.maximum(np.asarray(bounds["cycles"], dtype=np.float64), 1.0)
    extra = [np.log2(est / bound).ravel(), np.log2(est).ravel()]
    if energy_estimate is not None:
        e_bound = np.maximum(np.asarray(bounds["energy"], dtype=np.float64), 1e-300)
        extra.append(np.log2(np.maximum(np.asarray(energy_estimate, dtype=np.float64), e_bound) / e_bound).ravel())
    extra = np.stack(extra, axis=1).astype(np.float32)
    return np.concatenate([pair_features(task, inputs, labels, bounds), extra], axis=1)


def _cost(cycles, energy, objective):
    return {"cycles": cycles, "energy": energy, "edp": cycles * energy}[objective]


# -- training ------------------------------------------------------------------------------
def sample_budgets(task, n, seed=0):
    """``n`` budget triples ``(max_macs, sram_kb, bandwidth)``: a budget of the task,
    ``sram_kb`` log-uniform over multiples of ``parts`` up to 4096 kB (or the
    task's totals), bandwidth in {1, 2, 4, 8, 16} words/cycle."""
    rng = np.random.default_rng([seed, 11])
    macs = rng.choice(np.asarray(task.budgets), size=n)
    if task.totals:
        sram = rng.choice(np.asarray(task.totals), size=n)
    else:
        unit = task.parts
        sram = (np.exp(rng.uniform(np.log(unit), np.log(256 * unit), size=n)) // unit).astype(np.int64) * unit
        sram = np.clip(sram, unit, 256 * unit)
    bw = rng.choice(np.array([1, 2, 4, 8, 16]), size=n)
    return np.stack([macs, sram, bw], axis=1).astype(np.int64)


def network_pairs(task, inputs, counts, rng, configs=48):
    """Training pairs of one network under one budget: sampled configurations
    (the lowest network bounds of cycles and EDP, random ones among the 3000
    lowest cycle bounds, random ones among those with at least ``max_macs / 16``
    PEs and a network cycle bound at most :data:`PAIR_BOUND_RATIO` times the
    smallest), simulated exactly on every distinct layer. Configurations that
    :meth:`~airchitect.tasks.codesign.CodesignTask.simulate` refuses on some layer
    (more than ``USER_ROWS_LIMIT`` demand rows) are not drawn.

    Returns ``(features (m, N_NETWORK_FEATURES), targets (m, 2), weights (m,))``:
    targets are ``log2(cycles / max(bound, estimate))`` and ``log2(energy / bound)
    >= 0``; the weight of a pair is its layer's share of the network's cycles on
    that configuration.
    """
    counts = np.asarray(counts, dtype=np.float64)
    allowed, b, cyc, energy = network_bounds(task, inputs, counts)  # simulable configurations only
    edp = cyc * energy
    by_cycles, by_edp = np.argsort(cyc, kind="stable"), np.argsort(edp, kind="stable")
    pes = task.space_columns()["pes"][allowed]
    big = np.flatnonzero((pes >= int(inputs["max_macs"].iloc[0]) // 16)
                         & (cyc <= PAIR_BOUND_RATIO * cyc.min()))
    quarter = configs // 4
    pick = [by_cycles[:quarter], by_edp[:quarter // 2],
            rng.choice(by_cycles[:3000], size=min(quarter + quarter // 2, by_cycles[:3000].size), replace=False),
            rng.choice(big if big.size else np.arange(allowed.size), size=quarter, replace=True)]
    chosen = np.unique(np.concatenate(pick))
    labels = np.ascontiguousarray(np.broadcast_to(allowed[chosen], (len(inputs), chosen.size)))
    return _simulated_pairs(task, inputs, counts, labels, {key: value[:, chosen] for key, value in b.items()})


def model_pairs(model, task, inputs, counts, k=16, objectives=("cycles", "edp")):
    """Training pairs of the configurations ``model`` ranks best for a network: its
    ``k`` best for each objective, simulated exactly on every distinct layer.

    These are the configurations where the model's errors cost the most: a
    configuration whose cost it underestimates rises to its top, and training on
    the exact figures of its own top ``k`` corrects that (one round of data
    aggregation). :meth:`NetworkModel.rank` proposes only configurations every layer
    can simulate (:func:`network_bounds`). Returns what :func:`network_pairs` returns.
    """
    counts = np.asarray(counts, dtype=np.float64)
    labels = np.unique(np.concatenate([model.rank(task, inputs, counts, objective, k)["labels"]
                                       for objective in objectives]))
    grid = np.ascontiguousarray(np.broadcast_to(labels, (len(inputs), labels.size)))
    return _simulated_pairs(task, inputs, counts, grid, task.bounds(inputs, grid))


def _simulated_pairs(task, inputs, counts, labels, bounds):
    """``(features, targets, weights)`` of configurations ``labels[r, j]`` on layer ``r``
    (``(layers, k)``, the same ``k`` on every layer), with the task's ``bounds`` of
    those pairs."""
    sim = task.simulate(inputs, labels)
    estimate, energy_estimate = pair_estimates(task, inputs, labels)
    cycles = sim["total_cycles"].astype(np.float64)
    share = counts[:, None] * cycles / np.maximum(counts @ cycles, 1.0)[None, :]
    base = np.maximum(np.maximum(bounds["cycles"], 1), estimate)
    delta = np.log2(np.maximum(cycles, 1) / base)
    e_base = np.maximum(np.maximum(np.asarray(bounds["energy"], np.float64), 1e-300), energy_estimate)
    over_e = np.log2(sim["energy_pj"] / e_base)
    targets = np.stack([delta.ravel(), np.maximum(over_e, 0).ravel()], axis=1)
    features = network_features(task, inputs, labels, bounds, estimate, energy_estimate)
    return features, targets.astype(np.float32), share.ravel()


def fit_scorer(features, targets, weights, width=256, epochs=30, batch_size=2048, learning_rate=2e-3,
               seed=0, verbose=False, init=None):
    """Train a :class:`NetworkScorer` over ``features.shape[1]`` features by weighted
    smooth-L1 regression of both targets (from ``init``, a scorer whose training goes
    on with its feature scaling, if given)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(features)
    y = torch.as_tensor(targets)
    w = torch.as_tensor(weights, dtype=torch.float32)
    w = w / w.mean()
    if init is None:
        scorer = NetworkScorer(width, x.shape[1])
        scorer.mean.copy_(x.mean(0))
        scorer.std.copy_(torch.where(x.std(0) > 0, x.std(0), torch.ones(())))
    else:
        scorer = init
    scorer.train()

    def loss_of(batch):
        err = nn.functional.smooth_l1_loss(scorer(x[batch]), y[batch], beta=0.02, reduction="none")
        return (err.sum(1) * w[batch]).mean()

    fit_loop(scorer.parameters(), len(y), loss_of, epochs=epochs, batch_size=batch_size,
             learning_rate=learning_rate, weight_decay=1e-4, generator=generator, verbose=verbose)
    return scorer.eval()


def search_with_model(model, task, inputs, counts, *, objective, k=1):
    """The best of the model's ``k`` candidates for a network, by exact evaluation:
    its ``ceil(k / 2)`` best configurations and the best-predicted split of each of
    its next best arrays (:meth:`NetworkModel.rank` with ``spread=True``).

    The candidates are evaluated in the model's order in batches of 1, 2, 4, ...
    network evaluations; a candidate whose network lower bound exceeds the least
    exact cost found so far is skipped (it can neither beat nor tie the best), so
    the best record is the one evaluating all ``k`` would give, in fewer
    evaluations.

    Returns the structure of :func:`airchitect.network_design.exact.search_network`
    (``best``: the evaluated records sorted as the exact search sorts them: by
    exact cost, then cycles, PEs, DRAM words and label; ``simulations``: evaluated candidates x distinct layers;
    ``candidates``: the configurations the budget allows), plus ``scored``
    (configurations the scorer ranked) and ``evaluated`` (network evaluations)
    and, in each record, ``predicted`` (the model's network figure of the
    objective) and ``model_rank`` (from 1).
    """
    if model.task_definition != task.definition():
        raise ValueError("model: the network model was trained for another codesign space "
                         "(task definition differs); train one for this task")
    ranked = model.rank(task, inputs, counts, objective, k, spread=True)
    labels = ranked["labels"]
    parts = []

    def evaluate(idx):
        parts.append(network_cost(task, inputs, counts, labels[idx], objective))
        return parts[-1]["cost"]

    rank, _ = evaluate_in_order(ranked["bound"], evaluate, keep_ties=True)
    ex = {key: np.concatenate([p[key] for p in parts], axis=-1) for key in parts[0]}
    chosen = labels[rank]
    pes = np.asarray(task.space_columns()["pes"])[chosen]
    order = np.lexsort((chosen, ex["dram_words"], pes, ex["cycles"], ex["cost"]))
    best = [{"labels": np.full(len(inputs), labels[rank[j]]), "cycles": float(ex["cycles"][j]),
             "energy": float(ex["energy"][j]), "edp": float(ex["edp"][j]),
             "dram_words": float(ex["dram_words"][j]), "layer_cycles": ex["layer_cycles"][:, j],
             "layer_energy": ex["layer_energy"][:, j], "predicted": float(ranked[objective][rank[j]]),
             "model_rank": int(rank[j]) + 1} for j in order]
    return {"best": best, "simulations": int(len(inputs) * rank.size), "candidates": ranked["allowed"],
            "scored": ranked["scored"], "evaluated": int(rank.size)}

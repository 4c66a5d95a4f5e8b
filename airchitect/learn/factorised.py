"""A two-stage neural model for spaces that are a product of two parts.

The ``codesign`` space is every array (rows, cols, dataflow) crossed with every
SRAM split: label ``a * n_splits + s``. A flat softmax over its 28,665 labels
(AIRCHITECT's) must learn every pair from its own examples, and a wrong split
can stall an array for twice its compute time. This model has two parts:

1. **Proposal, factorised heads.** A residual MLP trunk ``h`` over the encoded
   query feeds an array head, ``log p(a)``, and a split head conditioned on the
   array's embedding, ``log p(s | a)``; ``log p(a, s)`` is their sum. Trained by
   cross-entropy of the optimal array and of its split (given that array).
   Candidates are found by beam search: the ``beam`` most probable allowed
   arrays, each with all its splits.
2. **Ranking, a (workload, configuration) cost scorer.** An MLP over features of
   the query and one configuration (sizes, folds, the operands' sizes against
   their buffers, and the task's closed-form lower bounds of that pair) predicts
   ``log2(cost / lower bound) >= 0``; the predicted configuration is the
   candidate with the smallest predicted cost. Trained on the exact costs of the
   proposal's candidates on training queries. Tasks without ``bounds`` use the
   proposal alone. With ``stall_features`` the scorer also reads each buffer's
   stall alone at its size in the split (the task's ``stall_parts``,
   :func:`stall_features`): where the operands do not fit, cycles jump with the
   buffer sizes in ways sizes and bounds do not show.

A model may carry a second proposal, a *companion* (:meth:`FactorisedClassifier.attach_companion`):
another model's trunk and heads (and its encoder), whose most probable labels
join the candidates the scorer ranks. The shipped EDP model carries the cycles
model's proposal: the two miss different optima.

>>> from sklearn.base import clone
>>> clone(FactorisedClassifier(beam=4)).get_params()["beam"]
4
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pandas as pd
import torch
from torch import nn

from airchitect._checks import check_choice
from airchitect._columns import column_dict, rows_frame
from airchitect._threads import torch_serial_below
from airchitect.learn import few_rows
from airchitect.learn.encoding import Encoder
from airchitect.learn.estimators import TorchClassifier, _task
from airchitect.learn.loop import fit_loop
from airchitect.learn.nets import ResidualBlock
from airchitect.targets.systolic.geometry import spatial_dims

#: features of one (query, configuration) pair (see :func:`pair_features`)
N_PAIR_FEATURES = 26
#: features a pair gains with ``stall_features`` (see :func:`stall_features`)
N_STALL_FEATURES = 6
#: names of a :class:`FactorisedNet`'s tensors that belong to the scorer, not the proposal
SCORER_PREFIXES = ("scorer", "pair_")
#: prefix of a companion proposal's tensors in a saved model
COMPANION = "companion."
#: fewer rows than this run on one torch thread (waking a pool costs more than it saves)
SERIAL_ROWS = 256
#: queries a prediction runs at once: a chunk's largest temporaries (the split head's
#: ``rows x beam x width`` activations, 16 MiB) stay under the 32 MiB above which glibc
#: maps fresh pages for every one, a page fault a page (4096 rows: 10^5 predictions 15% slower)
CHUNK_ROWS = 2048
#: values of ``batch_precision``
PRECISIONS = ("auto", "float32", "bfloat16")


def serial_if_small(n_rows):
    """Run torch on one thread inside the block when ``n_rows < SERIAL_ROWS``."""
    return torch_serial_below(n_rows, SERIAL_ROWS)


def proposal_dtype(precision, n_rows):
    """The dtype of the proposal's products for a call of ``n_rows`` rows: float32
    below :data:`SERIAL_ROWS` rows or with ``precision="float32"``; bfloat16 with
    ``"bfloat16"``, and with ``"auto"`` where the CPU multiplies bfloat16 natively
    (AVX512-BF16 or AMX: three times the float32 rate; elsewhere it is emulated).

    >>> proposal_dtype("auto", 1)
    torch.float32
    """
    check_choice("batch_precision", precision, PRECISIONS)
    if n_rows < SERIAL_ROWS or precision == "float32":
        return torch.float32
    if precision == "auto" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.float32
    return torch.bfloat16


def lower_precision(dtype):
    """Autocast to ``dtype`` on the CPU inside the block; nothing for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=dtype)


class FactorisedNet(nn.Module):
    """Proposal trunk with array and array-conditioned split heads, and the cost scorer.

    Parameters
    ----------
    n_features : int
        Width of the encoded queries.
    factors : (int, int)
        ``(n_arrays, n_splits)``; label ``a * n_splits + s``.
    width, depth, embedding : int
        Trunk width and residual blocks; size of the array embedding.
    scorer_width : int
        Hidden width of the cost scorer (two layers).
    n_pair_features : int
        Features of a pair the scorer reads.
    """

    def __init__(self, n_features, factors, width=256, depth=2, embedding=32, scorer_width=128,
                 n_pair_features=N_PAIR_FEATURES):
        super().__init__()
        self.n_arrays, self.n_splits = (int(f) for f in factors)
        self.inp = nn.Linear(n_features, width)
        self.blocks = nn.Sequential(*(ResidualBlock(width) for _ in range(depth)))
        self.norm = nn.LayerNorm(width)
        self.array = nn.Linear(width, self.n_arrays)
        self.array_embedding = nn.Embedding(self.n_arrays, embedding)
        self.split = nn.Sequential(nn.Linear(width + embedding, width), nn.GELU(),
                                   nn.Linear(width, self.n_splits))
        self.scorer = nn.Sequential(nn.Linear(n_pair_features, scorer_width), nn.GELU(),
                                    nn.Linear(scorer_width, scorer_width), nn.GELU(),
                                    nn.Linear(scorer_width, 1))
        self.register_buffer("pair_mean", torch.zeros(n_pair_features))
        self.register_buffer("pair_std", torch.ones(n_pair_features))
        self.register_buffer("scorer_trained", torch.zeros(1))

    def trunk(self, x, dtype=torch.float32):
        """Query embedding ``(n, width)``, float32; ``dtype``: of its products
        (bfloat16: under autocast, norms and the output in float32)."""
        with lower_precision(dtype):
            return self.norm(self.blocks(self.inp(x))).float()

    def split_logits(self, h, arrays, dtype=torch.float32):
        """Split logits ``(n, b, n_splits)`` of arrays ``(n, b)`` (long) for trunk ``h``.

        The first layer acts on ``[h, embedding]``; its two parts are applied
        apart, the trunk's once per row rather than once per array. At inference
        on many rows, ``dtype`` is that of the first layer's products and the
        activation (bfloat16: under autocast); the logits are computed in float32
        (in bfloat16 they would tie where they differ).
        """
        first, act, last = self.split
        width = h.shape[1]
        if torch.is_grad_enabled() or arrays.numel() < self.n_arrays:  # (few rows: fewer products)
            per_row = nn.functional.linear(h, first.weight[:, :width], first.bias)
            per_array = nn.functional.linear(self.array_embedding(arrays), first.weight[:, width:])
            return last(act(per_array.add_(per_row[:, None, :])))
        # inference: every array's part once, gathered, the row's part added in place; the
        # last layer's outputs padded to a multiple of 16 (the same values, a faster product)
        with lower_precision(dtype):
            per_row = nn.functional.linear(h, first.weight[:, :width], first.bias)
            table = nn.functional.linear(self.array_embedding.weight, first.weight[:, width:])
            hidden = act(table[arrays].add_(per_row[:, None, :])).float()
        pad = -self.n_splits % 16
        weight = torch.cat([last.weight, last.weight.new_zeros(pad, width)])
        bias = torch.cat([last.bias, last.bias.new_zeros(pad)])
        return nn.functional.linear(hidden, weight, bias)[..., :self.n_splits]

    def score(self, pairs, clamp=True):
        """Predicted ``log2(cost / bound)`` of raw pair features ``(m, n_pair_features)``, >= 0.

        With stall features (more than ``N_PAIR_FEATURES``) the MLP predicts the excess
        over the split-stall estimate's ratio to the cycle bound (the first stall
        feature, taken at least 0), and the sum is clamped at 0 (``clamp=False``, for
        training, leaves it as it is); else it predicts the ratio through a softplus.
        """
        z = (pairs - self.pair_mean) / self.pair_std
        raw = self.scorer(z)[:, 0]
        if pairs.shape[1] == N_PAIR_FEATURES:
            return nn.functional.softplus(raw)
        out = raw + pairs[:, N_PAIR_FEATURES].clamp(min=0)
        return out.clamp(min=0) if clamp else out

    def forward(self, x):
        """Joint log-probabilities ``(n, n_arrays * n_splits)`` (every array's splits)."""
        h = self.trunk(x)
        arrays = torch.arange(self.n_arrays, device=x.device).expand(len(x), -1)
        split = torch.log_softmax(self.split_logits(h, arrays), dim=2)
        joint = torch.log_softmax(self.array(h), dim=1)[:, :, None] + split
        return joint.reshape(len(x), -1)


def proposal_state(net):
    """The tensors of a :class:`FactorisedNet`'s proposal (trunk and heads), by name."""
    return {name: value for name, value in net.state_dict().items() if not name.startswith(SCORER_PREFIXES)}


def pair_features(task, inputs, labels, bounds):
    """Raw features ``(n * k, N_PAIR_FEATURES)`` (float32) of the pairs (row ``r``,
    configuration ``labels[r, j]``) of a codesign-like task, rows first.

    ``bounds`` are the task's lower bounds of those pairs (``cycles``,
    ``dram_words``, ``energy``: arrays of ``labels``' shape). All sizes enter as
    log2: the GEMM, the array, its folds in each dataflow's mapping, the three
    buffers (words), the operands against their buffers, the bandwidth and the
    bounds.
    """
    n, k = labels.shape
    p = {c: np.asarray(v, dtype=np.float64) for c, v in task._pairs(inputs, labels).items()}
    q = {c: np.log2(v)[:, None] for c, v in column_dict(inputs, task.input_columns, np.float64).items()}
    m, nn_, kk, rows, cols, code = (p[c] for c in ("M", "N", "K", "rows", "cols", "code"))
    sr, sc, t = spatial_dims(m, nn_, kk, code.astype(np.int64))
    words = [np.maximum(p[f"{b}_words"], 1.0) for b in ("ifmap", "filter", "ofmap")]
    fr, fc = np.ceil(sr / rows), np.ceil(sc / cols)
    compute = fr * fc * (2 * rows + cols + t - 2)
    ones = np.ones((n, k))
    columns = [
        q["M"] * ones, q["N"] * ones, q["K"] * ones, q["max_macs"] * ones, q["sram_kb"] * ones,
        q["bandwidth"] * ones, np.log2(rows), np.log2(cols), code == 0, code == 1, code == 2,
        np.log2(fr), np.log2(fc), np.log2(t), np.log2(compute),
        *(np.log2(w) for w in words),
        np.log2(m * kk / words[0]), np.log2(nn_ * kk / words[1]), np.log2(m * nn_ / words[2]),
        np.log2(fr * rows * t / words[0]), np.log2(fc * cols * t / words[1]),
        np.log2(np.maximum(bounds["cycles"], 1.0)), np.log2(np.maximum(bounds["dram_words"], 1.0)),
        np.log2(np.maximum(np.asarray(bounds["energy"], dtype=np.float64), 1e-30)),
    ]
    return np.stack([np.asarray(c, dtype=np.float64).ravel() for c in columns], axis=1).astype(np.float32)


def stall_features(task, inputs, labels, cycle_bound, rows=None):
    """``(features (n * k, N_STALL_FEATURES) float32, estimate)`` of the pairs (row
    ``r``, configuration ``labels[r, j]``) of a task with ``stall_parts`` (codesign);
    with ``rows``, of the pairs (row ``rows[p]``, ``labels[p]``), both ``(p,)``, as
    ``cycle_bound`` (the walks of one row's array are shared either way).

    ``estimate`` (cycles, ``labels``' shape) is the split-stall estimate: the
    stall-free cycles plus the largest stall a buffer causes alone at its size in
    that split. Features: log2 of the estimate over ``cycle_bound`` (the task's cycle
    bound of the pairs), then log2(1 + stall / stall-free cycles) of the ifmap,
    filter and ofmap buffers, of the second largest and of their sum (buffers
    that stall together cost more than the largest alone).
    """
    parts = task.stall_parts(inputs, labels, rows)
    stalls = np.stack([parts["ifmap"], parts["filter"], parts["ofmap"]], axis=-1)
    estimate = parts["free"] + stalls.max(axis=-1)
    ordered = np.sort(stalls, axis=-1)
    over = np.concatenate([stalls, ordered[..., 1:2], ordered.sum(-1, keepdims=True)], axis=-1)
    over = np.log2(1.0 + over / np.maximum(parts["free"], 1.0)[..., None])
    ratio = np.log2(np.clip(estimate, 1.0, 2.0**62) / np.maximum(np.asarray(cycle_bound, np.float64), 1.0))
    features = np.concatenate([ratio.reshape(-1, 1), over.reshape(-1, 5)], axis=1)
    return features.astype(np.float32), estimate


class FactorisedClassifier(TorchClassifier):
    """Two-stage neural model (factorised proposal, cost-scorer ranking) of a task
    whose labels are a product of two parts (its ``factors``, e.g. ``codesign``'s
    273 arrays x 105 splits); see the module docstring.

    Parameters
    ----------
    task : str or Task
        Needed: it gives ``factors``, masks configurations a row's constraints rule
        out, and supplies the exact costs the scorer is trained on.
    width, depth, embedding : int
        Proposal trunk width, residual blocks, array embedding size.
    scorer_width : int
        Hidden width of the cost scorer.
    beam : int
        Arrays whose splits are candidates (each with all its splits).
    candidates : int
        Candidates the scorer ranks (the most probable of the beam), 1..4096.
    companion_candidates : int
        With a companion proposal (:meth:`attach_companion`), its most probable
        labels that join the candidates (those already among them count once),
        0..4096; without one, not used.
    stall_features : bool
        The scorer also reads the buffers' stalls (:func:`stall_features`; the
        task needs ``stall_parts``): about 20 microseconds more a query.
    batch_precision : {"auto", "float32", "bfloat16"}
        Precision of the proposal's products (trunk and split head) in calls of
        :data:`SERIAL_ROWS` rows or more (fewer rows, and training, use float32;
        the scorer is always float32): ``"auto"`` is bfloat16 where the CPU
        computes it natively (:func:`proposal_dtype`). On the shipped codesign
        model it makes 10^5 predictions about 10% faster on such a CPU; a few
        queries in a thousand then get a different, near-equal, prediction than
        in float32 (18 of 10,000 held out; GeoMean 99.609% against 99.604%).
    epochs, batch_size : int
        Of the proposal.
    scorer_rows, scorer_epochs : int
        Training queries whose candidates are simulated exactly for the scorer
        (0: no scorer), and its epochs.
    learning_rate, weight_decay : float
    objective : str
    seed : int
    verbose : bool
        Print the loss of every epoch on stderr.

    Work: a query costs one trunk pass, ``beam`` split-head passes, the task's
    bounds of ``candidates`` pairs and scorer passes of those candidates whose
    bound leaves them a chance to rank (17.3 of 48 on average for the shipped
    codesign model and ``k = 1``); calls of fewer than 6 rows
    (:data:`airchitect.learn.few_rows.FEW_ROWS`) run the nets compiled, one call a
    proposal and one a scoring, float32 as torch (one shipped codesign prediction in
    about 1.4 ms rather than 3); queries run 2048 at a time (:data:`CHUNK_ROWS`), two chunks at once
    when torch has more than one thread. Training simulates
    ``scorer_rows x (candidates + 1)`` pairs.
    """

    encoding = "folds"
    chunk = CHUNK_ROWS

    def __init__(self, task=None, width=256, depth=2, embedding=32, scorer_width=128, beam=8,
                 candidates=32, epochs=30, batch_size=512, scorer_rows=20000, scorer_epochs=20,
                 learning_rate=2e-3, weight_decay=1e-4, objective=None, seed=0, verbose=False,
                 stall_features=False, companion_candidates=0, batch_precision="auto"):
        self.task = task
        self.width = width
        self.depth = depth
        self.embedding = embedding
        self.scorer_width = scorer_width
        self.beam = beam
        self.candidates = candidates
        self.epochs = epochs
        self.batch_size = batch_size
        self.scorer_rows = scorer_rows
        self.scorer_epochs = scorer_epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.objective = objective
        self.seed = seed
        self.verbose = verbose
        self.stall_features = stall_features
        self.companion_candidates = companion_candidates
        self.batch_precision = batch_precision

    # -- structure -------------------------------------------------------------------
    def _factors(self):
        task = _task(self.task)
        factors = getattr(task, "factors", None)
        if factors is None:
            name = getattr(task, "name", task)
            raise ValueError(f"model 'factorised' needs a task whose labels are a product of two "
                             f"parts (such as 'codesign'); task {name!r} has no factors")
        return factors

    def _build(self, encoder, n_labels):
        factors = self._factors()
        if factors[0] * factors[1] != n_labels:
            raise ValueError(f"factors {factors} do not multiply to the task's {n_labels} labels")
        n_pair = N_PAIR_FEATURES
        if self.stall_features:
            if not hasattr(_task(self.task), "stall_parts"):
                name = getattr(_task(self.task), "name", self.task)
                raise ValueError(f"stall_features: task {name!r} has no stall_parts (codesign has)")
            n_pair += N_STALL_FEATURES
        return FactorisedNet(encoder.n_features, factors, self.width, self.depth, self.embedding,
                             self.scorer_width, n_pair)

    def _array_mask(self, X):
        """Allowed arrays ``(n, n_arrays)``: those with at least one allowed split (the
        task's ``array_allowed`` where it has one)."""
        task = _task(self.task)
        if hasattr(task, "array_allowed"):
            return torch.as_tensor(task.array_allowed(X))
        a, s = self._factors()
        return torch.as_tensor(task.allowed(X, validated=True).reshape(len(X), a, s).any(axis=2))

    # -- training ---------------------------------------------------------------------
    def fit(self, X, y, costs=None):
        """Train the proposal on inputs ``X`` (validated DataFrame) and optimal labels
        ``y``, then the scorer on the exact costs of its candidates on
        ``scorer_rows`` of the rows. ``costs`` is not used."""
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        X = pd.DataFrame(X).reset_index(drop=True)
        y = np.array(y, dtype=np.int64)
        task = _task(self.task)
        self.encoder_ = Encoder(self.encoding).fit(X)
        self.n_labels_ = task.n_labels
        self.classes_ = np.arange(self.n_labels_)
        self.module_ = self._build(self.encoder_, self.n_labels_)
        self.companion_ = None
        n_splits = self.module_.n_splits
        features = torch.as_tensor(self.encoder_.transform(X))
        arrays, splits = torch.as_tensor(y // n_splits), torch.as_tensor(y % n_splits)
        mask = self._array_mask(X)
        net = self.module_
        proposal = [p for name, p in net.named_parameters() if not name.startswith("scorer")]
        net.train()

        def proposal_loss(batch):
            h = net.trunk(features[batch])
            logits = net.array(h).masked_fill(~mask[batch], -1e9)
            split = net.split_logits(h, arrays[batch, None])[:, 0]
            return (nn.functional.cross_entropy(logits, arrays[batch])
                    + nn.functional.cross_entropy(split, splits[batch]))

        fit_loop(proposal, len(y), proposal_loss, epochs=self.epochs, batch_size=self.batch_size,
                 learning_rate=self.learning_rate, weight_decay=self.weight_decay, generator=generator,
                 verbose=self.verbose, label="proposal epoch")
        net.eval()
        if self.scorer_rows > 0 and hasattr(task, "bounds"):
            self._fit_scorer(X, y, generator)
        return self

    def _scorer_data(self, X, y):
        """Pair features ``(m, F)`` and exact ``log2(cost / bound) >= 0`` (``(m,)``) of the
        proposal's candidates and the optimum on ``scorer_rows`` rows of ``X``."""
        task = _task(self.task)
        rng = np.random.default_rng(self.seed)
        rows = np.sort(rng.choice(len(X), size=min(self.scorer_rows, len(X)), replace=False))
        part = X.iloc[rows].reset_index(drop=True)
        cands = np.concatenate([self._pool(part, self.candidates, "float32")[0], y[rows, None]], axis=1)
        pairs, target = [], []
        for start in range(0, len(part), self.chunk):
            sub = part.iloc[start:start + self.chunk].reset_index(drop=True)
            lab = cands[start:start + self.chunk]
            bounds = task.bounds(sub, lab)
            cost = task.cost_of(sub.loc[np.repeat(np.arange(len(sub)), lab.shape[1])].reset_index(drop=True),
                                lab.ravel(), self.objective)
            bound = np.asarray(bounds[task.check_objective(self.objective)], dtype=np.float64).ravel()
            pairs.append(self._pair_features(task, sub, lab, bounds))
            target.append(np.log2(np.maximum(cost, 1e-300) / np.maximum(bound, 1e-300)))
        return (torch.as_tensor(np.concatenate(pairs)),
                torch.as_tensor(np.maximum(np.concatenate(target), 0.0), dtype=torch.float32))

    def _fit_scorer(self, X, y, generator):
        """Smooth-L1 regression of ``log2(cost / bound)`` on the candidates of
        ``scorer_rows`` queries, in shuffled batches of ``4 x batch_size`` pairs."""
        net = self.module_
        pairs, target = self._scorer_data(X, y)
        net.pair_mean.copy_(pairs.mean(0))
        net.pair_std.copy_(torch.where(pairs.std(0) > 0, pairs.std(0), torch.ones(())))
        net.scorer.train()
        fit_loop(net.scorer.parameters(), len(target),
                 lambda b: nn.functional.smooth_l1_loss(net.score(pairs[b], clamp=False), target[b],
                                                        beta=0.05),
                 epochs=self.scorer_epochs, batch_size=4 * self.batch_size, learning_rate=self.learning_rate,
                 weight_decay=self.weight_decay, generator=generator, verbose=self.verbose,
                 label="scorer epoch")
        net.scorer.eval()
        net.scorer_trained.fill_(1.0)

    def attach_companion(self, other, candidates):
        """Carry the proposal of ``other`` (a fitted :class:`FactorisedClassifier` of the
        same task and sizes ``width``, ``depth``, ``embedding``; its encoder, trunk and
        heads, copied) as a companion whose ``candidates`` most probable labels join
        the ones this model's scorer ranks (``companion_candidates``), e.g.
        ``edp.attach_companion(cycles, 48)``. Returns self.
        """
        for name in ("width", "depth", "embedding"):
            if getattr(other, name) != getattr(self, name):
                raise ValueError(f"companion: {name} {getattr(other, name)} is not this model's "
                                 f"{getattr(self, name)}")
        if other._factors() != self._factors() or other.n_labels_ != self.n_labels_:
            raise ValueError("companion: not a model of this task's labels")
        self.set_params(companion_candidates=candidates)
        self.companion_ = self._companion_net(other.encoder_, proposal_state(other.module_))
        return self

    def _companion_net(self, encoder, state):
        """``(encoder, net)`` of a companion proposal from its tensors ``state``."""
        net = self._build(encoder, self.n_labels_)
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [name for name in missing if not name.startswith(SCORER_PREFIXES)]
        if missing or unexpected:
            raise ValueError(f"companion: tensors {(missing + unexpected)[:3]} are not a proposal's")
        return encoder, net.eval()

    def refit_scorer(self, X, y, **params):
        """Train a new scorer on the fitted proposal, which is kept: ``params`` are the
        scorer's (``scorer_width``, ``scorer_rows``, ``scorer_epochs``,
        ``stall_features``, ``seed``, ...); ``X`` (validated) and ``y`` (optimal labels)
        as in :meth:`fit`, of queries the proposal need not have seen."""
        self.set_params(**params)
        proposal = proposal_state(self.module_)
        self.module_ = self._build(self.encoder_, self.n_labels_)
        self.module_.load_state_dict(proposal, strict=False)
        self.module_.eval()
        X = pd.DataFrame(X).reset_index(drop=True)
        self._fit_scorer(X, np.asarray(y, dtype=np.int64), torch.Generator().manual_seed(self.seed))
        return self

    def _pair_features(self, task, X, labels, bounds):
        """The scorer's features of the pairs (row ``r`` of ``X``, ``labels[r, j]``)."""
        features = pair_features(task, X, labels, bounds)
        if not self.stall_features:
            return features
        return np.concatenate([features, stall_features(task, X, labels, bounds["cycles"])[0]], axis=1)

    # -- prediction ---------------------------------------------------------------------
    def _proposals(self, X, k, companion=False, mask=None, precision=None):
        """``(labels, log-probabilities)`` of the ``k`` best candidates of every row of
        ``X`` (validated), best first, by beam search over ``max(beam, 1)`` arrays (of
        the companion proposal with ``companion``); ``mask``: :meth:`_array_mask` of
        ``X`` where the caller has it; ``precision``: ``batch_precision`` unless given."""
        encoder, net = self.companion_ if companion else (self.encoder_, self.module_)
        if 0 < len(X) < few_rows.FEW_ROWS:
            return self._few_proposals(encoder, net, X, k, mask)
        n_splits = net.n_splits
        features = torch.as_tensor(encoder.transform(X))
        dtype = proposal_dtype(self.batch_precision if precision is None else precision, len(X))
        out_l, out_p = [], []
        with torch.inference_mode(), serial_if_small(len(X)):
            for start in range(0, len(X), self.chunk):
                part = X if len(X) <= self.chunk else X.iloc[start:start + self.chunk]
                allowed = self._array_mask(part) if mask is None else mask[start:start + self.chunk]
                h = net.trunk(features[start:start + self.chunk], dtype)
                logp = torch.log_softmax(net.array(h).masked_fill(~allowed, -1e9), dim=1)
                beam = min(max(self.beam, 1), net.n_arrays)
                top_p, top_a = logp.topk(beam, dim=1)
                joint = top_p[:, :, None] + torch.log_softmax(net.split_logits(h, top_a, dtype), dim=2)
                best_p, best_i = joint.reshape(len(h), -1).topk(min(k, beam * n_splits), dim=1)
                labels = top_a.gather(1, best_i // n_splits) * n_splits + best_i % n_splits
                out_l.append(labels.numpy())
                out_p.append(best_p.numpy())
        if not out_l:
            return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32)
        return np.concatenate(out_l), np.concatenate(out_p)

    def _few_proposals(self, encoder, net, X, k, mask):
        """:meth:`_proposals` of a few rows, compiled (:mod:`airchitect.learn.few_rows`)."""
        allowed = (self._array_mask(X) if mask is None else mask).numpy()
        return few_rows.proposals(few_rows.weights(net), encoder.transform(X), allowed, self.beam, k)

    def _has_companion(self):
        return getattr(self, "companion_", None) is not None and self.companion_candidates > 0

    def _pool(self, X, k, precision=None):
        """``(labels, log-probabilities, repeated)`` ``(n, c)`` of the candidates of every
        row of ``X`` (validated): the proposal's ``k`` most probable, then the
        companion's ``companion_candidates`` (log-probability ``-inf``; ``repeated``
        where a label is already among the proposal's)."""
        if not self._has_companion():
            labels, logp = self._proposals(X, k, precision=precision)
            return labels, logp, np.zeros(labels.shape, dtype=bool)
        mask = self._array_mask(X)
        labels, logp = self._proposals(X, k, mask=mask, precision=precision)
        extra = self._proposals(X, self.companion_candidates, companion=True, mask=mask, precision=precision)[0]
        repeated = np.zeros((len(X), labels.shape[1] + extra.shape[1]), dtype=bool)
        repeated[:, labels.shape[1]:] = (extra[:, :, None] == labels[:, None, :]).any(axis=2)
        return (np.concatenate([labels, extra], axis=1),
                np.concatenate([logp, np.full(extra.shape, -np.inf, np.float32)], axis=1), repeated)

    def candidate_labels(self, X):
        """The labels the scorer ranks for ``k <= candidates`` of every row, ``(n, c)``:
        the proposal's ``candidates``, then a companion's (a label may appear twice)."""
        return self._pool(rows_frame(X), self.candidates)[0]

    def proposed(self, X, k):
        """The proposal's ``k`` most probable labels of every row of ``X`` (validated),
        ``(n, k)``, most probable first, unscored: the set :meth:`top_k` ranks when
        ``k >= candidates``."""
        return self._proposals(rows_frame(X), k)[0]

    def predicted_log_costs(self, X, labels):
        """Scorer's ``log2`` cost of configuration ``labels[r, j]`` for row ``r``, ``(n, k)``."""
        task = _task(self.task)
        bounds, bound = self._bounds(X, labels)
        pairs = self._pair_features(task, X, labels, bounds)
        if len(X) < few_rows.FEW_ROWS:
            over = few_rows.score(few_rows.weights(self.module_), pairs, N_PAIR_FEATURES)
        else:
            with torch.inference_mode(), serial_if_small(len(X)):
                over = self.module_.score(torch.as_tensor(pairs)).numpy()
        return bound + over.reshape(labels.shape)

    def _bounds(self, X, labels):
        """The task's bounds of the pairs (row ``r`` of ``X``, ``labels[r, j]``) and the
        ``log2`` of the objective's, each of ``labels``' shape."""
        task = _task(self.task)
        bounds = task.bounds(X, labels)
        bound = np.asarray(bounds[task.check_objective(self.objective)], dtype=np.float64)
        return bounds, np.log2(np.maximum(bound, 1e-300))

    def _uses_scorer(self):
        return self.module_.scorer_trained.item() > 0

    def top_k(self, X, k=5):
        """The ``k`` best labels of every row, best first, ``(n, k)``: the candidates
        (the proposal's, and a companion's) ranked by the scorer's predicted cost (then
        by probability; a companion's candidates after the proposal's).

        Rows run at most :attr:`chunk` at a time; with more than one chunk and more
        than one torch thread, two chunks run at once (their numpy parts then overlap;
        memory is that of two chunks, about 50 MB), in an even number of chunks of
        about equal size, so that neither thread waits for the other at the end.
        """
        X = rows_frame(X)
        if not self._uses_scorer() or not len(X):
            return self._proposals(X, k)[0]
        pairs_of_chunks = -(-len(X) // (2 * self.chunk))
        size = self.chunk if len(X) <= self.chunk else -(-len(X) // (2 * pairs_of_chunks))
        starts = range(0, len(X), size)

        def one(start):
            part = X if len(X) <= size else X.iloc[start:start + size].reset_index(drop=True)
            lab, logp, repeated = self._pool(part, max(k, self.candidates))
            cost = self._ranking_log_costs(part, lab, k, repeated)
            return np.take_along_axis(lab, np.lexsort((-logp, cost), axis=1)[:, :k], axis=1)

        if len(starts) == 1 or torch.get_num_threads() == 1:
            return np.concatenate([one(start) for start in starts])
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the two chunks are the parallelism: torch and numba run
        pool = ThreadPoolExecutor(max_workers=2, initializer=numba.set_num_threads, initargs=(1,))
        try:  # on one thread in each
            return np.concatenate(list(pool.map(one, starts)))
        finally:  # on an error or Ctrl-C, chunks not yet started are dropped
            pool.shutdown(wait=True, cancel_futures=True)
            torch.set_num_threads(threads)

    def _ranking_log_costs(self, X, labels, k, skip=None):
        """:meth:`predicted_log_costs` of the candidates ``labels`` ``(n, c)`` that can
        rank among the ``k`` cheapest of their row, ``inf`` for the others (for fewer
        than :data:`SERIAL_ROWS` rows, of every candidate) and where ``skip`` holds.

        The scorer predicts ``log2(cost / bound) >= 0``, so a candidate's predicted
        cost is at least its bound: once ``k`` candidates of a row are scored (the
        ``k + 3`` of least bound), a candidate whose bound exceeds the ``k``-th least
        predicted cost among them cannot rank in the ``k`` best, and is not scored.
        The ``k`` best and their order are those of scoring every candidate (up to
        float32 rounding of the scorer, which may differ with the batch's size).
        """
        n, c = labels.shape
        skip = np.zeros((n, c), dtype=bool) if skip is None else skip
        if n < SERIAL_ROWS:  # few rows: one scorer pass over all costs less than two
            return np.where(skip, np.inf, self.predicted_log_costs(X, labels))
        bounds, bound = self._bounds(X, labels)
        cost = np.full((n, c), np.inf)
        m = min(c, k + 3)
        least = np.argpartition(np.where(skip, np.inf, bound), m - 1, axis=1)[:, :m] if m < c else slice(None)
        first = np.zeros((n, c), dtype=bool)
        first[np.arange(n)[:, None], least] = True
        first &= ~skip
        self._score_pairs(X, labels, bounds, bound, cost, first)
        kth = np.partition(cost, k - 1, axis=1)[:, k - 1]
        self._score_pairs(X, labels, bounds, bound, cost, (bound <= kth[:, None]) & ~first & ~skip)
        return cost

    def _score_pairs(self, X, labels, bounds, bound, cost, which):
        """Set ``cost[r, j]`` to ``bound[r, j]`` plus the scorer's prediction for the pair
        (row ``r`` of ``X``, ``labels[r, j]``) wherever ``which[r, j]`` holds (``bounds``:
        the task's bounds of every pair)."""
        r, j = np.nonzero(which)
        if not r.size:
            return
        task = _task(self.task)
        picked = {key: np.asarray(v)[r, j][:, None] for key, v in bounds.items()}
        pairs = pair_features(task, X.take(r).reset_index(drop=True), labels[r, j][:, None], picked)
        if self.stall_features:
            stalls = stall_features(task, X, labels[r, j], picked["cycles"][:, 0], rows=r)[0]
            pairs = np.concatenate([pairs, stalls], axis=1)
        with torch.inference_mode(), serial_if_small(r.size // 32):
            over = self.module_.score(torch.as_tensor(pairs)).numpy()
        cost[r, j] = bound[r, j] + over

    # -- persistence (used by Predictor) ----------------------------------------------
    def get_state(self):
        """``(arrays, json_state)``: the net's tensors and its encoder, and a companion's
        proposal tensors (prefixed :data:`COMPANION`) and encoder."""
        arrays = {k: v.numpy() for k, v in self.module_.state_dict().items()}
        state = {"encoder": self.encoder_.to_dict()}
        if getattr(self, "companion_", None) is not None:
            encoder, net = self.companion_
            arrays.update({COMPANION + k: v.numpy() for k, v in proposal_state(net).items()})
            state["companion_encoder"] = encoder.to_dict()
        return arrays, state

    def set_state(self, arrays, state):
        """Restore what :meth:`get_state` returned."""
        own = {k: torch.as_tensor(v) for k, v in arrays.items() if not k.startswith(COMPANION)}
        self.encoder_ = Encoder.from_dict(state["encoder"])
        self.module_ = self._build(self.encoder_, self.n_labels_)
        self.module_.load_state_dict(own)
        self.module_.eval()
        self.companion_ = None
        if "companion_encoder" in state:
            theirs = {k[len(COMPANION):]: torch.as_tensor(v) for k, v in arrays.items()
                      if k.startswith(COMPANION)}
            self.companion_ = self._companion_net(Encoder.from_dict(state["companion_encoder"]), theirs)
        return self

    def predict(self, X):
        """The predicted label of every row: the best of :meth:`top_k`."""
        return self.top_k(X, 1)[:, 0]

    def decision_function(self, X):
        """Joint log-probabilities of the proposal, ``(n, n_labels)``, ``-inf`` where not
        allowed (every array's split head runs: use for small ``n``)."""
        X = rows_frame(X)
        features = torch.as_tensor(self.encoder_.transform(X))
        with torch.inference_mode():
            out = self.module_(features).numpy() if len(X) else np.zeros((0, self.n_labels_), np.float32)
        return np.where(_task(self.task).allowed(X, validated=True), out, -np.inf)

    def predict_proba(self, X):
        return np.exp(self.decision_function(X))

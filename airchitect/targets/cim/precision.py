"""Per-layer mixed precision for crossbars under an accuracy budget (CIM-AQ style).

Every ``Conv2d``/``Linear`` layer gets a weight width ``w_bits`` and an input
(activation) width ``in_bits`` in ``2..8``. CIM-AQ's crossbar constraints
hold: ``w_bits`` is a multiple of the cell bits ``b_c`` (so a weight fills
whole cells) and the first and last layer may be pinned to 8/8. Accuracy
comes from real quantised inference (fake quantisation in torch): weights
are rounded per output channel, symmetric, to ``w_bits``; each layer's input
is rounded to ``in_bits`` over the range seen on calibration data (unsigned
when that range has no negative values). Latency is the sum over layers of
the CIM-AQ model, :func:`airchitect.targets.cim.cost.layer_costs`.

The search is a greedy sensitivity descent: from 8/8 everywhere, it tries
every one-step reduction (one layer's ``w_bits`` to the next allowed width,
or its ``in_bits`` by one), keeps those whose accuracy loss on the validation
split stays within the budget, and takes the one that removes the most
latency per unit of accuracy lost (ties: more latency removed, then the
earlier layer, weights before inputs). It stops when no step fits. A seeded
random search with the same number of evaluations is there to compare.

The default model is a small CNN trained in seconds on scikit-learn's digits
(:func:`digits_cnn`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_int, check_number_array
from airchitect._threads import torch_one_thread
from airchitect.targets.cim.config import make_config
from airchitect.targets.cim.cost import layer_costs

METHODS = ("greedy", "random")
MIN_BITS, MAX_BITS = 2, 8
#: Largest number of Conv2d/Linear layers a search handles.
MAX_LAYERS = 1024
#: Largest estimated work of a search: quantised inferences x validation samples.
MAX_SAMPLE_PASSES = 10**10


@dataclasses.dataclass(frozen=True)
class DigitsData:
    """Seeded split of scikit-learn's digits (8x8 images scaled to [0, 1], NCHW float32).

    ``train`` 60 %, ``val`` 20 % (searches check the budget here), ``test``
    20 % (reported figures).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclasses.dataclass(frozen=True)
class PrecisionResult:
    """Outcome of :func:`search_precision`.

    Attributes
    ----------
    policy : list of (int, int)
        ``(w_bits, in_bits)`` per layer, in execution order.
    speedup : float
        Latency at uniform 8/8 divided by latency of ``policy``.
    accuracy, accuracy_8bit, accuracy_float : float
        Test accuracy of the policy, of uniform 8/8 and of the float model.
    loss : float
        ``accuracy_float - accuracy`` on the test split.
    search_loss : float
        The same on the validation split (the one the budget constrains).
    latency_us, latency_8bit_us : float
        Summed CIM-AQ latency of the policy and of uniform 8/8.
    evaluations : int
        Quantised inferences run by the search.
    layers : pandas.DataFrame
        ``name, P, n, m, w_bits, in_bits, latency_us, latency_8bit_us`` per layer.
    """

    policy: list
    speedup: float
    accuracy: float
    accuracy_8bit: float
    accuracy_float: float
    loss: float
    search_loss: float
    latency_us: float
    latency_8bit_us: float
    evaluations: int
    method: str
    layers: pd.DataFrame

    def __repr__(self):
        return (f"PrecisionResult(method={self.method!r}, speedup={self.speedup:.3f}, "
                f"accuracy={self.accuracy:.4f}, loss={self.loss:.4f}, policy={self.policy})")


def load_digits_split(seed=0):
    """Return :class:`DigitsData`: digits shuffled with ``seed`` and split 60/20/20."""
    from sklearn.datasets import load_digits

    seed = check_int("seed", seed, 0, 2**32 - 1)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    a, b = int(0.6 * len(y)), int(0.8 * len(y))
    parts = [order[:a], order[a:b], order[b:]]
    return DigitsData(*(arr for idx in parts for arr in (x[idx], y[idx])))


def digits_cnn(seed=0, epochs=12):
    """Train the small digits CNN; return ``(model, DigitsData)``. Deterministic per seed,
    whatever the CPU's vector width (trained in float64, returned in float32).

    Layers: conv 3x3 1->8, conv 3x3 8->32, conv 3x3 stride 2 32->32 (8x8 ->
    4x4), max-pool 2, linear 128->10; ReLU after each convolution. Adam
    (lr 5e-3), batch 64, cross-entropy, ``epochs`` passes, one CPU thread
    (1-3 s of CPU).

    >>> model, data = digits_cnn(0, epochs=1)
    >>> [type(m).__name__ for m in model][:3], data.x_train.shape
    (['Conv2d', 'ReLU', 'Conv2d'], (1078, 1, 8, 8))
    """
    import torch
    from torch import nn

    data = load_digits_split(seed)
    epochs = check_int("epochs", epochs, 1, 1000)
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 10),
    )
    # trained in float64, returned in float32: float32 training follows the CPU's vector
    # width (AVX2 and AVX-512 kernels sum in other orders, and twelve epochs of Adam carry
    # the difference into other policies); in float64 the float32 weights agree
    model = model.double()
    x, y = torch.from_numpy(data.x_train).double(), torch.from_numpy(data.y_train)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    gen = torch.Generator().manual_seed(seed)
    with torch_one_thread():
        for _ in range(epochs):
            for idx in torch.randperm(len(y), generator=gen).split(64):
                opt.zero_grad()
                nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
    return model.float().eval(), data


class _Quantised:
    """Fake-quantised inference of a module under per-layer bit widths."""

    def __init__(self, model, x_calib):
        import torch

        self.torch = torch
        self.model = model
        self.layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        if not self.layers:
            raise ValueError("model has no Conv2d or Linear layer to quantise")
        self.weights = [m.weight.detach().clone() for m in self.layers]
        self.shapes, self.ranges = [], []
        hooks = [m.register_forward_hook(self._record) for m in self.layers]
        try:
            with torch.no_grad():
                model(torch.as_tensor(x_calib))
        finally:
            for h in hooks:
                h.remove()
        self._wcache = {}

    def _record(self, layer, inputs, output):
        x = inputs[0]
        if isinstance(layer, self.torch.nn.Conv2d):
            P = output.shape[2] * output.shape[3]
            n = layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
            m = layer.out_channels
        else:
            P = int(np.prod(output.shape[1:-1], dtype=np.int64))
            n, m = layer.in_features, layer.out_features
        self.shapes.append((int(max(P, 1)), int(n), int(m)))
        self.ranges.append((float(x.min()), float(x.max())))

    def _weight(self, i, bits):
        key = (i, bits)
        if key not in self._wcache:
            w = self.weights[i]
            levels = 2 ** (bits - 1) - 1
            scale = w.abs().flatten(1).amax(1).clamp_min(1e-12) / levels
            scale = scale.view(-1, *([1] * (w.dim() - 1)))
            self._wcache[key] = (w / scale).round().clamp(-levels, levels) * scale
        return self._wcache[key]

    def _quantise_input(self, i, bits):
        low, high = self.ranges[i]
        torch = self.torch

        def hook(layer, inputs):
            x = inputs[0]
            if low >= 0:
                scale = max(high, 1e-12) / (2**bits - 1)
                return ((x / scale).round().clamp(0, 2**bits - 1) * scale,)
            levels = 2 ** (bits - 1) - 1
            scale = max(abs(low), abs(high), 1e-12) / levels
            return (torch.clamp(torch.round(x / scale), -levels, levels) * scale,)

        return hook

    def accuracy(self, policy, x, y):
        """Top-1 accuracy of the model with ``policy`` ((w, in) per layer; None = float)."""
        torch = self.torch
        hooks = []
        try:
            if policy is not None:
                for i, (layer, (w, a)) in enumerate(zip(self.layers, policy)):
                    layer.weight.data = self._weight(i, w)
                    hooks.append(layer.register_forward_pre_hook(self._quantise_input(i, a)))
            with torch.no_grad(), torch_one_thread():
                pred = self.model(torch.as_tensor(x)).argmax(1).numpy()
        finally:
            for h in hooks:
                h.remove()
            for layer, w in zip(self.layers, self.weights):
                layer.weight.data = w
        return float((pred == np.asarray(y)).mean())


def policy_latency_us(shapes, policy, **crossbar):
    """Per-layer CIM-AQ latency (microseconds) of ``policy`` for layers ``(P, n, m)``.

    >>> policy_latency_us([(64, 9, 16)], [(8, 8)]).round(1).tolist()
    [772.8]
    """
    cfg = make_config(**crossbar).to_dict()
    shapes = np.asarray(shapes, dtype=np.int64).reshape(-1, 3)
    policy = np.asarray(policy, dtype=np.int64).reshape(-1, 2)
    return layer_costs(shapes[:, 0], shapes[:, 1], shapes[:, 2], policy[:, 0], policy[:, 1],
                       **cfg)["latency_us"].astype(float)


def search_precision(model=None, data=None, *, budget=0.01, pin_first_last=True,
                     method="greedy", evaluations=None, seed=0, **crossbar):
    """Search per-layer (w_bits, in_bits) that minimise CIM latency within an accuracy budget.

    Parameters
    ----------
    model : torch.nn.Module, optional
        A trained classifier; default: :func:`digits_cnn` trained with ``seed``.
    data : DigitsData, optional
        Splits for calibration (``x_train``), search (``x_val``) and report
        (``x_test``); required with ``model``.
    budget : float
        Largest accuracy loss against the float model on the validation
        split, as a fraction in [0, 1] (0.01 = one percentage point).
    pin_first_last : bool
        Keep the first and the last layer at 8/8 (CIM-AQ's setting).
    method : {"greedy", "random"}
        Greedy sensitivity descent, or seeded random search.
    evaluations : int, optional
        Random search only: policies to try (default 200).
    seed : int
        Seeds the default model and the random search.
    **crossbar
        :class:`~airchitect.targets.cim.CrossbarConfig` options; ``cell_bits``
        (default 4) limits ``w_bits`` to its multiples in 2..8.

    Returns
    -------
    PrecisionResult

    Raises
    ------
    ValueError
        Before the search, when the model has more than ``MAX_LAYERS``
        (1024) Conv2d/Linear layers or the search's estimated inferences
        times validation samples pass ``MAX_SAMPLE_PASSES`` (10**10).
    """
    budget = float(check_number_array("budget", budget, 0.0, 1.0))
    method = check_choice("method", method, METHODS)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    cfg = make_config(**crossbar)
    if model is None:
        model, data = digits_cnn(seed)
    elif data is None:
        raise ValueError("data is required with a model: a DigitsData-like object with "
                         "x_train, x_val, y_val, x_test, y_test")
    n_eval = 200 if evaluations is None else check_int("evaluations", evaluations, 1, 10**6)
    q = _Quantised(model, data.x_train)
    L = len(q.layers)
    w_choices = [b for b in range(MIN_BITS, MAX_BITS + 1) if b % cfg.cell_bits == 0]
    a_choices = list(range(MIN_BITS, MAX_BITS + 1))
    _check_work(L, len(w_choices) + len(a_choices), method, n_eval, len(data.y_val))
    pinned = {0, L - 1} if pin_first_last else set()
    start = [(MAX_BITS, MAX_BITS) if l in pinned else (max(w_choices), MAX_BITS) for l in range(L)]
    lat = lambda pol: policy_latency_us(q.shapes, pol, **cfg.to_dict())  # noqa: E731
    float_val = q.accuracy(None, data.x_val, data.y_val)
    cache = {}

    def val_loss(pol):
        key = tuple(pol)
        if key not in cache:
            cache[key] = float_val - q.accuracy(pol, data.x_val, data.y_val)
        return cache[key]

    if method == "greedy":
        policy = _greedy(start, pinned, w_choices, a_choices, lat, val_loss, budget,
                         1.0 / len(data.y_val))
    else:
        policy = _random(start, pinned, w_choices, a_choices, lat, val_loss, budget, n_eval, seed)
    per_layer, per_layer_8 = lat(policy), lat([(8, 8)] * L)
    float_test = q.accuracy(None, data.x_test, data.y_test)
    acc = q.accuracy(policy, data.x_test, data.y_test)
    layers = pd.DataFrame({
        "name": [type(m).__name__ + str(i) for i, m in enumerate(q.layers)],
        "P": [s[0] for s in q.shapes], "n": [s[1] for s in q.shapes], "m": [s[2] for s in q.shapes],
        "w_bits": [p[0] for p in policy], "in_bits": [p[1] for p in policy],
        "latency_us": per_layer, "latency_8bit_us": per_layer_8,
    })
    return PrecisionResult(
        policy=[(int(w), int(a)) for w, a in policy],
        speedup=float(per_layer_8.sum() / per_layer.sum()),
        accuracy=acc,
        accuracy_8bit=q.accuracy([(8, 8)] * L, data.x_test, data.y_test),
        accuracy_float=float_test,
        loss=float_test - acc,
        search_loss=val_loss(policy),
        latency_us=float(per_layer.sum()),
        latency_8bit_us=float(per_layer_8.sum()),
        evaluations=len(cache),
        method=method,
        layers=layers,
    )


def search_inferences(layers, choices, method, evaluations):
    """Upper bound on the quantised inferences of a search over ``layers`` layers.

    Greedy: every step lowers one layer by one notch (at most ``layers *
    choices`` steps) after trying at most two candidates per layer; random:
    ``evaluations``. Both add the final test-split inferences (four).
    """
    if method == "greedy":
        return 2 * layers * layers * choices + 4
    return evaluations + 4


def _check_work(layers, choices, method, evaluations, val_rows):
    if layers > MAX_LAYERS:
        raise ValueError(f"model has {layers} Conv2d/Linear layers, more than the limit {MAX_LAYERS}")
    if val_rows < 1:
        raise ValueError("data.y_val must hold at least one sample")
    work = search_inferences(layers, choices, method, evaluations) * val_rows
    if work > MAX_SAMPLE_PASSES:
        raise ValueError(f"the {method} search needs up to {work} sample inferences ({layers} layers, "
                         f"{val_rows} validation samples), more than the limit {MAX_SAMPLE_PASSES}; "
                         "use fewer validation samples or evaluations")


def _greedy(policy, pinned, w_choices, a_choices, lat, val_loss, budget, eps):
    policy = list(policy)
    current_lat = lat(policy).sum()
    current_loss = val_loss(policy)
    while True:
        best, best_key = None, None
        for l in range(len(policy)):
            if l in pinned:
                continue
            w, a = policy[l]
            steps = []
            lower_w = [b for b in w_choices if b < w]
            if lower_w:
                steps.append((0, (max(lower_w), a)))
            if a > min(a_choices):
                steps.append((1, (w, a - 1)))
            for kind, new in steps:
                cand = policy[:l] + [new] + policy[l + 1:]
                gain = current_lat - lat(cand).sum()
                if gain <= 0:
                    continue
                loss = val_loss(cand)
                if loss > budget:
                    continue
                score = gain / (max(loss - current_loss, 0.0) + eps)
                key = (score, gain, -l, -kind)
                if best_key is None or key > best_key:
                    best, best_key = cand, key
        if best is None:
            return policy
        policy = best
        current_lat = lat(policy).sum()
        current_loss = val_loss(policy)


def _random(policy, pinned, w_choices, a_choices, lat, val_loss, budget, n_eval, seed):
    rng = np.random.default_rng(seed)
    best, best_lat = list(policy), lat(policy).sum()
    free = [l for l in range(len(policy)) if l not in pinned]
    for _ in range(n_eval):
        cand = list(policy)
        for l in free:
            cand[l] = (int(rng.choice(w_choices)), int(rng.choice(a_choices)))
        latency = lat(cand).sum()
        if latency < best_lat and val_loss(cand) <= budget:
            best, best_lat = cand, latency
    return best

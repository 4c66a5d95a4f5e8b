"""An AIrchitect v2 style classifier: a transformer over input tokens, ordinal heads.

AIrchitect v2 (Seo et al., "AIrchitect v2: Learning the Hardware Accelerator
Design Space through Unified Representations", DATE 2025) encodes the inputs
of a design-space-exploration query as tokens, runs a transformer encoder over
them and predicts the configuration with one head per hardware parameter. An
ordered parameter with ``K`` values gets an ordinal head: ``K - 1`` cumulative
binary targets ``P(value > v_k)``, its part of the paper's "unified ordinal
vector"; an unordered one (a dataflow) gets a softmax head.

Here the heads score every label of a task: the label's score is the sum over
the *label columns* of ``log P(column value of that label)``, so the argmax
over the task's allowed labels is the most probable allowed configuration.
The label columns are the task's space columns that identify a label
(:func:`identifying_columns`): for ``codesign`` ``rows, cols, dataflow, i, j``
(``pes`` follows from ``rows x cols``, ``k`` from ``16 - i - j``).

>>> import airchitect as ac
>>> task = ac.tasks.get("codesign", rows=[4, 8], cols=[4, 8], max_macs=[64], parts=4)
>>> identifying_columns(task.space())
['rows', 'cols', 'dataflow', 'i', 'j']
>>> model = OrdinalTransformerClassifier(task=task, d_model=16, heads=2, layers=1, epochs=1)
>>> data = task.label(task.sample(32, seed=0))
>>> model.fit(data[list(task.input_columns)], data["label"]).predict(data[list(task.input_columns)]).shape
(32,)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from airchitect._checks import check_int
from airchitect.learn.encoding import Encoder
from airchitect.learn.estimators import TorchClassifier, _task
from airchitect.learn.loop import fit_loop

#: smallest probability of one column value (its log is about -13.8)
MIN_PROBABILITY = 1e-6


def identifying_columns(space):
    """The columns of ``space`` (a task's label table) kept as label columns.

    Starting from all of ``space``'s columns, every column is dropped, last to
    first, when the columns left still tell every label apart; at least one
    column is kept. Work: one duplicate check of ``space`` per column.

    >>> space = pd.DataFrame({"a": [1, 1, 2], "b": ["x", "y", "x"], "c": [2, 3, 4]})
    >>> identifying_columns(space)
    ['a', 'b']
    """
    kept = list(space.columns)
    for column in reversed(list(space.columns)):
        rest = [c for c in kept if c != column]
        if rest and not space[rest].duplicated().any():
            kept = rest
    return kept


def column_values(space, columns):
    """``(values, ordinal, index)`` of the label columns ``columns`` of ``space``.

    ``values[c]`` lists the distinct values of column ``c`` (numbers ascending,
    strings in sorted order), ``ordinal[c]`` is whether it gets an ordinal head
    (a numeric column of at least two values) and ``index`` is the
    ``(n_labels, len(columns))`` int64 position of every label's value in
    ``values``.

    >>> space = pd.DataFrame({"rows": [8, 4, 8], "dataflow": ["ws", "os", "os"]})
    >>> values, ordinal, index = column_values(space, ["rows", "dataflow"])
    >>> values, ordinal, index.tolist()
    ([[4, 8], ['os', 'ws']], [True, False], [[1, 1], [0, 0], [1, 0]])
    """
    values, ordinal, index = [], [], []
    for column in columns:
        data = space[column]
        numeric = pd.api.types.is_numeric_dtype(data) and not pd.api.types.is_bool_dtype(data)
        raw = data.to_numpy() if numeric else data.astype(str).to_numpy()
        distinct, where = np.unique(raw, return_inverse=True)
        values.append(distinct.tolist())
        ordinal.append(bool(numeric and len(distinct) > 1))
        index.append(where.reshape(-1).astype(np.int64))
    return values, ordinal, np.stack(index, axis=1) if index else np.zeros((len(space), 0), np.int64)


class OrdinalTransformerNet(nn.Module):
    """Transformer encoder over one token per input column, one head per label column.

    Every input column is one token: its embedding (a table per column, as in
    the ``"tokens"`` encoding) plus a learned position embedding of the column.
    A pre-norm ``nn.TransformerEncoder`` (GELU, feed-forward ``4 x d_model``,
    final LayerNorm) runs over the tokens and their mean goes to the heads:

    - an ordinal head for a column of ``K`` ordered values gives ``K - 1``
      cumulative logits, ``logit_k`` of ``P(value > v_k)``, made strictly
      decreasing as ``logit_k = h_1 - sum_{m=2..k} softplus(h_m)``; then
      ``P(value = v_k) = P(> v_{k-1}) - P(> v_k)`` (with ``P(> v_0) = 1`` and
      ``P(> v_K) = 0``), clamped to at least :data:`MIN_PROBABILITY`;
    - a categorical head gives ``K`` logits of a softmax.

    Parameters
    ----------
    vocab_sizes : list of int
        Token vocabulary of every input column (``Encoder.vocab_sizes()``).
    n_values : list of int
        Number of distinct values ``K`` of every label column.
    ordinal : list of bool
        Whether each label column gets an ordinal head (else a softmax).
    label_index : array of int, ``(n_labels, n_columns)``
        Position of every label's value among its column's values; a buffer
        not saved with the weights (rebuilt from the task).
    d_model, heads, layers : int
        Width of the tokens, attention heads, encoder layers.

    Examples
    --------
    >>> net = OrdinalTransformerNet([65, 65], [3, 2], [True, False], [[0, 0], [2, 1]], d_model=8, heads=2)
    >>> net(torch.tensor([[10, 12], [3, 4], [0, 64]])).shape
    torch.Size([3, 2])
    """

    def __init__(self, vocab_sizes, n_values, ordinal, label_index, d_model=64, heads=4, layers=2):
        super().__init__()
        vocab_sizes = [int(v) for v in vocab_sizes]
        self.n_values = [int(k) for k in n_values]
        self.ordinal = [bool(o) for o in ordinal]
        offsets = np.concatenate([[0], np.cumsum(vocab_sizes)[:-1]]).astype(np.int64)
        self.register_buffer("offsets", torch.as_tensor(offsets), persistent=False)
        self.register_buffer("label_index", torch.as_tensor(np.asarray(label_index, dtype=np.int64)),
                             persistent=False)
        self.tokens = nn.Embedding(sum(vocab_sizes), d_model)
        self.position = nn.Parameter(torch.randn(len(vocab_sizes), d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=4 * d_model, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        self.heads = nn.ModuleList(
            nn.Linear(d_model, k - 1 if o else k) for k, o in zip(self.n_values, self.ordinal)
        )

    def pooled(self, tokens):
        """Mean of the encoded tokens, ``(n, d_model)``, of int64 ``tokens`` ``(n, n_inputs)``."""
        x = self.tokens(tokens + self.offsets) + self.position
        return self.encoder(x).mean(dim=1)

    def head_logits(self, tokens):
        """Raw head outputs, one tensor per label column: ``(n, K - 1)`` decreasing
        cumulative logits of an ordinal head, ``(n, K)`` softmax logits of a categorical one."""
        z = self.pooled(tokens)
        out = []
        for head, ordinal in zip(self.heads, self.ordinal):
            h = head(z)
            if ordinal:
                steps = nn.functional.softplus(h[:, 1:])
                h = torch.cat([h[:, :1], h[:, :1] - torch.cumsum(steps, dim=1)], dim=1)
            out.append(h)
        return out

    @staticmethod
    def ordinal_log_probs(logits):
        """``log P(value = v_k)``, ``(n, K)``, of cumulative logits ``(n, K - 1)``."""
        above = torch.sigmoid(logits)
        ones, zeros = torch.ones_like(above[:, :1]), torch.zeros_like(above[:, :1])
        p = torch.cat([ones, above], dim=1) - torch.cat([above, zeros], dim=1)
        return torch.log(p.clamp_min(MIN_PROBABILITY))

    def column_log_probs(self, tokens):
        """``log P(value)`` of every label column, one ``(n, K)`` tensor each."""
        return [self.ordinal_log_probs(h) if o else torch.log_softmax(h, dim=1)
                for h, o in zip(self.head_logits(tokens), self.ordinal)]

    def forward(self, tokens):
        """Log-score of every label, ``(n, n_labels)``: the sum over label columns of
        ``log P(column value of that label)``."""
        scores = None
        for c, lp in enumerate(self.column_log_probs(tokens)):
            part = lp[:, self.label_index[:, c]]
            scores = part if scores is None else scores + part
        if scores is None:
            return torch.zeros((len(tokens), len(self.label_index)), device=tokens.device)
        return scores

    def loss(self, tokens, labels):
        """Mean over rows of the sum of per-head losses of the true ``labels`` (int64 ``(n,)``):
        binary cross-entropy summed over the ``K - 1`` cumulative targets
        ``[value index > k]`` of an ordinal head, cross-entropy of a categorical one."""
        target = self.label_index[labels]
        total = tokens.new_zeros((), dtype=torch.float32)
        for c, (h, ordinal) in enumerate(zip(self.head_logits(tokens), self.ordinal)):
            if ordinal:
                k = torch.arange(h.shape[1], device=h.device)
                above = (target[:, c, None] > k[None, :]).to(h.dtype)
                bce = nn.functional.binary_cross_entropy_with_logits(h, above, reduction="none")
                total = total + bce.sum(dim=1).mean()
            else:
                total = total + nn.functional.cross_entropy(h, target[:, c])
        return total


class OrdinalTransformerClassifier(TorchClassifier):
    """AIrchitect v2 (Seo et al., DATE 2025) as a baseline: a transformer encoder
    over the inputs' tokens and ordinal heads over the label columns
    (:class:`OrdinalTransformerNet`), trained on the sum of per-head losses.

    ``decision_function`` gives the joint log-scores ``(n, n_labels)`` with the
    labels the task rules out for a row set to ``-1e9``, so ``predict`` gives an
    allowed label.

    Parameters
    ----------
    task : str or Task
        Task name (or task); required, its space gives the heads.
    d_model, heads, layers : int
        Token width (a multiple of ``heads``), attention heads, encoder layers.
    epochs, batch_size : int
    learning_rate, weight_decay : float
        AdamW with a one-cycle schedule, as the other torch classifiers.
    objective : str, optional
        Recorded with the model (the labels carry the objective).
    seed : int
    verbose : bool
        Print the loss of every epoch on stderr.
    columns : list of str, optional
        Label columns (space columns that tell every label apart); default
        :func:`identifying_columns` of the task's space.

    Work and memory: training holds the ``(n, n_inputs)`` tokens and runs
    ``epochs x ceil(n / batch_size)`` steps of ``batch_size`` rows;
    ``decision_function`` returns ``(n, n_labels)`` float32 and, like ``predict``,
    scores at most ``estimators.PREDICT_ELEMENTS`` rows x labels at a time.

    Examples
    --------
    >>> import airchitect as ac
    >>> task = ac.tasks.get("codesign", rows=[4, 8], cols=[4, 8], max_macs=[64], parts=4)
    >>> model = OrdinalTransformerClassifier(task=task, d_model=16, heads=2, epochs=2)
    >>> data = task.label(task.sample(64, seed=1))
    >>> inputs = data[list(task.input_columns)]
    >>> model.fit(inputs, data["label"]).decision_function(inputs).shape
    (64, 36)
    >>> model.columns_
    ['rows', 'cols', 'dataflow', 'i', 'j']
    """

    encoding = "tokens"

    def __init__(self, task=None, d_model=64, heads=4, layers=2, epochs=20, batch_size=256,
                 learning_rate=1e-3, weight_decay=1e-4, objective=None, seed=0, verbose=False,
                 columns=None):
        self.task = task
        self.d_model = d_model
        self.heads = heads
        self.layers = layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.objective = objective
        self.seed = seed
        self.verbose = verbose
        self.columns = columns

    # -- the label columns -----------------------------------------------------------------
    def _task_or_fail(self):
        if self.task is None:
            raise ValueError("task must be a task name or Task: the ordinal heads come from its space")
        return _task(self.task)

    def _label_columns(self, space):
        if self.columns is None:
            return identifying_columns(space)
        if isinstance(self.columns, str) or not all(isinstance(c, str) for c in self.columns):
            raise TypeError(f"columns must be a list of column names of the task's space, "
                            f"got {self.columns!r}")
        columns = list(self.columns)
        names = list(space.columns)
        bad = [c for c in columns if c not in names]
        if bad or not columns or len(set(columns)) != len(columns):
            raise ValueError(f"columns must be distinct names among {', '.join(names)}; got {columns}")
        if space[columns].duplicated().any():
            raise ValueError(f"columns {', '.join(columns)} do not tell every label of the task apart")
        return columns

    def _build(self, encoder, n_labels):
        """The module of ``encoder`` (tokens) and the task's space; works on the meta device."""
        task = self._task_or_fail()
        heads = check_int("heads", self.heads, 1, 64)
        d_model = check_int("d_model", self.d_model, heads, 4096)
        if d_model % heads:
            raise ValueError(f"d_model must be a multiple of heads ({heads}), got {d_model}")
        layers = check_int("layers", self.layers, 1, 64)
        if n_labels != task.n_labels:
            raise ValueError(f"n_labels must be the task's {task.n_labels}, got {n_labels}")
        space = task.space()
        columns = self._label_columns(space)
        values, ordinal, index = column_values(space, columns)
        self.columns_ = columns
        return OrdinalTransformerNet(encoder.vocab_sizes(), [len(v) for v in values], ordinal,
                                     index, d_model, heads, layers)

    # -- training and scoring -----------------------------------------------------------------
    def fit(self, X, y, costs=None):
        """Train on inputs ``X`` (DataFrame) and labels ``y`` (ids in ``[0, n_labels)``).

        ``costs`` is accepted for the estimator interface and not used.
        """
        task = self._task_or_fail()
        epochs = check_int("epochs", self.epochs, 1, 10**6)
        batch_size = check_int("batch_size", self.batch_size, 1)
        X = pd.DataFrame(X).reset_index(drop=True)
        y = np.asarray(y)
        if y.dtype.kind not in "iu":
            raise TypeError(f"y must be integer label ids in [0, {task.n_labels - 1}], got dtype {y.dtype}")
        y = y.astype(np.int64)
        if len(y) != len(X) or not len(y):
            raise ValueError(f"y must hold one label per row of X ({len(X)}, at least 1), got {len(y)}")
        if y.min() < 0 or y.max() >= task.n_labels:
            bad = y[(y < 0) | (y >= task.n_labels)][0]
            raise ValueError(f"y must be label ids in [0, {task.n_labels - 1}], got {bad}")
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        self.encoder_ = Encoder(self.encoding).fit(X)
        self.n_labels_ = task.n_labels
        self.classes_ = np.arange(self.n_labels_)
        self.module_ = self._build(self.encoder_, self.n_labels_)
        tokens = torch.as_tensor(self.encoder_.transform(X))
        targets = torch.as_tensor(y)
        self.module_.train()
        fit_loop(self.module_.parameters(), len(y), lambda b: self.module_.loss(tokens[b], targets[b]),
                 epochs=epochs, batch_size=batch_size, learning_rate=self.learning_rate,
                 weight_decay=self.weight_decay, generator=generator, verbose=self.verbose)
        self.module_.eval()
        return self

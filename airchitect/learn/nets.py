"""Torch modules of the learned predictors."""

from __future__ import annotations

import torch
from torch import nn


class AirchitectNet(nn.Module):
    """AIRCHITECT's classifier: one embedding per input token, concatenated,
    one hidden ReLU layer, logits over the task's labels.

    Parameters
    ----------
    vocab_sizes : list of int
        Embedding table size of each input column.
    n_labels : int
    embedding_dim, hidden : int
    """

    def __init__(self, vocab_sizes, n_labels, embedding_dim=16, hidden=256):
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(v, embedding_dim) for v in vocab_sizes)
        self.hidden = nn.Linear(embedding_dim * len(vocab_sizes), hidden)
        self.out = nn.Linear(hidden, n_labels)

    def forward(self, tokens):
        x = torch.cat([emb(tokens[:, i]) for i, emb in enumerate(self.embeddings)], dim=1)
        return self.out(torch.relu(self.hidden(x)))


class ResidualBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 2 * width)
        self.fc2 = nn.Linear(2 * width, width)

    def forward(self, x):
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm(x))))


class ResMLP(nn.Module):
    """A residual MLP over continuous features: input projection, ``depth``
    pre-norm residual blocks, a final norm and logits over the labels."""

    def __init__(self, n_features, n_labels, width=256, depth=3):
        super().__init__()
        self.inp = nn.Linear(n_features, width)
        self.blocks = nn.Sequential(*(ResidualBlock(width) for _ in range(depth)))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, n_labels)

    def forward(self, x):
        return self.out(self.norm(self.blocks(self.inp(x))))

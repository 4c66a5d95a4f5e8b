"""The training loop shared by the torch models: AdamW with a one-cycle schedule."""

from __future__ import annotations

import sys

import torch


def fit_loop(parameters, n, loss_of, *, epochs, batch_size, learning_rate, weight_decay, generator,
             verbose=False, label="epoch"):
    """Minimise ``loss_of(batch)`` over shuffled batches of ``range(n)``.

    Parameters
    ----------
    parameters : iterable of tensors
        What AdamW updates.
    n : int
        Training rows; every epoch visits a fresh permutation of them.
    loss_of : callable
        Maps a ``LongTensor`` of row indices to a scalar loss tensor.
    epochs, batch_size : int
    learning_rate, weight_decay : float
        AdamW's; the learning rate follows a one-cycle schedule peaking at it.
    generator : torch.Generator
        Seeds the permutations.
    verbose : bool
        Print the mean loss of every epoch (prefixed by ``label``) on stderr.

    Work: ``epochs x ceil(n / batch_size)`` optimiser steps.

    >>> w = torch.zeros(1, requires_grad=True)
    >>> fit_loop([w], 8, lambda b: ((w - 1) ** 2).sum(), epochs=50, batch_size=4, learning_rate=0.3,
    ...          weight_decay=0.0, generator=torch.Generator().manual_seed(0))
    >>> bool(abs(w.item() - 1) < 0.02)
    True
    """
    optim = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    steps = epochs * max(1, -(-n // batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, learning_rate, total_steps=steps)
    for epoch in range(epochs):
        total = 0.0
        for batch in torch.randperm(n, generator=generator).split(batch_size):
            loss = loss_of(batch)
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
            total += float(loss.detach()) * len(batch)
        if verbose:
            print(f"{label} {epoch + 1}/{epochs}: loss {total / max(n, 1):.5f}", file=sys.stderr, flush=True)

"""A small CNN on scikit-learn's bundled digits (8x8 images), trained in seconds.

Used to show the crossbar compiler's accuracy under device variation and ADC
resolution. Nothing is downloaded: the images ship with scikit-learn.

>>> model, data = train_digits_cnn(seed=0, epochs=2)
>>> data["x_train"].shape[1:], int(data["y_test"].shape[0])
(torch.Size([1, 8, 8]), 360)
"""

from __future__ import annotations

from airchitect._threads import torch_one_thread


def digits_data(seed=0, test_fraction=0.2):
    """Digits as float32 tensors (N, 1, 8, 8) in [0, 1] and int64 labels, split by ``seed``."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    x_tr, x_te, y_tr, y_te = train_test_split(images, labels, test_size=test_fraction,
                                              random_state=seed, stratify=labels)
    as_t = torch.from_numpy
    return {"x_train": as_t(x_tr), "y_train": as_t(y_tr), "x_test": as_t(x_te), "y_test": as_t(y_te)}


def digits_cnn():
    """Conv(1->8, 3x3) ReLU MaxPool2 Conv(8->16, 3x3) ReLU MaxPool2 Flatten Linear(64->10)."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64, 10),
    )


def train_digits_cnn(seed=0, epochs=20, batch=256, lr=2e-2):
    """Train :func:`digits_cnn` with Adam (one thread); return ``(model in eval mode, data dict)``."""
    with torch_one_thread():
        return _train(seed, epochs, batch, lr)


def _train(seed, epochs, batch, lr):
    import torch

    torch.manual_seed(seed)
    data = digits_data(seed)
    model = digits_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = data["x_train"], data["y_train"]
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    return model.eval(), data


def accuracy(logits, labels):
    """Fraction of rows whose arg-max equals the label."""
    import torch

    logits = torch.as_tensor(logits)
    return float((logits.argmax(dim=1) == torch.as_tensor(labels)).double().mean())

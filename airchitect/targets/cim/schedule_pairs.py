"""Weight duplication of a convolution pair under a PE budget (the cim-schedule task).

A producer convolution A (``c_in -> c_mid``, kernel ``k1``) feeds a consumer
convolution B (``c_mid -> c_out``, kernel ``k2``), both stride 1, "same"
padding, on an ``H x H`` feature map, 8-bit weights and inputs, the default
crossbar. The choice is how many copies ``(D1, D2)`` of each layer's weights
to place on a chip of ``n_pes`` PEs; the cost is the cross-layer makespan of
the pair exactly as :func:`airchitect.targets.cim.schedule.schedule`
simulates it (one output row per set, default network-on-chip).

Because every set of a layer lasts the same time and sets become ready in
order, the copy that frees first is always the one used ``D`` sets earlier,
so the simulation reduces to a recurrence over rows that is vectorised over
all (input, choice) pairs:

* A: ``end1[s] = (s // D1 + 1) * d1`` with ``d1 = H * t_mvm1``;
* B: ``ready[s] = end1[min(s + k2 // 2, H - 1)] + transfer``,
  ``start[s] = max(ready[s], end2[s - D2])``, ``end2[s] = start[s] + d2``.

>>> inputs = sample_inputs(3, seed=0)
>>> costs = duplication_costs(inputs, duplication_space())
>>> costs.shape
(3, 16)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect._checks import check_int, check_int_array
from airchitect.targets.cim.cost import layer_costs
from airchitect.targets.cim.schedule import TRANSFER_BITS_PER_US, TRANSFER_LATENCY_US

#: Copies per layer in the space.
COPIES = (1, 2, 4, 8)
INPUT_COLUMNS = ("H", "c_in", "c_mid", "c_out", "k1", "k2", "n_pes")
BITS = 8


def duplication_space():
    """The 16 labels: ``label, D1, D2`` with ``D1, D2`` in ``COPIES`` (D1 major).

    >>> duplication_space().iloc[5].tolist()
    [5, 2, 2]
    """
    d1, d2 = np.meshgrid(COPIES, COPIES, indexing="ij")
    return pd.DataFrame({"label": np.arange(d1.size), "D1": d1.ravel(), "D2": d2.ravel()})


def sample_inputs(n, seed=0):
    """Draw ``n`` seeded layer pairs with a PE budget.

    ``H`` uniform in 4..64; channels ``round(2 ** u)``, ``u`` uniform in
    [4, 9] (16..512); ``k1, k2`` in {1, 3} with equal odds; ``n_pes =
    ceil((T1 + T2) * f)`` with ``f = 2 ** v``, ``v`` uniform in [0, 3]
    (1x to 8x the tiles of one copy each).
    """
    n = check_int("n", n, 1, 10**8)
    rng = np.random.default_rng(check_int("seed", seed, 0, 2**32 - 1))
    H = rng.integers(4, 65, n)
    ch = np.rint(2.0 ** rng.uniform(4, 9, (3, n))).astype(np.int64)
    k = np.where(rng.random((2, n)) < 0.5, 1, 3)
    factor = 2.0 ** rng.uniform(0, 3, n)
    t1, t2 = _tiles(ch[0], ch[1], ch[2], k[0], k[1])
    n_pes = np.ceil((t1 + t2) * factor).astype(np.int64)
    return pd.DataFrame({"H": H, "c_in": ch[0], "c_mid": ch[1], "c_out": ch[2],
                         "k1": k[0], "k2": k[1], "n_pes": n_pes})


def _tiles(c_in, c_mid, c_out, k1, k2):
    a = layer_costs(1, c_in * k1 * k1, c_mid, BITS, BITS)
    b = layer_costs(1, c_mid * k2 * k2, c_out, BITS, BITS)
    return a["tiles"], b["tiles"]


def _check_inputs(inputs):
    missing = [c for c in INPUT_COLUMNS if c not in inputs.columns]
    if missing:
        raise ValueError(f"inputs need columns {', '.join(INPUT_COLUMNS)}; missing {', '.join(missing)}")
    out = {c: check_int_array(c, inputs[c].to_numpy(), 1, 2**31 - 1) for c in INPUT_COLUMNS}
    for c in ("k1", "k2"):
        if not np.isin(out[c], (1, 3, 5, 7)).all():
            raise ValueError(f"{c} must be odd kernel sizes in {{1, 3, 5, 7}}")
    if out["H"].max() > 4096:
        raise ValueError("H must be integers in [1, 4096]")
    return out


def duplication_costs(inputs, space=None):
    """Cross-layer makespan (us) of every input pair under every duplication choice.

    Parameters
    ----------
    inputs : pandas.DataFrame
        Columns ``H, c_in, c_mid, c_out, k1, k2, n_pes`` (see :func:`sample_inputs`).
    space : pandas.DataFrame, optional
        Columns ``D1, D2``; default :func:`duplication_space`.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(inputs), len(space))``; ``inf`` where ``D1 * T1 + D2 * T2``
        exceeds ``n_pes``.
    """
    x = _check_inputs(inputs)
    space = duplication_space() if space is None else space
    D1 = check_int_array("D1", space["D1"].to_numpy(), 1, 2**20)[None, :]
    D2 = check_int_array("D2", space["D2"].to_numpy(), 1, 2**20)[None, :]
    a = layer_costs(1, x["c_in"] * x["k1"] ** 2, x["c_mid"], BITS, BITS)
    b = layer_costs(1, x["c_mid"] * x["k2"] ** 2, x["c_out"], BITS, BITS)
    col = lambda v: np.asarray(v, dtype=float)[:, None]  # noqa: E731
    H = x["H"][:, None]
    d1 = col(a["exec_latency_us"] / a["tiles"]) * H   # one output row of A
    d2 = col(b["exec_latency_us"] / b["tiles"]) * H
    transfer = TRANSFER_LATENCY_US + col(x["H"] * x["c_mid"] * BITS) / TRANSFER_BITS_PER_US
    halo = x["k2"][:, None] // 2
    shape = np.broadcast_shapes(H.shape, D1.shape)
    width = int(D2.max())
    recent = np.zeros(shape + (width,))  # end2 of the last `width` sets, by s % width
    back = np.broadcast_to(D2, shape)
    done = np.zeros(shape)
    for s in range(int(H.max())):
        valid = s < H
        ready = (np.minimum(s + halo, H - 1) // D1 + 1) * d1 + transfer
        slot = np.take_along_axis(recent, ((s - back) % width)[..., None], axis=-1)[..., 0]
        end = np.maximum(ready, np.where(s >= back, slot, 0.0)) + d2
        recent[..., s % width] = end
        done = np.where(valid, end, done)
    used = D1 * col(a["tiles"]) + D2 * col(b["tiles"])
    return np.where(used <= x["n_pes"][:, None], done, np.inf)


def duplication_labels(inputs, space=None):
    """Best label per input: least makespan, then fewer PEs used, then lower label."""
    space = duplication_space() if space is None else space
    costs = duplication_costs(inputs, space)
    x = _check_inputs(inputs)
    t1, t2 = _tiles(x["c_in"], x["c_mid"], x["c_out"], x["k1"], x["k2"])
    used = space["D1"].to_numpy()[None] * t1[:, None] + space["D2"].to_numpy()[None] * t2[:, None]
    best = np.isclose(costs, costs.min(axis=1, keepdims=True), rtol=1e-12, atol=0.0)
    used = np.where(best, used, np.iinfo(np.int64).max)
    return np.argmin(used, axis=1)  # argmin picks the lowest label among equals

"""Cross-layer makespan of a convolution pair under weight duplication, vectorised.

A producer convolution A (``c_in -> c_mid``, kernel ``k1``) feeds a consumer
convolution B (``c_mid -> c_out``, kernel ``k2``), both stride 1, "same"
padding, on an ``H x H`` feature map, 8-bit weights and inputs, the default
crossbar. With ``(D1, D2)`` copies of each layer's weights on a chip of
``n_pes`` PEs, the makespan is exactly what
:func:`airchitect.targets.cim.schedule.schedule` simulates (one output row per
set, default network-on-chip).

Because every set of a layer lasts the same time and sets become ready in
order, the copy that frees first is always the one used ``D`` sets earlier,
so the simulation reduces to a recurrence over rows that is vectorised over
all (input, choice) pairs:

* A: ``end1[s] = (s // D1 + 1) * d1`` with ``d1 = H * t_mvm1``;
* B: ``ready[s] = end1[min(s + k2 // 2, H - 1)] + transfer``,
  ``start[s] = max(ready[s], end2[s - D2])``, ``end2[s] = start[s] + d2``.

The ``cim-schedule`` task (:mod:`airchitect.tasks.cim_schedule`) validates the
inputs and defines the space.
"""

from __future__ import annotations

import numpy as np

from airchitect.targets.cim.cost import layer_costs
from airchitect.targets.cim.schedule import TRANSFER_BITS_PER_US, TRANSFER_LATENCY_US

#: weight and input bits of both layers
BITS = 8


def pair_tiles(c_in, c_mid, c_out, k1, k2):
    """PEs (tiles) of one copy of A and of B, two arrays."""
    a = layer_costs(1, c_in * k1 * k1, c_mid, BITS, BITS)
    b = layer_costs(1, c_mid * k2 * k2, c_out, BITS, BITS)
    return a["tiles"], b["tiles"]


def pair_makespans(x, D1, D2):
    """Cross-layer makespan (us) of every pair under every duplication choice.

    ``x`` maps ``H, c_in, c_mid, c_out, k1, k2, n_pes`` to int64 arrays of
    ``n`` pairs; ``D1, D2`` are int arrays of ``L`` choices. Returns ``(n, L)``
    float64, ``inf`` where ``D1 * T1 + D2 * T2`` exceeds ``n_pes``.
    """
    D1, D2 = np.asarray(D1)[None, :], np.asarray(D2)[None, :]
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

"""Layer-by-layer and cross-layer schedules of a network on a tiled CIM chip.

The chip has ``n_pes`` processing elements (PEs); each PE is one crossbar of
the configured size with its ADCs. Weights are stationary: every layer's
``T`` tiles (from the CIM-AQ model, :func:`airchitect.targets.cim.cost.layer_costs`)
are placed on ``T`` PEs of their own, ``D`` times over with weight duplication.
One matrix-vector product (MVM, one output pixel or token) occupies all ``T``
PEs of one copy for ``t_mvm_us`` (the layer's execution latency per vector
divided by its tiles: the tiles of one copy work in parallel).

A layer's output is split into *sets*, blocks of ``set_rows`` output rows.
A set is ready when the sets of the previous layer it reads have finished
and their outputs have crossed the network-on-chip (``transfer_latency_us +
bits / transfer_bits_per_us``); it then runs on the copy of its layer that
frees first. With ``strategy="layer"`` a layer waits for the whole previous
layer (and its whole output's transfer); with ``strategy="cross-layer"``
(CLSA-CIM) each set waits only for the sets its convolution window reads.

The network is treated as a chain: layer ``l`` reads layer ``l - 1``.
Residual additions and the projection shortcuts of ResNets therefore count
as sequential layers (a shortcut convolution "reads" the layer listed before
it); when the previous layer's output rows differ from this layer's input
rows (a pooling or a shortcut in between), rows are scaled proportionally.

A network with more tiles than PEs is time-multiplexed: the chain is cut
greedily into segments that fit; each segment is programmed (all PEs in
parallel, ``t_write_us``) after the previous segment has finished, and the
programming of every segment, the first included, counts in the makespan.
A single layer with more tiles than PEs is rejected with a ValueError.
When the whole network fits, weights are programmed before inference and
not counted.

>>> import pandas as pd
>>> net = pd.DataFrame({"kind": ["conv", "conv"], "M": [16, 16], "N": [2, 1],
...                     "K": [9, 18], "in_h": 4, "in_w": 4, "kh": 3, "kw": 3,
...                     "stride": 1, "padding": 1, "in_channels": [1, 2],
...                     "out_channels": [2, 1], "groups": 1})
>>> s = schedule(net, 2, "cross-layer", transfer_latency_us=0.0)
>>> round(s.makespan_us, 1), round(s.speedup_vs_layer, 3)
(268.8, 1.333)
"""

from __future__ import annotations

import dataclasses
import heapq

import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_int, check_int_array, check_number_array
from airchitect._math import ceil_div
from airchitect.targets.cim.config import make_config
from airchitect.targets.cim.cost import layer_costs
from airchitect.targets.cim.schedule_layers import layer_table

STRATEGIES = ("layer", "cross-layer")

#: Network-on-chip defaults: 0.1 us per transfer, 64 bits per ns.
TRANSFER_LATENCY_US = 0.1
TRANSFER_BITS_PER_US = 64_000.0

#: Largest number of sets (output rows / set_rows, summed over layers) one schedule simulates.
MAX_SETS = 2**21
#: Largest number of timeline rows (sets x the PEs of one copy, summed over layers) one schedule returns.
MAX_TIMELINE_ROWS = 2**24
#: Largest PE count of one copy of a layer (tiles x count).
MAX_TILES = 2**40


@dataclasses.dataclass(frozen=True)
class ScheduleResult:
    """A simulated schedule.

    Attributes
    ----------
    makespan_us : float
        Time from the first set's start (or the first programming) to the
        last set's end, microseconds.
    utilization : float
        ``busy_us.sum() / (n_pes * makespan_us)`` in (0, 1].
    speedup_vs_layer : float
        Makespan of the layer-by-layer schedule without duplication (same
        chip and configuration) divided by ``makespan_us``.
    utilization_vs_layer : float
        ``utilization`` divided by that baseline's utilization (equal to
        ``speedup_vs_layer``: the busy time does not depend on the schedule).
    utilization_used : float
        Busy time over (PEs that hold weights x makespan); with duplication
        more PEs hold weights, so this grows less than ``utilization``.
    utilization_used_vs_layer : float
        ``utilization_used`` divided by that of the baseline.
    busy_us : numpy.ndarray
        Busy time of every PE, microseconds (length ``n_pes``).
    timeline : pandas.DataFrame
        One row per set and PE: ``set`` (index within its layer), ``layer``
        (index), ``pe``, ``start``, ``end`` (microseconds).
    layers : pandas.DataFrame
        One row per layer: ``name, tiles, copies, first_pe, segment, sets,
        t_mvm_us, start_us, end_us``.
    """

    strategy: str
    n_pes: int
    makespan_us: float
    utilization: float
    speedup_vs_layer: float
    utilization_vs_layer: float
    utilization_used: float
    utilization_used_vs_layer: float
    busy_us: np.ndarray
    timeline: pd.DataFrame
    layers: pd.DataFrame

    def __repr__(self):
        return (f"ScheduleResult(strategy={self.strategy!r}, n_pes={self.n_pes}, "
                f"makespan_us={self.makespan_us:.6g}, utilization={self.utilization:.4f}, "
                f"speedup_vs_layer={self.speedup_vs_layer:.4g})")


def _per_layer(name, value, n_layers, low, high):
    arr = check_int_array(name, value, low, high)
    if arr.ndim == 0:
        return np.full(n_layers, int(arr), dtype=np.int64)
    if arr.shape != (n_layers,):
        raise ValueError(f"{name} must be a scalar or one value per layer ({n_layers}), "
                         f"got {arr.shape[0] if arr.ndim == 1 else arr.shape} values")
    return arr


def layer_timing(layers, w_bits=8, in_bits=8, **crossbar):
    """Return ``(tiles, t_mvm_us, t_write_us)`` for the layers of a :func:`layer_table`.

    ``tiles`` is the PE count of one copy of each layer (all its instances);
    ``t_mvm_us`` the time one MVM keeps those PEs busy (microseconds): the
    layer's per-vector execution latency in the CIM-AQ model divided by its
    tiles; ``t_write_us`` the time to program one crossbar.
    """
    cfg = make_config(**crossbar).replace(duplication=1)
    costs = layer_costs(1, layers["n"].to_numpy(), layers["m"].to_numpy(), w_bits, in_bits,
                        **cfg.to_dict())
    tiles = costs["tiles"].astype(np.int64)
    t_mvm = costs["exec_latency_us"] / tiles
    instances = layers["instances"].to_numpy()
    too_many = tiles.astype(np.float64) * instances > MAX_TILES
    if too_many.any():
        worst = int(np.flatnonzero(too_many)[0])
        raise ValueError(f"layer {worst} needs more than {MAX_TILES} PEs per copy "
                         f"({int(tiles[worst])} tiles x count {int(instances[worst])}); "
                         "use fewer or smaller layers")
    return tiles * instances, t_mvm, cfg.t_write_us


def check_size(layers, tiles, set_rows):
    """Raise ValueError when a schedule would pass ``MAX_SETS`` sets or ``MAX_TIMELINE_ROWS`` rows."""
    sets = ceil_div(layers["rows"].to_numpy(), set_rows)
    total = int(sets.sum(dtype=object))
    if total > MAX_SETS:
        raise ValueError(f"the network has {total} sets (output rows M / set_rows, summed over "
                         f"layers), more than the limit {MAX_SETS}; use a larger set_rows or smaller M")
    rows = int((sets.astype(object) * tiles.astype(object)).sum())
    if rows > MAX_TIMELINE_ROWS:
        raise ValueError(f"the schedule's timeline has {rows} rows (sets x PEs per copy, summed over "
                         f"layers), more than the limit {MAX_TIMELINE_ROWS}; use a larger set_rows, "
                         "larger crossbars or smaller M")


def _segments(tiles, n_pes):
    """Cut the chain into consecutive segments whose tiles fit in ``n_pes``."""
    if tiles.max() > n_pes:
        worst = int(np.argmax(tiles))
        raise ValueError(f"layer {worst} needs {int(tiles[worst])} PEs, more than n_pes={n_pes}; "
                         "use more PEs, larger crossbars or fewer weight bits")
    seg = np.zeros(len(tiles), dtype=np.int64)
    used = 0
    for i, t in enumerate(tiles):
        if used + t > n_pes:
            seg[i:] += 1
            used = 0
        used += t
    return seg


def auto_duplication(tiles, work_us, n_pes, max_copies=None):
    """Greedy weight duplication within ``n_pes`` PEs.

    Repeatedly gives one more copy to the layer with the largest time per
    copy (``work_us / copies``) among those whose extra copy still fits and
    that have fewer than ``max_copies`` (per layer, e.g. its MVM count),
    until no copy fits. Ties go to the earlier layer.

    >>> auto_duplication(np.array([1, 2]), np.array([40.0, 10.0]), 6).tolist()
    [4, 1]
    """
    tiles = np.asarray(tiles, dtype=np.int64)
    copies = np.ones(len(tiles), dtype=np.int64)
    cap = np.full(len(tiles), np.iinfo(np.int64).max) if max_copies is None else np.asarray(max_copies)
    free = int(n_pes - tiles.sum())
    if free < 0:
        return copies
    heap = [(-float(w), i) for i, w in enumerate(work_us)]
    heapq.heapify(heap)
    while heap:
        _, i = heapq.heappop(heap)
        if tiles[i] > free or copies[i] >= cap[i]:
            continue  # never again: the free count only shrinks
        copies[i] += 1
        free -= int(tiles[i])
        heapq.heappush(heap, (-float(work_us[i]) / copies[i], i))
    return copies


def _set_bounds(rows, set_rows):
    starts = np.arange(0, rows, set_rows, dtype=np.int64)
    return starts, np.minimum(starts + set_rows, rows)


def _window(layers, l, r0, r1, producer_rows, set_rows):
    """First and last producer set read by the consumer sets ``[r0, r1)``."""
    row = layers.iloc[l]
    n_sets = ceil_div(producer_rows, set_rows)
    if row.full:
        return np.zeros_like(r0), np.full_like(r0, n_sets - 1)
    lo = np.maximum(r0 * row.stride - row.padding, 0)
    hi = np.minimum((r1 - 1) * row.stride - row.padding + row.kh - 1, row.in_rows - 1)
    hi = np.maximum(hi, lo)
    # input rows -> producer output rows, scaled when they differ (pooling)
    p_lo = np.clip(lo * producer_rows // row.in_rows, 0, producer_rows - 1)
    p_hi = np.clip(ceil_div((hi + 1) * producer_rows, row.in_rows) - 1, 0, producer_rows - 1)
    return p_lo // set_rows, p_hi // set_rows


def schedule(network, n_pes, strategy="cross-layer", duplication=None, *, set_rows=1,
             w_bits=8, in_bits=8, transfer_latency_us=TRANSFER_LATENCY_US,
             transfer_bits_per_us=TRANSFER_BITS_PER_US, input_shape=None, input_dtype=None,
             **crossbar):
    """Schedule ``network`` on ``n_pes`` crossbar PEs and simulate it.

    Parameters
    ----------
    network : pandas.DataFrame, str or torch.nn.Module
        Layer table (``airchitect.workloads.network(name)`` or any table with
        ``M, N, K`` and, for convolutions, their geometry), a network name,
        or a module traced with ``input_shape``; see
        :func:`~airchitect.targets.cim.schedule_layers.layer_table`.
    n_pes : int
        Processing elements (crossbars) on the chip, 1..2**24.
    strategy : {"layer", "cross-layer"}
        Layer-by-layer or cross-layer (CLSA-CIM) scheduling.
    duplication : None, "auto" or sequence of int
        Copies of each layer's weights: None (one each), ``"auto"`` (greedy,
        :func:`auto_duplication`, at most one copy per set of a layer) or one
        integer >= 1 per layer. Duplication
        needs the whole network to fit; ``"auto"`` falls back to one copy
        each when it does not.
    set_rows : int
        Output rows per set (tokens per set for dense layers), 1..2**20.
    w_bits, in_bits : int or sequence of int
        Weight and input (activation) bits, scalar or per layer.
    transfer_latency_us, transfer_bits_per_us : float
        Network-on-chip cost of moving one set's output (``in_bits`` of the
        consumer per value) to the next layer's PEs.
    input_shape, input_dtype :
        A module's example input shape and dtype (``"int64"`` for token ids);
        see :func:`~airchitect.targets.cim.schedule_layers.layer_table`.
    **crossbar
        :class:`~airchitect.targets.cim.CrossbarConfig` options.

    Returns
    -------
    ScheduleResult

    Raises
    ------
    ValueError
        Before any simulation, when the network has more than ``MAX_SETS``
        (2**21) sets or the timeline would have more than
        ``MAX_TIMELINE_ROWS`` (2**24) rows.
    """
    layers = layer_table(network, input_shape, input_dtype)
    n_pes = check_int("n_pes", n_pes, 1, 2**24)
    strategy = check_choice("strategy", strategy, STRATEGIES)
    set_rows = check_int("set_rows", set_rows, 1, 2**20)
    check_number_array("transfer_latency_us", transfer_latency_us, 0.0, 1e12)
    check_number_array("transfer_bits_per_us", transfer_bits_per_us, 0.0, np.inf, low_open=True)
    L = len(layers)
    w_bits = _per_layer("w_bits", w_bits, L, 1, 32)
    in_bits = _per_layer("in_bits", in_bits, L, 1, 32)
    tiles, t_mvm, t_write = layer_timing(layers, w_bits, in_bits, **crossbar)
    check_size(layers, tiles, set_rows)
    noc = (float(transfer_latency_us), float(transfer_bits_per_us))

    args = (layers, n_pes, set_rows, tiles, t_mvm, t_write, in_bits, noc)
    copies = _copies(duplication, layers, n_pes, tiles, t_mvm, set_rows)
    result = _simulate(*args, strategy, copies)
    if strategy == "layer" and (copies == 1).all():
        base = result
    else:
        base = _simulate(*args, "layer", np.ones(L, dtype=np.int64))
    return dataclasses.replace(
        result,
        speedup_vs_layer=base.makespan_us / result.makespan_us,
        utilization_vs_layer=result.utilization / base.utilization,
        utilization_used_vs_layer=result.utilization_used / base.utilization_used,
    )


def _copies(duplication, layers, n_pes, tiles, t_mvm, set_rows):
    L = len(layers)
    if duplication is None:
        return np.ones(L, dtype=np.int64)
    if isinstance(duplication, str):
        check_choice("duplication", duplication, ("auto",))
        # a copy works on whole sets: more copies than sets would stay idle
        sets = ceil_div(layers["rows"].to_numpy(), set_rows)
        work = layers["rows"].to_numpy() * layers["row_pixels"].to_numpy() * t_mvm
        return auto_duplication(tiles, work, n_pes, max_copies=sets)
    copies = _per_layer("duplication", duplication, L, 1, 2**24)
    if (copies > 1).any() and int((copies * tiles).sum()) > n_pes:
        raise ValueError(f"duplication needs {int((copies * tiles).sum())} PEs, more than "
                         f"n_pes={n_pes}")
    return copies


def _simulate(layers, n_pes, set_rows, tiles, t_mvm, t_write, in_bits, noc, strategy, copies):
    """Event-driven simulation of one schedule (see :func:`schedule`)."""
    L = len(layers)
    latency_us, bits_per_us = noc
    fits = int((tiles * copies).sum()) <= n_pes
    segment = np.zeros(L, dtype=np.int64) if fits else _segments(tiles, n_pes)
    rows = layers["rows"].to_numpy()
    pixels = layers["row_pixels"].to_numpy()
    out_values = (layers["m"] * layers["instances"]).to_numpy()
    first_pe = np.zeros(L, dtype=np.int64)
    layer_start, layer_end = np.zeros(L), np.zeros(L)
    sets = []  # per layer: (r0, r1, start, end, copy)
    busy = np.zeros(n_pes)
    barrier = 0.0 if fits else t_write  # programming of the first segment
    pe = 0
    for l in range(L):
        if l and segment[l] != segment[l - 1]:
            barrier = layer_end[:l].max() + t_write
            pe = 0
        first_pe[l] = pe
        pe += int(tiles[l] * copies[l])
        r0, r1 = _set_bounds(int(rows[l]), set_rows)
        duration = (r1 - r0) * pixels[l] * t_mvm[l]
        ready = np.full(len(r0), barrier)
        if strategy == "layer" and l:
            ready[:] = max(barrier, layer_end[l - 1])  # one layer at a time
        for p in layers["inputs"].iat[l]:
            p_r0, p_r1, _, p_end, _ = sets[p]
            # a producer set's output: rows x pixels x values at the consumer's in_bits
            bits = (p_r1 - p_r0) * pixels[p] * out_values[p] * in_bits[l]
            if strategy == "layer":
                whole = p_end.max() + latency_us + bits.sum() / bits_per_us
                np.maximum(ready, whole, out=ready)
            else:
                arrival = p_end + latency_us + bits / bits_per_us
                lo, hi = _window(layers, l, r0, r1, int(rows[p]), set_rows)
                if lo[-1] == 0 and (hi == len(arrival) - 1).all():
                    np.maximum(ready, arrival.max(), out=ready)
                else:
                    np.maximum(ready, [arrival[a:b + 1].max() for a, b in zip(lo, hi)], out=ready)
        if layers["runtime_weights"].iat[l]:
            ready[0] += t_write  # the activation matrix is programmed first
        start, end, copy = _list_schedule(ready, duration, int(copies[l]))
        per_copy = np.bincount(copy, weights=duration, minlength=copies[l])
        busy[first_pe[l]:first_pe[l] + copies[l] * tiles[l]] += np.repeat(per_copy, tiles[l])
        layer_start[l], layer_end[l] = start.min(), end.max()
        sets.append((r0, r1, start, end, copy))
    makespan = float(layer_end.max())
    table = pd.DataFrame({
        "name": layers["name"], "tiles": tiles, "copies": copies, "first_pe": first_pe,
        "segment": segment, "sets": [len(s[0]) for s in sets], "t_mvm_us": t_mvm,
        "start_us": layer_start, "end_us": layer_end,
    })
    used = int(np.bincount(segment, weights=tiles * copies).max())
    return ScheduleResult(strategy, n_pes, makespan, float(busy.sum() / (n_pes * makespan)),
                          1.0, 1.0, float(busy.sum() / (used * makespan)), 1.0, busy,
                          _timeline(sets, first_pe, tiles), table)


def _list_schedule(ready, duration, n_copies):
    """Run sets in order, each on the copy that frees first (lowest index on ties)."""
    if n_copies == 1:
        start = np.empty(len(ready))
        free = -np.inf
        for i, r in enumerate(ready):
            start[i] = free = max(r, free)
            free += duration[i]
        return start, start + duration, np.zeros(len(ready), dtype=np.int64)
    heap = [(-np.inf, c) for c in range(n_copies)]
    start = np.empty(len(ready))
    copy = np.empty(len(ready), dtype=np.int64)
    for i, r in enumerate(ready):
        free, c = heapq.heappop(heap)
        start[i] = max(r, free)
        copy[i] = c
        heapq.heappush(heap, (start[i] + duration[i], c))
    return start, start + duration, copy


def _timeline(sets, first_pe, tiles):
    """One row per set and PE: set, layer, pe, start, end."""
    layer = np.concatenate([np.full(len(s[0]), l) for l, s in enumerate(sets)])
    width = tiles[layer]
    offsets = np.arange(width.sum()) - np.repeat(np.cumsum(width) - width, width)
    set_pe = np.concatenate([first_pe[l] + s[4] * tiles[l] for l, s in enumerate(sets)])
    return pd.DataFrame({
        "set": np.repeat(np.concatenate([np.arange(len(s[0])) for s in sets]), width),
        "layer": np.repeat(layer, width),
        "pe": np.repeat(set_pe, width) + offsets,
        "start": np.repeat(np.concatenate([s[2] for s in sets]), width),
        "end": np.repeat(np.concatenate([s[3] for s in sets]), width),
    })

"""Learner features of each task kind: pair features and surrogate parts.

A task defines a space, an objective and a tie-break (:mod:`airchitect.tasks`);
what a learner reads besides the raw inputs is here, one function per task kind,
dispatched on the task's type:

- :func:`pair_features` -- features of (workload, configuration) pairs for
  :class:`~airchitect.learn.boosted.BoostedCostClassifier` (``buffer``: 81);
- :func:`surrogate_parts`, :func:`surrogate_frames`, :func:`surrogate_table`,
  :func:`surrogate_combine` -- the parts a cost surrogate learns instead of the
  whole objective (``cim``: tiles and reads per vector of every base
  configuration; ``multiarray``: each GEMM's cycles on each array) and how
  predicted parts combine into the objective and tie-break keys.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect._math import ceil_div
from airchitect.targets.cim.config import CrossbarConfig
from airchitect.targets.cim.grid import configuration_bases
from airchitect.tasks.buffer import BufferTask, input_arrays
from airchitect.tasks.cim import CELL_BITS, DAC_BITS, CimTask, base_counts
from airchitect.tasks.multiarray import MultiArrayTask

_FEATURE_ROWS = 2000


def pair_features(task, inputs, labels):
    """Features of (workload, configuration) pairs, ``(n, k, f)`` float64;
    ``labels`` ``(n, k)`` are the configurations paired with each row.
    NotImplementedError where the task kind defines none."""
    if isinstance(task, BufferTask):
        return buffer_pair_features(task, inputs, labels)
    raise NotImplementedError(f"task {task.name!r} defines no pair features")


def surrogate_frames(task, inputs, objective=None):
    """The part inputs a surrogate learns (a list of frames), or None (learn the whole)."""
    if isinstance(task, CimTask):
        return _cim_frames(inputs, objective)
    if isinstance(task, MultiArrayTask):
        return [pd.DataFrame(part, columns=list("MNK")) for part in np.split(_gemm_rows(inputs), 4)]
    return None


def surrogate_parts(task, inputs, objective=None):
    """``(frames, costs)`` of the parts a surrogate learns, or None (learn the whole)."""
    frames = surrogate_frames(task, inputs, objective)
    if frames is None:
        return None
    if isinstance(task, CimTask):  # tiles and reads per vector of every base configuration
        tiles, reads, _ = base_counts(inputs, task.space())
        return frames, [tiles, reads]
    per = task.gemm_costs(inputs, "cycles" if objective in (None, "cycles") else "energy")
    return frames, [per[:, i, :] for i in range(4)]  # one GEMM's objective on each array


def surrogate_table(task, inputs, objective=None):
    """:func:`surrogate_frames` stacked into one frame, with each part's row count, or None."""
    if isinstance(task, MultiArrayTask):  # built at once
        return pd.DataFrame(_gemm_rows(inputs), columns=list("MNK")), [len(inputs)] * 4
    frames = surrogate_frames(task, inputs, objective)
    if frames is None:
        return None
    return pd.concat(frames, ignore_index=True), [len(f) for f in frames]


def surrogate_combine(task, inputs, part_costs, objective=None):
    """Combine predicted part costs into keys, each ``(n_rows, n_labels)``: the
    objective, then the tie-break keys."""
    if isinstance(task, CimTask):
        return _cim_combine(task, inputs, part_costs, objective)
    if isinstance(task, MultiArrayTask):
        return _multiarray_combine(task, part_costs, objective)
    raise NotImplementedError(f"task {task.name!r} has no surrogate parts")


def _cim_frames(inputs, objective):
    """Features of the cim tiles and reads parts (latency objective only): the layer's
    rows ``n``, its weight columns per cell width ``m * ceil(w_bits / b_c)`` (and one
    more, the offset column) and its input slices per DAC width ``ceil(in_bits / d)``."""
    if objective not in (None, "latency"):
        return None
    n, m, w, i = (inputs[c].to_numpy(np.int64) for c in ("n", "m", "w_bits", "in_bits"))
    features = {"n": n}
    for bits in CELL_BITS:
        cells = m * ceil_div(w, bits)
        features[f"m_cells{bits}"] = cells
        features[f"m_cells{bits}_offset"] = cells + 1
    for bits in DAC_BITS:
        features[f"slices{bits}"] = ceil_div(i, bits)
    frame = pd.DataFrame(features)
    return [frame.assign(part="tiles"), frame.assign(part="reads")]


def _cim_combine(task, inputs, part_costs, objective):
    """Latency (us) and crossbars used of every configuration from tiles and reads."""
    if objective not in (None, "latency"):
        raise ValueError("the cim surrogate learns the latency objective only")
    space = task.space()
    base = configuration_bases(space)
    tiles, reads = (np.maximum(np.rint(p), 1.0)[:, base] for p in part_costs)
    dup = space["duplication"].to_numpy(np.float64)
    P = inputs["P"].to_numpy(np.float64)[:, None]
    config = CrossbarConfig()
    latency = tiles * dup * config.t_write_us + np.ceil(P / dup) * reads * config.t_exec_us
    return [latency, tiles * dup]


def _gemm_rows(inputs):
    """``(4 n, 3)`` M, N, K of every multiarray row's GEMM 0, then GEMM 1, 2, 3."""
    return np.concatenate([np.column_stack([inputs[f"{d}{i}"].to_numpy() for d in "MNK"])
                           for i in range(4)])


def _multiarray_combine(task, part_costs, objective):
    """Makespan and sum of cycles of every assignment from per-GEMM cycles."""
    per = np.stack(part_costs, axis=1)  # (n, 4 gemms, 4 arrays)
    perms = task.space().to_numpy()
    chosen = per[:, np.arange(4)[None, :], perms]
    if objective in (None, "cycles"):
        return [chosen.max(axis=2), chosen.sum(axis=2)]
    raise ValueError("the multiarray surrogate learns the cycles objective only")


def buffer_pair_features(task, inputs, labels):
    """Workload and split features, ``(n, k, 81)``, sizes as log2 words.

    Per row: M, N, K, rows, cols, bandwidth, SRAM words, the dataflow
    code (os 0, ws 1, is 2), the operand sizes (ifmap M x K, filter
    K x N, ofmap M x N) and the fold counts. Per split: i, j, k, each
    buffer's words, its words over its operand's, over six per-fold working
    sets (rows x K, cols x K, rows x cols, K x max(rows, cols), M x cols,
    N x rows), the prefetch window of the read buffers in SCALE-Sim's
    sets of ``ceil(operand / 100)`` words, and each buffer half's refill
    cycles at the DRAM bandwidth. Then the read buffers' mechanics
    (:func:`_buffer_mechanics`) and the fast estimate (``Task.estimate``): its
    log2 cycles over the row's least estimate and over the cycles without
    stalls, the exact prefetch counts and the write stalls.
    """
    labels = np.asarray(labels)
    out = np.empty(labels.shape + (81,))
    columns = input_arrays(inputs)
    for start in range(0, len(inputs), _FEATURE_ROWS):
        part = {c: v[start:start + _FEATURE_ROWS] for c, v in columns.items()}
        rows = labels[start:start + _FEATURE_ROWS]
        stop = start + len(rows)
        out[start:stop, :, :46] = _buffer_basics(task, part, rows)
        every = _buffer_mechanics(task, part)
        if rows.shape[1] == every.shape[1] and (rows == np.arange(rows.shape[1])).all():
            out[start:stop, :, 46:] = every
        else:
            out[start:stop, :, 46:] = np.take_along_axis(every, rows[:, :, None], axis=1)
    return out


def _buffer_basics(task, a, labels):
    """Per-row and per-split features, ``labels.shape + (46,)``."""
    col = {c: a[c].astype(np.float64)[:, None] for c in ("M", "N", "K", "rows", "cols", "bandwidth")}
    M, N, K, R, C, bw = (col[c] for c in ("M", "N", "K", "rows", "cols", "bandwidth"))
    words = a["sram_kb"].astype(np.float64)[:, None] * 1024
    code = a["code"].astype(np.float64)[:, None]
    operands = [M * K, K * N, M * N]
    row = [M, N, K, R, C, bw, words, *operands,
           np.ceil(M / R) * np.ceil(N / C), np.ceil(K / R) * np.ceil(N / C), np.ceil(M / R) * np.ceil(K / C)]
    row = [np.log2(r) for r in row] + [code]
    space = task.space_columns()
    parts = [space[c][labels].astype(np.float64) for c in "ijk"]
    buffers = [words * p / task.parts for p in parts]
    work = [R * K, C * K, R * C, K * np.maximum(R, C), M * C, N * R]
    pair = list(parts) + [np.log2(b) for b in buffers]
    pair += [np.log2(b / o) for b, o in zip(buffers, operands)]
    pair += [np.log2(b / w) for b in buffers for w in work]
    pair += [np.floor(b / 2 / np.ceil(o / 100)) for b, o in zip(buffers[:2], operands[:2])]
    pair += [np.log2(b / 2 / bw) for b in buffers]
    return _stack(row + pair, labels.shape)


def _buffer_mechanics(task, a):
    """Features of every split, ``(n, 105, 35)``: per read buffer whether the
    operand fits its active half, its sets, sets per prefetch, sets over sets
    per prefetch and the remainder, a smooth prefetch count, the refill time
    over the cycles without stalls, set size over the run a row reads, the
    words a fold reads over the window, the operand over the window, refill
    cycles; for the ofmap, write time at the bandwidth over the cycles
    without stalls and the buffer over all and per-fold writes; the
    estimates of a smooth stall model and of ``Task.estimate``."""
    from airchitect.targets.systolic.compute import total_cycles_calc
    from airchitect.targets.systolic.geometry import spatial_dims
    from airchitect.targets.systolic.memory.events import read_windows

    M, N, K, R, C, bw = (a[c][:, None] for c in ("M", "N", "K", "rows", "cols", "bandwidth"))
    code = a["code"][:, None]
    os_, ws_, is_ = code == 0, code == 1, code == 2
    pairs = task.split_pairs(a)
    words = [pairs[1][:, i].reshape(len(M), task.n_labels) for i in range(3)]
    windows = read_windows(*pairs).reshape(len(M), task.n_labels, 2, -1)
    Sr, Sc, T = spatial_dims(M, N, K, code)
    outer, inner = ceil_div(Sc, C), ceil_div(Sr, R)
    rows = (total_cycles_calc(M, N, K, R, C, code) + 1).astype(np.float64)  # stall-free
    operands = (  # (words, sweeps of the whole operand, words one fold reads, words per row)
        (words[0], M * K, np.where(is_, 1, outer), np.where(is_, R * C, np.where(os_, K * R, M * R)),
         np.where(is_, C, R)),
        (words[1], K * N, np.where(is_, outer, np.where(os_, inner, 1)),
         np.where(ws_, R * C, np.where(os_, K * C, N * R)), np.where(is_, R, C)),
    )
    feats, refills = [], []
    for k, (size, valid, sweeps, block, run) in enumerate(operands):
        eps, lines, act, pre, refill = (windows[:, :, k, f] for f in range(windows.shape[3]))
        pre = np.maximum(pre, 1)
        fits = act == lines
        count = np.where(fits, 0.0, sweeps * lines / pre)
        busy = count * (refill + 1)
        refills.append(busy)
        window = act * eps
        feats += [fits, np.log2(lines), np.log2(pre), lines / pre, (lines % pre) / pre,
                  np.log2(count + 1), np.log2(busy + 1) - np.log2(rows), np.log2(eps / run),
                  np.log2(block / window), block / eps, np.log2(valid / window), np.log2(refill + 1)]
    writes = np.where(os_, M * N, T * Sc * inner).astype(np.float64)
    drain = writes / bw
    feats += [np.log2(drain) - np.log2(rows), np.log2(words[2] / writes),
              np.log2(words[2] / np.where(os_, R * C, T * C))]
    smooth = np.log2(rows + refills[0] + refills[1] + np.maximum(0, drain - rows))
    feats += [smooth - smooth.min(axis=1, keepdims=True), smooth - np.log2(rows),
              np.log2(np.maximum(rows, np.maximum(np.maximum(*refills), drain))) - np.log2(rows)]
    est = task.estimate_arrays(a, pairs)
    cycles = np.log2(est["total_cycles"].astype(np.float64))
    feats += [cycles - cycles.min(axis=1, keepdims=True), np.log2(est["ifmap_prefetches"] + 1.0),
              np.log2(est["filter_prefetches"] + 1.0), np.log2(est["ofmap_stall_cycles"] + 1.0),
              cycles - np.log2(rows)]
    return _stack(feats, words[0].shape)


def _stack(features, shape):
    """Features (each broadcastable to ``shape``) stacked on a last axis, float64."""
    out = np.empty(shape + (len(features),))
    for at, feature in enumerate(features):
        out[..., at] = feature
    return out

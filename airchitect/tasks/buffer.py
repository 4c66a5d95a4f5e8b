"""The ``buffer`` task (AIRCHITECT case study 2): split a fixed SRAM budget.

Definition
----------
Inputs
    ``M, N, K`` (GEMM, integers in 1..16384), the array ``rows, cols, dataflow``, the total SRAM
    ``sram_kb`` in {16, 32, ..., 4096} (a multiple of 16) and the DRAM
    ``bandwidth`` in words/cycle (all three operands).
Space
    ``ifmap_kb, filter_kb, ofmap_kb = sram_kb * (i, j, k) / 16`` with
    ``i + j + k = 16``, each ``>= 1``: 105 labels, sorted by ``(i, j)``.
Objective
    SCALE-Sim 3.0.0 USER-mode ``Total Cycles`` (stalls included), from
    :func:`airchitect.targets.systolic.memory_events.user_mode_totals` (the
    same figures as :func:`airchitect.targets.systolic.memory.user_mode`,
    event by event); ``energy`` and
    ``edp`` from :mod:`airchitect.targets.systolic.energy`.
Tie-break
    fewer cycles, then fewer DRAM words moved (ifmap + filter reads + ofmap
    writes), then smaller ``(i, j)`` (the lower label id).
Sampler
    keeps each simulation affordable: ``M, N, K`` log-uniform in 8..512,
    ``rows, cols`` in {4, 8, 16, 32}, dataflow uniform, ``sram_kb`` a multiple
    of 16 drawn log-uniformly in 16..1024, ``bandwidth`` in {1, 2, 4, 8, 16}.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect._checks import check_choice_array, check_int_columns
from airchitect.targets.systolic.memory import _ceil_div
from airchitect.tasks.base import Task

DATAFLOWS = ("os", "ws", "is")
PARTS = 16
_FEATURE_ROWS = 2000
#: largest ``M, N, K`` of a buffer query
DIM_HIGH = 16384
#: most folds of one query's GEMM on its array (checked by ``validate``); the costs walk
#: them for each of the 105 splits (about 0.5 s per split at this limit)
MAX_FOLDS = 2**20
_CHUNK_FOLDS = 2**24


class BufferTask(Task):
    """Split ``sram_kb`` among the ifmap, filter and ofmap buffers."""

    name = "buffer"
    space_version = "1"
    input_columns = ("M", "N", "K", "rows", "cols", "dataflow", "sram_kb", "bandwidth")
    config_columns = ("ifmap_kb", "filter_kb", "ofmap_kb")
    cheap_costs = False
    shard_rows = 500
    chunk_rows = 500

    def __init__(self, convention="scalesim-3.0"):
        super().__init__()
        self.convention = convention
        self._last = (None, None)

    def params(self):
        return {"convention": self.convention}

    def _space(self):
        ij = [(i, j) for i in range(1, PARTS - 1) for j in range(1, PARTS - i)]
        i = np.array([a for a, _ in ij])
        j = np.array([b for _, b in ij])
        return pd.DataFrame({"i": i, "j": j, "k": PARTS - i - j})

    def split_kb(self, inputs, labels=None):
        """ifmap, filter, ofmap kB of every row and label, each ``(n, L)`` (or ``(n,)``)."""
        return self._split(inputs["sram_kb"].to_numpy(), labels)

    def _split(self, sram_kb, labels=None):
        space = self.space_columns()
        sram = sram_kb[:, None]
        parts = [space[c][None, :] for c in "ijk"]
        if labels is not None:
            parts = [p[0][np.asarray(labels)][:, None] for p in parts]
        return [sram * p // PARTS for p in parts]

    def config_values(self, inputs, labels):
        out = super().config_values(inputs, labels)
        sram = inputs["sram_kb"].to_numpy()
        for column, part in zip(self.config_columns, "ijk"):
            out[column] = sram * out[part] // PARTS
        return out

    def sample(self, n, seed=0):
        rng = np.random.default_rng([seed, 2])
        dims = np.exp(rng.uniform(np.log(8), np.log(513), size=(n, 3))).astype(np.int64)
        sram = np.exp(rng.uniform(np.log(16), np.log(1024 + 16), size=n))
        return pd.DataFrame(
            {
                "M": dims[:, 0], "N": dims[:, 1], "K": dims[:, 2],
                "rows": rng.choice([4, 8, 16, 32], size=n),
                "cols": rng.choice([4, 8, 16, 32], size=n),
                "dataflow": rng.choice(list(DATAFLOWS), size=n),
                "sram_kb": np.clip((sram // 16).astype(np.int64) * 16, 16, 1024),
                "bandwidth": rng.choice([1, 2, 4, 8, 16], size=n),
            }
        )

    def _validate(self, df):
        big = DIM_HIGH
        out = check_int_columns(df, {"M": (1, big), "N": (1, big), "K": (1, big), "rows": (1, 16384),
                                     "cols": (1, 16384), "sram_kb": (16, 4096), "bandwidth": (1, 2**20)})
        sram = out["sram_kb"].to_numpy()
        if (sram % 16).any():
            raise ValueError(f"sram_kb must be a multiple of 16 in [16, 4096], got {sram[sram % 16 > 0][0]}")
        out.insert(5, "dataflow", check_choice_array("dataflow", df["dataflow"].to_numpy(), DATAFLOWS))
        _check_folds(_arrays(out))
        return out

    def estimate(self, inputs):
        """Fast estimates of every split, each ``(n, 105)`` int64.

        ``total_cycles`` (estimated), ``ifmap_prefetches`` and
        ``filter_prefetches`` (exact), ``ofmap_stall_cycles`` (estimated): see
        :mod:`airchitect.targets.systolic.memory_events`.
        """
        return self._estimate(_arrays(inputs))

    def split_estimate(self, inputs, max_folds=None, least=False):
        """Estimated cycles of every split, ``(n, 105)`` float64: the stall-free
        cycles plus the largest stall of one buffer alone at its size
        (:func:`airchitect.targets.systolic.memory_splits.split_cycles`); with
        ``least``, only the label of least estimate of every row, ``(n,)``."""
        from airchitect.targets.systolic import memory_splits
        from airchitect.targets.systolic.memory import gemm_geometry

        a = _arrays(inputs)
        G = gemm_geometry(*(a[c] for c in ("M", "N", "K", "rows", "cols", "code")))
        space = self.space_columns()
        run = memory_splits.best_splits if least else memory_splits.split_cycles
        return run(G, a["sram_kb"] * 1024, a["bandwidth"], space["i"], space["j"], space["k"],
                   max_folds or memory_splits.MAX_FOLDS)

    def _pairs(self, a):
        """Every (row, split) pair: geometry vectors, SRAM words (ifmap, filter, ofmap), bandwidth."""
        from airchitect.targets.systolic.memory import gemm_geometry

        labels = self.n_labels
        G = gemm_geometry(*(np.repeat(a[c], labels) for c in ("M", "N", "K", "rows", "cols", "code")))
        words = np.stack([kb.ravel() for kb in self._split(a["sram_kb"])], axis=1) * 1024
        return G, words, np.repeat(a["bandwidth"], labels)

    def _estimate(self, a, pairs=None):
        from airchitect.targets.systolic.memory_events import run_geometry

        out = run_geometry(*(self._pairs(a) if pairs is None else pairs), exact=False)
        return {k: out[k].reshape(len(a["M"]), self.n_labels) for k in
                ("total_cycles", "ifmap_prefetches", "filter_prefetches", "ofmap_stall_cycles")}

    def pair_features(self, inputs, labels):
        """Workload and split features, ``(n, k, 81)``, sizes as log2 words.

        Per row: M, N, K, rows, cols, bandwidth, SRAM words, the dataflow
        code (os 0, ws 1, is 2), the operand sizes (ifmap M x K, filter
        K x N, ofmap M x N) and the fold counts. Per split: i, j, k, each
        buffer's words, its words over its operand's, over six per-fold working
        sets (rows x K, cols x K, rows x cols, K x max(rows, cols), M x cols,
        N x rows), the prefetch window of the read buffers in SCALE-Sim's
        sets of ``ceil(operand / 100)`` words, and each buffer half's refill
        cycles at the DRAM bandwidth. Then the read buffers' mechanics
        (:meth:`_mechanics`) and the fast estimate (:meth:`estimate`): its
        log2 cycles over the row's least estimate and over the cycles without
        stalls, the exact prefetch counts and the write stalls.
        """
        labels = np.asarray(labels)
        out = np.empty(labels.shape + (81,))
        columns = _arrays(inputs)
        for start in range(0, len(inputs), _FEATURE_ROWS):
            part = {c: v[start:start + _FEATURE_ROWS] for c, v in columns.items()}
            rows = labels[start:start + _FEATURE_ROWS]
            stop = start + len(rows)
            out[start:stop, :, :46] = self._basic_features(part, rows)
            every = self._mechanics(part)
            if rows.shape[1] == every.shape[1] and (rows == np.arange(rows.shape[1])).all():
                out[start:stop, :, 46:] = every
            else:
                out[start:stop, :, 46:] = np.take_along_axis(every, rows[:, :, None], axis=1)
        return out

    def _basic_features(self, a, labels):
        col = {c: a[c].astype(np.float64)[:, None] for c in ("M", "N", "K", "rows", "cols", "bandwidth")}
        M, N, K, R, C, bw = (col[c] for c in ("M", "N", "K", "rows", "cols", "bandwidth"))
        words = a["sram_kb"].astype(np.float64)[:, None] * 1024
        code = a["code"].astype(np.float64)[:, None]
        operands = [M * K, K * N, M * N]
        row = [M, N, K, R, C, bw, words, *operands,
               np.ceil(M / R) * np.ceil(N / C), np.ceil(K / R) * np.ceil(N / C), np.ceil(M / R) * np.ceil(K / C)]
        row = [np.log2(r) for r in row] + [code]
        space = self.space_columns()
        parts = [space[c][labels].astype(np.float64) for c in "ijk"]
        buffers = [words * p / PARTS for p in parts]
        work = [R * K, C * K, R * C, K * np.maximum(R, C), M * C, N * R]
        pair = list(parts) + [np.log2(b) for b in buffers]
        pair += [np.log2(b / o) for b, o in zip(buffers, operands)]
        pair += [np.log2(b / w) for b in buffers for w in work]
        pair += [np.floor(b / 2 / np.ceil(o / 100)) for b, o in zip(buffers[:2], operands[:2])]
        pair += [np.log2(b / 2 / bw) for b in buffers]
        return _stack(row + pair, labels.shape)

    def _mechanics(self, a):
        """Features of every split, ``(n, 105, 35)``: per read buffer whether the
        operand fits its active half, its sets, sets per prefetch, sets over sets
        per prefetch and the remainder, a smooth prefetch count, the refill time
        over the cycles without stalls, set size over the run a row reads, the
        words a fold reads over the window, the operand over the window, refill
        cycles; for the ofmap, write time at the bandwidth over the cycles
        without stalls and the buffer over all and per-fold writes; the
        estimates of a smooth stall model and of :meth:`estimate`."""
        from airchitect.targets.systolic.compute import spatial_dims, total_cycles_calc
        from airchitect.targets.systolic.memory_events import read_windows

        M, N, K, R, C, bw = (a[c][:, None] for c in ("M", "N", "K", "rows", "cols", "bandwidth"))
        code = a["code"][:, None]
        os_, ws_, is_ = code == 0, code == 1, code == 2
        pairs = self._pairs(a)
        words = [pairs[1][:, i].reshape(len(M), self.n_labels) for i in range(3)]
        windows = read_windows(*pairs).reshape(len(M), self.n_labels, 2, -1)
        Sr, Sc, T = spatial_dims(M, N, K, code)
        outer, inner = _ceil_div(Sc, C), _ceil_div(Sr, R)
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
        est = self._estimate(a, pairs)
        cycles = np.log2(est["total_cycles"].astype(np.float64))
        feats += [cycles - cycles.min(axis=1, keepdims=True), np.log2(est["ifmap_prefetches"] + 1.0),
                  np.log2(est["filter_prefetches"] + 1.0), np.log2(est["ofmap_stall_cycles"] + 1.0),
                  cycles - np.log2(rows)]
        return _stack(feats, words[0].shape)

    def _simulate(self, inputs, labels=None):
        from airchitect.targets.systolic.memory import user_mode
        from airchitect.targets.systolic.memory_events import user_mode_totals

        a = _arrays(inputs)
        folds = _check_folds(a)
        ifmap, filt, ofmap = self._split(a["sram_kb"], labels)
        col = {c: a[c][:, None] for c in ("M", "N", "K", "rows", "cols", "code", "bandwidth")}
        shape = np.broadcast_shapes(ifmap.shape, col["M"].shape)
        args = [np.broadcast_to(v, shape).ravel() for v in (
            col["M"], col["N"], col["K"], col["rows"], col["cols"], col["code"], ifmap, filt, ofmap,
            col["bandwidth"])]
        work = np.broadcast_to(folds[:, None], shape).ravel()
        step = max(1, int(_CHUNK_FOLDS // max(int(work.max(initial=1)), 1)))
        parts = []
        for start in range(0, max(len(work), 1), step):  # Ctrl-C stops between parts
            part = [v[start:start + step] for v in args]
            if self.convention == "scalesim-3.0":  # the same figures, event by event
                parts.append(user_mode_totals(*part))
            else:
                parts.append(user_mode(*part, convention=self.convention))
        return {k: np.concatenate([np.asarray(p[k]) for p in parts]).reshape(shape) for k in parts[0]}

    def _objective(self, sim, objective):
        cycles = sim["total_cycles"].astype(np.float64)
        if objective == "cycles":
            return cycles
        energy = sim["energy_pj"].astype(np.float64)
        return energy if objective == "energy" else energy * cycles

    def costs(self, inputs, objective="cycles"):
        objective = self.check_objective(objective)
        self.check_cost_size(inputs)
        self._last = (inputs, self._simulate(inputs))
        return self._objective(self._last[1], objective)

    def tiebreak(self, inputs, costs, objective="cycles"):
        sim = self._last[1] if self._last[0] is inputs else self._simulate(inputs)
        return [sim["dram_ifmap_reads"] + sim["dram_filter_reads"] + sim["dram_ofmap_writes"]]

    def cost_of(self, inputs, labels, objective=None):
        objective = self.check_objective(objective)
        inputs = self.validate(inputs)
        sim = self._simulate(inputs, labels)
        return self._objective(sim, objective)[:, 0]


def _check_folds(a):
    """Folds of every row's GEMM on its array; refuse more than ``MAX_FOLDS``."""
    from airchitect.targets.systolic.compute import spatial_dims

    Sr, Sc, _ = spatial_dims(a["M"], a["N"], a["K"], a["code"])
    folds = _ceil_div(Sr, a["rows"]) * _ceil_div(Sc, a["cols"])
    if folds.size and folds.max() > MAX_FOLDS:
        at = int(folds.argmax())
        raise ValueError(f"task 'buffer': row {at} has {int(folds[at])} folds (M, N, K on rows x cols), "
                         f"more than MAX_FOLDS = {MAX_FOLDS}")
    return folds


def _arrays(inputs):
    """The input columns as int64 arrays, the dataflow as ``code`` (os 0, ws 1, is 2)."""
    out = {c: inputs[c].to_numpy(np.int64) for c in ("M", "N", "K", "rows", "cols", "sram_kb", "bandwidth")}
    flows = inputs["dataflow"].to_numpy(dtype=object)
    out["code"] = sum(code * (flows == name) for code, name in enumerate(DATAFLOWS))
    return out


def _stack(features, shape):
    """Features (each broadcastable to ``shape``) stacked on a last axis, float64."""
    out = np.empty(shape + (len(features),))
    for at, feature in enumerate(features):
        out[..., at] = feature
    return out

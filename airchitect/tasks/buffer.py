"""The ``buffer`` task (AIRCHITECT case study 2): split a fixed SRAM budget.

Definition
----------
Inputs
    ``M, N, K`` (GEMM), the array ``rows, cols, dataflow``, the total SRAM
    ``sram_kb`` in {16, 32, ..., 4096} (a multiple of 16) and the DRAM
    ``bandwidth`` in words/cycle (all three operands).
Space
    ``ifmap_kb, filter_kb, ofmap_kb = sram_kb * (i, j, k) / 16`` with
    ``i + j + k = 16``, each ``>= 1``: 105 labels, sorted by ``(i, j)``.
Objective
    SCALE-Sim 3.0.0 USER-mode ``Total Cycles`` (stalls included), from
    :func:`airchitect.targets.systolic.memory.user_mode`; ``energy`` and
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

from airchitect._checks import check_choice_array, check_int_array
from airchitect.tasks.base import Task

DATAFLOWS = ("os", "ws", "is")
PARTS = 16


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
        space = self.space()
        sram = inputs["sram_kb"].to_numpy()[:, None]
        parts = [space[c].to_numpy()[None, :] for c in "ijk"]
        if labels is not None:
            parts = [p[0][np.asarray(labels)][:, None] for p in parts]
        return [sram * p // PARTS for p in parts]

    def configs(self, inputs, labels):
        out = super().configs(inputs, labels)
        sram = inputs["sram_kb"].to_numpy()
        for column, part in zip(self.config_columns, "ijk"):
            out[column] = sram * out[part].to_numpy() // PARTS
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
        for name, high in (("M", 2**31 - 1), ("N", 2**31 - 1), ("K", 2**31 - 1),
                           ("rows", 16384), ("cols", 16384), ("bandwidth", 2**20)):
            df[name] = check_int_array(name, df[name].to_numpy(), 1, high)
        df["dataflow"] = check_choice_array("dataflow", df["dataflow"].to_numpy(), DATAFLOWS)
        sram = check_int_array("sram_kb", df["sram_kb"].to_numpy(), 16, 4096)
        if (sram % 16).any():
            raise ValueError(f"sram_kb must be a multiple of 16 in [16, 4096], got {sram[sram % 16 > 0][0]}")
        df["sram_kb"] = sram
        return df

    def pair_features(self, inputs, labels):
        """Workload and split features, ``(n, k, 46)``, sizes as log2 words.

        Per row: M, N, K, rows, cols, bandwidth, SRAM words, the dataflow
        code (os 0, ws 1, is 2), the operand sizes (ifmap M x K, filter
        K x N, ofmap M x N) and the fold counts. Per split: i, j, k, each
        buffer's words, its words over its operand's, over six per-fold working
        sets (rows x K, cols x K, rows x cols, K x max(rows, cols), M x cols,
        N x rows), the prefetch window of the read buffers in SCALE-Sim's
        sets of ``ceil(operand / 100)`` words, and each buffer half's refill
        cycles at the DRAM bandwidth.
        """
        labels = np.asarray(labels)
        col = {c: inputs[c].to_numpy(np.float64)[:, None] for c in ("M", "N", "K", "rows", "cols", "bandwidth")}
        M, N, K, R, C, bw = (col[c] for c in ("M", "N", "K", "rows", "cols", "bandwidth"))
        words = inputs["sram_kb"].to_numpy(np.float64)[:, None] * 1024
        code = np.array([DATAFLOWS.index(d) for d in inputs["dataflow"]], dtype=np.float64)[:, None]
        operands = [M * K, K * N, M * N]
        row = [M, N, K, R, C, bw, words, *operands,
               np.ceil(M / R) * np.ceil(N / C), np.ceil(K / R) * np.ceil(N / C), np.ceil(M / R) * np.ceil(K / C)]
        row = [np.log2(r) for r in row] + [code]
        space = self.space()
        parts = [space[c].to_numpy(np.float64)[labels] for c in "ijk"]
        buffers = [words * p / PARTS for p in parts]
        work = [R * K, C * K, R * C, K * np.maximum(R, C), M * C, N * R]
        pair = list(parts) + [np.log2(b) for b in buffers]
        pair += [np.log2(b / o) for b, o in zip(buffers, operands)]
        pair += [np.log2(b / w) for b in buffers for w in work]
        pair += [np.floor(b / 2 / np.ceil(o / 100)) for b, o in zip(buffers[:2], operands[:2])]
        pair += [np.log2(b / 2 / bw) for b in buffers]
        shape = labels.shape
        return np.stack([np.broadcast_to(f, shape) for f in row + pair], axis=2)

    def _simulate(self, inputs, labels=None):
        from airchitect.targets.systolic.memory import user_mode

        ifmap, filt, ofmap = self.split_kb(inputs, labels)
        col = {c: inputs[c].to_numpy()[:, None] for c in ("M", "N", "K", "rows", "cols", "bandwidth")}
        code = np.array([DATAFLOWS.index(d) for d in inputs["dataflow"]])[:, None]
        shape = np.broadcast_shapes(ifmap.shape, col["M"].shape)
        args = [np.broadcast_to(a, shape).ravel() for a in (
            col["M"], col["N"], col["K"], col["rows"], col["cols"], code, ifmap, filt, ofmap,
            col["bandwidth"])]
        out = user_mode(*args, convention=self.convention)
        return {k: np.asarray(v).reshape(shape) for k, v in out.items()}

    def _objective(self, sim, objective):
        cycles = sim["total_cycles"].astype(np.float64)
        if objective == "cycles":
            return cycles
        energy = sim["energy_pj"].astype(np.float64)
        return energy if objective == "energy" else energy * cycles

    def costs(self, inputs, objective="cycles"):
        objective = self.check_objective(objective)
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

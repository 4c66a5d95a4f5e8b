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
    :func:`airchitect.targets.systolic.memory.events.user_mode_totals` (the
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
Parameters
    ``BufferTask(parts=P, sram_kb=[...])`` splits the SRAM in ``P`` shares
    instead of 16 (``(P - 1)(P - 2) / 2`` labels) and takes other totals; see
    :class:`BufferTask`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_choice_array, check_int, check_int_columns, check_int_list
from airchitect._math import ceil_div as _ceil_div
from airchitect.targets.systolic.config import DATAFLOWS, MAX_ARRAY_DIM, dataflow_codes
from airchitect.tasks.base import checked_sample, DIM_HIGH, Task
from airchitect.tasks.identity import variant_version

PARTS = 16
#: most folds of one query's GEMM on its array (checked by ``validate``); the costs walk
#: them for each of the 105 splits (about 0.5 s per split at this limit)
MAX_FOLDS = 2**20
_CHUNK_FOLDS = 2**24
#: most shares of the SRAM (``parts``): 1891 labels
MAX_PARTS = 64
#: largest total SRAM of a query, kB
MAX_SRAM_KB = 65536


def check_sram_totals(sram, totals, parts, bounds):
    """Refuse an SRAM total (kB) that is not one of ``totals`` (when given) or not a
    multiple of ``parts`` within ``bounds`` = (low, high), naming ``sram_kb``."""
    if totals and not np.isin(sram, totals).all():
        raise ValueError(f"sram_kb must be one of the task's totals {', '.join(map(str, totals))}, "
                         f"got {sram[~np.isin(sram, totals)][0]}")
    if (sram % parts).any():
        raise ValueError(f"sram_kb must be a multiple of {parts} in [{bounds[0]}, {bounds[1]}], "
                         f"got {sram[sram % parts > 0][0]}")


class BufferTask(Task):
    """Split ``sram_kb`` among the ifmap, filter and ofmap buffers.

    Parameters
    ----------
    convention : str
        The USER-mode convention of the cost model (``scalesim-3.0``).
    parts : int
        The SRAM granularity: each buffer holds ``i, j, k`` shares of
        ``sram_kb / parts`` with ``i + j + k = parts``, each ``>= 1``; 3..64,
        default 16 (105 labels). The stall estimate of ``split_estimate`` (and
        the ``stalls`` model) needs 16.
    sram_kb : list of int, optional
        The totals an input's ``sram_kb`` may take, each a multiple of ``parts``
        in ``[parts, 65536]``; the sampler draws one uniformly. Default: every
        multiple of ``parts`` up to ``256 * parts`` (16..4096 kB), the
        sampler drawing log-uniformly up to ``64 * parts``.

    Examples
    --------
    >>> task = BufferTask(parts=8, sram_kb=[64, 128, 256])
    >>> task.n_labels, task.params()["parts"]
    (21, 8)
    """

    name = "buffer"
    space_version = "1"
    input_columns = ("M", "N", "K", "rows", "cols", "dataflow", "sram_kb", "bandwidth")
    config_columns = ("ifmap_kb", "filter_kb", "ofmap_kb")
    cheap_costs = False
    shard_rows = 500
    chunk_rows = 500

    def __init__(self, convention="scalesim-3.0", parts=PARTS, sram_kb=None):
        super().__init__()
        from airchitect.targets.systolic.config import CONVENTIONS

        self.convention = check_choice("convention", convention, CONVENTIONS)
        self.parts = check_int("parts", parts, 3, MAX_PARTS)
        self.totals = _totals(sram_kb, self.parts)
        self._variant = {k: v for k, v in (("parts", self.parts), ("sram_kb", self.totals))
                         if v != {"parts": PARTS}.get(k)}
        self.space_version = variant_version(type(self).space_version, self._variant)
        low, high = (self.totals[0], self.totals[-1]) if self.totals else (self.parts, 256 * self.parts)
        self._limits = {"M": (1, DIM_HIGH), "N": (1, DIM_HIGH), "K": (1, DIM_HIGH), "rows": (1, MAX_ARRAY_DIM),
                        "cols": (1, MAX_ARRAY_DIM), "sram_kb": (low, high), "bandwidth": (1, 2**20)}
        self._last = (None, None)

    def params(self):
        return {"convention": self.convention, **self._variant}

    def _space(self):
        parts = self.parts
        ij = [(i, j) for i in range(1, parts - 1) for j in range(1, parts - i)]
        i = np.array([a for a, _ in ij])
        j = np.array([b for _, b in ij])
        return pd.DataFrame({"i": i, "j": j, "k": parts - i - j})

    def split_kb(self, inputs, labels=None):
        """ifmap, filter, ofmap kB of every row and label, each ``(n, L)`` (or ``(n,)``)."""
        return self._split(inputs["sram_kb"].to_numpy(), labels)

    def _split(self, sram_kb, labels=None):
        space = self.space_columns()
        sram = sram_kb[:, None]
        parts = [space[c][None, :] for c in "ijk"]
        if labels is not None:
            parts = [p[0][np.asarray(labels)][:, None] for p in parts]
        return [sram * p // self.parts for p in parts]

    def config_values(self, inputs, labels):
        out = super().config_values(inputs, labels)
        sram = inputs["sram_kb"].to_numpy()
        for column, part in zip(self.config_columns, "ijk"):
            out[column] = sram * out[part] // self.parts
        return out

    @checked_sample
    def sample(self, n, seed=0):
        rng = np.random.default_rng([seed, 2])
        dims = np.exp(rng.uniform(np.log(8), np.log(513), size=(n, 3))).astype(np.int64)
        unit = self.parts
        sram = np.exp(rng.uniform(np.log(unit), np.log(64 * unit + unit), size=n))
        frame = pd.DataFrame(
            {
                "M": dims[:, 0], "N": dims[:, 1], "K": dims[:, 2],
                "rows": rng.choice([4, 8, 16, 32], size=n),
                "cols": rng.choice([4, 8, 16, 32], size=n),
                "dataflow": rng.choice(list(DATAFLOWS), size=n),
                "sram_kb": np.clip((sram // unit).astype(np.int64) * unit, unit, 64 * unit),
                "bandwidth": rng.choice([1, 2, 4, 8, 16], size=n),
            }
        )
        if self.totals:
            frame["sram_kb"] = rng.choice(np.array(self.totals, dtype=np.int64), size=n)
        return frame

    def _validate(self, df):
        out = check_int_columns(df, self._limits)
        check_sram_totals(out["sram_kb"].to_numpy(), self.totals, self.parts, self._limits["sram_kb"])
        out.insert(5, "dataflow", check_choice_array("dataflow", df["dataflow"].to_numpy(), DATAFLOWS))
        _check_folds(input_arrays(out))
        return out

    def estimate(self, inputs):
        """Fast estimates of every split, each ``(n, 105)`` int64.

        ``total_cycles`` (estimated), ``ifmap_prefetches`` and
        ``filter_prefetches`` (exact), ``ofmap_stall_cycles`` (estimated): see
        :mod:`airchitect.targets.systolic.memory.events`.
        """
        return self.estimate_arrays(input_arrays(inputs))

    def split_estimate(self, inputs, max_folds=None, least=False):
        """Estimated cycles of every split, ``(n, 105)`` float64: the stall-free
        cycles plus the largest stall of one buffer alone at its size
        (:func:`airchitect.targets.systolic.memory.splits.split_cycles`); with
        ``least``, only the label of least estimate of every row, ``(n,)``."""
        from airchitect.targets.systolic.memory import splits as memory_splits
        from airchitect.targets.systolic.geometry import gemm_geometry

        if self.parts != PARTS:
            raise ValueError(f"task {self.name!r}: split_estimate needs parts = {PARTS}, got {self.parts}")
        a = input_arrays(inputs)
        G = gemm_geometry(*(a[c] for c in ("M", "N", "K", "rows", "cols", "code")))
        space = self.space_columns()
        run = memory_splits.best_splits if least else memory_splits.split_cycles
        return run(G, a["sram_kb"] * 1024, a["bandwidth"], space["i"], space["j"], space["k"],
                   max_folds or memory_splits.MAX_FOLDS)

    def split_pairs(self, a):
        """Every (row, split) pair: geometry vectors, SRAM words (ifmap, filter, ofmap), bandwidth."""
        from airchitect.targets.systolic.geometry import gemm_geometry

        labels = self.n_labels
        G = gemm_geometry(*(np.repeat(a[c], labels) for c in ("M", "N", "K", "rows", "cols", "code")))
        words = np.stack([kb.ravel() for kb in self._split(a["sram_kb"])], axis=1) * 1024
        return G, words, np.repeat(a["bandwidth"], labels)

    def estimate_arrays(self, a, pairs=None):
        """:meth:`estimate` of :func:`input_arrays` ``a``, reusing :meth:`split_pairs` ``pairs``."""
        from airchitect.targets.systolic.memory.events import run_geometry

        out = run_geometry(*(self.split_pairs(a) if pairs is None else pairs), exact=False)
        return {k: out[k].reshape(len(a["M"]), self.n_labels) for k in
                ("total_cycles", "ifmap_prefetches", "filter_prefetches", "ofmap_stall_cycles")}

    def _simulate(self, inputs, labels=None):
        from airchitect.targets.systolic.memory import user_mode
        from airchitect.targets.systolic.memory.events import user_mode_totals

        a = input_arrays(inputs)
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
        checked = self.validate(inputs)
        self.check_cost_size(checked)
        self._last = (inputs, self._simulate(checked))  # tiebreak is called with the caller's frame
        return self._objective(self._last[1], objective)

    def tiebreak(self, inputs, costs, objective="cycles"):
        sim = self._last[1] if self._last[0] is inputs else self._simulate(inputs)
        return [sim["dram_ifmap_reads"] + sim["dram_filter_reads"] + sim["dram_ofmap_writes"]]

    def cost_of(self, inputs, labels, objective=None):
        objective = self.check_objective(objective)
        inputs = self.validate(inputs)
        sim = self._simulate(inputs, self.check_labels(labels, len(inputs), ndim=(1,)))
        return self._objective(sim, objective)[:, 0]


def _totals(sram_kb, parts):
    """The allowed ``sram_kb`` totals, sorted, or None for the default rule."""
    if sram_kb is None:
        return None
    totals = check_int_list("sram_kb", sram_kb, parts, MAX_SRAM_KB)
    odd = [v for v in totals if v % parts]
    if odd:
        raise ValueError(f"sram_kb must hold multiples of parts = {parts} (whole kB per share), got {odd[0]}")
    return totals


def _check_folds(a):
    """Folds of every row's GEMM on its array; refuse more than ``MAX_FOLDS``."""
    from airchitect.targets.systolic.geometry import spatial_dims

    Sr, Sc, _ = spatial_dims(a["M"], a["N"], a["K"], a["code"])
    folds = _ceil_div(Sr, a["rows"]) * _ceil_div(Sc, a["cols"])
    if folds.size and folds.max() > MAX_FOLDS:
        at = int(folds.argmax())
        raise ValueError(f"task 'buffer': row {at} has {int(folds[at])} folds (M, N, K on rows x cols), "
                         f"more than MAX_FOLDS = {MAX_FOLDS}")
    return folds


def input_arrays(inputs):
    """The input columns as int64 arrays, the dataflow as ``code`` (os 0, ws 1, is 2)."""
    out = {c: inputs[c].to_numpy(np.int64) for c in ("M", "N", "K", "rows", "cols", "sram_kb", "bandwidth")}
    out["code"] = dataflow_codes(inputs["dataflow"])
    return out


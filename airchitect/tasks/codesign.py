"""The ``codesign`` task: array shape, dataflow and SRAM split of one GEMM together.

Definition
----------
Inputs
    ``M, N, K`` (integers in 1..65536, so that every layer of
    :func:`airchitect.workloads.networks` is accepted), the PE budget ``max_macs``
    in {2^8, ..., 2^16}, the total SRAM ``sram_kb`` (a multiple of 16 in
    16..4096) and the DRAM ``bandwidth`` in words/cycle (1..2^20, all three
    operands).
Space
    the ``array`` task's 273 (rows, cols, dataflow) crossed with the ``buffer``
    task's 105 splits ``ifmap_kb, filter_kb, ofmap_kb = sram_kb x (i, j, k) / 16``
    (``i + j + k = 16``, each ``>= 1``): 28,665 labels, sorted by (PEs, dataflow
    os < ws < is, rows, i, j). A configuration is allowed when
    ``rows x cols <= max_macs``.
Objective
    SCALE-Sim 3.0.0 USER-mode ``Total Cycles`` (stalls included, ``cycles``),
    the energy model's ``energy_pj`` (``energy``) or ``energy_pj x total_cycles``
    (``edp``), all from :func:`airchitect.targets.systolic.memory.user_mode_totals`
    (the ``buffer`` task's exact model, equal to SCALE-Sim's).
Tie-break
    the objective, then fewer cycles, fewer PEs, fewer DRAM words moved (ifmap
    and filter reads plus ofmap writes), dataflow os < ws < is, fewer rows,
    smaller ``(i, j)``; the last four are the label order.
Sampler
    bounded so that 10^5 labels stay affordable: ``M, N, K`` log-uniform in
    8..512, ``max_macs`` uniform over the budgets, ``sram_kb`` a multiple of 16
    drawn log-uniformly in 16..1024, ``bandwidth`` uniform in {1, 2, 4, 8, 16}.
Search
    :meth:`CodesignTask.search` and :meth:`CodesignTask.label` find the exact
    optimum by branch and bound over the provable lower bounds of
    :mod:`airchitect.tasks.codesign_bounds`, simulating a small part of the
    space (see docs/codesign.md); :meth:`CodesignTask.costs` still simulates
    every configuration (the brute force).
Parameters
    ``CodesignTask(shapes=..., max_macs=..., dataflows=..., parts=...,
    sram_kb=...)`` takes the array task's and the buffer task's parameters; they
    are recorded by :meth:`~airchitect.tasks.base.Task.definition`.

Examples
--------
>>> import airchitect as ac
>>> task = ac.tasks.get("codesign")
>>> task.n_labels
28665
>>> small = CodesignTask(rows=[4, 8], cols=[4, 8], max_macs=[64], parts=4)
>>> found = small.search(M=32, N=32, K=32, max_macs=64, sram_kb=16, bandwidth=4, return_stats=True)
>>> found["label"] == int(small.label({"M": [32], "N": [32], "K": [32], "max_macs": [64],
...                                    "sram_kb": [16], "bandwidth": [4]}, keep_costs=True)["label"][0])
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect._checks import check_int, check_int_columns
from airchitect._columns import column_dict
from airchitect._math import ceil_div
from airchitect._threads import numba_serial_below
from airchitect.targets.systolic.config import DATAFLOWS, WORDS_PER_KB, dataflow_codes
from airchitect.targets.systolic.geometry import spatial_dims
from airchitect.tasks import codesign_bounds
from airchitect.tasks.array import ArrayTask, check_max_macs
from airchitect.tasks.base import checked_sample, Task, tiebroken_argmin
from airchitect.tasks.buffer import check_sram_totals
from airchitect.tasks.identity import variant_version

#: shares of the SRAM, as in the buffer task
PARTS = 16
#: largest ``M, N, K`` a query may have (every layer of ``ac.workloads.networks()``)
DIM_HIGH = 65536
#: most folds :meth:`CodesignTask.walked_bounds` walks for one pair
WALKED_BOUND_FOLDS = 1 << 22
#: largest M, N, K the sampler draws (and its smallest)
SAMPLE_LOW, SAMPLE_HIGH = 8, 512
#: DRAM bandwidths the sampler draws (words/cycle)
SAMPLE_BANDWIDTHS = (1, 2, 4, 8, 16)
MAX_BANDWIDTH = 2**20
MAX_SRAM_KB = 65536
#: most configurations of a codesign space (arrays x dataflows x splits)
MAX_LABELS = 2**22
#: most (row, configuration) simulations of one :meth:`CodesignTask.costs` chunk
_SIM_CHUNK = 1 << 16
#: fewer pairs than this are simulated on one thread (waking the thread pool costs more)
_PARALLEL_PAIRS = 256
#: the search's first batch and its largest batch (configurations simulated at once)
FIRST_BATCH, MAX_BATCH = 16, 512
#: rows x labels of one chunk of rows searched together (bounds of 2^20 pairs: about 100 MB)
_SEARCH_CHUNK = 1 << 20


class CodesignTask(Task):
    """Pick the array shape, dataflow and SRAM split of a GEMM together.

    Parameters
    ----------
    shapes, rows, cols, square, max_macs, dataflows :
        The array part of the space, as :class:`~airchitect.tasks.array.ArrayTask`
        takes them (default: its 273 configurations and budgets 2^8..2^16).
    parts : int
        SRAM shares, 3..64 (default 16: 105 splits), as the buffer task's.
    sram_kb : list of int, optional
        The totals a query's ``sram_kb`` may take, each a multiple of ``parts`` in
        ``[parts, 65536]``; default every multiple of ``parts`` up to ``256 x parts``
        (16..4096 kB), the sampler drawing log-uniformly up to ``64 x parts``.

    Attributes
    ----------
    last_stats : dict
        Of the last :meth:`search` (or the rows of the last :meth:`label`):
        ``simulations`` (USER-mode simulations run) and ``allowed``
        (configurations the query allows); for :meth:`label`, ``simulations``
        per row.

    Examples
    --------
    >>> task = CodesignTask(rows=[4, 8], cols=[4, 8], max_macs=[64], parts=4)
    >>> task.n_labels, task.params()["parts"]
    (36, 4)
    """

    name = "codesign"
    space_version = "1"
    input_columns = ("M", "N", "K", "max_macs", "sram_kb", "bandwidth")
    config_columns = ("rows", "cols", "dataflow", "ifmap_kb", "filter_kb", "ofmap_kb")
    # costs() simulates every configuration; label(), search() and cost_of() do not call it,
    # and datasets store only labels (28,665 costs a row would be 229 kB)
    cheap_costs = True
    chunk_rows = 4
    shard_rows = 1000

    def __init__(self, shapes=None, rows=None, cols=None, square=False, max_macs=None, dataflows=None,
                 parts=PARTS, sram_kb=None):
        super().__init__()
        from airchitect.tasks.buffer import MAX_PARTS, _totals

        self.array = ArrayTask(shapes=shapes, rows=rows, cols=cols, square=square, max_macs=max_macs,
                               dataflows=dataflows)
        self.budgets = self.array.budgets
        self.parts = check_int("parts", parts, 3, MAX_PARTS)
        n_labels = len(self.array.shapes) * len(self.array.dataflows) * (self.parts - 1) * (self.parts - 2) // 2
        if n_labels > MAX_LABELS:  # counted before the space is built
            raise ValueError(f"the arrays ({len(self.array.shapes)} shapes x {len(self.array.dataflows)} "
                             f"dataflows) and parts = {self.parts} give {n_labels} configurations, more than "
                             f"MAX_LABELS = {MAX_LABELS}")
        self.totals = _totals(sram_kb, self.parts)
        given = {k: v for k, v in self.array.params().items() if k not in ("dim_low", "dim_high")}
        if self.parts != PARTS:
            given["parts"] = self.parts
        if self.totals:
            given["sram_kb"] = list(self.totals)
        self._params = given
        self.space_version = variant_version(type(self).space_version, self._params)
        low, high = (self.totals[0], self.totals[-1]) if self.totals else (self.parts, 256 * self.parts)
        self._limits = {"M": (1, DIM_HIGH), "N": (1, DIM_HIGH), "K": (1, DIM_HIGH),
                        "max_macs": (self.budgets[0], self.budgets[-1]), "sram_kb": (low, high),
                        "bandwidth": (1, MAX_BANDWIDTH)}
        self._last = (None, None)
        self.last_stats = {}

    def params(self):
        return dict(self._params)

    @property
    def factors(self):
        """``(n_arrays, n_splits)``: label ``a * n_splits + s`` is array ``a`` (the array
        task's label) with split ``s`` (273 x 105 by default)."""
        n_splits = (self.parts - 1) * (self.parts - 2) // 2
        return self.n_labels // n_splits, n_splits

    # -- space -------------------------------------------------------------------------
    def _space(self):
        arrays = self.array.space()
        p = self.parts
        ij = [(i, j) for i in range(1, p - 1) for j in range(1, p - i)]
        n = len(ij)
        out = arrays.loc[arrays.index.repeat(n)].reset_index(drop=True)
        out["i"] = np.tile([a for a, _ in ij], len(arrays))
        out["j"] = np.tile([b for _, b in ij], len(arrays))
        out["k"] = p - out["i"] - out["j"]
        return out

    def _space_arrays(self):
        """``{rows, cols, code, pes, i, j, k}`` int64 arrays of the space (cached)."""
        cached = self.__dict__.get("_arrays")
        if cached is None:
            cols = self.space_columns()
            cached = {c: np.asarray(cols[c], dtype=np.int64) for c in ("rows", "cols", "pes", "i", "j", "k")}
            cached["code"] = np.asarray(dataflow_codes(cols["dataflow"]), dtype=np.int64)
            self._arrays = cached
        return cached

    def config_values(self, inputs, labels):
        out = super().config_values(inputs, labels)
        sram = inputs["sram_kb"].to_numpy()
        for column, part in zip(("ifmap_kb", "filter_kb", "ofmap_kb"), "ijk"):
            out[column] = sram * out[part] // self.parts
        return {c: out[c] for c in ("rows", "cols", "dataflow", "pes", "i", "j", "k", "ifmap_kb",
                                    "filter_kb", "ofmap_kb")}

    # -- inputs -------------------------------------------------------------------------
    @checked_sample
    def sample(self, n, seed=0):
        rng = np.random.default_rng([seed, 7])
        dims = np.exp(rng.uniform(np.log(SAMPLE_LOW), np.log(SAMPLE_HIGH + 1), size=(n, 3))).astype(np.int64)
        unit = self.parts
        sram = np.exp(rng.uniform(np.log(unit), np.log(64 * unit + unit), size=n))
        frame = pd.DataFrame({
            "M": dims[:, 0], "N": dims[:, 1], "K": dims[:, 2],
            "max_macs": rng.choice(np.array(self.budgets, dtype=np.int64), size=n),
            "sram_kb": np.clip((sram // unit).astype(np.int64) * unit, unit, 64 * unit),
            "bandwidth": rng.choice(np.array(SAMPLE_BANDWIDTHS, dtype=np.int64), size=n),
        })
        if self.totals:
            frame["sram_kb"] = rng.choice(np.array(self.totals, dtype=np.int64), size=n)
        return frame

    def _validate(self, df):
        out = check_int_columns(df, self._limits)
        check_max_macs(out["max_macs"].to_numpy(), self.budgets)
        check_sram_totals(out["sram_kb"].to_numpy(), self.totals, self.parts, self._limits["sram_kb"])
        return out

    def relax(self, inputs):
        return inputs.assign(max_macs=self.budgets[-1])

    def _allowed(self, inputs):
        return np.repeat(self.array_allowed(inputs), self.factors[1], axis=1)

    def array_allowed(self, inputs):
        """``(n_rows, n_arrays)`` booleans: the arrays (first factor of the labels) whose
        PEs fit a row's ``max_macs``; every split of an allowed array is allowed.
        ``inputs`` are validated rows."""
        pes = self._space_arrays()["pes"][:: self.factors[1]]
        return pes[None, :] <= inputs["max_macs"].to_numpy()[:, None]

    def _check_sixteenths(self, method):
        """``ValueError`` unless the splits are in the ``buffer`` task's sixteenths."""
        from airchitect.targets.systolic.memory.splits import PARTS

        if self.parts != PARTS:
            raise ValueError(f"task {self.name!r}: {method} needs parts = {PARTS}, got {self.parts}")

    def _split_kb(self, sram_kb, labels):
        """``(ifmap_kb, filter_kb, ofmap_kb)`` of configurations ``labels`` under
        ``sram_kb`` (broadcast together)."""
        s = self._space_arrays()
        return tuple(sram_kb * s[p][labels] // self.parts for p in "ijk")

    def split_estimate(self, inputs, arrays, max_folds=None, energy=False):
        """Estimated USER-mode cycles of every row on each of ``arrays`` under each split,
        ``(n_rows, len(arrays), n_splits)`` float64; with ``energy``, ``(cycles, energy)``,
        the energy (pJ) of the same walks' DRAM reads: the SRAM and MAC terms are exact,
        the read buffers' DRAM words exact where the walks reach the last fold that may
        miss, and the ofmap's DRAM words those the array stores (SCALE-Sim drains at most
        0.16% more on 400 random GEMMs; energy within 0.04% of SCALE-Sim's there, walked
        to the end).

        The ``buffer`` task's split-stall estimate
        (:func:`airchitect.targets.systolic.memory.splits.split_cycles`: the
        stall-free cycles plus the largest stall any one buffer causes alone at
        its size), one walk per buffer size shared by the splits. Not a bound and
        not exact, but it follows how a split's misses jump with the buffer's set
        size, which no smooth function of the sizes does. ``inputs`` are validated
        rows; ``arrays`` indexes the first factor of the labels. Each walk visits at
        most ``max_folds`` folds that may miss (default
        :data:`~airchitect.targets.systolic.memory.split_reads.MAX_FOLDS`, 128) and
        extends the stall's growth linearly past them. Needs ``parts = 16``.

        Work: one walk per buffer and size of each (row, array), at most
        ``max_folds`` folds that may miss each (16.5 ms for all 273 arrays of a
        sampled query at 128 folds, measured with the machine shared).
        """
        from airchitect.targets.systolic.geometry import gemm_geometry
        from airchitect.targets.systolic.memory import splits as memory_splits

        self._check_sixteenths("split_estimate")
        arrays = np.asarray(arrays, dtype=np.int64)
        n_splits = self.factors[1]
        s = self._space_arrays()
        first = arrays * n_splits
        col = column_dict(inputs, self.input_columns, np.int64)
        n, a = len(inputs), arrays.size
        G = gemm_geometry(*(np.repeat(col[c], a) for c in ("M", "N", "K")),
                          *(np.tile(s[c][first], n) for c in ("rows", "cols", "code")))
        args = (G, np.repeat(col["sram_kb"] * WORDS_PER_KB, a), np.repeat(col["bandwidth"], a),
                s["i"][:n_splits], s["j"][:n_splits], s["k"][:n_splits], max_folds or memory_splits.MAX_FOLDS)
        if not energy:
            return memory_splits.split_cycles(*args).reshape(n, a, n_splits)
        cycles, reads = memory_splits.split_cycles_and_reads(*args)
        gemm = (*(np.repeat(col[c], a)[:, None] for c in ("M", "N", "K")),
                *(np.tile(s[c][first], n)[:, None] for c in ("rows", "cols", "code")))
        kb = self._split_kb(np.repeat(col["sram_kb"], a)[:, None], np.arange(n_splits)[None, :])
        pj = codesign_bounds.dram_energy(*gemm, kb, reads + codesign_bounds.ofmap_words(*gemm))
        return cycles.reshape(n, a, n_splits), pj.reshape(n, a, n_splits)

    def walked_bounds(self, inputs, labels, max_folds=WALKED_BOUND_FOLDS):
        """Lower bounds of pairs (row ``p`` of ``inputs``, configuration ``labels[p]``)
        tightened by walking their two read buffers to the end: a dict of ``(p,)``
        arrays ``cycles``, ``dram_words``, ``energy`` (each at least :meth:`bounds`'),
        and ``walked`` (bool: pairs of at most ``max_folds`` folds, the others keep
        :meth:`bounds`' values).

        A read buffer's DRAM reads depend only on its size and the order of its reads,
        so a walk to the end counts SCALE-Sim's prefetches exactly
        (:func:`~airchitect.targets.systolic.memory.splits.buffer_stalls` with
        ``dram``). Each prefetch starts at least ``refill + 1`` cycles after the one
        before (the bound :func:`~airchitect.tasks.codesign_bounds.read_bounds` takes
        from a lower bound of the prefetches), and the DRAM words are at least those
        reads plus the ofmap words the array stores. For configurations
        :meth:`simulate` refuses (``USER_ROWS_LIMIT``), whose bound is all the exact
        network search knows. Needs ``parts = 16``.

        Work: one walk per distinct (GEMM, array, budget) and buffer size the pairs
        use (at most 28), each of at most ``max_folds`` folds (default 2^22), a fold
        a few tens of nanoseconds.
        """
        from airchitect.targets.systolic.geometry import gemm_geometry
        from airchitect.targets.systolic.memory import splits as memory_splits

        self._check_sixteenths("walked_bounds")
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        col = column_dict(inputs, self.input_columns, np.int64)
        s = self._space_arrays()
        gemm = tuple(col[c] for c in ("M", "N", "K")) + tuple(s[c][labels] for c in ("rows", "cols", "code"))
        out = self.bounds(inputs, labels[:, None])
        out = {name: np.asarray(out[name])[:, 0].astype(np.float64) for name in ("cycles", "dram_words", "energy")}
        Sr, Sc, _ = spatial_dims(*gemm[:3], gemm[5])
        folds = ceil_div(Sr, gemm[3]) * ceil_div(Sc, gemm[4])
        walked = folds <= max_folds
        out["walked"] = walked
        if not walked.any():
            return out
        at = np.flatnonzero(walked)
        sram = col["sram_kb"][at] * WORDS_PER_KB
        bw = col["bandwidth"][at]
        share = {"i": s["i"][labels[at]] - 1, "j": s["j"][labels[at]] - 1}
        # one walk per (GEMM, array, budget) and buffer size, shared by the pairs
        key = np.stack([g[at] for g in gemm] + [sram, bw], axis=1)
        unique, which = np.unique(key, axis=0, return_inverse=True)
        which = which.reshape(-1)
        need = np.zeros((len(unique), 3, memory_splits.SHARES), dtype=bool)
        need[which, 0, share["i"]] = True
        need[which, 1, share["j"]] = True
        G = gemm_geometry(*(unique[:, c] for c in range(6)))
        _, reads = memory_splits.buffer_stalls(G, unique[:, 6], unique[:, 7], int(folds[at].max()) + 1, need,
                                               dram=True)
        cycles = out["cycles"][at]
        dram = codesign_bounds.ofmap_words(*(g[at] for g in gemm)).astype(np.float64)
        for operand, buffer in ((0, "i"), (1, "j")):
            got = reads[which, operand, share[buffer]]
            words = sram * (share[buffer] + 1) // self.parts
            active = ceil_div(words, 2)
            fill = ceil_div(active, bw) * bw  # at least SCALE-Sim's first fill
            refill = ceil_div(words - active, bw)
            misses = np.maximum((got - fill) // (refill * bw), 0)
            cycles = np.maximum(cycles, np.where(misses > 0, misses * (refill + 1) - 2, 0))
            dram += got
        kb = self._split_kb(col["sram_kb"][at], labels[at])
        energy = codesign_bounds.energy_bound(*(g[at] for g in gemm), kb, dram)
        out["cycles"][at] = cycles
        out["dram_words"][at] = np.maximum(out["dram_words"][at], dram)
        out["energy"][at] = np.maximum(out["energy"][at], energy)
        return out

    def stall_parts(self, inputs, labels, rows=None):
        """The parts of :meth:`split_estimate` for configuration ``labels[r, j]`` on row
        ``r`` (with ``rows``, of ``labels[p]`` on row ``rows[p]``: both ``(p,)``): a dict
        of float64 arrays of ``labels``' shape, cycles --
        ``free`` (stall-free USER-mode cycles) and ``ifmap``, ``filter``, ``ofmap``
        (the stall each buffer causes alone at its size in that split). The estimate
        is ``free + max(ifmap, filter, ofmap)``; the three stalls side by side say
        how far it may be from the cycles of buffers that stall together.
        ``inputs`` are validated rows. Needs ``parts = 16``.

        Work: for each distinct (row, array) among the pairs, one walk per read
        buffer and size the pairs use and one write-buffer walk
        (:func:`~airchitect.targets.systolic.memory.splits.buffer_stalls`).

        >>> import airchitect as ac
        >>> task = ac.tasks.get("codesign")
        >>> rows = task.validate({"M": [64], "N": [64], "K": [64], "max_macs": [256],
        ...                       "sram_kb": [16], "bandwidth": [1]})
        >>> parts = task.stall_parts(rows, np.array([[0, 104]]))
        >>> bool(parts["free"][0, 0] > 0), sorted(parts)
        (True, ['filter', 'free', 'ifmap', 'ofmap'])
        """
        from airchitect.targets.systolic.geometry import gemm_geometry
        from airchitect.targets.systolic.memory import splits as memory_splits

        self._check_sixteenths("stall_parts")
        labels = np.asarray(labels, dtype=np.int64)
        n_splits = self.factors[1]
        n_arrays = self.factors[0]
        s = self._space_arrays()
        rows = np.arange(len(inputs))[:, None] if rows is None else np.asarray(rows, dtype=np.int64)
        key = rows * n_arrays + labels // n_splits
        pairs, where = np.unique(key.ravel(), return_inverse=True)
        row, first = pairs // n_arrays, pairs % n_arrays * n_splits
        col = column_dict(inputs, self.input_columns, np.int64)
        G = gemm_geometry(col["M"][row], col["N"][row], col["K"][row],
                          s["rows"][first], s["cols"][first], s["code"][first])
        shares = np.stack([s[part][labels].ravel() - 1 for part in "ijk"], axis=1)
        need = np.zeros((len(pairs), 3, memory_splits.SHARES), dtype=bool)
        for b in range(3):
            need[where, b, shares[:, b]] = True
        stalls = memory_splits.buffer_stalls(G, col["sram_kb"][row] * WORDS_PER_KB, col["bandwidth"][row],
                                             need=need)
        out = {"free": memory_splits.stall_free_cycles(G)[where].reshape(labels.shape)}
        for b, name in enumerate(("ifmap", "filter", "ofmap")):
            out[name] = stalls[where, b, shares[:, b]].reshape(labels.shape)
        return out

    # -- the cost model -------------------------------------------------------------------
    def _pairs(self, inputs, labels):
        """Workload and configuration arrays of every (row, label) pair, broadcast to
        ``labels``' shape ((n, L) or (n,)), SRAM sizes in words."""
        s = self._space_arrays()
        labels = np.asarray(labels, dtype=np.int64)
        shape = (-1,) + (1,) * (labels.ndim - 1)
        col = {c: v.reshape(shape) for c, v in column_dict(inputs, self.input_columns, np.int64).items()}
        sram = col["sram_kb"]
        words = [sram * s[p][labels] // self.parts * WORDS_PER_KB for p in "ijk"]
        return {"M": col["M"], "N": col["N"], "K": col["K"], "rows": s["rows"][labels],
                "cols": s["cols"][labels], "code": s["code"][labels], "ifmap_words": words[0],
                "filter_words": words[1], "ofmap_words": words[2], "bandwidth": col["bandwidth"]}

    _ORDER = ("M", "N", "K", "rows", "cols", "code", "ifmap_words", "filter_words", "ofmap_words",
              "bandwidth")

    def simulable(self, inputs, labels):
        """Whether :meth:`simulate` accepts configuration ``labels[r, ...]`` for row ``r``
        (bool, ``labels``' shape): its USER-mode simulation needs at most
        ``USER_ROWS_LIMIT`` demand rows (folds x rows per fold)."""
        from airchitect.targets.systolic.simulate import USER_ROWS_LIMIT

        labels = np.asarray(labels, dtype=np.int64)
        pairs = self._pairs(inputs, labels)
        flat = [np.broadcast_to(pairs[c], labels.shape) for c in self._ORDER[:6]]
        return _demand_rows_of(*flat) <= USER_ROWS_LIMIT

    def simulate(self, inputs, labels):
        """USER-mode figures of configuration ``labels[r, ...]`` for row ``r``: a dict of
        arrays of ``labels``' shape -- ``total_cycles``, ``dram_words`` (ifmap and filter
        reads plus ofmap writes), ``energy_pj``, ``edp`` and SCALE-Sim's DRAM and SRAM
        counts. ``inputs`` are validated rows; ``labels`` is ``(n,)`` or ``(n, k)``.

        Work: one exact event-model simulation per pair
        (:func:`~airchitect.targets.systolic.memory.user_mode_totals`), each about
        proportional to the GEMM's folds on its array, in chunks of 65,536 pairs.
        A pair of more than ``USER_ROWS_LIMIT`` demand rows (as in
        :func:`airchitect.systolic.simulate`: folds x rows per fold) is refused before
        any is simulated.
        """
        from airchitect.targets.systolic.memory import user_mode_totals

        labels = np.asarray(labels, dtype=np.int64)
        pairs = self._pairs(inputs, labels)
        flat = [np.broadcast_to(pairs[c], labels.shape).ravel() for c in self._ORDER]
        _check_demand(*flat[:6], labels.ravel())
        parts = []
        with numba_serial_below(labels.size, _PARALLEL_PAIRS):
            for start in range(0, max(labels.size, 1), _SIM_CHUNK):
                part = [a[start:start + _SIM_CHUNK] for a in flat]
                kb = [w // WORDS_PER_KB for w in part[6:9]]
                parts.append(user_mode_totals(*part[:6], *kb, part[9]))
        out = {k: np.concatenate([p[k] for p in parts])[: labels.size].reshape(labels.shape)
               for k in parts[0]}
        out["dram_words"] = out["dram_ifmap_reads"] + out["dram_filter_reads"] + out["dram_ofmap_writes"]
        return out

    def bounds(self, inputs, labels=None, energy=True):
        """Lower bounds (those of :func:`airchitect.tasks.codesign_bounds.bounds`) of every
        row and configuration, each ``(n, L)`` (or ``labels``' shape, ``(n,)`` or
        ``(n, k)``): ``cycles``, ``dram_words``, ``energy``, ``edp`` (the last two
        left out when ``energy`` is false). ``inputs`` are validated rows.

        Work: closed form. For many labels a row (``labels`` omitted, or more than
        an eighth of the space) the read and drain bounds, which depend on the
        array and one buffer's share only, are computed once per (row, array,
        share) and gathered, the energy bound in a few numpy passes over the pairs;
        for fewer, all of them in one compiled pass over the pairs
        (:func:`~airchitect.tasks.codesign_bounds.label_bounds`, about 0.1 us a pair).

        >>> task = CodesignTask(rows=[4, 8], cols=[4, 8], max_macs=[64], parts=4)
        >>> rows = task.validate({"M": [32], "N": [32], "K": [32], "max_macs": [64],
        ...                       "sram_kb": [16], "bandwidth": [4]})
        >>> b, sim = task.bounds(rows), task.simulate(rows, np.arange(36)[None, :])
        >>> bool((b["cycles"] <= sim["total_cycles"]).all())
        True
        """
        s = self._space_arrays()
        n, n_splits = len(inputs), (self.parts - 1) * (self.parts - 2) // 2
        if labels is None:
            labels = np.broadcast_to(np.arange(self.n_labels), (n, self.n_labels))
        labels = np.asarray(labels, dtype=np.int64)
        flat = labels.reshape(n, -1)
        if flat.shape[1] <= self.n_labels // 8:
            return self._pair_bounds(inputs, labels, energy)
        col = {c: v.reshape(-1, 1, 1) for c, v in column_dict(inputs, self.input_columns, np.int64).items()}
        first = np.arange(0, self.n_labels, n_splits)  # one label per array
        arr = [s[c][first].reshape(1, -1, 1) for c in ("rows", "cols", "code")]
        words = col["sram_kb"] * np.arange(1, self.parts - 1).reshape(1, 1, -1) // self.parts * WORDS_PER_KB
        gemm = (col["M"], col["N"], col["K"], *arr)
        bw = col["bandwidth"]
        ifmap = codesign_bounds.read_bounds(*gemm, words, bw, 0)
        filt = codesign_bounds.read_bounds(*gemm, words, bw, 1)
        # gather (row, array, share): array = label // splits, shares i, j, k of the label
        rows = np.arange(n)[:, None]
        a = flat // n_splits
        i, j, k = (s[p][flat] - 1 for p in "ijk")

        def at(x, share=0):
            return np.broadcast_to(x, (n,) + x.shape[1:])[rows, a, share]

        cycles = np.maximum(np.maximum(at(codesign_bounds.compute_cycles(*gemm)),
                                       at(codesign_bounds.write_bound(*gemm, words, bw), k)),
                            np.maximum(at(ifmap["cycles"], i), at(filt["cycles"], j)))
        dram = at(ifmap["dram_reads"], i) + at(filt["dram_reads"], j) + at(codesign_bounds.ofmap_words(*gemm))
        if not energy:
            return {"cycles": cycles.reshape(labels.shape), "dram_words": dram.reshape(labels.shape)}
        kb = self._split_kb(col["sram_kb"][:, :, 0], flat)
        energy = codesign_bounds.energy_bound(col["M"][:, :, 0], col["N"][:, :, 0], col["K"][:, :, 0],
                                              s["rows"][flat], s["cols"][flat], s["code"][flat], kb, dram)
        edp = energy * cycles.astype(np.float64) * (1.0 - codesign_bounds.FLOAT_SLACK)
        out = {"cycles": cycles, "dram_words": dram, "energy": energy, "edp": edp}
        return {key: value.reshape(labels.shape) for key, value in out.items()}

    def _pair_bounds(self, inputs, labels, energy):
        """:meth:`bounds` of the pairs (row ``r``, ``labels[r, ...]``), computed pair by pair."""
        col = column_dict(inputs, self.input_columns, np.int64)
        return codesign_bounds.label_bounds(col["M"], col["N"], col["K"], col["sram_kb"], col["bandwidth"],
                                            labels, self._space_arrays(), self.parts, energy)

    @staticmethod
    def _objective(sim, objective):
        if objective == "cycles":
            return sim["total_cycles"].astype(np.float64)
        return sim["energy_pj"] if objective == "energy" else sim["edp"]

    def costs(self, inputs, objective="cycles"):
        """Every configuration's cost, ``(n, L)``, ``inf`` where ``rows x cols > max_macs``.

        The brute force: one USER-mode simulation per allowed (row, configuration)
        pair (up to 28,665 a row; the rows of one call are checked against
        ``MAX_COST_ELEMENTS``). :meth:`label` and :meth:`search` simulate far fewer.
        """
        objective = self.check_objective(objective)
        checked = self.validate(inputs)
        self.check_cost_size(checked)
        allowed = self._allowed(checked)
        rows, labels = np.nonzero(allowed)
        sim = self.simulate(checked.iloc[rows].reset_index(drop=True), labels) if rows.size else None
        out = {}
        for key in ("total_cycles", "dram_words", "energy_pj", "edp"):
            full = np.full(allowed.shape, np.inf if key in ("energy_pj", "edp") else -1, dtype=np.float64)
            if sim is not None:
                full[rows, labels] = sim[key]
            out[key] = full
        out["total_cycles"][~allowed] = np.inf
        out["dram_words"][~allowed] = np.inf
        self._last = (inputs, out)
        return self._objective(out, objective)

    def tiebreak(self, inputs, costs, objective="cycles"):
        sim = self._last[1] if self._last[0] is inputs else None
        if sim is None:
            self.costs(inputs, objective)
            sim = self._last[1]
        return [sim["total_cycles"], self._space_arrays()["pes"].astype(np.float64), sim["dram_words"]]

    def cost_of(self, inputs, labels, objective=None):
        """Exact cost of configuration ``labels[i]`` for row ``i`` (one simulation each);
        ``labels`` of shape ``(n, k)`` give the ``(n, k)`` costs of ``k`` configurations a row."""
        objective = self.check_objective(objective)
        inputs = self.validate(inputs)
        labels = self.check_labels(labels, len(inputs))
        sim = self.simulate(inputs, labels)
        max_macs = inputs["max_macs"].to_numpy().reshape((-1,) + (1,) * (labels.ndim - 1))
        allowed = self._space_arrays()["pes"][labels] <= max_macs
        return np.where(allowed, self._objective(sim, objective), np.inf)

    # -- the exact search -------------------------------------------------------------------
    def _search_rows(self, inputs, objective, runner_up):
        """Branch and bound of every validated row: ``(labels, costs, runner-up costs,
        simulations)``, arrays; rows are searched together, ``_SEARCH_CHUNK`` labels x
        rows at a time, their batches simulated in one call per round."""
        s = self._space_arrays()
        n, L = len(inputs), self.n_labels
        labels = np.zeros(n, dtype=np.int64)
        best_cost, second_cost = np.zeros(n), np.full(n, np.inf)
        sims = np.zeros(n, dtype=np.int64)
        step = max(1, _SEARCH_CHUNK // L)
        for start in range(0, n, step):
            part = inputs.iloc[start:start + step].reset_index(drop=True)
            found = self._search_chunk(part, objective, runner_up, s)
            for out, value in zip((labels, best_cost, second_cost, sims), found):
                out[start:start + len(part)] = value
        return labels, best_cost, second_cost, sims

    def _search_chunk(self, part, objective, runner_up, s):
        n, L = len(part), self.n_labels
        allowed = self._allowed(part)
        count = allowed.sum(axis=1)
        if (count == 0).any():
            raise ValueError(f"task {self.name!r}: row {int(np.argmin(count))} has no feasible configuration")
        b = self.bounds(part, energy=objective != "cycles")
        ids = np.broadcast_to(np.arange(L, dtype=np.float64), (n, L))
        # lower bound of every key (objective, cycles, PEs, DRAM words, label); not allowed last
        key = [np.where(allowed, b[objective], np.inf), b["cycles"].astype(np.float64),
               np.broadcast_to(s["pes"].astype(np.float64), (n, L)), b["dram_words"].astype(np.float64), ids]
        order = np.lexsort(key[::-1], axis=-1)
        key = [np.take_along_axis(np.asarray(k, dtype=np.float64), order, axis=1) for k in key]
        pos = np.zeros(n, dtype=np.int64)
        batch = np.full(n, FIRST_BATCH)
        best = [None] * n  # true key of each row's incumbent
        seen = [[] for _ in range(n)]  # each row's two smallest simulated costs
        sims = np.zeros(n, dtype=np.int64)
        active = list(range(n))
        while active:
            rows, chosen, still = [], [], []
            for r in active:
                end = int(count[r])
                if best[r] is None:
                    stop = min(end, pos[r] + batch[r])
                else:
                    need = _lex_below([k[r, :end] for k in key], int(pos[r]), best[r])
                    if runner_up:
                        need = max(need, int(np.searchsorted(key[0][r, :end], seen[r][1], side="left"))
                                   if len(seen[r]) > 1 else end)
                    stop = min(need, pos[r] + batch[r])
                if stop <= pos[r]:
                    continue
                rows.append(np.full(stop - pos[r], r))
                chosen.append(order[r, pos[r]:stop])
                still.append(r)
                sims[r] += stop - pos[r]
                pos[r] = stop
                batch[r] = min(2 * batch[r], MAX_BATCH)
            if not still:
                break
            rows, chosen = np.concatenate(rows), np.concatenate(chosen)
            sim = self.simulate(pd.DataFrame({c: part[c].to_numpy()[rows] for c in self.input_columns}), chosen)
            true = np.stack([self._objective(sim, objective), sim["total_cycles"].astype(np.float64),
                             s["pes"][chosen].astype(np.float64), sim["dram_words"].astype(np.float64),
                             chosen.astype(np.float64)])
            for r in still:
                mine = true[:, rows == r]
                first = int(np.lexsort(mine[::-1])[0])
                candidate = tuple(float(v) for v in mine[:, first])
                if best[r] is None or candidate < best[r]:
                    best[r] = candidate
                cost = mine[0]
                seen[r] = sorted(seen[r] + list(np.partition(cost, min(1, cost.size - 1))[:2]))[:2]
            active = [r for r in still if pos[r] < count[r]]
        labels = np.array([int(v[4]) for v in best], dtype=np.int64)
        costs = np.array([v[0] for v in best])
        second = np.array([v[1] if len(v) > 1 else np.inf for v in seen])
        return labels, costs, second, sims

    def search(self, objective=None, runner_up=True, return_stats=False, **inputs) -> dict:
        """The exact optimum of one query by branch and bound; equal to the brute force.

        Configurations are visited in increasing order of the lower bound of their
        whole key (objective, cycles, PEs, DRAM words, label) and simulated in
        batches (16, then doubling up to 512); the search stops when every
        configuration left has a bound key above the best key simulated (and, with
        ``runner_up``, a bound cost at least the second smallest cost simulated, so
        ``second_cost`` is exact too). The stats go to :attr:`last_stats`, and into
        the result with ``return_stats`` (``simulations``, ``allowed``).

        Work: at most the query's allowed configurations are simulated (28,665).

        Examples
        --------
        >>> task = CodesignTask(rows=[4, 8], cols=[4, 8], max_macs=[64], parts=4)
        >>> out = task.search(M=64, N=32, K=16, max_macs=64, sram_kb=16, bandwidth=2, return_stats=True)
        >>> out["stats"]["simulations"] <= 36
        True
        """
        objective = self.check_objective(objective)
        row = self.validate(self.query_frame(inputs))
        labels, costs, second, sims = self._search_rows(row, objective, runner_up)
        label, cost = int(labels[0]), costs[0]
        stats = {"simulations": int(sims[0]), "allowed": int(self._allowed(row).sum())}
        self.last_stats = stats
        config = self.config_values(row, np.array([label]))
        out = {c: (config[c][0].item() if isinstance(config[c][0], np.generic) else config[c][0])
               for c in self.config_columns}
        out.update({"label": label, "cost": float(cost), "objective": objective})
        if runner_up:
            out["second_cost"] = float(second[0])
        if return_stats:
            out["stats"] = stats
        return out

    def label(self, inputs, objective=None, keep_costs=False) -> pd.DataFrame:
        """Label every row (see :meth:`Task.label`). Without ``keep_costs`` each row is
        solved by the branch and bound of :meth:`search` (exact, ``second_cost``
        included); with ``keep_costs`` by the brute force over :meth:`costs`.
        :attr:`last_stats` holds the per-row ``simulations`` list."""
        if keep_costs:
            return super().label(inputs, objective, keep_costs=True)
        objective = self.check_objective(objective)
        inputs = self.validate(inputs)
        labels, best, second, sims = self._search_rows(inputs, objective, True)
        self.last_stats = {"simulations": sims.tolist()}
        out = pd.concat([inputs, self.configs(inputs, labels)], axis=1)
        out.insert(len(inputs.columns), "label", labels)
        out["best_cost"] = best
        out["second_cost"] = second
        return out


def _demand_rows_of(M, N, K, rows, cols, code):
    """Demand rows of each pair's USER-mode simulation (float64)."""
    from airchitect.targets.systolic.geometry import spatial_dims
    from airchitect.targets.systolic.simulate import _demand_rows

    return _demand_rows(rows, cols, *spatial_dims(M, N, K, code))


def _check_demand(M, N, K, rows, cols, code, labels):
    """Refuse pairs whose USER-mode simulation needs more than ``USER_ROWS_LIMIT``
    demand rows (a GEMM far larger than its array: hours of simulation)."""
    from airchitect.targets.systolic.simulate import USER_ROWS_LIMIT

    demand = _demand_rows_of(M, N, K, rows, cols, code)
    if demand.size and demand.max() > USER_ROWS_LIMIT:
        at = int(demand.argmax())
        raise ValueError(
            f"task 'codesign': M, N, K = {M[at]}, {N[at]}, {K[at]} on configuration {labels[at]} "
            f"({rows[at]} x {cols[at]} {DATAFLOWS[code[at]]}) needs {demand[at]:.3g} demand rows to simulate, "
            f"more than USER_ROWS_LIMIT = {USER_ROWS_LIMIT:.0e}; raise max_macs or split the GEMM")


def _lex_below(key, pos, best):
    """End of the prefix of ``key[:, pos:]`` (columns sorted lexicographically) whose
    keys are below ``best`` (a tuple) lexicographically."""
    less = np.zeros(key[0].size - pos, dtype=bool)
    equal = np.ones_like(less)
    for column, value in zip(key, best):
        part = column[pos:]
        less |= equal & (part < value)
        equal &= part == value
    # sorted keys: the ones below form a prefix
    return pos + int(np.argmin(less)) if not less.all() else key[0].size


def brute_force(task, inputs, objective="cycles"):
    """Labels of ``inputs`` by simulating every allowed configuration (the reference the
    search is tested against): ``(labels, costs)``."""
    inputs = task.validate(inputs)
    costs = task.costs(inputs, objective)
    return tiebroken_argmin(costs, task.tiebreak(inputs, costs, objective)), costs

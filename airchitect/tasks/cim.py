"""The ``cim`` task: the crossbar configuration of one layer on an RRAM chip.

Inputs (one row per layer-with-constraints): ``P, n, m, w_bits, in_bits``
(the layer, as in :func:`airchitect.targets.cim.simulate`), ``n_xbars`` (the
crossbars available) and ``adc_bits`` (the resolution of the ADCs on chip).

Space (:func:`design_space`, 1224 configurations, in this order):
crossbar size ``xbar`` in {64, 128, 256, 512} (square), rows activated per
read ``active_rows`` in {16, 32, 64, 128, all} (only values below ``xbar``,
then ``all`` = ``xbar``), ``cell_bits`` in {1, 2, 4}, ``dac_bits`` in {1, 2},
``mapping`` in (offset, differential-column, differential-row),
``duplication`` in {1, 2, 4, 8}.

A configuration is feasible for a row when its ADC is lossless,
``lossless_adc_bits(active_rows, cell_bits, dac_bits, signed) <= adc_bits``
(signed for the two differential mappings), and it fits the chip,
``tiles * duplication <= n_xbars``. Objectives (:data:`OBJECTIVES`): latency
(us), energy (pJ) and edp, from the compiled kernel
:func:`airchitect.targets.cim.grid.grid_costs`.

Tie-break: lower objective, then fewer crossbars used (tiles x duplication),
then the lower label id. See ``docs/tasks.md`` for the full definition.

>>> space = design_space()
>>> len(space), space.columns.tolist()[:3]
(1224, ['xbar', 'active_rows', 'active_all'])
>>> task_costs(sample_inputs(3, seed=0), space, "latency").shape
(3, 1224)
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_int, check_int_columns
from airchitect.targets.cim import grid
from airchitect.targets.cim.config import INTEGER_MAPPINGS
from airchitect.targets.cim.cost import lossless_adc_bits
from airchitect.tasks.base import checked_sample, Task, tiebroken_argmin

XBAR_SIZES = (64, 128, 256, 512)
ACTIVE_ROWS = (16, 32, 64, 128)
CELL_BITS = (1, 2, 4)
DAC_BITS = (1, 2)
DUPLICATION = (1, 2, 4, 8)
OBJECTIVES = grid.OBJECTIVES
INPUT_COLUMNS = grid.LAYER_COLUMNS
CONFIG_COLUMNS = ("xbar", "active_rows", "active_all", "cell_bits", "dac_bits", "mapping", "duplication")
#: input limits (inclusive) checked by :func:`check_inputs`
LIMITS = {"P": (1, 2**40), "n": (1, 2**31 - 1), "m": (1, 2**31 - 1), "w_bits": (1, 32),
          "in_bits": (1, 32), "n_xbars": (1, 2**40), "adc_bits": (1, 32)}

#: Sampler ranges (inclusive): log-uniform P, n, m; uniform bits;
#: n_xbars = 2**k with k uniform.
P_RANGE = (1, 65536)
N_RANGE = (1, 32768)
M_RANGE = (1, 8192)
BITS_RANGE = (2, 8)
XBARS_EXP_RANGE = (0, 14)
ADC_BITS_RANGE = (5, 14)
_CHUNK = 1024


def design_space():
    """The 1224 crossbar configurations, one row each, index = configuration id."""
    rows = []
    for xbar in XBAR_SIZES:
        actives = [a for a in ACTIVE_ROWS if a < xbar] + [xbar]
        for active in actives:
            for bc in CELL_BITS:
                for d in DAC_BITS:
                    for mapping in INTEGER_MAPPINGS:
                        for dup in DUPLICATION:
                            rows.append((xbar, active, active == xbar, bc, d, mapping, dup))
    return pd.DataFrame(rows, columns=list(CONFIG_COLUMNS))


@functools.lru_cache(maxsize=1)
def _default_space():
    return design_space()


def check_inputs(inputs):
    """Validate an inputs table; return a DataFrame with int64 columns :data:`INPUT_COLUMNS`."""
    df = inputs if isinstance(inputs, pd.DataFrame) else pd.DataFrame(inputs)
    missing = [c for c in INPUT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"cim inputs need columns {', '.join(INPUT_COLUMNS)}; missing {', '.join(missing)}")
    return check_int_columns(df, {c: LIMITS[c] for c in INPUT_COLUMNS})


def _costs_and_crossbars(inputs, space, objective, want_xbars=True):
    check_choice("objective", objective, OBJECTIVES)
    space = _default_space() if space is None else space
    return grid.grid_costs(check_inputs(inputs), space, objective, want_xbars)


def task_costs(inputs, space=None, objective="latency"):
    """Objective of every configuration for every row, ``(n_rows, n_configs)``.

    ``objective``: ``"latency"`` (us), ``"energy"`` (pJ) or ``"edp"``
    (us x pJ). Infeasible configurations cost ``np.inf``.
    """
    return _costs_and_crossbars(inputs, space, objective, want_xbars=False)[0]


def crossbars_used(inputs, space=None):
    """Crossbars a configuration occupies (tiles x duplication), the first tie-break key."""
    return _costs_and_crossbars(inputs, space, "latency")[1]


def base_counts(inputs, space=None):
    """Tiles and reads per vector of every base configuration (all but duplication);
    see :func:`airchitect.targets.cim.grid.base_counts`.

    >>> tiles, reads, base = base_counts(sample_inputs(2, seed=0))
    >>> tiles.shape, base.shape
    ((2, 306), (1224,))
    """
    return grid.base_counts(check_inputs(inputs), _default_space() if space is None else space)


def best_configs(inputs, space=None, objective="latency"):
    """Configuration id of the optimum of every row (tie-break: fewer crossbars, lower id).

    Rows with no feasible configuration get -1.
    """
    cost, xbars = _costs_and_crossbars(inputs, space, objective)
    return np.where(np.isfinite(cost).any(axis=1), tiebroken_argmin(cost, [xbars]), -1)


def _log_uniform(rng, low, high, size):
    v = np.floor(np.exp(rng.uniform(np.log(low), np.log(high + 1), size))).astype(np.int64)
    return np.clip(v, low, high)


def sample_inputs(n, seed=0):
    """``n`` seeded input rows, each with at least one feasible configuration.

    Candidates are drawn in batches of 1024 from ``np.random.default_rng(seed)``
    (columns in the order P, n, m, w_bits, in_bits, n_xbars, adc_bits, each a
    whole batch) and kept in order when some configuration is feasible.
    """
    n = check_int("n", n, 0, 10**9)
    rng = np.random.default_rng(seed)
    space = _default_space()
    kept, have = [], 0
    while have < n:
        size = _CHUNK
        cand = pd.DataFrame({
            "P": _log_uniform(rng, *P_RANGE, size),
            "n": _log_uniform(rng, *N_RANGE, size),
            "m": _log_uniform(rng, *M_RANGE, size),
            "w_bits": rng.integers(BITS_RANGE[0], BITS_RANGE[1] + 1, size),
            "in_bits": rng.integers(BITS_RANGE[0], BITS_RANGE[1] + 1, size),
            "n_xbars": 2 ** rng.integers(XBARS_EXP_RANGE[0], XBARS_EXP_RANGE[1] + 1, size),
            "adc_bits": rng.integers(ADC_BITS_RANGE[0], ADC_BITS_RANGE[1] + 1, size),
        })
        ok = np.isfinite(task_costs(cand, space, "latency")).any(axis=1)
        kept.append(cand[ok])
        have += int(ok.sum())
    out = pd.concat(kept, ignore_index=True).iloc[:n] if kept else pd.DataFrame(columns=list(INPUT_COLUMNS))
    return out.reset_index(drop=True).astype(np.int64)


def check_feasible(inputs, space):
    """Raise ValueError naming the field(s) of the first row no configuration of ``space`` allows.

    A row is feasible when some configuration has a lossless ADC of at most
    ``adc_bits`` bits and fits ``n_xbars`` crossbars with one copy (more
    copies only need more crossbars).
    """
    if not len(inputs):
        return
    tiles, _, base = base_counts(inputs, space)
    need = lossless_adc_bits(
        space["active_rows"].to_numpy(np.int64), space["cell_bits"].to_numpy(np.int64),
        space["dac_bits"].to_numpy(np.int64), np.isin(space["mapping"], ("differential-column", "differential-row")))
    base_need = np.full(tiles.shape[1], np.iinfo(np.int64).max)
    np.minimum.at(base_need, base, need)
    adc = inputs["adc_bits"].to_numpy(np.int64)
    adc_ok = base_need[None, :] <= adc[:, None]
    fewest = np.where(adc_ok, tiles, np.iinfo(np.int64).max).min(axis=1)
    bad = fewest > inputs["n_xbars"].to_numpy(np.int64)
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    if not adc_ok[i].any():
        raise ValueError(f"task 'cim': row {i} has no feasible configuration: adc_bits must be at "
                         f"least {int(base_need.min())} (the smallest lossless ADC of the space), "
                         f"got {int(adc[i])}")
    raise ValueError(f"task 'cim': row {i} has no feasible configuration: n_xbars must be at least "
                     f"{int(fewest[i])} (the fewest crossbars of a configuration with adc_bits="
                     f"{int(adc[i])} for n={int(inputs['n'].iat[i])}, m={int(inputs['m'].iat[i])}, "
                     f"w_bits={int(inputs['w_bits'].iat[i])}), got {int(inputs['n_xbars'].iat[i])}")


class CimTask(Task):
    """Pick crossbar size, active rows, cell/DAC bits, mapping and duplication."""

    name = "cim"
    space_version = "1"
    input_columns = INPUT_COLUMNS
    config_columns = CONFIG_COLUMNS
    objectives = OBJECTIVES
    default_objective = "latency"
    chunk_rows = 4096

    def _space(self):
        return design_space()

    @checked_sample
    def sample(self, n, seed=0):
        return sample_inputs(n, seed=seed)

    def _validate(self, df):
        out = check_inputs(df).reset_index(drop=True)
        check_feasible(out, self.space())
        return out

    def relax(self, inputs):
        return inputs.assign(n_xbars=2**14, adc_bits=14)

    def costs(self, inputs, objective="latency"):
        objective = self.check_objective(objective)
        return task_costs(inputs, self.space(), objective)

    def tiebreak(self, inputs, costs, objective="latency"):
        return [crossbars_used(inputs, self.space())]

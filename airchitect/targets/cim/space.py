"""The crossbar design space of the ``cim`` task and its vectorised costs.

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
``tiles * duplication <= n_xbars``. Costs come from
:func:`airchitect.targets.cim.cost.layer_costs` with the CIM-AQ latencies
(56 us per crossbar write, 1.4 us per read) and the chip's ``adc_bits`` for
ADC energy. See ``docs/cim.md`` ("Task cim") for the full definition.

>>> space = design_space()
>>> len(space), space.columns.tolist()[:3]
(1224, ['xbar', 'active_rows', 'active_all'])
>>> inputs = sample_inputs(3, seed=0)
>>> task_costs(inputs, space, "latency").shape
(3, 1224)
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_int_columns
from airchitect.targets.cim.config import INTEGER_MAPPINGS, MAPPINGS
from airchitect.targets.cim.cost import layer_base, lossless_adc_bits, with_duplication
from airchitect.targets.cim.energy import ISAAC_ADC_8BIT_PJ as _ADC8_PJ
from airchitect.targets.cim.config import CrossbarConfig

XBAR_SIZES = (64, 128, 256, 512)
ACTIVE_ROWS = (16, 32, 64, 128)
CELL_BITS = (1, 2, 4)
DAC_BITS = (1, 2)
DUPLICATION = (1, 2, 4, 8)
OBJECTIVES = ("latency", "energy", "edp")
INPUT_COLUMNS = ("P", "n", "m", "w_bits", "in_bits", "n_xbars", "adc_bits")
CONFIG_COLUMNS = ("xbar", "active_rows", "active_all", "cell_bits", "dac_bits", "mapping", "duplication")

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


def check_inputs(inputs):
    """Validate an inputs table; return a DataFrame with int64 columns :data:`INPUT_COLUMNS`."""
    df = inputs if isinstance(inputs, pd.DataFrame) else pd.DataFrame(inputs)
    missing = [c for c in INPUT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"cim inputs need columns {', '.join(INPUT_COLUMNS)}; missing {', '.join(missing)}")
    limits = {"P": (1, 2**40), "n": (1, 2**31 - 1), "m": (1, 2**31 - 1), "w_bits": (1, 32),
              "in_bits": (1, 32), "n_xbars": (1, 2**40), "adc_bits": (1, 32)}
    return check_int_columns(df, {c: limits[c] for c in INPUT_COLUMNS})


def _space_arrays(space):
    """Configuration columns as int64 arrays for the compiled kernel."""
    mapping = space["mapping"].to_numpy().astype(str)
    signed = np.isin(mapping, ("differential-column", "differential-row"))
    return (
        space["xbar"].to_numpy(np.int64),
        space["active_rows"].to_numpy(np.int64),
        space["cell_bits"].to_numpy(np.int64),
        space["dac_bits"].to_numpy(np.int64),
        np.array([MAPPINGS.index(x) for x in mapping], dtype=np.int64),
        space["duplication"].to_numpy(np.int64),
        lossless_adc_bits(space["active_rows"].to_numpy(np.int64), space["cell_bits"].to_numpy(np.int64),
                          space["dac_bits"].to_numpy(np.int64), signed).astype(np.int64),
    )


_DEFAULT = CrossbarConfig()


@numba.njit(cache=True)
def _kernel(P, n, m, wb, ib, nx, adc, xbar, active, bc, d, mp, dup, need, order, starts, objective,
            t_write, t_exec, cost, xbars, want_xbars):
    # configurations that differ only in duplication share one base computation:
    # order[starts[b]:starts[b + 1]] are the configurations of base b
    for i in range(P.shape[0]):
        adc_pj = _ADC8_PJ * 2.0 ** (adc[i] - 8)
        for b in range(starts.shape[0] - 1):
            j0 = order[starts[b]]
            tiles, reads, e, cells = layer_base(P[i], n[i], m[i], wb[i], ib[i], xbar[j0], xbar[j0], bc[j0],
                                                d[j0], mp[j0], active[j0], adc_pj)
            for t in range(starts[b], starts[b + 1]):
                j = order[t]
                lat, en, used = with_duplication(P[i], tiles, reads, e, cells, dup[j], t_write, t_exec)
                if want_xbars:
                    xbars[i, j] = used
                if need[j] > adc[i] or used > nx[i]:
                    cost[i, j] = np.inf
                elif objective == 0:
                    cost[i, j] = lat
                elif objective == 1:
                    cost[i, j] = en
                else:
                    cost[i, j] = lat * en


@numba.njit(cache=True)
def _counts_kernel(n, m, wb, ib, xbar, active, bc, d, mp, bases, tiles, reads):
    for i in range(n.shape[0]):
        for b in range(bases.shape[0]):
            j = bases[b]
            t, r, _, _ = layer_base(1, n[i], m[i], wb[i], ib[i], xbar[j], xbar[j], bc[j], d[j], mp[j],
                                    active[j], 0.0)
            tiles[i, b] = t
            reads[i, b] = r


def base_counts(inputs, space=None):
    """Tiles and reads per vector of every base configuration (all but duplication).

    Returns ``(tiles, reads, base)``: two ``(n_rows, n_bases)`` int arrays and,
    for every configuration of ``space``, the index of its base. A
    configuration's latency is ``tiles * D * t_write_us + ceil(P / D) * reads *
    t_exec_us`` with ``D`` its duplication.

    >>> tiles, reads, base = base_counts(sample_inputs(2, seed=0))
    >>> tiles.shape, base.shape
    ((2, 306), (1224,))
    """
    inp = check_inputs(inputs)
    (xbar, active, bc, d, mp, _, _), (order, starts) = _prepared(space)
    first = order[starts[:-1]]
    tiles = np.empty((len(inp), len(first)), dtype=np.int64)
    reads = np.empty_like(tiles)
    _counts_kernel(*(inp[c].to_numpy(np.int64) for c in ("n", "m", "w_bits", "in_bits")),
                   xbar, active, bc, d, mp, first, tiles, reads)
    return tiles, reads, configuration_bases(space)


def configuration_bases(space=None):
    """Index of every configuration's base (its configuration without duplication).

    >>> base = configuration_bases()
    >>> base[:5].tolist(), int(base.max()) + 1
    ([0, 0, 0, 0, 1], 306)
    """
    _, (order, starts) = _prepared(space)
    base = np.empty(len(order), dtype=np.int64)
    base[order] = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    return base


@functools.lru_cache(maxsize=1)
def _default_prepared():
    space = design_space()
    return space, _space_arrays(space), _groups(space)


def _prepared(space):
    """Kernel arrays and duplication groups of ``space`` (cached for the task's space)."""
    default, arrays, groups = _default_prepared()
    if space is None or space is default or space.equals(default):
        return arrays, groups
    return _space_arrays(space), _groups(space)


def _groups(space):
    """Configurations grouped by everything but duplication: (order, starts)."""
    keys = space[[c for c in CONFIG_COLUMNS if c != "duplication"]].astype(str).agg("|".join, axis=1)
    codes, _ = pd.factorize(keys)
    order = np.argsort(codes, kind="stable").astype(np.int64)
    starts = np.searchsorted(codes[order], np.arange(codes.max() + 2)).astype(np.int64)
    return order, starts


def task_costs(inputs, space=None, objective="latency"):
    """Objective of every configuration for every row, ``(n_rows, n_configs)``.

    ``objective``: ``"latency"`` (us), ``"energy"`` (pJ) or ``"edp"``
    (us x pJ). Infeasible configurations cost ``np.inf``.
    """
    return _costs_and_crossbars(inputs, space, objective, want_xbars=False)[0]


def crossbars_used(inputs, space=None):
    """Crossbars a configuration occupies (tiles x duplication), the first tie-break key."""
    return _costs_and_crossbars(inputs, space, "latency")[1]


def _costs_and_crossbars(inputs, space, objective, want_xbars=True):
    objective = OBJECTIVES.index(check_choice("objective", objective, OBJECTIVES))
    inp = check_inputs(inputs)
    arrays, groups = _prepared(space)
    cols = [inp[c].to_numpy(np.int64) for c in INPUT_COLUMNS]
    cost = np.empty((len(inp), len(arrays[0])))
    xbars = np.empty((len(inp), len(arrays[0])) if want_xbars else (1, 1))
    _kernel(*cols, *arrays, *groups, objective, _DEFAULT.t_write_us,
            _DEFAULT.t_exec_us, cost, xbars, want_xbars)
    return cost, xbars


def best_configs(inputs, space=None, objective="latency"):
    """Configuration id of the optimum of every row (tie-break: fewer crossbars, lower id).

    Rows with no feasible configuration get -1.
    """
    cost, xbars = _costs_and_crossbars(inputs, space, objective)
    low = cost.min(axis=1, keepdims=True)
    tied = (cost == low) & np.isfinite(cost)
    key = np.where(tied, xbars, np.inf)
    pick = tied & (key == key.min(axis=1, keepdims=True))
    return np.where(tied.any(axis=1), pick.argmax(axis=1), -1)


def _log_uniform(rng, low, high, size):
    v = np.floor(np.exp(rng.uniform(np.log(low), np.log(high + 1), size))).astype(np.int64)
    return np.clip(v, low, high)


def sample_inputs(n, seed=0):
    """``n`` seeded input rows, each with at least one feasible configuration.

    Candidates are drawn in batches of 1024 from ``np.random.default_rng(seed)``
    (columns in the order P, n, m, w_bits, in_bits, n_xbars, adc_bits, each a
    whole batch) and kept in order when some configuration is feasible.
    """
    from airchitect._checks import check_int

    n = check_int("n", n, 0, 10**9)
    rng = np.random.default_rng(seed)
    space = design_space()
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

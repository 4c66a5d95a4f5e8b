"""Costs of one layer over a table of crossbar configurations, compiled.

A *layer* row holds ``P, n, m, w_bits, in_bits`` (as in
:func:`airchitect.targets.cim.simulate`) and the chip's resources ``n_xbars``
(crossbars) and ``adc_bits`` (ADC resolution); a *configuration* row holds
``xbar`` (square crossbar), ``active_rows``, ``cell_bits``, ``dac_bits``,
``mapping`` and ``duplication``. Costs come from
:func:`airchitect.targets.cim.cost.layer_costs` with the CIM-AQ latencies
(56 us per crossbar write, 1.4 us per read) and the chip's ``adc_bits`` for
ADC energy; a configuration whose lossless ADC needs more than ``adc_bits``
bits, or whose ``tiles * duplication`` exceeds ``n_xbars``, costs ``inf``.
Callers validate the layer columns (the ``cim`` task does,
:mod:`airchitect.tasks.cim`).
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from airchitect.targets.cim.config import MAPPINGS, CrossbarConfig
from airchitect.targets.cim.cost import layer_base, lossless_adc_bits, with_duplication
from airchitect.targets.cim.energy import ISAAC_ADC_8BIT_PJ as _ADC8_PJ

#: objectives of :func:`grid_costs`: latency (us), energy (pJ), edp (us x pJ)
OBJECTIVES = ("latency", "energy", "edp")
LAYER_COLUMNS = ("P", "n", "m", "w_bits", "in_bits", "n_xbars", "adc_bits")
_DEFAULT = CrossbarConfig()
_LAST = []  # [space, kernel arrays, groups] of the last configuration table


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


def base_counts(layers, space):
    """Tiles and reads per vector of every base configuration (all but duplication).

    Returns ``(tiles, reads, base)``: two ``(n_rows, n_bases)`` int arrays and,
    for every configuration of ``space``, the index of its base. A
    configuration's latency is ``tiles * D * t_write_us + ceil(P / D) * reads *
    t_exec_us`` with ``D`` its duplication.
    """
    (xbar, active, bc, d, mp, _, _), (order, starts) = _prepared(space)
    first = order[starts[:-1]]
    tiles = np.empty((len(layers), len(first)), dtype=np.int64)
    reads = np.empty_like(tiles)
    _counts_kernel(*(layers[c].to_numpy(np.int64) for c in ("n", "m", "w_bits", "in_bits")),
                   xbar, active, bc, d, mp, first, tiles, reads)
    return tiles, reads, configuration_bases(space)


def configuration_bases(space):
    """Index of every configuration's base (its configuration without duplication), ``(n_configs,)``."""
    _, (order, starts) = _prepared(space)
    base = np.empty(len(order), dtype=np.int64)
    base[order] = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    return base


def _prepared(space):
    """Kernel arrays and duplication groups of ``space`` (kept for the last table seen)."""
    if not (_LAST and space.equals(_LAST[0])):
        _LAST[:] = [space.copy(), _space_arrays(space), _groups(space)]
    return _LAST[1], _LAST[2]


def _groups(space):
    """Configurations grouped by everything but duplication: (order, starts)."""
    keys = space[[c for c in space.columns if c != "duplication"]].astype(str).agg("|".join, axis=1)
    codes, _ = pd.factorize(keys)
    order = np.argsort(codes, kind="stable").astype(np.int64)
    starts = np.searchsorted(codes[order], np.arange(codes.max() + 2)).astype(np.int64)
    return order, starts


def grid_costs(layers, space, objective="latency", want_xbars=True):
    """Objective and crossbars used of every configuration for every layer row.

    ``objective`` is a name in :data:`OBJECTIVES`. Returns ``(cost, xbars)``,
    each ``(n_rows, n_configs)`` float64 (``xbars`` is ``(1, 1)`` without
    ``want_xbars``); ``cost`` is ``inf`` where the configuration does not fit
    the row's chip.
    """
    arrays, groups = _prepared(space)
    cols = [layers[c].to_numpy(np.int64) for c in LAYER_COLUMNS]
    cost = np.empty((len(layers), len(arrays[0])))
    xbars = np.empty((len(layers), len(arrays[0])) if want_xbars else (1, 1))
    _kernel(*cols, *arrays, *groups, OBJECTIVES.index(objective), _DEFAULT.t_write_us,
            _DEFAULT.t_exec_us, cost, xbars, want_xbars)
    return cost, xbars

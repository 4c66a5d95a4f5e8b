"""Latency and energy of a layer on RRAM crossbars (the CIM-AQ model, extended).

A layer is ``P`` matrix-vector products of ``n`` inputs and ``m`` outputs
(a convolution: ``P`` output pixels, ``n = in_ch * kh * kw``, ``m = out_ch``;
a dense layer: ``P = 1``). With ``b_c`` bits per cell and ``d`` input bits
per execution (CIM-AQ, Pelke, Klein et al. 2026):

- ``S_w = ceil(w_bits / b_c)`` cells per weight, ``S_in = ceil(in_bits / d)``
  input slices;
- ``cols = m * S_w``, ``rows = n``; the mapping widens them: ``offset``
  ``cols + 1``, ``differential-column`` ``cols * 2``, ``differential-row``
  ``rows * 2``;
- ``tiles T = ceil(cols / xbar_cols) * ceil(rows / xbar_rows)`` crossbar writes;
- ``executions E = P * T * S_in * phases``;
- ``latency_us = T * t_write_us + E * t_exec_us``.

Extensions (each reduces to the model above at its default):

- ``active_rows``: a tile of ``r`` used rows needs ``ceil(r / active_rows)``
  reads per execution (default: all rows, one read);
- ``duplication D``: ``D`` copies are written (``T * D`` writes) and split the
  ``P`` vectors, so the critical path has ``ceil(P / D)`` of them;
- ``adcs_per_xbar``, ``t_adc_ns``: each ADC converts its share of a read's
  outputs one after the other, adding ``ceil(outputs / adcs_per_xbar) *
  t_adc_ns`` to every read (default 0 ns, folded into ``t_exec_us``);
- energy: cell reads, DACs, ADC conversions (by resolution), shift-and-add
  and cell writes with the constants of :mod:`airchitect.targets.cim.energy`.

The binary and ternary mappings of CIM-Explorer store one weight in
``col_mult x row_mult`` one-bit cells, apply the input in ``phases`` pulses
and are not bit-serial (``S_w = S_in = 1``).

>>> from airchitect.targets.cim import simulate
>>> df = simulate(224 * 224, 27, 64, 8, 8)     # VGG16 conv1_1, 8/8 bits
>>> int(df.tiles[0]), int(df.executions[0]), float(df.latency_us[0])
(1, 401408, 562027.2)
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from airchitect._checks import check_choice_array, check_int_array, check_number_array
from airchitect._math import ceil_div as _ceil_div
from airchitect.targets.cim import energy
from airchitect.targets.cim.config import (
    MAPPINGS,
    MAX_ADC_BITS,
    MAX_CELL_BITS,
    MAX_DAC_BITS,
    MAX_XBAR,
    CrossbarConfig,
)

#: Largest P (vectors per layer), n and m accepted.
MAX_P = 2**40
MAX_DIM = 2**31 - 1
MAX_BITS = 32
#: Largest number of rows (broadcast elements) one :func:`simulate` or :func:`layer_costs` call returns.
MAX_ROWS = 2**22
#: Largest integer count (reads, cell reads, ADC conversions, cell writes) computed exactly in int64.
MAX_COUNT = 2**62

# Per mapping (in MAPPINGS order): columns per weight, extra columns per
# layer, rows per weight, phases (pulses summed after the ADC), signed column
# current (symmetric ADC, one extra bit), differential output (two columns
# give one ADC conversion), integer (bit-sliced weights, bit-serial inputs).
_PROPS = {
    #                      col  extra row  ph  signed diff  int
    "offset":              (1,  1,    1,   1,  0,     0,    1),
    "differential-column": (2,  0,    1,   1,  1,     1,    1),
    "differential-row":    (1,  0,    2,   1,  1,     0,    1),
    "BNN-I":               (2,  0,    1,   1,  1,     1,    0),
    "BNN-II":              (2,  0,    1,   1,  1,     1,    0),
    "BNN-III":             (1,  0,    1,   2,  0,     0,    0),
    "BNN-IV":              (1,  0,    1,   2,  0,     0,    0),
    "BNN-V":               (1,  0,    2,   1,  0,     0,    0),
    "BNN-VI":              (2,  0,    2,   1,  1,     1,    0),
    "TNN-I":               (2,  0,    2,   1,  1,     1,    0),
    "TNN-II":              (2,  0,    1,   2,  1,     1,    0),
    "TNN-III":             (2,  0,    1,   2,  1,     1,    0),
    "TNN-IV":              (2,  0,    1,   2,  0,     0,    0),
    "TNN-V":               (2,  0,    1,   2,  0,     0,    0),
}
_TABLE = np.array([_PROPS[name] for name in MAPPINGS], dtype=np.int64)
PROPERTY_NAMES = ("col_mult", "col_extra", "row_mult", "phases", "signed", "diff_out", "integer")


def mapping_properties(mapping):
    """Return the placement properties of ``mapping`` as a dict of ints.

    >>> mapping_properties("differential-row")["row_mult"]
    2
    >>> mapping_properties("BNN-III")["phases"]
    2
    """
    idx = MAPPINGS.index(check_choice_array("mapping", mapping, MAPPINGS).item())
    return dict(zip(PROPERTY_NAMES, (int(v) for v in _TABLE[idx])))


def _mapping_columns(mapping):
    """Return the property columns (tuple of int64 arrays) for a mapping array."""
    names = check_choice_array("mapping", mapping, MAPPINGS)
    if names.ndim == 0:
        row = _TABLE[MAPPINGS.index(names.item())]
        return tuple(np.int64(v) for v in row)
    uniq, inverse = np.unique(names, return_inverse=True)
    idx = np.array([MAPPINGS.index(u) for u in uniq])[inverse.reshape(names.shape)]
    return tuple(_TABLE[idx, k] for k in range(_TABLE.shape[1]))


def lossless_adc_bits(active_rows, cell_bits=4, dac_bits=1, signed=True):
    """ADC bits that resolve every column sum exactly.

    ``ceil(log2(active_rows * (2**cell_bits - 1) * (2**dac_bits - 1) + 1))``,
    plus one bit for a signed (differential) column current.

    >>> int(lossless_adc_bits(256, 4, 1, signed=True))
    13
    >>> int(lossless_adc_bits(16, 1, 1, signed=False))
    5
    """
    levels = (np.asarray(active_rows, dtype=np.int64) * (2 ** np.asarray(cell_bits, dtype=np.int64) - 1)
              * (2 ** np.asarray(dac_bits, dtype=np.int64) - 1))
    bits = np.ceil(np.log2(levels + 1)).astype(np.int64)
    return bits + np.asarray(signed, dtype=np.int64)


def _check(P, n, m, w_bits, in_bits, cfg):
    """Validate every argument; return a dict of int/float arrays."""
    out = {
        "P": check_int_array("P", P, 1, MAX_P),
        "n": check_int_array("n", n, 1, MAX_DIM),
        "m": check_int_array("m", m, 1, MAX_DIM),
        "w_bits": check_int_array("w_bits", w_bits, 1, MAX_BITS),
        "in_bits": check_int_array("in_bits", in_bits, 1, MAX_BITS),
        "xbar_rows": check_int_array("xbar_rows", cfg["xbar_rows"], 1, MAX_XBAR),
        "xbar_cols": check_int_array("xbar_cols", cfg["xbar_cols"], 1, MAX_XBAR),
        "cell_bits": check_int_array("cell_bits", cfg["cell_bits"], 1, MAX_CELL_BITS),
        "dac_bits": check_int_array("dac_bits", cfg["dac_bits"], 1, MAX_DAC_BITS),
        "duplication": check_int_array("duplication", cfg["duplication"], 1, MAX_XBAR),
        "t_write_us": check_number_array("t_write_us", cfg["t_write_us"], 0.0, 1e12),
        "t_exec_us": check_number_array("t_exec_us", cfg["t_exec_us"], 0.0, 1e12),
        "t_adc_ns": check_number_array("t_adc_ns", cfg["t_adc_ns"], 0.0, 1e12),
        "mapping": cfg["mapping"],
    }
    for name, value in (("adc_bits", cfg["adc_bits"]), ("adcs_per_xbar", cfg["adcs_per_xbar"]),
                        ("active_rows", cfg["active_rows"])):
        high = MAX_ADC_BITS if name == "adc_bits" else MAX_XBAR
        out[name] = None if value is None else check_int_array(name, value, 1, high)
    if out["active_rows"] is not None and np.any(out["active_rows"] > out["xbar_rows"]):
        raise ValueError("active_rows must be integers in [1, xbar_rows]")
    if out["adcs_per_xbar"] is not None and np.any(out["adcs_per_xbar"] > out["xbar_cols"]):
        raise ValueError("adcs_per_xbar must be integers in [1, xbar_cols]")
    return out


def _config_dict(config):
    unknown = set(config) - set(CrossbarConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown crossbar option(s): {', '.join(sorted(unknown))}")
    return {**CrossbarConfig().to_dict(), **config}


def _check_rows(a):
    """Raise ValueError when the checked arguments broadcast to more than ``MAX_ROWS`` rows."""
    shapes = [np.shape(v) for k, v in a.items() if k != "mapping" and v is not None]
    shapes.append(np.shape(a["mapping"]))
    rows = int(np.prod(np.broadcast_shapes(*shapes), dtype=object))
    if rows > MAX_ROWS:
        raise ValueError(f"P, n, m, w_bits, in_bits and the crossbar options broadcast to {rows} rows, "
                         f"more than the limit {MAX_ROWS}; simulate fewer at a time")


def _check_counts(P, slices, rows, cols, reads_per_vector, dup):
    """Raise ValueError where an int64 count of :func:`layer_costs` would pass ``MAX_COUNT``."""
    as_float = lambda v: np.asarray(v, dtype=np.float64)  # noqa: E731
    vec_slices = as_float(P) * slices
    cells = as_float(rows) * cols
    largest = np.maximum.reduce(np.broadcast_arrays(
        as_float(P) * reads_per_vector, vec_slices * cells, vec_slices * rows * cols, cells * dup))
    if np.any(largest > MAX_COUNT):
        raise ValueError(f"P, n and m must keep every count below {MAX_COUNT} (2**62); "
                         f"got about {float(largest.max()):.3g} cell reads")


def layer_costs(P, n, m, w_bits, in_bits, **config):
    """Vectorised cost model; returns a dict of broadcast numpy arrays.

    Same arguments and meaning as :func:`simulate`, without building a
    DataFrame (for hot loops over many workloads and configurations).
    """
    a = _check(P, n, m, w_bits, in_bits, _config_dict(config))
    _check_rows(a)
    col_mult, col_extra, row_mult, phases, signed, diff_out, integer = _mapping_columns(a["mapping"])
    xr, xc = a["xbar_rows"], a["xbar_cols"]
    s_w = np.where(integer == 1, _ceil_div(a["w_bits"], a["cell_bits"]), 1)
    s_in = np.where(integer == 1, _ceil_div(a["in_bits"], a["dac_bits"]), 1)
    cols = a["m"] * s_w * col_mult + col_extra
    rows = a["n"] * row_mult
    col_tiles = _ceil_div(cols, xc)
    row_tiles = _ceil_div(rows, xr)
    tiles = col_tiles * row_tiles
    active = xr if a["active_rows"] is None else a["active_rows"]
    # reads of one tile column per input slice and phase: full row tiles plus
    # the remainder tile, each split into groups of `active` rows
    row_groups = (rows // xr) * _ceil_div(xr, active) + _ceil_div(rows % xr, active)
    dup = a["duplication"]
    slices = s_in * phases
    reads_per_vector = slices * col_tiles * row_groups
    _check_counts(a["P"], slices, rows, cols, reads_per_vector, a["duplication"])
    executions = a["P"] * reads_per_vector
    critical = _ceil_div(a["P"], dup) * reads_per_vector
    outputs_per_read = np.where(diff_out == 1, xc // col_mult, xc)
    adcs = outputs_per_read if a["adcs_per_xbar"] is None else a["adcs_per_xbar"]
    t_read_us = a["t_exec_us"] + _ceil_div(outputs_per_read, adcs) * a["t_adc_ns"] * 1e-3
    cell_bits = np.where(integer == 1, a["cell_bits"], 1)
    dac_bits = np.where(integer == 1, a["dac_bits"], 1)
    adc_bits = (lossless_adc_bits(np.minimum(active, xr), cell_bits, dac_bits, signed)
                if a["adc_bits"] is None else a["adc_bits"])
    writes = tiles * dup
    write_latency = writes * a["t_write_us"]
    exec_latency = critical * t_read_us
    adc_cols = np.where(diff_out == 1, cols // col_mult, cols)
    vec_slices = a["P"] * slices
    cell_pj = vec_slices * rows * cols * energy.NEUROSIM_CELL_READ_PJ
    dac_pj = vec_slices * rows * col_tiles * energy.dac_energy_pj(dac_bits)
    adc_ops = vec_slices * adc_cols * row_groups
    adc_pj = adc_ops * energy.adc_energy_pj(adc_bits)
    shift_add_pj = adc_ops * energy.ISAAC_SHIFT_ADD_PJ
    write_pj = rows * cols * dup * energy.NEUROSIM_CELL_WRITE_PJ
    out = {
        "S_w": s_w, "S_in": s_in, "phases": phases, "rows": rows, "cols": cols,
        "row_tiles": row_tiles, "col_tiles": col_tiles, "tiles": tiles,
        "crossbars": tiles * dup, "writes": writes, "executions": executions,
        "critical_executions": critical, "adc_bits": adc_bits,
        "latency_us": write_latency + exec_latency,
        "write_latency_us": write_latency, "exec_latency_us": exec_latency,
        "energy_pj": cell_pj + dac_pj + adc_pj + shift_add_pj + write_pj,
        "cell_energy_pj": cell_pj, "dac_energy_pj": dac_pj, "adc_energy_pj": adc_pj,
        "shift_add_energy_pj": shift_add_pj, "write_energy_pj": write_pj,
    }
    shape = np.broadcast_shapes(*(np.shape(v) for v in out.values()))
    return {k: np.broadcast_to(v, shape) for k, v in out.items()}


def simulate(P, n, m, w_bits, in_bits, **config):
    """Cost of a layer of ``P`` MVMs (``n`` inputs, ``m`` outputs) on crossbars.

    Every argument broadcasts (numpy rules), including the crossbar options
    of :class:`~airchitect.targets.cim.CrossbarConfig` (``xbar_rows``,
    ``xbar_cols``, ``cell_bits``, ``dac_bits``, ``mapping``, ``t_write_us``,
    ``t_exec_us``, ``adc_bits``, ``adcs_per_xbar``, ``t_adc_ns``,
    ``active_rows``, ``duplication``); ``None`` options must be scalars.
    At most ``MAX_ROWS`` (2**22) broadcast elements per call, and every
    integer count (reads, cell reads, ADC conversions, cell writes) must
    stay below ``MAX_COUNT`` (2**62); past either a ValueError is raised
    before any work.

    Returns
    -------
    pandas.DataFrame
        One row per broadcast element: ``S_w``, ``S_in``, ``phases``,
        ``rows`` and ``cols`` (mapped), ``row_tiles``, ``col_tiles``,
        ``tiles``, ``crossbars`` (tiles x duplication), ``writes``,
        ``executions`` (all crossbar reads), ``critical_executions`` (reads
        on the critical path), ``adc_bits``, ``latency_us``,
        ``write_latency_us``, ``exec_latency_us``, ``energy_pj`` and its
        parts ``cell_energy_pj``, ``dac_energy_pj``, ``adc_energy_pj``,
        ``shift_add_energy_pj``, ``write_energy_pj``.

    Examples
    --------
    >>> df = simulate(1, 4096, 4096, [8, 4], 8)
    >>> df.tiles.tolist(), df.latency_us.round(1).tolist()
    ([1024, 512], [68812.8, 34406.4])
    """
    costs = layer_costs(P, n, m, w_bits, in_bits, **config)
    return pd.DataFrame({k: np.ravel(v) for k, v in costs.items()})


_CELL_PJ = energy.NEUROSIM_CELL_READ_PJ
_WRITE_PJ = energy.NEUROSIM_CELL_WRITE_PJ
_SA_PJ = energy.ISAAC_SHIFT_ADD_PJ
_ADC8_PJ = energy.ISAAC_ADC_8BIT_PJ
_DAC1_PJ = energy.ISAAC_DAC_1BIT_PJ


@numba.njit(cache=True, inline="always")
def layer_base(P, n, m, w_bits, in_bits, xbar_rows, xbar_cols, cell_bits, dac_bits, mapping_id,
               active_rows, adc_pj):
    """The part of :func:`layer_point` that duplication does not change.

    Returns ``(tiles, reads per vector, read energy pJ, mapped cells)``.
    """
    col_mult = _TABLE[mapping_id, 0]
    integer = _TABLE[mapping_id, 6]
    phases = _TABLE[mapping_id, 3]
    s_w = (w_bits + cell_bits - 1) // cell_bits if integer else 1
    s_in = (in_bits + dac_bits - 1) // dac_bits if integer else 1
    cols = m * s_w * col_mult + _TABLE[mapping_id, 1]
    rows = n * _TABLE[mapping_id, 2]
    col_tiles = (cols + xbar_cols - 1) // xbar_cols
    tiles = col_tiles * ((rows + xbar_rows - 1) // xbar_rows)
    rem = rows % xbar_rows
    row_groups = (rows // xbar_rows) * ((xbar_rows + active_rows - 1) // active_rows) + (
        (rem + active_rows - 1) // active_rows)
    slices = s_in * phases
    reads = slices * col_tiles * row_groups
    db = dac_bits if integer else 1
    adc_cols = cols // col_mult if _TABLE[mapping_id, 5] else cols
    vs = float(P) * slices
    e = vs * rows * cols * _CELL_PJ
    e += vs * rows * col_tiles * (_DAC1_PJ * ((1 << db) - 1))
    adc_ops = vs * adc_cols * row_groups
    e += adc_ops * adc_pj
    e += adc_ops * _SA_PJ
    return tiles, reads, e, rows * cols


@numba.njit(cache=True, inline="always")
def layer_point(P, n, m, w_bits, in_bits, xbar_rows, xbar_cols, cell_bits, dac_bits, mapping_id,
                active_rows, duplication, adc_pj, t_write_us, t_exec_us):
    """Scalar kernel of :func:`layer_costs` (no ADC sharing): latency_us, energy_pj, crossbars.

    ``mapping_id`` indexes :data:`MAPPINGS`; ``active_rows`` must be set
    (``xbar_rows`` for all rows); ``adc_pj`` is the energy of one conversion,
    ``energy.adc_energy_pj(adc_bits)``. Same formulas as :func:`layer_costs`,
    for compiled loops over workloads x configurations.
    """
    tiles, reads, e, cells = layer_base(P, n, m, w_bits, in_bits, xbar_rows, xbar_cols, cell_bits,
                                        dac_bits, mapping_id, active_rows, adc_pj)
    return with_duplication(P, tiles, reads, e, cells, duplication, t_write_us, t_exec_us)


@numba.njit(cache=True, inline="always")
def with_duplication(P, tiles, reads, e, cells, duplication, t_write_us, t_exec_us):
    """Latency_us, energy_pj and crossbars of :func:`layer_base`'s result with ``duplication`` copies."""
    critical = ((P + duplication - 1) // duplication) * reads
    latency = tiles * duplication * t_write_us + critical * t_exec_us
    return latency, e + float(cells * duplication) * _WRITE_PJ, tiles * duplication

"""Crossbar configuration of an RRAM computing-in-memory target.

A crossbar has ``xbar_rows`` word lines (inputs) and ``xbar_cols`` bit lines
(outputs). Each cell stores ``cell_bits`` bits of a weight; each input is fed
``dac_bits`` bits at a time; every bit line is digitised by an ADC of
``adc_bits`` resolution. Signed weights are placed by a *mapping*.

One vocabulary: the ``cim`` task's configuration columns (what
``ac.predict("cim", ...)`` returns) are names of this class. ``xbar`` is the
side of a square crossbar (``xbar_rows = xbar_cols = xbar``) and
``active_all`` says a read drives every row (``active_rows`` is None or
``xbar_rows``); both are properties here and accepted on input by
:meth:`CrossbarConfig.from_prediction` and :func:`make_config`. ``cell_bits``,
``dac_bits``, ``mapping``, ``active_rows`` and ``duplication`` are fields of
the same names. A prediction's ``label`` (and a recommendation's ``cost`` and
``rank``) say which configuration it is, not what it is, and are ignored.

>>> from airchitect.targets.cim import CrossbarConfig
>>> cfg = CrossbarConfig()
>>> cfg.xbar_rows, cfg.cell_bits, cfg.mapping, cfg.t_write_us, cfg.t_exec_us
(256, 4, 'differential-column', 56.0, 1.4)
>>> pred = {"xbar": 64, "active_rows": 16, "active_all": False, "cell_bits": 2,
...         "dac_bits": 2, "mapping": "offset", "duplication": 2, "label": 37}
>>> cfg = CrossbarConfig.from_prediction(pred)
>>> cfg.xbar_rows, cfg.xbar_cols, cfg.xbar, cfg.active_rows, cfg.active_all, cfg.duplication
(64, 64, 64, 16, False, 2)
>>> CrossbarConfig(cell_bits=9)
Traceback (most recent call last):
...
ValueError: cell_bits must be an integer in [1, 8], got 9
"""

from __future__ import annotations

import dataclasses

import numpy as np

from airchitect._checks import check_choice, check_int, check_number_array

#: Integer (multi-bit) mappings of signed weights, as in CIM-AQ.
INTEGER_MAPPINGS = ("offset", "differential-column", "differential-row")
#: Binary mappings of CIM-Explorer (weights in {-1, +1}).
BNN_MAPPINGS = ("BNN-I", "BNN-II", "BNN-III", "BNN-IV", "BNN-V", "BNN-VI")
#: Ternary mappings of CIM-Explorer (weights in {-1, 0, +1}).
TNN_MAPPINGS = ("TNN-I", "TNN-II", "TNN-III", "TNN-IV", "TNN-V")
MAPPINGS = INTEGER_MAPPINGS + BNN_MAPPINGS + TNN_MAPPINGS

#: Largest crossbar side, cell bits, DAC bits and ADC bits accepted.
MAX_XBAR = 65536
MAX_CELL_BITS = 8
MAX_DAC_BITS = 8
MAX_ADC_BITS = 32


@dataclasses.dataclass(frozen=True)
class CrossbarConfig:
    """One crossbar design point (validated on construction).

    Parameters
    ----------
    xbar_rows, xbar_cols : int
        Crossbar size (word lines x bit lines), 1..65536. Default 256 x 256.
    cell_bits : int
        Bits stored per cell, ``b_c`` (1..8). Default 4.
    dac_bits : int
        Input bits applied per execution, ``d`` (1..8). Default 1 (bit-serial).
    mapping : str
        Signed-weight mapping, one of :data:`MAPPINGS`. Default
        ``"differential-column"``.
    t_write_us : float
        Time to program one crossbar, microseconds. Default 56 (CIM-AQ).
    t_exec_us : float
        Time of one crossbar execution (one input slice, one phase),
        microseconds. Default 1.4 (CIM-AQ).
    adc_bits : int or None
        ADC resolution; ``None`` means lossless for the configuration
        (see :func:`airchitect.targets.cim.cost.lossless_adc_bits`).
    adcs_per_xbar : int or None
        ADCs per crossbar; ``None`` means one per bit line.
    t_adc_ns : float
        Time of one ADC conversion, nanoseconds. Columns that share an ADC
        are converted one after the other; 0 (default) folds the conversion
        into ``t_exec_us`` exactly as CIM-AQ does.
    active_rows : int or None
        Word lines activated per read; ``None`` means all rows of the tile.
    duplication : int
        Copies of a layer's weights, ``D`` (1..65536); the copies split the
        ``P`` input vectors between them.
    """

    xbar_rows: int = 256
    xbar_cols: int = 256
    cell_bits: int = 4
    dac_bits: int = 1
    mapping: str = "differential-column"
    t_write_us: float = 56.0
    t_exec_us: float = 1.4
    adc_bits: int | None = None
    adcs_per_xbar: int | None = None
    t_adc_ns: float = 0.0
    active_rows: int | None = None
    duplication: int = 1

    def __post_init__(self):
        check_int("xbar_rows", self.xbar_rows, 1, MAX_XBAR)
        check_int("xbar_cols", self.xbar_cols, 1, MAX_XBAR)
        check_int("cell_bits", self.cell_bits, 1, MAX_CELL_BITS)
        check_int("dac_bits", self.dac_bits, 1, MAX_DAC_BITS)
        check_choice("mapping", self.mapping, MAPPINGS)
        check_number_array("t_write_us", self.t_write_us, 0.0, 1e12)
        check_number_array("t_exec_us", self.t_exec_us, 0.0, 1e12)
        check_number_array("t_adc_ns", self.t_adc_ns, 0.0, 1e12)
        if self.adc_bits is not None:
            check_int("adc_bits", self.adc_bits, 1, MAX_ADC_BITS)
        if self.adcs_per_xbar is not None:
            check_int("adcs_per_xbar", self.adcs_per_xbar, 1, self.xbar_cols)
        if self.active_rows is not None:
            check_int("active_rows", self.active_rows, 1, self.xbar_rows)
        check_int("duplication", self.duplication, 1, MAX_XBAR)

    @property
    def xbar(self):
        """Side of a square crossbar (the ``cim`` task's ``xbar``); None when rows != cols."""
        return self.xbar_rows if self.xbar_rows == self.xbar_cols else None

    @property
    def active_all(self):
        """True when a read drives every row of a tile (the ``cim`` task's ``active_all``)."""
        return self.active_rows is None or self.active_rows == self.xbar_rows

    @classmethod
    def from_prediction(cls, row, **overrides):
        """The configuration a prediction names, e.g. ``ac.predict("cim", ...)``.

        ``row``: a dict, a pandas Series, a one-row DataFrame or a
        CrossbarConfig (returned as is, with ``overrides``) whose keys are the
        task's columns (``xbar``, ``active_rows``, ``active_all``,
        ``cell_bits``, ``dac_bits``, ``mapping``, ``duplication``) or any
        field of this class; ``label``, ``cost`` and ``rank`` are ignored. Any
        other key is a TypeError naming it; values that contradict each other
        (``xbar`` and ``xbar_rows``, ``active_all`` and ``active_rows``) are a
        ValueError.
        """
        return make_config(row, **overrides)

    def to_dict(self):
        """Return the fields as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def replace(self, **changes):
        """Return a copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)


#: Keys of a prediction or recommendation that name a configuration rather than describe it.
PREDICTION_KEYS = ("label", "cost", "rank")
#: The ``cim`` task's names that are properties, not fields, of :class:`CrossbarConfig`.
DERIVED_KEYS = ("xbar", "active_all")


def make_config(config=None, **overrides):
    """Return a :class:`CrossbarConfig` from ``config`` and ``overrides``.

    ``config``: None (the defaults), a CrossbarConfig, a dict, a pandas
    Series or a one-row DataFrame; dicts, rows and ``overrides`` use the one
    vocabulary of the module docstring (fields, plus ``xbar`` and
    ``active_all``; ``label``, ``cost`` and ``rank`` are ignored in
    ``config``).

    >>> make_config({"xbar": 128, "mapping": "offset", "label": 5}, duplication=2).xbar_cols
    128
    """
    if config is None:
        base = {}
    elif isinstance(config, CrossbarConfig):
        base = config.to_dict()
    else:
        base = {k: v for k, v in _as_mapping(config).items() if k not in PREDICTION_KEYS}
    fields = _fields(base, "config")
    given = _fields(overrides, "option")
    if not given:
        return config if isinstance(config, CrossbarConfig) else CrossbarConfig(**fields)
    if "xbar_rows" in given or "xbar_cols" in given:  # a new size resets "all rows" to the new size
        if base.get("active_all") and "active_rows" not in given:
            fields.pop("active_rows", None)
    return CrossbarConfig(**{**fields, **given})


def _as_mapping(config):
    """A dict of ``config`` (dict, Series or one-row DataFrame); TypeError otherwise."""
    if isinstance(config, dict):
        return dict(config)
    import pandas as pd

    if isinstance(config, pd.Series):
        return config.to_dict()
    if isinstance(config, pd.DataFrame):
        if len(config) != 1:
            raise ValueError(f"config must be a one-row DataFrame, got {len(config)} rows")
        return config.iloc[0].to_dict()
    raise TypeError("config must be a CrossbarConfig, a dict, a pandas Series, a one-row DataFrame "
                    f"or None; got {type(config).__name__}")


def _plain(value):
    """numpy scalars as Python scalars (so the fields stay JSON-serialisable)."""
    return value.item() if isinstance(value, np.generic) else value


def _fields(values, what):
    """``values`` (the one vocabulary) as CrossbarConfig keyword arguments."""
    names = {f.name for f in dataclasses.fields(CrossbarConfig)}
    unknown = set(values) - names - set(DERIVED_KEYS)
    if unknown:
        raise TypeError(f"unknown crossbar {what}(s): {', '.join(sorted(map(str, unknown)))}; "
                        f"use the fields of CrossbarConfig or {', '.join(DERIVED_KEYS)}")
    out = {k: _plain(v) for k, v in values.items() if k in names}
    if "xbar" in values:
        side = check_int("xbar", _plain(values["xbar"]), 1, MAX_XBAR)
        for key in ("xbar_rows", "xbar_cols"):
            if out.get(key, side) != side:
                raise ValueError(f"xbar ({side}) and {key} ({out[key]}) disagree; give one of them")
            out[key] = side
    if "active_all" in values:
        flag = _plain(values["active_all"])
        if not isinstance(flag, bool):
            raise TypeError(f"active_all must be True or False, got {type(flag).__name__} {flag!r}")
        rows = out.get("xbar_rows", CrossbarConfig.xbar_rows)
        active = out.get("active_rows")
        if flag and active not in (None, rows):
            raise ValueError(f"active_all is True but active_rows is {active}, not xbar_rows ({rows})")
        if not flag and (active is None or active == rows):
            raise ValueError(f"active_all is False but active_rows ({active}) drives all {rows} rows")
    return out

"""Crossbar configuration of an RRAM computing-in-memory target.

A crossbar has ``xbar_rows`` word lines (inputs) and ``xbar_cols`` bit lines
(outputs). Each cell stores ``cell_bits`` bits of a weight; each input is fed
``dac_bits`` bits at a time; every bit line is digitised by an ADC of
``adc_bits`` resolution. Signed weights are placed by a *mapping*.

>>> from airchitect.targets.cim import CrossbarConfig
>>> cfg = CrossbarConfig()
>>> cfg.xbar_rows, cfg.cell_bits, cfg.mapping, cfg.t_write_us, cfg.t_exec_us
(256, 4, 'differential-column', 56.0, 1.4)
>>> CrossbarConfig(cell_bits=9)
Traceback (most recent call last):
...
ValueError: cell_bits must be an integer in [1, 8], got 9
"""

from __future__ import annotations

import dataclasses

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

    def to_dict(self):
        """Return the fields as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def replace(self, **changes):
        """Return a copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)


def make_config(config=None, **overrides):
    """Return a :class:`CrossbarConfig` from ``config`` (None, dict or config) and overrides."""
    if config is None:
        config = CrossbarConfig()
    elif isinstance(config, dict):
        config = CrossbarConfig(**config)
    elif not isinstance(config, CrossbarConfig):
        raise TypeError(f"config must be a CrossbarConfig, a dict or None; got {type(config).__name__}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(CrossbarConfig)}
    if unknown:
        raise TypeError(f"unknown crossbar option(s): {', '.join(sorted(unknown))}")
    return config.replace(**overrides) if overrides else config

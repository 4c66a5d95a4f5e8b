"""The systolic vocabulary: dataflows, modes, conventions, limits and one array configuration.

Every entry point of :mod:`airchitect.targets.systolic` (``simulate``, the memory
model's ``user_mode``/``calc_mode``, the SCALE-Sim backend) checks its array
configuration with :func:`check_config`, so the bounds below are stated once.

>>> config = check_config(8, [4, 16], "ws")
>>> config.code.tolist(), config.cols.tolist(), config.mode
(1, [4, 16], 'calc')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airchitect._checks import FEW_VALUES, INT_MAX, check_choice, check_choice_array, check_int_array

#: dataflow names; a dataflow's code is its index (0 = os, 1 = ws, 2 = is)
DATAFLOWS = ("os", "ws", "is")
DATAFLOW_CODES = {name: code for code, name in enumerate(DATAFLOWS)}
#: SCALE-Sim's interface bandwidth modes
MODES = ("calc", "user")
#: ``"scalesim-3.0"`` reproduces SCALE-Sim 3.0.0's USER-mode quirks, ``"corrected"`` fixes them
CONVENTIONS = ("scalesim-3.0", "corrected")
#: largest array height or width, PEs
MAX_ARRAY_DIM = 16384
#: largest SRAM size (kB) and DRAM bandwidth (words/cycle): SCALE-Sim's config takes integers
MAX_SRAM_KB = INT_MAX
MAX_BANDWIDTH = INT_MAX
#: one kB of SRAM holds this many one-byte words (SCALE-Sim's word size)
WORDS_PER_KB = 1024


@dataclass(frozen=True)
class ArrayConfig:
    """A checked systolic-array configuration; every array field is int64.

    ``rows``, ``cols`` (PEs), ``code`` (dataflow code, 0 = os, 1 = ws, 2 = is),
    ``ifmap_kb``, ``filter_kb``, ``ofmap_kb`` (SRAM kB), ``bandwidth``
    (DRAM words/cycle), ``mode`` (``"calc"`` or ``"user"``) and ``convention``.
    The arrays are not broadcast against each other.
    """

    rows: np.ndarray
    cols: np.ndarray
    code: np.ndarray
    ifmap_kb: np.ndarray
    filter_kb: np.ndarray
    ofmap_kb: np.ndarray
    bandwidth: np.ndarray
    mode: str = "calc"
    convention: str = "scalesim-3.0"

    @property
    def dataflow(self):
        """Dataflow names (array of str) of :attr:`code`."""
        return np.asarray(DATAFLOWS)[self.code]

    def arrays(self):
        """The array fields by name, in the order of :func:`check_config`'s arguments."""
        return {name: getattr(self, name) for name in
                ("rows", "cols", "ifmap_kb", "filter_kb", "ofmap_kb", "bandwidth")}


def dataflow_codes(names):
    """Dataflow codes (int64 array) of checked dataflow names (an array, a list or a
    pandas Series). Above ``FEW_VALUES`` names each distinct name is looked up once
    (``pandas.factorize``, a hash pass) instead of comparing every name with each."""
    import pandas as pd

    if not isinstance(names, pd.Series) or len(names) <= FEW_VALUES:  # a Series: no object array first
        names = np.asarray(names)
        if names.ndim == 0:  # one name: a dict look-up
            return np.array(DATAFLOW_CODES.get(str(names), 2), dtype=np.int64)
    if names.size > FEW_VALUES:
        codes, uniques = pd.factorize(names.ravel()) if isinstance(names, np.ndarray) else names.factorize()
        table = np.array([DATAFLOW_CODES.get(str(u), 2) for u in uniques], dtype=np.int64)
        return table[codes].reshape(names.shape)
    return np.where(names == "os", 0, np.where(names == "ws", 1, 2)).astype(np.int64, copy=False)


def check_config(rows, cols, dataflow, ifmap_kb=256, filter_kb=256, ofmap_kb=256, bandwidth=10,
                 mode="calc", convention="scalesim-3.0", *, dataflow_field="dataflow"):
    """Check an array configuration (scalars or arrays, vectorised) and return it as
    an :class:`ArrayConfig`; a bad field raises ``TypeError``/``ValueError`` naming it.

    ``dataflow`` holds names (``os``, ``ws``, ``is``), or codes 0..2 when
    ``dataflow_field`` is ``"dataflow_code"``. ``rows, cols`` are integers in
    ``[1, MAX_ARRAY_DIM]``; SRAM sizes (kB) and ``bandwidth`` (words/cycle) integers in
    ``[1, 2**31 - 1]``.
    """
    mode = check_choice("mode", mode, MODES)
    convention = check_choice("convention", convention, CONVENTIONS)
    rows = check_int_array("rows", rows, 1, MAX_ARRAY_DIM)
    cols = check_int_array("cols", cols, 1, MAX_ARRAY_DIM)
    if dataflow_field == "dataflow":
        code = dataflow_codes(check_choice_array("dataflow", dataflow, DATAFLOWS))
    else:
        code = check_int_array(dataflow_field, dataflow, 0, len(DATAFLOWS) - 1)
    sizes = [check_int_array(name, value, 1, MAX_SRAM_KB) for name, value in
             (("ifmap_kb", ifmap_kb), ("filter_kb", filter_kb), ("ofmap_kb", ofmap_kb))]
    bandwidth = check_int_array("bandwidth", bandwidth, 1, MAX_BANDWIDTH)
    return ArrayConfig(rows, cols, code, *sizes, bandwidth, mode, convention)


#: SCALE-Sim's other ``[layout]`` keys and request buffers as keyword arguments of
#: ``simulate``, with their defaults (``None`` bank bandwidth: ``bandwidth``; ``None``
#: layout: every factor 1)
LAYOUT_DEFAULTS = {
    "ifmap_bank_bandwidth": None, "filter_bank_bandwidth": None,
    "ifmap_banks": 1, "filter_banks": 1, "ifmap_bank_ports": 2, "filter_bank_ports": 2,
    "ifmap_custom_layout": False, "filter_custom_layout": False, "layout": None,
    "read_request_buffer": 32, "write_request_buffer": 32,
}


def check_bool_array(name, value):
    """Return ``value`` (bools, scalar or array) as a bool array, or raise ``TypeError``."""
    if type(value) is bool:
        return np.array(value)
    arr = np.asarray(value)
    if arr.dtype == object:
        if not all(isinstance(v, (bool, np.bool_)) for v in arr.ravel()):
            raise TypeError(f"{name} must be True or False (or an array of them)")
        arr = arr.astype(bool)
    if arr.dtype != bool:
        raise TypeError(f"{name} must be True or False (or an array of them), got dtype "
                        f"{arr.dtype}")
    return arr


def check_layout_keys(keys):
    """Check the :data:`LAYOUT_DEFAULTS` keyword arguments (a dict; missing ones take
    their defaults); return a dict of arrays, not broadcast: bank bandwidths
    (words/cycle, ``None`` where not given), banks, ports, request buffers (int64),
    custom-layout switches (bool) and ``layout`` (object array of
    :class:`~airchitect.targets.systolic.layout.Layout`). A bad one raises naming it."""
    from airchitect.targets.systolic.layout import check_layouts

    keys = dict(LAYOUT_DEFAULTS, **keys)
    out = {}
    for op in ("ifmap", "filter"):
        name = f"{op}_bank_bandwidth"
        out[name] = (None if keys[name] is None
                     else check_int_array(name, keys[name], 1, MAX_BANDWIDTH))
        out[f"{op}_banks"] = check_int_array(f"{op}_banks", keys[f"{op}_banks"], 1, INT_MAX)
        out[f"{op}_bank_ports"] = check_int_array(f"{op}_bank_ports", keys[f"{op}_bank_ports"],
                                                  1, INT_MAX)
        out[f"{op}_custom_layout"] = check_bool_array(f"{op}_custom_layout",
                                                      keys[f"{op}_custom_layout"])
    for name in ("read_request_buffer", "write_request_buffer"):
        out[name] = check_int_array(name, keys[name], 0, INT_MAX)
    out["layout"] = check_layouts(keys["layout"])
    return out

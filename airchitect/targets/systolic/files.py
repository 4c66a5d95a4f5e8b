"""SCALE-Sim 3.0.0's own input files: ``.cfg`` configs, topologies and layouts.

A SCALE-Sim user describes a run with three files; this module reads them as
SCALE-Sim 3.0.0 reads them and turns them into one vectorised call of
:func:`~airchitect.targets.systolic.simulate.simulate` (GEMM topologies) or
:func:`~airchitect.targets.systolic.simulate.simulate_conv` (conv topologies):

* :func:`read_config` -> :class:`ScaleSimConfig`, a frozen dataclass holding
  every key of SCALE-Sim 3.0.0's ``.cfg`` (:data:`CONFIG_KEYS`, with its
  default). Keys that only name things or that SCALE-Sim uses only for a
  feature refused below (``run_name``, the offsets, the request buffers, the
  ``[layout]`` and ``[sparsity]`` sections, ``UseRamulatorTrace``) may be
  missing: SCALE-Sim 3.0.0 itself stops on such a file, this reader applies
  SCALE-Sim's defaults (``scale_config.__init__``) and lists them in
  :attr:`ScaleSimConfig.defaulted` (:meth:`ScaleSimConfig.note` says so in one
  line). An unknown section or key, a bad value or a missing model key
  (array size, SRAM sizes, dataflow, ``InterfaceBandwidth``, ``Bandwidth`` in
  USER mode) is a ``ValueError`` naming the file, section, key and allowed range.
* :func:`read_topology` -> :class:`Topology`: the conv format (``Layer name,
  IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter,
  Strides,``) or the GEMM format (``Layer, M, N, K,``). As in SCALE-Sim the
  first line is a header and every line ends with a comma (the field after the
  last comma is dropped; this reader refuses a line whose dropped field is not
  empty, where SCALE-Sim would silently lose a value). A conv layer whose name
  contains ``DP`` (depthwise) becomes ``Channels`` layers named
  ``<name>Channel_<i>`` with one channel each, as SCALE-Sim expands it. A GEMM
  row ``M, N, K`` is SCALE-Sim's conv layer ``(M, K, 1, K, 1, N, 1)``, i.e. the
  GEMM ``C[M, N] = A[M, K] @ B[K, N]`` of :func:`simulate`.
* :func:`read_layout` -> :class:`LayoutTable` (the intraline factors and orders per
  layer; read and checked, used only by custom layouts).
* :func:`simulate_arguments`: the one translation of a config, a topology and
  a layout into ``simulate``/``simulate_conv`` arguments (the ``[layout]``
  keys included). It refuses, with a one-line ``ValueError`` naming the key
  and the file, what the model does not cover: sparsity, Ramulator traces, a
  ``Bandwidth`` list in USER mode, N:M topology sparsity.

Work bounds: a config is at most :data:`MAX_CONFIG_BYTES`, a topology or layout
at most :data:`MAX_TABLE_BYTES`, and a topology at most :data:`MAX_LAYERS`
layers after depthwise expansion (checked before expanding).

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "t.csv").write_text("Layer, M, N, K,\\nfc, 4, 5, 6,\\n")
>>> read_topology(folder / "t.csv", kind="gemm").table.tolist()
[[4, 5, 6]]
"""

from __future__ import annotations

import configparser
import functools
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from airchitect._checks import INT_MAX
from airchitect.targets.systolic.config import DATAFLOWS, MAX_ARRAY_DIM
from airchitect.targets.systolic.layout import CSV_COLUMNS

#: largest ``.cfg`` file read, bytes
MAX_CONFIG_BYTES = 2**20
#: largest topology or layout file read, bytes
MAX_TABLE_BYTES = 64 * 2**20
#: most layers of one topology (after depthwise expansion); one ``simulate`` call's limit
MAX_LAYERS = 2**20
# run_files keeps the parse of the last _CACHE_ENTRIES configs and topologies (keyed by path
# and text; topologies only up to _CACHE_BYTES of text), so repeated runs re-read, not re-parse
_CACHE_ENTRIES = 16
_CACHE_BYTES = 2**20

_INT = re.compile(r"[+-]?[0-9]+\Z")
_BOOLEANS = {"1": True, "yes": True, "true": True, "on": True,
             "0": False, "no": False, "false": False, "off": False}

# section -> {key: (field name, kind, low, high, default)}; _REQUIRED = no default.
# kind: "int", "bool" (configparser's getboolean words), "truefalse" (only true/false,
# any case), "choice:<a>|<b>", "str", "intlist", "name". Bounds apply to ints.
_REQUIRED = object()  # marks a key without a default
CONFIG_KEYS = {
    "general": {
        "run_name": ("run_name", "name", None, None, "scale_run"),
    },
    "architecture_presets": {
        "ArrayHeight": ("array_height", "int", 1, MAX_ARRAY_DIM, _REQUIRED),
        "ArrayWidth": ("array_width", "int", 1, MAX_ARRAY_DIM, _REQUIRED),
        "IfmapSramSzkB": ("ifmap_sram_kb", "int", 1, INT_MAX, _REQUIRED),
        "FilterSramSzkB": ("filter_sram_kb", "int", 1, INT_MAX, _REQUIRED),
        "OfmapSramSzkB": ("ofmap_sram_kb", "int", 1, INT_MAX, _REQUIRED),
        "IfmapOffset": ("ifmap_offset", "int", 0, INT_MAX, 0),
        "FilterOffset": ("filter_offset", "int", 0, INT_MAX, 10000000),
        "OfmapOffset": ("ofmap_offset", "int", 0, INT_MAX, 20000000),
        "Dataflow": ("dataflow", "choice:" + "|".join(DATAFLOWS), None, None, _REQUIRED),
        "Bandwidth": ("bandwidth", "intlist", 1, INT_MAX, ()),
        "ReadRequestBuffer": ("read_request_buffer", "int", 0, INT_MAX, 60),
        "WriteRequestBuffer": ("write_request_buffer", "int", 0, INT_MAX, 60),
        # In SCALE-Sim's shipped configs, never read by SCALE-Sim 3.0.0 (it uses one bank).
        "MemoryBanks": ("memory_banks", "int", 1, INT_MAX, None),
        "OnChipMemoryBanks": ("on_chip_memory_banks", "int", 1, INT_MAX, None),
        "OnChipMemoryBankPorts": ("on_chip_memory_bank_ports", "int", 1, INT_MAX, None),
    },
    "layout": {
        "IfmapCustomLayout": ("ifmap_custom_layout", "bool", None, None, False),
        "IfmapSRAMBankBandwidth": ("ifmap_sram_bank_bandwidth", "int", 1, INT_MAX, 10),
        "IfmapSRAMBankNum": ("ifmap_sram_bank_num", "int", 1, INT_MAX, 10),
        "IfmapSRAMBankPort": ("ifmap_sram_bank_port", "int", 1, INT_MAX, 2),
        "FilterCustomLayout": ("filter_custom_layout", "bool", None, None, False),
        "FilterSRAMBankBandwidth": ("filter_sram_bank_bandwidth", "int", 1, INT_MAX, 10),
        "FilterSRAMBankNum": ("filter_sram_bank_num", "int", 1, INT_MAX, 10),
        "FilterSRAMBankPort": ("filter_sram_bank_port", "int", 1, INT_MAX, 2),
    },
    "sparsity": {
        "SparsitySupport": ("sparsity_support", "truefalse", None, None, False),
        "SparseRep": ("sparse_rep", "str", None, None, ""),
        "OptimizedMapping": ("optimized_mapping", "truefalse", None, None, False),
        "BlockSize": ("block_size", "int", 1, INT_MAX, 4),
        "RandomNumberGeneratorSeed": ("random_seed", "int", 0, INT_MAX, 40),
    },
    "run_presets": {
        "InterfaceBandwidth": ("interface_bandwidth", "choice:CALC|USER", None, None, _REQUIRED),
        "UseRamulatorTrace": ("use_ramulator_trace", "truefalse", None, None, False),
    },
}
# keys that SCALE-Sim 3.0.0 does not read; accepted (checked) but absent ones are not "defaulted"
_UNREAD = {"MemoryBanks", "OnChipMemoryBanks", "OnChipMemoryBankPorts"}


@dataclass(frozen=True)
class ScaleSimConfig:
    """Every key of a SCALE-Sim 3.0.0 ``.cfg`` (see :data:`CONFIG_KEYS`).

    Sizes are kB, bandwidths words/cycle, offsets word addresses.
    ``interface_bandwidth`` is ``"CALC"`` or ``"USER"``; ``bandwidth`` is the
    tuple of ``Bandwidth`` values (empty where absent; SCALE-Sim reads it only
    in USER mode). ``defaulted`` lists ``"section.Key"`` of the keys the file
    lacks and that got SCALE-Sim's default.
    """

    path: str
    run_name: str
    array_height: int
    array_width: int
    ifmap_sram_kb: int
    filter_sram_kb: int
    ofmap_sram_kb: int
    ifmap_offset: int
    filter_offset: int
    ofmap_offset: int
    dataflow: str
    bandwidth: tuple
    read_request_buffer: int
    write_request_buffer: int
    memory_banks: int | None
    on_chip_memory_banks: int | None
    on_chip_memory_bank_ports: int | None
    ifmap_custom_layout: bool
    ifmap_sram_bank_bandwidth: int
    ifmap_sram_bank_num: int
    ifmap_sram_bank_port: int
    filter_custom_layout: bool
    filter_sram_bank_bandwidth: int
    filter_sram_bank_num: int
    filter_sram_bank_port: int
    sparsity_support: bool
    sparse_rep: str
    optimized_mapping: bool
    block_size: int
    random_seed: int
    interface_bandwidth: str
    use_ramulator_trace: bool
    defaulted: tuple = field(default=())

    @property
    def mode(self):
        """``"calc"`` or ``"user"`` (the ``mode`` argument of :func:`simulate`)."""
        return self.interface_bandwidth.lower()

    def note(self):
        """One line saying which keys got SCALE-Sim's defaults, or ``""`` if none did."""
        if not self.defaulted:
            return ""
        values = ", ".join(f"{name}={_text(getattr(self, _FIELD_OF[name]))}"
                           for name in self.defaulted)
        return (f"{self.path}: SCALE-Sim 3.0.0 stops on this file (missing keys); read with "
                f"SCALE-Sim's defaults: {values}")


_FIELD_OF = {f"{section}.{key}": spec[0] for section, keys in CONFIG_KEYS.items()
             for key, spec in keys.items()}


def _text(value):
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _read_bytes(path, limit, what):
    """The text of ``path`` (UTF-8), refusing more than ``limit`` bytes."""
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        info = None
    if info is None:
        raise FileNotFoundError(f"{Path(path)}: no such {what} file")
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise FileNotFoundError(f"{Path(path)}: {kind}, not a {what} file")
    data = b""
    if info.st_size <= limit:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    if info.st_size > limit or len(data) > limit:  # too big, or grew since the stat
        raise ValueError(f"{Path(path)}: more than {limit} bytes; not a SCALE-Sim {what} file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{Path(path)}: not UTF-8 text ({err.reason} at byte "
                         f"{err.start})") from None


def _value(path, section, key, spec, raw):
    """Parse one config value ``raw`` (str) by ``spec``; a bad value names file, section, key."""
    name, kind, low, high, _ = spec
    where = f"{path}: [{section}] {key}"
    if kind == "int":
        if not _INT.match(raw) or not low <= int(raw) <= high:
            raise ValueError(f"{where} must be an integer in [{low}, {high}], got {raw!r}")
        return int(raw)
    if kind == "intlist":
        parts = [p.strip() for p in raw.split(",")]
        if not all(_INT.match(p) and low <= int(p) <= high for p in parts):
            raise ValueError(f"{where} must be integers in [{low}, {high}] separated by commas, "
                             f"got {raw!r}")
        return tuple(int(p) for p in parts)
    if kind == "bool":
        if raw.lower() not in _BOOLEANS:
            raise ValueError(f"{where} must be True or False, got {raw!r}")
        return _BOOLEANS[raw.lower()]
    if kind == "truefalse":
        if raw.lower() not in ("true", "false"):
            raise ValueError(f"{where} must be True or False, got {raw!r}")
        return raw.lower() == "true"
    if kind.startswith("choice:"):
        choices = kind[len("choice:"):].split("|")
        if raw not in choices:
            raise ValueError(f"{where} must be one of {', '.join(choices)}, got {raw!r}")
        return raw
    if kind == "name":
        if raw in ("", ".", "..") or "/" in raw or "\\" in raw or "\0" in raw:
            raise ValueError(f"{where} must be a folder name (no '/', not '.' or '..'), "
                             f"got {raw!r}")
        return raw
    return raw


def read_config(path):
    """Read a SCALE-Sim 3.0.0 ``.cfg`` file into a :class:`ScaleSimConfig`.

    Keys are matched without regard to case (as SCALE-Sim's ``configparser``
    does); sections must be spelled as SCALE-Sim spells them. Bounds: at most
    :data:`MAX_CONFIG_BYTES` bytes.

    Raises
    ------
    FileNotFoundError
        ``path`` is not a file.
    ValueError
        Not a config file, an unknown or repeated section or key, a bad value
        (naming file, section, key and the allowed range) or a missing model
        key (``ArrayHeight``, ``ArrayWidth``, the three SRAM sizes,
        ``Dataflow``, ``InterfaceBandwidth``, and ``Bandwidth`` in USER mode).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> cfg = pathlib.Path(tempfile.mkdtemp()) / "a.cfg"
    >>> _ = cfg.write_text("[general]\\nrun_name = a\\n[architecture_presets]\\n"
    ...     "ArrayHeight: 8\\nArrayWidth: 4\\nIfmapSramSzkB: 64\\nFilterSramSzkB: 64\\n"
    ...     "OfmapSramSzkB: 64\\nDataflow : ws\\n[run_presets]\\nInterfaceBandwidth: CALC\\n")
    >>> config = read_config(cfg)
    >>> config.array_height, config.dataflow, config.mode, config.ifmap_sram_bank_num
    (8, 'ws', 'calc', 10)
    """
    return _parse_config(os.fspath(path), _read_bytes(path, MAX_CONFIG_BYTES, "config"))


@functools.lru_cache(maxsize=_CACHE_ENTRIES)
def _parse_config(path, text):
    """:func:`read_config` of the file ``path`` holding ``text``; the result is immutable,
    so one parse per (path, text) is kept (the last :data:`_CACHE_ENTRIES`)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as err:
        raise ValueError(f"{path}: not a SCALE-Sim config: {' '.join(str(err).split())}") from None
    if parser.defaults():
        raise ValueError(f"{path}: unknown section [{parser.default_section}]; SCALE-Sim 3.0.0's "
                         f"sections are {', '.join(CONFIG_KEYS)}")
    values, defaulted = {}, []
    for section in parser.sections():
        if section not in CONFIG_KEYS:
            raise ValueError(f"{path}: unknown section [{section}]; SCALE-Sim 3.0.0's sections are "
                             f"{', '.join(CONFIG_KEYS)}")
        keys = {key.lower(): key for key in CONFIG_KEYS[section]}
        for option in parser.options(section):
            if option not in keys:
                raise ValueError(f"{path}: [{section}] unknown key {option!r}; the keys of "
                                 f"[{section}] are {', '.join(CONFIG_KEYS[section])}")
    mode = parser.get("run_presets", "InterfaceBandwidth", fallback=None)
    for section, keys in CONFIG_KEYS.items():
        for key, spec in keys.items():
            raw = parser.get(section, key, fallback=None) if parser.has_section(section) else None
            if raw is not None:
                values[spec[0]] = _value(path, section, key, spec, raw.strip())
                continue
            required = spec[4] is _REQUIRED or (key == "Bandwidth" and mode == "USER")
            if required:
                what = "in USER mode " if key == "Bandwidth" else ""
                raise ValueError(f"{path}: [{section}] {key} is missing; SCALE-Sim needs it "
                                 f"{what}(see docs/scalesim_files.md)")
            values[spec[0]] = spec[4]
            if key not in _UNREAD and key != "Bandwidth":
                defaulted.append(f"{section}.{key}")
    return ScaleSimConfig(path=path, defaulted=tuple(defaulted), **values)


@dataclass(frozen=True)
class Topology:
    """A SCALE-Sim topology after SCALE-Sim's reading (depthwise layers expanded).

    ``kind`` is ``"gemm"`` or ``"conv"``; ``names`` holds one name per layer;
    ``table`` is int64 of shape ``(layers, 3)`` (``M, N, K``) or ``(layers, 7)``
    (``ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride``);
    ``sparsity`` is int64 ``(layers, 2)``, the ``N:M`` ratio (``1:1`` = dense);
    ``lines`` the 1-based line of the file each layer comes from.
    """

    path: str
    kind: str
    names: tuple
    table: np.ndarray
    sparsity: np.ndarray
    lines: np.ndarray

    def __len__(self):
        return len(self.names)


def _rows(path, text):
    """(line number, fields) of the data lines, SCALE-Sim's way: the first line is the
    header, blank lines are skipped, the field after the last comma is dropped."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if number == 1 or line == "":
            continue
        fields = line.split(",")
        if fields[-1].strip() != "":
            raise ValueError(f"{path}: line {number}: must end with a comma (SCALE-Sim drops the "
                             f"field after the last comma), got {line[:80]!r}")
        out.append((number, [f.strip() for f in fields[:-1]]))
    return out


def _int_field(path, number, name, raw, low=1, high=INT_MAX):
    if not _INT.match(raw) or not low <= int(raw) <= high:
        raise ValueError(f"{path}: line {number}: {name} must be an integer in [{low}, {high}], "
                         f"got {raw!r}")
    return int(raw)


def _ratio(path, number, raw):
    """An ``N:M`` sparsity field as (N, M)."""
    parts = raw.split(":")
    if len(parts) != 2 or not all(_INT.match(p.strip()) for p in parts):
        raise ValueError(f"{path}: line {number}: the sparsity ratio must be N:M (integers), "
                         f"got {raw!r}")
    n, m = (int(p) for p in parts)
    if not 1 <= n <= m <= INT_MAX:
        raise ValueError(f"{path}: line {number}: the sparsity ratio N:M needs 1 <= N <= M, "
                         f"got {raw!r}")
    return n, m


_CONV_NAMES = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
               "Num Filter", "Strides")
_GEMM_NAMES = ("M", "N", "K")


def read_topology(path, kind="conv"):
    """Read a SCALE-Sim topology CSV (``kind="conv"`` or ``"gemm"``, SCALE-Sim's ``-i``;
    ``"auto"``: ``gemm`` where the header's fields after the name are ``M, N, K``).

    Conv rows: ``name, ifmap_h, ifmap_w, filter_h, filter_w, channels,
    num_filters, stride[, N:M],``; GEMM rows: ``name, M, N, K[, N:M],``. Every
    value is an integer in ``[1, 2**31 - 1]``; ``filter_h <= ifmap_h`` and
    ``filter_w <= ifmap_w``. Depthwise conv layers (a name containing ``DP``)
    are expanded into one layer per channel. Bounds: at most
    :data:`MAX_TABLE_BYTES` bytes and :data:`MAX_LAYERS` layers after expansion.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming
    the file and line for a malformed row or an empty topology.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> csv = pathlib.Path(tempfile.mkdtemp()) / "net.csv"
    >>> _ = csv.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
    ...     "Channels, Num Filter, Strides,\\nconv1_DP, 9, 9, 3, 3, 2, 2, 1,\\n")
    >>> topo = read_topology(csv)
    >>> topo.names, topo.table[:, 4].tolist()
    (('conv1_DPChannel_0', 'conv1_DPChannel_1'), [1, 1])
    """
    if kind not in ("conv", "gemm", "auto"):
        raise ValueError(f"kind must be one of conv, gemm, auto, got {kind!r}")
    text = _read_bytes(path, MAX_TABLE_BYTES, "topology")
    if kind == "auto":
        header = [f.strip().upper() for f in (text.splitlines() or [""])[0].split(",")]
        kind = "gemm" if header[1:4] == list(_GEMM_NAMES) else "conv"
    return _parse_topology(os.fspath(path), kind, text)


def _parse_topology(path, kind, text):
    """:func:`read_topology` of the file ``path`` holding ``text``."""
    names, rows, ratios, lines = [], [], [], []
    columns = _GEMM_NAMES if kind == "gemm" else _CONV_NAMES
    total = 0
    for number, fields in _rows(path, text):
        if len(fields) not in (len(columns) + 1, len(columns) + 2):
            raise ValueError(f"{path}: line {number}: a {kind} row has a name, "
                             f"{', '.join(columns)} and optionally an N:M sparsity ratio, then a "
                             f"comma; got {len(fields)} fields")
        name = fields[0]
        values = [_int_field(path, number, c, v) for c, v in zip(columns, fields[1:])]
        ratio = _ratio(path, number, fields[-1]) if len(fields) == len(columns) + 2 else (1, 1)
        if kind == "conv":
            if values[2] > values[0]:
                raise ValueError(f"{path}: line {number}: Filter Height must be an integer in "
                                 f"[1, IFMAP Height = {values[0]}], got {values[2]}")
            if values[3] > values[1]:
                raise ValueError(f"{path}: line {number}: Filter Width must be an integer in "
                                 f"[1, IFMAP Width = {values[1]}], got {values[3]}")
        copies = values[4] if kind == "conv" and "DP" in name else 1
        total += copies
        if total > MAX_LAYERS:
            raise ValueError(f"{path}: more than MAX_LAYERS = {MAX_LAYERS} layers (depthwise "
                             f"layers count once per channel)")
        if copies == 1 and not (kind == "conv" and "DP" in name):
            names.append(name)
            rows.append(values)
        else:
            names.extend(f"{name}Channel_{i}" for i in range(copies))
            rows.extend([values[:4] + [1] + values[5:]] * copies)
        ratios.extend([ratio] * copies)
        lines.extend([number] * copies)
    if not rows:
        raise ValueError(f"{path}: no layers (the first line is the header)")
    return Topology(path=path, kind=kind, names=tuple(names),
                    table=np.asarray(rows, dtype=np.int64),
                    sparsity=np.asarray(ratios, dtype=np.int64),
                    lines=np.asarray(lines, dtype=np.int64))


#: the 20 integer fields of a layout row, in SCALE-Sim's order
LAYOUT_FIELDS = CSV_COLUMNS


@dataclass(frozen=True)
class LayoutTable:
    """A SCALE-Sim layout CSV: one name and 20 integers (:data:`LAYOUT_FIELDS`) per
    layer, depthwise rows expanded like the topology's."""

    path: str
    names: tuple
    table: np.ndarray

    def __len__(self):
        return len(self.names)


def read_layout(path):
    """Read a SCALE-Sim layout CSV (header line, rows ending with a comma).

    Factors are integers >= 1, orders integers >= 0. Bounds as
    :func:`read_topology`. A ``ValueError`` names the file and line.
    """
    text = _read_bytes(path, MAX_TABLE_BYTES, "layout")
    path = os.fspath(path)
    names, rows, total = [], [], 0
    for number, fields in _rows(path, text):
        if len(fields) != len(LAYOUT_FIELDS) + 1:
            raise ValueError(f"{path}: line {number}: a layout row has a name and "
                             f"{len(LAYOUT_FIELDS)} integers, then a comma; got {len(fields)} "
                             f"fields")
        values = [_int_field(path, number, c, v, 1 if "Factor" in c else 0)
                  for c, v in zip(LAYOUT_FIELDS, fields[1:])]
        copies = values[4] if "DP" in fields[0] else 1
        total += copies
        if total > MAX_LAYERS:
            raise ValueError(f"{path}: more than MAX_LAYERS = {MAX_LAYERS} layers")
        if "DP" in fields[0]:
            names.extend(f"{fields[0]}Channel_{i}" for i in range(copies))
            rows.extend([values[:4] + [1] + values[5:]] * copies)
        else:
            names.append(fields[0])
            rows.append(values)
    if not rows:
        raise ValueError(f"{path}: no layers (the first line is the header)")
    return LayoutTable(path=path, names=tuple(names), table=np.asarray(rows, dtype=np.int64))


_DEFAULT_OFFSETS = (0, 10000000, 20000000)


def simulate_arguments(config, topology, layout=None):
    """Translate a config, a topology and a layout into one ``simulate``/``simulate_conv`` call.

    Returns ``(function_name, kwargs)``: ``"simulate"`` with ``M, N, K`` arrays
    (GEMM topology) or ``"simulate_conv"`` with the seven conv arrays, and the
    scalar array configuration and ``[layout]`` keywords. The work is that of
    the topology's layers.

    This is the one place where SCALE-Sim keys meet :func:`simulate`'s
    arguments:

    ========================================  ==========================================
    key                                       argument
    ========================================  ==========================================
    ArrayHeight, ArrayWidth, Dataflow         ``rows``, ``cols``, ``dataflow``
    Ifmap/Filter/OfmapSramSzkB                ``ifmap_kb``, ``filter_kb``, ``ofmap_kb``
    InterfaceBandwidth                        ``mode`` (CALC -> calc, USER -> user)
    Bandwidth (USER mode, one value)          ``bandwidth`` (the OFMAP drain)
    Ifmap/FilterSRAMBankBandwidth             ``ifmap_bank_bandwidth``, ``filter_bank_bandwidth``
    Ifmap/FilterSRAMBankNum, ...BankPort      ``ifmap_banks``, ``filter_banks``, ``*_bank_ports``
    Ifmap/FilterCustomLayout                  ``ifmap_custom_layout``, ``filter_custom_layout``
    layout CSV, row 0 (as SCALE-Sim 3.0.0)    ``layout``
    Read/WriteRequestBuffer                   ``read_request_buffer``, ``write_request_buffer``
    ========================================  ==========================================

    In CALC mode SCALE-Sim ignores every bandwidth key (10 words/cycle for the
    IFMAP and filter prefetches, ``ArrayWidth`` for the OFMAP drain);
    :func:`simulate` does the same with the values passed. The offsets (without
    a custom layout) and ``run_name`` do not change the reports; the keys SCALE-Sim 3.0.0 does not
    read (``MemoryBanks``, ``OnChipMemoryBanks``, ``OnChipMemoryBankPorts``,
    and the ``[sparsity]`` keys other than ``SparsitySupport``) are not passed.

    Raises
    ------
    ValueError
        One line naming the file and key of a feature the model does not
        cover: ``SparsitySupport = true``, ``UseRamulatorTrace = True``, in USER
        mode a ``Bandwidth`` list of more than one value, a custom layout
        without a layout file or with offsets other than SCALE-Sim's defaults
        (``0, 10000000, 20000000``), and a topology layer with an ``N:M`` ratio
        other than ``1:1``; and what SCALE-Sim 3.0.0 itself stops on: in USER
        mode an ``Ifmap/FilterSRAMBankBandwidth`` that is not a multiple of its
        ``...SRAMBankNum``. (``simulate`` refuses a custom layout whose factors
        do not fit the bank bandwidths, as SCALE-Sim does; :func:`run_files`
        adds the file names to its message.)
    """
    from airchitect.targets.systolic.layout import Layout

    where = config.path
    if config.sparsity_support:
        raise ValueError(f"{where}: [sparsity] SparsitySupport = true: sparse layers are not "
                         f"modelled (set it to false)")
    if config.use_ramulator_trace:
        raise ValueError(f"{where}: [run_presets] UseRamulatorTrace = True: Ramulator DRAM traces "
                         f"are not modelled (set it to False)")
    custom = config.ifmap_custom_layout or config.filter_custom_layout
    if custom and layout is None:
        key = "IfmapCustomLayout" if config.ifmap_custom_layout else "FilterCustomLayout"
        raise ValueError(f"{where}: [layout] {key} = True needs a layout file (-l LAYOUT.csv)")
    offsets = (config.ifmap_offset, config.filter_offset, config.ofmap_offset)
    if custom and offsets != _DEFAULT_OFFSETS:
        raise ValueError(f"{where}: [architecture_presets] IfmapOffset, FilterOffset, OfmapOffset "
                         f"= {offsets}: with a custom layout the offsets place the prefetched "
                         f"addresses, and only SCALE-Sim's defaults {_DEFAULT_OFFSETS} are "
                         f"modelled")
    bandwidth = 10
    if config.mode == "user":
        if len(config.bandwidth) != 1:
            raise ValueError(f"{where}: [architecture_presets] Bandwidth must be one integer "
                             f"(SCALE-Sim 3.0.0 uses only the first of a list), got "
                             f"{_text(config.bandwidth)}")
        bandwidth = config.bandwidth[0]
        for operand in ("Ifmap", "Filter"):
            bank_bw = getattr(config, f"{operand.lower()}_sram_bank_bandwidth")
            banks = getattr(config, f"{operand.lower()}_sram_bank_num")
            if bank_bw % banks:
                raise ValueError(f"{where}: [layout] {operand}SRAMBankBandwidth = {bank_bw} must "
                                 f"be a multiple of {operand}SRAMBankNum = {banks} in USER mode "
                                 f"(SCALE-Sim 3.0.0 stops on it)")
    dense = (topology.sparsity[:, 0] == topology.sparsity[:, 1])
    if not dense.all():
        at = int(np.flatnonzero(~dense)[0])
        n, m = topology.sparsity[at].tolist()
        raise ValueError(f"{topology.path}: line {int(topology.lines[at])}: sparsity ratio "
                         f"{n}:{m}: N:M sparse layers are not modelled (use 1:1)")
    kwargs = {}
    if topology.kind == "gemm":
        function = "simulate"
        for i, name in enumerate(("M", "N", "K")):
            kwargs[name] = topology.table[:, i]
    else:
        function = "simulate_conv"
        for i, name in enumerate(("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels",
                                  "num_filters", "stride")):
            kwargs[name] = topology.table[:, i]
    kwargs.update(rows=config.array_height, cols=config.array_width, dataflow=config.dataflow,
                  ifmap_kb=config.ifmap_sram_kb, filter_kb=config.filter_sram_kb,
                  ofmap_kb=config.ofmap_sram_kb, bandwidth=bandwidth, mode=config.mode,
                  ifmap_bank_bandwidth=config.ifmap_sram_bank_bandwidth,
                  filter_bank_bandwidth=config.filter_sram_bank_bandwidth,
                  ifmap_banks=config.ifmap_sram_bank_num, filter_banks=config.filter_sram_bank_num,
                  ifmap_bank_ports=config.ifmap_sram_bank_port,
                  filter_bank_ports=config.filter_sram_bank_port,
                  ifmap_custom_layout=config.ifmap_custom_layout,
                  filter_custom_layout=config.filter_custom_layout,
                  layout=Layout.from_row(layout.table[0].tolist()) if custom else None,
                  read_request_buffer=config.read_request_buffer,
                  write_request_buffer=config.write_request_buffer)
    return function, kwargs

def _read(name, value, kind, reader, *args):
    """``value`` if it is a ``kind`` already, else ``reader(value, *args)`` for a path."""
    if isinstance(value, kind):
        return value
    if isinstance(value, (str, os.PathLike)):
        return reader(value, *args)
    raise TypeError(f"{name} must be a path or a {kind.__name__}, got {type(value).__name__}")


def run_files(config, topology, *, kind="conv", layout=None, out=None, convention="scalesim-3.0"):
    """SCALE-Sim 3.0.0's reports for its own files, in one vectorised call.

    The drop-in for ``python -m scalesim.scale -c CONFIG -t TOPOLOGY -i KIND
    -l LAYOUT -p OUT``: reads the files (:func:`read_config`,
    :func:`read_topology`, :func:`read_layout`), translates them
    (:func:`simulate_arguments`), simulates every distinct layer once with one
    :func:`simulate` or :func:`simulate_conv` call, and, with ``out``, writes
    ``COMPUTE_REPORT.csv``, ``BANDWIDTH_REPORT.csv`` and
    ``DETAILED_ACCESS_REPORT.csv`` into ``<out>/<run_name>/`` in SCALE-Sim's
    byte layout (:mod:`~airchitect.targets.systolic.reports`).

    Parameters
    ----------
    config : path or ScaleSimConfig
    topology : path or Topology
    kind : {"conv", "gemm"}
        The topology format (SCALE-Sim's ``-i``; default conv, as SCALE-Sim).
    layout : path or LayoutTable, optional
        Needed with a custom layout; SCALE-Sim 3.0.0 applies its first row to
        every layer (so does this function).
    out : path, optional
        Folder to write the reports under (SCALE-Sim's ``-p``).
    convention : {"scalesim-3.0", "corrected"}
        As in :func:`simulate` (USER mode).

    Returns
    -------
    pandas.DataFrame
        One row per layer (depthwise layers expanded): ``layer_id``, ``layer``
        (the name) and the columns of :func:`simulate`/:func:`simulate_conv`.
        ``df.attrs`` holds ``run_name``, ``note`` (:meth:`ScaleSimConfig.note`)
        and ``report_dir`` (with ``out``).

    Bounds: the limits of the readers (:data:`MAX_LAYERS` layers) and of
    :func:`simulate` (its ``MAX_ELEMENTS`` and USER-mode work limits). The parse
    of the last 16 config files and of the last 16 topology files of at most 1 MB
    is kept, keyed by path and text (a file is read again on every call; new text
    is parsed again).

    Raises
    ------
    FileNotFoundError, ValueError
        As the readers and :func:`simulate_arguments`; a configuration the
        model does not cover (CALC-mode OFMAP stalls) is a ``ValueError``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.cfg").write_text("[architecture_presets]\\nArrayHeight: 8\\n"
    ...     "ArrayWidth: 4\\nIfmapSramSzkB: 64\\nFilterSramSzkB: 64\\nOfmapSramSzkB: 64\\n"
    ...     "Dataflow : os\\n[run_presets]\\nInterfaceBandwidth: CALC\\n")
    >>> _ = (folder / "t.csv").write_text("Layer, M, N, K,\\nfc, 4, 5, 6,\\n")
    >>> run_files(folder / "a.cfg", folder / "t.csv", kind="gemm")["total_cycles"].tolist()
    [31]
    """
    from airchitect.targets.systolic.simulate import (frame, simulate_columns,
                                                      simulate_conv_columns)
    from airchitect.targets.systolic.reports import write_reports

    if kind not in ("conv", "gemm"):
        raise ValueError(f"kind must be one of conv, gemm, got {kind!r}")
    config = _read("config", config, ScaleSimConfig, read_config)
    if isinstance(topology, Topology):
        unique, inverse = _distinct(topology)
    else:
        topology, unique, inverse = _read("topology", topology, Topology, _read_topology_once,
                                          kind)
    if topology.kind != kind:
        raise ValueError(f"{topology.path}: read as a {topology.kind} topology, not {kind}")
    layout = _read("layout", layout, LayoutTable, read_layout) if layout is not None else None
    function, kwargs = simulate_arguments(config, topology, layout)
    # Simulate each distinct layer once (depthwise expansions repeat one layer many times).
    names = list(kwargs)[:topology.table.shape[1]]
    for i, name in enumerate(names):
        kwargs[name] = unique[:, i]
    try:
        run = simulate_columns if function == "simulate" else simulate_conv_columns
        table = run(**kwargs, convention=convention)
    except (ValueError, NotImplementedError) as err:  # name the files
        raise ValueError(f"{config.path} with {topology.path}: {err}") from None
    columns = {"layer_id": np.arange(len(inverse), dtype=np.int64),
               "layer": np.asarray(topology.names, dtype=object)}
    if len(unique) == len(inverse) and inverse.tolist() == list(range(len(inverse))):
        columns.update(table)
    else:
        columns.update((name, values[inverse]) for name, values in table.items())
    df = frame(columns)
    df.attrs.update(run_name=config.run_name, note=config.note())
    if out is not None:
        folder = os.path.join(os.fspath(out), config.run_name)
        write_reports(columns, folder)
        df.attrs["report_dir"] = folder
    return df


def _distinct(topology):
    """The distinct rows of ``topology.table`` and each layer's index among them."""
    unique, inverse = np.unique(topology.table, axis=0, return_inverse=True)
    return unique, np.asarray(inverse).ravel()


def _read_topology_once(path, kind):
    """``(topology, distinct rows, inverse)`` of the topology file ``path``, parsed once
    per (path, kind, text) while the text is at most :data:`_CACHE_BYTES` long. The
    result is private to :func:`run_files` (its arrays are read-only)."""
    text = _read_bytes(path, MAX_TABLE_BYTES, "topology")
    if len(text) > _CACHE_BYTES:
        topology = _parse_topology(os.fspath(path), kind, text)
        return (topology, *_distinct(topology))
    return _parse_topology_once(os.fspath(path), kind, text)


@functools.lru_cache(maxsize=_CACHE_ENTRIES)
def _parse_topology_once(path, kind, text):
    topology = _parse_topology(path, kind, text)
    out = (topology, *_distinct(topology))
    for array in (topology.table, topology.sparsity, topology.lines, *out[1:]):
        array.setflags(write=False)
    return out

"""A network as the distinct GEMM layers that one accelerator runs.

:func:`network_layers` accepts what a user has at hand -- a network name, a
GEMM table (a DataFrame, or a CSV file with columns ``net, layer, M, N, K,
count``), or a ``torch.nn.Module`` with an example input shape -- and returns
the table of *distinct* GEMMs with their total repeat count, plus the list of
input rows merged into each. Network cost is then
``sum(count * cost(M, N, K))`` over the distinct rows, which equals the sum
over the original rows.

Examples
--------
>>> layers = network_layers("resnet50")
>>> int(layers.table["count"].sum()), len(layers.table) < layers.n_rows
(54, True)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from airchitect._checks import check_int
from airchitect.workloads.trace import COLUMNS as TRACE_COLUMNS

#: most rows of a network table (layers before merging duplicates)
MAX_LAYERS = 100_000
#: most distinct GEMMs of one network (each is simulated for every candidate accelerator)
MAX_DISTINCT = 4096
#: largest repeat count of one row
MAX_COUNT = 10**9
GEMM_COLUMNS = ("M", "N", "K")
#: the columns a GEMM table may have: those of ac.workloads.network's tables
TABLE_COLUMNS = frozenset(TRACE_COLUMNS)


@dataclass(frozen=True)
class NetworkLayers:
    """The distinct GEMMs of a network.

    Attributes
    ----------
    name : str
        The network's name (``net`` column, the module's class name or the file name).
    table : pandas.DataFrame
        One row per distinct ``(M, N, K)``: ``M, N, K`` (GEMM sizes), ``count``
        (times it runs per inference, summed over the merged rows), ``layers``
        (the merged rows' layer names, joined by ``", "``), ``rows`` (how many
        input rows were merged into it).
    n_rows : int
        Rows of the input table.
    """

    name: str
    table: pd.DataFrame
    n_rows: int

    @property
    def merged(self):
        """The distinct GEMMs that stand for more than one input row."""
        return self.table[self.table["rows"] > 1]


def _from_module(module, input_shape, input_dtype, name):
    from airchitect.workloads.trace import gemms_from_module, input_dtype as torch_dtype

    if input_shape is None:
        raise ValueError("input_shape is required with a torch.nn.Module (e.g. (1, 3, 224, 224))")
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__"):
        raise TypeError(f"input_shape must be a tuple of ints, e.g. (1, 3, 224, 224); got {input_shape!r}")
    dtype = torch_dtype(input_dtype, "input_dtype")
    try:
        return gemms_from_module(module, input_shape, dtype=dtype, net=name)
    except ValueError as err:
        if input_dtype is not None:
            raise
        raise ValueError(f"{err} (the input was float32; a module that takes token ids needs "
                         f"input_dtype='int64')") from None


def topology_frame(topology):
    """A SCALE-Sim topology (:class:`airchitect.targets.systolic.Topology`) as a GEMM
    table: a GEMM row as it is, a conv layer as the GEMM SCALE-Sim maps it to
    (:func:`airchitect.targets.systolic.conv.conv_gemm`: ``M = ofmap_h * ofmap_w``,
    ``N = num_filters``, ``K = filter_h * filter_w * channels``). Sparse layers
    (an ``N:M`` ratio other than 1:1) are refused: the co-design space is dense."""
    from airchitect.targets.systolic.conv import conv_gemm

    sparse = np.flatnonzero(topology.sparsity[:, 0] != topology.sparsity[:, 1])
    if sparse.size:
        at = sparse[0]
        n, m = topology.sparsity[at]
        raise ValueError(f"{topology.path}: line {topology.lines[at]}: layer {topology.names[at]} is "
                         f"{n}:{m} sparse; co-design takes dense layers (1:1)")
    table = topology.table
    mnk = table.T if topology.kind == "gemm" else conv_gemm(*table.T)[:3]
    frame = pd.DataFrame({"layer": list(topology.names), "M": mnk[0], "N": mnk[1], "K": mnk[2]})
    frame.attrs["lines"] = topology.lines
    return frame


def read_table_file(path):
    """A GEMM table file read as CSV (at most ``MAX_LAYERS`` rows), unchecked; its
    errors found later name the file's line (``frame.attrs["path"]``)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"network: {path} is not a file")
    try:
        with warnings.catch_warnings():  # a row longer than the header is an error, not a warning
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, nrows=MAX_LAYERS + 1, index_col=False)
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{path}: not a CSV GEMM table ({str(err).splitlines()[0]})") from None
    if len(frame) > MAX_LAYERS:
        raise ValueError(f"{path}: more than MAX_LAYERS = {MAX_LAYERS} rows")
    frame.attrs["path"] = str(path)
    return frame


def _file_line(path, row):
    """The line (from 1) of a CSV file that holds data row ``row`` (from 0): the
    header is the first line that is not blank, and blank lines hold no row."""
    with open(path, encoding="utf-8", errors="replace") as f:
        data = -1
        for number, line in enumerate(f, start=1):
            if line.strip():
                if data == row:
                    return number
                data += 1
    return None


def _where_row(frame, where, row):
    """``"{where}: line L"`` for a table read from a file, ``"{where}: row R"`` otherwise."""
    path, lines = frame.attrs.get("path"), frame.attrs.get("lines")
    line = int(lines[row]) if lines is not None else (_file_line(path, row) if path else None)
    return f"{where}: line {line}" if line else f"{where}: row {row}"


def _check_table(frame, where):
    missing = [c for c in GEMM_COLUMNS if c not in frame.columns]
    if missing:
        topology = {"M", "N", "K"} <= {str(c).strip() for c in frame.columns}
        hint = (" (a SCALE-Sim topology file: read it with ac.systolic.read_topology, or give it to "
                "airchitect codesign --topology)" if topology else "")
        raise ValueError(f"{where}: a GEMM table needs columns M, N, K (and optionally net, "
                         f"layer, count); missing {', '.join(missing)}{hint}")
    unknown = [str(c) for c in frame.columns if c not in TABLE_COLUMNS]
    if unknown:  # a misspelt count would be dropped silently
        raise ValueError(f"{where}: unknown column(s) {', '.join(unknown)}; a GEMM table has columns M, N, K "
                         f"and optionally net, layer, count (or those of ac.workloads.network)")
    if len(frame) == 0:
        raise ValueError(f"{where}: the GEMM table has no rows")
    if len(frame) > MAX_LAYERS:
        raise ValueError(f"{where}: {len(frame)} rows, more than MAX_LAYERS = {MAX_LAYERS}")
    out = {}
    for column, high in (("M", 2**31 - 1), ("N", 2**31 - 1), ("K", 2**31 - 1), ("count", MAX_COUNT)):
        if column == "count" and column not in frame.columns:
            out[column] = np.ones(len(frame), dtype=np.int64)
            continue
        values = frame[column]
        numeric = pd.to_numeric(values, errors="coerce")
        bad = numeric.isna() | (numeric != np.floor(numeric)) | (numeric < 1) | (numeric > high)
        if values.dtype == bool or bad.any():
            at = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
            raise ValueError(f"{_where_row(frame, where, at)}: {column} must be an integer in "
                             f"[1, {high}]; got {values.tolist()[at]!r}")
        out[column] = numeric.to_numpy().astype(np.int64)
    layer = (frame["layer"].astype(str) if "layer" in frame.columns
             else pd.Series([f"row{i}" for i in range(len(frame))]))
    return pd.DataFrame({"layer": layer.to_numpy(), **out})


def network_layers(network, input_shape=None, *, batch=1, input_dtype=None):
    """The distinct GEMMs of ``network``; see the module docstring.

    Parameters
    ----------
    network : str, path, pandas.DataFrame, Topology or torch.nn.Module
        A name from :data:`airchitect.workloads.NETWORKS`, a CSV file or a
        DataFrame with columns ``M, N, K`` (``count``, ``layer``, ``net``
        optional; ``count`` defaults to 1), a SCALE-Sim topology
        (:func:`airchitect.systolic.read_topology`; see :func:`topology_frame`),
        or a module traced with ``input_shape`` (see
        :func:`airchitect.workloads.gemms_from_module`).
    input_shape : tuple of int, optional
        The module's example input shape (modules only).
    input_dtype : str or torch.dtype, optional
        The module's input dtype (modules only), one of
        :data:`airchitect.workloads.trace.INPUT_DTYPES`; default float32,
        ``"int64"`` for token ids.
    batch : int
        Batch of a named network, in ``[1, 65536]``.

    Returns
    -------
    NetworkLayers
        At most :data:`MAX_DISTINCT` distinct GEMMs (more is refused).
    """
    from airchitect.targets.systolic.files import Topology
    from airchitect.workloads.networks import NETWORKS, network as named

    batch = check_int("batch", batch, 1, 65536)
    is_name = isinstance(network, (str, Path)) and str(network) in NETWORKS
    if batch != 1 and not is_name:
        raise ValueError(f"batch applies to a built-in network name (one of {', '.join(NETWORKS)}); "
                         f"a table's or a module's GEMMs are taken as they are, got batch={batch}")
    is_module = not isinstance(network, (str, Path, pd.DataFrame, Topology))
    if input_shape is not None and not is_module:
        raise ValueError("input_shape applies to a torch.nn.Module; a name or a table has its own shapes")
    if input_dtype is not None and not is_module:
        raise ValueError("input_dtype applies to a torch.nn.Module; a name or a table has its own shapes")
    name = None
    if isinstance(network, pd.DataFrame):
        frame, where = network, "network table"
        name = str(frame["net"].iloc[0]) if "net" in frame.columns and len(frame) else "table"
    elif isinstance(network, Topology):
        frame, where, name = topology_frame(network), network.path, Path(network.path).stem
    elif isinstance(network, (str, Path)) and str(network) in NETWORKS:
        frame, where, name = named(str(network), batch), str(network), str(network)
    elif isinstance(network, (str, Path)):
        if not str(network).lower().endswith(".csv"):
            raise ValueError(f"network must be one of {', '.join(NETWORKS)}, a .csv GEMM table, a "
                             f"DataFrame or a torch.nn.Module; got {str(network)!r}")
        frame, where = read_table_file(network), str(network)
        name = Path(network).stem
    else:
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a dependency
            torch = None
        if torch is None or not isinstance(network, torch.nn.Module):
            raise TypeError("network must be a name, a .csv path, a DataFrame, a SCALE-Sim Topology "
                            f"or a torch.nn.Module; got {type(network).__name__}")
        name = type(network).__name__
        frame, where = _from_module(network, input_shape, input_dtype, name), name
        if len(frame) == 0:
            raise ValueError(f"{name}: the module runs no GEMM (conv, linear or matmul) on input "
                             f"shape {tuple(input_shape)}")
    return table_layers(frame, where, name)


def table_layers(frame, where, name):
    """The distinct GEMMs of the GEMM table ``frame`` (checked: errors name ``where``),
    as a :class:`NetworkLayers` called ``name``."""
    table = _check_table(frame, where)
    grouped = table.groupby(list(GEMM_COLUMNS), sort=False)
    distinct = grouped.agg(count=("count", "sum"), layers=("layer", ", ".join),
                           rows=("layer", "size")).reset_index()
    if len(distinct) > MAX_DISTINCT:
        raise ValueError(f"{where}: {len(distinct)} distinct GEMMs, more than MAX_DISTINCT = "
                         f"{MAX_DISTINCT}")
    distinct = distinct.astype({"M": np.int64, "N": np.int64, "K": np.int64, "count": np.int64,
                                "rows": np.int64})
    return NetworkLayers(name=name, table=distinct, n_rows=len(table))


def check_budget(task, max_macs, sram_kb, bandwidth):
    """Validate a budget alone with ``task``'s own checks, on a 1x1x1 GEMM every space
    holds: the task's ``ValueError`` (naming the field) where it is outside the space."""
    task.validate({"M": [1], "N": [1], "K": [1], "max_macs": [max_macs], "sram_kb": [sram_kb],
                   "bandwidth": [bandwidth]})


def layer_inputs(task, layers, max_macs, sram_kb, bandwidth):
    """The distinct GEMMs of ``layers`` (:class:`NetworkLayers`) under one budget as the
    ``codesign`` task's validated rows. ``ValueError`` naming the network, and the first
    layer out of the task's range where the budget itself is not the problem."""
    table = layers.table
    frame = pd.DataFrame({"M": table["M"], "N": table["N"], "K": table["K"], "max_macs": max_macs,
                          "sram_kb": sram_kb, "bandwidth": bandwidth})
    try:
        return task.validate(frame)
    except ValueError as err:
        error = err
    try:
        check_budget(task, max_macs, sram_kb, bandwidth)
    except ValueError as err:
        raise ValueError(f"{layers.name}: {err}") from None
    lo, hi = 0, len(frame) - 1  # the first layer that fails: the shortest failing prefix
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            task.validate(frame.iloc[:mid + 1])
            lo = mid + 1
        except ValueError:
            hi = mid
    try:
        task.validate(frame.iloc[lo:lo + 1])
    except ValueError as err:
        raise ValueError(f"{layers.name}: layer {table['layers'].iloc[lo]}: {err}") from None
    raise ValueError(f"{layers.name}: {error}")  # no one layer fails alone

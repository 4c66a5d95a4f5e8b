"""SCALE-Sim 3.0.0 backend: write its input files and run the real package.

Three files describe a SCALE-Sim run and are accepted unchanged by its command
line (``python -m scalesim.scale -c run.cfg -t topology.csv -l layout.csv
-i gemm|conv -s N``):

* a config (``.cfg``) with the array, the three SRAM sizes, the dataflow and the
  interface bandwidth mode (``CALC`` or ``USER``);
* a topology (``.csv``), one layer per line, in GEMM format
  (``Layer, M, N, K,``) or conv format (``Layer name, IFMAP Height, IFMAP
  Width, Filter Height, Filter Width, Channels, Num Filter, Strides,``). Every
  line ends with a comma because SCALE-Sim drops the last field of each line;
* a layout (``.csv``), one line per layer, all the same row (SCALE-Sim 3.0.0
  applies the first row to every layer); it matters only where the config
  switches a custom layout on.

:func:`run_scalesim` runs the package in-process (``save_disk_space=True``,
stdout captured), reads the three reports it writes (``COMPUTE_REPORT.csv``,
``BANDWIDTH_REPORT.csv``, ``DETAILED_ACCESS_REPORT.csv``) and returns them as
one DataFrame with the column names of :func:`airchitect.systolic.simulate`
plus the DRAM columns.

In USER mode ``bandwidth`` sets ``Bandwidth`` (used by SCALE-Sim only for the
OFMAP drain) and, unless given apart, both ``IfmapSRAMBankBandwidth`` and
``FilterSRAMBankBandwidth`` (SCALE-Sim 3.0.0 takes the IFMAP and filter DRAM
bandwidth from these two [layout] keys). In CALC mode SCALE-Sim ignores all three
and uses 10 words/cycle for the IFMAP and filter prefetches and ``cols``
words/cycle for the OFMAP drain.

Every other ``[layout]`` key and the request buffers are set by the keyword
arguments of :data:`LAYOUT_KEYS` (names as in :func:`airchitect.systolic.simulate`):
bank bandwidths, bank counts and ports, the custom-layout switches, one
:class:`~airchitect.targets.systolic.layout.Layout` written as every row of the
layout CSV, and ``ReadRequestBuffer`` / ``WriteRequestBuffer``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile

import numpy as np
import pandas as pd

from airchitect._files import write_atomic
from airchitect._checks import INT_MAX, check_choice, check_int, check_int_array
from airchitect.targets.systolic.config import check_config
from airchitect.targets.systolic.layout import Layout

#: the keyword arguments that set SCALE-Sim's other [layout] keys and request buffers, with
#: their defaults (``None`` bank bandwidth: ``bandwidth``; ``None`` layout: every factor 1)
LAYOUT_KEYS = {
    "ifmap_bank_bandwidth": None, "filter_bank_bandwidth": None,
    "ifmap_banks": 1, "filter_banks": 1, "ifmap_bank_ports": 2, "filter_bank_ports": 2,
    "ifmap_custom_layout": False, "filter_custom_layout": False, "layout": None,
    "read_request_buffer": 32, "write_request_buffer": 32,
}

GEMM_COLUMNS = ("M", "N", "K")
CONV_COLUMNS = ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters", "stride")

# Report header (as SCALE-Sim writes it) -> our column name.
REPORT_COLUMNS = {
    "Total Cycles (incl. prefetch)": "total_cycles_incl_prefetch",
    "Total Cycles": "total_cycles",
    "Stall Cycles": "stall_cycles",
    "Overall Util %": "overall_util",
    "Mapping Efficiency %": "mapping_efficiency",
    "Compute Util %": "compute_util",
    "Avg IFMAP SRAM BW": "avg_ifmap_sram_bw",
    "Avg FILTER SRAM BW": "avg_filter_sram_bw",
    "Avg OFMAP SRAM BW": "avg_ofmap_sram_bw",
    "Avg IFMAP DRAM BW": "avg_ifmap_dram_bw",
    "Avg FILTER DRAM BW": "avg_filter_dram_bw",
    "Avg OFMAP DRAM BW": "avg_ofmap_dram_bw",
    "SRAM IFMAP Start Cycle": "sram_ifmap_start_cycle",
    "SRAM IFMAP Stop Cycle": "sram_ifmap_stop_cycle",
    "SRAM IFMAP Reads": "sram_ifmap_reads",
    "SRAM Filter Start Cycle": "sram_filter_start_cycle",
    "SRAM Filter Stop Cycle": "sram_filter_stop_cycle",
    "SRAM Filter Reads": "sram_filter_reads",
    "SRAM OFMAP Start Cycle": "sram_ofmap_start_cycle",
    "SRAM OFMAP Stop Cycle": "sram_ofmap_stop_cycle",
    "SRAM OFMAP Writes": "sram_ofmap_writes",
    "DRAM IFMAP Start Cycle": "dram_ifmap_start_cycle",
    "DRAM IFMAP Stop Cycle": "dram_ifmap_stop_cycle",
    "DRAM IFMAP Reads": "dram_ifmap_reads",
    "DRAM Filter Start Cycle": "dram_filter_start_cycle",
    "DRAM Filter Stop Cycle": "dram_filter_stop_cycle",
    "DRAM Filter Reads": "dram_filter_reads",
    "DRAM OFMAP Start Cycle": "dram_ofmap_start_cycle",
    "DRAM OFMAP Stop Cycle": "dram_ofmap_stop_cycle",
    "DRAM OFMAP Writes": "dram_ofmap_writes",
}

#: report fields in the order of SCALE-Sim's COMPUTE, BANDWIDTH and DETAILED_ACCESS reports
REPORT_ITEMS = tuple(REPORT_COLUMNS.values())

_FLOAT_COLUMNS = {
    "overall_util", "mapping_efficiency", "compute_util",
    "avg_ifmap_sram_bw", "avg_filter_sram_bw", "avg_ofmap_sram_bw",
    "avg_ifmap_dram_bw", "avg_filter_dram_bw", "avg_ofmap_dram_bw",
}

_LAYOUT_HEADER = (
    "Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
    "Filter Height Intraline Factor, Filter Width Intraline Factor, "
    "Channel Intraline Factor, Num Filter Intraline Factor, "
    "IFMAP Height Intraline Order, IFMAP Width Intraline Order, Channel Intraline Order, "
    "IFMAP Height Interline Order, IFMAP Width Interline Order, Channel Interline Order, "
    "Num Filter Intraline Order, Channel Intraline Order, Filter Height Intraline Order, "
    "Filter Width Intraline Order, Num Filter Interline Order, Channel Interline Order, "
    "Filter Height Interline Order, Filter Width Interline Order,"
)
# Intraline factors 1, orders in their natural sequence (X, Y, C and K, C, R, S).
_LAYOUT_ROW = "1, 1, 1, 1, 1, 1, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 7,"


def _write_text(path, text):
    """Write ``text`` to ``path`` through a temporary name and a rename."""
    write_atomic(path, text.encode())


def _scalar_config(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth, mode):
    """One configuration checked by :func:`~airchitect.targets.systolic.config.check_config`,
    as Python scalars (a dict); an array-valued field raises ``TypeError`` naming it."""
    config = check_config(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth, mode)
    out = config.arrays()
    out["dataflow"] = config.dataflow
    for name, value in out.items():
        if np.ndim(value) != 0:
            raise TypeError(f"{name} must be a single value for one SCALE-Sim run, got shape "
                            f"{np.shape(value)}")
    out = {name: value.item() for name, value in out.items()}
    out["mode"] = config.mode
    return out


def _layout_keys(keys, bandwidth):
    """Check the :data:`LAYOUT_KEYS` arguments of one SCALE-Sim run; return them with
    defaults filled in (a dict of Python scalars and one ``Layout``)."""
    unknown = set(keys) - set(LAYOUT_KEYS)
    if unknown:
        raise TypeError(f"unknown keyword argument(s) {sorted(unknown)}; the layout keys are "
                        f"{', '.join(LAYOUT_KEYS)}")
    out = dict(LAYOUT_KEYS, **keys)
    for op in ("ifmap", "filter"):
        name = f"{op}_bank_bandwidth"
        out[name] = bandwidth if out[name] is None else check_int(name, out[name], 1, INT_MAX)
        out[f"{op}_banks"] = check_int(f"{op}_banks", out[f"{op}_banks"], 1, INT_MAX)
        out[f"{op}_bank_ports"] = check_int(f"{op}_bank_ports", out[f"{op}_bank_ports"], 1,
                                            INT_MAX)
        name = f"{op}_custom_layout"
        if not isinstance(out[name], (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {out[name]!r}")
        out[name] = bool(out[name])
    for name in ("read_request_buffer", "write_request_buffer"):
        out[name] = check_int(name, out[name], 0, INT_MAX)
    if out["layout"] is None:
        out["layout"] = Layout()
    if not isinstance(out["layout"], Layout):
        raise TypeError(f"layout must be a Layout, got {type(out['layout']).__name__}")
    return out


def config_text(rows, cols, dataflow, *, ifmap_kb=256, filter_kb=256, ofmap_kb=256,
                bandwidth=10, mode="calc", run_name="airchitect", **layout_keys):
    """Return the text of a SCALE-Sim 3.0.0 ``.cfg`` file.

    Parameters
    ----------
    rows, cols : int
        Array height and width in PEs, each in ``[1, 16384]``.
    dataflow : {"os", "ws", "is"}
    ifmap_kb, filter_kb, ofmap_kb : int
        SRAM sizes in kB (SCALE-Sim reads them as integers), each >= 1.
    bandwidth : int
        DRAM bandwidth in words/cycle (USER mode only), >= 1.
    mode : {"calc", "user"}
        SCALE-Sim's ``InterfaceBandwidth``.
    **layout_keys
        The :data:`LAYOUT_KEYS`: ``ifmap_bank_bandwidth``, ``filter_bank_bandwidth``
        (words/cycle, default ``bandwidth``), ``ifmap_banks``, ``filter_banks``,
        ``ifmap_bank_ports``, ``filter_bank_ports``, ``ifmap_custom_layout``,
        ``filter_custom_layout`` (bools), ``read_request_buffer``,
        ``write_request_buffer``; ``layout`` is used by :func:`layout_text` only.

    Examples
    --------
    >>> print(config_text(8, 4, "ws").splitlines()[3])
    ArrayHeight : 8
    """
    config = _scalar_config(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth, mode)
    rows, cols, bandwidth = config["rows"], config["cols"], config["bandwidth"]
    sizes = [config["ifmap_kb"], config["filter_kb"], config["ofmap_kb"]]
    dataflow, mode = config["dataflow"], config["mode"]
    keys = _layout_keys(layout_keys, bandwidth)
    return "\n".join([
        "[general]",
        f"run_name = {run_name}",
        "[architecture_presets]",
        f"ArrayHeight : {rows}",
        f"ArrayWidth : {cols}",
        f"IfmapSramSzkB : {sizes[0]}",
        f"FilterSramSzkB : {sizes[1]}",
        f"OfmapSramSzkB : {sizes[2]}",
        "IfmapOffset : 0",
        "FilterOffset : 10000000",
        "OfmapOffset : 20000000",
        f"Bandwidth : {bandwidth}",
        f"Dataflow : {dataflow}",
        "MemoryBanks : 1",
        f"ReadRequestBuffer : {keys['read_request_buffer']}",
        f"WriteRequestBuffer : {keys['write_request_buffer']}",
        "[layout]",
        f"IfmapCustomLayout : {keys['ifmap_custom_layout']}",
        f"IfmapSRAMBankBandwidth : {keys['ifmap_bank_bandwidth']}",
        f"IfmapSRAMBankNum : {keys['ifmap_banks']}",
        f"IfmapSRAMBankPort : {keys['ifmap_bank_ports']}",
        f"FilterCustomLayout : {keys['filter_custom_layout']}",
        f"FilterSRAMBankBandwidth : {keys['filter_bank_bandwidth']}",
        f"FilterSRAMBankNum : {keys['filter_banks']}",
        f"FilterSRAMBankPort : {keys['filter_bank_ports']}",
        "[sparsity]",
        "SparsitySupport : false",
        "SparseRep : ellpack_block",
        "OptimizedMapping : false",
        "BlockSize : 8",
        "RandomNumberGeneratorSeed : 40",
        "[run_presets]",
        f"InterfaceBandwidth : {mode.upper()}",
        "UseRamulatorTrace : False",
        "",
    ])


def _layer_table(layers, columns):
    """Validate a DataFrame/dict/list of layers; return an int64 array (n, len(columns))."""
    if isinstance(layers, pd.DataFrame):
        missing = [c for c in columns if c not in layers.columns]
        if missing:
            raise ValueError(f"layers must have the columns {', '.join(columns)}; missing {missing}")
        table = {c: layers[c].to_numpy() for c in columns}
    elif isinstance(layers, dict):
        table = {c: np.atleast_1d(layers[c]) for c in columns}
    else:
        rows = [tuple(layer) for layer in layers]
        if any(len(r) != len(columns) for r in rows):
            raise ValueError(f"each layer must be ({', '.join(columns)})")
        table = {c: np.array([r[i] for r in rows], dtype=object) for i, c in enumerate(columns)}
    arrays = [check_int_array(c, table[c], 1, INT_MAX).ravel() for c in columns]
    if len({a.size for a in arrays}) != 1 or arrays[0].size == 0:
        raise ValueError("layers must be a non-empty table with one value per column per layer")
    return np.stack(arrays, axis=1)


def topology_text(layers, kind="gemm"):
    """Return the text of a SCALE-Sim topology CSV.

    ``layers`` is a DataFrame (or dict of columns, or list of tuples) with the
    columns ``M, N, K`` (``kind="gemm"``) or ``ifmap_h, ifmap_w, filter_h,
    filter_w, channels, num_filters, stride`` (``kind="conv"``). Layers are
    named ``layer0``, ``layer1``, ... (SCALE-Sim treats a name containing
    ``DP`` as depthwise, so the names avoid it).

    Examples
    --------
    >>> print(topology_text([(4, 5, 6)]))
    Layer, M, N, K,
    layer0, 4, 5, 6,
    <BLANKLINE>
    """
    kind = check_choice("kind", kind, ("gemm", "conv"))
    if kind == "gemm":
        table = _layer_table(layers, GEMM_COLUMNS)
        header = "Layer, M, N, K,"
    else:
        table = _layer_table(layers, CONV_COLUMNS)
        bad = (table[:, 2] > table[:, 0]) | (table[:, 3] > table[:, 1])
        if bad.any():
            raise ValueError("filter_h/filter_w must not exceed ifmap_h/ifmap_w")
        header = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                  "Channels, Num Filter, Strides,")
    lines = [header] + [f"layer{i}, " + ", ".join(map(str, row)) + ","
                        for i, row in enumerate(table.tolist())]
    return "\n".join(lines) + "\n"


def layout_text(n_layers, layout=None):
    """Return the text of a SCALE-Sim layout CSV with ``n_layers`` rows of ``layout``
    (a :class:`~airchitect.targets.systolic.layout.Layout`; default: every factor 1).

    SCALE-Sim 3.0.0 applies the first row to every layer, so one layout serves all.

    >>> layout_text(1).splitlines()[1]
    'layer0, 1, 1, 1, 1, 1, 1, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 7,'
    """
    n_layers = check_int("n_layers", n_layers, 1, INT_MAX)
    if layout is None:
        row = _LAYOUT_ROW
    elif isinstance(layout, Layout):
        row = ", ".join(map(str, layout.row())) + ","
    else:
        raise TypeError(f"layout must be a Layout, got {type(layout).__name__}")
    lines = [_LAYOUT_HEADER] + [f"layer{i}, {row}" for i in range(n_layers)]
    return "\n".join(lines) + "\n"


def write_inputs(directory, layers, rows, cols, dataflow, *, kind="gemm", ifmap_kb=256,
                 filter_kb=256, ofmap_kb=256, bandwidth=10, mode="calc", **layout_keys):
    """Write ``run.cfg``, ``topology.csv`` and ``layout.csv`` into ``directory``
    (``layout_keys``: the :data:`LAYOUT_KEYS`, as in :func:`config_text`).

    Returns a dict of the three paths. The files run unchanged with
    ``python -m scalesim.scale -c run.cfg -t topology.csv -l layout.csv -i <kind> -s N``.
    """
    os.makedirs(directory, exist_ok=True)
    topo = topology_text(layers, kind)
    n_layers = topo.count("\n") - 1
    paths = {
        "config": os.path.join(directory, "run.cfg"),
        "topology": os.path.join(directory, "topology.csv"),
        "layout": os.path.join(directory, "layout.csv"),
    }
    _write_text(paths["config"], config_text(rows, cols, dataflow, ifmap_kb=ifmap_kb,
                                             filter_kb=filter_kb, ofmap_kb=ofmap_kb,
                                             bandwidth=bandwidth, mode=mode, **layout_keys))
    _write_text(paths["topology"], topo)
    _write_text(paths["layout"], layout_text(n_layers, layout_keys.get("layout")))
    return paths


def read_reports(report_dir):
    """Read SCALE-Sim's three reports in ``report_dir`` into one DataFrame (one row per layer)."""
    frames = []
    for name in ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"):
        frame = pd.read_csv(os.path.join(report_dir, name), skipinitialspace=True)
        frame = frame.loc[:, [c for c in frame.columns if not c.startswith("Unnamed")]]
        frame.columns = [c.strip() for c in frame.columns]
        frames.append(frame.drop(columns="LayerID"))
    out = pd.concat(frames, axis=1).rename(columns=REPORT_COLUMNS)
    for column in out.columns:
        out[column] = out[column].astype(np.float64 if column in _FLOAT_COLUMNS else np.int64)
    return out


def _csv_reports(sim, out_dir):
    """The reports SCALE-Sim wrote to ``out_dir`` (one DataFrame row per layer)."""
    return read_reports(os.path.join(out_dir, "airchitect"))


def _item_reports(sim, out_dir):
    """The report rows of SCALE-Sim's layer objects, full precision (one dict per layer)."""
    out = []
    for layer in sim.runner.single_layer_sim_object_list:
        values = [*layer.get_compute_report_items(), *layer.get_bandwidth_report_items(),
                  *layer.get_detail_report_items()]
        out.append({name: (v.item() if hasattr(v, "item") else v)
                    for name, v in zip(REPORT_ITEMS, values)})
    return out


def _run_package(table, kind, rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth,
                 mode, keep_dir, read, layout_keys):
    """Write the inputs of the layers ``table`` (int64, one row per layer), run the
    real SCALE-Sim 3.0.0 on them in-process (stdout captured) and return
    ``read(simulator, output directory)``; the directory is removed unless ``keep_dir``."""
    from scalesim.scale_sim import scalesim

    columns = GEMM_COLUMNS if kind == "gemm" else CONV_COLUMNS
    directory = keep_dir if keep_dir is not None else tempfile.mkdtemp(prefix="airchitect_scalesim_")
    try:
        paths = write_inputs(directory, {c: table[:, i] for i, c in enumerate(columns)}, rows,
                             cols, dataflow, kind=kind, ifmap_kb=ifmap_kb, filter_kb=filter_kb,
                             ofmap_kb=ofmap_kb, bandwidth=bandwidth, mode=mode, **layout_keys)
        out_dir = os.path.join(directory, "out")
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=paths["config"],
                           topology=paths["topology"], layout=paths["layout"],
                           input_type_gemm=(kind == "gemm"))
            sim.run_scale(top_path=out_dir)
        return read(sim, out_dir)
    finally:
        if keep_dir is None:
            shutil.rmtree(directory, ignore_errors=True)


def run_scalesim(layers, rows, cols, dataflow, *, kind="gemm", ifmap_kb=256, filter_kb=256,
                 ofmap_kb=256, bandwidth=10, mode="calc", keep_dir=None, **layout_keys):
    """Run the real SCALE-Sim 3.0.0 on ``layers`` with one array configuration.

    Parameters
    ----------
    layers : DataFrame, dict of columns or list of tuples
        GEMMs ``(M, N, K)`` or conv layers ``(ifmap_h, ifmap_w, filter_h,
        filter_w, channels, num_filters, stride)``; all run in one SCALE-Sim
        invocation.
    rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth, mode
        As in :func:`config_text`.
    kind : {"gemm", "conv"}
    **layout_keys
        The :data:`LAYOUT_KEYS` (``[layout]`` keys and request buffers), as in
        :func:`config_text`; ``layout`` is written as every row of the layout CSV.
    keep_dir : str, optional
        Keep the inputs and reports in this directory; by default a temporary
        directory is used and removed.

    Returns
    -------
    pandas.DataFrame
        One row per layer: the layer columns, ``rows``, ``cols``, ``dataflow``,
        the SRAM sizes, ``bandwidth``, ``mode`` and every field of SCALE-Sim's
        COMPUTE, BANDWIDTH and DETAILED_ACCESS reports (snake_case), plus
        ``compute_cycles = total_cycles - stall_cycles``.
    """
    kind = check_choice("kind", kind, ("gemm", "conv"))
    columns = GEMM_COLUMNS if kind == "gemm" else CONV_COLUMNS
    table = _layer_table(layers, columns)
    reports = _run_package(table, kind, rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb,
                           bandwidth, mode, keep_dir, _csv_reports, layout_keys)
    inputs = pd.DataFrame({c: table[:, i] for i, c in enumerate(columns)})
    inputs["rows"] = rows
    inputs["cols"] = cols
    inputs["dataflow"] = dataflow
    inputs["ifmap_kb"] = ifmap_kb
    inputs["filter_kb"] = filter_kb
    inputs["ofmap_kb"] = ofmap_kb
    inputs["bandwidth"] = bandwidth
    inputs["mode"] = mode
    out = pd.concat([inputs, reports], axis=1)
    out["compute_cycles"] = out["total_cycles"] - out["stall_cycles"]
    return out


def run_scalesim_layers(layers, rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb,
                        bandwidth, mode="USER", **layout_keys):
    """:func:`run_scalesim` for reference checks: one dict per layer, read from
    SCALE-Sim's layer objects at full precision instead of its CSV reports.

    ``layers`` holds either ``("gemm", M, N, K)`` tuples or conv tuples
    ``("conv", ifmap_h, ifmap_w, filter_h, filter_w, channels, filters, stride)``;
    one call takes layers of a single kind; ``layout_keys`` as in :func:`config_text`.
    The dicts carry every COMPUTE,
    BANDWIDTH and DETAILED_ACCESS report field (:data:`REPORT_ITEMS`).

    Examples
    --------
    >>> rows = run_scalesim_layers([("gemm", 8, 8, 8)], 4, 4, "os", 1, 1, 1, 2)
    >>> rows[0]["total_cycles"] > 0
    True
    """
    kinds = {layer[0] for layer in layers}
    if len(kinds) != 1 or not kinds <= {"gemm", "conv"}:
        raise ValueError("layers must all be ('gemm', ...) or all ('conv', ...) tuples")
    kind = kinds.pop()
    table = _layer_table([layer[1:] for layer in layers],
                         GEMM_COLUMNS if kind == "gemm" else CONV_COLUMNS)
    return _run_package(table, kind, rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb,
                        bandwidth, str(mode).lower(), None, _item_reports, layout_keys)

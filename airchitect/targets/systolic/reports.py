"""SCALE-Sim 3.0.0's three report files, byte for byte.

SCALE-Sim writes, per run, ``COMPUTE_REPORT.csv``, ``BANDWIDTH_REPORT.csv``
and ``DETAILED_ACCESS_REPORT.csv`` into ``<path>/<run_name>/``. Each has a
header line and one line per layer: ``<layer id>, v1, v2, ..., vn,`` (values
separated by ``", "``, a comma at the end of the line, ``\\n`` line ends). A
value is printed as Python prints it: integers as integers; the utilisations,
the bandwidths and every start/stop cycle as floats (``33.0``), in the
shortest form that reads back to the same double (``repr``).

:func:`report_text` builds one file's text from a DataFrame with the columns
of :func:`~airchitect.targets.systolic.simulate.simulate`;
:func:`write_reports` writes the three files, each through a temporary name
and a rename. Bounds: the text is built in memory, about 600 bytes per layer.

>>> import pandas as pd
>>> row = {name: 1 for name in REPORTS["COMPUTE_REPORT.csv"][1]}
>>> print(report_text(pd.DataFrame([row]), "COMPUTE_REPORT.csv"), end="")
LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,
0, 1, 1, 1, 1.0, 1.0, 1.0,
"""

from __future__ import annotations

import os

import numpy as np

from airchitect._files import write_atomic

_CYCLE_FIELDS = tuple(f"{level}_{operand}_{edge}_cycle" for level in ("sram", "dram")
                      for operand in ("ifmap", "filter", "ofmap") for edge in ("start", "stop"))
#: file name -> (header line without its newline, column names in order)
REPORTS = {
    "COMPUTE_REPORT.csv": (
        "LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, "
        "Mapping Efficiency %, Compute Util %,",
        ("total_cycles_incl_prefetch", "total_cycles", "stall_cycles", "overall_util",
         "mapping_efficiency", "compute_util"),
    ),
    "BANDWIDTH_REPORT.csv": (
        "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, Avg IFMAP DRAM BW, "
        "Avg FILTER DRAM BW, Avg OFMAP DRAM BW,",
        ("avg_ifmap_sram_bw", "avg_filter_sram_bw", "avg_ofmap_sram_bw", "avg_ifmap_dram_bw",
         "avg_filter_dram_bw", "avg_ofmap_dram_bw"),
    ),
    "DETAILED_ACCESS_REPORT.csv": (
        "LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, "
        "SRAM Filter Start Cycle, SRAM Filter Stop Cycle, SRAM Filter Reads, "
        "SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP Writes, "
        "DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, "
        "DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, "
        "DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,",
        tuple(f"{level}_{operand}_{what}" for level in ("sram", "dram")
              for operand in ("ifmap", "filter", "ofmap")
              for what in ("start_cycle", "stop_cycle",
                           "writes" if operand == "ofmap" else "reads")),
    ),
}
#: columns SCALE-Sim prints as floats; the others it prints as integers
FLOAT_FIELDS = frozenset(("overall_util", "mapping_efficiency", "compute_util",
                          *REPORTS["BANDWIDTH_REPORT.csv"][1], *_CYCLE_FIELDS))


def _float_texts(names, values):
    """Printed values (lists of str) of the float columns ``names``, whose values are
    the 1-D arrays ``values`` (stacked at once)."""
    block = np.array(values, dtype=np.float64)
    bad = ~np.isfinite(block)
    if bad.any():
        i, at = (int(x) for x in np.argwhere(bad)[0])
        raise ValueError(f"report field {names[i]} of layer {at} is {block[i, at]} (not "
                         f"computed); no report is written with it")
    return [[repr(v) for v in column] for column in block.tolist()]


def _int_texts(name, values):
    """Printed values (list of str) of the integer column ``name``."""
    if values.dtype.kind == "f":
        whole = np.isfinite(values) & (values == np.round(values))
        if not whole.all():
            at = int(np.flatnonzero(~whole)[0])
            raise ValueError(f"report field {name} of layer {at} must be a whole number, "
                             f"got {values[at]}")
    return [str(v) for v in values.astype(np.int64, copy=False).tolist()]


def report_text(df, name):
    """The text of the report ``name`` (a key of :data:`REPORTS`) for the rows of ``df``.

    ``df`` holds the report columns (snake_case, as :func:`simulate` names
    them): a DataFrame or a dict of 1-D arrays; layer ids are the row positions
    0, 1, ... A column missing from ``df`` is a ``ValueError``; so is a NaN or
    infinite value.
    """
    if name not in REPORTS:
        raise ValueError(f"name must be one of {', '.join(REPORTS)}, got {name!r}")
    header, columns = REPORTS[name]
    present = df if isinstance(df, dict) else df.columns
    missing = [c for c in columns if c not in present]
    if missing:
        raise ValueError(f"{name}: the table lacks the columns {', '.join(missing)}")
    get = df.get if isinstance(df, dict) else (lambda c: df[c].to_numpy())
    floats = [c for c in columns if c in FLOAT_FIELDS]
    printed = dict(zip(floats, _float_texts(floats, [get(c) for c in floats])))
    texts = [printed[c] if c in printed else _int_texts(c, np.asarray(get(c))) for c in columns]
    rows = map(", ".join, zip(*texts))
    return "\n".join([header, *(f"{lid}, {row}," for lid, row in enumerate(rows))]) + "\n"


def write_reports(df, folder):
    """Write SCALE-Sim's three reports for the rows of ``df`` (a DataFrame or a dict of
    1-D arrays, as :func:`report_text`) into ``folder``.

    ``folder`` is created if missing (with its parents). Every file is built
    first (a bad value writes nothing), then written through a temporary name
    and a rename, so a killed run never leaves a partial report. The reports
    are not synced to disk (as SCALE-Sim's are not): they are outputs a run
    regenerates, and a sync costs 0.5-8 ms a file on a shared disk, more than
    the simulation of a topology. For the same reason an old report is removed
    just before the new one is renamed in (``write_atomic(..., sync=False)``):
    renaming over it would make ext4 write the new file out at once. Returns
    ``{file name: path}``.
    """
    texts = {name: report_text(df, name) for name in REPORTS}
    os.makedirs(folder, exist_ok=True)
    paths = {name: os.path.join(folder, name) for name in texts}
    for name, text in texts.items():
        write_atomic(paths[name], text.encode(), sync=False)
    return paths

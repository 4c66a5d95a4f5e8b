"""``airchitect simulate``: SCALE-Sim 3.0.0 numbers for GEMMs, conv layers, a network's
layers, or SCALE-Sim's own files.

Without arguments it simulates the GEMM layers of ResNet-50 on 32x32, 64x64
and 128x128 arrays in all three dataflows and prints one line per array
configuration (cycles summed over the layers, times their repeat count).
``--M --N --K`` gives one GEMM, ``--conv`` one conv layer.

With ``-c CONFIG.cfg -t TOPOLOGY.csv [-i conv|gemm] [-l LAYOUT.csv] [-p DIR]``
it is a drop-in for ``python -m scalesim.scale``: it reads SCALE-Sim's own
files and writes COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and
DETAILED_ACCESS_REPORT.csv into DIR/<run_name>/ (default DIR ./results, as
SCALE-Sim), byte for byte as SCALE-Sim 3.0.0 writes them (docs/scalesim_files.md).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from airchitect.cli import json_records, print_json

# A few ResNet-50 layers as GEMMs (im2col, batch 1, 224x224 input), used when
# the workloads package offers no network table: (layer, M, N, K, count).
BUILTIN_LAYERS = (
    ("conv1", 12544, 64, 147, 1),
    ("layer1.conv1", 3136, 64, 64, 3),
    ("layer1.conv2", 3136, 64, 576, 3),
    ("layer1.conv3", 3136, 256, 64, 3),
    ("layer2.conv2", 784, 128, 1152, 4),
    ("layer3.conv2", 196, 256, 2304, 6),
    ("layer4.conv2", 49, 512, 4608, 3),
    ("fc", 1, 1000, 2048, 1),
)
DEFAULT_ROWS = (32, 64, 128)
DEFAULT_COLS = (32, 64, 128)
SUMMARY_COLUMNS = ["rows", "cols", "dataflow", "layers", "total_cycles", "overall_util",
                   "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes"]


def add_parser(subparsers):
    p = subparsers.add_parser("simulate", help="SCALE-Sim-exact cycles of GEMMs on systolic arrays",
                              description=__doc__)
    p.add_argument("--M", type=int, help="GEMM rows of the output (with --N and --K)")
    p.add_argument("--N", type=int, help="GEMM columns of the output")
    p.add_argument("--K", type=int, help="GEMM reduction length")
    p.add_argument("--conv", type=int, nargs=7, default=None,
                   metavar=("IFMAP_H", "IFMAP_W", "FILTER_H", "FILTER_W", "CHANNELS",
                            "NUM_FILTERS", "STRIDE"),
                   help="one conv layer in SCALE-Sim's conv topology fields")
    p.add_argument("--network", default=None,
                   help="network whose GEMM layers to simulate (default resnet50)")
    p.add_argument("--rows", type=int, nargs="+", default=None,
                   help="array heights, paired with --cols (default 32 64 128)")
    p.add_argument("--cols", type=int, nargs="+", default=None, help="array widths")
    p.add_argument("--dataflow", nargs="+", default=None, help="os ws is (default all three)")
    p.add_argument("--ifmap-kb", type=int, default=None, help="IFMAP SRAM in kB (default 256)")
    p.add_argument("--filter-kb", type=int, default=None, help="filter SRAM in kB (default 256)")
    p.add_argument("--ofmap-kb", type=int, default=None, help="OFMAP SRAM in kB (default 256)")
    p.add_argument("--bandwidth", type=int, default=None,
                   help="DRAM words/cycle (USER mode, default 10)")
    p.add_argument("--mode", default=None, help="calc (default) or user")
    p.add_argument("--backend", default=None,
                   help="ours (default) or scalesim (the real package, slow)")
    p.add_argument("--per-layer", action="store_true", help="print every layer, not the summary")
    p.add_argument("--json", action="store_true", help="print JSON records (full float precision)")
    files = p.add_argument_group("SCALE-Sim files (the drop-in for python -m scalesim.scale)")
    files.add_argument("-c", "--config", default=None, metavar="CONFIG.cfg",
                       help="a SCALE-Sim 3.0.0 config file")
    files.add_argument("-t", "--topology", default=None, metavar="TOPOLOGY.csv",
                       help="a SCALE-Sim topology file (with -c)")
    files.add_argument("-i", "--input-type", default="conv", metavar="conv|gemm",
                       help="topology format: conv (default) or gemm (M, N, K rows)")
    files.add_argument("-l", "--layout", default=None, metavar="LAYOUT.csv",
                       help="a SCALE-Sim layout file (checked; used only by custom layouts)")
    files.add_argument("-p", "--path", default="./results", metavar="DIR",
                       help="write the reports into DIR/<run_name>/ (default ./results)")
    files.add_argument("-s", "--save-trace", default="N", metavar="Y|N",
                       help="SCALE-Sim's trace flag: only N (no traces are written)")
    p.set_defaults(func=run)


_GRID_FLAGS = ("M", "N", "K", "conv", "network", "rows", "cols", "dataflow", "ifmap_kb",
               "filter_kb", "ofmap_kb", "bandwidth", "mode", "backend")
_GRID_DEFAULTS = dict(dataflow=["os", "ws", "is"], ifmap_kb=256, filter_kb=256, ofmap_kb=256,
                      bandwidth=10, mode="calc", backend="ours")


def _run_files(args):
    """The SCALE-Sim drop-in: read its files, write its reports."""
    from airchitect._checks import check_choice
    from airchitect.targets.systolic.files import run_files

    given = [f"--{n.replace('_', '-')}" for n in _GRID_FLAGS if getattr(args, n) is not None]
    if args.per_layer:
        given.append("--per-layer")
    if given:
        raise ValueError(f"-c/--config reads the array and layers from files; drop {given[0]}")
    if args.topology is None:
        raise ValueError("-c/--config needs -t/--topology TOPOLOGY.csv")
    kind = check_choice("-i/--input-type", args.input_type, ("conv", "gemm"))
    if check_choice("-s/--save-trace", args.save_trace, ("Y", "N")) == "Y":
        raise ValueError("-s/--save-trace must be N: SCALE-Sim's per-cycle traces are not written")
    df = run_files(args.config, args.topology, kind=kind, layout=args.layout, out=args.path)
    if df.attrs.get("note"):
        print(f"airchitect simulate: note: {df.attrs['note']}", file=sys.stderr)
    if args.json:
        print_json({"run_name": df.attrs["run_name"], "report_dir": df.attrs["report_dir"],
               "layers": json_records(df)})
        return 0
    columns = ["layer_id", "layer", "total_cycles", "stall_cycles", "overall_util",
               "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes"]
    print(df[columns].to_string(index=False))
    print(f"reports: {df.attrs['report_dir']}")
    return 0


def _layers(args):
    given = [args.M, args.N, args.K]
    if args.conv is not None:
        if any(v is not None for v in given) or args.network is not None:
            raise ValueError("give one of --conv, --M/--N/--K or --network")
        from airchitect.targets.systolic.conv import CONV_FIELDS

        return pd.DataFrame([("conv", *args.conv, 1)], columns=["layer", *CONV_FIELDS, "count"])
    if any(v is not None for v in given):
        if any(v is None for v in given):
            raise ValueError("--M, --N and --K must be given together")
        if args.network is not None:
            raise ValueError("give either --network or --M/--N/--K, not both")
        return pd.DataFrame({"layer": ["gemm"], "M": [args.M], "N": [args.N], "K": [args.K],
                             "count": [1]})
    name = args.network or "resnet50"
    try:
        from airchitect.workloads import network
    except ImportError:
        network = None
    if network is None:
        if name != "resnet50":
            raise ValueError(f"network must be resnet50 (built-in table); got {name!r}")
        return pd.DataFrame(BUILTIN_LAYERS, columns=["layer", "M", "N", "K", "count"])
    table = network(name)
    return table[["layer", "M", "N", "K", "count"]].reset_index(drop=True)


def _shapes(args):
    rows = args.rows or (list(DEFAULT_ROWS) if args.cols is None else args.cols)
    cols = args.cols or (list(DEFAULT_COLS) if args.rows is None else rows)
    if len(rows) != len(cols) and 1 not in (len(rows), len(cols)):
        raise ValueError("--rows and --cols must have the same number of values (or one)")
    rows, cols = np.broadcast_arrays(np.asarray(rows), np.asarray(cols))
    return list(zip(rows.tolist(), cols.tolist()))


def _simulate(layers, rows, cols, dataflow, args):
    from airchitect.targets import systolic

    kw = dict(ifmap_kb=args.ifmap_kb, filter_kb=args.filter_kb, ofmap_kb=args.ofmap_kb,
              bandwidth=args.bandwidth, mode=args.mode)
    if "stride" in layers.columns:
        from airchitect.targets.systolic.conv import CONV_FIELDS

        if args.backend == "scalesim":
            return _run_scalesim(layers, layers[list(CONV_FIELDS)], rows, cols, dataflow,
                                 kind="conv", **kw)
        return systolic.simulate_conv(*(layers[n].to_numpy() for n in CONV_FIELDS), rows, cols,
                                      dataflow, **kw)
    if args.backend == "scalesim":
        return _run_scalesim(layers, layers[["M", "N", "K"]], rows, cols, dataflow, **kw)
    return systolic.simulate(layers["M"].to_numpy(), layers["N"].to_numpy(), layers["K"].to_numpy(),
                             rows, cols, dataflow, **kw)


def _run_scalesim(layers, table, rows, cols, dataflow, **kw):
    """The reference SCALE-Sim 3.0.0 on ``table``; its own failure (a crash inside the
    package, not a refusal of bad input) is a one-line ValueError naming the exception."""
    from airchitect.targets import systolic

    try:
        return systolic.run_scalesim(table, rows, cols, dataflow, **kw)
    except (ValueError, TypeError, OSError):
        raise
    except Exception as err:
        what = f"layer {layers['layer'].iloc[0]}" if len(layers) == 1 else f"one of {len(layers)} layers"
        message = " ".join(str(err).split())[:300]
        raise ValueError(f"--backend scalesim: SCALE-Sim 3.0.0 fails on {what} on a {rows}x{cols} "
                         f"array, dataflow {dataflow} ({type(err).__name__}: {message})") from None


def _utilization(macs, cycles, rows, cols):
    """Percent of the array's MAC slots used; NaN (undefined) for a run of zero cycles."""
    if cycles == 0:
        return float("nan")
    return round(100.0 * macs / (cycles * rows * cols), 3)


def run(args):
    from airchitect._checks import check_choice

    if args.config is not None:
        return _run_files(args)
    if args.topology is not None or args.layout is not None:
        raise ValueError("-t/--topology and -l/--layout need -c/--config CONFIG.cfg")
    for name, value in _GRID_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    check_choice("backend", args.backend, ("ours", "scalesim"))
    check_choice("mode", args.mode, ("calc", "user"))
    for flow in args.dataflow:
        check_choice("dataflow", flow, ("os", "ws", "is"))
    layers = _layers(args)
    per_layer, summary = [], []
    for rows, cols in _shapes(args):
        for flow in args.dataflow:
            df = _simulate(layers, rows, cols, flow, args)
            df.insert(0, "layer", layers["layer"].to_numpy())
            df["count"] = layers["count"].to_numpy()
            per_layer.append(df)
            count = df["count"].to_numpy()
            macs = (df["M"] * df["N"] * df["K"]).to_numpy() * count
            cycles = int((df["total_cycles"].to_numpy() * count).sum())
            summary.append({
                "rows": rows, "cols": cols, "dataflow": flow, "layers": int(count.sum()),
                "total_cycles": cycles,
                "overall_util": _utilization(int(macs.sum()), cycles, rows, cols),
                **{k: int((df[k].to_numpy() * count).sum())
                   for k in ("sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes")},
            })
    table = pd.concat(per_layer, ignore_index=True) if args.per_layer else pd.DataFrame(summary)
    # a run of zero cycles (1x1x1 on a 1x1 os array) has no utilization or bandwidth: NaN, as
    # in the summary, not the library's inf (JSON: null)
    table = table.replace([np.inf, -np.inf], np.nan)
    if args.json:
        print_json(json_records(table))
    else:
        print(table.to_string(index=False))
    return 0

"""``airchitect simulate``: SCALE-Sim 3.0.0 numbers for GEMMs or a network's layers.

Without arguments it simulates the GEMM layers of ResNet-50 on 32x32, 64x64
and 128x128 arrays in all three dataflows and prints one line per array
configuration (cycles summed over the layers, times their repeat count).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd

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
    p.add_argument("--network", default=None,
                   help="network whose GEMM layers to simulate (default resnet50)")
    p.add_argument("--rows", type=int, nargs="+", default=None,
                   help="array heights, paired with --cols (default 32 64 128)")
    p.add_argument("--cols", type=int, nargs="+", default=None, help="array widths")
    p.add_argument("--dataflow", nargs="+", default=["os", "ws", "is"], help="os ws is")
    p.add_argument("--ifmap-kb", type=int, default=256, help="IFMAP SRAM in kB")
    p.add_argument("--filter-kb", type=int, default=256, help="filter SRAM in kB")
    p.add_argument("--ofmap-kb", type=int, default=256, help="OFMAP SRAM in kB")
    p.add_argument("--bandwidth", type=int, default=10, help="DRAM words/cycle (USER mode)")
    p.add_argument("--mode", default="calc", help="calc or user")
    p.add_argument("--backend", default="ours", help="ours (default) or scalesim (the real package, slow)")
    p.add_argument("--per-layer", action="store_true", help="print every layer, not the summary")
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(func=run)


def _layers(args):
    given = [args.M, args.N, args.K]
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
    if args.backend == "scalesim":
        return systolic.run_scalesim(layers[["M", "N", "K"]], rows, cols, dataflow, **kw)
    return systolic.simulate(layers["M"].to_numpy(), layers["N"].to_numpy(), layers["K"].to_numpy(),
                             rows, cols, dataflow, **kw)


def run(args):
    from airchitect._checks import check_choice

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
                "overall_util": round(100.0 * macs.sum() / (cycles * rows * cols), 3),
                **{k: int((df[k].to_numpy() * count).sum())
                   for k in ("sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes")},
            })
    table = pd.concat(per_layer, ignore_index=True) if args.per_layer else pd.DataFrame(summary)
    if args.json:
        json.dump(json.loads(table.to_json(orient="records")), sys.stdout)
        sys.stdout.write("\n")
    else:
        print(table.to_string(index=False))
    return 0

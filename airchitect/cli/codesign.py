"""``airchitect codesign``: one accelerator (array, dataflow, SRAM split) for a whole network.

The network is a name (``--network resnet50``), a GEMM table (``--csv FILE``,
read as CSV whatever its name ends with, with columns ``M, N, K`` and optionally
``net, layer, count``), a SCALE-Sim topology (``-t/--topology FILE``, conv or GEMM
format, told apart by its header unless ``-i conv|gemm`` says; conv layers enter
as the GEMMs SCALE-Sim maps them to) or a user's
PyTorch model (``--module FILE.py:ATTR --input-shape 1,3,224,224``, and
``--input-dtype int64`` for token ids; the file runs as Python code). ``-c CONFIG.cfg`` names the user's own design (a SCALE-Sim
config): the budgets default to its PEs, SRAM total and bandwidth, and its cost on
the network is printed beside the optimum's. The answer is the exact optimum of the network's
SCALE-Sim 3.0.0 USER-mode cycles, energy or EDP over the ``codesign`` task's
space under ``--max-macs``, ``--sram-kb`` and ``--bandwidth`` (branch and
bound; see docs/codesign.md), with a per-layer table; ``--pareto`` also prints
the exact Pareto front of (cycles, energy, PEs, SRAM) under the budgets.
"""

from __future__ import annotations

from airchitect._checks import check_choice
from airchitect.cli import json_records, print_json


#: CodesignResult attribute (and design key) of each objective
_KEYS = {"cycles": "cycles", "energy": "energy_pj", "edp": "edp"}
#: each objective's figure, as a sentence names it
_FIGURE = {"cycles": "cycle count", "energy": "energy", "edp": "energy-delay product"}


def add_parser(sub):
    p = sub.add_parser("codesign", help="one accelerator for a whole network (exact)",
                       description=__doc__)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--network", help="a network of airchitect.workloads.NETWORKS")
    source.add_argument("--csv", help="a GEMM table file, read as CSV whatever its name: "
                                      "columns M, N, K [, net, layer, count]")
    source.add_argument("-t", "--topology", metavar="TOPOLOGY.csv",
                        help="a SCALE-Sim topology file (conv or GEMM format)")
    source.add_argument("--module", help="FILE.py:ATTR, a torch.nn.Module or a factory of one")
    p.add_argument("-i", "--input-type", default="auto", metavar="auto|conv|gemm",
                   help="the --topology format (default: gemm if its header reads Layer, M, N, K)")
    p.add_argument("--input-shape", default=None, metavar="B,C,H,W",
                   help="example input shape of --module, batch first")
    p.add_argument("--input-dtype", default=None, metavar="DTYPE",
                   help="input dtype of --module: float32 (default), int64 for token ids, "
                        "float64, float16, bfloat16 or int32")
    p.add_argument("-c", "--config", default=None, metavar="CONFIG.cfg",
                   help="a SCALE-Sim config: your design, costed beside the optimum; the budgets "
                        "default to its own")
    p.add_argument("--max-macs", type=int, default=None,
                   help="PE budget (2^8..2^16; default 4096, or the -c design's rows x cols)")
    p.add_argument("--sram-kb", type=int, default=None,
                   help="total SRAM in kB (multiple of 16; default 512, or the -c design's total)")
    p.add_argument("--bandwidth", type=int, default=None,
                   help="DRAM words/cycle (default 8, or the -c design's Bandwidth)")
    p.add_argument("--objective", default="cycles", help="cycles, energy or edp")
    p.add_argument("--dataflow", default="shared", help="shared (one for the network) or per-layer")
    p.add_argument("--k", type=int, default=1,
                   help="list the k best configurations (--method model: evaluate k of the model's "
                        "candidates: its ceil(k/2) best, then the best split of each next array)")
    p.add_argument("--method", default="exact",
                   help="exact (branch and bound) or model (the learned network model, then k exact "
                        "network evaluations)")
    p.add_argument("--model", default=None, help="with --method model: a saved network model directory")
    p.add_argument("--pareto", action="store_true",
                   help="also print the exact Pareto front of (cycles, energy, PEs, SRAM)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _network(args):
    """``(network, input_shape)`` for :func:`airchitect.network_design.codesign` from the flags."""
    if args.input_shape is not None and args.module is None:
        raise ValueError("--input-shape goes with --module")
    if args.input_dtype is not None and args.module is None:
        raise ValueError("--input-dtype goes with --module")
    if args.input_type != "auto" and args.topology is None:
        raise ValueError("-i/--input-type goes with --topology")
    if args.csv is not None:
        return csv_layers(args.csv), None
    if args.topology is not None:
        from airchitect.targets.systolic.files import read_topology

        check_choice("--input-type", args.input_type, ("auto", "conv", "gemm"))
        return read_topology(args.topology, kind=args.input_type), None
    if args.module is not None:
        return _module(args)
    return _named(args.network), None


def _named(name):
    from airchitect.workloads.networks import NETWORKS

    if name not in NETWORKS:
        raise ValueError(f"--network must be one of {', '.join(NETWORKS)} (a GEMM table goes "
                         f"with --csv); got {name!r}")
    return name


def csv_layers(text):
    """The distinct GEMMs of the CSV file ``text``, whatever its name ends with.

    ValueError naming ``--csv`` where there is no such file or it is not a regular file;
    the table's own problems name the file.
    """
    from pathlib import Path

    from airchitect.network_design.layers import read_table_file, table_layers

    path = Path(text)
    if path.is_dir():
        raise ValueError(f"--csv: {path}: is a folder, not a GEMM table file")
    if not path.exists():
        raise ValueError(f"--csv: {path}: no such file")
    if not path.is_file():
        raise ValueError(f"--csv: {path}: is not a regular file")
    return table_layers(read_table_file(path), str(path), path.stem)


def _module(args):
    """``(module, input_shape)`` of ``--module`` and ``--input-shape``; a forward that fails on
    that shape is refused by :func:`airchitect.network_design.codesign` as a ValueError."""
    from airchitect.cli.module_file import load_module, parse_shape
    from airchitect.workloads.trace import input_dtype

    if args.input_shape is None:
        raise ValueError("--module needs --input-shape (batch first, e.g. 1,3,224,224)")
    shape = parse_shape(args.input_shape)
    input_dtype(args.input_dtype, "--input-dtype")  # before the module file runs
    return load_module(args.module), shape


#: budgets without flags or a config
DEFAULT_BUDGET = {"max_macs": 4096, "sram_kb": 512, "bandwidth": 8}


def _budget(args, config):
    """``{max_macs, sram_kb, bandwidth}``: each flag given, else the ``-c`` design's own
    (checked against the co-design space here, naming the file), else the default."""
    from airchitect.network_design.design import config_bandwidth
    from airchitect.network_design.layers import check_budget
    from airchitect.tasks import get

    given = {name: getattr(args, name) for name in DEFAULT_BUDGET}
    if config is None:
        return {name: DEFAULT_BUDGET[name] if value is None else value for name, value in given.items()}
    own = {"max_macs": config.array_height * config.array_width,
           "sram_kb": config.ifmap_sram_kb + config.filter_sram_kb + config.ofmap_sram_kb,
           "bandwidth": config_bandwidth(config) if given["bandwidth"] is None else None}
    budget = {name: own[name] if value is None else value for name, value in given.items()}
    try:
        check_budget(get("codesign"), **budget)
    except ValueError as err:
        field = next((k for k in DEFAULT_BUDGET if str(err).startswith(f"{k} ")), "max_macs")
        raise ValueError(f"-c {config.path}: the design's own budget is outside the co-design space "
                         f"({err}); give --{field.replace('_', '-')}") from None
    return budget


def run(args):
    from airchitect.network_design import codesign
    from airchitect.network_design.design import network_on_config
    from airchitect.network_design.layers import NetworkLayers, network_layers
    from airchitect.targets.systolic.files import read_config

    network, shape = _network(args)
    config = read_config(args.config) if args.config is not None else None
    budget = _budget(args, config)
    dtype = args.input_dtype or ("float32" if args.module is not None else None)
    try:
        layers = network if isinstance(network, NetworkLayers) else network_layers(
            network, shape, input_dtype=dtype)
        result = codesign(layers, **budget, objective=args.objective, dataflow=args.dataflow, k=args.k,
                          pareto=args.pareto, method=args.method, model=args.model)
    except ValueError as err:
        if args.input_dtype is None and str(err).startswith("module fails"):
            raise ValueError(f"{err} (the input was float32; token ids need --input-dtype int64)") from None
        raise
    design = None
    if config is not None:
        design = network_on_config(layers, config, bandwidth=budget["bandwidth"])
        design["vs_optimum"] = design[_KEYS[args.objective]] / getattr(result, _KEYS[args.objective])
    if args.json:
        record = {"network": result.network, "objective": result.objective, "config": result.config,
                  "cycles": result.cycles, "energy_pj": result.energy_pj, "edp": result.edp,
                  "dram_words": result.dram_words, "simulations": result.simulations,
                  "enumeration": result.enumeration, "merged": result.merged,
                  "wall_s": result.wall_s, "method": args.method,
                  "layers": json_records(result.layers),
                  "top": json_records(result.top)}
        if args.method == "model":
            record.update({k: result.extra[k] for k in ("scored", "predicted", "model_rank")})
        if design is not None:
            record["design"] = {**design, "path": config.path, "layers": json_records(design["layers"])}
        if result.pareto is not None:
            record["pareto"] = json_records(result.pareto)
            record.update({k: result.extra[k] for k in ("pareto_simulations", "pareto_enumeration",
                                                         "pareto_sram_totals", "optimum_on_front")})
        print_json(record)
        return 0
    import pandas as pd

    print(result.summary())
    if design is not None:
        c = design["config"]
        print(f"design of {config.path}: {c['rows']}x{c['cols']} {c['dataflow']}, SRAM {c['ifmap_kb']}/"
              f"{c['filter_kb']}/{c['ofmap_kb']} kB, bandwidth {c['bandwidth']}: {design['cycles']:.0f} cycles, "
              f"{design['energy_pj']:.4g} pJ; its {_FIGURE[args.objective]} is {design['vs_optimum']:.4g}x the optimum's")
    print(f"{len(result.layers)} distinct GEMMs; {result.merged} duplicate layers merged into them")
    with pd.option_context("display.width", 160, "display.max_columns", 20,
                           "display.max_colwidth", 40):
        table = result.layers.copy()
        first = table["layers"].str.split(", ").str[0]
        table["layers"] = [f"{name} (+{n - 1})" if n > 1 else name
                           for name, n in zip(first, table["rows_merged"])]
        print(table.to_string(index=False))
        if len(result.top) > 1:
            print(result.top.to_string(index=False))
        if result.pareto is not None:
            x = result.extra
            print(f"Pareto front of (cycles, energy, PEs, SRAM): {len(result.pareto)} points over SRAM "
                  f"totals {', '.join(map(str, x['pareto_sram_totals']))} kB ({x['pareto_simulations']} "
                  f"of {x['pareto_enumeration']} simulations)")
            print(result.pareto.to_string(index=False))
    return 0

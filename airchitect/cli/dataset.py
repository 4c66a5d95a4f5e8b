"""``airchitect dataset generate``: labelled datasets on disk."""

from __future__ import annotations

import json
import sys


def add_parser(sub):
    parser = sub.add_parser("dataset", help="generate labelled datasets")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    gen = actions.add_parser("generate", help="sample, label and write a dataset")
    gen.add_argument("--task", required=True, help="task name (array, buffer, multiarray, ...)")
    gen.add_argument("--workloads", type=int, required=True, help="number of rows")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", required=True, help="output directory")
    gen.add_argument("--workers", type=int, default=None, help="local worker processes")
    gen.add_argument("--scheduler", default=None, help="Dask scheduler address")
    gen.add_argument("--objective", default=None,
                     help="cycles, energy or edp (cim: latency, energy, edp); default: the task's")
    gen.add_argument("--shard-rows", type=int, default=None, help="rows per shard")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.add_argument("--overwrite", action="store_true", help="replace a foreign dataset")
    gen.add_argument("--json", action="store_true", help="print the manifest as JSON")
    gen.set_defaults(func=run)


def run(args):
    from airchitect.data import generate

    manifest = generate(
        args.task, args.workloads, seed=args.seed, out=args.out, workers=args.workers,
        scheduler=args.scheduler, objective=args.objective, shard_rows=args.shard_rows,
        overwrite=args.overwrite, progress=not args.quiet,
    )
    if args.json:
        json.dump(manifest, sys.stdout, indent=2)
        print()
        return 0
    s = manifest["summary"]
    print(
        f"{args.task}: {manifest['arguments']['n']} rows in {args.out} "
        f"({manifest['timings']['wall_s']:.1f} s, {s['rows_per_s']} rows/s); "
        f"label entropy {s['label_entropy_bits']:.2f} bits, {s['distinct_labels']} labels, "
        f"majority label {s['majority_label']} = {100 * s['majority_share']:.1f}% of rows"
    )
    return 0

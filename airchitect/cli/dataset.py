"""``airchitect dataset generate``: labelled datasets on disk."""

from __future__ import annotations

import sys

from airchitect.cli import print_json
from airchitect.cli.options import add_task_options, task_spec


def add_parser(sub):
    parser = sub.add_parser("dataset", help="generate labelled datasets")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    gen = actions.add_parser("generate", help="sample, label and write a dataset")
    add_task_options(gen, "task name (array, buffer, multiarray, ...); or give --task-file")
    gen.add_argument("--workloads", type=int, required=True, help="number of rows")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", required=True, help="output directory")
    gen.add_argument("--workers", type=int, default=None, help="local worker processes")
    gen.add_argument("--scheduler", default=None,
                     help="Dask scheduler address; it is trusted (results come back pickled), "
                          "so use only a cluster you control")
    gen.add_argument("--objective", default=None,
                     help="cycles, energy or edp (cim: latency, energy, edp); default: the task's")
    gen.add_argument("--shard-rows", type=int, default=None,
                     help="rows per shard, at least 1; default: the task's")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.add_argument("--overwrite", action="store_true",
                     help="replace a dataset of other arguments (deletes only the files "
                          "its manifest lists)")
    gen.add_argument("--json", action="store_true", help="print the manifest as JSON")
    gen.set_defaults(func=run, flag_for={"n_workloads": "--workloads"})


def _os_message(err):
    """One line for an ``OSError``: its reason and, where known, its file."""
    text = err.strerror or str(err)
    if err.filename is not None:
        text += f": {err.filename}"
    return " ".join(text.split())


def run(args):
    from airchitect.data import generate
    from airchitect.data.cluster import SchedulerError

    task = task_spec(args)
    if task is None:
        raise ValueError("--task (or --task-file) is needed: the task to generate data for")
    try:
        manifest = generate(
            task, args.workloads, seed=args.seed, out=args.out, workers=args.workers,
            scheduler=args.scheduler, objective=args.objective, shard_rows=args.shard_rows,
            overwrite=args.overwrite, progress=not args.quiet,
        )
    except SchedulerError as err:
        raise ValueError(err.describe("--scheduler")) from None
    except (FileNotFoundError, FileExistsError, PermissionError, BrokenPipeError):
        raise
    except OSError as err:
        print(f"airchitect {args.command}: error: {_os_message(err)}", file=sys.stderr)
        return 2
    if args.json:
        print_json(manifest, indent=2)
        return 0
    s = manifest.get("summary", {})
    timings = manifest.get("timings", {})
    print(
        f"{manifest['arguments']['task']}: {manifest['arguments']['n']} rows in {args.out} "
        f"({timings.get('wall_s', 0):.1f} s, {s.get('rows_per_s')} rows/s); "
        f"label entropy {s.get('label_entropy_bits', 0):.2f} bits, "
        f"{s.get('distinct_labels')} labels, majority label {s.get('majority_label')} = "
        f"{100 * s.get('majority_share', 0):.1f}% of rows"
    )
    return 0

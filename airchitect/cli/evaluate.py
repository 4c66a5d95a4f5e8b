"""``airchitect evaluate``: metrics of a predictor on a labelled dataset."""

from __future__ import annotations

from airchitect.cli import print_json


def add_parser(sub):
    parser = sub.add_parser("evaluate", help="metric table of a model on a dataset")
    parser.add_argument("--model", required=True, help="saved predictor directory, or a task name for its shipped model")
    parser.add_argument("--data", required=True, help="dataset directory")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def load_model(spec):
    """A saved predictor directory, or a task name meaning its shipped model."""
    from pathlib import Path

    from airchitect.api import shipped
    from airchitect.learn import Predictor
    from airchitect.tasks import names

    if Path(spec).is_dir():
        return Predictor.load(spec)
    if spec not in names():
        raise ValueError(f"--model {spec!r} is neither a saved predictor directory nor a task name "
                         f"({', '.join(names())})")
    return shipped(spec)


def run(args):
    from airchitect.data import load, read_manifest
    from airchitect.learn import evaluate

    predictor = load_model(args.model)
    manifest = read_manifest(args.data)
    if manifest["arguments"]["task"] != predictor.task.name:
        raise ValueError(
            f"dataset is for task {manifest['arguments']['task']!r}, model for {predictor.task.name!r}"
        )
    frame = load(args.data, task=predictor.task)  # the recorded definitions must agree
    result = evaluate(predictor, frame, manifest["arguments"]["objective"])
    if args.json:
        print_json(result, indent=2)
        return 0
    for key, value in result.items():
        print(f"{key:>24}  {value:.6g}" if isinstance(value, float) else f"{key:>24}  {value}")
    return 0

"""``airchitect predict``: the predicted configuration of workloads."""

from __future__ import annotations

import warnings
from pathlib import Path

from airchitect.cli import json_records, print_json, print_record
from airchitect.cli.options import add_task_options, task_spec

#: most data rows a ``--csv`` file may hold
MAX_CSV_ROWS = 1_000_000
#: bytes read to tell a text file from a binary one
_SNIFF_BYTES = 8192


def add_parser(sub):
    parser = sub.add_parser(
        "predict", help="predict configurations (one workload from flags, or a CSV)"
    )
    add_task_options(parser, "task name; default: the task the --model records")
    parser.add_argument("--model", default=None,
                        help="saved predictor directory of the same task (default: shipped); a "
                             "variant of a built-in task is rebuilt from its recorded definition")
    parser.add_argument("--csv", default=None,
                        help=f"CSV of workloads: a header of the task's input columns, then one "
                             f"workload per row (at most {MAX_CSV_ROWS:,} rows)")
    parser.add_argument("--recommend", type=int, default=None, metavar="K",
                        help="re-rank the model's top K exactly (K in [1, number of labels]); "
                             "without it, predict")
    parser.add_argument("--objective", default=None,
                        help="the shipped model trained for this objective (codesign: cycles or "
                             "edp); with --recommend, the exact objective that re-ranks")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("inputs", nargs="*", metavar="NAME=VALUE",
                        help="task inputs, e.g. M=512 N=512 K=64 max_macs=4096 (each name once)")
    parser.set_defaults(func=run)


def _value(text):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def parse_inputs(pairs):
    """``{name: value}`` of ``NAME=VALUE`` pairs; a name given twice raises ``ValueError``."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"inputs must be NAME=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        if name in out:
            raise ValueError(f"{name} is given more than once")
        out[name] = _value(value)
    return out


def read_csv(path, columns):
    """The workloads of the CSV file at ``path`` as a DataFrame of ``columns``.

    The file must be a text file with a header naming only ``columns`` and
    1 to :data:`MAX_CSV_ROWS` rows, each with a value in every field. Every
    failure is a ``ValueError`` (or ``FileNotFoundError``) naming the file.
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a CSV file")
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head.strip():
        raise ValueError(f"{path}: empty file; a CSV needs a header and rows")
    if b"\0" in head:
        raise ValueError(f"{path}: binary data, not a CSV file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, nrows=MAX_CSV_ROWS + 1, index_col=False)
    except (ValueError, pd.errors.ParserWarning) as err:
        raise ValueError(f"{path}: not a CSV file of workloads (rows must have the header's "
                         f"fields): {err}") from None
    _check_frame(frame, path, columns)
    return frame


def _check_frame(frame, path, columns):
    unknown = [str(c) for c in frame.columns if c not in columns]
    if unknown:
        raise ValueError(f"{path}: unknown column {unknown[0]!r}; the task takes {', '.join(columns)}")
    if len(frame) == 0:
        raise ValueError(f"{path}: a header and no rows")
    if len(frame) > MAX_CSV_ROWS:
        raise ValueError(f"{path}: more than {MAX_CSV_ROWS:,} rows; split the file")
    empty = frame.isna()
    if empty.any(axis=None):
        row, col = next(zip(*empty.to_numpy().nonzero()))
        raise ValueError(f"{path}: line {row + 2}: no value for {frame.columns[col]} "
                         f"(every row needs {len(frame.columns)} fields)")
    for column in frame.columns:
        if _has_boolean(frame[column]):
            raise ValueError(f"{path}: {column} holds a boolean (True/False), not a valid value")


def _has_boolean(values):
    """Whether a CSV column holds ``True``/``False``, parsed as booleans or kept as text."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(values.dtype):
        return True
    if pd.api.types.is_numeric_dtype(values.dtype):
        return False
    return bool(values.map(lambda v: isinstance(v, bool) or str(v).lower() in ("true", "false")).any())


def _model(args, task):
    """The predictor of ``--model`` (which must be of the task the flags name, if
    any), or None for the shipped one (then a task is needed)."""
    from airchitect.learn import Predictor

    if args.model is None:
        if task is None:
            raise ValueError("--task is needed without --model (the shipped model of that task)")
        return None
    return Predictor.load(args.model, task=task)


def _recommend_k(args, task, model):
    from airchitect import api

    n_labels = int((model or api.shipped(task, "recommend")).estimator.n_labels_)
    if not 1 <= args.recommend <= n_labels:
        raise ValueError(f"--recommend must be an integer in [1, {n_labels}], got {args.recommend}")
    return args.recommend


def run(args):
    from airchitect import api

    task = task_spec(args)
    model = _model(args, task)
    task = model.task if model is not None else task
    if model is not None and args.objective is not None and args.recommend is None:
        raise ValueError("--objective picks a shipped model; with --model, drop it")
    if args.csv and (args.inputs or args.recommend is not None):
        raise ValueError("--csv takes its workloads from the file; drop NAME=VALUE and --recommend")
    if args.csv:
        predictor = model or api.shipped(task, objective=args.objective)
        frame = read_csv(args.csv, list(predictor.task.input_columns))
        try:
            result = predictor.predict(frame)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{args.csv}: {err}") from None
        if args.json:
            print_json(json_records(result))
        else:
            print(result.to_string(index=False))
        return 0
    inputs = parse_inputs(args.inputs)
    if args.recommend is not None:
        result = api.recommend(task, k=_recommend_k(args, task, model), model=model,
                               objective=args.objective, **inputs)
    else:
        result = api.predict(task, model=model, objective=args.objective, **inputs)
    print_record(result, args.json)
    return 0

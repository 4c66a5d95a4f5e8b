"""``airchitect predict``: the predicted configuration of workloads."""

from __future__ import annotations

from airchitect.cli import print_record


def add_parser(sub):
    parser = sub.add_parser(
        "predict", help="predict configurations (one workload from flags, or a CSV)"
    )
    parser.add_argument("--task", required=True)
    parser.add_argument("--model", default=None, help="saved predictor directory (default: shipped)")
    parser.add_argument("--csv", default=None, help="CSV of workloads, one per row")
    parser.add_argument("--recommend", type=int, default=0, metavar="K",
                        help="re-rank the model's top K exactly")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("inputs", nargs="*", metavar="NAME=VALUE",
                        help="task inputs, e.g. M=512 N=512 K=64 max_macs=4096")
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
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"inputs must be NAME=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        out[name] = _value(value)
    return out


def run(args):
    import pandas as pd

    from airchitect import api
    from airchitect.learn import Predictor

    model = Predictor.load(args.model) if args.model else None
    if args.csv:
        frame = (model or api.shipped(args.task)).predict(pd.read_csv(args.csv))
        if args.json:
            print(frame.to_json(orient="records"))
        else:
            print(frame.to_string(index=False))
        return 0
    inputs = parse_inputs(args.inputs)
    if args.recommend:
        result = api.recommend(args.task, k=args.recommend, model=model, **inputs)
    else:
        result = api.predict(args.task, model=model, **inputs)
    print_record(result, args.json)
    return 0

"""``airchitect train``: train a predictor on a dataset and save it."""

from __future__ import annotations

import json
import sys

from airchitect.cli.options import add_task_options, task_spec


def add_parser(sub):
    parser = sub.add_parser("train", help="train a predictor on a dataset")
    add_task_options(parser, "task name; default: the task the dataset records")
    parser.add_argument("--data", required=True, help="dataset directory")
    parser.add_argument("--model", default="surrogate", help="surrogate, boosted, stalls (buffer only), resmlp or airchitect")
    parser.add_argument("--out", required=True,
                        help="directory to save the predictor in (checked writable before training)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-size", type=float, default=0.1)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def run(args):
    from airchitect.learn import train
    from airchitect.learn.predictor import check_writable

    check_writable(args.out)
    params = {} if args.epochs is None else {"epochs": args.epochs}
    predictor = train(task_spec(args), args.data, model=args.model, test_size=args.test_size,
                      seed=args.seed, **params)
    predictor.save(args.out)
    held = predictor.metadata["metrics"]["held_out"]
    if args.json:
        json.dump(predictor.metadata, sys.stdout, indent=2)
        print()
    else:
        print(
            f"saved {args.out}: top-1 {100 * held['top1']:.2f}% "
            f"(majority {100 * held['majority']['top1']:.2f}%), "
            f"GeoMean {held['geomean_percent_of_best']:.3f}% of best"
        )
    return 0

"""``airchitect train``: train a predictor on a dataset and save it."""

from __future__ import annotations

from airchitect.cli import print_json
from airchitect.cli.options import add_task_options, task_spec

#: most training epochs ``--epochs`` accepts
MAX_EPOCHS = 10_000
#: largest ``--seed`` (the seeds of numpy and scikit-learn are 32-bit)
MAX_SEED = 2**32 - 1


def add_parser(sub):
    parser = sub.add_parser("train", help="train a predictor on a dataset")
    add_task_options(parser, "task name; default: the task the dataset records")
    parser.add_argument("--data", required=True, help="dataset directory")
    parser.add_argument("--model", default="surrogate",
                        help="surrogate (default), resmlp, airchitect, ordinal, factorised (tasks with "
                             "factors, such as codesign), boosted or stalls (buffer only)")
    parser.add_argument("--out", required=True,
                        help="directory to save the predictor in (checked writable before training)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs, 1..{MAX_EPOCHS} (models trained by epochs: "
                             "airchitect, resmlp, ordinal, factorised; default: the model's own)")
    parser.add_argument("--seed", type=int, default=0, help=f"random seed, 0..{MAX_SEED} (default 0)")
    parser.add_argument("--test-size", type=float, default=0.1)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def model_params(model, epochs):
    """The hyper-parameters the flags give ``model``: ``{"epochs": epochs}`` or none.

    ValueError where ``epochs`` lies outside ``[1, MAX_EPOCHS]`` or the model
    is not trained by epochs.
    """
    from airchitect._checks import check_choice, check_int
    from airchitect.learn.predictor import MODELS

    if epochs is None:
        return {}
    epochs = check_int("--epochs", epochs, 1, MAX_EPOCHS)
    check_choice("--model", model, tuple(MODELS))
    if "epochs" not in MODELS[model]._get_param_names():
        raise ValueError(f"--epochs: model {model!r} is not trained by epochs; drop --epochs")
    return {"epochs": epochs}


def models_for(task):
    """The names of the models that can learn ``task``."""
    from airchitect.learn.predictor import MODELS
    from airchitect.tasks.buffer import BufferTask

    needs = {"boosted": isinstance(task, BufferTask),  # pair features: buffer tasks only
             "stalls": task.name == "buffer",
             "factorised": getattr(task, "factors", None) is not None}
    return [name for name in MODELS if needs.get(name, True)]


def _dataset_task(args):
    """The task the dataset of ``--data`` is trained as (as :func:`airchitect.learn.train` finds it)."""
    from pathlib import Path

    from airchitect.data.store import MANIFEST, dataset_task, read_manifest

    path = Path(args.data)
    directory = path if path.is_dir() else path.parent
    return dataset_task(read_manifest(path), directory / MANIFEST, task_spec(args))


def run(args):
    from airchitect._checks import check_int
    from airchitect.learn import train
    from airchitect.learn.predictor import check_writable

    params = model_params(args.model, args.epochs)
    seed = check_int("--seed", args.seed, 0, MAX_SEED)
    check_writable(args.out)
    try:
        predictor = train(task_spec(args), args.data, model=args.model, test_size=args.test_size,
                          seed=seed, **params)
    except NotImplementedError as err:  # the model needs what the task does not define
        task = _dataset_task(args)
        raise ValueError(f"--model {args.model} cannot learn task {task.name!r} ({err}); models for "
                         f"it: {', '.join(models_for(task))}") from None
    predictor.save(args.out)
    held = predictor.metadata["metrics"]["held_out"]
    if args.json:
        print_json(predictor.metadata, indent=2)
    else:
        print(
            f"saved {args.out}: top-1 {100 * held['top1']:.2f}% "
            f"(majority {100 * held['majority']['top1']:.2f}%), "
            f"GeoMean {held['geomean_percent_of_best']:.3f}% of best"
        )
    return 0

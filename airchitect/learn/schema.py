"""Checks of a saved predictor's files, made before anything is built from them.

:meth:`Predictor.load <airchitect.learn.predictor.Predictor.load>` reads
``predictor.json`` and ``model.safetensors`` through this module:

- ``predictor.json`` must be a JSON object of at most :data:`MAX_JSON_BYTES`
  bytes, without ``NaN`` or ``Infinity``, that matches the JSON schema of its
  model kind (:func:`metadata_schema`): the fields :meth:`Predictor.save`
  writes and no others, each of its type (booleans are not integers), in its
  range (:data:`LIMITS`) or among its choices;
- the metadata must agree with the task it names: ``n_labels`` equals the
  number of ``labels`` and the task's space size, the objective is one of the
  task's, the encoder's columns are the task's inputs;
- ``model.safetensors`` must hold exactly the tensors the metadata implies,
  with their names, dtypes and shapes (:func:`expected_tensors`), checked
  from the file's header before any tensor is read; every tensor must be
  finite, and tree indices must stay within their arrays.

Every failure raises one ``ValueError`` whose message is one line naming the
file and the field, e.g. ``.../predictor.json: params.tie_tolerance: -1 is
less than the minimum of 0``.
"""

from __future__ import annotations

import json
import math
import numbers

import numpy as np
import torch
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from safetensors import SafetensorError, safe_open

from airchitect._checks import check_int
from airchitect._meta import meta_device
from airchitect.learn.factorised import PRECISIONS
from airchitect.tasks import identity

SCHEMA_VERSION = 1
#: largest ``predictor.json`` read, in bytes
MAX_JSON_BYTES = 64 * 2**20
#: largest label vocabulary (and ``n_labels``) a model may have
MAX_LABELS = 10**6
#: largest message excerpt of a bad value, in characters
_MAX_REASON = 200
#: fields written beside the model by training (free-form JSON objects)
METADATA_KEYS = ("metrics", "training", "training_data")
_CORE_KEYS = ("schema_version", "package_version", "task", "task_params", "labels", "model",
              "params", "state", "n_labels")

#: ``(low, high)`` of every bounded integer or number hyper-parameter
LIMITS = {
    "embedding_dim": (1, 4096),
    "hidden": (1, 65536),
    "width": (1, 8192),
    "depth": (1, 256),
    "epochs": (1, 10**6),
    "batch_size": (1, 2**31 - 1),
    "learning_rate": (0, 10),
    "weight_decay": (0, 10),
    "regret_weight": (0, 10**6),
    "tie_tolerance": (0, 64),
    "ridge": (0, 10**6),
    "max_iter": (1, 10**5),
    "max_leaf_nodes": (2, 10**6),
    "l2_regularization": (0, 10**6),
    "labels_per_row": (1, MAX_LABELS),
    "best_per_row": (0, MAX_LABELS),
    "max_folds": (1, 10**9),
    "embedding": (1, 4096),
    "scorer_width": (1, 8192),
    "beam": (1, 10**5),
    "candidates": (1, 4096),
    "companion_candidates": (0, 4096),
    "scorer_rows": (0, 10**8),
    "scorer_epochs": (1, 10**6),
    "d_model": (1, 4096),
    "heads": (1, 64),
    "layers": (1, 64),
}
_POSITIVE = ("learning_rate",)
#: parameters a model saved before they existed may lack (the default then holds)
_OPTIONAL_PARAMS = ("stall_features", "companion_candidates", "batch_precision")
#: state a model may lack (one without a companion proposal)
_OPTIONAL_STATE = ("companion_encoder",)
_COLUMNS = 256
_VOCABULARY = 10**4
_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
_TREE_INTS = ("feature", "left", "right", "roots")
_TREE_FLOATS = ("threshold", "value", "baseline")


def fail(file, field, reason):
    """Raise the one-line ``ValueError`` naming ``file`` and ``field``."""
    reason = " ".join(str(reason).split())
    if len(reason) > _MAX_REASON:
        reason = reason[:_MAX_REASON] + "..."
    raise ValueError(f"{file}: {field}: {reason}")


# -- the JSON schema --------------------------------------------------------------------
def _integer(name):
    low, high = LIMITS[name]
    return {"type": "integer", "minimum": low, "maximum": high}


def _number(name):
    low, high = LIMITS[name]
    bound = {"exclusiveMinimum": low} if name in _POSITIVE else {"minimum": low}
    return {"type": "number", "maximum": high, **bound}


def _strings(max_items, min_items=0):
    return {"type": "array", "items": {"type": "string", "maxLength": 1024},
            "minItems": min_items, "maxItems": max_items, "uniqueItems": True}


def _object(properties, optional=()):
    return {"type": "object", "properties": properties,
            "required": sorted(set(properties) - set(optional)), "additionalProperties": False}


_TASK = {"type": "string", "maxLength": 64}
_OPTIONAL_TEXT = {"type": ["string", "null"], "maxLength": 64}
_SEED = {"type": "integer"}


def _torch_params(sizes, numbers=("learning_rate", "weight_decay", "regret_weight")):
    names = (*sizes, "epochs", "batch_size")
    return {"task": _OPTIONAL_TEXT, "objective": _OPTIONAL_TEXT, "seed": _SEED,
            "verbose": {"type": "boolean"}, **{n: _integer(n) for n in names},
            **{n: _number(n) for n in numbers}}


_PARAMS = {
    "airchitect": _torch_params(("embedding_dim", "hidden")),
    "resmlp": _torch_params(("width", "depth")),
    "factorised": {**_torch_params(("width", "depth", "embedding", "scorer_width", "beam", "candidates",
                                    "scorer_rows", "scorer_epochs", "companion_candidates"),
                                   ("learning_rate", "weight_decay")),
                   "stall_features": {"type": "boolean"},
                   "batch_precision": {"enum": list(PRECISIONS)}},
    "ordinal": {**_torch_params(("d_model", "heads", "layers"), ("learning_rate", "weight_decay")),
                "columns": {**_strings(_COLUMNS, 1), "type": ["array", "null"]}},
    "surrogate": {"task": _TASK, "objective": _OPTIONAL_TEXT, "tie_tolerance": _number("tie_tolerance"),
                  "ridge": _number("ridge"), "folds": {"enum": ["pow2", "tiles"]}},
    "boosted": {"task": _TASK, "objective": _OPTIONAL_TEXT, "seed": _SEED,
                "max_iter": _integer("max_iter"),
                "max_leaf_nodes": {**_integer("max_leaf_nodes"), "type": ["integer", "null"]},
                "learning_rate": _number("learning_rate"),
                "l2_regularization": _number("l2_regularization"),
                "labels_per_row": _integer("labels_per_row"), "best_per_row": _integer("best_per_row"),
                "tie_tolerance": _number("tie_tolerance")},
    "stalls": {"task": _TASK, "objective": _OPTIONAL_TEXT, "max_folds": _integer("max_folds")},
}


def check_params(model, params):
    """Check a ``model``'s hyper-parameters ``params`` (its ``get_params()``) before it is
    trained: each bounded one within the range a saved model may hold (:data:`LIMITS`),
    every other one of the kind the saved model's schema allows; ``task`` and
    ``objective`` are the task's to check. Raises ``TypeError`` or ``ValueError`` naming
    the parameter and its allowed values.

    >>> check_params("resmlp", {"width": 0, "depth": 2})
    Traceback (most recent call last):
    ...
    ValueError: model 'resmlp': width must be an integer in [1, 8192], got 0
    """
    schema = _PARAMS.get(model, {})
    for name, value in params.items():
        if name in ("task", "objective") or name not in schema:
            continue
        where = f"model {model!r}: {name}"
        kinds = schema[name].get("type", ())
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if value is None and "null" in kinds:
            continue
        if name in LIMITS and "integer" in kinds:
            check_int(where, value, *LIMITS[name])
        elif name in LIMITS:
            low, high = LIMITS[name]
            allowed = f"{'(' if name in _POSITIVE else '['}{low}, {high}]"
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                raise TypeError(f"{where} must be a number in {allowed}, got {type(value).__name__} {value!r}")
            number = float(value)
            if not (math.isfinite(number) and number <= high
                    and (number > low if name in _POSITIVE else number >= low)):
                raise ValueError(f"{where} must be a number in {allowed}, got {value!r}")
        else:
            error = best_match(Draft202012Validator(schema[name]).iter_errors(value))
            if error is not None:
                raise ValueError(f"{where}: {error.message}")


def _encoder(kind):
    vector = {"type": ["array", "null"], "items": {"type": "number"}, "maxItems": 10**5}
    return _object({
        "kind": {"const": kind},
        "columns": _strings(_COLUMNS, 1),
        "categories": {"type": "object", "maxProperties": _COLUMNS,
                       "additionalProperties": _strings(_VOCABULARY, 1)},
        "mean": vector,
        "std": {**vector, "items": {"type": "number", "exclusiveMinimum": 0}},
    })


_STATE = {
    "airchitect": {"encoder": _encoder("tokens")},
    "resmlp": {"encoder": _encoder("folds")},
    "factorised": {"encoder": _encoder("folds"), "companion_encoder": _encoder("folds")},
    "ordinal": {"encoder": _encoder("tokens")},
    "surrogate": {"groups": _strings(_VOCABULARY, 1), "constraints": _strings(_COLUMNS)},
    "boosted": {},
    "stalls": {},
}


def metadata_schema(model):
    """The JSON schema of ``predictor.json`` for model kind ``model`` (a key of ``MODELS``)."""
    known = model in _PARAMS
    return {
        "type": "object",
        "required": list(_CORE_KEYS),
        "additionalProperties": False,
        "properties": {
            "schema_version": {"type": "integer", "const": SCHEMA_VERSION},
            "package_version": {"type": "string", "maxLength": 64},
            "task": {"type": "object", "required": ["task", "n_labels"],
                     "properties": {"task": _TASK, "n_labels": {"type": "integer"}}},
            "task_params": {"type": "object"},
            "definition": identity.SCHEMA,
            "labels": {"type": "array", "items": {"type": "object"}, "minItems": 1,
                       "maxItems": MAX_LABELS},
            "model": {"enum": list(_PARAMS)},
            "params": _object(_PARAMS[model], _OPTIONAL_PARAMS) if known else {"type": "object"},
            "state": _object(_STATE[model], _OPTIONAL_STATE) if known else {"type": "object"},
            "n_labels": {"type": "integer", "minimum": 1, "maximum": MAX_LABELS},
            **{key: {"type": "object"} for key in METADATA_KEYS},
        },
    }


_VALIDATORS = {}


def _validator(model):
    key = model if isinstance(model, str) and model in _PARAMS else None
    if key not in _VALIDATORS:
        _VALIDATORS[key] = Draft202012Validator(metadata_schema(key))
    return _VALIDATORS[key]


def _field(error):
    path = [str(p) for p in error.absolute_path]
    instance, schema = error.instance, error.schema
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        extra = sorted(k for k in instance if k not in schema.get("properties", {}))
        return ".".join(path + extra[:1]), "unknown field (Predictor.save does not write it)"
    if error.validator == "required" and isinstance(instance, dict):
        missing = [k for k in schema["required"] if k not in instance]
        return ".".join(path + missing[:1]), "missing (Predictor.save writes it)"
    return ".".join(path) or "(top level)", error.message


# -- predictor.json ------------------------------------------------------------------------
def _no_constant(text):
    raise ValueError(f"{text} is not a JSON number")


def read_metadata(file):
    """Parse ``predictor.json`` at ``file`` and check it against its schema; return the dict."""
    size = file.stat().st_size
    if size > MAX_JSON_BYTES:
        fail(file, "(file)", f"{size} bytes, more than the {MAX_JSON_BYTES} a predictor.json may have")
    try:
        meta = json.loads(file.read_bytes(), parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        fail(file, "(file)", f"not valid JSON: {err}")
    if not isinstance(meta, dict):
        fail(file, "(top level)", f"must be a JSON object, got {type(meta).__name__}")
    version = meta.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        fail(file, "schema_version", f"model schema version {version!r} is not {SCHEMA_VERSION}, "
                                     f"the one this airchitect reads")
    error = best_match(_validator(meta.get("model")).iter_errors(meta))
    if error is not None:
        fail(file, *_field(error))
    return meta


def check_against_task(meta, task, file):
    """Check the fields of ``meta`` that depend on ``task`` (a built Task)."""
    if meta["n_labels"] != len(meta["labels"]) or meta["n_labels"] != task.n_labels:
        fail(file, "n_labels", f"{meta['n_labels']} is not the task's {task.n_labels} labels "
                               f"({len(meta['labels'])} listed)")
    params, model = meta["params"], meta["model"]
    if params["task"] not in (None, task.name) or (params["task"] is None and model not in
                                                   ("airchitect", "resmlp")):
        fail(file, "params.task", f"{params['task']!r} is not the model's task {task.name!r}")
    objectives = ("cycles",) if model == "stalls" else tuple(task.objectives)
    if params["objective"] is not None and params["objective"] not in objectives:
        fail(file, "params.objective", f"must be one of {', '.join(objectives)} or null; "
                                       f"got {params['objective']!r}")
    for name in ("encoder", "companion_encoder"):
        if name in meta["state"]:
            _check_encoder(meta["state"][name], task, file, f"state.{name}")
    if model == "surrogate":
        _check_surrogate_state(meta["state"], task, file)


def _check_encoder(encoder, task, file, field):
    unknown = [c for c in encoder["columns"] if c not in task.input_columns]
    if unknown:
        fail(file, f"{field}.columns", f"{unknown[0]!r} is not an input of task {task.name!r}")
    for column, vocab in encoder["categories"].items():
        if column not in encoder["columns"]:
            fail(file, f"{field}.categories.{column}", "is not one of the encoder's columns")
        if vocab != sorted(vocab):
            fail(file, f"{field}.categories.{column}", "must be sorted")
    if encoder["kind"] == "tokens":
        for name in ("mean", "std"):
            if encoder[name] is not None:
                fail(file, f"{field}.{name}", "must be null for the tokens encoding")
        return
    n = len(encoder["columns"]) - len(encoder["categories"])
    width = n + n * (n - 1) // 2 + sum(map(len, encoder["categories"].values()))
    if encoder["kind"] == "folds":
        from airchitect.learn.encoding import FOLD_EXPONENTS

        width += n * len(FOLD_EXPONENTS)
    for name in ("mean", "std"):
        if encoder[name] is None or len(encoder[name]) != width:
            fail(file, f"{field}.{name}", f"must hold {width} numbers, one per feature")


def _check_surrogate_state(state, task, file):
    unknown = [c for c in state["constraints"] if c not in task.input_columns]
    if unknown:
        fail(file, "state.constraints", f"{unknown[0]!r} is not an input of task {task.name!r}")
    if state["groups"] != sorted(state["groups"]):
        fail(file, "state.groups", "must be sorted")


# -- model.safetensors -----------------------------------------------------------------------
def _sample(task):
    return task.validate(task.sample(1, seed=0))


def _surrogate_tensors(meta, task):
    import pandas as pd

    from airchitect.learn import features
    from airchitect.learn.surrogate import FOLDS, OFFSETS

    params, state = meta["params"], meta["state"]
    X = _sample(task)
    table = features.surrogate_table(task, X, params["objective"])
    frame = X if table is None else table[0]
    numeric = [c for c, dtype in frame.dtypes.items()
               if pd.api.types.is_numeric_dtype(dtype) and c not in state["constraints"]]
    width = (1 + len(FOLDS[params["folds"]]) + len(OFFSETS)) * len(numeric) + 1
    parts = features.surrogate_parts(task, X, params["objective"])
    outputs = task.n_labels if parts is None else np.shape(parts[1][0])[1]
    return {"coef": ("F64", (len(state["groups"]), width, outputs))}


def _torch_tensors(estimator, encoder, n_labels):
    with meta_device():
        module = estimator._build(encoder, n_labels)
    return {k: (_DTYPES.get(v.dtype, str(v.dtype)), tuple(v.shape))
            for k, v in module.state_dict().items()}


def expected_tensors(meta, task, estimator):
    """``{name: (dtype, shape)}`` that ``model.safetensors`` must hold; ``None`` in a
    shape is any length (checked by :func:`check_values`)."""
    model = meta["model"]
    if model == "surrogate":
        return _surrogate_tensors(meta, task)
    if model == "stalls":
        return {"max_folds": ("I64", (1,))}
    if model == "boosted":
        return {**{k: ("I64", (None,)) for k in _TREE_INTS},
                **{k: ("F64", (None,)) for k in _TREE_FLOATS if k != "baseline"},
                "baseline": ("F64", (1,))}
    from airchitect.learn.encoding import Encoder

    encoder = Encoder.from_dict(meta["state"]["encoder"])
    expected = _torch_tensors(estimator, encoder, meta["n_labels"])
    if "companion_encoder" in meta["state"]:  # a factorised model's second proposal
        from airchitect.learn.factorised import COMPANION, SCORER_PREFIXES

        theirs = _torch_tensors(estimator, Encoder.from_dict(meta["state"]["companion_encoder"]),
                                meta["n_labels"])
        expected.update({COMPANION + k: v for k, v in theirs.items() if not k.startswith(SCORER_PREFIXES)})
    return expected


def _shape_text(shape):
    return "(" + ", ".join("any" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _check_header(header, expected, file):
    missing = sorted(set(expected) - set(header))
    extra = sorted(set(header) - set(expected))
    if missing or extra:
        reason = "; ".join(filter(None, [missing and f"missing {', '.join(missing[:5])}",
                                         extra and f"unexpected {', '.join(extra[:5])}"]))
        fail(file, "tensors", f"{reason} (not the tensors predictor.json implies)")
    for name, (dtype, shape) in expected.items():
        got_dtype, got_shape = header[name]
        if got_dtype != dtype:
            fail(file, name, f"dtype {got_dtype} is not {dtype}")
        if len(got_shape) != len(shape) or any(s is not None and g != s for g, s in zip(got_shape, shape)):
            fail(file, name, f"shape {_shape_text(got_shape)} is not {_shape_text(shape)}, "
                             f"the one predictor.json implies")


def read_tensors(file, expected):
    """The tensors of ``model.safetensors`` at ``file`` as torch tensors, after their
    names, dtypes and shapes are checked against ``expected`` from the header alone."""
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file; not a saved predictor")
    try:
        with safe_open(str(file), framework="pt") as handle:
            header = {}
            for name in handle.keys():
                part = handle.get_slice(name)
                header[name] = (part.get_dtype(), tuple(part.get_shape()))
            _check_header(header, expected, file)
            tensors = {name: handle.get_tensor(name) for name in header}
    except (SafetensorError, RuntimeError, OverflowError) as err:
        fail(file, "(file)", f"not a readable safetensors file: {err}")
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            fail(file, name, "holds NaN or infinite values")
    return tensors


def check_values(arrays, meta, task, file):
    """Check what the values of ``arrays`` (numpy) must satisfy beyond shapes."""
    if meta["model"] == "stalls":
        folds = int(arrays["max_folds"][0])
        low, high = LIMITS["max_folds"]
        if not low <= folds <= high or folds != meta["params"]["max_folds"]:
            fail(file, "max_folds", f"{folds} is not params.max_folds "
                                    f"({meta['params']['max_folds']}) in [{low}, {high}]")
    elif meta["model"] == "boosted":
        _check_trees(arrays, task, file)


def _check_trees(trees, task, file):
    n = len(trees["feature"])
    for name in ("threshold", "left", "right", "value"):
        if len(trees[name]) != n:
            fail(file, name, f"length {len(trees[name])} is not {n}, the length of feature")
    if n == 0 or not 1 <= len(trees["roots"]) <= n:
        fail(file, "roots", f"must hold 1 to {max(n, 1)} tree roots")
    node = np.arange(n)
    left, right, roots = trees["left"], trees["right"], trees["roots"]
    inner = left >= 0
    if ((right >= 0) != inner).any():
        fail(file, "right", "a node has one child")
    for name, child in (("left", left), ("right", right)):
        if (child[inner] <= node[inner]).any() or (child >= n).any() or (child < -1).any():
            fail(file, name, f"child indices must lie after their node and below {n}")
    if (roots < 0).any() or (roots >= n).any():
        fail(file, "roots", f"indices must lie in [0, {n - 1}]")
    from airchitect.learn.features import pair_features

    try:
        width = pair_features(task, _sample(task), np.zeros((1, 1), dtype=np.int64)).shape[2]
    except NotImplementedError:
        fail(file.parent / "predictor.json", "model", f"boosted trees need pair features, "
                                                      f"which task {task.name!r} has none of")
    if inner.any() and not 0 <= trees["feature"][inner].min() <= trees["feature"][inner].max() < width:
        fail(file, "feature", f"indices must lie in [0, {width - 1}], the task's pair features")

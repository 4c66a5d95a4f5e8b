"""Compile a PyTorch model into a crossbar program and run it on simulated RRAM.

:func:`compile` traces any ``torch.nn`` model with ``torch.fx``
(:mod:`airchitect.targets.cim.trace_fx`: ``Sequential`` or a ``forward``
with residual additions and concatenations; ``Conv2d``, ``Linear``,
``BatchNorm`` folded into the conv/linear before it, ReLU-like activations,
pooling, flatten), quantises every matrix layer (symmetric, per tensor:
weights to ``w_bits`` two's complement, inputs to ``in_bits``, unsigned when
the calibration activations are never negative), tiles its ``m x n`` matrix
(``n = in_ch * kh * kw``) onto crossbars of *its own* configuration as the
cost model maps it, and emits a :class:`CrossbarProgram`:

- ``layers``: one record per layer in execution order (kind, name, the
  records it reads, shapes, bits, scales, integer and float weights, bias,
  crossbar configuration, tiles, cost-model latency and energy);
- ``ops``: the crossbar program in execution order, each with an ``id`` and
  ``deps``: ``write`` (program one tile onto crossbar ``xbar``), ``mvm``
  (stream the layer's vectors through one tile: ``vectors`` x ``slices`` x
  ``phases`` reads), ``shift_add`` (combine a layer's tile partial sums, add
  the bias, rescale), and the digital layers (``relu``, ``maxpool``,
  ``add``, ``cat``, ...), which run on the host in float.

Configurations: ``config`` is one configuration for every layer, one per
Conv2d/Linear layer (a list, or a DataFrame of one row per layer such as
``Predictor.predict`` returns), or ``"predict"``: the shipped ``cim`` model
picks each layer's configuration from the layer's shape and bits. A
configuration is a :class:`~airchitect.targets.cim.CrossbarConfig`, a dict,
a pandas Series or a one-row DataFrame in the one vocabulary of
:mod:`airchitect.targets.cim.config` -- a prediction of ``ac.predict("cim",
...)`` is accepted as it comes.

The program, its execution on the functional simulator (:meth:`CrossbarProgram.run`),
the torch reference and the evaluation live in :mod:`airchitect.targets.cim.runner`.
This module is also ``airchitect.backends.cim``.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
>>> x = torch.rand(16, 4)
>>> prog = compile(net, calibration=x)
>>> [op["op"] for op in prog.ops][:4]
['write', 'mvm', 'shift_add', 'relu']
>>> bool(torch.equal(torch.as_tensor(prog.run(x)), prog.reference(x)))
True
>>> pred = {"xbar": 64, "active_rows": 16, "active_all": False, "cell_bits": 2, "dac_bits": 2,
...         "mapping": "offset", "duplication": 2, "label": 37}
>>> compile(net, config=[pred, {"xbar": 128}], calibration=x).cost.xbar_rows.tolist()
[64, 128]
"""

from __future__ import annotations

import numpy as np

from airchitect._checks import check_choice, check_int
from airchitect.targets.cim import functional
from airchitect.targets.cim.cells import DEVICE_FIELDS, Device
from airchitect.targets.cim.config import INTEGER_MAPPINGS, make_config
from airchitect.targets.cim.runner import (
    MATRIX_KINDS,
    MAX_COLUMN_VALUES,
    MAX_OPS,
    CrossbarProgram,
    _vectors,
    check_batch,
    input_columns,
    load_torch,
    run_graph,
)
from airchitect.targets.cim.trace_fx import trace

__all__ = ["MAX_COLUMN_VALUES", "MAX_OPS", "PREDICT_ADC_BITS", "PREDICT_N_XBARS", "CrossbarProgram", "compile"]

#: ADC resolution (bits) and crossbars per layer that ``config="predict"`` asks the ``cim`` model
#: about when ``adc_bits`` / ``n_xbars`` are not given (the top of the task's sampled ranges).
PREDICT_ADC_BITS = 14
PREDICT_N_XBARS = 2**14


def _check_bits(bits, count):
    """Per-matrix-layer (w_bits, in_bits) from an int, a pair or a list of pairs."""
    if isinstance(bits, (int, np.integer)):
        bits = [(int(bits), int(bits))] * count
    elif len(bits) == 2 and all(isinstance(b, (int, np.integer)) for b in bits):
        bits = [tuple(int(b) for b in bits)] * count
    bits = [tuple(b) for b in bits]
    if len(bits) != count or any(len(b) != 2 for b in bits):
        raise ValueError(f"bits must be an int, a (w_bits, in_bits) pair or {count} such pairs")
    for w, a in bits:
        check_int("w_bits", w, 2, 16)
        check_int("in_bits", a, 1, 16)
    return bits


def compile(module, config=None, *, calibration, bits=8, adc_range="full-scale", seed=0, n_xbars=None,
            **options):
    """Quantise ``module``, tile it onto crossbars and emit a :class:`CrossbarProgram`.

    Parameters
    ----------
    module : torch.nn.Module
        Any model ``torch.fx`` can trace, made of the supported layers
        (:mod:`airchitect.targets.cim.trace_fx`); it is compiled with
        inference semantics (BatchNorm running statistics, no dropout).
    config : configuration, list of configurations, DataFrame, "predict" or None
        One configuration for every Conv2d/Linear layer (a CrossbarConfig, a
        dict, a Series or a one-row DataFrame, e.g. ``ac.predict("cim", ...)``
        as it comes; None: the defaults), one per such layer in execution
        order (a list, or a DataFrame with one row per layer), or
        ``"predict"``: the shipped ``cim`` model predicts each layer's
        configuration from its ``P, n, m, w_bits, in_bits`` and the chip's
        ``n_xbars`` and ``adc_bits``. Integer mappings only. ``options``
        override every layer's fields.
    calibration : tensor or array
        Example inputs (batch first): they fix the input shape, every layer's
        activation range and, with ``adc_range="calibrated"``, the ADC ranges.
    bits : int, (w_bits, in_bits) or list of such pairs, one per Conv2d/Linear
        Weight and input bit widths (default 8/8).
    adc_range : "full-scale", "calibrated" or a number
        ADC range, as in :func:`airchitect.targets.cim.program`.
    seed : int
        Layer ``i`` draws its device variation from ``seed + i``.
    n_xbars : int, optional
        With ``config="predict"``: crossbars available to each layer (1..2**40;
        default :data:`PREDICT_N_XBARS`). The ADC resolution asked about is the
        ``adc_bits`` option (default :data:`PREDICT_ADC_BITS`; when given it is
        also every layer's ADC).

    options
        Crossbar fields (the one vocabulary: ``xbar``, ``xbar_rows``,
        ``cell_bits``, ...) and device fields (``d2d_sigma``, ``c2c_sigma``,
        ``r_on_ohm``, ``r_off_ohm``).

    Work: one ``torch.fx`` trace, one forward pass of two samples for the
    shapes, one float pass of the calibration batch and, with
    ``"predict"``, one batched model query. Calibration and run batches must
    be finite numbers; a batch that unfolds to more than
    ``MAX_COLUMN_VALUES`` (2**27) input values at a layer, or a program of
    more than ``MAX_OPS`` (2**20) ops, raises ValueError before the work.
    Crossbar reads obey the simulator's limits
    (:func:`airchitect.targets.cim.program`).
    """
    torch = load_torch()
    device, seed = _check_options(adc_range, seed, options)
    if n_xbars is not None and not (isinstance(config, str) and config == "predict"):
        raise TypeError("n_xbars applies only to config='predict'")
    x = torch.as_tensor(check_batch("calibration", calibration), dtype=torch.float64)
    pairs = trace(module, x[:2])
    matrices = sum(rec["kind"] in MATRIX_KINDS for rec, _ in pairs)
    if matrices == 0:
        raise ValueError("module has no Conv2d or Linear layer to map onto crossbars")
    bit_list = _check_bits(bits, matrices)
    layers = _quantize_network(pairs, bit_list, x)
    mats = [r for r in layers if r["kind"] in MATRIX_KINDS]
    for rec, cfg in zip(mats, _configs(config, mats, options, n_xbars)):
        rec["config"] = cfg.to_dict()
    prog = CrossbarProgram(layers, device, adc_range, seed, x.shape[1:])
    if adc_range == "calibrated" and any(c.adc_bits is not None for c in prog.configs):
        prog._calibrate(x)
    return prog


def _check_options(adc_range, seed, options):
    """``(device fields, seed)`` of :func:`compile`, checked; ``options`` loses the device fields."""
    device = {k: options.pop(k) for k in list(options) if k in DEVICE_FIELDS}
    Device(**device)
    _integer(make_config(None, **options))
    if isinstance(adc_range, str):
        check_choice("adc_range", adc_range, functional.ADC_RANGES)
    return device, check_int("seed", seed, 0, 2**32 - 1)


def _integer(cfg):
    """``cfg``, or ValueError when its mapping is not an integer one."""
    if cfg.mapping not in INTEGER_MAPPINGS:
        raise ValueError(f"mapping must be one of {', '.join(INTEGER_MAPPINGS)} to compile a network, "
                         f"got {cfg.mapping}")
    return cfg


def _configs(config, mats, options, n_xbars):
    """One checked CrossbarConfig per matrix layer record in ``mats``, ``options`` applied."""
    import pandas as pd

    if isinstance(config, str):
        check_choice("config", config, ("predict",))
        return [_integer(c) for c in _predicted(mats, options, n_xbars)]
    if isinstance(config, pd.DataFrame) and len(config) != 1:
        config = [row for _, row in config.iterrows()]
    if isinstance(config, (list, tuple)):
        if len(config) != len(mats):
            raise ValueError(f"config must hold one configuration per Conv2d/Linear layer ({len(mats)}), "
                             f"got {len(config)}")
        return [_integer(make_config(c, **options)) for c in config]
    cfg = _integer(make_config(config, **options))
    return [cfg] * len(mats)


def _predicted(mats, options, n_xbars):
    """The shipped ``cim`` model's configuration of every matrix layer (one batched query)."""
    import pandas as pd

    from airchitect.api import shipped  # this module is the backend: it sits after the api

    n_xbars = PREDICT_N_XBARS if n_xbars is None else check_int("n_xbars", n_xbars, 1, 2**40)
    adc_bits = options.get("adc_bits")
    adc_bits = PREDICT_ADC_BITS if adc_bits is None else adc_bits
    query = pd.DataFrame({
        "P": [_vectors(r) for r in mats], "n": [r["n"] for r in mats], "m": [r["m"] for r in mats],
        "w_bits": [r["w_bits"] for r in mats], "in_bits": [r["in_bits"] for r in mats],
        "n_xbars": n_xbars, "adc_bits": adc_bits,
    })
    try:
        predicted = shipped("cim").predict(query)
    except ValueError as err:
        raise ValueError(f"config='predict' (row i is the i-th Conv2d/Linear layer): {err}") from None
    for rec, label in zip(mats, predicted["label"]):
        rec["label"] = int(label)
    return [make_config(row, **options) for _, row in predicted.iterrows()]


def _quantize_network(pairs, bit_list, x):
    """Layer records with shapes and quantisation, found by running ``x`` through the float model."""
    bit_list = iter(bit_list)
    params = {id(rec): p for rec, p in pairs}

    def matrix(rec, x):
        rec["in_shape"] = list(x.shape[1:])  # the quantisation reads it
        _quantize_layer(rec, params[id(rec)], x, *next(bit_list))
        return _float_layer(rec, params[id(rec)], x)

    def visit(rec, xs, out):
        rec["in_shape"] = list(xs[0].shape[1:])
        rec["out_shape"] = list(out.shape[1:])

    records = [rec for rec, _ in pairs]
    run_graph(records, x, matrix, visit)
    return records


def _float_layer(rec, params, x):
    """The float layer's output (float64 tensor) for the float64 input ``x``."""
    F = load_torch().nn.functional
    if rec["kind"] == "linear":
        return F.linear(x, params["weight"], params["bias"])
    return F.conv2d(x, params["weight"], params["bias"], stride=rec["stride"], padding=rec["padding"])


def _quantize_layer(rec, params, x, w_bits, in_bits):
    """Add integer and float weights, bias and the weight and input scales (symmetric, per tensor) to ``rec``."""
    torch = load_torch()
    W = params["weight"].reshape(params["weight"].shape[0], -1)
    top = float(W.abs().max())
    w_scale = top / (2 ** (w_bits - 1) - 1) if top > 0 else 1.0
    W_int = torch.clamp(torch.round(W / w_scale), -(2 ** (w_bits - 1)), 2 ** (w_bits - 1) - 1)
    cols, _ = input_columns(rec, x)
    signed = bool(cols.numel() and float(cols.min()) < 0)
    peak = float(cols.abs().max()) if cols.numel() else 0.0
    levels = 2 ** (in_bits - 1) - 1 if signed else 2**in_bits - 1
    rec.update({
        "w_bits": w_bits, "in_bits": in_bits, "in_signed": signed,
        "w_scale": w_scale, "in_scale": peak / levels if peak > 0 else 1.0,
        "m": int(W.shape[0]), "n": int(W.shape[1]),
        "weight": W_int.to(torch.int64).tolist(),
        "float_weight": W.tolist(),
        "bias": None if params["bias"] is None else params["bias"].tolist(),
    })

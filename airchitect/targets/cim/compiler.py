"""Compile a PyTorch model into a crossbar program and run it on simulated RRAM.

:func:`compile` walks a sequential ``torch.nn`` model (``Conv2d``, ``Linear``,
``ReLU``, ``MaxPool2d``, ``AvgPool2d``, ``Flatten``; ``Dropout`` and
``Identity`` are skipped), quantises every matrix layer (symmetric, per
tensor: weights to ``w_bits`` two's complement, inputs to ``in_bits``,
unsigned when the calibration activations are never negative), tiles its
``m x n`` matrix (``n = in_ch * kh * kw``) onto crossbars as the cost model
maps it, and emits a :class:`CrossbarProgram`:

- ``layers``: one record per layer (kind, shapes, bits, scales, integer
  weights, bias, tiles, cost-model latency and energy);
- ``ops``: the crossbar program in execution order, each with an ``id`` and
  ``deps``: ``write`` (program one tile onto crossbar ``xbar``), ``mvm``
  (stream the layer's vectors through one tile: ``vectors`` x ``slices`` x
  ``phases`` reads), ``shift_add`` (combine a layer's tile partial sums, add
  the bias, rescale), and the digital ``relu``, ``maxpool``, ``avgpool``,
  ``flatten``.

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
    OneThread,
    check_batch,
    digital_layer,
    input_columns,
    load_torch,
)

__all__ = ["MAX_COLUMN_VALUES", "MAX_OPS", "CrossbarProgram", "compile"]


def _flatten_module(module):
    """The leaf layers of a (nested) sequential model, in order."""
    from torch import nn

    if isinstance(module, nn.Sequential):
        out = []
        for child in module:
            out.extend(_flatten_module(child))
        return out
    return [module]


def _pair(v):
    """``v`` (an int or a pair) as a list of two ints."""
    return [int(v), int(v)] if isinstance(v, int) else [int(a) for a in v]


def _describe(layer, index):
    """A layer's record without quantisation (kind and hyper-parameters)."""
    from torch import nn

    name = f"{index}:{type(layer).__name__}"
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1 or _pair(layer.dilation) != [1, 1] or isinstance(layer.padding, str):
            raise ValueError(f"layer {name}: only groups=1, dilation=1 and integer padding are supported")
        return {"kind": "conv", "name": name, "kernel": _pair(layer.kernel_size),
                "stride": _pair(layer.stride), "padding": _pair(layer.padding)}
    if isinstance(layer, nn.Linear):
        return {"kind": "linear", "name": name}
    if isinstance(layer, nn.ReLU):
        return {"kind": "relu", "name": name}
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
        kind = "maxpool" if isinstance(layer, nn.MaxPool2d) else "avgpool"
        stride = layer.stride if layer.stride is not None else layer.kernel_size
        if kind == "maxpool" and (_pair(layer.dilation) != [1, 1] or layer.ceil_mode):
            raise ValueError(f"layer {name}: only dilation=1 and ceil_mode=False are supported")
        return {"kind": kind, "name": name, "kernel": _pair(layer.kernel_size),
                "stride": _pair(stride), "padding": _pair(layer.padding)}
    if isinstance(layer, nn.Flatten):
        return {"kind": "flatten", "name": name, "start_dim": int(layer.start_dim)}
    if isinstance(layer, (nn.Dropout, nn.Identity)):
        return None
    raise TypeError(
        f"layer {name} is not supported; use Conv2d, Linear, ReLU, MaxPool2d, AvgPool2d, Flatten"
    )


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


def compile(module, config=None, *, calibration, bits=8, adc_range="full-scale", seed=0, **options):
    """Quantise ``module``, tile it onto crossbars and emit a :class:`CrossbarProgram`.

    Parameters
    ----------
    module : torch.nn.Module
        A sequential model (nested ``nn.Sequential`` allowed) of the supported layers.
    config : CrossbarConfig, dict or None
        Crossbar configuration (integer mappings only); ``options`` override its fields.
    calibration : tensor or array
        Example inputs (batch first): they fix the input shape, every layer's
        activation range and, with ``adc_range="calibrated"``, the ADC ranges.
    bits : int, (w_bits, in_bits) or list of such pairs, one per Conv2d/Linear
        Weight and input bit widths (default 8/8).
    adc_range : "full-scale", "calibrated" or a number
        ADC range, as in :func:`airchitect.targets.cim.program`.
    seed : int
        Layer ``i`` draws its device variation from ``seed + i``.

    options
        Crossbar fields and device fields (``d2d_sigma``, ``c2c_sigma``,
        ``r_on_ohm``, ``r_off_ohm``).

    Calibration and run batches must be finite numbers; a batch that unfolds
    to more than ``MAX_COLUMN_VALUES`` (2**27) input values at a layer, or a
    program of more than ``MAX_OPS`` (2**20) ops, raises ValueError before
    the work. Crossbar reads obey the simulator's limits
    (:func:`airchitect.targets.cim.program`).
    """
    torch = load_torch()
    cfg, device, seed = _check_options(config, adc_range, seed, options)
    records = [(layer, r) for i, layer in enumerate(_flatten_module(module))
               if (r := _describe(layer, i)) is not None]
    matrices = sum(r["kind"] in MATRIX_KINDS for _, r in records)
    if matrices == 0:
        raise ValueError("module has no Conv2d or Linear layer to map onto crossbars")
    bit_list = _check_bits(bits, matrices)
    x = torch.as_tensor(check_batch("calibration", calibration), dtype=torch.float64)
    prog = CrossbarProgram(_quantize_network(records, bit_list, x), cfg, device, adc_range, seed)
    if adc_range == "calibrated" and cfg.adc_bits is not None:
        prog._calibrate(x)
    return prog


def _check_options(config, adc_range, seed, options):
    """``(config, device fields, seed)`` of :func:`compile`, checked; ``options`` loses the device fields."""
    device = {k: options.pop(k) for k in list(options) if k in DEVICE_FIELDS}
    Device(**device)
    cfg = make_config(config, **options)
    if cfg.mapping not in INTEGER_MAPPINGS:
        raise ValueError(f"mapping must be one of {', '.join(INTEGER_MAPPINGS)} to compile a network")
    if isinstance(adc_range, str):
        check_choice("adc_range", adc_range, functional.ADC_RANGES)
    return cfg, device, check_int("seed", seed, 0, 2**32 - 1)


def _quantize_network(records, bit_list, x):
    """Layer records with shapes and quantisation, found by running ``x`` through the float model."""
    bit_list = iter(bit_list)
    out = []
    with load_torch().no_grad(), OneThread():
        for layer, rec in records:
            rec["in_shape"] = list(x.shape[1:])
            if rec["kind"] in MATRIX_KINDS:
                _quantize_layer(rec, layer, x, *next(bit_list))
                x = _float_layer(rec, layer, x)
            else:
                x = digital_layer(rec, x)
            rec["out_shape"] = list(x.shape[1:])
            out.append(rec)
    return out


def _float_layer(rec, layer, x):
    """The float layer's output (float64 tensor) for the float64 input ``x``."""
    F = load_torch().nn.functional
    w = layer.weight.detach().double()
    b = None if layer.bias is None else layer.bias.detach().double()
    if rec["kind"] == "linear":
        return F.linear(x, w, b)
    return F.conv2d(x, w, b, stride=rec["stride"], padding=rec["padding"])


def _quantize_layer(rec, layer, x, w_bits, in_bits):
    """Add integer weights, bias and the weight and input scales (symmetric, per tensor) to ``rec``."""
    torch = load_torch()
    W = layer.weight.detach().double().reshape(layer.weight.shape[0], -1)
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
        "bias": None if layer.bias is None else layer.bias.detach().double().tolist(),
    })

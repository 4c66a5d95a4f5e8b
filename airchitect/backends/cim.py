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

:meth:`CrossbarProgram.run` executes the program on the functional simulator
(:func:`airchitect.targets.cim.program`): each layer's tiles are read as one
batched call whose row tiling, ADC and shift-and-add are those of the ops.
:meth:`CrossbarProgram.reference` runs the same quantised network in torch
(``quantized=True``) or the float model; :meth:`CrossbarProgram.evaluate`
reports error, accuracy and the cost model's latency and energy.

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

import json

import numpy as np

from airchitect._checks import check_choice, check_int
from airchitect.targets.cim import functional
from airchitect.targets.cim.config import INTEGER_MAPPINGS, CrossbarConfig, make_config
from airchitect.targets.cim.cost import simulate

MATRIX_KINDS = ("conv", "linear")
FORMAT_VERSION = 1
#: Largest number of ops (writes, MVMs, shift-and-adds, digital layers) a program may hold.
MAX_OPS = 2**20
#: Largest number of input-vector values (vectors x n) one matrix layer may unfold from a batch.
MAX_COLUMN_VALUES = 2**27


def _torch():
    import torch

    return torch


class _OneThread:
    """Run small torch ops on one thread (they are slower with more under load)."""

    def __enter__(self):
        torch = _torch()
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        _torch().set_num_threads(self.threads)


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


def _digital(rec, x):
    """Apply a digital (non-matrix) layer to a float64 tensor."""
    F = _torch().nn.functional
    kind = rec["kind"]
    if kind == "relu":
        return F.relu(x)
    if kind == "maxpool":
        return F.max_pool2d(x, rec["kernel"], rec["stride"], rec["padding"])
    if kind == "avgpool":
        return F.avg_pool2d(x, rec["kernel"], rec["stride"], rec["padding"])
    return x.flatten(rec["start_dim"])


def _columns(rec, x):
    """Input vectors of a matrix layer: (vectors, n) plus what reshapes the output."""
    torch = _torch()
    if rec["kind"] == "linear":
        lead = x.shape[:-1]
        return x.reshape(-1, x.shape[-1]), lead
    (kh, kw), (sh, sw), (ph, pw) = rec["kernel"], rec["stride"], rec["padding"]
    b, c, h, w = x.shape
    values = b * ((h + 2 * ph - kh) // sh + 1) * ((w + 2 * pw - kw) // sw + 1) * c * kh * kw
    if values > MAX_COLUMN_VALUES:
        raise ValueError(f"a batch of {b} unfolds to {values} input values at layer {rec['name']}, "
                         f"more than the limit {MAX_COLUMN_VALUES}; pass fewer samples")
    a = np.pad(x.numpy(), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = np.lib.stride_tricks.sliding_window_view(a, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    b, c, oh, ow = win.shape[:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(b * oh * ow, c * kh * kw)
    return torch.from_numpy(np.ascontiguousarray(cols)), (b, oh * ow)


def _restore(rec, y, shape_info):
    if rec["kind"] == "linear":
        return y.reshape(*shape_info, y.shape[-1])
    b, p = shape_info
    oh, ow = rec["out_shape"][1:] if "out_shape" in rec else _conv_out(rec)
    return y.reshape(b, p, -1).transpose(1, 2).reshape(b, -1, oh, ow).contiguous()


def _conv_out(rec):
    _, h, w = rec["in_shape"]
    (kh, kw), (sh, sw), (ph, pw) = rec["kernel"], rec["stride"], rec["padding"]
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _quantize_input(rec, cols):
    """Integer input vectors of a matrix layer (float64 tensor of whole numbers)."""
    torch = _torch()
    bits = rec["in_bits"]
    if rec["in_signed"]:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, 2**bits - 1
    return torch.clamp(torch.round(cols / rec["in_scale"]), lo, hi)


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

    Calibration and run batches must be finite numbers; a batch that unfolds
    to more than ``MAX_COLUMN_VALUES`` (2**27) input values at a layer, or a
    program of more than ``MAX_OPS`` (2**20) ops, raises ValueError before
    the work. Crossbar reads obey the simulator's limits
    (:func:`airchitect.targets.cim.program`).
    options
        Crossbar fields and device fields (``d2d_sigma``, ``c2c_sigma``,
        ``r_on_ohm``, ``r_off_ohm``).
    """
    torch = _torch()
    device = {k: options.pop(k) for k in list(options) if k in functional._DEVICE_FIELDS}
    functional.Device(**device)
    cfg = make_config(config, **options)
    if cfg.mapping not in INTEGER_MAPPINGS:
        raise ValueError(f"mapping must be one of {', '.join(INTEGER_MAPPINGS)} to compile a network")
    if isinstance(adc_range, str):
        check_choice("adc_range", adc_range, functional.ADC_RANGES)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    layers = _flatten_module(module)
    records = [(layer, r) for i, layer in enumerate(layers) if (r := _describe(layer, i)) is not None]
    matrices = sum(r["kind"] in MATRIX_KINDS for _, r in records)
    if matrices == 0:
        raise ValueError("module has no Conv2d or Linear layer to map onto crossbars")
    bit_list = iter(_check_bits(bits, matrices))
    x = torch.as_tensor(_check_batch("calibration", calibration), dtype=torch.float64)
    x_first = x
    out = []
    with torch.no_grad(), _OneThread():
        for layer, rec in records:
            rec["in_shape"] = list(x.shape[1:])
            if rec["kind"] in MATRIX_KINDS:
                w_bits, in_bits = next(bit_list)
                _quantize_layer(rec, layer, x, w_bits, in_bits)
                x = _float_layer(rec, layer, x)
            else:
                x = _digital(rec, x)
            rec["out_shape"] = list(x.shape[1:])
            out.append(rec)
    prog = CrossbarProgram(out, cfg, device, adc_range, seed)
    if adc_range == "calibrated" and cfg.adc_bits is not None:
        prog._calibrate(x_first)
    return prog


def _check_batch(name, value):
    """``value`` as a float64 array of finite numbers with a batch axis."""
    arr = np.asarray(value)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be finite numbers (batch first), got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim < 1 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch (batch first), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite numbers, got {arr[~np.isfinite(arr)].ravel()[0]}")
    return arr


def _float_layer(rec, layer, x):
    F = _torch().nn.functional
    w = layer.weight.detach().double()
    b = None if layer.bias is None else layer.bias.detach().double()
    if rec["kind"] == "linear":
        return F.linear(x, w, b)
    return F.conv2d(x, w, b, stride=rec["stride"], padding=rec["padding"])


def _quantize_layer(rec, layer, x, w_bits, in_bits):
    torch = _torch()
    W = layer.weight.detach().double().reshape(layer.weight.shape[0], -1)
    top = float(W.abs().max())
    w_scale = top / (2 ** (w_bits - 1) - 1) if top > 0 else 1.0
    W_int = torch.clamp(torch.round(W / w_scale), -(2 ** (w_bits - 1)), 2 ** (w_bits - 1) - 1)
    cols, _ = _columns(rec, x)
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


class CrossbarProgram:
    """A compiled network: layer records, crossbar ops and their costs.

    Attributes: ``layers`` (list of dicts), ``ops`` (list of dicts in
    execution order), ``config`` (:class:`CrossbarConfig`), ``device``
    (dict), ``adc_range``, ``seed``, ``cost`` (DataFrame per matrix layer),
    ``latency_us`` and ``energy_pj`` (per inference, layer by layer).
    """

    def __init__(self, layers, config, device, adc_range, seed):
        self.layers, self.config, self.device = layers, config, dict(device)
        self.adc_range, self.seed = adc_range, seed
        self.adc_calibration = None
        self._crossbars = None
        self._cost_layers()
        self._check_ops()
        self.ops = self._emit_ops()

    # -- cost and ops ------------------------------------------------------
    def _matrix_layers(self):
        return [r for r in self.layers if r["kind"] in MATRIX_KINDS]

    def _cost_layers(self):
        mats = self._matrix_layers()
        P = np.array([_vectors(r) for r in mats])
        df = simulate(P, [r["n"] for r in mats], [r["m"] for r in mats], [r["w_bits"] for r in mats],
                      [r["in_bits"] for r in mats], **self.config.to_dict())
        for i, key in enumerate(("layer", "P", "n", "m", "w_bits", "in_bits")):
            df.insert(i, key, P if key == "P" else [r["name" if key == "layer" else key] for r in mats])
        self.cost = df
        for r, (_, row) in zip(mats, df.iterrows()):
            r.update({k: int(row[k]) for k in ("rows", "cols", "row_tiles", "col_tiles", "tiles", "S_in",
                                               "phases", "executions")})
            r.update({"latency_us": float(row.latency_us), "energy_pj": float(row.energy_pj)})
        self.latency_us = float(df.latency_us.sum())
        self.energy_pj = float(df.energy_pj.sum())

    def _check_ops(self):
        """Raise ValueError before emitting more than ``MAX_OPS`` ops."""
        mats = self._matrix_layers()
        count = len(self.layers) - len(mats) + sum(2 * r["tiles"] * self.config.duplication + 1 for r in mats)
        if count > MAX_OPS:
            raise ValueError(f"the program would hold {count} ops (2 per tile and copy), more than the "
                             f"limit {MAX_OPS}; use larger crossbars or less duplication")

    def _emit_ops(self):
        cfg = self.config
        ops, prev, xbar = [], None, 0
        for rec in self.layers:
            if rec["kind"] not in MATRIX_KINDS:
                ops.append({"id": len(ops), "op": rec["kind"], "layer": rec["name"],
                            "deps": [] if prev is None else [prev]})
                prev = ops[-1]["id"]
                continue
            copies = cfg.duplication
            P = _vectors(rec)
            mvm_ids = []
            for copy in range(copies):
                vectors = len(range(copy, P, copies))
                for rt in range(rec["row_tiles"]):
                    for ct in range(rec["col_tiles"]):
                        rows = [rt * cfg.xbar_rows, min((rt + 1) * cfg.xbar_rows, rec["rows"])]
                        cols = [ct * cfg.xbar_cols, min((ct + 1) * cfg.xbar_cols, rec["cols"])]
                        wid = len(ops)
                        ops.append({"id": wid, "op": "write", "layer": rec["name"], "xbar": xbar,
                                    "copy": copy, "row_tile": rt, "col_tile": ct, "rows": rows,
                                    "cols": cols, "deps": []})
                        active = cfg.active_rows or cfg.xbar_rows
                        reads = -(-(rows[1] - rows[0]) // active)
                        ops.append({"id": wid + 1, "op": "mvm", "layer": rec["name"], "xbar": xbar,
                                    "vectors": vectors, "slices": rec["S_in"], "phases": rec["phases"],
                                    "reads_per_slice": reads,
                                    "deps": [wid] + ([] if prev is None else [prev])})
                        mvm_ids.append(wid + 1)
                        xbar += 1
            ops.append({"id": len(ops), "op": "shift_add", "layer": rec["name"], "deps": mvm_ids})
            prev = ops[-1]["id"]
        return ops

    @property
    def n_crossbars(self):
        """Crossbars the program writes (weight-stationary: one per tile and copy)."""
        return sum(op["op"] == "write" for op in self.ops)

    # -- execution ---------------------------------------------------------
    def _programmed(self):
        if self._crossbars is None:
            self._crossbars = [
                functional.program(np.asarray(r["weight"], dtype=np.int64), self.config,
                                   w_bits=r["w_bits"], adc_range=self.adc_range, seed=self.seed + i,
                                   **self.device)
                for i, r in enumerate(self._matrix_layers())
            ]
            for xb, calib in zip(self._crossbars, self.adc_calibration or []):
                xb.calibration = {int(k): float(v) for k, v in calib.items()}
        return self._crossbars

    def _calibrate(self, x):
        self._walk(x, mode="calibrate")
        self.adc_calibration = [dict(xb.calibration) for xb in self._crossbars]

    def run(self, x):
        """Execute the program on the simulated crossbars; float64 numpy outputs."""
        return self._walk(self._input(x), mode="crossbar").numpy()

    def reference(self, x, quantized=True):
        """The same network in torch: quantised exactly as compiled, or in float."""
        return self._walk(self._input(x), mode="quantized" if quantized else "float")

    def _input(self, x):
        torch = _torch()
        x = torch.as_tensor(_check_batch("x", x), dtype=torch.float64)
        if list(x.shape[1:]) != self.layers[0]["in_shape"]:
            raise ValueError(f"x must have shape (batch, {', '.join(map(str, self.layers[0]['in_shape']))})")
        return x

    def _walk(self, x, mode):
        torch = _torch()
        xbars = self._programmed() if mode in ("crossbar", "calibrate") else None
        k = 0
        with torch.no_grad(), _OneThread():
            for rec in self.layers:
                if rec["kind"] not in MATRIX_KINDS:
                    x = _digital(rec, x)
                    continue
                cols, info = _columns(rec, x)
                W = torch.tensor(rec["weight"], dtype=torch.float64)
                bias = None if rec["bias"] is None else torch.tensor(rec["bias"], dtype=torch.float64)
                if mode == "float":
                    y = cols @ (W * rec["w_scale"]).T
                else:
                    q = _quantize_input(rec, cols)
                    if mode == "quantized":
                        acc = q @ W.T
                    elif mode == "calibrate":
                        xbars[k].calibrate(q.numpy().astype(np.int64))
                        acc = q @ W.T
                    else:
                        acc = torch.from_numpy(xbars[k].mvm(q.numpy().astype(np.int64), in_bits=rec["in_bits"]))
                    y = acc * (rec["w_scale"] * rec["in_scale"])
                if bias is not None:
                    y = y + bias
                x = _restore(rec, y, info)
                k += 1
        return x

    def evaluate(self, x, labels=None):
        """Crossbar outputs against the float and quantised models, with costs.

        Returns a dict: ``rel_error_vs_float`` and ``rel_error_vs_quantized``
        (``||y - y_ref|| / ||y_ref||`` over all outputs), ``latency_us`` and
        ``energy_pj`` per inference, and with ``labels`` the accuracies
        ``float_accuracy``, ``quantized_accuracy``, ``crossbar_accuracy``.
        """
        torch = _torch()
        y = torch.from_numpy(self.run(x))
        yf, yq = self.reference(x, quantized=False), self.reference(x)
        out = {
            "rel_error_vs_float": float((y - yf).norm() / yf.norm()),
            "rel_error_vs_quantized": float((y - yq).norm() / yq.norm()),
            "latency_us": self.latency_us,
            "energy_pj": self.energy_pj,
            "crossbars": self.n_crossbars,
        }
        if labels is not None:
            labels = torch.as_tensor(np.asarray(labels))
            for name, logits in (("float", yf), ("quantized", yq), ("crossbar", y)):
                out[f"{name}_accuracy"] = float((logits.argmax(dim=1) == labels).double().mean())
        return out

    # -- serialisation -----------------------------------------------------
    def to_dict(self, include_weights=True):
        """The program as plain JSON-serialisable data."""
        layers = [dict(r) for r in self.layers]
        if not include_weights:
            for r in layers:
                r.pop("weight", None)
                r.pop("bias", None)
        return {"format": "airchitect-cim-program", "version": FORMAT_VERSION,
                "config": self.config.to_dict(), "device": self.device, "adc_range": self.adc_range,
                "seed": self.seed, "adc_calibration": self.adc_calibration, "latency_us": self.latency_us, "energy_pj": self.energy_pj,
                "layers": layers, "ops": self.ops}

    def to_json(self, include_weights=True):
        return json.dumps(self.to_dict(include_weights))

    def save(self, path):
        """Write the program as JSON (under a temporary name, then renamed); return ``path``."""
        from airchitect.data.store import write_atomic

        write_atomic(path, self.to_json().encode())
        return path

    @classmethod
    def from_dict(cls, data):
        """Rebuild a program (with weights) from :meth:`to_dict` output."""
        if data.get("format") != "airchitect-cim-program" or data.get("version") != FORMAT_VERSION:
            raise ValueError("not an airchitect cim program (format/version mismatch)")
        layers = [dict(r) for r in data["layers"]]
        if any(r["kind"] in MATRIX_KINDS and "weight" not in r for r in layers):
            raise ValueError("program was saved without weights; it cannot be run")
        prog = cls(layers, CrossbarConfig(**data["config"]), data["device"], data["adc_range"], data["seed"])
        prog.adc_calibration = data.get("adc_calibration")
        return prog

    @classmethod
    def load(cls, path):
        with open(path) as fh:
            return cls.from_dict(json.load(fh))


def _vectors(rec):
    """Matrix-vector products per inference: output pixels (conv) or leading dims (linear)."""
    if rec["kind"] == "conv":
        return int(rec["out_shape"][1] * rec["out_shape"][2])
    return int(np.prod(rec["out_shape"][:-1])) if len(rec["out_shape"]) > 1 else 1

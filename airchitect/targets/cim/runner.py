"""Run a compiled crossbar program: :class:`CrossbarProgram` and the layer steps it shares with the compiler.

A program (built by :func:`airchitect.targets.cim.compiler.compile`) holds
one record per layer, in execution order, each naming the records it reads
(``inputs``; ``"input"`` is the network input), so residual additions and
concatenations are part of the graph; every crossbar (conv/linear) record
carries its own crossbar configuration (``config``). The crossbar ops
follow in execution order.
:meth:`CrossbarProgram.run` executes it on the functional simulator
(:func:`airchitect.targets.cim.program`): each layer's tiles are read as one
batched call whose row tiling, ADC and shift-and-add are those of the ops.
:meth:`CrossbarProgram.reference` runs the same quantised network in torch
(``quantized=True``) or the float model; :meth:`CrossbarProgram.evaluate`
reports error, accuracy and the cost model's latency (us) and energy (pJ).
Programs are saved as JSON (:meth:`CrossbarProgram.save`, :meth:`CrossbarProgram.load`).
"""

from __future__ import annotations

import json

import numpy as np

from airchitect._files import write_atomic
from airchitect._math import ceil_div
from airchitect._threads import torch_one_thread
from airchitect.targets.cim import functional
from airchitect.targets.cim.config import CrossbarConfig
from airchitect.targets.cim.cost import simulate

MATRIX_KINDS = ("conv", "linear")
FORMAT_VERSION = 2
#: The name of the network input in the records' ``inputs``.
INPUT = "input"
#: Largest number of ops (writes, MVMs, shift-and-adds, digital layers) a program may hold.
MAX_OPS = 2**20
#: Largest number of input-vector values (vectors x n) one matrix layer may unfold from a batch.
MAX_COLUMN_VALUES = 2**27


def load_torch():
    """The ``torch`` module, imported on first use."""
    import torch

    return torch


def run_graph(records, x, matrix, visit=None):
    """Run ``x`` through the layer graph ``records`` (each names its ``inputs``): a
    crossbar-mapped layer (:data:`MATRIX_KINDS`) through ``matrix(rec, x)``, the others
    digitally, then ``visit(rec, xs, out)`` if given; returns the last layer's output.
    Values are dropped once their last reader has run, so memory stays at the live
    activations of the graph."""
    last_use = {name: i for i, rec in enumerate(records) for name in rec["inputs"]}
    values, out = {INPUT: x}, x
    with load_torch().no_grad(), torch_one_thread():
        for i, rec in enumerate(records):
            xs = [values[name] for name in rec["inputs"]]
            out = matrix(rec, xs[0]) if rec["kind"] in MATRIX_KINDS else digital_layer(rec, xs)
            if visit is not None:
                visit(rec, xs, out)
            for name in rec["inputs"]:
                if last_use[name] == i:
                    values.pop(name, None)
            values[rec["name"]] = out
    return out


def digital_layer(rec, xs):
    """Apply a digital (non-matrix) layer to its float64 input tensors ``xs`` (a list)."""
    torch = load_torch()
    F = torch.nn.functional
    kind, x = rec["kind"], xs[0]
    if kind == "add":
        return xs[0] + xs[1]
    if kind == "cat":
        return torch.cat(xs, dim=rec["dim"])
    if kind == "relu":
        return F.relu(x)
    if kind == "hardtanh":
        return F.hardtanh(x, rec["min"], rec["max"])
    if kind == "leaky_relu":
        return F.leaky_relu(x, rec["slope"])
    if kind == "sigmoid":
        return torch.sigmoid(x)
    if kind == "tanh":
        return torch.tanh(x)
    if kind == "silu":
        return F.silu(x)
    if kind == "batchnorm":
        shape = (1, -1) + (1,) * (x.dim() - 2)
        scale = torch.tensor(rec["scale"], dtype=torch.float64).reshape(shape)
        return x * scale + torch.tensor(rec["shift"], dtype=torch.float64).reshape(shape)
    if kind == "maxpool":
        return F.max_pool2d(x, rec["kernel"], rec["stride"], rec["padding"])
    if kind == "avgpool":
        return F.avg_pool2d(x, rec["kernel"], rec["stride"], rec["padding"])
    return x.flatten(rec["start_dim"])


def input_columns(rec, x):
    """Input vectors of a matrix layer: (vectors, n) plus what reshapes the output."""
    torch = load_torch()
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
    """Layer outputs ``y`` (vectors, m) back in the layer's output shape."""
    if rec["kind"] == "linear":
        return y.reshape(*shape_info, y.shape[-1])
    b, p = shape_info
    oh, ow = rec["out_shape"][1:] if "out_shape" in rec else _conv_out(rec)
    return y.reshape(b, p, -1).transpose(1, 2).reshape(b, -1, oh, ow).contiguous()


def _conv_out(rec):
    """Output height and width (pixels) of conv layer ``rec``."""
    _, h, w = rec["in_shape"]
    (kh, kw), (sh, sw), (ph, pw) = rec["kernel"], rec["stride"], rec["padding"]
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _quantize_input(rec, cols):
    """Integer input vectors of a matrix layer (float64 tensor of whole numbers)."""
    torch = load_torch()
    bits = rec["in_bits"]
    if rec["in_signed"]:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, 2**bits - 1
    return torch.clamp(torch.round(cols / rec["in_scale"]), lo, hi)


def check_batch(name, value):
    """``value`` as a float64 array of finite numbers with a batch axis."""
    arr = functional.number_array(name, value, " (batch first)")
    if arr.ndim < 1 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch (batch first), got shape {arr.shape}")
    return functional.check_finite(name, arr)


class CrossbarProgram:
    """A compiled network: layer records, crossbar ops and their costs.

    Attributes: ``layers`` (list of dicts, execution order), ``ops`` (list of
    dicts in execution order), ``configs`` (one
    :class:`~airchitect.targets.cim.CrossbarConfig` per conv/linear layer),
    ``config`` (the configuration every such layer shares, or None when they
    differ), ``device`` (dict), ``adc_range``, ``seed``, ``input_shape``
    (one sample), ``cost`` (DataFrame per matrix layer), ``latency_us`` and
    ``energy_pj`` (per inference, layer by layer).
    """

    def __init__(self, layers, device, adc_range, seed, input_shape):
        self.layers, self.device = layers, dict(device)
        self.adc_range, self.seed = adc_range, seed
        self.input_shape = [int(v) for v in input_shape]
        self.configs = [CrossbarConfig(**r["config"]) for r in self._matrix_layers()]
        self.config = self.configs[0] if all(c == self.configs[0] for c in self.configs) else None
        self.adc_calibration = None
        self._crossbars = None
        self._cost_layers()
        self._check_ops()
        self.ops = self._emit_ops()

    # -- cost and ops ------------------------------------------------------
    def _matrix_layers(self):
        """The Conv2d and Linear layer records, in order."""
        return [r for r in self.layers if r["kind"] in MATRIX_KINDS]

    def _cost_layers(self):
        """Cost-model rows per matrix layer (``cost``), copied into the records; totals in us and pJ.

        Layers that share a configuration are costed in one vectorised call.
        """
        import pandas as pd

        mats = self._matrix_layers()
        P = np.array([_vectors(r) for r in mats])
        parts = []
        for cfg in dict.fromkeys(self.configs):
            idx = [i for i, c in enumerate(self.configs) if c == cfg]
            part = simulate(P[idx], [mats[i]["n"] for i in idx], [mats[i]["m"] for i in idx],
                            [mats[i]["w_bits"] for i in idx], [mats[i]["in_bits"] for i in idx],
                            **cfg.to_dict())
            parts.append(part.set_axis(idx))
        df = pd.concat(parts).sort_index().reset_index(drop=True)
        columns = {"layer": [r["name"] for r in mats], "P": P, **{k: [r[k] for r in mats] for k in
                   ("n", "m", "w_bits", "in_bits")},
                   "xbar_rows": [c.xbar_rows for c in self.configs], "xbar_cols": [c.xbar_cols for c in self.configs],
                   "active_rows": [c.active_rows or c.xbar_rows for c in self.configs],
                   **{k: [getattr(c, k) for c in self.configs] for k in ("cell_bits", "dac_bits", "mapping",
                                                                         "duplication")}}
        for i, (key, values) in enumerate(columns.items()):
            df.insert(i, key, values)
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
        count = len(self.layers) - len(mats) + sum(2 * r["tiles"] * c.duplication + 1
                                                   for r, c in zip(mats, self.configs))
        if count > MAX_OPS:
            raise ValueError(f"the program would hold {count} ops (2 per tile and copy), more than the "
                             f"limit {MAX_OPS}; use larger crossbars or less duplication")

    def _emit_ops(self):
        """The ops in execution order: digital layers, and per matrix layer its tiles and a shift-and-add.

        An op depends on the last op of every layer it reads (a write on nothing).
        """
        ops, last, xbar = [], {}, 0
        configs = iter(self.configs)
        for rec in self.layers:
            prev = [last[i] for i in rec["inputs"] if i in last]
            if rec["kind"] not in MATRIX_KINDS:
                ops.append({"id": len(ops), "op": rec["kind"], "layer": rec["name"], "deps": prev})
            else:
                mvm_ids, xbar = self._tile_ops(rec, next(configs), ops, prev, xbar)
                ops.append({"id": len(ops), "op": "shift_add", "layer": rec["name"], "deps": mvm_ids})
            last[rec["name"]] = ops[-1]["id"]
        return ops

    def _tile_ops(self, rec, cfg, ops, prev, xbar):
        """Append a write and an MVM per tile and copy of ``rec`` to ``ops``; return the MVM ids and the next crossbar."""
        copies, P = cfg.duplication, _vectors(rec)
        active = cfg.active_rows or cfg.xbar_rows
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
                    reads = ceil_div(rows[1] - rows[0], active)
                    ops.append({"id": wid + 1, "op": "mvm", "layer": rec["name"], "xbar": xbar,
                                "vectors": vectors, "slices": rec["S_in"], "phases": rec["phases"],
                                "reads_per_slice": reads, "deps": [wid] + prev})
                    mvm_ids.append(wid + 1)
                    xbar += 1
        return mvm_ids, xbar

    @property
    def n_crossbars(self):
        """Crossbars the program writes (weight-stationary: one per tile and copy)."""
        return sum(op["op"] == "write" for op in self.ops)

    # -- execution ---------------------------------------------------------
    def _programmed(self):
        """One programmed :class:`~airchitect.targets.cim.CrossbarLayer` per matrix layer, built on first use."""
        if self._crossbars is None:
            self._crossbars = [
                functional.program(np.asarray(r["weight"], dtype=np.int64), cfg,
                                   w_bits=r["w_bits"], adc_range=self.adc_range, seed=self.seed + i,
                                   **self.device)
                for i, (r, cfg) in enumerate(zip(self._matrix_layers(), self.configs))
            ]
            for xb, calib in zip(self._crossbars, self.adc_calibration or []):
                xb.calibration = {int(k): float(v) for k, v in calib.items()}
        return self._crossbars

    def _calibrate(self, x):
        """Record every ADC's largest column sum on the batch ``x`` (for ``adc_range="calibrated"``)."""
        self._walk(x, mode="calibrate")
        self.adc_calibration = [dict(xb.calibration) for xb in self._crossbars]

    def run(self, x):
        """Execute the program on the simulated crossbars; float64 numpy outputs."""
        return self._walk(self._input(x), mode="crossbar").numpy()

    def reference(self, x, quantized=True):
        """The same network in torch (float64): quantised exactly as compiled, or the float model.

        The float model is the compiled module itself (BatchNorm folded, which is
        exact algebra), with float weights and unquantised activations.
        """
        return self._walk(self._input(x), mode="quantized" if quantized else "float")

    def _input(self, x):
        """``x`` as a float64 tensor, checked against the compiled input shape."""
        torch = load_torch()
        x = torch.as_tensor(check_batch("x", x), dtype=torch.float64)
        if list(x.shape[1:]) != self.input_shape:
            raise ValueError(f"x must have shape (batch, {', '.join(map(str, self.input_shape))})")
        return x

    def _walk(self, x, mode):
        """Run ``x`` through the network: ``mode`` is "float", "quantized", "crossbar" or "calibrate".

        Values are dropped once their last reader has run, so memory stays at
        the live activations of the graph.
        """
        xbars = iter(self._programmed()) if mode in ("crossbar", "calibrate") else None

        def matrix(rec, x):
            return _matrix_layer(rec, x, mode, None if xbars is None else next(xbars))

        return run_graph(self.layers, x, matrix)

    def evaluate(self, x, labels=None):
        """Crossbar outputs against the float and quantised models, with costs.

        Returns a dict: ``rel_error_vs_float`` and ``rel_error_vs_quantized``
        (``||y - y_ref|| / ||y_ref||`` over all outputs; ``||y - y_ref||``
        when ``y_ref`` is all zeros),
        ``latency_us`` and ``energy_pj`` per inference, ``crossbars``, and with
        ``labels`` the accuracies ``float_accuracy`` (the float model),
        ``quantized_accuracy`` and ``crossbar_accuracy``.
        """
        torch = load_torch()
        y = torch.from_numpy(self.run(x))
        yf, yq = self.reference(x, quantized=False), self.reference(x)
        out = {
            "rel_error_vs_float": _rel_error(y, yf),
            "rel_error_vs_quantized": _rel_error(y, yq),
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
                for key in ("weight", "float_weight", "bias"):
                    r.pop(key, None)
        return {"format": "airchitect-cim-program", "version": FORMAT_VERSION,
                "input_shape": self.input_shape,
                "config": None if self.config is None else self.config.to_dict(), "device": self.device,
                "adc_range": self.adc_range, "seed": self.seed, "adc_calibration": self.adc_calibration,
                "latency_us": self.latency_us, "energy_pj": self.energy_pj, "layers": layers, "ops": self.ops}

    def to_json(self, include_weights=True):
        """The program as a JSON string (:meth:`to_dict`)."""
        return json.dumps(self.to_dict(include_weights))

    def save(self, path):
        """Write the program as JSON (under a temporary name, then renamed); return ``path``."""
        write_atomic(path, self.to_json().encode())
        return path

    @classmethod
    def from_dict(cls, data):
        """Rebuild a program (with weights) from :meth:`to_dict` output."""
        if data.get("format") != "airchitect-cim-program" or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not an airchitect cim program of version {FORMAT_VERSION} "
                             "(format/version mismatch); compile the model again")
        layers = [dict(r) for r in data["layers"]]
        if any(r["kind"] in MATRIX_KINDS and "weight" not in r for r in layers):
            raise ValueError("program was saved without weights; it cannot be run")
        prog = cls(layers, data["device"], data["adc_range"], data["seed"], data["input_shape"])
        prog.adc_calibration = data.get("adc_calibration")
        return prog

    @classmethod
    def load(cls, path):
        """Read a program written by :meth:`save`."""
        with open(path) as fh:
            return cls.from_dict(json.load(fh))


def _rel_error(y, ref):
    """``||y - ref|| / ||ref||`` as a float (``||y - ref||`` when ``ref`` is all zeros: never NaN)."""
    diff, norm = float((y - ref).norm()), float(ref.norm())
    return diff / norm if norm > 0 else diff


def _matrix_layer(rec, x, mode, xbar):
    """Output of matrix layer ``rec`` for input ``x``, in float, in integers or on the crossbars ``xbar``."""
    torch = load_torch()
    cols, info = input_columns(rec, x)
    bias = None if rec["bias"] is None else torch.tensor(rec["bias"], dtype=torch.float64)
    if mode == "float":
        y = cols @ torch.tensor(rec["float_weight"], dtype=torch.float64).T
    else:
        W = torch.tensor(rec["weight"], dtype=torch.float64)
        q = _quantize_input(rec, cols)
        if mode == "quantized":
            acc = q @ W.T
        elif mode == "calibrate":
            xbar.calibrate(q.numpy().astype(np.int64))
            acc = q @ W.T
        else:
            acc = torch.from_numpy(xbar.mvm(q.numpy().astype(np.int64), in_bits=rec["in_bits"]))
        y = acc * (rec["w_scale"] * rec["in_scale"])
    if bias is not None:
        y = y + bias
    return _restore(rec, y, info)


def _vectors(rec):
    """Matrix-vector products per inference: output pixels (conv) or leading dims (linear)."""
    if rec["kind"] == "conv":
        return int(rec["out_shape"][1] * rec["out_shape"][2])
    return int(np.prod(rec["out_shape"][:-1])) if len(rec["out_shape"]) > 1 else 1

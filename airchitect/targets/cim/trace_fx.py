"""Turn a PyTorch model into the compiler's layer graph with ``torch.fx``.

:func:`trace` symbolically traces any ``nn.Module`` (``Sequential`` or a
``forward`` with branches) and returns one record per operation, in
execution (topological) order. Each record is a plain dict: ``kind``,
``name`` and ``inputs`` (the names of the records it reads; ``"input"`` is
the network input), plus the hyper-parameters of its kind. Matrix records
(``conv``, ``linear``) also carry their float weights (folded with a
following BatchNorm, see :mod:`airchitect.targets.cim.fold`) in the second
item of each pair.

Supported (everything else is refused with a TypeError naming the node and
its op):

- crossbar layers: ``nn.Conv2d`` (groups 1, dilation 1, integer zero
  padding), ``nn.Linear``;
- ``nn.BatchNorm2d`` / ``nn.BatchNorm1d`` (running statistics): folded into
  the conv/linear before it when that layer feeds nothing else, otherwise a
  digital per-channel ``batchnorm``;
- digital layers: ``relu``, ``hardtanh`` (``ReLU6``), ``leaky_relu``,
  ``sigmoid``, ``tanh``, ``silu`` (modules, functions and tensor methods);
  ``maxpool`` / ``avgpool`` (``MaxPool2d``, ``AvgPool2d``, their functions
  and the adaptive pools whose output divides the input); ``flatten``
  (``nn.Flatten``, ``torch.flatten``, ``.flatten``, and ``.view`` /
  ``.reshape`` that flatten trailing dimensions); ``add`` of two tensors
  (``+``, ``torch.add``, ``.add``) for residual connections; ``cat``
  (``torch.cat`` along a non-batch dimension);
- skipped: ``Dropout``, ``Identity``, ``.contiguous()``, and the shape
  queries (``.size()``, ``.shape``) that feed a flattening view.

Names: a module call is ``"<qualified name>:<class>"`` (``"0:Conv2d"`` in a
``Sequential``), a function or method call ``"<fx node>:<function>"``
(``"add:add"``). The model runs once on ``example`` (the first two
calibration samples, in eval mode, modes restored after) to learn the shapes.
Work: one trace and one forward pass of two samples.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
>>> [r["name"] for r, _ in trace(net, torch.rand(2, 1, 4, 4))]
['0:Conv2d', '2:ReLU', '3:Flatten', '4:Linear']
"""

from __future__ import annotations

import operator

from airchitect.workloads.trace import forward_error

MATRIX_KINDS = ("conv", "linear")
#: Digital element-wise activations the runner applies in float.
ACTIVATIONS = ("relu", "hardtanh", "leaky_relu", "sigmoid", "tanh", "silu")
INPUT = "input"


def _pair(v):
    """``v`` (an int or a pair) as a list of two ints."""
    return [int(v), int(v)] if isinstance(v, int) else [int(a) for a in v]


def _arg(node, index, name, default=None):
    """Argument ``index`` (positional) or ``name`` (keyword) of an fx node."""
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


class _Refused(TypeError):
    pass


def _refuse(node, why="", module=None):
    target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", node.target)
    if module is not None:
        target = f"{target}:{type(module).__name__}"
    raise _Refused(f"node {node.name!r} ({node.op} {target}) is not supported{': ' + why if why else ''}; "
                   "the compiler takes Conv2d, Linear, BatchNorm, ReLU/ReLU6/LeakyReLU/Sigmoid/Tanh/SiLU, "
                   "max/avg pooling, flatten, add and cat")


def _tables():
    """Function and method targets the tracer understands, by kind."""
    import torch
    import torch.nn.functional as F

    functions = {
        operator.add: "add", torch.add: "add", torch.cat: "cat", torch.concat: "cat",
        torch.flatten: "flatten", torch.reshape: "view", F.relu: "relu", torch.relu: "relu",
        F.relu6: "relu6", F.hardtanh: "hardtanh", F.leaky_relu: "leaky_relu", torch.sigmoid: "sigmoid",
        F.sigmoid: "sigmoid", torch.tanh: "tanh", F.tanh: "tanh", F.silu: "silu",
        F.max_pool2d: "maxpool", F.avg_pool2d: "avgpool", F.adaptive_avg_pool2d: "adaptive_avgpool",
        F.adaptive_max_pool2d: "adaptive_maxpool", F.dropout: "skip",
    }
    methods = {"add": "add", "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "flatten": "flatten",
               "view": "view", "reshape": "view", "contiguous": "skip"}
    return functions, methods


def _shapes(gm, example):
    """Output shape of every node on ``example`` (None for values that are not tensors)."""
    import torch
    from torch import fx

    shapes = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            shapes[n] = tuple(out.shape) if isinstance(out, torch.Tensor) else None
            return out

    modes = {m: m.training for m in gm.modules()}
    dtype = next((p.dtype for p in gm.parameters() if p.is_floating_point()), torch.float32)
    try:
        gm.eval()
        with torch.no_grad():
            Recorder(gm).run(example.to(dtype))
    except Exception as err:  # the user's model fails on this input
        raise forward_error(err, example.shape) from None
    finally:
        for m, mode in modes.items():
            m.train(mode)
    return shapes


def trace(module, example):
    """``[(record, params), ...]`` of ``module`` in execution order (see the module docstring).

    ``example``: a float tensor batch (batch first) the model accepts.
    ``params`` is ``{"weight", "bias"}`` (float64 tensors) for conv/linear
    records, else None. The last record is the network's output.
    """
    from torch import fx, nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if fx.Tracer().is_leaf_module(module, ""):  # a bare nn.Linear, nn.Conv2d, ...: trace it as a call
        module = nn.Sequential(module)
    try:
        gm = fx.symbolic_trace(module)
    except Exception as err:  # data-dependent control flow and the like
        msg = " ".join(str(err).split())[:300]
        raise TypeError(f"module cannot be traced with torch.fx ({type(err).__name__}: {msg}); "
                        "write forward without data-dependent control flow") from None
    shapes = _shapes(gm, example)
    try:
        return _Builder(gm, shapes).build()
    except _Refused as err:
        raise TypeError(str(err)) from None


class _Builder:
    """Walks the fx graph once, building the records."""

    def __init__(self, gm, shapes):
        self.modules = dict(gm.named_modules())
        self.graph, self.shapes = gm.graph, shapes
        self.functions, self.methods = _tables()
        self.source = {}   # fx node -> record name (or INPUT) whose value it is
        self.records = {}  # record name -> (record, params)
        self.order = []
        self.node_of = {}  # record name -> the fx node that computes it

    # -- helpers -------------------------------------------------------------
    def _inputs(self, node, values):
        """Record names of the tensor arguments ``values`` (fx nodes) of ``node``."""
        from torch import fx

        out = []
        for v in values:
            if not isinstance(v, fx.Node):
                _refuse(node, f"argument {v!r} is not a tensor of the network")
            if v not in self.source:
                _refuse(node, f"it reads {v.name!r}, which is not a tensor of the network")
            out.append(self.source[v])
        return out

    def _name(self, node, label):
        name = f"{label}:{getattr(node.target, '__name__', node.target)}" if node.op != "call_module" else label
        if name in self.records or name == INPUT:
            name = f"{name}@{node.name}"
        return name

    def _add(self, node, rec, inputs, params=None, name=None):
        rec = {"kind": rec.pop("kind"), "name": name or self._name(node, node.name), "inputs": inputs, **rec}
        self.records[rec["name"]] = (rec, params)
        self.order.append(rec["name"])
        self.source[node] = rec["name"]
        self.node_of[rec["name"]] = node

    def _ndim(self, node):
        return len(self.shapes[node])

    # -- the walk ------------------------------------------------------------
    def build(self):
        placeholders, output = 0, None
        for node in self.graph.nodes:
            if node.op == "placeholder":
                placeholders += 1
                if placeholders > 1:
                    _refuse(node, "the compiler takes models of one input tensor")
                self.source[node] = INPUT
            elif node.op == "output":
                output = node
            elif node.op == "get_attr":
                _refuse(node, "parameters must belong to Conv2d, Linear or BatchNorm modules")
            elif self.shapes.get(node) is None:
                continue  # a shape query (size, shape, getitem of sizes): read by view nodes only
            elif node.op == "call_module":
                self._module(node)
            elif node.op == "call_function":
                self._call(node, self.functions.get(node.target))
            else:
                self._call(node, self.methods.get(node.target))
        result = output.args[0]
        from torch import fx

        if not isinstance(result, fx.Node) or result not in self.source or self.source[result] == INPUT:
            _refuse(output, "the model must return one tensor computed by its layers")
        return self._live(self.source[result])

    def _live(self, out):
        """The records the output depends on, in order (the output last)."""
        need, stack = {out}, [out]
        while stack:
            for i in self.records[stack.pop()][0]["inputs"]:
                if i != INPUT and i not in need:
                    need.add(i)
                    stack.append(i)
        return [self.records[n] for n in self.order if n in need]

    def _module(self, node):
        from torch import nn

        mod = self.modules[node.target]
        name = self._name(node, f"{node.target}:{type(mod).__name__}")
        if len(node.args) != 1 or node.kwargs:
            _refuse(node, "a module call takes one tensor", mod)
        (x,) = self._inputs(node, node.args)
        if isinstance(mod, (nn.Dropout, nn.Dropout2d, nn.Identity)):
            self.source[node] = x
        elif isinstance(mod, nn.Conv2d):
            if mod.groups != 1 or _pair(mod.dilation) != [1, 1] or isinstance(mod.padding, str) \
                    or mod.padding_mode != "zeros":
                _refuse(node, "only groups=1, dilation=1 and integer zero padding are supported", mod)
            rec = {"kind": "conv", "kernel": _pair(mod.kernel_size), "stride": _pair(mod.stride),
                   "padding": _pair(mod.padding)}
            self._add(node, rec, [x], {"weight": mod.weight.detach().double(),
                                       "bias": None if mod.bias is None else mod.bias.detach().double()}, name)
        elif isinstance(mod, nn.Linear):
            self._add(node, {"kind": "linear"}, [x], {"weight": mod.weight.detach().double(),
                      "bias": None if mod.bias is None else mod.bias.detach().double()}, name)
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            self._batchnorm(node, mod, x, name)
        elif isinstance(mod, nn.ReLU):
            self._add(node, {"kind": "relu"}, [x], name=name)
        elif isinstance(mod, nn.Hardtanh):  # ReLU6 included
            self._add(node, {"kind": "hardtanh", "min": float(mod.min_val), "max": float(mod.max_val)}, [x],
                      name=name)
        elif isinstance(mod, nn.LeakyReLU):
            self._add(node, {"kind": "leaky_relu", "slope": float(mod.negative_slope)}, [x], name=name)
        elif isinstance(mod, (nn.Sigmoid, nn.Tanh, nn.SiLU)):
            kind = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.SiLU: "silu"}[type(mod)]
            self._add(node, {"kind": kind}, [x], name=name)
        elif isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
            kind = "maxpool" if isinstance(mod, nn.MaxPool2d) else "avgpool"
            self._pool(node, kind, mod.kernel_size, mod.stride, mod.padding, getattr(mod, "dilation", 1),
                       mod.ceil_mode, getattr(mod, "count_include_pad", True),
                       getattr(mod, "divisor_override", None) or getattr(mod, "return_indices", False), x, name)
        elif isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            kind = "avgpool" if isinstance(mod, nn.AdaptiveAvgPool2d) else "maxpool"
            self._adaptive(node, kind, mod.output_size, x, name)
        elif isinstance(mod, nn.Flatten):
            self._flatten(node, mod.start_dim, mod.end_dim, x, name)
        else:
            _refuse(node, module=mod)

    def _call(self, node, kind):
        if kind is None:
            _refuse(node)
        if kind == "add":
            if len(node.args) != 2 or node.kwargs:
                _refuse(node, "add takes two tensors (no alpha)")
            self._add(node, {"kind": "add"}, self._inputs(node, node.args))
            return
        if kind == "cat":
            tensors = _arg(node, 0, "tensors")
            dim = _arg(node, 1, "dim", 0)
            if not isinstance(tensors, (list, tuple)) or not isinstance(dim, int):
                _refuse(node, "cat takes a list of tensors and an integer dim")
            ndim = self._ndim(node)
            dim = dim % ndim
            if dim == 0:
                _refuse(node, "cat along the batch dimension")
            self._add(node, {"kind": "cat", "dim": dim}, self._inputs(node, tensors))
            return
        (x,) = self._inputs(node, node.args[:1])
        if kind == "skip":
            self.source[node] = x
        elif kind in ("relu", "sigmoid", "tanh", "silu"):
            self._add(node, {"kind": kind}, [x])
        elif kind == "relu6":
            self._add(node, {"kind": "hardtanh", "min": 0.0, "max": 6.0}, [x])
        elif kind == "hardtanh":
            self._add(node, {"kind": "hardtanh", "min": float(_arg(node, 1, "min_val", -1.0)),
                             "max": float(_arg(node, 2, "max_val", 1.0))}, [x])
        elif kind == "leaky_relu":
            self._add(node, {"kind": "leaky_relu", "slope": float(_arg(node, 1, "negative_slope", 0.01))}, [x])
        elif kind == "maxpool":
            self._pool(node, "maxpool", _arg(node, 1, "kernel_size"), _arg(node, 2, "stride"),
                       _arg(node, 3, "padding", 0), _arg(node, 4, "dilation", 1), _arg(node, 5, "ceil_mode", False),
                       True, _arg(node, 6, "return_indices", False), x)
        elif kind == "avgpool":
            self._pool(node, "avgpool", _arg(node, 1, "kernel_size"), _arg(node, 2, "stride"),
                       _arg(node, 3, "padding", 0), 1, _arg(node, 4, "ceil_mode", False),
                       _arg(node, 5, "count_include_pad", True), _arg(node, 6, "divisor_override"), x)
        elif kind.startswith("adaptive_"):
            self._adaptive(node, kind[len("adaptive_"):], _arg(node, 1, "output_size"), x)
        elif kind == "flatten":
            self._flatten(node, _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1), x)
        else:  # view / reshape: a flatten of trailing dimensions, seen from the shapes
            before, after = self.shapes[node.args[0]], self.shapes[node]
            k = len(after) - 1
            if k < 1 or before[:k] != after[:k] or len(before) < k:
                _refuse(node, f"only views that flatten trailing dimensions ({before} -> {after})")
            self._add(node, {"kind": "flatten", "start_dim": k}, [x])

    def _batchnorm(self, node, mod, x, name):
        from torch import nn

        from airchitect.targets.cim.fold import batchnorm_affine, fold_batchnorm

        prev = self.records.get(x)
        ndim = len(self.shapes[node])
        foldable = (prev is not None and list(self.node_of[x].users) == [node]
                    and ((prev[0]["kind"] == "conv" and isinstance(mod, nn.BatchNorm2d))
                         or (prev[0]["kind"] == "linear" and isinstance(mod, nn.BatchNorm1d) and ndim == 2)))
        if foldable:
            rec, params = prev
            params["weight"], params["bias"] = fold_batchnorm(params["weight"], params["bias"], mod)
            rec["folded"] = name
            self.source[node] = x
            return
        scale, shift = batchnorm_affine(mod)
        self._add(node, {"kind": "batchnorm", "scale": scale.tolist(), "shift": shift.tolist()}, [x], name=name)

    def _pool(self, node, kind, kernel, stride, padding, dilation, ceil_mode, count_include_pad, extra, x,
              name=None):
        if ceil_mode or _pair(dilation) != [1, 1] or extra:
            _refuse(node, "only dilation=1, ceil_mode=False, no indices or divisor override")
        padding = _pair(padding)
        if kind == "avgpool" and not count_include_pad and padding != [0, 0]:
            _refuse(node, "average pooling with padding must count the padding (count_include_pad=True)")
        stride = kernel if stride is None or stride == [] or stride == () else stride
        self._add(node, {"kind": kind, "kernel": _pair(kernel), "stride": _pair(stride), "padding": padding},
                  [x], name=name)

    def _adaptive(self, node, kind, output_size, x, name=None):
        h, w = self.shapes[node.args[0]][-2:]
        size = [output_size] * 2 if not isinstance(output_size, (list, tuple)) else list(output_size)
        oh, ow = (full if want is None else int(want) for want, full in zip(size, (h, w)))
        if h % oh or w % ow:
            _refuse(node, f"adaptive pooling to {oh}x{ow} must divide the {h}x{w} input")
        self._add(node, {"kind": kind, "kernel": [h // oh, w // ow], "stride": [h // oh, w // ow],
                         "padding": [0, 0]}, [x], name=name)

    def _flatten(self, node, start_dim, end_dim, x, name=None):
        ndim = len(self.shapes[node.args[0]])
        start, end = start_dim % ndim, end_dim % ndim
        if start == 0 or end != ndim - 1:
            _refuse(node, "flatten must keep the batch dimension and end at the last one")
        self._add(node, {"kind": "flatten", "start_dim": start}, [x], name=name)


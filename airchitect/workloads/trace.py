"""Extract the GEMMs of a PyTorch module by tracing one forward pass on the meta device.

The module runs under a ``TorchDispatchMode`` that sees every ATen operator
after PyTorch's own decompositions, so ``nn.Linear``, ``F.linear``, ``@``,
``torch.matmul``, ``F.scaled_dot_product_attention`` and ``nn.Conv2d`` all
arrive as one of ``mm``, ``addmm``, ``bmm``, ``baddbmm`` or ``convolution``.
Nothing is computed and nothing is allocated: meta tensors only carry shapes,
so tracing LLaMA-2-7B takes well under a second.

GEMM conventions (``C[M, N] = A[M, K] @ B[K, N]``, ``count`` identical GEMMs):

* ``conv`` (2-D convolution, im2col): ``M = out_h * out_w * batch``,
  ``N = out_channels / groups``, ``K = in_channels / groups * kh * kw``,
  ``count = groups`` (a depthwise conv is ``channels`` GEMMs with ``N = 1``).
* ``linear`` (a ``mm``/``addmm`` inside an ``nn.Linear``): ``M`` = rows of the
  flattened input (tokens x batch), ``N = out_features``, ``K = in_features``,
  ``count = 1``.
* ``matmul`` (any other ``mm``/``bmm``, e.g. attention's ``Q K^T`` and
  ``A V``): ``M, N, K`` of one matrix product, ``count`` = the batch of the
  ``bmm`` (batch x heads for attention).

Every row is one operator call: a network with 12 layers has 12 ``qk`` rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

#: Columns of every GEMM table, in order.
COLUMNS = (
    "net", "layer", "kind", "M", "N", "K", "count",
    "batch", "in_h", "in_w", "out_h", "out_w", "kh", "kw", "stride", "padding",
    "in_channels", "out_channels", "groups", "inputs",
)

_INT_COLUMNS = COLUMNS[3:19]

#: Input dtypes a module may be traced with, by name: floats for images and
#: features, integers for token ids.
INPUT_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32")


def gemms_from_module(module, example_input_shape, *, dtype=None, net="custom"):
    """Trace ``module`` on the meta device and return its GEMMs as a table.

    Parameters
    ----------
    module : torch.nn.Module
        Any module. It is moved to the meta device for the trace (weights are
        not copied: ``module.to("meta")`` on a module that already lives on
        meta is free; a module with real weights is deep-copied first).
    example_input_shape : tuple of int
        Shape of the single input tensor passed to ``module.forward``,
        e.g. ``(1, 3, 224, 224)`` for an image network.
    dtype : torch.dtype or str, optional
        Input dtype, a ``torch.dtype`` or one of :data:`INPUT_DTYPES` by name;
        default ``torch.float32``. Use ``torch.int64`` (``"int64"``) for token ids.
    net : str
        Value of the ``net`` column.

    Returns
    -------
    pandas.DataFrame
        One row per GEMM-producing operator call, columns :data:`COLUMNS`:
        ``net``, ``layer`` (qualified module name; ``.mmI``/``.bmmI`` appended
        for the I-th product of a call when it is not the first product of a
        leaf module), ``kind`` (``conv``, ``linear`` or ``matmul``), ``M``,
        ``N``, ``K``, ``count``, then the convolution fields ``batch``,
        ``in_h``, ``in_w``, ``out_h``, ``out_w``, ``kh``, ``kw``, ``stride``,
        ``padding`` (along H), ``in_channels``, ``out_channels``, ``groups``.
        For ``linear`` and ``matmul`` rows these describe the same GEMM as a
        1x1 convolution over an ``M x 1`` image: ``in_h = out_h = M``,
        ``in_w = out_w = 1``, ``kh = kw = stride = groups = batch = 1``,
        ``padding = 0``, ``in_channels = K``, ``out_channels = N``.
        ``inputs`` is a tuple of the row indices (within this table) whose
        outputs this row reads, found by following tensors through every
        non-GEMM operator (a data-dependence graph for schedulers).

    Examples
    --------
    >>> import torch
    >>> df = gemms_from_module(torch.nn.Linear(64, 32), (8, 64))
    >>> df[["kind", "M", "N", "K", "count"]].values.tolist()
    [['linear', 8, 32, 64, 1]]
    """
    import copy

    import torch

    from airchitect._checks import check_int

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if isinstance(example_input_shape, (int, np.integer)) or not hasattr(example_input_shape, "__len__"):
        raise TypeError(f"example_input_shape must be a tuple of ints, got {example_input_shape!r}")
    shape = tuple(check_int("example_input_shape", s, 1) for s in example_input_shape)
    if not shape:
        raise ValueError("example_input_shape must have at least one dimension")
    if not _on_meta(module):
        module = copy.deepcopy(module).to("meta")
    x = torch.empty(shape, dtype=input_dtype(dtype), device="meta")
    recorder = _Recorder(module)
    try:
        with torch.no_grad(), recorder:
            module(x)
    except Exception as err:  # the user's model fails on this input
        raise forward_error(err, shape) from None
    finally:
        recorder.remove_hooks()
    return _table(recorder.rows, net)


def input_dtype(dtype, name="dtype"):
    """The ``torch.dtype`` of an input given as ``None`` (float32), a name of
    :data:`INPUT_DTYPES` or one of those dtypes; ``ValueError`` naming the
    argument ``name`` otherwise.

    >>> input_dtype("int64")
    torch.int64
    """
    import torch

    if dtype is None:
        return torch.float32
    given = dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
    if not isinstance(dtype, (str, torch.dtype)) or given not in INPUT_DTYPES:
        raise ValueError(f"{name} must be one of {', '.join(INPUT_DTYPES)}; got {dtype!r}")
    return getattr(torch, given)


def forward_error(err, shape):
    r"""A ``ValueError`` saying that a user's module failed on an input of ``shape``,
    with the first line of its error (at most 300 characters).

    >>> forward_error(RuntimeError("Invalid channel dimensions\nmore"), (1, 1, 8, 8))
    ValueError('module fails on an input of shape (1, 1, 8, 8): RuntimeError: Invalid channel dimensions')
    """
    msg = " ".join((str(err).strip().splitlines() or [""])[0].split())[:300]
    return ValueError(f"module fails on an input of shape {tuple(shape)}: {type(err).__name__}: {msg}")


def _on_meta(module):
    tensors = list(module.parameters()) + list(module.buffers())
    return all(t.device.type == "meta" for t in tensors)


def _table(rows, net):
    df = pd.DataFrame(rows, columns=COLUMNS[1:])
    df.insert(0, "net", net)
    df = df.astype({c: "int64" for c in _INT_COLUMNS})
    df["net"] = df["net"].astype(object)
    return df


def _make_recorder_class():
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    mm_ops = {aten.mm.default, aten.addmm.default}
    bmm_ops = {aten.bmm.default, aten.baddbmm.default}
    other_products = {aten.mv.default, aten.dot.default, aten.addmv.default}

    class Recorder(TorchDispatchMode):
        def __init__(self, module):
            super().__init__()
            self.rows = []
            self.sources = {}
            self.keep = []
            self.stack = []
            self.hooks = []
            for name, sub in module.named_modules():
                self.hooks.append(sub.register_forward_pre_hook(self._enter(name or "model", sub)))
                # the root is named "model" and never counts as a leaf
                self.hooks.append(sub.register_forward_hook(self._leave))

        def _enter(self, name, sub):
            leaf = name != "model" and next(iter(sub.children()), None) is None

            def hook(mod, args):
                self.stack.append([name, leaf, isinstance(mod, torch.nn.Linear), 0])

            return hook

        def _leave(self, mod, args, out):
            self.stack.pop()

        def remove_hooks(self):
            for h in self.hooks:
                h.remove()

        def _sources(self, args):
            found = set()
            for a in args:
                if isinstance(a, torch.Tensor):
                    found |= self.sources.get(id(a), set())
                elif isinstance(a, (list, tuple)):
                    found |= self._sources(a)
            return found

        def _mark(self, out, sources):
            outs = out if isinstance(out, (list, tuple)) else (out,)
            for o in outs:
                if isinstance(o, torch.Tensor):
                    self.sources[id(o)] = sources
                    self.keep.append(o)

        def _name(self, op):
            if not self.stack:
                return f"model.{op}{len(self.rows)}"
            frame = self.stack[-1]
            name, leaf, _, i = frame
            frame[3] += 1
            return name if leaf and i == 0 else f"{name}.{op}{i}"

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            row = None
            if func in mm_ops:
                a, b = args[-2], args[-1]
                linear = bool(self.stack) and self.stack[-1][2]
                row = _product_row("linear" if linear else "matmul", a.shape[0], b.shape[1], a.shape[1], 1)
                reads = self._sources((a,) if linear else (a, b))
                op = "mm"
            elif func in bmm_ops:
                a, b = args[-2], args[-1]
                row = _product_row("matmul", a.shape[1], b.shape[2], a.shape[2], a.shape[0])
                reads = self._sources((a, b))
                op = "bmm"
            elif func is aten.convolution.default:
                row = _conv_row(*args[:9], out)
                reads = self._sources(args[:1])
                op = "conv"
            elif func in other_products:
                warnings.warn(f"gemms_from_module: {func} is not recorded as a GEMM", stacklevel=2)
            if row is None:
                self._mark(out, self._sources(args) | self._sources(tuple((kwargs or {}).values())))
                return out
            if row is not False:
                self.rows.append((self._name(op), *row, tuple(sorted(reads))))
                self._mark(out, {len(self.rows) - 1})
            return out

    return Recorder


_RECORDER = None


def _Recorder(module):
    global _RECORDER
    if _RECORDER is None:
        _RECORDER = _make_recorder_class()
    return _RECORDER(module)


def _product_row(kind, M, N, K, count):
    M, N, K, count = int(M), int(N), int(K), int(count)
    # kind, M, N, K, count, batch, in_h, in_w, out_h, out_w, kh, kw, stride,
    # padding, in_channels, out_channels, groups
    return (kind, M, N, K, count, 1, M, 1, M, 1, 1, 1, 1, 0, K, N, 1)


def _conv_row(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups, out):
    if transposed or x.dim() != 4:
        warnings.warn(
            "gemms_from_module: only 2-D, non-transposed convolutions are recorded; "
            f"skipped a convolution with input shape {tuple(x.shape)}",
            stacklevel=3,
        )
        return False
    batch, in_c, in_h, in_w = (int(v) for v in x.shape)
    out_c, _, kh, kw = (int(v) for v in weight.shape)
    out_h, out_w = int(out.shape[2]), int(out.shape[3])
    g = int(groups)
    M = out_h * out_w * batch
    return ("conv", M, out_c // g, in_c // g * kh * kw, g, batch, in_h, in_w, out_h, out_w,
            kh, kw, int(stride[0]), int(padding[0]), in_c, out_c, g)

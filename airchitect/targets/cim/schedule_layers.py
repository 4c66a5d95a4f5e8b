"""Layer tables for the tiled CIM scheduler.

:func:`layer_table` turns what a user passes to
:func:`airchitect.targets.cim.schedule.schedule` (a layer table from
:func:`airchitect.workloads.network`, a plain GEMM table, a network name or a
PyTorch module) into one row per layer with the geometry the scheduler needs:

* ``n`` inputs and ``m`` outputs of one matrix-vector product (MVM), and
  ``instances`` independent matrices of that shape working side by side
  (the ``count`` column: groups of a grouped convolution, attention heads);
* ``rows`` output rows and ``row_pixels`` MVMs per row and instance
  (``M = rows * row_pixels``); sets are blocks of output rows;
* ``in_rows, kh, stride, padding``: the vertical window that maps output rows
  to input rows (a linear layer over ``M`` tokens is a 1x1 convolution over an
  ``M x 1`` image, so token ``i`` reads token ``i``);
* ``full``: every set reads the whole input (products of two activations and
  tables without geometry);
* ``runtime_weights``: the matrix is an activation (``kind == "matmul"``) and
  is programmed at run time;
* ``inputs``: the layers whose outputs this layer reads (the ``inputs``
  column of a traced table; the previous row when there is none).

>>> import pandas as pd
>>> t = layer_table(pd.DataFrame({"M": [16, 1], "N": [8, 10], "K": [27, 128]}))
>>> t[["n", "m", "rows", "full", "inputs"]].to_dict("list")
{'n': [27, 128], 'm': [8, 10], 'rows': [16, 1], 'full': [True, True], 'inputs': [(), (0,)]}
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

_COLUMNS = ["name", "kind", "n", "m", "instances", "rows", "row_pixels", "in_rows", "kh",
            "stride", "padding", "full", "runtime_weights", "inputs"]


def layer_table(network, input_shape=None, input_dtype=None):
    """Return the scheduler's per-layer table (see the module docstring).

    Parameters
    ----------
    network : pandas.DataFrame, str or torch.nn.Module
        A layer table with at least ``M, N, K`` (one GEMM per row: ``M``
        MVMs of ``K`` inputs and ``N`` outputs, ``count`` of them side by
        side) and optionally the geometry and ``inputs`` columns of
        :data:`airchitect.workloads.COLUMNS`; a name accepted by
        :func:`airchitect.workloads.network`; or a module, traced with
        :func:`airchitect.workloads.gemms_from_module` (``Conv2d``,
        ``Linear`` and matrix products, on the meta device).
    input_shape : tuple of int, optional
        Input shape of a module, e.g. ``(1, 3, 224, 224)``; required for modules.
    input_dtype : str or torch.dtype, optional
        Input dtype of a module: float32 by default, ``"int64"`` for token ids
        (see :data:`airchitect.workloads.trace.INPUT_DTYPES`).
    """
    if isinstance(network, str):
        from airchitect.workloads import network as load_network

        network = load_network(network)
    elif not isinstance(network, pd.DataFrame):
        import torch

        if not isinstance(network, torch.nn.Module):
            raise TypeError("network must be a layer table (pandas.DataFrame), a network name "
                            f"or a torch.nn.Module; got {type(network).__name__}")
        if input_shape is None:
            raise ValueError("input_shape is required for a torch.nn.Module, e.g. (1, 3, 224, 224)")
        from airchitect.workloads.trace import gemms_from_module, input_dtype as torch_dtype

        dtype = torch_dtype(input_dtype, "input_dtype")
        network = gemms_from_module(network, tuple(input_shape), dtype=dtype)
    return _from_frame(network)


#: Largest value of any integer column of a layer table.
MAX_VALUE = 2**40
#: Columns every row must give (no missing values).
REQUIRED = ("M", "N", "K")


def _column(frame, name, default):
    """Column ``name`` as int64 (``default`` where absent or, for optional columns, missing).

    Values must be whole numbers in ``[0, MAX_VALUE]``: a fraction, a string
    or a boolean raises TypeError naming the column; NaN is refused in
    :data:`REQUIRED` columns.
    """
    if name not in frame.columns:
        return np.full(len(frame), default, dtype=np.int64)
    values = frame[name].to_numpy()
    text = f"{name} must be whole numbers in [0, {MAX_VALUE}]"
    if values.dtype == bool or values.dtype.kind not in "iufO":
        raise TypeError(f"{text}, got dtype {values.dtype}")
    if values.dtype.kind == "O":
        values = np.array([np.nan if v is None or v is pd.NA else v for v in values], dtype=object)
        for v in values:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                raise TypeError(f"{text}, got {type(v).__name__} {v!r}")
        values = values.astype(np.float64)
    if values.dtype.kind == "f":
        missing = np.isnan(values)
        if missing.any() and name in REQUIRED:
            raise ValueError(f"{text} in every layer, got NaN in layer {int(np.flatnonzero(missing)[0])}")
        present = values[~missing]
        if (present != np.round(present)).any() and np.isfinite(present).all():
            bad = present[present != np.round(present)][0]
            raise TypeError(f"{text}, got {bad}")
        values = np.where(missing, default, values)
    if values.size and (values.min() < 0 or values.max() > MAX_VALUE):
        bad = values[(values < 0) | (values > MAX_VALUE)][0]
        raise ValueError(f"{text}, got {bad}")
    return values.astype(np.int64)


def _inputs(frame):
    n = len(frame)
    if "inputs" not in frame.columns:
        return [() if i == 0 else (i - 1,) for i in range(n)]
    out = []
    for i, value in enumerate(frame["inputs"]):
        items = np.atleast_1d(value) if value is not None else ()
        if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) for v in items):
            raise TypeError(f"inputs of layer {i} must be layer indices (integers), got {value!r}")
        deps = tuple(int(v) for v in items)
        if any(not 0 <= d < i for d in deps):
            raise ValueError(f"inputs of layer {i} must name earlier layers (0..{i - 1}), got {deps}")
        out.append(deps)
    return out


def _from_frame(frame):
    for col in ("M", "N", "K"):
        if col not in frame.columns:
            raise ValueError(f"network table needs columns M, N, K; {col} is missing")
    if len(frame) == 0:
        raise ValueError("network table has no layers")
    frame = frame.reset_index(drop=True)
    M, N, K = (_column(frame, c, 0) for c in ("M", "N", "K"))
    count = _column(frame, "count", 1)
    for name, arr in (("M", M), ("N", N), ("K", K), ("count", count)):
        if (arr < 1).any():
            raise ValueError(f"{name} must be integers >= 1 in every layer")
    kinds = (frame["kind"].astype(str).str.lower().to_numpy() if "kind" in frame.columns
             else np.full(len(frame), "gemm", dtype=object))
    names = (frame["layer"].astype(str).to_numpy() if "layer" in frame.columns
             else np.array([f"layer{i}" for i in range(len(frame))], dtype=object))
    in_h, in_w = _column(frame, "in_h", 0), _column(frame, "in_w", 0)
    kh, kw = _column(frame, "kh", 1), _column(frame, "kw", 1)
    stride, padding = _column(frame, "stride", 1), _column(frame, "padding", 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.maximum(stride, 1)
        out_h = _column(frame, "out_h", 0) if "out_h" in frame else (in_h + 2 * padding - kh) // step + 1
        out_w = _column(frame, "out_w", 0) if "out_w" in frame else (in_w + 2 * padding - kw) // step + 1
    runtime = kinds == "matmul"
    # geometry is usable when it describes this GEMM's M
    geometric = (in_h > 0) & (out_h > 0) & (out_w > 0) & (out_h * out_w == M) & (stride > 0) & ~runtime
    out = pd.DataFrame({
        "name": names,
        "kind": kinds,
        "n": K,
        "m": N,
        "instances": count,
        "rows": np.where(geometric, out_h, M),
        "row_pixels": np.where(geometric, out_w, 1),
        "in_rows": np.where(geometric, in_h, 0),
        "kh": np.where(geometric, kh, 1),
        "stride": np.where(geometric, stride, 1),
        "padding": np.where(geometric, padding, 0),
        "full": ~geometric,
        "runtime_weights": runtime,
        "inputs": _inputs(frame),
    })
    return out[_COLUMNS]

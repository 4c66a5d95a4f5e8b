"""SCALE-Sim 3.0.0's systolic compute model in closed form.

Every convention below was read in SCALE-Sim 3.0.0's source
(``scalesim/compute/systolic_compute_{os,ws,is}.py``,
``scalesim/topology_utils.py``, ``scalesim/single_layer_sim.py``,
``scalesim/memory/double_buffered_scratchpad_mem.py``,
``read_buffer_estimate_bw.py``, ``write_buffer.py``) and checked against runs of
the package (``tests/targets/systolic/test_systolic_calc.py``).

Mapping. A GEMM ``C[M, N] = A[M, K] @ B[K, N]`` is SCALE-Sim's IFMAP operand
matrix ``M x K`` (output pixels x window), filter ``K x N`` and OFMAP
``M x N``. The spatial rows ``Sr``, spatial columns ``Sc`` and temporal length
``T`` are

====== ==== ==== ====
flow    Sr   Sc   T
====== ==== ==== ====
os      M    N    K
ws      K    N    M
is      K    M    N
====== ==== ==== ====

On an ``R x C`` array the work splits into ``RF = ceil(Sr / R)`` row folds and
``CF = ceil(Sc / C)`` column folds, visited column fold by column fold (``for
fc: for fr:``). Every fold takes the same number of demand rows (cycles)
``P``: ``T + R + C - 2`` for os, ``T + 2R + C - 2`` for ws and is (ws/is add
``R`` cycles to load the stationary operand; the ISPASS paper's ``2R + C + T -
2`` holds for ws/is only). In CALC mode the read buffers never stall, so

* ``total_cycles = RF * CF * P - 1 + stall_cycles`` (the last demand row's
  index: ``double_buffered_scratchpad.service_memory_requests`` takes the
  cycle of the last OFMAP row, counted from 0);
* ``compute_cycles = total_cycles - stall_cycles`` (what SCALE-Sim prints as
  "Compute cycles").

SRAM accesses (SCALE-Sim counts the shape of each fold's operand block,
not its valid entries):

====== ================= ================= ==========================
flow    ifmap reads       filter reads      ofmap writes
====== ================= ================= ==========================
os      CF * T * Sr       RF * T * Sc       Sr * Sc + RF*CF*(R + C)
ws      CF * T * Sr       Sr * Sc           RF * T * Sc
is      Sr * Sc           CF * T * Sr       RF * T * Sc
====== ================= ================= ==========================

(os adds ``R + C`` phantom writes per fold: ``ofmap_writes += rows + cols``
of the flipped block in ``create_ofmap_demand_mat``.)

Per-fold efficiencies, averaged over folds with Python's left-to-right
``sum`` (in fold order) and then ``/ folds`` and ``* 100``:
``mapping_eff = used_PEs / (R * C)``; ``compute_util = used_PEs * T / (R * C *
Q)`` with ``Q = T + R + C - 2`` for os but ``T + 2R + 2C - 3`` for ws and is
(SCALE-Sim measures the filter (ws) or IFMAP (is) demand block, whose width
``C`` is added to its ``T + 2R + C - 2`` rows). :func:`fold_mean` reproduces
that float sum bit for bit.
``overall_util = M*N*K * 100 / (total_cycles * R * C)``.

SRAM start/stop cycles are the service cycles of the first and last demand
rows holding a valid address: the row index plus 1 for IFMAP and filter reads
(read-buffer hit latency 1) and plus 0 for OFMAP writes; see
:func:`_first_last_rows`.
"""

from __future__ import annotations

import numba
import numpy as np

from airchitect._math import ceil_div
from airchitect.targets.systolic.fold_mean import _repeat_add, exact_ratio, fold_mean, products
from airchitect.targets.systolic.geometry import sram_counts, spatial_dims, spatial_dims_one


# Chunk size (elements) of the fast path: bounds its temporary memory.
_CHUNK = 1 << 21


@numba.njit(cache=True, nogil=True)
def _cycles_kernel(M, N, K, R, C, D, out):
    for i in range(out.size):
        d = D[i]
        sr, sc, t = spatial_dims_one(d, M[i], N[i], K[i])
        r = R[i]
        c = C[i]
        folds = ((sr + r - 1) // r) * ((sc + c - 1) // c)
        per_fold = t + r + c - 2
        if d != 0:
            per_fold += r
        out[i] = folds * per_fold - 1


@numba.njit(cache=True, nogil=True)
def _cycles_kernel_2d(M, N, K, R, C, D, out):
    # Same arithmetic as _cycles_kernel on 2-D broadcast views (strides may be 0).
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            d = D[i, j]
            sr, sc, t = spatial_dims_one(d, M[i, j], N[i, j], K[i, j])
            r = R[i, j]
            c = C[i, j]
            per_fold = t + r + c - 2
            if d != 0:
                per_fold += r
            out[i, j] = ((sr + r - 1) // r) * ((sc + c - 1) // c) * per_fold - 1


def total_cycles_calc(M, N, K, rows, cols, dataflow_code):
    """SCALE-Sim 3.0.0 CALC-mode ``Total Cycles`` of GEMMs, broadcast over all arguments.

    The fast path of the ``array`` task: no validation, int64 in and out.

    Parameters
    ----------
    M, N, K, rows, cols : array_like of int64
        GEMM sizes and array shape (each >= 1).
    dataflow_code : array_like of int
        0 = os, 1 = ws, 2 = is.

    Returns
    -------
    numpy.ndarray of int64, the broadcast shape
        ``ceil(Sr/R) * ceil(Sc/C) * P - 1`` (see the module docstring). The
        value wraps if it exceeds ``2**63 - 1``; :func:`airchitect.systolic.simulate`
        checks for that.

    Examples
    --------
    >>> int(total_cycles_calc(4, 5, 6, 8, 4, 0))
    31
    >>> total_cycles_calc([[64], [128]], 64, 64, [8, 16], 8, 1).tolist()
    [[5503, 3263], [9599, 5311]]
    """
    arrays = [np.asarray(a, dtype=np.int64) for a in (M, N, K, rows, cols, dataflow_code)]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    out = np.empty(shape, dtype=np.int64)
    if out.size == 0:
        return out
    if len(shape) == 0:
        flat = [a.reshape(1) for a in arrays]
        _cycles_kernel(*flat, out.reshape(1))
        return out
    if len(shape) <= 2:
        # Broadcast views, no copies: e.g. workloads (n, 1) x configurations (1, m).
        shape2 = (1,) * (2 - len(shape)) + tuple(shape)
        views = [np.broadcast_to(a.reshape((1,) * (2 - a.ndim) + a.shape) if a.ndim < 2 else a,
                                 shape2) for a in arrays]
        _cycles_kernel_2d(*views, out.reshape(shape2))
        return out
    # Chunk along the leading axis so that the flattened inputs stay small.
    inner = max(1, int(np.prod(shape[1:])))
    step = max(1, _CHUNK // inner)
    for start in range(0, shape[0], step):
        stop = min(start + step, shape[0])
        part = (stop - start,) + tuple(shape[1:])
        flat = []
        for a in arrays:
            view = a if a.ndim < len(shape) or a.shape[0] == 1 else a[start:stop]
            flat.append(np.ascontiguousarray(np.broadcast_to(view, part)).ravel())
        _cycles_kernel(*flat, out[start:stop].reshape(-1))
    return out


def _first_last_rows(code, R, C, T, ru_first, ru_last, cu_first, cu_last, last_fold_start):
    """Demand-row indices of the first and last valid address of each operand.

    Within a fold (rows counted from the fold's start):

    * os: IFMAP ``[T data rows; C-1 empty]`` skewed over R columns -> rows
      ``0 .. T+ru-2``; filter likewise over C -> ``0 .. T+cu-2``; OFMAP
      ``[T-1 empty; flipped R x C block]`` skewed over C -> ``T-1+R-ru .. T+R+cu-3``.
    * ws: IFMAP ``[R empty; T data; C-1 empty]`` skewed -> ``R .. R+T+ru-2``;
      filter flipped block, not skewed -> ``R-ru .. R-1``; OFMAP ``[2R-1
      empty; T data]`` skewed -> ``2R-1 .. 2R+T+cu-3``.
    * is: IFMAP flipped block -> ``R-ru .. R-1``; filter ``[R empty; T data;
      C-1 empty]`` skewed -> ``R .. R+T+ru-2``; OFMAP as ws.

    ``ru``/``cu`` are the rows/columns used by the first or the last fold.
    """
    os_, ws_ = code == 0, code == 1
    skew_first = np.where(os_, 0, R)
    skew_last = np.where(os_, T + ru_last - 2, R + T + ru_last - 2)
    flip_first = R - ru_first
    flip_last = R - 1
    ifmap_first = np.where(code == 2, flip_first, skew_first)
    ifmap_last = np.where(code == 2, flip_last, skew_last)
    filter_first = np.where(os_, 0, np.where(ws_, flip_first, R))
    filter_last = np.where(os_, T + cu_last - 2, np.where(ws_, flip_last, R + T + ru_last - 2))
    ofmap_first = np.where(os_, T - 1 + R - ru_first, 2 * R - 1)
    ofmap_last = np.where(os_, T + R + cu_last - 3, 2 * R + T + cu_last - 3)
    return {
        "ifmap": (ifmap_first, last_fold_start + ifmap_last),
        "filter": (filter_first, last_fold_start + filter_last),
        "ofmap": (ofmap_first, last_fold_start + ofmap_last),
    }


# compute_fields' outputs, in the order of _fields_kernel's int and float columns
_INT_FIELDS = ("total_cycles", "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
               "sram_ifmap_start_cycle", "sram_ifmap_stop_cycle", "sram_filter_start_cycle",
               "sram_filter_stop_cycle", "sram_ofmap_start_cycle", "sram_ofmap_stop_cycle",
               "folds", "per_fold_cycles", "ofmap_valid_writes", "first_request_cycle_ifmap",
               "first_request_cycle_filter")
_FLOAT_FIELDS = ("overall_util", "mapping_efficiency", "compute_util", "avg_ifmap_sram_bw",
                 "avg_filter_sram_bw", "avg_ofmap_sram_bw")
_EXACT = 2.0**52  # float64 products below this are exact integers


@numba.njit(cache=True)
def _fold_sum(rf, cf, full, last_row, last_col, corner):
    """Left-to-right float sum over the folds (as fold_mean's kernel), one element."""
    s = 0.0
    for fc in range(cf):
        if fc < cf - 1:
            s = _repeat_add(s, full, rf - 1)
            s += last_row
        else:
            s = _repeat_add(s, last_col, rf - 1)
            s += corner
    return s


@numba.njit(cache=True, error_model="numpy")  # x / 0 gives inf or nan, as exact_ratio does
def _fields_kernel(M, N, K, R_, C_, code_, ints, floats, exact):
    """:func:`compute_fields` element by element where every product stays below
    ``2**52`` (``exact[i] = False`` elsewhere, left to the numpy path)."""
    for i in range(M.size):
        m, n, k, R, C, code = M[i], N[i], K[i], R_[i], C_[i], code_[i]
        if code == 0:
            sr, sc, t = m, n, k
        elif code == 1:
            sr, sc, t = k, n, m
        else:
            sr, sc, t = k, m, n
        rf = (sr + R - 1) // R
        cf = (sc + C - 1) // C
        folds = rf * cf
        per = t + R + C - 2 + (0 if code == 0 else R)
        pes = R * C
        util_cycles = t + R + C - 2 if code == 0 else t + 2 * R + 2 * C - 3
        big = max(float(m) * n * k * 100, float(folds) * per * pes, float(pes) * t * util_cycles,
                  float(cf) * t * sr + float(sr) * sc + float(rf) * t * sc + float(folds) * (R + C))
        if big >= _EXACT:
            exact[i] = False
            continue
        exact[i] = True
        total = folds * per - 1
        ru = sr - (rf - 1) * R
        cu = sc - (cf - 1) * C
        ru0 = min(R, sr)
        streamed = cf * t * sr
        i_reads = sr * sc if code == 2 else streamed
        f_reads = rf * t * sc if code == 0 else (sr * sc if code == 1 else streamed)
        valid = sr * sc if code == 0 else rf * t * sc
        o_writes = valid + (folds * (R + C) if code == 0 else 0)
        # first/last rows of each operand in a fold (see _first_last_rows)
        skew_first = 0 if code == 0 else R
        skew_last = t + ru - 2 if code == 0 else R + t + ru - 2
        i_first = R - ru0 if code == 2 else skew_first
        i_last = R - 1 if code == 2 else skew_last
        f_first = 0 if code == 0 else (R - ru0 if code == 1 else R)
        f_last = t + cu - 2 if code == 0 else (R - 1 if code == 1 else R + t + ru - 2)
        o_first = t - 1 + R - ru0 if code == 0 else 2 * R - 1
        o_last = t + R + cu - 3 if code == 0 else 2 * R + t + cu - 3
        base = (folds - 1) * per
        row = ints[i]
        row[0] = total
        row[1] = i_reads
        row[2] = f_reads
        row[3] = o_writes
        row[4] = i_first + 1
        row[5] = base + i_last + 1
        row[6] = f_first + 1
        row[7] = base + f_last + 1
        row[8] = o_first
        row[9] = base + o_last
        row[10] = folds
        row[11] = per
        row[12] = valid
        row[13] = i_first
        row[14] = f_first
        fpes = float(pes)
        fdiv = float(rf) * cf
        mapping = _fold_sum(rf, cf, fpes / fpes, float(ru * C) / fpes, float(R * cu) / fpes,
                            float(ru * cu) / fpes) / fdiv
        den = float(pes * util_cycles)
        util = _fold_sum(rf, cf, float(pes * t) / den, float(ru * C * t) / den,
                         float(R * cu * t) / den, float(ru * cu * t) / den) / fdiv
        out = floats[i]
        out[0] = float(m * n * k * 100) / float(total * pes)
        out[1] = mapping * 100
        out[2] = util * 100
        out[3] = float(i_reads) / float(total)
        out[4] = float(f_reads) / float(total)
        out[5] = float(o_writes) / float(total)


def compute_fields(M, N, K, rows, cols, dataflow_code):
    """SCALE-Sim's compute and SRAM report fields for stall-free (CALC-mode) runs.

    All arguments are int64 arrays of one shape (already validated and
    broadcast). Returns a dict of arrays: ``total_cycles``, ``stall_cycles``,
    ``compute_cycles``, ``overall_util``, ``mapping_efficiency``,
    ``compute_util`` (percent), ``sram_{ifmap,filter}_reads``,
    ``sram_ofmap_writes``, ``sram_*_start_cycle``/``sram_*_stop_cycle`` and
    ``avg_*_sram_bw`` (words/cycle), plus the helper arrays ``folds``,
    ``per_fold_cycles`` and ``ofmap_valid_writes`` (OFMAP elements written
    into the SRAM, without os' phantom writes) used by the memory model.

    Elements whose products stay below ``2**52`` run in one compiled loop
    (:func:`_fields_kernel`); the others (and any non-flat input) take the numpy
    path, :func:`_compute_fields_arrays`, with Python integers where needed.
    The two give the same bits.
    """
    arrays = [np.asarray(v) for v in (M, N, K, rows, cols, dataflow_code)]
    if any(a.ndim != 1 or a.dtype != np.int64 or a.shape != arrays[0].shape for a in arrays):
        return _compute_fields_arrays(M, N, K, rows, cols, dataflow_code)
    n = arrays[0].size
    # one row per field: each output column is a contiguous row, returned without a copy
    ints = np.empty((len(_INT_FIELDS), n), np.int64)
    floats = np.empty((len(_FLOAT_FIELDS), n), np.float64)
    exact = np.empty(n, np.bool_)
    _fields_kernel(*(np.ascontiguousarray(a) for a in arrays), ints.T, floats.T, exact)
    out = dict(zip(_INT_FIELDS, ints))
    out.update(zip(_FLOAT_FIELDS, floats))
    if not exact.all():
        rest = np.flatnonzero(~exact)
        slow = _compute_fields_arrays(*(a[rest] for a in arrays))
        for name in out:
            if slow[name].dtype == object:
                out[name] = out[name].astype(object)
            out[name][rest] = slow[name]
    out["stall_cycles"] = np.zeros(n, np.int64)
    out["compute_cycles"] = out["total_cycles"]
    return out


def _compute_fields_arrays(M, N, K, rows, cols, dataflow_code):
    """:func:`compute_fields` with numpy arrays (any shape), exact past ``2**53``."""
    code = dataflow_code
    R, C = rows, cols
    Sr, Sc, T = spatial_dims(M, N, K, code)
    RF = ceil_div(Sr, R)
    CF = ceil_div(Sc, C)
    folds = RF * CF
    per_fold = T + R + C - 2 + np.where(code == 0, 0, R)
    total = folds * per_fold - 1
    ru_last = Sr - (RF - 1) * R
    cu_last = Sc - (CF - 1) * C
    ru_first = np.minimum(R, Sr)
    cu_first = np.minimum(C, Sc)

    ifmap_reads, filter_reads, ofmap_writes, valid_writes = sram_counts(code, R, C, Sr, Sc, T)

    pes = R * C
    util_cycles = np.where(code == 0, T + R + C - 2, T + 2 * R + 2 * C - 3)
    mapping = fold_mean(RF, CF, exact_ratio(pes, pes), exact_ratio(ru_last * C, pes),
                        exact_ratio(R * cu_last, pes), exact_ratio(ru_last * cu_last, pes))
    den = pes * util_cycles
    util = fold_mean(RF, CF, exact_ratio(products(pes, T), den),
                     exact_ratio(products(ru_last * C, T), den),
                     exact_ratio(products(R * cu_last, T), den),
                     exact_ratio(products(ru_last * cu_last, T), den))
    overall = exact_ratio(products(M, N, K, 100), products(total, pes))

    rows_at = _first_last_rows(code, R, C, T, ru_first, ru_last, cu_first, cu_last,
                               (folds - 1) * per_fold)
    out = {
        "total_cycles": total,
        "stall_cycles": np.zeros_like(total),
        "compute_cycles": total,
        "overall_util": overall,
        "mapping_efficiency": mapping * 100,
        "compute_util": util * 100,
        "sram_ifmap_reads": ifmap_reads,
        "sram_filter_reads": filter_reads,
        "sram_ofmap_writes": ofmap_writes,
        "avg_ifmap_sram_bw": exact_ratio(ifmap_reads, total),
        "avg_filter_sram_bw": exact_ratio(filter_reads, total),
        "avg_ofmap_sram_bw": exact_ratio(ofmap_writes, total),
    }
    for name, latency in (("ifmap", 1), ("filter", 1), ("ofmap", 0)):
        first, last = rows_at[name]
        out[f"sram_{name}_start_cycle"] = first + latency
        out[f"sram_{name}_stop_cycle"] = last + latency
    out["folds"] = folds
    out["per_fold_cycles"] = per_fold
    out["ofmap_valid_writes"] = valid_writes
    out["first_request_cycle_ifmap"] = rows_at["ifmap"][0]
    out["first_request_cycle_filter"] = rows_at["filter"][0]
    return out

"""SCALE-Sim 3.0.0's systolic compute model in closed form.

Every convention below was read in SCALE-Sim 3.0.0's source
(``scalesim/compute/systolic_compute_{os,ws,is}.py``,
``scalesim/topology_utils.py``, ``scalesim/single_layer_sim.py``,
``scalesim/memory/double_buffered_scratchpad_mem.py``,
``read_buffer_estimate_bw.py``, ``write_buffer.py``) and checked against runs of
the package (``tests/test_systolic_calc.py``).

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

import math

import numba
import numpy as np

DATAFLOW_CODES = {"os": 0, "ws": 1, "is": 2}

# Chunk size (elements) of the fast path: bounds its temporary memory.
_CHUNK = 1 << 21


@numba.njit(cache=True, nogil=True)
def _cycles_kernel(M, N, K, R, C, D, out):
    for i in range(out.size):
        d = D[i]
        if d == 0:
            sr, sc, t = M[i], N[i], K[i]
        elif d == 1:
            sr, sc, t = K[i], N[i], M[i]
        else:
            sr, sc, t = K[i], M[i], N[i]
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
            if d == 0:
                sr, sc, t = M[i, j], N[i, j], K[i, j]
            elif d == 1:
                sr, sc, t = K[i, j], N[i, j], M[i, j]
            else:
                sr, sc, t = K[i, j], M[i, j], N[i, j]
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


def spatial_dims(M, N, K, code):
    """Return ``(Sr, Sc, T)`` for dataflow codes ``code`` (0 os, 1 ws, 2 is)."""
    Sr = np.where(code == 0, M, K)
    Sc = np.where(code == 2, M, N)
    T = np.choose(code, [K, M, N])
    return Sr, Sc, T


def _exact_ratio(num, den):
    """``num / den`` rounded once, as Python's ``int / int`` does.

    Both operands are exact in float64 below ``2**53``; above, Python ints are used.
    A zero denominator (a run of zero cycles) gives ``inf`` or ``nan``, without a warning.
    """
    num = np.asarray(num, dtype=object if _big(num) else np.int64)
    den = np.asarray(den, dtype=object if _big(den) else np.int64)
    if num.dtype == object or den.dtype == object:
        num, den = np.broadcast_arrays(num, den)
        return np.array([int(a) / int(b) for a, b in zip(num.ravel(), den.ravel())],
                        dtype=np.float64).reshape(num.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num.astype(np.float64) / den.astype(np.float64)


def _big(x):
    x = np.asarray(x)
    if x.dtype == object:
        return True
    return x.size > 0 and np.abs(x).max() >= 2**53


def _products(*factors):
    """Exact product of int64 arrays, as object ints where it would pass ``2**62``."""
    approx = np.ones(np.broadcast_shapes(*(np.shape(f) for f in factors)))
    for f in factors:
        approx = approx * np.asarray(f, dtype=np.float64)
    if approx.size and approx.max() >= 2.0**62:
        out = np.asarray(factors[0]).astype(object)
        for f in factors[1:]:
            out = out * np.asarray(f).astype(object)
        return out
    out = np.asarray(factors[0], dtype=np.int64)
    for f in factors[1:]:
        out = out * np.asarray(f, dtype=np.int64)
    return out


@numba.njit(cache=True)
def _repeat_add(s, a, n):
    """``s`` after ``n`` sequential float64 additions of ``a > 0`` (``s >= 0``).

    Within one binade the grid step ``u`` is fixed, so once two consecutive
    sums lie in the same binade as their start, every further addition adds the
    same rounded increment (round-half-even leaves an even grid point, from
    which the increment repeats) until the exact sum would reach the next power
    of two. Those additions are done at once; the rest one by one.
    """
    while n > 0:
        if n < 3 or s == 0.0:
            s += a
            n -= 1
            continue
        s1 = s + a
        s2 = s1 + a
        n -= 2
        e = math.frexp(s2)[1]
        if math.frexp(s)[1] != e or math.frexp(s1)[1] != e or n == 0:
            s = s2
            continue
        d = s2 - s1
        if d == 0.0:
            return s2
        u = math.ldexp(1.0, e - 53)
        big_s = int(s2 / u)
        big_d = int(d / u)
        a_int = int(math.floor(a / u))
        room = (1 << 53) - a_int - 1 - big_s
        if room < 0:
            s = s2
            continue
        k = min(n, room // big_d + 1)
        s = (big_s + k * big_d) * u
        n -= k
    return s


@numba.njit(cache=True)
def _fold_sum_kernel(row_folds, col_folds, full, last_row, last_col, corner, out):
    for i in range(out.size):
        rf = row_folds[i]
        s = 0.0
        for fc in range(col_folds[i]):
            if fc < col_folds[i] - 1:
                s = _repeat_add(s, full[i], rf - 1)
                s += last_row[i]
            else:
                s = _repeat_add(s, last_col[i], rf - 1)
                s += corner[i]
        out[i] = s


def fold_mean(row_folds, col_folds, full, last_row, last_col, corner):
    """Python's ``sum(per_fold) / len(per_fold)`` over SCALE-Sim's fold order, bit for bit.

    Fold ``(fr, fc)`` is visited as ``for fc in range(CF): for fr in range(RF)``;
    its value is ``full`` inside, ``last_row`` for ``fr = RF-1``, ``last_col``
    for ``fc = CF-1`` and ``corner`` for both. Cost is ``O(CF * log)`` per element.
    """
    arrays = np.broadcast_arrays(np.asarray(row_folds, np.int64), np.asarray(col_folds, np.int64),
                                 *(np.asarray(v, np.float64) for v in (full, last_row, last_col, corner)))
    flat = [np.ascontiguousarray(a).ravel() for a in arrays]
    out = np.empty(flat[0].size)
    _fold_sum_kernel(*flat, out)
    folds = flat[0].astype(np.float64) * flat[1]
    return (out / folds).reshape(arrays[0].shape)


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
    """
    code = dataflow_code
    R, C = rows, cols
    Sr, Sc, T = spatial_dims(M, N, K, code)
    RF = -(-Sr // R)
    CF = -(-Sc // C)
    folds = RF * CF
    per_fold = T + R + C - 2 + np.where(code == 0, 0, R)
    total = folds * per_fold - 1
    ru_last = Sr - (RF - 1) * R
    cu_last = Sc - (CF - 1) * C
    ru_first = np.minimum(R, Sr)
    cu_first = np.minimum(C, Sc)

    ifmap_reads = np.where(code == 2, Sr * Sc, CF * T * Sr)
    filter_reads = np.where(code == 0, RF * T * Sc, np.where(code == 1, Sr * Sc, CF * T * Sr))
    valid_writes = np.where(code == 0, Sr * Sc, RF * T * Sc)
    ofmap_writes = valid_writes + np.where(code == 0, folds * (R + C), 0)

    pes = R * C
    util_cycles = np.where(code == 0, T + R + C - 2, T + 2 * R + 2 * C - 3)
    mapping = fold_mean(RF, CF, _exact_ratio(pes, pes), _exact_ratio(ru_last * C, pes),
                        _exact_ratio(R * cu_last, pes), _exact_ratio(ru_last * cu_last, pes))
    den = pes * util_cycles
    util = fold_mean(RF, CF, _exact_ratio(_products(pes, T), den),
                     _exact_ratio(_products(ru_last * C, T), den),
                     _exact_ratio(_products(R * cu_last, T), den),
                     _exact_ratio(_products(ru_last * cu_last, T), den))
    overall = _exact_ratio(_products(M, N, K, 100), _products(total, pes))

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
        "avg_ifmap_sram_bw": _exact_ratio(ifmap_reads, total),
        "avg_filter_sram_bw": _exact_ratio(filter_reads, total),
        "avg_ofmap_sram_bw": _exact_ratio(ofmap_writes, total),
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



# --------------------------------------------------------------------------
# CALC mode's buffers (SCALE-Sim's estimate-bandwidth read buffers and the
# OFMAP write buffer draining at ``cols`` words/cycle). They never stall the
# array here, but they set ``Total Cycles (incl. prefetch)``, which is
# ``OFMAP DRAM stop - min(IFMAP DRAM start, filter DRAM start)``.
# --------------------------------------------------------------------------

CALC_READ_BW = 10  # words/cycle of CALC mode's IFMAP/filter prefetch (hard-coded in SCALE-Sim)


def calc_dram_start(distinct_words, sram_kb, first_request_cycle):
    """Cycle of the first DRAM response of a CALC-mode read buffer (can be negative).

    ``ReadBufferEstimateBw`` groups new addresses in sets of
    ``floor(kb * 1024 / 100)`` words; the active half is 50 sets. If the
    operand has at least 50 sets of distinct words, the first prefetch fills
    the active half and ends 2 cycles before the first request:
    ``start = first_request - ceil(50 * items / 10)``. Otherwise the whole
    operand is fetched at the end, timed to finish at cycle -2:
    ``start = -ceil(ceil(distinct / items) * items / 10)``.
    """
    items = (np.asarray(sram_kb, np.int64) * 1024) // 100
    half = 50 * items
    full = first_request_cycle - (-(-half // CALC_READ_BW))
    sets = -(-distinct_words // items)
    partial = -(-(sets * items) // CALC_READ_BW)
    return np.where(distinct_words >= half, full, -partial)


@numba.njit(cache=True)
def _tri(m):
    return m * (m + 1) // 2 if m > 0 else 0


@numba.njit(cache=True)
def _writes_before(t, code, R, C, T, Sr, Sc, RF, CF, per_fold):
    """Valid OFMAP writes in demand rows ``0 .. t-1`` (closed form, O(1)).

    Fold ``f = (fc, fr)`` writes a ``h x cu`` block starting at fold row ``a``,
    skewed so that element ``(r, c)`` lands on row ``a + r + c``: os ``a = T-1+R-ru``,
    ``h = ru``; ws/is ``a = 2R-1``, ``h = T``. Rows of a block before ``n`` hold
    ``g(n) - g(n-h) - g(n-cu) + g(n-h-cu)`` elements, ``g(m) = m(m+1)/2``.
    """
    if t >= RF * CF * per_fold:
        return Sr * Sc if code == 0 else RF * T * Sc
    f = t // per_fold
    y = t - f * per_fold
    fc = f // RF
    fr = f - fc * RF
    cu = C if fc < CF - 1 else Sc - (CF - 1) * C
    ru = R if fr < RF - 1 else Sr - (RF - 1) * R
    if code == 0:
        before = fc * Sr * C + fr * R * cu
        a, h = T - 1 + R - ru, ru
    else:
        before = fc * RF * T * C + fr * T * cu
        a, h = 2 * R - 1, T
    n = y - a
    return before + _tri(n) - _tri(n - h) - _tri(n - cu) + _tri(n - h - cu)


@numba.njit(cache=True)
def _row_of(e, code, R, C, T, Sr, Sc, RF, CF, per_fold):
    """Demand row holding valid OFMAP write number ``e`` (0-based): binary search."""
    lo, hi = 0, RF * CF * per_fold - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _writes_before(mid, code, R, C, T, Sr, Sc, RF, CF, per_fold) <= e:
            lo = mid
        else:
            hi = mid - 1
    return lo


@numba.njit(cache=True)
def _drain(n_lines, start_line, lines_per_drain, c, part_lines, part_valid, ptr):
    """Lines and words of one drain chunk; SCALE-Sim counts whole lines minus the
    empty slots of the chunk's last line only."""
    n = min(lines_per_drain, n_lines - start_line)
    last = start_line + n - 1
    while ptr < len(part_lines) and part_lines[ptr] < last:
        ptr += 1
    valid_last = c
    if ptr < len(part_lines) and part_lines[ptr] == last:
        valid_last = part_valid[ptr]
    return n, n * c - (c - valid_last), ptr


@numba.njit(cache=True)
def _drain_kernel(code, R, C, T, Sr, Sc, S, total, out_stop, out_writes, out_stall):
    """Replay SCALE-Sim's OFMAP ``write_buffer`` in CALC mode (drain ``C`` words/cycle).

    ``write_buffer.service_writes`` stores words one by one: a word stored
    before the end of the running drain stalls if the buffer is full; once
    the running drain has ended and free space drops below the active half,
    the partial trace line is flushed and ``ceil(drain_half / C)`` lines drain
    over as many cycles, from the current cycle. Between two such events only
    counts change, so the replay jumps from event to event with
    :func:`_writes_before` and :func:`_row_of` (cost per drain, not per cycle).
    """
    for i in range(out_stop.size):
        d, r, c, t_len, sr, sc = code[i], R[i], C[i], T[i], Sr[i], Sc[i]
        rf = (sr + r - 1) // r
        cf = (sc + c - 1) // c
        per_fold = t_len + r + c - 2 + (r if d != 0 else 0)
        w_total = _writes_before(rf * cf * per_fold, d, r, c, t_len, sr, sc, rf, cf, per_fold)
        size = S[i]
        active = (size + 1) // 2
        lines_per_drain = (size - active + c - 1) // c
        free = size
        n_lines = 0
        line_idx = 0
        start_line = 0
        drain_end = 0
        last_drain_end = -1
        words = 0
        stalled = False
        part_lines = [np.int64(-1)]
        part_valid = [np.int64(0)]
        ptr = 1
        e0 = 0
        max_w = min(c, min(r, sr) if d == 0 else t_len)  # most writes in one row
        prev_key = (np.int64(-1), np.int64(-1), np.int64(-1), np.int64(-1), np.int64(-1))
        while True:
            e_free = e0 + max(1, free - active + 1) - 1
            e_drain = _writes_before(drain_end, d, r, c, t_len, sr, sc, rf, cf, per_fold)
            if min(e_drain, w_total) - e0 >= free:
                stalled = True
                break
            e_star = max(e_free, e_drain)
            if e_star >= w_total:
                break
            k = e_star - e0 + 1
            free -= k
            filled = line_idx + k
            n_lines += filled // c
            line_idx = filled % c
            t_star = _row_of(e_star, d, r, c, t_len, sr, sc, rf, cf, per_fold)
            if line_idx > 0:
                part_lines.append(n_lines)
                part_valid.append(line_idx)
                n_lines += 1
                line_idx = 0
            n, credit, ptr = _drain(n_lines, start_line, lines_per_drain, c, part_lines,
                                    part_valid, ptr)
            free += credit
            words += credit
            drain_end = t_star + n - 1
            last_drain_end = drain_end
            start_line += n
            e0 = e_star + 1
            # Steady state: the same buffer state after two drains triggered by free
            # space alone repeats every k words, as long as a drain ends before the
            # next k words arrive (n * max_w <= k); jump over those periods.
            sig = np.int64(0)
            count = np.int64(0)
            for j in range(ptr, len(part_lines)):
                if part_lines[j] >= start_line:
                    sig = sig * 1000003 + (part_lines[j] - start_line) * 65537 + part_valid[j]
                    count += 1
            key = (np.int64(free), np.int64(n_lines - start_line), sig, np.int64(k),
                   np.int64(credit) * 4 + (1 if e_star == e_free else 0) * 2 + count % 2)
            if key == prev_key and e_star == e_free and n * max_w <= k:
                periods = (w_total - 1 - e_star) // k
                if periods > 0:
                    shift = periods * n  # lines added per period = lines drained

                    new_lines = [np.int64(-1)]
                    new_valid = [np.int64(0)]
                    for j in range(ptr, len(part_lines)):
                        if part_lines[j] >= start_line:
                            new_lines.append(part_lines[j] + shift)
                            new_valid.append(part_valid[j])
                    part_lines = new_lines
                    part_valid = new_valid
                    ptr = 1
                    n_lines += shift
                    start_line += shift
                    words += periods * credit
                    e_star += periods * k
                    e0 = e_star + 1
                    t_star = _row_of(e_star, d, r, c, t_len, sr, sc, rf, cf, per_fold)
                    drain_end = t_star + n - 1
                    last_drain_end = drain_end
            prev_key = key
        k = w_total - e0
        filled = line_idx + k
        n_lines += filled // c
        line_idx = filled % c
        # empty_all_buffers(last OFMAP service cycle): flush, then drain the rest back to back.
        if line_idx > 0:
            part_lines.append(n_lines)
            part_valid.append(line_idx)
            n_lines += 1
        stop = last_drain_end
        if start_line < n_lines:
            stop = max(stop, total[i] + (n_lines - start_line) - 1)
        while start_line < n_lines:
            n, credit, ptr = _drain(n_lines, start_line, lines_per_drain, c, part_lines,
                                    part_valid, ptr)
            words += credit
            start_line += n
        out_stop[i] = stop
        out_writes[i] = words
        out_stall[i] = stalled


def calc_ofmap_drain(code, R, C, T, Sr, Sc, ofmap_kb, total, valid_writes):
    """OFMAP DRAM stop cycle, DRAM writes and a stall flag of CALC mode's write buffer.

    When every valid OFMAP word fits in the drain half (``valid_writes <=
    floor(S/2)``, ``S = ofmap_kb * 1024``) nothing drains before the end, and
    the final drain writes ``ceil(valid_writes / C)`` lines from cycle
    ``total_cycles`` on: ``stop = total_cycles + ceil(valid_writes / C) - 1``.
    Otherwise the buffer is replayed by :func:`_drain_kernel`.
    """
    size = np.asarray(ofmap_kb, np.int64) * 1024
    size, code, R, C, T, Sr, Sc, total, valid_writes = np.broadcast_arrays(
        size, code, R, C, T, Sr, Sc, total, valid_writes)
    stop = total + (-(-valid_writes // C)) - 1
    writes = valid_writes.copy()
    stall = np.zeros(stop.shape, dtype=bool)
    busy = valid_writes > size - (size + 1) // 2
    if busy.any():
        sel = [np.ascontiguousarray(a[busy]) for a in (code, R, C, T, Sr, Sc, size, total)]
        s_stop = np.empty(sel[0].size, np.int64)
        s_writes = np.empty(sel[0].size, np.int64)
        s_stall = np.empty(sel[0].size, np.bool_)
        _drain_kernel(*sel, s_stop, s_writes, s_stall)
        stop[busy] = s_stop
        writes[busy] = s_writes
        stall[busy] = s_stall
    return stop, writes, stall

"""Functional RRAM crossbar simulator: what an MVM on crossbars actually returns.

A weight matrix ``W`` (``m`` outputs x ``n`` inputs) is *programmed* once
(:func:`program`): every weight becomes cell levels according to the mapping,
every level a conductance between HRS (``1 / r_off_ohm``) and LRS
(``1 / r_on_ohm``), and device-to-device variation multiplies each
conductance by ``1 + d2d_sigma * N(0, 1)``, fixed from then on. Each read
(:meth:`CrossbarLayer.mvm`):

1. splits the integer inputs into bit-serial slices of ``dac_bits`` bits
   (signed inputs: two's complement, the sign bit is its own slice with weight
   ``-2**(in_bits - 1)``);
2. drives ``active_rows`` rows of a ``xbar_rows``-row tile at a time and sums
   the column currents; the HRS leakage of the applied input is subtracted,
   so a column reads ``sum_j v_j * level_j`` in ideal cells;
3. adds cycle-to-cycle variation: every cell conductance is multiplied by
   ``1 + c2c_sigma * N(0, 1)`` afresh on every read (drawn as the exactly
   equivalent Gaussian of the column sum);
4. digitises each column with an ``adc_bits`` ADC that clips and quantises
   over its range: ``"full-scale"`` (the largest possible column sum),
   ``"calibrated"`` (the largest one seen on calibration data) or a number;
   the range is symmetric for signed column currents, positive otherwise;
5. shifts and adds the digital results of all slices, phases and tiles.

Integer mappings (weights two's complement of ``w_bits``, sliced into
``cell_bits`` cells):

- ``offset``: cells hold ``W + 2**(w_bits - 1)``; one extra column of level-1
  cells reads the input sum, and the periphery subtracts
  ``2**(w_bits - 1) * sum(x)``;
- ``differential-column``: ``max(W, 0)`` and ``max(-W, 0)`` in two columns
  whose currents are subtracted before the ADC (signed ADC);
- ``differential-row``: the same two matrices stacked in ``2 n`` rows, the
  second half driven with negated inputs (signed ADC).

Binary and ternary mappings of CIM-Explorer (one-bit cells and inputs;
``x`` and ``W`` in {-1, +1} for BNN, {-1, 0, +1} for TNN; ``g`` a cell, ``v``
an applied input, ``s = sum(x)``, ``w_sum`` the row sums of ``W``):

========  ===========================  ==========================  ======  ======
mapping   weight cells                 inputs                      phases  ADC
========  ===========================  ==========================  ======  ======
BNN-I     w = g+ - g- (2 columns)      x = 2v - 1                  1       signed
BNN-II    w = g+ - g- (2 columns)      x = 1 - 2v                  1       signed
BNN-III   w = 2g - 1                   x = v+ - v- (2 pulses)      2       positive
BNN-IV    w = 1 - 2g                   x = v+ - v- (2 pulses)      2       positive
BNN-V     XNOR: (g, 1-g) in 2 rows     (v, 1-v) in 2 rows          1       positive
BNN-VI    w = g+ - g- (2 rows x 2 col) x = v+ - v- (2 rows)        1       signed
TNN-I     w = g+ - g- (2 rows x 2 col) x = v+ - v- (2 rows)        1       signed
TNN-II    w = g+ - g- (2 columns)      x = v0 - 2 v1 (2 bits)      2       signed
TNN-III   w = g+ - g- (2 columns)      x + 1 = v0 + 2 v1 (2 bits)  2       signed
TNN-IV    w = g0 - 2 g1 (2 columns)    x = v+ - v- (2 pulses)      2       positive
TNN-V     w + 1 = g0 + 2 g1 (2 cols)   x = v+ - v- (2 pulses)      2       positive
========  ===========================  ==========================  ======  ======

With ideal cells (``d2d_sigma = c2c_sigma = 0``) and a lossless ADC
(``adc_bits=None``) every mapping returns ``W @ x`` exactly:

>>> import numpy as np
>>> from airchitect.targets.cim import mvm
>>> W = np.array([[100, -32], [1, 0], [12, 1]])
>>> mvm(W, [-120, 55], accumulator=[1, 1, -1]).tolist()
[-13759.0, -119.0, -1386.0]
"""

from __future__ import annotations

import numpy as np

from airchitect._checks import check_choice, check_int, check_number_array
from airchitect._math import ceil_div
from airchitect.targets.cim.cells import DEVICE_FIELDS, CellArray, Device, nominal
from airchitect.targets.cim.config import BNN_MAPPINGS, INTEGER_MAPPINGS, make_config
from airchitect.targets.cim.cost import mapping_properties

ADC_RANGES = ("full-scale", "calibrated")

#: Largest number of cells (physical rows, padded to whole row groups, x columns) one programmed matrix may map to.
MAX_CELLS = 2**26
#: Largest number of column sums one read of a batch may produce (row groups x input slices x vectors x columns).
MAX_READ_VALUES = 2**27


def _signed_bits(values):
    """Fewest two's complement bits holding every value (unsigned if none negative)."""
    lo, hi = int(np.min(values)), int(np.max(values))
    if lo >= 0:
        return max(1, hi.bit_length()), False
    return max((-lo - 1).bit_length(), hi.bit_length()) + 1, True


def _as_int_matrix(name, value, ndim_max):
    arr = np.asarray(value)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold whole numbers")
    if arr.ndim < 1 or arr.ndim > ndim_max or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty array with 1..{ndim_max} dimensions")
    return arr.astype(np.int64)


class CrossbarLayer:
    """A weight matrix programmed onto crossbars; call :meth:`mvm` to read it.

    Build it with :func:`program`. Attributes: ``config``
    (:class:`~airchitect.targets.cim.CrossbarConfig`), ``device``
    (:class:`Device`), ``w_bits``, ``shape`` (m, n), ``adc_range``, and
    ``calibration`` (largest column sum seen, per converted array, or None).
    """

    def __init__(self, W, config, device, w_bits, adc_range, seed):
        self.config, self.device = config, device
        self.shape = W.shape
        self.adc_range = adc_range
        self.calibration = None
        self._pairs = {}
        # ideal cells sum exact integers (float32 holds them), so no rounding is needed
        self._exact = device.d2d_sigma == 0 and device.c2c_sigma == 0
        self._rng = np.random.default_rng(seed)
        self._props = mapping_properties(config.mapping)
        mapping = config.mapping
        if mapping in INTEGER_MAPPINGS:
            self.w_bits = _check_weight_bits(W, w_bits)
            self._check_cells()
            self._program_integer(W)
        else:
            self.w_bits = 1 if mapping in BNN_MAPPINGS else 2
            _check_values("W", W, mapping)
            self._check_cells()
            self._program_binary(W)

    def _mapped(self):
        """``(row groups, rows per group, columns)`` of the mapped matrix, as the arrays hold it."""
        cfg, props = self.config, self._props
        m, n = self.shape
        s_w = ceil_div(self.w_bits, cfg.cell_bits) if props["integer"] else 1
        rows = n * props["row_mult"]
        cols = m * s_w * props["col_mult"] + props["col_extra"]
        xr = cfg.xbar_rows
        active = min(cfg.active_rows or xr, xr)
        groups = (rows // xr) * ceil_div(xr, active) + ceil_div(rows % xr, active)
        return groups, min(active, rows), cols

    def _check_cells(self):
        groups, width, cols = self._mapped()
        cells = groups * width * cols
        if cells > MAX_CELLS:
            raise ValueError(f"W of shape {self.shape} maps to {cells} cells with this configuration, "
                             f"more than the limit {MAX_CELLS}; use a smaller matrix or more cell_bits")

    def _check_read(self, X, in_bits):
        """Raise ValueError when reading the batch ``X`` would pass ``MAX_READ_VALUES``."""
        groups, _, cols = self._mapped()
        slices = 1
        if self._props["integer"]:
            need, signed = _signed_bits(X)
            bits = need if in_bits is None else in_bits
            mag_bits = bits - 1 if signed else bits
            slices = ceil_div(mag_bits, self.config.dac_bits) + int(signed)
        values = groups * slices * X.shape[0] * cols
        if values > MAX_READ_VALUES:
            most = max(1, MAX_READ_VALUES // (groups * slices * cols))
            raise ValueError(f"x of {X.shape[0]} vectors needs {values} column sums per read, more than "
                             f"the limit {MAX_READ_VALUES}; pass at most {most} vectors per call")

    # -- programming -------------------------------------------------------
    def _array(self, levels, level_max):
        return CellArray(levels, level_max, self.config, self.device, self._rng)

    def _program_integer(self, W):
        """Cell arrays of an integer mapping: ``cell_bits`` slices of the two's complement weights."""
        cfg, wb = self.config, self.w_bits
        bc = cfg.cell_bits
        self.s_w = ceil_div(wb, bc)
        mask = 2**bc - 1

        def sliced(U):  # (m, n) unsigned -> (n, s_w * m) levels, slice-major columns
            return np.concatenate([((U >> (bc * k)) & mask).T for k in range(self.s_w)], axis=1)

        mapping, self.level_max = cfg.mapping, mask
        if mapping == "offset":
            levels = sliced(W + 2 ** (wb - 1))
            levels = np.concatenate([levels, np.ones((W.shape[1], 1), np.int64)], axis=1)
            self.arrays = [self._array(levels, mask)]
        elif mapping == "differential-column":
            self.arrays = [self._array(sliced(np.maximum(W, 0)), mask),
                           self._array(sliced(np.maximum(-W, 0)), mask)]
        else:  # differential-row
            levels = np.concatenate([sliced(np.maximum(W, 0)), sliced(np.maximum(-W, 0))], axis=0)
            self.arrays = [self._array(levels, mask)]

    def _program_binary(self, W):
        """Cell arrays of a BNN/TNN mapping (one-bit cells, see the module table)."""
        m = self.config.mapping
        Wt = W.T  # (n, m)
        pos, neg = (Wt == 1).astype(np.int64), (Wt == -1).astype(np.int64)
        self.level_max = 1
        self.w_sum = W.sum(axis=1)
        if m in ("BNN-I", "BNN-II", "TNN-II", "TNN-III"):
            cells = [pos, neg] if m != "BNN-II" else [neg, pos]
            self.arrays = [self._array(c, 1) for c in cells]
        elif m in ("BNN-III", "BNN-IV"):
            self.arrays = [self._array(pos if m == "BNN-III" else neg, 1)]
        elif m == "BNN-V":
            self.arrays = [self._array(np.concatenate([pos, 1 - pos], axis=0), 1)]
        elif m in ("BNN-VI", "TNN-I"):
            self.arrays = [self._array(np.concatenate([pos, neg], axis=0), 1),
                           self._array(np.concatenate([neg, pos], axis=0), 1)]
        elif m == "TNN-IV":  # two's complement (g1, g0): -1 -> 11, 1 -> 01
            self.arrays = [self._array(pos + neg, 1), self._array(neg, 1)]
        else:  # TNN-V: w + 1 = g0 + 2 g1
            self.arrays = [self._array((Wt == 0).astype(np.int64), 1), self._array(pos, 1)]

    # -- reading -----------------------------------------------------------
    def _full_scale(self, array, dac_max):
        return array.active * self.level_max * dac_max

    def _convert(self, index, inputs, rng, minus=None, dac_max=1, signed=False):
        """Read array ``index`` (minus array ``minus``) with ``inputs``; ADC; sum groups."""
        a = self.arrays[index]
        if minus is not None:
            key = (index, minus)
            if key not in self._pairs:
                self._pairs[key] = a.minus(self.arrays[minus])
            a = self._pairs[key]
        analog = a.read(inputs, rng)
        digital = self._adc(analog, self._full_scale(a, dac_max), signed or minus is not None, index)
        if digital.shape[0] == 1:
            return digital[0].astype(np.float64)
        return digital.sum(axis=0, dtype=np.float64)

    def _adc(self, analog, full_max, signed, key):
        """Digitise column sums (level units) over the configured range; record peaks while calibrating."""
        cfg = self.config
        if self._calibrating:
            peak = float(np.max(np.abs(analog))) if analog.size else 0.0
            self.calibration[key] = max(self.calibration.get(key, 0.0), peak)
            return np.round(analog)
        if cfg.adc_bits is None:
            return analog if self._exact else np.round(analog)
        if isinstance(self.adc_range, str) and self.adc_range == "calibrated":
            top = max(self.calibration.get(key, 0.0), 1.0)
        elif isinstance(self.adc_range, str):
            top = full_max
        else:
            top = float(self.adc_range)
        levels = 2 ** (cfg.adc_bits - 1) - 1 if signed else 2**cfg.adc_bits - 1
        step = max(top / max(levels, 1), 1.0)
        lo = -levels if signed else 0
        # ``analog`` is a fresh array from a read: quantise it in place
        if step != 1.0:
            analog *= 1.0 / step
        if not (self._exact and step == 1.0):
            np.round(analog, out=analog)
        np.clip(analog, lo, levels, out=analog)
        if step != 1.0:
            analog *= step
        return analog

    def calibrate(self, x):
        """Record the largest column sum each ADC sees on inputs ``x`` (nominal cells)."""
        X = np.atleast_2d(_as_int_matrix("x", x, 2))
        if X.shape[1] != self.shape[1]:
            raise ValueError(f"x must have {self.shape[1]} entries per vector, got {X.shape[1]}")
        self._check_read(X, None)
        self.calibration = {}
        self._calibrating = True
        arrays, pairs = self.arrays, self._pairs
        try:
            self.arrays = [nominal(a) for a in arrays]
            self._pairs = {}
            self._run(X, np.random.default_rng(0))
        finally:
            self.arrays, self._pairs = arrays, pairs
            self._calibrating = False
        return self

    _calibrating = False

    def mvm(self, x, accumulator=None, in_bits=None):
        """Return ``W @ x`` as computed by the crossbars, float64 (batch, m) or (m,).

        ``x``: integers, shape (n,) or (batch, n). ``accumulator``: added to
        the result (length m). ``in_bits``: input width (default: the fewest
        bits that hold ``x``; two's complement when ``x`` has negatives).
        """
        X = _as_int_matrix("x", x, 2)
        single = X.ndim == 1
        X = np.atleast_2d(X)
        if X.shape[1] != self.shape[1]:
            raise ValueError(f"x must have {self.shape[1]} entries per vector, got {X.shape[1]}")
        if in_bits is not None:
            in_bits = check_int("in_bits", in_bits, 1, 32)
        self._check_read(X, in_bits)
        if accumulator is not None:
            accumulator = _check_accumulator(accumulator, self.shape[0])
        if self.adc_range == "calibrated" and self.calibration is None and self.config.adc_bits:
            self.calibrate(X)
        out = self._run(X, self._rng, in_bits)
        if accumulator is not None:
            out = out + accumulator
        return out[0] if single else out

    def _run(self, X, rng, in_bits=None):
        if self.config.mapping in INTEGER_MAPPINGS:
            return self._run_integer(X, rng, in_bits)
        _check_values("x", X, self.config.mapping)
        return self._run_binary(X, rng)

    def _run_integer(self, X, rng, in_bits):
        """``W @ x`` of an integer mapping: read every input slice, shift and add slices and cells."""
        cfg = self.config
        slices, coefs = _input_slices(X, cfg.dac_bits, in_bits)
        S, N = slices.shape[:2]
        flat = slices.reshape(S * N, -1)
        dac_max = 2**cfg.dac_bits - 1
        m = self.shape[0]
        if cfg.mapping == "offset":
            D = self._convert(0, flat, rng, dac_max=dac_max)
            extra = D[:, -1:]
            D = D[:, :-1]
        elif cfg.mapping == "differential-column":
            D = self._convert(0, flat, rng, minus=1, dac_max=dac_max)
        else:
            D = self._convert(0, np.concatenate([flat, -flat], axis=1), rng, dac_max=dac_max, signed=True)
        D = D.reshape(S, N, self.s_w, m)
        wk = 2.0 ** (cfg.cell_bits * np.arange(self.s_w))
        per_slice = np.einsum("snkm,k->snm", D, wk)
        if cfg.mapping == "offset":
            per_slice = per_slice - 2.0 ** (self.w_bits - 1) * extra.reshape(S, N, 1)
        return np.einsum("snm,s->nm", per_slice, coefs)

    def _run_binary(self, X, rng):
        """``W @ x`` of a BNN/TNN mapping from its reads (see the module table)."""
        mp = self.config.mapping
        x_sum = X.sum(axis=1, keepdims=True).astype(np.float64)
        vp, vn = (X == 1).astype(np.int64), (X == -1).astype(np.int64)
        c = self._convert
        if mp == "BNN-I":
            return 2 * c(0, vp, rng, minus=1) - self.w_sum
        if mp == "BNN-II":
            return 2 * c(0, vn, rng, minus=1) + self.w_sum
        if mp in ("BNN-III", "BNN-IV"):
            diff = c(0, vp, rng) - c(0, vn, rng)
            return 2 * diff - x_sum if mp == "BNN-III" else x_sum - 2 * diff
        if mp == "BNN-V":
            v = (X + 1) // 2
            return 2 * c(0, np.concatenate([v, 1 - v], axis=1), rng) - X.shape[1]
        if mp in ("BNN-VI", "TNN-I"):
            return c(0, np.concatenate([vp, vn], axis=1), rng, minus=1)
        if mp == "TNN-II":  # x = v0 - 2 v1 with -1 -> 11, 1 -> 01
            return c(0, vp + vn, rng, minus=1) - 2 * c(0, vn, rng, minus=1)
        if mp == "TNN-III":  # x + 1 = v0 + 2 v1
            return c(0, (X == 0).astype(np.int64), rng, minus=1) + 2 * c(0, vp, rng, minus=1) - self.w_sum
        # TNN-IV / TNN-V: two columns read in two pulses, positive-only ADC
        def side(v):
            low, high = c(0, v, rng), c(1, v, rng)
            return low - 2 * high if mp == "TNN-IV" else low + 2 * high
        out = side(vp) - side(vn)
        return out if mp == "TNN-IV" else out - x_sum


def _check_weight_bits(W, w_bits):
    need, _ = _signed_bits(W)
    if np.min(W) >= 0:
        need += 1  # weights are two's complement
    if w_bits is None:
        return need
    w_bits = check_int("w_bits", w_bits, 1, 32)
    if np.min(W) < -(2 ** (w_bits - 1)) or np.max(W) > 2 ** (w_bits - 1) - 1:
        raise ValueError(f"W must fit w_bits={w_bits} two's complement: [{-(2 ** (w_bits - 1))}, {2 ** (w_bits - 1) - 1}]")
    return w_bits


def number_array(name, value, expected=""):
    """``value`` as a float64 array; TypeError unless it holds numbers (``expected``: what the message adds)."""
    arr = np.asarray(value)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be finite numbers{expected}, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def check_finite(name, arr, expected=""):
    """``arr`` itself; ValueError naming its first value that is not finite."""
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite numbers{expected}, got {arr[~np.isfinite(arr)].ravel()[0]}")
    return arr


def _check_accumulator(value, m):
    """The accumulator as float64 numbers, finite, broadcastable to ``m`` outputs."""
    expected = f" (length {m})"
    arr = check_finite("accumulator", number_array("accumulator", value, expected), expected)
    if arr.ndim > 2 or (arr.ndim >= 1 and arr.shape[-1] not in (1, m)):
        raise ValueError(f"accumulator must have {m} entries (one per output), got shape {arr.shape}")
    return arr


def _check_values(name, values, mapping):
    allowed = (-1, 1) if mapping in BNN_MAPPINGS else (-1, 0, 1)
    if not np.isin(values, allowed).all():
        raise ValueError(f"{name} must hold only {allowed} for mapping {mapping}")


def _input_slices(X, dac_bits, in_bits):
    """Split integer inputs into (slices, batch, n) DAC values and their weights."""
    need, signed = _signed_bits(X)
    if in_bits is None:
        in_bits = need
    else:
        in_bits = check_int("in_bits", in_bits, 1, 32)
        lo = -(2 ** (in_bits - 1)) if signed else 0
        hi = 2 ** (in_bits - 1) - 1 if signed else 2**in_bits - 1
        if X.min() < lo or X.max() > hi:
            raise ValueError(f"x must fit {in_bits} bits: [{lo}, {hi}]")
    mag_bits = in_bits - 1 if signed else in_bits
    low = X + (2 ** (in_bits - 1)) * (X < 0) if signed else X
    count = ceil_div(mag_bits, dac_bits) if mag_bits else 0
    shifts = dac_bits * np.arange(count, dtype=np.int64)
    low = low.astype(np.uint8 if mag_bits <= 8 else np.uint32 if mag_bits <= 32 else np.uint64)
    slices = np.empty((count,) + X.shape, dtype=np.float32)
    mask = low.dtype.type(2**dac_bits - 1)
    for k, shift in enumerate(shifts):
        np.copyto(slices[k], (low >> low.dtype.type(shift)) & mask, casting="unsafe")
    coefs = 2.0**shifts
    if signed:
        slices = np.concatenate([slices, (X < 0)[None].astype(np.float32)])
        coefs = np.append(coefs, -(2.0 ** (in_bits - 1)))
    return slices, coefs


def program(W, config=None, *, w_bits=None, adc_range="full-scale", seed=0, **options):
    """Program weight matrix ``W`` (m x n) onto crossbars; return a :class:`CrossbarLayer`.

    ``options`` are :class:`~airchitect.targets.cim.CrossbarConfig` fields and
    :class:`Device` fields (``r_on_ohm``, ``r_off_ohm``, ``d2d_sigma``,
    ``c2c_sigma``). ``adc_range``: ``"full-scale"``, ``"calibrated"`` or the
    largest column sum (level units) the ADC resolves. ``seed`` fixes the
    device-to-device draw and the stream of cycle-to-cycle draws.

    A matrix that maps to more than ``MAX_CELLS`` (2**26) cells raises
    ValueError before programming; so does a read of more than
    ``MAX_READ_VALUES`` (2**27) column sums (row groups x input slices x
    vectors x columns) in :meth:`CrossbarLayer.mvm`.
    """
    device = Device(**{k: options.pop(k) for k in list(options) if k in DEVICE_FIELDS})
    cfg = make_config(config, **options)
    if isinstance(seed, (bool, np.bool_, float, np.floating)):
        raise TypeError(f"seed must be an integer >= 0 or None, got {type(seed).__name__} {seed!r}")
    if isinstance(adc_range, str):
        check_choice("adc_range", adc_range, ADC_RANGES)
    else:
        check_number_array("adc_range", adc_range, 0.0, 1e18, low_open=True)
    W = _as_int_matrix("W", W, 2)
    if W.ndim != 2:
        raise ValueError("W must be a 2-D matrix (outputs x inputs)")
    return CrossbarLayer(W, cfg, device, w_bits, adc_range, seed)


def mvm(W, x, *, accumulator=None, in_bits=None, **config):
    """Compute ``W @ x (+ accumulator)`` on simulated crossbars.

    ``W``: integer matrix (m x n); ``x``: integer vector (n,) or batch
    (batch, n). ``config``: everything :func:`program` accepts. Returns a
    float64 array (m,) or (batch, m).

    >>> mvm([[1, -1], [2, 3]], [[1, 2], [3, 4]], mapping="offset").tolist()
    [[-1.0, 8.0], [-1.0, 18.0]]
    """
    return program(W, **config).mvm(x, accumulator=accumulator, in_bits=in_bits)

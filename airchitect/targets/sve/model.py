"""Analytic cost model of the SVE mmt4d micro-kernel plus pack/unpack.

The micro-kernel (see :mod:`airchitect.targets.sve.kernel`) computes one
``M0 x N0`` tile per call of its middle loop. Per k-step (``K0`` reduction
elements) it issues

* ``M0 * u`` LD1RW broadcast loads of LHS groups,
* ``n_v`` RHS loads (LD1W, LD2W or LD4W, each filling ``u`` vectors),
* ``M0 * n_v * u`` FMA-like instructions (FMLA, BFDOT or SDOT),
* ``LOOP_K_INSTRUCTIONS`` loop instructions (counter, two pointers, compare, branch).

A tile adds ``M0 * n_v`` zeroing moves, ``M0 * n_v`` stores and
``LOOP_TILE_INSTRUCTIONS``; a row of tiles ``LOOP_ROW_INSTRUCTIONS``; the
call ``CALL_INSTRUCTIONS`` plus one STP and one LDP per pair of
callee-saved registers z8-z15 that a tile of more than 24 registers needs.
These constants are read off the code ``aarch64-linux-gnu-gcc -O2`` (12.2)
emits for the generated kernel (flags in ``toolchain.NO_ALIGN``). Tiles of 30
or more registers make gcc spill inside the loop; the model does not count
spill code.

Cycles per k-step are the maximum of five bounds on a :class:`Core`: FMA
pipes, load slots, L1 bytes, issue slots (micro-ops) and the accumulator
dependency chain (``u`` dependent FMAs of latency ``fma_latency``). A
vector instruction wider than the core's datapath is cracked into
``ceil(vl_bits / datapath)`` micro-ops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_int_array
from airchitect._math import ceil_div
from airchitect.targets.sve.config import (
    ACC_BITS,
    DOT_WIDTH,
    DTYPES,
    INPUT_BITS,
    MAX_COUNT,
    MAX_ROWS,
    VL_BITS,
    registers,
)

LOOP_K_INSTRUCTIONS = 5
LOOP_TILE_INSTRUCTIONS = 10
LOOP_ROW_INSTRUCTIONS = 10
CALL_INSTRUCTIONS = 16
CALLER_SAVED_VECTORS = 24  # z0-z7 and z16-z31; d8-d15 are callee-saved
BOUNDS = ("fma", "load", "bandwidth", "issue", "latency")


@dataclass(frozen=True)
class Core:
    """A parameterised out-of-order core running the micro-kernel.

    ``fma_width_bits`` / ``load_width_bits`` of ``None`` mean "as wide as the
    vector length" (the scaling assumption of vector-length simulator
    studies); ``l1_bytes_per_cycle`` of ``None`` means ``loads_per_cycle *
    load width / 8``.
    """

    name: str
    fma_pipes: int
    fma_width_bits: int | None
    loads_per_cycle: int
    load_width_bits: int | None
    stores_per_cycle: int
    issue_width: int
    fma_latency_cycles: dict = field(default_factory=lambda: {"f32": 4, "bf16": 4, "i8": 3})
    l1_bytes_per_cycle: float | None = None


CORES = {
    # Neoverse V1 (SVE at 256 bits): SVE FMLA issues to two pipes (V0/V1 pair),
    # latency 4; SVE contiguous and broadcast loads use the two L01 pipes;
    # 8 instructions decoded per cycle. Here the FMA pipes and loads are as
    # wide as the vector length (the scaling assumption of simulator studies).
    "v1": Core("v1", fma_pipes=2, fma_width_bits=None, loads_per_cycle=2, load_width_bits=None,
               stores_per_cycle=1, issue_width=8),
    # Neoverse V2 (SVE2 at 128 bits): four 128-bit FP/SIMD pipes V0-V3, FMLA
    # latency 4; three load pipes (L01, L2) of 128 bits; two store-data pipes;
    # 6 instructions decoded per cycle. Longer vectors are cracked into
    # 128-bit micro-ops.
    "v2": Core("v2", fma_pipes=4, fma_width_bits=128, loads_per_cycle=3, load_width_bits=128,
               stores_per_cycle=2, issue_width=6),
}


def get_core(core):
    """A :class:`Core` from its name in ``CORES`` or the object itself."""
    if isinstance(core, Core):
        return core
    return CORES[check_choice("core", core, tuple(CORES))]


def _k0_unroll(k0, dtype):
    width = DOT_WIDTH[dtype]
    allowed = (width, 2 * width, 4 * width)
    bad = ~np.isin(k0, allowed)
    if bad.any():
        raise ValueError(
            f"k0 must be one of {', '.join(map(str, allowed))} for {dtype}; got {k0[bad].ravel()[0]}"
        )
    return k0 // width


def kernel_counts(m1, n1, k1, m0, n_v, u):
    """Executed instructions of the micro-kernel: (total, fma, loads) arrays."""
    tiles = m1 * n1
    saved_pairs = np.clip((registers(m0, n_v, u) - CALLER_SAVED_VECTORS) // 2, 0, 4)
    fma = tiles * k1 * m0 * n_v * u
    loads = tiles * k1 * (m0 * u + n_v)
    per_tile = LOOP_TILE_INSTRUCTIONS + 2 * m0 * n_v
    total = (fma + loads + tiles * k1 * LOOP_K_INSTRUCTIONS + tiles * per_tile
             + m1 * LOOP_ROW_INSTRUCTIONS + CALL_INSTRUCTIONS + 2 * saved_pairs)
    return total, fma, loads


def _kstep_bounds(core, vl, m0, n_v, u, dtype):
    """Cycles per k-step under each bound, stacked on a last axis (order ``BOUNDS``)."""
    fma_width = vl if core.fma_width_bits is None else np.minimum(vl, core.fma_width_bits)
    load_width = vl if core.load_width_bits is None else np.minimum(vl, core.load_width_bits)
    fma_uops = ceil_div(vl, fma_width)
    load_uops = ceil_div(vl, load_width)
    fma = m0 * n_v * u
    rhs_vectors = n_v * u
    l1_bytes = (core.loads_per_cycle * load_width / 8 if core.l1_bytes_per_cycle is None
                else core.l1_bytes_per_cycle)
    bytes_ = m0 * u * 4 + rhs_vectors * vl / 8
    uops = fma * fma_uops + m0 * u + rhs_vectors * load_uops + LOOP_K_INSTRUCTIONS
    return np.stack(np.broadcast_arrays(
        fma * fma_uops / core.fma_pipes,
        (m0 * u + rhs_vectors * load_uops) / core.loads_per_cycle,
        bytes_ / l1_bytes,
        uops / core.issue_width,
        u * core.fma_latency_cycles[dtype] * np.ones_like(fma),
    ), axis=-1), l1_bytes


def simulate(M, N, K, vl_bits, m0, n_v, k0, dtype="f32", core="v1"):
    """Model the packed GEMM ``C[M, N] = A[M, K] @ B[K, N]`` on an SVE core.

    All numeric arguments broadcast against each other (numpy rules); one
    row per broadcast element.

    Parameters
    ----------
    M, N, K : int or array of int
        GEMM sizes, each in ``[1, 2**31 - 1]``; every count of the result
        must stay below ``MAX_COUNT`` (2**62), which holds whenever
        ``M * N * K <= 2**50``.
    vl_bits : int or array
        Vector length in bits, one of 128, 256, 512, 1024, 2048.
    m0 : int or array
        Tile rows, 1..16.
    n_v : int or array
        Accumulator vectors per tile row, 1..4; ``N0 = n_v * vl_bits / 32``.
    k0 : int or array
        Reduction elements per k-step: ``DOT_WIDTH[dtype] * u`` with u in
        1, 2, 4 (f32: 1, 2, 4; bf16: 2, 4, 8; i8: 4, 8, 16).
    dtype : {"f32", "bf16", "i8"}
    core : {"v1", "v2"} or Core

    Returns
    -------
    pandas.DataFrame
        At most ``MAX_ROWS`` (2**22) rows. Inputs plus ``n0``, ``cycles`` (kernel + pack/unpack), ``kernel_cycles``,
        ``pack_cycles``, ``instructions`` (executed by the micro-kernel),
        ``fma_instructions``, ``loads``, ``useful_fraction`` (``M*N`` over
        padded ``M * N``), ``registers``, ``legal`` and ``bound`` (the k-step
        bound that dominates).

    Examples
    --------
    >>> df = simulate(64, 64, 64, 128, 4, 2, 1)
    >>> int(df.instructions[0]), int(df.fma_instructions[0]), bool(df.legal[0])
    (159152, 65536, True)
    """
    dtype = check_choice("dtype", dtype, DTYPES)
    core = get_core(core)
    M, N, K = (check_int_array(n, v, 1) for n, v in (("M", M), ("N", N), ("K", K)))
    vl = check_int_array("vl_bits", vl_bits, 128, 2048)
    if not np.isin(vl, VL_BITS).all():
        raise ValueError(f"vl_bits must be one of {', '.join(map(str, VL_BITS))}; got {vl[~np.isin(vl, VL_BITS)].ravel()[0]}")
    m0 = check_int_array("m0", m0, 1, 16)
    n_v = check_int_array("n_v", n_v, 1, 4)
    k0 = check_int_array("k0", k0, 1, 16)
    _check_rows(M, N, K, vl, m0, n_v, k0)
    M, N, K, vl, m0, n_v, k0 = (a.ravel() for a in np.broadcast_arrays(M, N, K, vl, m0, n_v, k0))
    u = _k0_unroll(k0, dtype)
    _check_counts(M, N, K, vl, m0, n_v, u, dtype)
    out = evaluate(M, N, K, vl, m0, n_v, u, dtype, core)
    bounds = out.pop("bounds")
    return pd.DataFrame({
        "M": M, "N": N, "K": K, "vl_bits": vl, "m0": m0, "n_v": n_v, "k0": k0,
        "n0": out.pop("n0"), "dtype": dtype, "core": core.name, **out,
        "bound": np.asarray(BOUNDS)[bounds.argmax(axis=-1)],
    })


def _check_rows(*arrays):
    """Raise ValueError when the arguments broadcast to more than ``MAX_ROWS`` rows."""
    rows = int(np.prod(np.broadcast_shapes(*(np.shape(a) for a in arrays)), dtype=object))
    if rows > MAX_ROWS:
        raise ValueError(f"M, N, K, vl_bits, m0, n_v, k0 broadcast to {rows} rows, more than the "
                         f"limit {MAX_ROWS}; simulate fewer at a time")


def _check_counts(M, N, K, vl, m0, n_v, u, dtype):
    """Raise ValueError where an int64 count of :func:`evaluate` would pass ``MAX_COUNT``."""
    k0 = u * DOT_WIDTH[dtype]
    n0 = vl * n_v // ACC_BITS
    m1, n1, k1 = (np.ceil(np.asarray(a, dtype=np.float64) / b) for a, b in ((M, m0), (N, n0), (K, k0)))
    total, _, _ = kernel_counts(m1, n1, k1, m0, n_v, u)
    largest = np.maximum.reduce([total, (m1 * m0 + n1 * n0) * k1 * k0, (m1 * m0) * (n1 * n0),
                                 M.astype(np.float64) * N * ACC_BITS])
    bad = largest > MAX_COUNT
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"M, N, K must keep every count below {MAX_COUNT} (2**62); "
                         f"M={M[i]}, N={N[i]}, K={K[i]} give about {largest[i]:.3g}")


def evaluate(M, N, K, vl, m0, n_v, u, dtype, core, columns=None):
    """Unchecked array core of :func:`simulate` (``u = k0 / DOT_WIDTH[dtype]``).

    Arguments broadcast; returns a dict of arrays (``columns`` limits the
    work to ``cycles`` or ``instructions`` when given).
    """
    core = get_core(core)
    k0 = u * DOT_WIDTH[dtype]
    n0 = vl * n_v // ACC_BITS
    m1, n1, k1 = ceil_div(M, m0), ceil_div(N, n0), ceil_div(K, k0)
    total, fma, loads = kernel_counts(m1, n1, k1, m0, n_v, u)
    if columns == "instructions":
        return {"instructions": total}
    bounds, l1_bytes = _kstep_bounds(core, vl, m0, n_v, u, dtype)
    kstep = bounds.max(axis=-1)
    store_width = vl if core.load_width_bits is None else np.minimum(vl, core.load_width_bits)
    tile_cycles = m0 * n_v * ceil_div(vl, store_width) / core.stores_per_cycle
    kernel_cycles = m1 * n1 * (k1 * kstep + tile_cycles)
    moved = (m1 * m0 + n1 * n0) * k1 * k0 * (INPUT_BITS[dtype] / 8) + M * N * ACC_BITS / 8
    pack_cycles = 2 * moved / l1_bytes
    if columns == "cycles":
        return {"cycles": kernel_cycles + pack_cycles}
    regs = registers(m0, n_v, u)
    return {
        "n0": n0,
        "cycles": kernel_cycles + pack_cycles,
        "kernel_cycles": kernel_cycles,
        "pack_cycles": pack_cycles,
        "instructions": total,
        "fma_instructions": fma,
        "loads": loads,
        "useful_fraction": (M * N) / ((m1 * m0) * (n1 * n0)),
        "registers": regs,
        "legal": regs <= 32,
        "bounds": bounds,
    }

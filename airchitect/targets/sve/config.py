"""The SVE configuration: vector length, element type and register tile.

An mmt4d micro-kernel computes one ``M0 x N0`` output tile from packed
operands, ``K0`` reduction elements per step. Every element type accumulates
in 32-bit lanes (f32 in f32, bf16 in f32 via BFDOT, i8 in i32 via SDOT), so
the accumulator layout has ``ACC_BITS = 32`` bits per element and

    N0 = n_v * vl_bits / ACC_BITS

(``n_v`` accumulator vectors per tile row). One 32-bit lane consumes a
*group* of ``DOT_WIDTH[dtype]`` input elements along K (1 for f32, 2 for bf16,
4 for i8); a k-step unrolls ``u`` groups, so ``K0 = DOT_WIDTH[dtype] * u``
with ``u`` in ``UNROLLS``.

Registers of one tile (32 SVE Z registers):

    M0 * n_v accumulators + n_v * u RHS vectors + 2 LHS registers

(an LHS register holds one 32-bit group broadcast to every lane by LD1RW;
two of them let the next broadcast load overlap the current FMAs). A tile
is legal when that sum is at most ``VECTOR_REGISTERS``.
"""

from __future__ import annotations

import numpy as np

from airchitect._checks import check_choice, check_int

VL_BITS = (128, 256, 512, 1024, 2048)
DTYPES = ("f32", "bf16", "i8")
ACC_BITS = 32
INPUT_BITS = {"f32": 32, "bf16": 16, "i8": 8}
DOT_WIDTH = {"f32": 1, "bf16": 2, "i8": 4}
UNROLLS = (1, 2, 4)
VECTOR_REGISTERS = 32
LHS_REGISTERS = 2
M0_RANGE = (1, 16)
N_V_RANGE = (1, 4)

#: Largest number of rows (broadcast elements) one :func:`~airchitect.targets.sve.simulate` call returns.
MAX_ROWS = 2**22
#: Largest number of elements of packed A, packed B and tiled C together in one ``mmt4d`` call.
MAX_PACKED_ELEMENTS = 2**27
#: Largest number of multiply-adds (padded tiles included) of one ``mmt4d`` call.
MAX_MACS = 2**36
#: Largest instruction, load or byte count :func:`~airchitect.targets.sve.simulate` computes (int64 stays exact).
MAX_COUNT = 2**62


def k0_choices(dtype):
    """Allowed ``K0`` values for ``dtype``: ``DOT_WIDTH[dtype] * u``, u in UNROLLS.

    >>> k0_choices("i8")
    (4, 8, 16)
    """
    return tuple(DOT_WIDTH[dtype] * u for u in UNROLLS)


def n0_of(vl_bits, n_v):
    """Tile width ``N0`` in output elements: ``n_v * vl_bits / 32``.

    >>> int(n0_of(512, 2))
    32
    """
    return np.asarray(n_v) * np.asarray(vl_bits) // ACC_BITS


def registers(m0, n_v, u):
    """Z registers a tile needs: accumulators + RHS vectors + LHS broadcasts.

    >>> int(registers(8, 2, 1))
    20
    """
    m0, n_v, u = np.asarray(m0), np.asarray(n_v), np.asarray(u)
    return m0 * n_v + n_v * u + LHS_REGISTERS


def is_legal(m0, n_v, u):
    """True where the tile fits in the 32 vector registers."""
    return registers(m0, n_v, u) <= VECTOR_REGISTERS


def check_tile(m0, n_v, k0, dtype="f32"):
    """Validate a tile of the ``sve`` space; return ``u = k0 / DOT_WIDTH[dtype]``.

    ``m0`` must be an integer in ``M0_RANGE`` (1..16), ``n_v`` in
    ``N_V_RANGE`` (1..4), ``k0`` one of :func:`k0_choices` (f32: 1, 2, 4) and
    the tile must fit in the 32 vector registers (:func:`registers`); a
    ValueError (TypeError for a non-integer) names the field and the rule,
    for the registers with the count split into its three parts.

    >>> check_tile(2, 4, 4)
    4
    >>> check_tile(8, 4, 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: tile m0=8, n_v=4, k0=1 needs 38 vector registers, more than 32 (32 accumulators + ...)
    """
    dtype = check_choice("dtype", dtype, DTYPES)
    m0 = check_int("m0", m0, *M0_RANGE)
    n_v = check_int("n_v", n_v, *N_V_RANGE)
    allowed = k0_choices(dtype)
    if isinstance(k0, (bool, np.bool_)) or not isinstance(k0, (int, np.integer)):
        raise TypeError(f"k0 must be one of {', '.join(map(str, allowed))} for {dtype}, got {k0!r}")
    if k0 not in allowed:
        raise ValueError(f"k0 must be one of {', '.join(map(str, allowed))} for {dtype}, got {k0}")
    u = int(k0) // DOT_WIDTH[dtype]
    need = int(registers(m0, n_v, u))
    if need > VECTOR_REGISTERS:
        raise ValueError(f"tile m0={m0}, n_v={n_v}, k0={int(k0)} needs {need} vector registers, more than "
                         f"{VECTOR_REGISTERS} ({m0 * n_v} accumulators + {n_v * u} RHS vectors + "
                         f"{LHS_REGISTERS} LHS broadcasts)")
    return u

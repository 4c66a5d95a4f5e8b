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

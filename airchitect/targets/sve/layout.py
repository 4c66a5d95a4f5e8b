"""Packed (mmt4d) layouts in numpy: pack, tiled product, unpack.

``A`` (``M x K``) packs to ``ceil(M/M0) x ceil(K/K0) x M0 x K0``; ``B``
(``K x N``) packs to ``ceil(N/N0) x ceil(K/K0) x N0 x K0`` (transposed tiles,
K innermost); padding is zero. The tiled product gives
``ceil(M/M0) x ceil(N/N0) x M0 x N0`` and unpacking crops to ``M x N``.
"""

from __future__ import annotations

import numpy as np

from airchitect._checks import check_int
from airchitect._math import ceil_div
from airchitect.targets.sve.config import MAX_MACS, MAX_PACKED_ELEMENTS


def _padded(x, rows, cols):
    out = np.zeros((rows, cols), dtype=x.dtype)
    out[: x.shape[0], : x.shape[1]] = x
    return out


def pack_lhs(a, m0, k0):
    """Pack ``a`` (``M x K``) into ``ceil(M/m0) x ceil(K/k0) x m0 x k0``.

    >>> pack_lhs(np.arange(6).reshape(2, 3), 2, 2).shape
    (1, 2, 2, 2)
    """
    a = np.asarray(a)
    m1, k1 = ceil_div(a.shape[0], m0), ceil_div(a.shape[1], k0)
    return _padded(a, m1 * m0, k1 * k0).reshape(m1, m0, k1, k0).transpose(0, 2, 1, 3).copy()


def pack_rhs(b, n0, k0):
    """Pack ``b`` (``K x N``) into ``ceil(N/n0) x ceil(K/k0) x n0 x k0``."""
    return pack_lhs(np.asarray(b).T, n0, k0)


def unpack(c4, m, n):
    """Unpack ``M1 x N1 x M0 x N0`` tiles into the ``m x n`` result."""
    m1, n1, m0, n0 = c4.shape
    return c4.transpose(0, 2, 1, 3).reshape(m1 * m0, n1 * n0)[:m, :n]


def packed_size(m, n, k, m0, n0, k0):
    """``(elements, macs)`` of an ``m x n x k`` product through ``m0 x n0 x k0`` tiles.

    ``elements`` counts packed A, packed B and the tiled result together;
    ``macs`` the multiply-adds of the tiled product, padding included
    (Python ints, exact).

    >>> packed_size(3, 5, 4, 2, 4, 3)  # padded A 4x6, B 6x8, C 4x8: 24 + 48 + 32
    (104, 192)
    """
    m1, n1, k1 = ceil_div(m, m0), ceil_div(n, n0), ceil_div(k, k0)
    elements = m1 * m0 * k1 * k0 + n1 * n0 * k1 * k0 + m1 * m0 * n1 * n0
    return elements, m1 * m0 * n1 * n0 * k1 * k0


def check_packed_size(m, n, k, m0, n0, k0):
    """Raise ValueError when the tiles pad the product past ``MAX_PACKED_ELEMENTS`` or ``MAX_MACS``."""
    elements, macs = packed_size(m, n, k, m0, n0, k0)
    tiles = f"m0={m0}, n0={n0}, k0={k0}"
    if elements > MAX_PACKED_ELEMENTS:
        raise ValueError(f"tiles {tiles} pad a {m}x{n}x{k} product to {elements} packed elements, "
                         f"more than the limit {MAX_PACKED_ELEMENTS}; use smaller tiles or matrices")
    if macs > MAX_MACS:
        raise ValueError(f"tiles {tiles} make a {m}x{n}x{k} product {macs} multiply-adds, "
                         f"more than the limit {MAX_MACS}; use smaller tiles or matrices")


def mmt4d(a, b, m0, n0, k0):
    """``a @ b`` through packed tiles ``m0 x n0 x k0`` (pack, tiled product, unpack).

    Integer inputs accumulate in int64, floating inputs in their own type.
    Tiles are integers in [1, 2**20]; a call whose padded operands and result
    exceed ``MAX_PACKED_ELEMENTS`` (2**27) elements or whose tiled product
    exceeds ``MAX_MACS`` (2**36) multiply-adds raises ValueError before any
    work.

    Examples
    --------
    >>> a = np.arange(12.0).reshape(3, 4); b = np.ones((4, 5))
    >>> np.array_equal(mmt4d(a, b, 2, 4, 3), a @ b)
    True
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"A and B must be M x K and K x N matrices, got {a.shape} and {b.shape}")
    m0, n0, k0 = (check_int(name, v, 1, 1 << 20) for name, v in (("m0", m0), ("n0", n0), ("k0", k0)))
    check_packed_size(a.shape[0], b.shape[1], a.shape[1], m0, n0, k0)
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":
        a, b = a.astype(np.int64), b.astype(np.int64)
    lhs, rhs = pack_lhs(a, m0, k0), pack_rhs(b, n0, k0)
    c4 = np.einsum("ikmc,jknc->ijmn", lhs, rhs, optimize=True)
    return unpack(c4, a.shape[0], b.shape[1])

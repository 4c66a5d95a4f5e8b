"""Small integer helpers shared by the cost models.

>>> ceil_div(7, 2)
4
"""

from __future__ import annotations

from numba.extending import register_jitable


@register_jitable(inline="always")
def ceil_div(a, b):
    """``ceil(a / b)`` for integers (Python ints, numpy arrays, or inside numba kernels)."""
    return -(-a // b)

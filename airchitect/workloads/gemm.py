"""The GEMM workload: ``C[M, N] = A[M, K] @ B[K, N]``."""

from __future__ import annotations

from dataclasses import dataclass

from airchitect._checks import INT_MAX, check_int


@dataclass(frozen=True)
class Gemm:
    """A general matrix multiply of an ``M x K`` by a ``K x N`` matrix.

    Parameters
    ----------
    M, N, K : int
        Rows of the output, columns of the output, and the reduction length.
        Each an integer in ``[1, 2**31 - 1]``.

    Examples
    --------
    >>> g = Gemm(64, 128, 32)
    >>> g.macs
    262144
    >>> Gemm(0, 1, 1)
    Traceback (most recent call last):
    ...
    ValueError: M must be an integer in [1, 2147483647], got 0
    """

    M: int
    N: int
    K: int

    def __post_init__(self):
        for name in ("M", "N", "K"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), 1, INT_MAX))

    @property
    def macs(self) -> int:
        """Multiply-accumulate operations, ``M * N * K``."""
        return self.M * self.N * self.K

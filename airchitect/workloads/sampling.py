"""Seeded samplers of GEMM workloads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect._checks import INT_MAX, check_int


#: most rows one sampler call draws (a few GB of integer columns)
MAX_SAMPLE_ROWS = 10**8


def check_sample_args(n, seed):
    """``(n, seed)`` of a sampler, checked: ``n`` rows in ``[0, MAX_SAMPLE_ROWS]``, ``seed``
    an integer in ``[0, 2^63 - 1]`` (the same seed gives the same rows).

    >>> check_sample_args(10, 3)
    (10, 3)
    """
    return check_int("n", n, 0, MAX_SAMPLE_ROWS), check_int("seed", seed, 0, 2**63 - 1)


def sample_gemms(n, seed=0, low=1, high=16384):
    """Draw ``n`` GEMMs with M, N and K each log-uniform over ``[low, high]``.

    Each dimension is ``floor(exp(u))`` with ``u`` uniform over
    ``[log(low), log(high + 1))``, so every integer in ``[low, high]`` can
    occur and ``P(d <= x)`` follows the log-uniform law at integer ``x``.
    The three dimensions are independent.

    Parameters
    ----------
    n : int
        Number of GEMMs, ``>= 0``.
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same rows.
    low, high : int
        Inclusive bounds, ``1 <= low <= high <= 2**31 - 2``.

    Returns
    -------
    pandas.DataFrame
        Columns ``M``, ``N``, ``K`` (int64), ``n`` rows.

    Examples
    --------
    >>> df = sample_gemms(3, seed=1)
    >>> list(df.columns), df.dtypes.unique().tolist()
    (['M', 'N', 'K'], [dtype('int64')])
    >>> sample_gemms(3, seed=1).equals(df)
    True
    """
    n, seed = check_sample_args(n, seed)
    low = check_int("low", low, 1, INT_MAX - 1)
    high = check_int("high", high, low, INT_MAX - 1)
    rng = np.random.default_rng(seed)
    u = rng.uniform(np.log(low), np.log(high + 1.0), size=(n, 3))
    dims = np.clip(np.floor(np.exp(u)), low, high).astype(np.int64)
    return pd.DataFrame(dims, columns=["M", "N", "K"])

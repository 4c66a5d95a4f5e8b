"""Loader of the public AIrchitect v2 dataset (Seo et al., DATE 2025).

The dataset ships as two row-aligned CSV files (see its README):

* ``conv.csv``: ``K`` (filters), ``C`` (channels), ``X``, ``Y`` (input height
  and width), ``R``, ``S`` (filter height and width), ``df`` (dataflow:
  ``dla``, ``eye``, ``shi``), ``ConfigID``, ``rewards`` (MAESTRO latency).
* ``gemm.csv``: its im2col view ``M = K``, ``N = (X - R + 1) * (Y - S + 1)``,
  ``GEMM_K = C * R * S``, with the same ``df``, ``ConfigID`` and ``rewards``.

``ConfigID = (PE - 1) * 12 + (Buf - 1)`` with ``PE`` in 1..64 and ``Buf`` in
1..12; the loader adds the columns ``pe`` and ``buf`` so decoded, and ``row``,
the 0-based data row of the CSV file each kept row comes from.

Bad rows are dropped with a warning that counts and names them by reason and
row (``strict=True`` raises ``ValueError`` instead). A row is bad when a
numeric field is missing, not a whole number, or below 1; ``df`` is not a
known dataflow; ``ConfigID`` is outside 0..767; ``rewards`` is not a finite
positive number; in ``conv.csv`` the filter is larger than the input
(``X < R`` or ``Y < S``: no valid output pixel); in ``gemm.csv``, when the
row-aligned ``conv.csv`` sits beside it, the matching conv row is such an
invalid layer (the product of two negative output sizes gives a positive
``N`` that cannot be told apart from ``gemm.csv`` alone).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from airchitect._checks import INT_MAX, check_choice

#: Environment variable naming the directory that holds ``gemm.csv`` and ``conv.csv``.
ENV_VAR = "AIRCHITECT_V2_DATA"

#: Expected columns of each file, in order.
COLUMNS = {
    "gemm": ("M", "N", "GEMM_K", "df", "ConfigID", "rewards"),
    "conv": ("K", "C", "X", "Y", "R", "S", "df", "ConfigID", "rewards"),
}

DATAFLOWS = ("dla", "eye", "shi")
N_PE, N_BUF = 64, 12
N_CONFIGS = N_PE * N_BUF
_SHOWN_ROWS = 10


def default_path():
    """Directory of the dataset: ``$AIRCHITECT_V2_DATA``, else ``shared/data/airchitect_v2``
    in the folder beside the repository (or beside any parent of the working directory).

    Raises ``FileNotFoundError`` naming the places it looked when none exists.
    """
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    tail = Path("shared", "data", "airchitect_v2")
    repo = Path(__file__).resolve().parents[2]
    candidates = [repo.parent / tail] + [p / tail for p in (Path.cwd(), *Path.cwd().parents)]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        f"AIrchitect v2 dataset not found: set {ENV_VAR} to the directory holding gemm.csv "
        f"and conv.csv (looked in {candidates[0]} and in shared/data/airchitect_v2 "
        f"under {Path.cwd()} and its parents)"
    )


def load_airchitect_v2(kind="gemm", path=None, *, strict=False, check_conv=True):
    """Load ``gemm.csv`` or ``conv.csv`` of the AIrchitect v2 dataset, bad rows removed loudly.

    Parameters
    ----------
    kind : {"gemm", "conv"}
        Which file.
    path : str or Path, optional
        The dataset directory, or the CSV file itself. Default :func:`default_path`.
    strict : bool
        Raise ``ValueError`` on any bad row instead of dropping it with a warning.
    check_conv : bool
        For ``kind="gemm"``: also reject rows whose row-aligned ``conv.csv`` row
        (in the same directory) is an invalid layer. Skipped when that file is
        absent or not aligned (different length, or ``M != K`` or
        ``GEMM_K != C * R * S`` on some row).

    Returns
    -------
    pandas.DataFrame
        The file's columns (integers as int64, ``rewards`` float64, ``df`` str)
        plus ``pe`` (1..64), ``buf`` (1..12) and ``row``; index 0..n-1.
        ``df.attrs["rejected"]`` maps each reason to the bad rows' numbers.

    Examples
    --------
    With the published files beside the project (``../shared``)::

        df = load_airchitect_v2("conv")
        # UserWarning: conv.csv: 119 of 101556 rows are bad (0-based data rows): 119 filter larger ...
    """
    kind = check_choice("kind", kind, tuple(COLUMNS))
    file = _file(kind, path)
    raw = _read(file, kind)
    bad = _bad_rows(raw, kind)
    if kind == "gemm" and check_conv:
        _add_conv_reasons(raw, bad, file.parent / "conv.csv")
    rejected = {reason: np.flatnonzero(mask).tolist() for reason, mask in bad.items() if mask.any()}
    if rejected:
        _complain(file, len(raw), rejected, strict)
    keep = ~np.logical_or.reduce(list(bad.values()))
    return _clean(raw, kind, keep, rejected, file)


def _file(kind, path):
    path = default_path() if path is None else Path(path)
    file = path / f"{kind}.csv" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"path: no {kind}.csv at {file}")
    return file


def _read(file, kind):
    raw = pd.read_csv(file, skipinitialspace=True, dtype={"df": str}, keep_default_na=False,
                      na_values=[""])
    expected = list(COLUMNS[kind])
    if list(raw.columns) != expected:
        raise ValueError(
            f"{file.name}: columns must be {', '.join(expected)}; got {', '.join(map(str, raw.columns))}"
        )
    return raw


def _numbers(raw, cols):
    return {c: pd.to_numeric(raw[c], errors="coerce").to_numpy(np.float64) for c in cols}


def _bad_rows(raw, kind):
    """Return ``{reason: boolean mask}`` of the rows that break each rule."""
    ints = [c for c in COLUMNS[kind] if c not in ("df", "rewards", "ConfigID")]
    num = _numbers(raw, ints + ["ConfigID", "rewards"])
    bad = {}
    for c in ints:
        v = num[c]
        bad[f"{c} not an integer >= 1"] = ~(np.isfinite(v) & (v == np.floor(v)) & (v >= 1) & (v <= INT_MAX))
    cid = num["ConfigID"]
    bad[f"ConfigID not an integer in [0, {N_CONFIGS - 1}]"] = ~(
        np.isfinite(cid) & (cid == np.floor(cid)) & (cid >= 0) & (cid < N_CONFIGS))
    bad["rewards not a finite number > 0"] = ~(np.isfinite(num["rewards"]) & (num["rewards"] > 0))
    bad[f"df not one of {', '.join(DATAFLOWS)}"] = ~raw["df"].fillna("").str.strip().isin(DATAFLOWS).to_numpy()
    if kind == "conv":
        bad["filter larger than input (X < R or Y < S)"] = _conv_invalid(num)
    return bad


def _conv_invalid(num):
    with np.errstate(invalid="ignore"):
        return (num["X"] < num["R"]) | (num["Y"] < num["S"])


def _add_conv_reasons(raw, bad, conv_file):
    if not conv_file.is_file():
        return
    conv = pd.read_csv(conv_file, skipinitialspace=True, dtype={"df": str})
    if list(conv.columns) != list(COLUMNS["conv"]) or len(conv) != len(raw):
        return
    c = _numbers(conv, COLUMNS["conv"][:6])
    g = _numbers(raw, ("M", "GEMM_K"))
    ok = ~np.logical_or.reduce([m for m in bad.values()])
    if not (np.array_equal(g["M"][ok], c["K"][ok])
            and np.array_equal(g["GEMM_K"][ok], (c["C"] * c["R"] * c["S"])[ok])):
        return
    bad["im2col of a conv.csv layer whose filter is larger than its input"] = _conv_invalid(c)


def _complain(file, total, rejected, strict):
    parts = []
    for reason, rows in rejected.items():
        shown = ", ".join(map(str, rows[:_SHOWN_ROWS])) + (", ..." if len(rows) > _SHOWN_ROWS else "")
        parts.append(f"{len(rows)} {reason} (rows {shown})")
    n_bad = len(set().union(*map(set, rejected.values())))
    message = f"{file.name}: {n_bad} of {total} rows are bad (0-based data rows): " + "; ".join(parts)
    if strict:
        raise ValueError(message + " (strict=True)")
    warnings.warn(message + f"; dropped them, kept {total - n_bad}", UserWarning, stacklevel=3)


def _clean(raw, kind, keep, rejected, file):
    df = raw.loc[keep].reset_index(drop=True)
    ints = [c for c in COLUMNS[kind] if c not in ("df", "rewards")]
    out = pd.DataFrame({c: pd.to_numeric(df[c]).astype(np.int64) for c in ints})
    out.insert(len(ints) - 1, "df", df["df"].str.strip().astype(str))
    out["rewards"] = pd.to_numeric(df["rewards"]).astype(np.float64)
    out["pe"] = out["ConfigID"] // N_BUF + 1
    out["buf"] = out["ConfigID"] % N_BUF + 1
    out["row"] = np.flatnonzero(keep).astype(np.int64)
    out.attrs["rejected"] = rejected
    out.attrs["source"] = str(file)
    return out

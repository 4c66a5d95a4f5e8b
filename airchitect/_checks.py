"""Validation of user input at the API boundary.

Every function here raises ``TypeError`` or ``ValueError`` whose message names
the offending field and its allowed range, e.g.::

    >>> check_int("M", 0, 1, 16384)
    Traceback (most recent call last):
    ...
    ValueError: M must be an integer in [1, 16384], got 0
"""

from __future__ import annotations

import numbers

import numpy as np

from airchitect._columns import frame, has_columns

INT_MAX = 2**31 - 1
#: arrays of at most this many values are checked element by element (pandas' hashing
#: costs more below it)
FEW_VALUES = 64


def _range_text(low, high):
    return f"[{low}, {high}]"


def check_int(name, value, low=1, high=INT_MAX):
    """Return ``value`` as a Python int, or raise naming ``name`` and ``[low, high]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer in {_range_text(low, high)}, "
            f"got {type(value).__name__} {value!r}"
        )
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {_range_text(low, high)}, got {value}")
    return value


def check_int_array(name, value, low=1, high=INT_MAX):
    """Return ``value`` as an int64 array, or raise naming ``name`` and ``[low, high]``.

    Accepts scalars, sequences and arrays of integers. Floats, booleans,
    NaN, None and strings are rejected even when they hold whole numbers.
    """
    if type(value) is int and low <= value <= high:  # a plain int in range: no array checks
        return np.array(value, dtype=np.int64)
    if isinstance(value, (list, tuple)) and any(  # np.asarray would turn True into 1
            isinstance(v, (bool, np.bool_)) for v in np.array(value, dtype=object).ravel()):
        raise TypeError(f"{name} must be integers in {_range_text(low, high)}, got a boolean")
    arr = np.asarray(value)
    if arr.dtype == object:
        for item in arr.ravel():
            check_int(name, item, low, high)
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        first = f" (first value {arr.ravel()[0].item()!r})" if arr.size and arr.dtype.kind in "fcb" else ""
        raise TypeError(
            f"{name} must be integers in {_range_text(low, high)}, got dtype {arr.dtype}{first}"
        )
    if arr.dtype.kind == "u" and arr.size and arr.max() > high:  # before int64 wraps it
        raise ValueError(f"{name} must be integers in {_range_text(low, high)}, got {arr[arr > high].ravel()[0]}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < low or arr.max() > high):
        bad = arr[(arr < low) | (arr > high)].ravel()[0]
        raise ValueError(f"{name} must be integers in {_range_text(low, high)}, got {bad}")
    return arr


def check_int_columns(df, limits):
    """Return the columns of ``df`` named in ``limits`` as an int64 DataFrame.

    ``limits`` maps each column to its ``(low, high)``; a bad column raises as
    :func:`check_int_array` does, naming it. Columns that are already integers
    in range are checked in one pass.
    """
    import pandas as pd

    names = list(limits)
    exact = has_columns(df, names)  # one to_numpy pass over a frame of just these columns
    if exact or all(df[c].dtype.kind in "iu" for c in names):
        values = df.to_numpy() if exact else np.column_stack([df[c].to_numpy() for c in names])
        if values.dtype.kind in "iu" and _within(values, names, limits):
            return frame(values.astype(np.int64, copy=False), names)
    return pd.DataFrame({c: check_int_array(c, df[c].to_numpy(), *limits[c]) for c in names})


def _within(values, names, limits):
    """Whether the non-empty integer block ``values`` (columns ``names``) is within ``limits``."""
    if not values.size:
        return False
    low = np.array([limits[c][0] for c in names])
    high = np.array([limits[c][1] for c in names])
    return bool((values >= low).all() and (values <= high).all())


def check_number_array(name, value, low, high, *, low_open=False):
    """Return ``value`` as a float64 array within ``[low, high]`` (``(low, high]`` if ``low_open``)."""
    arr = np.asarray(value)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be numbers in {_bounds(low, high, low_open)}, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr) | (arr > high) | ((arr <= low) if low_open else (arr < low))
    if bad.any():
        raise ValueError(
            f"{name} must be numbers in {_bounds(low, high, low_open)}, got {arr[bad].ravel()[0]}"
        )
    return arr


def _bounds(low, high, low_open):
    return f"{'(' if low_open else '['}{low}, {high}]"


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices``, else raise naming them."""
    if isinstance(value, str) and value in choices:
        return value
    raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")


def check_choice_array(name, value, choices):
    """Return ``value`` as an array of strings, each one of ``choices``."""
    if type(value) is str and value in choices:  # one valid name: no array checks
        return np.array(value)
    import pandas as pd

    arr = np.asarray(value)
    if arr.dtype.kind not in "UO":
        raise TypeError(f"{name} must be one of {', '.join(choices)}; got dtype {arr.dtype}")
    flat = arr.ravel()
    codes, clean = None, arr.dtype.kind == "U"
    if arr.size > FEW_VALUES:  # each distinct value once, in order of first appearance
        try:
            codes, uniques = pd.factorize(flat)  # (None and NaN: code -1)
            clean = clean or (codes.min(initial=0) >= 0 and all(isinstance(v, str) for v in uniques))
        except TypeError:  # an unhashable element
            clean = False
    elif not clean:  # element by element: pandas' hashing costs more here
        clean = all(isinstance(v, str) for v in flat)
    if not clean:  # the first value that is no string, as given
        odd = next(v for v in flat if not isinstance(v, str))
        raise TypeError(f"{name} must be one of {', '.join(choices)}; got {odd!r}")
    names = flat.astype(str) if codes is None else np.asarray(uniques, dtype=str)
    bad = ~np.isin(names, list(choices))
    if bad.any():
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {str(names[bad][0])!r}")
    return (names if codes is None else names[codes]).reshape(arr.shape)


def check_list(name, value, what):
    """Return ``value`` as a list, or raise ``TypeError`` unless it is a non-empty list
    (or tuple) of ``what`` (words for the message).

    >>> check_list("max_macs", [1024, 4096], "integers")
    [1024, 4096]
    """
    if not isinstance(value, (list, tuple)) or not value:
        raise TypeError(f"{name} must be a non-empty list of {what}, got {value!r}")
    return list(value)


def check_int_list(name, value, low=1, high=INT_MAX):
    """Return ``value`` as a sorted list of distinct integers in ``[low, high]``, or raise
    naming ``name`` (``name[i]`` for a bad item).

    >>> check_int_list("rows", [8, 4])
    [4, 8]
    """
    values = [check_int(f"{name}[{i}]", v, low, high)
              for i, v in enumerate(check_list(name, value, f"integers in {_range_text(low, high)}"))]
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat a value, got {values}")
    return sorted(values)

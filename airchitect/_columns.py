"""Reading several columns of a DataFrame at once.

A pandas column lookup costs about 15 us; a frame that holds exactly the wanted
columns gives them all in one ``to_numpy`` pass (about 3 us). The tasks and
encoders read their input columns through :func:`column_block`, which takes
that pass when it can. :func:`frame` builds a frame of named columns on one shared
column index (a fresh index costs about 30 us, and its first lookup 60 us more).

>>> import pandas as pd
>>> column_block(pd.DataFrame({"M": [2, 3], "K": [4, 5]}), ["M", "K"], np.int64).tolist()
[[2, 4], [3, 5]]
>>> column_block(pd.DataFrame({"M": [2], "K": [4]}), ["K"], np.float64).tolist()
[[4.0]]
"""

from __future__ import annotations

import functools

import numpy as np


def column_block(frame, names, dtype):
    """Columns ``names`` of DataFrame ``frame`` as one ``(len(frame), len(names))`` array
    of ``dtype``, in the order of ``names``."""
    names = list(names)
    if has_columns(frame, names):
        return frame.to_numpy(dtype)
    out = np.empty((len(frame), len(names)), dtype)
    for j, name in enumerate(names):
        out[:, j] = frame[name].to_numpy(dtype)
    return out


def has_columns(frame, names):
    """Whether DataFrame ``frame`` has exactly the columns ``names`` (a list), in order.

    >>> import pandas as pd
    >>> has_columns(pd.DataFrame({"M": [1], "K": [2]}), ["M", "K"])
    True
    >>> has_columns(frame(np.ones((1, 2)), ["K", "M"]), ["M", "K"])
    False
    """
    shared = column_index(tuple(names))
    return frame.columns is shared or frame.columns.equals(shared)


def range_indexed(frame):
    """Whether DataFrame ``frame``'s index is ``0, 1, ..., len(frame) - 1``.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"M": [1, 2, 3]})
    >>> range_indexed(df), range_indexed(df.iloc[1:]), range_indexed(df.set_index(pd.Index([0, 1, 2])))
    (True, False, True)
    """
    import pandas as pd

    index = frame.index
    if isinstance(index, pd.RangeIndex):
        return index.start == 0 and index.step == 1
    return index.equals(pd.RangeIndex(len(frame)))


def rows_frame(X):
    """``X`` (a DataFrame, or what ``pandas.DataFrame`` takes) as a DataFrame indexed
    ``0 .. n - 1``: ``X`` itself where it is one already.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"M": [1, 2, 3]})
    >>> rows_frame(df) is df, rows_frame(df.iloc[1:]).index.tolist(), rows_frame({"M": [4]})["M"].tolist()
    (True, [0, 1], [4])
    """
    import pandas as pd

    if isinstance(X, pd.DataFrame) and range_indexed(X):
        return X
    return pd.DataFrame(X).reset_index(drop=True)


def column_dict(frame, names, dtype):
    """``{name: 1-D array of dtype}`` of columns ``names`` of DataFrame ``frame``."""
    block = column_block(frame, names, dtype)
    return {name: block[:, j] for j, name in enumerate(names)}


@functools.lru_cache(maxsize=64)
def column_index(names):
    """One shared (immutable) ``pandas.Index`` of the tuple ``names``: its lookup table is
    built once rather than once per frame."""
    import pandas as pd

    return pd.Index(list(names))


def frame(values, names):
    """DataFrame of the 2-D array ``values`` with columns ``names`` (a sequence of str), on
    the shared :func:`column_index` of ``names``.

    >>> frame(np.array([[2, 4]]), ["M", "K"])["K"].tolist()
    [4]
    """
    import pandas as pd

    return pd.DataFrame(values, columns=column_index(tuple(names)))

"""SCALE-Sim 3.0.0's custom on-chip data layouts (the ``[layout]`` section and layout CSV).

A :class:`Layout` is one row of SCALE-Sim's layout CSV: how the IFMAP
(dimensions X, Y, C = ifmap height, width, channels) and the filter (K, C, R, S =
filters, channels, filter height, width) are cut into SRAM lines. Each
dimension is split into a tile index (interline) and an offset inside the tile
(intraline, of the given factor); the six IFMAP axes (X, Y, C tile indices as
axes 0..2, then X, Y, C offsets as axes 3..5) are visited in the order
``ifmap_interline_order + ifmap_intraline_order`` (the filter likewise, eight
axes), and dimensions that the factor does not divide are padded with empty
words. That visiting order is the operand's prefetch order when its custom
layout is on (``ifmap_custom_layout`` / ``filter_custom_layout`` of
:func:`airchitect.systolic.simulate`).

A GEMM ``(M, N, K)`` is laid out as SCALE-Sim runs it: an IFMAP of X = M, Y = K,
C = 1 and a filter of K = N, C = 1, R = 1, S = K.

Units: factors in words; orders are axis numbers.

>>> lay = Layout(channel_factor=2, ifmap_interline_order=(0, 1, 2),
...              ifmap_intraline_order=(3, 4, 5))  # tiles outer, offsets inner
>>> ifmap_order(lay, 1, 2, 3).tolist()  # X = 1, Y = 2, C = 3: C padded to 4
[0, 1, 2, -1, 3, 4, 5, -1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airchitect._checks import INT_MAX, check_int

#: the layout CSV's columns after ``Layer name``, in order
CSV_COLUMNS = (
    "IFMAP Height Intraline Factor", "IFMAP Width Intraline Factor",
    "Filter Height Intraline Factor", "Filter Width Intraline Factor",
    "Channel Intraline Factor", "Num Filter Intraline Factor",
    "IFMAP Height Intraline Order", "IFMAP Width Intraline Order", "Channel Intraline Order",
    "IFMAP Height Interline Order", "IFMAP Width Interline Order", "Channel Interline Order",
    "Num Filter Intraline Order", "Channel Intraline Order", "Filter Height Intraline Order",
    "Filter Width Intraline Order", "Num Filter Interline Order", "Channel Interline Order",
    "Filter Height Interline Order", "Filter Width Interline Order",
)
#: SCALE-Sim's filter address offset (``FilterOffset``, as the backend writes it); the
#: order of a custom-layout line depends on the addresses' values
FILTER_OFFSET = 10000000
#: most words (padding included) of one laid-out operand; SCALE-Sim keeps each line as a
#: Python set, and so does :func:`line_columns` (about a second per million words)
MAX_LAYOUT_WORDS = 2**24

_FACTORS = ("ifmap_h_factor", "ifmap_w_factor", "filter_h_factor", "filter_w_factor",
            "channel_factor", "num_filter_factor")


@dataclass(frozen=True)
class Layout:
    """One layout-CSV row (SCALE-Sim 3.0.0); a bad field raises naming it.

    Factors are integers in ``[1, 2**31 - 1]``. ``ifmap_interline_order +
    ifmap_intraline_order`` must be a permutation of ``0..5`` and
    ``filter_interline_order + filter_intraline_order`` one of ``0..7`` (axes
    0..2 / 0..3 are the tile indices, the others the offsets inside a tile).
    The defaults are the natural layout (every factor 1).

    >>> Layout.from_row(Layout().row()) == Layout()
    True
    """

    ifmap_h_factor: int = 1
    ifmap_w_factor: int = 1
    filter_h_factor: int = 1
    filter_w_factor: int = 1
    channel_factor: int = 1
    num_filter_factor: int = 1
    ifmap_intraline_order: tuple = (0, 1, 2)
    ifmap_interline_order: tuple = (3, 4, 5)
    filter_intraline_order: tuple = (0, 1, 2, 3)
    filter_interline_order: tuple = (4, 5, 6, 7)

    def __post_init__(self):
        for name in _FACTORS:
            object.__setattr__(self, name, check_int(name, getattr(self, name), 1, INT_MAX))
        for name, size, axes in (("ifmap_intraline_order", 3, 6), ("ifmap_interline_order", 3, 6),
                                 ("filter_intraline_order", 4, 8),
                                 ("filter_interline_order", 4, 8)):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or np.ndim(value) != 1 or len(value) != size:
                raise ValueError(f"{name} must be {size} integers in [0, {axes - 1}], "
                                 f"got {value!r}")
            object.__setattr__(self, name, tuple(check_int(name, v, 0, axes - 1) for v in value))
        for op, axes in (("ifmap", 6), ("filter", 8)):
            perm = getattr(self, f"{op}_interline_order") + getattr(self, f"{op}_intraline_order")
            if sorted(perm) != list(range(axes)):
                raise ValueError(f"{op}_interline_order + {op}_intraline_order must be a "
                                 f"permutation of 0..{axes - 1}, got {perm}")

    @classmethod
    def from_row(cls, row):
        """A layout from the 20 numbers of a layout-CSV row (``CSV_COLUMNS`` order)."""
        values = list(row)
        if len(values) != len(CSV_COLUMNS):
            raise ValueError(f"a layout row must have {len(CSV_COLUMNS)} numbers, "
                             f"got {len(values)}")
        return cls(*values[:6], tuple(values[6:9]), tuple(values[9:12]), tuple(values[12:16]),
                   tuple(values[16:20]))

    def row(self):
        """The 20 numbers of this layout's CSV row (``CSV_COLUMNS`` order)."""
        return (tuple(getattr(self, name) for name in _FACTORS) + self.ifmap_intraline_order
                + self.ifmap_interline_order + self.filter_intraline_order
                + self.filter_interline_order)

    @property
    def ifmap_factors(self):
        """IFMAP intraline factors (X, Y, C)."""
        return self.ifmap_h_factor, self.ifmap_w_factor, self.channel_factor

    @property
    def filter_factors(self):
        """Filter intraline factors (K, C, R, S)."""
        return self.num_filter_factor, self.channel_factor, self.filter_h_factor, self.filter_w_factor


#: the natural layout (every factor 1)
NATURAL = Layout()


def check_layouts(layout, name="layout"):
    """``layout`` (None, a :class:`Layout` or array_like of them) as an object array;
    anything else raises ``TypeError`` naming ``name``."""
    if layout is None:
        layout = NATURAL
    if isinstance(layout, Layout):
        out = np.empty((), dtype=object)
        out[()] = layout
        return out
    arr = np.empty(np.shape(np.asarray(layout, dtype=object)), dtype=object)
    arr[...] = np.asarray(layout, dtype=object) if arr.ndim else layout
    for item in arr.ravel():
        if not isinstance(item, Layout):
            raise TypeError(f"{name} must be a Layout or an array of Layout, "
                            f"got {type(item).__name__}")
    return arr


def _padded_size(dims, factors):
    return int(np.prod([-(-d // f) * f for d, f in zip(dims, factors)], dtype=np.float64))


def _order(dims, factors, perm, name):
    """Address ids of a row-major operand of shape ``dims`` laid out with ``factors``
    and axis order ``perm`` (-1 for padding)."""
    size = _padded_size(dims, factors)
    if size > MAX_LAYOUT_WORDS:
        raise ValueError(f"{name}: the laid-out operand has {size} words (padding included), "
                         f"more than MAX_LAYOUT_WORDS = {MAX_LAYOUT_WORDS}")
    data = np.arange(int(np.prod(dims)), dtype=np.int64).reshape(dims)
    tiles = [-(-d // f) for d, f in zip(dims, factors)]
    data = np.pad(data, [(0, t * f - d) for t, f, d in zip(tiles, factors, dims)],
                  constant_values=-1)
    n = len(dims)
    split = [v for t, f in zip(tiles, factors) for v in (t, f)]
    data = data.reshape(split).transpose([2 * i for i in range(n)] + [2 * i + 1 for i in range(n)])
    return data.transpose(perm).ravel()


def ifmap_order(layout, ifmap_h, ifmap_w, channels):
    """Prefetch order of the IFMAP (address ids ``(x * W + y) * C + c``, -1 for padding)."""
    return _order((ifmap_h, ifmap_w, channels), layout.ifmap_factors,
                  layout.ifmap_interline_order + layout.ifmap_intraline_order, "layout (IFMAP)")


def filter_order(layout, num_filters, channels, filter_h, filter_w):
    """Prefetch order of the filter (address ids ``0 .. K*C*R*S - 1`` in SCALE-Sim's
    ``(K, C, R, S)`` numbering, -1 for padding)."""
    return _order((num_filters, channels, filter_h, filter_w), layout.filter_factors,
                  layout.filter_interline_order + layout.filter_intraline_order,
                  "layout (filter)")


def line_columns(order, n_ids, words_per_line, offset=0):
    """Line and column of every address id in a custom-layout read buffer.

    SCALE-Sim 3.0.0 cuts the prefetch order into lines of ``words_per_line``
    valid words, keeps each line as a Python ``set`` of the addresses (id +
    ``offset``), and takes an address's column (which picks its bank) as its index
    in ``list(line)`` -- the set's iteration order. Returns ``(line, column)``,
    int64 arrays indexed by address id. Each id must occur once in ``order``.
    """
    valid = order[order >= 0]
    line = np.full(n_ids, -1, np.int64)
    column = np.full(n_ids, -1, np.int64)
    line[valid] = np.arange(valid.size, dtype=np.int64) // words_per_line
    step = max(1, 2**16 // words_per_line) * words_per_line  # whole lines at a time
    for base in range(0, valid.size, step):
        values = (valid[base:base + step] + offset).tolist()
        members = []
        for start in range(0, len(values), words_per_line):
            members += list(set(values[start:start + words_per_line]))
        # members: the addresses of each line in set order; invert to columns
        within = np.arange(len(values), dtype=np.int64) % words_per_line
        column[np.asarray(members, dtype=np.int64) - offset] = within
    return line, column


def check_fit(layout, ifmap_bandwidth, filter_bandwidth, ifmap_on, filter_on):
    """SCALE-Sim's checks of a custom layout against the SRAM bank bandwidths (words
    per cycle): the IFMAP factors' product at most ``ifmap_bandwidth``, the filter
    factors' product equal to ``filter_bandwidth``; raise ``ValueError`` naming ``layout``."""
    if ifmap_on:
        prod = int(np.prod(layout.ifmap_factors, dtype=np.float64))
        if prod > ifmap_bandwidth:
            raise ValueError(f"layout: the IFMAP intraline factors {layout.ifmap_factors} "
                             f"multiply to {prod}, more than ifmap_bank_bandwidth = "
                             f"{ifmap_bandwidth}")
    if filter_on:
        prod = int(np.prod(layout.filter_factors, dtype=np.float64))
        if prod != filter_bandwidth:
            raise ValueError(f"layout: the filter intraline factors {layout.filter_factors} "
                             f"multiply to {prod}; SCALE-Sim requires exactly "
                             f"filter_bank_bandwidth = {filter_bandwidth}")

"""CALC-mode conv ifmap replay, ws dataflow: the shifted-period listing of a column
fold (``_ws_prev_list``) against a plain listing of the im2col stream, the whole
replay against the read-by-read walk, and small layers against the real SCALE-Sim."""

import numpy as np
import pytest

import airchitect as ac
from airchitect.targets.systolic.geometry import fold_grid
from airchitect.targets.systolic.memory import calc_reads as cr
from airchitect.targets.systolic.scalesim import run_scalesim
from airchitect.targets.systolic.simulate import REPORT_FIELDS
from ws_reference import geometry, shapes, stream, walk_replay

CONV = ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters", "stride")






def _plain_listing(ih, iw, fh, fw, ch, s, R, C):
    """:func:`_stream` as the previous-read index of every read (-1: first), each word's
    first and last read, and the reads of every demand row."""
    oh, ow = -(-(ih - fh) // s) + 1, -(-(iw - fw) // s) + 1
    P, WN = oh * ow, fh * fw * ch
    per = P + 2 * R + C - 2
    prev, first, last = [], {}, {}
    rows = np.zeros(-(-WN // R) * per + 1, np.int64)
    for fr, d, a in stream(ih, iw, fh, fw, ch, s, R):
        prev.append(last.get(a, -1))
        first.setdefault(a, len(prev) - 1)
        last[a] = len(prev) - 1
        rows[fr * per + R + d] += 1
    return np.array(prev), first, last, rows


def _periodic(g, pix, win):
    """Whether a row fold of ``g`` has a whole period to copy (anti-diagonals past
    ``rv - 1 + EW`` with every entry read inside the image's bottom edge)."""
    R, P, H, S, EW = (g[i] for i in (cr.G_R, cr.G_P, cr.G_H, cr.G_S, cr.G_EW))
    for fr in range(-(-g[cr.G_WN] // R)):
        rv = min(R, g[cr.G_WN] - fr * R)
        # the last interior anti-diagonal: every entry's pixel still inside the bottom
        d_hi = min([P] + [c + EW * -(-(H - win[0][fr * R + c]) // S) for c in range(rv)])
        if d_hi > rv - 1 + EW:
            return True
    return False




def test_ws_listing_equals_a_plain_listing():
    rng = np.random.default_rng(11)
    periodic = 0
    for ih, iw, fh, fw, ch, s, R, C in shapes(rng, 150, 20):
        g = geometry(ih, iw, fh, fw, ch, 5, s, R, C)
        pix, win = cr._conv_pixels_windows(g)
        periodic += _periodic(g, pix, win)
        prev, first, last, rows = _plain_listing(ih, iw, fh, fw, ch, s, R, C)
        n_outer, n_inner, per, sr, sc, t = fold_grid(g)
        words = ih * iw * ch
        i = np.flatnonzero(prev >= 0)
        shortest = int((i - prev[i]).min()) if i.size else np.iinfo(np.int64).max
        # the shortest reuse distance followed to the end (block 1), or only until one
        # is found below block
        for block in {1, min(shortest, 10**8), min(shortest + 1, 10**8)}:
            seq = np.full(g[cr.G_P] * g[cr.G_WN], -7, np.int32)
            f = np.full(words, -1, np.int32)
            lr = np.full(words, -1, np.int32)
            st = np.zeros(10, np.int64)
            st[cr._DMIN] = np.iinfo(np.int64).max
            rowreads = np.zeros(n_inner * per + 1, np.int64)
            n = cr._ws_prev_list(g, pix, win, seq, f, lr, st, rowreads, block)
            shape = (ih, iw, fh, fw, ch, s, R, C)
            assert n == prev.size == st[cr._POS], shape
            assert (seq[:n] == prev).all(), shape
            assert (rowreads == rows).all(), shape
            assert {a: f[a] for a in np.flatnonzero(f >= 0)} == first, shape
            assert {a: lr[a] for a in np.flatnonzero(lr >= 0)} == last, shape
            assert (st[cr._DMIN] >= block) == (shortest >= block), shape
            if block == 1:
                assert st[cr._DMIN] == shortest, shape
    assert periodic > 60  # the copied periods were exercised




def test_ws_replay_equals_the_read_by_read_walk():
    rng = np.random.default_rng(5)
    periodic = 0
    for ih, iw, fh, fw, ch, s, R, C in shapes(rng, 120, 20):
        nf = int(rng.integers(C + 1, 4 * C + 2))  # two column folds or more
        g = geometry(ih, iw, fh, fw, ch, nf, s, R, C)
        periodic += cr._ws_periodic(g, cr._conv_pixels_windows(g)[1])  # listed by periods
        reads = int(_plain_listing(ih, iw, fh, fw, ch, s, R, C)[0].size)
        for block in {2, 7, max(1, reads // 5), max(1, reads // 2), reads + 3}:
            got = cr._conv_ifmap_replay(g, block, 10**9)
            assert got == walk_replay(g, block), (ih, iw, fh, fw, ch, nf, s, R, C, block)
    assert periodic > 30


def test_ws_first_layers_match_scalesim():
    # few channels, windows that overlap (the listing copies periods), some past the
    # image's edge, several column folds; a 1 kB ifmap buffer (block 500) overflows
    layers = [(24, 24, 5, 5, 3, 10, 2), (23, 21, 4, 3, 2, 9, 1), (27, 27, 7, 7, 1, 8, 3),
              (20, 26, 3, 3, 3, 7, 1)]
    ref = run_scalesim(layers, 8, 3, "ws", kind="conv", ifmap_kb=1, filter_kb=1, ofmap_kb=64)
    assert (ref["dram_ifmap_stop_cycle"] > 0).all()
    for layer in layers:
        g = geometry(*layer, 8, 3)
        assert cr._ws_periodic(g, cr._conv_pixels_windows(g)[1])
    ours = ac.systolic.simulate_conv(*(ref[c] for c in CONV), ref["rows"], ref["cols"],
                                     ref["dataflow"], ifmap_kb=1, filter_kb=1, ofmap_kb=64)
    assert len(ours) == len(ref)
    for name in REPORT_FIELDS:
        a, b = ours[name].to_numpy(), ref[name].to_numpy()
        assert (a == b).all(), (name, a, b)


@pytest.mark.parametrize("layer", [(224, 224, 7, 7, 3, 64, 2), (224, 224, 11, 11, 3, 96, 4)])
def test_first_imagenet_layers_equal_the_walk(layer):
    # the layers the listing is for, on a 32 x 32 array with a 64 kB ifmap buffer
    g = geometry(*layer, 32, 32)
    block = 50 * (64 * 1024 // 100)
    assert cr._conv_ifmap_replay(g, block, 10**9) == walk_replay(g, block)


def test_walk_reference_groups_as_a_dict_replay():
    # the reference itself, on one small layer: a word is new in a segment unless
    # grouped since the segment's start; the last cut's demand row by hand
    ih, iw, fh, fw, ch, nf, s, R, C = 7, 6, 3, 2, 2, 5, 2, 4, 2
    g = geometry(ih, iw, fh, fw, ch, nf, s, R, C)
    prev, first, last, rows = _plain_listing(ih, iw, fh, fw, ch, s, R, C)
    n_outer, n_inner, per = fold_grid(g)[:3]
    demand = np.repeat(np.arange(rows.size), rows)  # demand row of each read of a fold
    for block in (3, 11, 40):
        seen, n, cut_row = set(), 0, -1
        addr = _addresses(ih, iw, fh, fw, ch, s, R)
        for fc in range(n_outer):
            for q, a in enumerate(addr):
                if a not in seen:
                    seen.add(a)
                    n += 1
                    if n % block == 0:
                        seen = set()
                        cut_row = fc * n_inner * per + demand[q]
        assert walk_replay(g, block) == (n, cut_row)
        assert cr._conv_ifmap_replay(g, block, 10**9) == (n, cut_row)


def _addresses(ih, iw, fh, fw, ch, s, R):
    return [a for _, _, a in stream(ih, iw, fh, fw, ch, s, R)]
"""CALC-mode conv ifmap replay, ws dataflow with at least as many channels as array
rows (each row fold reads a word at most once): the closed forms (every read groups
a new word; the demand row of a read by bisection) and the replay against the
read-by-read walk."""

import numpy as np

from airchitect.targets.systolic.geometry import fold_grid
from airchitect.targets.systolic.memory import calc_reads as cr
from ws_reference import geometry, shapes, stream, walk_replay






def _walk_row(g, q):
    """Demand row of read ``q`` of column fold 0, counted read by read (``_walk`` mode 2)."""
    pix, win = cr._conv_pixels_windows(g)
    st = np.zeros(10, np.int64)
    one = np.zeros(1, np.int32)
    return cr._walk(g, 0, 1, pix, win, one, one, one, st, 1, 2, q, np.zeros(0, np.int64))


def _fold_reads(ih, iw, fh, fw, ch, s, R):
    """Reads of each ws row fold with plain Python: window entry ``w`` of output pixel
    ``(oy, ox)`` reads inside the image."""
    oh, ow = -(-(ih - fh) // s) + 1, -(-(iw - fw) // s) + 1
    WN = fh * fw * ch
    out = []
    for fr in range(-(-WN // R)):
        n = 0
        for w in range(fr * R, min(WN, fr * R + R)):
            ky, kx = w // (fw * ch), (w // ch) % fw
            n += sum(oy * s + ky < ih for oy in range(oh)) * sum(ox * s + kx < iw
                                                                 for ox in range(ow))
        out.append(n)
    return np.array(out, np.int64)




def test_row_of_a_read_equals_the_walk():
    rng = np.random.default_rng(21)
    for ih, iw, fh, fw, ch, s, R, C in shapes(rng, 60, 16, many_channels=True):
        g = geometry(ih, iw, fh, fw, ch, 3, s, R, C)
        pix, win = cr._conv_pixels_windows(g)
        fold_reads = _fold_reads(ih, iw, fh, fw, ch, s, R)
        total = int(fold_reads.sum())
        for q in {0, total - 1, *rng.integers(0, total, 12).tolist()}:
            assert cr._ws_row_of(g, q, fold_reads, pix, win) == _walk_row(g, q), (
                ih, iw, fh, fw, ch, s, R, C, q)


def test_reads_apart_counts_each_row_fold():
    rng = np.random.default_rng(22)
    for ih, iw, fh, fw, ch, s, R, C in shapes(rng, 60, 16, many_channels=True):
        g = geometry(ih, iw, fh, fw, ch, 3, s, R, C)
        expected = _fold_reads(ih, iw, fh, fw, ch, s, R)
        got = np.zeros(expected.size, np.int64)
        nv = cr._ws_reads_apart(g, 1, got)  # block 1: every read is apart
        assert (got == expected).all()
        assert nv == expected.sum()


def test_replay_with_many_channels_equals_the_walk():
    rng = np.random.default_rng(23)
    apart = 0
    for ih, iw, fh, fw, ch, s, R, C in shapes(rng, 120, 16, many_channels=True):
        nf = int(rng.integers(C + 1, 4 * C + 2))  # two column folds or more
        g = geometry(ih, iw, fh, fw, ch, nf, s, R, C)
        reads = int(_fold_reads(ih, iw, fh, fw, ch, s, R).sum())
        for block in {2, 7, max(1, reads // 7), max(1, reads // 3), max(1, reads // 2),
                      max(1, reads - 1), reads + 3}:
            fr = np.zeros(fold_grid(g)[1], np.int64)
            apart += cr._ws_reads_apart(g, block, fr) > 0
            got = cr._conv_ifmap_replay(g, block, 10**9)
            assert got == walk_replay(g, block), (ih, iw, fh, fw, ch, nf, s, R, C, block)
    assert apart > 40  # the closed form was exercised


def test_resnet_layers_on_32_by_32_equal_the_walk():
    # 3 x 3 layers of ResNet-18 with a 64 kB ifmap buffer (block 32750): the closed
    # form (stride 1) and the replay (stride 2, words read again within a block)
    block = 50 * (64 * 1024 // 100)
    for layer in [(28, 28, 3, 3, 128, 256, 2), (14, 14, 3, 3, 256, 512, 2),
                  (56, 56, 3, 3, 64, 64, 1), (56, 56, 3, 3, 64, 128, 2)]:
        g = geometry(*layer, 32, 32)
        assert cr._conv_ifmap_replay(g, block, 10**9) == walk_replay(g, block), layer


def _plain_stream(ih, iw, fh, fw, ch, s, R, C):
    """:func:`ws_reference.stream` as the word of every read and the reads of every
    demand row (anti-diagonal ``d`` of row fold ``fr`` is demand row ``fr x per + R + d``)."""
    oh, ow = -(-(ih - fh) // s) + 1, -(-(iw - fw) // s) + 1
    per = oh * ow + 2 * R + C - 2
    words = []
    rows = np.zeros(-(-fh * fw * ch // R) * per + 1, np.int64)
    for fr, d, word in stream(ih, iw, fh, fw, ch, s, R):
        words.append(word)
        rows[fr * per + R + d] += 1
    return np.array(words, np.int64), rows


def test_listing_of_a_fold_equals_a_plain_listing():
    # whole row folds without a window past the edge are listed from one pattern
    rng = np.random.default_rng(24)
    for i in range(80):
        fh, fw, s = int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
        ih, iw = int(rng.integers(fh, 16)), int(rng.integers(fw, 16))
        if i % 3:  # no window past the edge
            ih, iw = ih - (ih - fh) % s, iw - (iw - fw) % s
        ch, R, C = int(rng.integers(1, 12)), int(rng.integers(1, 14)), int(rng.integers(1, 5))
        g = geometry(ih, iw, fh, fw, ch, 4, s, R, C)
        pix, win = cr._conv_pixels_windows(g)
        words, rows = _plain_stream(ih, iw, fh, fw, ch, s, R, C)
        seq = np.full(g[cr.G_P] * g[cr.G_WN], -7, np.int32)
        rowreads = np.zeros(rows.size, np.int64)
        n = cr._walk_seq(g, pix, win, seq, rowreads)
        shape = (ih, iw, fh, fw, ch, s, R, C)
        assert n == words.size, shape
        assert (seq[:n] == words).all(), shape
        assert (rowreads == rows).all(), shape

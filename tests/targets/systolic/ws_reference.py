"""Plain references for the CALC-mode conv ifmap replay of a ws layer, shared by the
tests of ``airchitect.targets.systolic.memory.calc_reads``."""

import numpy as np

from airchitect.targets.systolic.geometry import conv_geometry, fold_grid
from airchitect.targets.systolic.memory import calc_reads as cr


def geometry(ih, iw, fh, fw, ch, nf, s, R, C):
    """The geometry vector of one ws conv layer on an ``R x C`` array."""
    return np.ascontiguousarray(conv_geometry([ih], [iw], [fh], [fw], [ch], [nf], [s], [R],
                                              [C], [1])[0], dtype=np.int64)


def stream(ih, iw, fh, fw, ch, s, R):
    """Column fold 0 of a ws conv ifmap with plain Python, as ``(row fold, anti-diagonal,
    word)`` per read: per row fold, anti-diagonal ``d`` reads pixel ``d - e`` at window
    entry ``e`` (entries in order); windows past the image's edge (the last of
    ``ceil((ih - fh) / s) + 1``) read only inside it."""
    oh, ow = -(-(ih - fh) // s) + 1, -(-(iw - fw) // s) + 1
    P, WN = oh * ow, fh * fw * ch
    for fr in range(-(-WN // R)):
        rv = min(R, WN - fr * R)
        for d in range(P + rv - 1):
            for e in range(max(0, d - P + 1), min(rv, d + 1)):
                p, w = d - e, fr * R + e
                y = (p // ow) * s + w // (fw * ch)
                x = (p % ow) * s + (w // ch) % fw
                if y < ih and x < iw:
                    yield fr, d, (y * iw + x) * ch + w % ch


def walk_replay(g, block):
    """Groupings and the demand row of the last cut, every column fold walked read by
    read (``_walk`` mode 0: a stamp per word, no listing)."""
    H, W, CH = g[cr.G_H], g[cr.G_W], g[cr.G_CH]
    pix, win = cr._conv_pixels_windows(g)
    st = np.zeros(10, np.int64)
    st[cr._SEG] = 1
    st[cr._LAST] = -1
    stamp = np.zeros(H * W * CH, np.int32)
    none = np.full(1, -1, np.int32)
    cr._walk(g, 0, fold_grid(g)[0], pix, win, stamp, none, none.copy(), st, block, 0, 0,
             np.zeros(0, np.int64))
    return st[cr._CUTS] * block + st[cr._C], st[cr._LAST]


def shapes(rng, n, image_high, many_channels=False):
    """``n`` random small ws layers ``(ih, iw, fh, fw, ch, s, R, C)``: images below
    ``image_high``, a third without a window past the edge; ``many_channels``: at least
    ``R`` channels (a row fold reads each word at most once), else 1-4 channels."""
    for _ in range(n):
        fh, fw, s = int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
        ih, iw = int(rng.integers(fh, image_high)), int(rng.integers(fw, image_high))
        if rng.random() < 0.3:  # no window past the edge
            ih, iw = ih - (ih - fh) % s, iw - (iw - fw) % s
        if many_channels:
            R = int(rng.integers(1, 9))
            ch = int(rng.integers(R, 3 * R + 2))
            C = int(rng.integers(1, 5))
        else:
            ch = int(rng.integers(1, 5))
            R, C = int(rng.integers(1, 14)), int(rng.integers(1, 5))
        yield ih, iw, fh, fw, ch, s, R, C

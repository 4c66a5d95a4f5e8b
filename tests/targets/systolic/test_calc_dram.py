"""CALC-mode DRAM fields: exact against the real SCALE-Sim 3.0.0 where the estimate
buffers overflow, and never NaN on shipped topologies."""

import numpy as np
import pandas as pd
import pytest

import airchitect as ac
from airchitect.targets.systolic.memory.calc_drain import calc_ofmap_drain_cycles
from airchitect.targets.systolic.geometry import conv_geometry
from airchitect.targets.systolic.memory.calc_reads import (_band_scans, _dense_replay,
                                                           _tap_classes, _ws_reads_apart)
from airchitect.targets.systolic.scalesim import run_scalesim
from airchitect.targets.systolic.simulate import REPORT_FIELDS

CONV = ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters", "stride")

# Conv layers whose ifmap outgrows a 1 kB estimate buffer (50 sets of 10 words):
# stride 1, stride 2 that tiles exactly, stride 2 and 3 whose last window passes the edge.
CONV_LAYERS = [(14, 14, 3, 3, 4, 6, 1), (15, 15, 3, 3, 3, 5, 2), (12, 12, 3, 3, 4, 4, 2),
               (16, 16, 5, 5, 2, 4, 3)]
CONV_CONFIGS = [(4, 2, "os"), (3, 4, "ws"), (4, 3, "is")]
# GEMMs past 1 kB buffers: os with a small filter band read once per row fold (the
# piecewise case), streamed operands larger than the buffer, a stationary one.
GEMM_CASES = [((4, 2, "os"), [(200, 8, 40), (60, 30, 24)]),
              ((4, 4, "ws"), [(60, 30, 24), (9, 70, 64)]),
              ((2, 4, "is"), [(9, 70, 64)])]


@pytest.fixture(scope="module")
def conv_reference():
    return pd.concat([run_scalesim(CONV_LAYERS, R, C, flow, kind="conv", ifmap_kb=1, filter_kb=1,
                                   ofmap_kb=64) for R, C, flow in CONV_CONFIGS],
                     ignore_index=True)


@pytest.fixture(scope="module")
def gemm_reference():
    return pd.concat([run_scalesim(gemms, R, C, flow, ifmap_kb=1, filter_kb=1, ofmap_kb=1)
                      for (R, C, flow), gemms in GEMM_CASES], ignore_index=True)


def _assert_same(ours, ref):
    assert len(ours) == len(ref)
    for name in REPORT_FIELDS:
        a, b = ours[name].to_numpy(), ref[name].to_numpy()
        bad = np.flatnonzero(a != b)
        assert bad.size == 0, (name, ref.iloc[bad[:3]].T, a[bad[:3]])


def test_overflowing_convs_match_scalesim_exactly(conv_reference):
    ref = conv_reference
    # the buffers did overflow: more DRAM reads than distinct words, prefetches during the run
    assert (ref["dram_ifmap_stop_cycle"] > 0).all()
    ours = ac.systolic.simulate_conv(*(ref[c] for c in CONV), ref["rows"], ref["cols"],
                                     ref["dataflow"], ifmap_kb=1, filter_kb=1, ofmap_kb=64)
    _assert_same(ours, ref)
    assert not ours.select_dtypes("number").isna().any().any()


def test_overflowing_gemms_match_scalesim_exactly(gemm_reference):
    ref = gemm_reference
    assert (ref["dram_filter_reads"] > ref["K"] * ref["N"]).any()
    ours = ac.systolic.simulate(ref["M"], ref["N"], ref["K"], ref["rows"], ref["cols"],
                                ref["dataflow"], ifmap_kb=1, filter_kb=1, ofmap_kb=1)
    _assert_same(ours, ref)


@pytest.mark.parametrize("length,scans,n,block", [(7, 9, 0, 20), (13, 40, 5, 20), (30, 3, 11, 20),
                                                  (19, 25, 3, 50), (1, 100, 0, 3)])
def test_piecewise_scans_equal_the_read_by_read_replay(length, scans, n, block):
    assert _band_scans(length, scans, n, block, 100, -1) == _dense_replay(length, scans, n, block,
                                                                          100, -1)


def test_ofmap_drain_that_fits_starts_at_the_end():
    # 20 valid writes fit in half of a 1 kB buffer: one drain of ceil(20 / 4) = 5 lines
    # from total_cycles (31) on, cycles 31..35
    start, stop, writes, stall = calc_ofmap_drain_cycles(0, 8, 4, 6, 4, 5, 1, [31], [20])
    assert (start[0], stop[0], writes[0], stall[0]) == (31, 35, 20, False)


def test_conv_replay_past_the_work_limit_is_refused(monkeypatch):
    monkeypatch.setattr(_sim_module(), "CALC_DRAM_WORK_LIMIT", 100)
    with pytest.raises(ValueError, match="element 1 .*CALC_DRAM_WORK_LIMIT = 100"):
        ac.systolic.simulate_conv(16, 16, 3, 3, 4, 8, 1, 4, 4, "os", ifmap_kb=[64, 1], filter_kb=1)


def _sim_module():
    import importlib
    return importlib.import_module("airchitect.targets.systolic.simulate")


# Shipped topologies (field data of SCALE-Sim v3's alexnet and gpt2) on the shipped
# configs' arrays and SRAMs (rows, cols, ifmap_kb, filter_kb, ofmap_kb).
ALEXNET = [(224, 224, 11, 11, 3, 96, 4), (27, 27, 5, 5, 96, 256, 1), (13, 13, 3, 3, 256, 384, 1),
           (13, 13, 3, 3, 384, 384, 1), (13, 13, 3, 3, 384, 256, 1)]
GPT2 = [(1024, 1024, 64), (1024, 64, 1024), (1024, 4800, 1600), (1024, 1600, 1600),
        (1024, 3072, 1600), (1024, 1600, 3072)]
CONFIGS = [(12, 14, 36, 36, 36), (256, 256, 6144, 6144, 2048), (128, 128, 10240, 10240, 10240),
           (32, 32, 64, 64, 64), (128, 128, 256, 256, 256), (128, 128, 4096, 4096, 8192)]


@pytest.mark.parametrize("config", CONFIGS)
def test_no_field_is_nan_on_shipped_topologies(config):
    R, C, ikb, fkb, okb = config
    flows = np.array(["os", "ws", "is"])[:, None]
    conv = np.array(ALEXNET).T
    out = ac.systolic.simulate_conv(*conv, R, C, flows, ifmap_kb=ikb, filter_kb=fkb, ofmap_kb=okb)
    M, N, K = np.array(GPT2).T
    gemm = ac.systolic.simulate(M, N, K, R, C, flows, ifmap_kb=ikb, filter_kb=fkb, ofmap_kb=okb)
    for df in (out, gemm):
        values = df.select_dtypes("number").to_numpy(dtype=np.float64)
        assert np.isfinite(values).all()
        # a buffer past its 50 sets is fetched again: at least every distinct word
        assert (df["dram_filter_reads"] >= df["K"] * df["N"]).all()
        assert (df["dram_ifmap_stop_cycle"] >= -1).all()
        assert (df["total_cycles_incl_prefetch"] >= df["total_cycles"]).all()


def test_ofmap_drain_period_jump_matches_scalesim():
    # A 12 x 14 array with a 1 kB OFMAP buffer drains 37 lines of 14 words per event
    # while 513 words arrive between events: 37 * 14 > 513 >= 36 * 14, the steady state
    # whose drains end just in time (jumped over since the drain's first row holds the
    # triggering write). Many drains per layer, every field as SCALE-Sim's.
    gemms = [(300, 28, 24), (170, 14, 30), (41, 30, 13)]
    ref = pd.concat([run_scalesim(gemms, 12, 14, flow, ifmap_kb=64, filter_kb=64, ofmap_kb=1)
                     for flow in ("ws", "is")], ignore_index=True)
    assert (ref["dram_ofmap_writes"] > 4 * 512).all()  # several drains each
    ours = ac.systolic.simulate(ref["M"], ref["N"], ref["K"], 12, 14, ref["dataflow"],
                                ifmap_kb=64, filter_kb=64, ofmap_kb=1)
    _assert_same(ours, ref)


def test_conv_ifmap_read_once_per_fold_matches_scalesim():
    # Windows that never overlap (1x1 stride 2, 2x2 stride 2, 3x3 stride 3): every ifmap
    # word comes back only one column fold later, more than a 1 kB buffer's 500 reads
    # on: the closed form (a cut every 500 reads), and one layer whose windows overlap.
    layers = [(40, 40, 1, 1, 4, 9, 2), (30, 30, 2, 2, 3, 7, 2), (27, 27, 3, 3, 2, 5, 3),
              (20, 20, 3, 3, 3, 7, 1)]
    ref = pd.concat([run_scalesim(layers, R, C, flow, kind="conv", ifmap_kb=1, filter_kb=1,
                                  ofmap_kb=64) for R, C, flow in [(4, 2, "os"), (5, 3, "ws")]],
                    ignore_index=True)
    assert (ref["dram_ifmap_reads"] > 2 * ref["ifmap_h"] * ref["ifmap_w"] * ref["channels"]
            // (ref["stride"] ** 2)).all()
    ours = ac.systolic.simulate_conv(*(ref[c] for c in CONV), ref["rows"], ref["cols"],
                                     ref["dataflow"], ifmap_kb=1, filter_kb=1, ofmap_kb=64)
    _assert_same(ours, ref)


def test_ws_ifmap_read_block_apart_matches_scalesim():
    # ws, R <= channels: every word comes back at least 500 reads later (proven without
    # the walk, no replay; in the stride-2 layers the last window passes the edge), and
    # one layer just short of it on R = 3 (replayed).
    cases = [((2, 3), [(12, 12, 3, 3, 8, 7, 1), (11, 11, 2, 2, 8, 7, 1),
                       (18, 18, 3, 3, 8, 7, 2)]),
             ((3, 3), [(10, 10, 3, 3, 12, 7, 1), (20, 20, 3, 3, 6, 7, 2),
                       (10, 10, 3, 3, 8, 7, 1)])]
    proven = [_ws_reads_apart(conv_geometry(*([v] for v in layer), [R], [C], [1])[0], 500,
                              np.zeros(0, np.int64)) > 0
              for (R, C), layers in cases for layer in layers]
    assert proven == [True, True, True, True, True, False]
    ref = pd.concat([run_scalesim(layers, R, C, "ws", kind="conv", ifmap_kb=1, filter_kb=1,
                                  ofmap_kb=64) for (R, C), layers in cases], ignore_index=True)
    assert (ref["dram_ifmap_stop_cycle"] > 0).all()
    ours = ac.systolic.simulate_conv(*(ref[c] for c in CONV), ref["rows"], ref["cols"],
                                     ref["dataflow"], ifmap_kb=1, filter_kb=1, ofmap_kb=64)
    _assert_same(ours, ref)


def test_tap_classes_are_the_distinct_first_last_pairs():
    rng = np.random.default_rng(5)
    lo = rng.integers(-1, 6, 200)
    hi = np.where(lo >= 0, lo + rng.integers(0, 3, 200), -1)
    expected = sorted({int(a) * 9 + int(b) for a, b in zip(lo, hi) if a >= 0})
    assert _tap_classes(lo, hi, 9).tolist() == expected


def test_ws_proof_of_a_filter_as_wide_as_the_image():
    # 1000 x 30000 ifmap, one channel, a 32 x 30000 filter at stride 1 on R = 1: 969
    # windows, all inside the image, of 960,000 entries each; a word's reads are at
    # least 30000 entries (a filter row) apart, past a 500-read block, so the proof
    # holds and one column fold reads P x WN = 969 x 960,000 words. Its span bound
    # walks the 63 x 30000 classes of (first, last) taps (0.04 s), not every one of
    # the 9 x 10^8 pairs of taps along x for each of the 63 (about 40 s before).
    g = conv_geometry([1000], [30000], [32], [30000], [1], [8], [1], [1], [4], [1])[0]
    assert _ws_reads_apart(g, 500, np.zeros(0, np.int64)) == 969 * 32 * 30000


def _ws_reuse_distance(ih, iw, fh, fw, ch, s, R):
    """Reads of one ws im2col column fold and the shortest distance between two reads
    of one ifmap word (the fold read twice in a row), listed with plain numpy; windows
    past the edge (the last of ``ceil((ih - fh) / s) + 1``) read only inside it."""
    oh, ow = -(-(ih - fh) // s) + 1, -(-(iw - fw) // s) + 1
    p = np.arange(oh * ow)
    w = np.arange(fh * fw * ch)
    ky, kx, c = w // (fw * ch), (w // ch) % fw, w % ch
    reads = []
    for f0 in range(0, w.size, R):
        ws = w[f0:f0 + R]
        # anti-diagonal d = p + e (e: entry in the row fold), entries in order along one
        pp, ee = np.meshgrid(p, ws - f0, indexing="ij")
        order = np.lexsort((ee.ravel(), (pp + ee).ravel()))
        pq, wq = pp.ravel()[order], (ee + f0).ravel()[order]
        y, x = (pq // ow) * s + ky[wq], (pq % ow) * s + kx[wq]
        inside = (y < ih) & (x < iw)
        reads.append(((y * iw + x) * ch + c[wq])[inside])
    a = np.concatenate(reads * 2)
    idx = np.argsort(a, kind="stable")
    same = a[idx[1:]] == a[idx[:-1]]
    return a.size // 2, int((idx[1:] - idx[:-1])[same].min())


def test_ws_reads_apart_only_when_every_reuse_is_a_block_away():
    rng = np.random.default_rng(3)
    fired = 0
    for _ in range(150):
        fh, fw, s = (int(v) for v in rng.integers(1, 4, 3))
        ih, iw = int(rng.integers(fh, 14)), int(rng.integers(fw, 14))
        if rng.random() < 0.5:  # no window past the edge
            ih, iw = ih - (ih - fh) % s, iw - (iw - fw) % s
        ch = int(rng.integers(2, 17))
        R = int(rng.integers(1, ch // 2 + 1))
        reads, dist = _ws_reuse_distance(ih, iw, fh, fw, ch, s, R)
        g = conv_geometry([ih], [iw], [fh], [fw], [ch], [5], [s], [R], [4], [1])[0]
        for block in (dist // 2, dist - 1, dist, dist + 1):
            nv = _ws_reads_apart(g, block, np.zeros(0, np.int64)) if block > 0 else -1
            if nv > 0:
                fired += 1
                assert dist >= block and nv == reads, (ih, iw, fh, fw, ch, s, R, block, dist)
    assert fired > 50

"""The USER-mode memory model against the real SCALE-Sim 3.0.0, and by hand."""

import numpy as np
import pytest

from airchitect.targets.systolic import memory
from airchitect.targets.systolic.scalesim import run_scalesim_layers

DATAFLOWS = ("os", "ws", "is")
# every SCALE-Sim report field the memory model gives (all but mapping_efficiency
# and compute_util, which are the compute model's); energy is ours, not SCALE-Sim's
FIELDS = tuple(f for f in memory.COUNT_FIELDS + memory.RATE_FIELDS
               if f not in ("energy_pj", "edp"))


def _configs(seed, n, kb_high, bw_high, dim_high, array_high):
    """Random (dataflow, rows, cols, ifmap_kb, filter_kb, ofmap_kb, bandwidth, gemms)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        rows, cols = (int(v) for v in rng.integers(1, array_high + 1, 2))
        kb = [int(v) for v in rng.integers(1, kb_high + 1, 3)]
        bw = int(rng.integers(1, bw_high + 1))
        gemms = [tuple(int(v) for v in rng.integers(1, dim_high + 1, 3)) for _ in range(3)]
        out.append((DATAFLOWS[i % 3], rows, cols, *kb, bw, gemms))
    return out


# 40 stall-heavy configurations (SRAM 1-4 kB, bandwidth 1-2; GEMM operands up to
# 48 x 48 words overflow a 1 kB buffer's 512-word active half several times over,
# so the read windows thrash) and 10 roomier ones: 150 GEMMs in all.
GEMM_CONFIGS = _configs(1, 40, 4, 2, 48, 8) + _configs(2, 10, 64, 10, 48, 16)

# Cases checked by hand in test_corrected_convention_by_hand.
HAND_CASES = [("os", 1, 1, 1, 1, 1, 1, [(1, 1, 1024)]), ("os", 2, 1, 1, 1, 1, 1, [(2, 1, 512)])]


def _compare(ours, ref, where):
    for name in FIELDS:
        assert ours[name] == ref[name], (where, name, ours[name], ref[name])


@pytest.fixture(scope="module")
def gemm_reference():
    out = []
    for df, rows, cols, ik, fk, ok, bw, gemms in GEMM_CONFIGS + HAND_CASES:
        refs = run_scalesim_layers([("gemm", M, N, K) for M, N, K in gemms], rows, cols, df,
                                   ik, fk, ok, bw)
        out.append(refs)
    return out


def test_gemm_user_mode_matches_scalesim(gemm_reference):
    n = stalled = 0
    for (df, rows, cols, ik, fk, ok, bw, gemms), refs in zip(GEMM_CONFIGS + HAND_CASES,
                                                              gemm_reference):
        M, N, K = np.array(gemms).T
        ours = memory.user_mode(M, N, K, rows, cols, DATAFLOWS.index(df), ik, fk, ok, bw)
        for i, ref in enumerate(refs):
            _compare({k: v[i].item() for k, v in ours.items()}, ref,
                     (df, rows, cols, ik, fk, ok, bw, gemms[i]))
            n += 1
            stalled += ref["stall_cycles"] > 0
    assert n >= 150
    assert stalled >= 30  # the set really exercises the stall paths



def test_event_model_matches_scalesim(gemm_reference):
    # the event-by-event model gives SCALE-Sim's totals on all 150 GEMMs, stall-heavy
    # ones included; its cheaper estimate still counts every prefetch exactly
    from airchitect.targets.systolic.memory.events import estimate_user_mode, user_mode_totals

    for (df, rows, cols, ik, fk, ok, bw, gemms), refs in zip(GEMM_CONFIGS + HAND_CASES,
                                                              gemm_reference):
        M, N, K = np.array(gemms).T
        args = (M, N, K, rows, cols, DATAFLOWS.index(df), ik, fk, ok, bw)
        fast = user_mode_totals(*args)
        est = estimate_user_mode(*args)
        for i, ref in enumerate(refs):
            where = (df, rows, cols, ik, fk, ok, bw, gemms[i])
            for name in ("total_cycles", "stall_cycles", "dram_ifmap_reads", "dram_filter_reads",
                         "dram_ofmap_writes", "sram_ifmap_reads", "sram_filter_reads",
                         "sram_ofmap_writes"):
                assert fast[name][i] == ref[name], (where, name)
            for name in ("dram_ifmap_reads", "dram_filter_reads"):
                assert est[name][i] == ref[name], (where, name)


CONV_CONFIGS = []
_rng = np.random.default_rng(3)
for _i in range(12):
    _layers = []
    for _ in range(2):
        fh, fw = (int(v) for v in _rng.integers(1, 4, 2))
        _layers.append(("conv", fh + int(_rng.integers(4, 16)), fw + int(_rng.integers(4, 16)),
                        fh, fw, int(_rng.integers(2, 8)), int(_rng.integers(4, 20)),
                        int(_rng.integers(1, 3))))
    CONV_CONFIGS.append((DATAFLOWS[_i % 3], *(int(v) for v in _rng.integers(1, 9, 2)),
                         *(int(v) for v in _rng.integers(1, 3, 3)), int(_rng.integers(1, 3)),
                         _layers))


def test_conv_user_mode_matches_scalesim():
    n = stalled = 0
    for df, rows, cols, ik, fk, ok, bw, layers in CONV_CONFIGS:
        refs = run_scalesim_layers(layers, rows, cols, df, ik, fk, ok, bw)
        for layer, ref in zip(layers, refs):
            ours = memory.user_mode_conv(*layer[1:], rows, cols, DATAFLOWS.index(df), ik, fk,
                                         ok, bw)
            _compare({k: v[0].item() for k, v in ours.items()}, ref,
                     (df, rows, cols, ik, fk, ok, bw, layer))
            n += 1
            stalled += ref["stall_cycles"] > 0
    assert n == 24
    assert stalled >= 8


def test_corrected_convention_by_hand():
    # GEMM 1 x 1 x 1024 on a 1x1 os array, 1 kB SRAMs, 1 word/cycle. The ifmap and
    # filter operands (1024 words each) fill 94 sets of 11 words; the active half
    # holds sets 0..46 (517 words) and was fetched before cycle 0 (512 requests,
    # last answer at cycle -1). Row 517 (cycle 517) needs set 47: one miss.
    # SCALE-Sim times the 512-cycle prefetch from cycle -1: done at 512 < 518, so
    # no stall; total cycles = 1024 rows - 1 = 1023.
    # Corrected: the prefetch starts at 518 (cycle + hit latency), answers at
    # 518 + 512 = 1030, the row waits 1030 - 518 = 512 cycles: 512 stalls, 1535 cycles.
    # GEMM 2 x 1 x 512 on 2x1: 2 ifmap words a row, the miss comes at row 259;
    # SCALE-Sim: prefetch done at 512, p = 512 - 260 = 252 counted twice = 504
    # stalls; corrected: started at 260, done at 772, 512 stalls; 513 rows.
    ref = memory.user_mode([1, 2], 1, [1024, 512], [1, 2], 1, 0, 1, 1, 1, 1)
    fixed = memory.user_mode([1, 2], 1, [1024, 512], [1, 2], 1, 0, 1, 1, 1, 1,
                             convention="corrected")
    assert ref["stall_cycles"].tolist() == [0, 504]
    assert ref["total_cycles"].tolist() == [1023, 1016]
    assert fixed["stall_cycles"].tolist() == [512, 512]
    assert fixed["total_cycles"].tolist() == [1535, 1024]
    # DRAM traffic is the same: 512 words up front + one 512-word prefetch
    assert fixed["dram_ifmap_reads"].tolist() == ref["dram_ifmap_reads"].tolist() == [1024, 1024]
    assert fixed["dram_ifmap_stop_cycle"].tolist() == [1030, 772]


def test_corrected_equals_scalesim_without_misses():
    # operands that fit their active half never miss: both conventions agree
    M, N, K = np.meshgrid([3, 17, 40], [5, 33], [2, 21], indexing="ij")
    a = memory.user_mode(M, N, K, 4, 8, [[[0]], [[1]], [[2]]], 64, 64, 64, 3)
    b = memory.user_mode(M, N, K, 4, 8, [[[0]], [[1]], [[2]]], 64, 64, 64, 3,
                         convention="corrected")
    for name in FIELDS:
        np.testing.assert_array_equal(a[name], b[name])
    assert (a["stall_cycles"] == 0).all()


def test_corrected_never_stalls_less_on_thrashing_gemms():
    rng = np.random.default_rng(7)
    M, N, K = rng.integers(16, 200, (3, 60))
    code = rng.integers(0, 3, 60)
    a = memory.user_mode(M, N, K, 8, 8, code, 1, 1, 1, 1)
    b = memory.user_mode(M, N, K, 8, 8, code, 1, 1, 1, 1, convention="corrected")
    assert (b["stall_cycles"] >= a["stall_cycles"]).all()
    assert (b["stall_cycles"] > a["stall_cycles"]).any()


def test_broadcasting_matches_elementwise():
    out = memory.user_mode([[20], [40]], [9, 30, 7], 33, 4, [4, 8, 2], 1, 1, 2, 1, 2)
    assert out["total_cycles"].shape == (6,)
    for i, (M, N, C) in enumerate([(20, 9, 4), (20, 30, 8), (20, 7, 2),
                                   (40, 9, 4), (40, 30, 8), (40, 7, 2)]):
        one = memory.user_mode(M, N, 33, 4, C, 1, 1, 2, 1, 2)
        for name in FIELDS:
            assert out[name][i] == one[name][0]


def test_gemm_equals_its_1x1_conv():
    # a 1x1 stride-1 conv over an M x 1 image with K channels is the GEMM (M, N, K)
    for code in range(3):
        g = memory.user_mode(37, 11, 29, 4, 4, code, 1, 1, 1, 1)
        c = memory.user_mode_conv(37, 1, 1, 1, 29, 11, 1, 4, 4, code, 1, 1, 1, 1)
        for name in FIELDS:
            assert g[name][0] == c[name][0], name


@pytest.mark.parametrize("bad, match", [
    (dict(M=0), "M must be"), (dict(M=2.5), "M must be"), (dict(dataflow_code=3), "dataflow_code"),
    (dict(ifmap_kb=0), "ifmap_kb"), (dict(bandwidth=-1), "bandwidth"),
    (dict(convention="fixed"), "convention"),
])
def test_bad_input(bad, match):
    args = dict(M=8, N=8, K=8, rows=4, cols=4, dataflow_code=0, ifmap_kb=1, filter_kb=1,
                ofmap_kb=1, bandwidth=1)
    args.update(bad)
    with pytest.raises((ValueError, TypeError), match=match):
        memory.user_mode(**args)


def test_simulate_both_modes_match_the_scalesim_backend():
    # simulate(mode=...) through the package's own SCALE-Sim backend, every report
    # column including the DRAM ones (CALC mode: SCALE-Sim's estimate buffers)
    from airchitect.targets.systolic.scalesim import run_scalesim
    from airchitect.targets.systolic.simulate import REPORT_FIELDS

    import airchitect as ac

    rng = np.random.default_rng(11)
    for i in range(6):
        flow = DATAFLOWS[i % 3]
        mode = ("calc", "user")[i % 2]
        R, C = (int(v) for v in rng.integers(2, 10, 2))
        kb = dict(ifmap_kb=int(rng.integers(1, 3)), filter_kb=1,
                  ofmap_kb=int(rng.choice([1, 2, 256])))
        gemms = [tuple(int(v) for v in rng.integers(1, 50, 3)) for _ in range(3)]
        ref = run_scalesim(gemms, R, C, flow, bandwidth=2, mode=mode, **kb)
        ours = ac.systolic.simulate(*np.array(gemms).T, R, C, flow, bandwidth=2, mode=mode, **kb)
        layers = []
        for _ in range(2):
            fh, fw = (int(v) for v in rng.integers(1, 4, 2))
            layers.append((fh + int(rng.integers(2, 10)), fw + int(rng.integers(2, 10)), fh, fw,
                           int(rng.integers(1, 6)), int(rng.integers(2, 16)),
                           int(rng.integers(1, 3))))
        ref_c = run_scalesim(layers, R, C, flow, kind="conv", bandwidth=2, mode=mode, **kb)
        ours_c = ac.systolic.simulate_conv(*np.array(layers).T, R, C, flow, bandwidth=2,
                                           mode=mode, **kb)
        for a, b in ((ours, ref), (ours_c, ref_c)):
            for name in REPORT_FIELDS:
                np.testing.assert_array_equal(a[name].to_numpy(), b[name].to_numpy(),
                                              err_msg=f"{mode} {flow} {name}")

"""``simulate`` against the real SCALE-Sim 3.0.0 in CALC mode, and hand-computed cases."""

import numpy as np
import pandas as pd
import pytest

import airchitect as ac
from airchitect.targets.systolic.compute import total_cycles_calc
from airchitect.targets.systolic.scalesim import run_scalesim
from airchitect.targets.systolic.simulate import REPORT_FIELDS

N_CONFIGS = 25
GEMMS_PER_CONFIG = 9
# Bound on demand rows per reference GEMM: SCALE-Sim's memory loop costs ~0.1 ms per row.
MAX_ROWS = 1500


def _rough_rows(M, N, K, R, C, flow):
    sr, sc, t = {"os": (M, N, K), "ws": (K, N, M), "is": (K, M, N)}[flow]
    return -(-sr // R) * -(-sc // C) * (t + 2 * R + C)


def _gemm_cases(rng):
    cases = []
    for i in range(N_CONFIGS):
        flow = ("os", "ws", "is")[i % 3]
        R = int(rng.choice([int(rng.integers(1, 129)), 2 ** int(rng.integers(0, 8))]))
        C = int(rng.choice([int(rng.integers(1, 129)), 2 ** int(rng.integers(0, 8))]))
        kb = [int(rng.choice([1, 2, 3, 8, 32, 256])) for _ in range(3)]
        layers = []
        while len(layers) < GEMMS_PER_CONFIG:
            M, N, K = (int(np.exp(rng.uniform(0, np.log(300)))) for _ in range(3))
            if _rough_rows(M, N, K, R, C, flow) <= MAX_ROWS:
                layers.append((M, N, K))
        cases.append(((R, C, flow, kb), layers))
    return cases


@pytest.fixture(scope="session")
def gemm_reference():
    """Real SCALE-Sim runs: one invocation (many layers) per array configuration."""
    rng = np.random.default_rng(2024)
    frames = []
    for (R, C, flow, kb), layers in _gemm_cases(rng):
        frames.append(run_scalesim(layers, R, C, flow, ifmap_kb=kb[0], filter_kb=kb[1],
                                   ofmap_kb=kb[2]))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def conv_reference():
    rng = np.random.default_rng(7)
    frames = []
    for i in range(4):
        R, C = int(rng.integers(2, 40)), int(rng.integers(2, 40))
        flow = ("os", "ws", "is", "os")[i]
        layers = []
        while len(layers) < 5:
            fh, fw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
            ih, iw = fh + int(rng.integers(0, 12)), fw + int(rng.integers(0, 12))
            ch, nf, s = int(rng.integers(1, 9)), int(rng.integers(1, 40)), int(rng.integers(1, 4))
            M = (-(-(ih - fh + s) // s)) * (-(-(iw - fw + s) // s))
            if _rough_rows(M, nf, fh * fw * ch, R, C, flow) <= MAX_ROWS:
                layers.append((ih, iw, fh, fw, ch, nf, s))
        frames.append(run_scalesim(layers, R, C, flow, kind="conv", ifmap_kb=int(rng.choice([1, 64])),
                                   filter_kb=1, ofmap_kb=int(rng.choice([1, 2, 256]))))
    return pd.concat(frames, ignore_index=True)


def _assert_same(ours, ref):
    assert len(ours) == len(ref)
    for name in REPORT_FIELDS:
        a, b = ours[name].to_numpy(), ref[name].to_numpy()
        bad = np.flatnonzero(a != b)
        assert bad.size == 0, (name, ref.iloc[bad[:3]].T, a[bad[:3]])


def test_gemms_match_scalesim_exactly(gemm_reference):
    ref = gemm_reference
    assert len(ref) >= 200 and set(ref["dataflow"]) == {"os", "ws", "is"}
    ours = ac.systolic.simulate(ref["M"], ref["N"], ref["K"], ref["rows"], ref["cols"],
                                ref["dataflow"], ifmap_kb=ref["ifmap_kb"],
                                filter_kb=ref["filter_kb"], ofmap_kb=ref["ofmap_kb"])
    _assert_same(ours, ref)
    assert (ours["stall_cycles"] == 0).all()


def test_fast_path_matches_scalesim(gemm_reference):
    ref = gemm_reference
    code = ref["dataflow"].map({"os": 0, "ws": 1, "is": 2}).to_numpy()
    got = total_cycles_calc(ref["M"], ref["N"], ref["K"], ref["rows"], ref["cols"], code)
    np.testing.assert_array_equal(got, ref["total_cycles"].to_numpy())


def test_convs_match_scalesim_exactly(conv_reference):
    ref = conv_reference
    assert len(ref) == 20
    ours = ac.systolic.simulate_conv(
        *(ref[c] for c in ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels",
                           "num_filters", "stride")),
        ref["rows"], ref["cols"], ref["dataflow"], ifmap_kb=ref["ifmap_kb"],
        filter_kb=ref["filter_kb"], ofmap_kb=ref["ofmap_kb"])
    _assert_same(ours, ref)


# Hand-computed cases: GEMM M=4, N=5, K=6 on an 8-row x 4-column array.
def test_hand_os():
    # os: Sr, Sc, T = M, N, K = 4, 5, 6. Row folds ceil(4/8) = 1, col folds ceil(5/4) = 2.
    # Per fold T + R + C - 2 = 6 + 8 + 4 - 2 = 16 cycles; total = 2 * 16 - 1 = 31.
    # IFMAP reads CF*T*Sr = 2*6*4 = 48; filter reads RF*T*Sc = 1*6*5 = 30;
    # OFMAP writes Sr*Sc + folds*(R+C) = 20 + 2*12 = 44.
    # Mapping efficiency: folds use 4x4 then 4x1 of 32 PEs: (16/32 + 4/32)/2 = 31.25 %.
    # Compute util: (16*6/(32*16) + 4*6/(32*16))/2 = 11.71875 %.
    # Overall util: 4*5*6*100/(31*32) = 12.0967741935... %.
    # OFMAP SRAM start: first fold has T-1 empty rows then the flipped 8-row block whose
    # first 8-4 rows are empty: row 5 + 4 = 9. Stop: fold 1 starts at 16, its last write
    # is at T + R + cu - 3 = 6 + 8 + 1 - 3 = 12 -> 28.
    # Incl. prefetch: 256 kB IFMAP/filter hold all 24/30 words in one 2621-word set,
    # fetched in ceil(2621/10) = 263 cycles ending at -1 -> start -263; the 20 OFMAP words
    # drain in 5 lines of 4 from cycle 31 -> stop 35; 35 + 263 = 298.
    r = ac.systolic.simulate(4, 5, 6, 8, 4, "os").iloc[0]
    assert (r.total_cycles, r.stall_cycles, r.compute_cycles) == (31, 0, 31)
    assert (r.sram_ifmap_reads, r.sram_filter_reads, r.sram_ofmap_writes) == (48, 30, 44)
    assert r.mapping_efficiency == 31.25 and r.compute_util == 11.71875
    assert r.overall_util == 12000 / 992
    assert (r.sram_ofmap_start_cycle, r.sram_ofmap_stop_cycle) == (9, 28)
    # IFMAP: first row 0 (+1 latency); last: fold 1 row T + ru - 2 = 8 -> 16 + 8 + 1 = 25.
    assert (r.sram_ifmap_start_cycle, r.sram_ifmap_stop_cycle) == (1, 25)
    assert r.total_cycles_incl_prefetch == 298


def test_hand_ws():
    # ws: Sr, Sc, T = K, N, M = 6, 5, 4. RF = ceil(6/8) = 1, CF = 2.
    # Per fold T + 2R + C - 2 = 4 + 16 + 4 - 2 = 22; total = 2 * 22 - 1 = 43.
    # IFMAP reads CF*T*Sr = 2*4*6 = 48; filter Sr*Sc = 30; OFMAP RF*T*Sc = 20.
    # Compute util uses T + 2R + 2C - 3 = 25 cycles: (24*4/(32*25) + 6*4/(32*25))/2 = 7.5 %.
    # Filter SRAM: flipped block with 8-6 = 2 empty rows first -> start 2 + 1 = 3;
    # stop: fold 1 row R-1 = 7 -> 22 + 7 + 1 = 30.
    r = ac.systolic.simulate(4, 5, 6, 8, 4, "ws").iloc[0]
    assert (r.total_cycles, r.sram_ifmap_reads, r.sram_filter_reads, r.sram_ofmap_writes) == (43, 48, 30, 20)
    assert r.compute_util == (96 / 800 + 24 / 800) / 2 * 100
    assert r.mapping_efficiency == (24 / 32 + 6 / 32) / 2 * 100
    assert (r.sram_filter_start_cycle, r.sram_filter_stop_cycle) == (3, 30)
    # OFMAP: 2R-1 = 15 empty rows -> start 15; stop 22 + 2R + T + cu - 3 = 22 + 16 + 4 + 1 - 3 = 40.
    assert (r.sram_ofmap_start_cycle, r.sram_ofmap_stop_cycle) == (15, 40)


def test_hand_is():
    # is: Sr, Sc, T = K, M, N = 6, 4, 5. RF = 1, CF = ceil(4/4) = 1: one fold.
    # Per fold T + 2R + C - 2 = 5 + 16 + 4 - 2 = 23; total = 22.
    # IFMAP reads Sr*Sc = 24; filter CF*T*Sr = 30; OFMAP RF*T*Sc = 20.
    # Mapping efficiency 6*4/32 = 75 %; compute util 24*5/(32*(5+16+8-3)) = 120/832.
    r = ac.systolic.simulate(4, 5, 6, 8, 4, "is").iloc[0]
    assert (r.total_cycles, r.sram_ifmap_reads, r.sram_filter_reads, r.sram_ofmap_writes) == (22, 24, 30, 20)
    assert r.mapping_efficiency == 75.0 and r.compute_util == 120 / 832 * 100
    # IFMAP is the flipped block: start R - ru = 2 (+1), stop R - 1 = 7 (+1).
    assert (r.sram_ifmap_start_cycle, r.sram_ifmap_stop_cycle) == (3, 8)
    assert r.avg_ifmap_sram_bw == 24 / 22


def test_hand_conv_mapping():
    # 7x7 IFMAP, 3x3 filter, stride 2: ofmap ceil((7-3+2)/2) = 3 -> M = 9, K = 3*3*2 = 18, N = 4.
    # os on 4x4: RF = 3, CF = 1, per fold 18 + 4 + 4 - 2 = 24 -> 3*24 - 1 = 71.
    r = ac.systolic.simulate_conv(7, 7, 3, 3, 2, 4, 2, 4, 4, "os").iloc[0]
    assert (r.M, r.N, r.K, r.total_cycles) == (9, 4, 18, 71)

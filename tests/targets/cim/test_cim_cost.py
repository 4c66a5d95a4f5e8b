"""CIM cost model: the CIM-AQ latency model (VGG16 2.48x) and its extensions."""

import math

import numpy as np
import pytest

import airchitect.targets.cim as cim
from airchitect.targets.cim import energy

# VGG16 on 224x224 ImageNet: (P output pixels, n = in_ch*kh*kw, m = out_ch)
VGG16 = [
    (224 * 224, 3 * 9, 64), (224 * 224, 64 * 9, 64),
    (112 * 112, 64 * 9, 128), (112 * 112, 128 * 9, 128),
    (56 * 56, 128 * 9, 256), (56 * 56, 256 * 9, 256), (56 * 56, 256 * 9, 256),
    (28 * 28, 256 * 9, 512), (28 * 28, 512 * 9, 512), (28 * 28, 512 * 9, 512),
    (14 * 14, 512 * 9, 512), (14 * 14, 512 * 9, 512), (14 * 14, 512 * 9, 512),
    (1, 512 * 7 * 7, 4096), (1, 4096, 4096), (1, 4096, 1000),
]
# CIM-AQ's VGG16 policy (weight bits, activation bits) per layer
POLICY = [(8, 8), (4, 7), (4, 6), (4, 3), (4, 5), (4, 4), (4, 4), (4, 6), (4, 4), (4, 2),
          (4, 6), (4, 3), (4, 7), (8, 8), (4, 7), (8, 8)]


def _hand_latency_us(P, n, m, w, a):
    """The issue's formula with Python integers (256x256, b_c=4, d=1, differential-column)."""
    cols = m * math.ceil(w / 4) * 2
    tiles = math.ceil(cols / 256) * math.ceil(n / 256)
    executions = P * tiles * a
    return tiles, executions, tiles * 56 + executions * 1.4


def _vgg(policy):
    P, n, m = (np.array(c) for c in zip(*VGG16))
    w, a = (np.array(c) for c in zip(*policy))
    return cim.simulate(P, n, m, w, a)


def test_vgg16_policy_speedup_is_cim_aq_2_48x():
    base = _vgg([(8, 8)] * 16)
    mixed = _vgg(POLICY)
    speedup = base.latency_us.sum() / mixed.latency_us.sum()
    assert speedup == pytest.approx(2.48, abs=0.01)
    for k, ((P, n, m), (w, a)) in enumerate(zip(VGG16, POLICY)):
        tiles, execs, lat = _hand_latency_us(P, n, m, w, a)
        assert mixed.tiles[k] == tiles and mixed.executions[k] == execs
        assert mixed.latency_us[k] == pytest.approx(lat, rel=1e-12)
        tiles, execs, lat = _hand_latency_us(P, n, m, 8, 8)
        assert base.tiles[k] == tiles and base.latency_us[k] == pytest.approx(lat, rel=1e-12)


def test_hand_computed_layers():
    # conv1_1: cols = 64*2*2 = 256 -> 1 tile; 50176 pixels x 8 slices
    df = cim.simulate(224 * 224, 27, 64, 8, 8)
    assert (df.S_w[0], df.cols[0], df.rows[0], df.tiles[0]) == (2, 256, 27, 1)
    assert df.latency_us[0] == pytest.approx(56 + 401408 * 1.4)
    # fc1 at 8/8: cols 16384 -> 64 tiles, rows 25088 -> 98 tiles
    df = cim.simulate(1, 25088, 4096, 8, 8)
    assert df.tiles[0] == 64 * 98 and df.executions[0] == 64 * 98 * 8


def test_mappings_widen_rows_or_columns():
    df = cim.simulate(1, 300, 100, 8, 8, mapping=["offset", "differential-column", "differential-row"])
    assert df.cols.tolist() == [201, 400, 200]
    assert df.rows.tolist() == [300, 300, 600]
    assert df.tiles.tolist() == [1 * 2, 2 * 2, 1 * 3]


def test_dac_bits_cut_slices_and_cell_bits_cut_columns():
    df = cim.simulate(10, 256, 64, 8, 8, cell_bits=[1, 2, 4], dac_bits=[1, 2, 2])
    assert df.S_w.tolist() == [8, 4, 2] and df.S_in.tolist() == [8, 4, 4]
    assert df.cols.tolist() == [1024, 512, 256]


def test_broadcasting_over_workloads_and_configs():
    P = np.array([1, 100, 10000])[:, None]
    size = np.array([64, 128, 256, 512])[None, :]
    df = cim.simulate(P, 1000, 1000, 8, 8, xbar_rows=size, xbar_cols=size)
    assert len(df) == 12
    lat = df.latency_us.to_numpy().reshape(3, 4)
    for i, p in enumerate([1, 100, 10000]):
        for j, s in enumerate([64, 128, 256, 512]):
            tiles = math.ceil(4000 / s) * math.ceil(1000 / s)
            assert lat[i, j] == pytest.approx(tiles * 56 + p * tiles * 8 * 1.4)


def test_bnn_tnn_mappings_are_one_bit_cells_with_phases():
    df = cim.simulate(5, 100, 10, 8, 8, mapping=["BNN-I", "BNN-III", "BNN-V", "BNN-VI", "TNN-II", "TNN-IV"])
    assert df.S_w.tolist() == [1] * 6 and df.S_in.tolist() == [1] * 6
    assert df.cols.tolist() == [20, 10, 10, 20, 20, 20]
    assert df.rows.tolist() == [100, 100, 200, 200, 100, 100]
    assert df.phases.tolist() == [1, 2, 1, 1, 2, 2]
    assert df.executions.tolist() == [5, 10, 5, 5, 10, 10]


def test_active_rows_split_reads():
    # rows 600 on 256-row tiles: 256 + 256 + 88 rows; 64 active rows -> 4 + 4 + 2 reads
    df = cim.simulate(3, 600, 10, 8, 8, active_rows=[64, 256])
    assert df.executions.tolist() == [3 * 8 * 1 * 10, 3 * 8 * 1 * 3]
    assert df.adc_bits.tolist() == [math.ceil(math.log2(64 * 15 + 1)) + 1, 13]


def test_duplication_splits_vectors_and_multiplies_writes():
    df = cim.simulate(1001, 256, 64, 8, 8, duplication=[1, 4])
    assert df.writes.tolist() == [1, 4] and df.crossbars.tolist() == [1, 4]
    assert df.critical_executions.tolist() == [1001 * 8, 251 * 8]
    assert df.executions.tolist() == [1001 * 8, 1001 * 8]
    assert df.latency_us[1] == pytest.approx(4 * 56 + 251 * 8 * 1.4)


def test_adc_sharing_adds_sequential_conversions():
    # 256 columns, differential: 128 outputs per read; 8 ADCs -> 16 conversions of 1 ns
    base = cim.simulate(10, 256, 64, 8, 8)
    shared = cim.simulate(10, 256, 64, 8, 8, adcs_per_xbar=8, t_adc_ns=1.0)
    extra = shared.latency_us[0] - base.latency_us[0]
    assert extra == pytest.approx(base.executions[0] * 16 * 1e-3)
    offset = cim.simulate(10, 256, 64, 8, 8, mapping="offset", adcs_per_xbar=8, t_adc_ns=1.0)
    base_off = cim.simulate(10, 256, 64, 8, 8, mapping="offset")
    assert offset.latency_us[0] - base_off.latency_us[0] == pytest.approx(offset.executions[0] * 32e-3)


def test_energy_model_counts_every_operation():
    # one 8/8 layer on one tile: 20 rows, 16 outputs -> 32 cells wide (differential)
    df = cim.simulate(3, 20, 16, 4, 2, cell_bits=4, adc_bits=8)
    vec_slices = 3 * 2
    cells = 20 * 32
    assert df.cell_energy_pj[0] == pytest.approx(vec_slices * cells * 0.25 / 6e3 * 10e-9 * 1e12)
    assert df.dac_energy_pj[0] == pytest.approx(vec_slices * 20 * 4e-3 / 1024 * 100e-9 * 1e12)
    assert df.adc_energy_pj[0] == pytest.approx(vec_slices * 16 * 1.5625)
    assert df.shift_add_energy_pj[0] == pytest.approx(vec_slices * 16 * 0.2e-3 / 4 / 1.28e9 * 1e12)
    assert df.write_energy_pj[0] == pytest.approx(cells * 4 / 6e3 * 10e-9 * 1e12)
    parts = df[[c for c in df.columns if c.endswith("_energy_pj")]].sum(axis=1)
    assert df.energy_pj[0] == pytest.approx(parts[0])
    assert float(energy.adc_energy_pj(10)) == pytest.approx(4 * 1.5625)


def test_lossless_adc_bits():
    assert cim.lossless_adc_bits(256, 4, 1, True) == 13  # 256*15 = 3840 -> 12 bits + sign
    assert cim.lossless_adc_bits(128, 2, 2, False) == 11  # 128*3*3 = 1152 -> 11 bits
    assert cim.lossless_adc_bits(1, 1, 1, False) == 1


@pytest.mark.parametrize("kwargs, exc, word", [
    (dict(P=0), ValueError, "P"),
    (dict(w_bits=33), ValueError, "w_bits"),
    (dict(m=1.5), TypeError, "m"),
    (dict(mapping="diagonal"), ValueError, "mapping"),
    (dict(cell_bits=9), ValueError, "cell_bits"),
    (dict(active_rows=300), ValueError, "active_rows"),
    (dict(colour=3), TypeError, "colour"),
])
def test_bad_input_names_the_field(kwargs, exc, word):
    args = dict(P=1, n=10, m=10, w_bits=8, in_bits=8)
    args.update(kwargs)
    with pytest.raises(exc, match=word):
        cim.simulate(**args)


def test_config_validates_and_round_trips():
    cfg = cim.CrossbarConfig(xbar_rows=128, xbar_cols=128, mapping="offset")
    assert cim.CrossbarConfig(**cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="mapping"):
        cim.CrossbarConfig(mapping="x")
    with pytest.raises(ValueError, match="active_rows"):
        cim.CrossbarConfig(xbar_rows=64, active_rows=128)
    df = cim.simulate(10, 100, 100, 8, 8, **cfg.to_dict())
    assert df.cols[0] == 201

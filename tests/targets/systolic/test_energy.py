"""The energy model, by hand."""

import numpy as np
import pytest

import airchitect as ac
from airchitect.targets.systolic import energy, memory


def test_default_constants_are_the_eyeriss_ratios():
    m = energy.EnergyModel()
    assert m.mac_pj == pytest.approx(0.23)
    assert m.array_pj / m.mac_pj == pytest.approx(2)
    assert m.sram_read_pj / m.mac_pj == pytest.approx(6)
    assert m.dram_pj / m.mac_pj == pytest.approx(200)
    # square-root capacity scaling around Eyeriss' 108 kB buffer
    assert m.sram_pj(108) == pytest.approx(1.38)
    assert m.sram_pj(432) == pytest.approx(2.76)
    assert m.sram_pj(27, write=True) == pytest.approx(0.69)


def test_layer_energy_by_hand():
    # 1000 MACs x (0.23 + 0.46) = 690; 200 ifmap reads at 108 kB x 1.38 = 276;
    # 100 filter reads at 27 kB x 0.69 = 69; 50 writes at 432 kB x 2.76 = 138;
    # 10 DRAM words x 46 = 460. Total 1633 pJ.
    e = energy.layer_energy_pj(1000, (200, 100), (108, 27, 432), 50, 10)
    assert e == pytest.approx(1633.0)


def test_overrides():
    m = energy.EnergyModel(mac_pj=1.0, array_pj=0.0, sram_read_pj=2.0, sram_write_pj=3.0,
                           sram_ref_kb=64, sram_exponent=0.0, dram_pj=100.0)
    # 10 MACs + 5 x 2 + 4 x 2 + 3 x 3 + 2 x 100 = 10 + 10 + 8 + 9 + 200
    assert energy.layer_energy_pj(10, (5, 4), (1, 2, 4096), 3, 2, m) == pytest.approx(237.0)


@pytest.mark.parametrize("field", ["mac_pj", "dram_pj", "sram_ref_kb"])
def test_bad_constants(field):
    with pytest.raises(ValueError, match=field):
        energy.EnergyModel(**{field: -1.0})


def test_user_mode_energy_and_edp_from_its_counts():
    out = memory.user_mode(40, 30, 20, 8, 4, 1, 2, 4, 8, 2)
    m = energy.EnergyModel()
    expect = (40 * 30 * 20 * 0.69
              + out["sram_ifmap_reads"][0] * m.sram_pj(2)
              + out["sram_filter_reads"][0] * m.sram_pj(4)
              + out["sram_ofmap_writes"][0] * m.sram_pj(8, write=True)
              + 46.0 * (out["dram_ifmap_reads"][0] + out["dram_filter_reads"][0]
                        + out["dram_ofmap_writes"][0]))
    assert out["energy_pj"][0] == pytest.approx(expect)
    assert out["edp"][0] == pytest.approx(expect * out["total_cycles"][0])


def test_simulate_has_energy_columns_in_both_modes():
    for mode in ("calc", "user"):
        df = ac.systolic.simulate(16, 24, 32, 4, 8, ["os", "ws", "is"], ifmap_kb=1,
                                  filter_kb=2, ofmap_kb=4, bandwidth=2, mode=mode)
        m = energy.EnergyModel()
        dram = df["dram_ifmap_reads"] + df["dram_filter_reads"] + df["dram_ofmap_writes"]
        expect = (16 * 24 * 32 * 0.69 + df["sram_ifmap_reads"] * m.sram_pj(1)
                  + df["sram_filter_reads"] * m.sram_pj(2)
                  + df["sram_ofmap_writes"] * m.sram_pj(4, write=True) + 46.0 * dram)
        np.testing.assert_allclose(df["energy_pj"], expect)
        np.testing.assert_allclose(df["edp"], expect * df["total_cycles"])

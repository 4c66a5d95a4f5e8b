"""The cim task's design space, feasibility, costs, tie-break and sampler."""

import numpy as np
import pandas as pd
import pytest

from airchitect.targets.cim import layer_costs, lossless_adc_bits
from airchitect.tasks import cim as cs


def test_design_space_shape_and_order():
    sp = cs.design_space()
    assert len(sp) == 1224 == len(sp.drop_duplicates())
    # (3 + 4 + 5 + 5) active-row choices x 3 cell bits x 2 DAC bits x 3 mappings x 4 copies
    assert len(sp) == 17 * 3 * 2 * 3 * 4
    assert sorted(sp[sp.xbar == 64].active_rows.unique()) == [16, 32, 64]
    assert (sp.active_all == (sp.active_rows == sp.xbar)).all()
    assert sp.iloc[0].tolist() == [64, 16, False, 1, 1, "offset", 1]


def _reference(inputs, sp, objective):
    col = {k: inputs[k].to_numpy()[:, None] for k in inputs}
    cfg = {k: sp[v].to_numpy()[None] for k, v in [("xbar_rows", "xbar"), ("xbar_cols", "xbar"),
           ("active_rows", "active_rows"), ("cell_bits", "cell_bits"), ("dac_bits", "dac_bits"),
           ("duplication", "duplication")]}
    lc = layer_costs(col["P"], col["n"], col["m"], col["w_bits"], col["in_bits"], adc_bits=col["adc_bits"],
                     mapping=sp.mapping.to_numpy().astype(str)[None], **cfg)
    signed = sp.mapping.isin(["differential-column", "differential-row"]).to_numpy()
    need = lossless_adc_bits(sp.active_rows.to_numpy(), sp.cell_bits.to_numpy(), sp.dac_bits.to_numpy(), signed)
    ok = (need[None] <= col["adc_bits"]) & (lc["crossbars"] <= col["n_xbars"])
    value = {"latency": lc["latency_us"], "energy": lc["energy_pj"],
             "edp": lc["latency_us"] * lc["energy_pj"]}[objective]
    return np.where(ok, value, np.inf)


@pytest.mark.parametrize("objective", cs.OBJECTIVES)
def test_task_costs_equal_the_cost_model(objective):
    inputs = cs.sample_inputs(40, seed=3)
    sp = cs.design_space()
    got = cs.task_costs(inputs, sp, objective)
    assert got.shape == (40, 1224)
    np.testing.assert_array_equal(got, _reference(inputs, sp, objective))


def test_feasibility_adc_and_budget():
    sp = cs.design_space()
    one = pd.DataFrame(dict(P=[10], n=[100], m=[10], w_bits=[8], in_bits=[8], n_xbars=[4096], adc_bits=[5]))
    feasible = np.isfinite(cs.task_costs(one, sp))[0]
    # 5 bits resolve 16 rows x 1-bit cells x 1-bit inputs (17 levels) only unsigned
    expect = (sp.active_rows == 16) & (sp.cell_bits == 1) & (sp.dac_bits == 1) & (sp.mapping == "offset")
    assert np.array_equal(feasible, expect.to_numpy())
    # a budget of 1 crossbar rules out every duplication > 1
    one = one.assign(n_xbars=1, adc_bits=16)
    feasible = np.isfinite(cs.task_costs(one, sp))[0]
    assert not feasible[sp.duplication.to_numpy() > 1].any() and feasible.any()


def test_tie_break_fewer_crossbars_then_lowest_id():
    sp = cs.design_space()
    # 16 inputs, 1 output, 2-bit: one tile and one read for every config with
    # 2-bit DACs, so latency 56 + 1.4 us ties; all use one crossbar; lowest id wins
    one = pd.DataFrame(dict(P=[1], n=[16], m=[1], w_bits=[2], in_bits=[2], n_xbars=[1], adc_bits=[14]))
    cost = cs.task_costs(one, sp)[0]
    assert cost.min() == pytest.approx(57.4)
    best = cs.best_configs(one, sp)[0]
    assert best == 12
    assert sp.iloc[best].tolist() == [64, 16, False, 1, 2, "offset", 1]


def test_duplication_wins_for_many_vectors():
    sp = cs.design_space()
    one = pd.DataFrame(dict(P=[50000], n=[64], m=[16], w_bits=[4], in_bits=[4], n_xbars=[8], adc_bits=[14]))
    best = sp.iloc[cs.best_configs(one, sp)[0]]
    assert best.duplication == 8
    energy_best = sp.iloc[cs.best_configs(one, sp, "energy")[0]]
    assert energy_best.duplication == 1  # copies only add write energy


def test_sampler_is_seeded_in_range_and_feasible():
    a = cs.sample_inputs(300, seed=1)
    b = cs.sample_inputs(300, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(cs.sample_inputs(300, seed=2))
    assert list(a.columns) == list(cs.INPUT_COLUMNS)
    assert a.P.between(*cs.P_RANGE).all() and a.m.between(*cs.M_RANGE).all()
    assert a.adc_bits.between(*cs.ADC_BITS_RANGE).all()
    assert np.isfinite(cs.task_costs(a)).any(axis=1).all()
    assert (cs.best_configs(a) >= 0).all()


def test_bad_input():
    with pytest.raises(ValueError, match="objective"):
        cs.task_costs(cs.sample_inputs(1), objective="cycles")
    with pytest.raises(ValueError, match="missing n_xbars"):
        cs.task_costs(pd.DataFrame(dict(P=[1], n=[1], m=[1], w_bits=[1], in_bits=[1], adc_bits=[8])))
    with pytest.raises(ValueError, match="adc_bits"):
        cs.task_costs(pd.DataFrame(dict(P=[1], n=[1], m=[1], w_bits=[1], in_bits=[1], n_xbars=[1], adc_bits=[0])))

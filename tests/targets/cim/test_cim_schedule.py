"""Tiled CIM scheduling: hand-derived makespans, invariants, real networks."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airchitect.targets.cim.schedule import auto_duplication, schedule
from airchitect.targets.cim.schedule_layers import layer_table

# Default crossbar (CIM-AQ): 256x256, b_c = 4, d = 1, differential-column,
# t_exec = 1.4 us, t_write = 56 us; 8-bit inputs -> S_in = 8 slices, one phase,
# so one MVM keeps its tiles busy 8 * 1.4 = 11.2 us.
T_MVM = 8 * 1.4


def two_convs(h=4):
    """conv 3x3 (1 -> 2 channels, pad 1) then conv 3x3 (2 -> 1), on an h x h image."""
    return pd.DataFrame({
        "kind": ["conv", "conv"], "M": [h * h, h * h], "N": [2, 1], "K": [9, 18],
        "in_h": h, "in_w": h, "kh": 3, "kw": 3, "stride": 1, "padding": 1,
        "in_channels": [1, 2], "out_channels": [2, 1], "groups": 1,
    })


def test_two_convs_cross_layer_makespan_by_hand():
    # Each layer fits one crossbar (rows 9 or 18, cols = m * S_w(2) * 2 <= 256).
    # One set = one output row = 4 pixels = 4 * 11.2 = 44.8 us.
    # Layer 1 sets end at 44.8, 89.6, 134.4, 179.2.
    # A set's output: 1 row x 4 px x 2 channels x 8 bits = 64 bits; transfer
    # 0.1 us + 64 / 64000 us = 0.101 us.
    # Layer 2 set r reads input rows r-1..r+1 (clipped to 0..3):
    #   set 0 ready 89.6 + .101 = 89.701,        runs 89.701 .. 134.501
    #   set 1 ready 134.4 + .101 = 134.501,      runs 134.501 .. 179.301
    #   set 2 ready 179.2 + .101 = 179.301,      runs 179.301 .. 224.101
    #   set 3 ready 179.301 but PE busy,         runs 224.101 .. 268.901
    # Layer by layer: layer 2 starts at 179.2 + 0.1 + 256 / 64000 = 179.304
    # and ends 179.304 + 179.2 = 358.504.
    s = schedule(two_convs(), 2, "cross-layer")
    assert s.makespan_us == pytest.approx(268.901)
    assert s.speedup_vs_layer == pytest.approx(358.504 / 268.901)
    assert s.utilization == pytest.approx(2 * 179.2 / (2 * 268.901))
    assert s.utilization_vs_layer == pytest.approx(358.504 / 268.901)
    layer2 = s.timeline[s.timeline.layer == 1].sort_values("set")
    assert layer2.start.tolist() == pytest.approx([89.701, 134.501, 179.301, 224.101])
    base = schedule(two_convs(), 2, "layer")
    assert base.makespan_us == pytest.approx(358.504)
    assert base.speedup_vs_layer == 1.0


def test_duplication_by_hand():
    # n_pes = 3, one tile per layer: "auto" gives the spare PE to layer 0 (equal
    # work, tie -> earlier layer). Layer 0 sets alternate copies: sets 0, 1 end at
    # 44.8, sets 2, 3 at 89.6.
    # Cross-layer layer 1: set 0 reads sets 0..1 -> ready 44.901, runs to 89.701;
    # set 1 reads 0..2 -> ready 89.701 .. 134.501; set 2 -> 134.501 .. 179.301;
    # set 3 -> 179.301 .. 224.101.
    s = schedule(two_convs(), 3, "cross-layer", "auto")
    assert s.layers.copies.tolist() == [2, 1]
    assert s.makespan_us == pytest.approx(224.101)
    assert s.speedup_vs_layer == pytest.approx(358.504 / 224.101)
    # 3 PEs hold weights here, 2 in the baseline (both have n_pes = 3)
    assert s.utilization_used == pytest.approx(358.4 / (3 * 224.101))
    assert s.utilization_used_vs_layer == pytest.approx((358.4 / (3 * 224.101)) / (358.4 / (2 * 358.504)))
    # layer by layer with the same copies: 89.6 + 0.104 + 179.2
    assert schedule(two_convs(), 3, "layer", [2, 1]).makespan_us == pytest.approx(268.904)
    assert sorted(s.busy_us.tolist()) == pytest.approx([89.6, 89.6, 179.2])


def test_time_multiplexing_by_hand():
    # Two one-tile layers on one PE: segment 0 is programmed (56 us) and runs
    # 56 .. 235.2; segment 1 is programmed 235.2 .. 291.2 and runs to 470.4.
    for strategy in ("layer", "cross-layer"):
        s = schedule(two_convs(), 1, strategy)
        assert s.layers.segment.tolist() == [0, 1]
        assert s.makespan_us == pytest.approx(470.4)
        assert s.utilization == pytest.approx(358.4 / 470.4)


def test_runtime_matrix_is_programmed_before_use():
    net = pd.DataFrame({"kind": ["matmul"], "M": [2], "N": [4], "K": [8], "count": [3]})
    s = schedule(net, 3, "cross-layer")
    # three heads, one tile each; 56 us programming then 2 MVMs of 11.2 us
    assert s.layers.tiles.tolist() == [3]
    assert s.makespan_us == pytest.approx(56 + 2 * T_MVM)


def test_set_rows_and_timeline_shape():
    s = schedule(two_convs(8), 2, "cross-layer", set_rows=4)
    assert list(s.timeline.columns) == ["set", "layer", "pe", "start", "end"]
    assert s.layers.sets.tolist() == [2, 2]
    per_pe = (s.timeline.end - s.timeline.start).groupby(s.timeline.pe).sum()
    assert per_pe.to_numpy() == pytest.approx(s.busy_us)


def test_module_trace_matches_table():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(2, 1, 3, padding=1))
    s = schedule(net, 2, "cross-layer", input_shape=(1, 1, 4, 4))
    assert s.makespan_us == pytest.approx(268.901)


def test_token_id_module_traces_with_its_dtype():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Embedding(50, 16), torch.nn.Linear(16, 8))
    s = schedule(net, 4, "layer", input_shape=(1, 6), input_dtype="int64")
    t = schedule(pd.DataFrame({"M": [6], "N": [8], "K": [16]}), 4, "layer")
    assert s.makespan_us == t.makespan_us > 0
    with pytest.raises(ValueError, match="input_dtype must be one of"):
        schedule(net, 4, input_shape=(1, 6), input_dtype="long")


def test_bad_input():
    with pytest.raises(ValueError, match="strategy"):
        schedule(two_convs(), 2, "greedy")
    with pytest.raises(ValueError, match="n_pes"):
        schedule(two_convs(), 0)
    with pytest.raises(ValueError, match="duplication needs 4 PEs"):
        schedule(two_convs(), 3, duplication=[3, 1])
    with pytest.raises(ValueError, match="duplication must be"):
        schedule(two_convs(), 3, duplication=[1, 1, 1])
    big = pd.DataFrame({"M": [1], "N": [1000], "K": [2048]})  # 8 x 16 = 128 tiles
    with pytest.raises(ValueError, match="needs 128 PEs, more than n_pes=64"):
        schedule(big, 64)
    with pytest.raises(ValueError, match="input_shape"):
        schedule(__import__("torch").nn.Linear(4, 4), 4)


def test_auto_duplication_greedy():
    # 7 free PEs: layer 1 (90 -> 45 -> 30 per copy) takes 6, then layer 0 the last
    assert auto_duplication([1, 3], [40.0, 90.0], 11).tolist() == [2, 3]
    assert auto_duplication([5, 5], [1.0, 1.0], 8).tolist() == [1, 1]
    assert auto_duplication([1, 1], [9.0, 1.0], 10, max_copies=[3, 9]).tolist() == [3, 7]
    # a 4-row layer gets at most 4 copies, a dense layer (one set) one
    net = pd.concat([two_convs().iloc[:1], pd.DataFrame({"M": [1], "N": [4], "K": [32]})])
    assert schedule(net, 100, "cross-layer", "auto").layers.copies.tolist() == [4, 1]


@st.composite
def conv_chains(draw):
    n_layers = draw(st.integers(1, 4))
    h = draw(st.integers(1, 10))
    c = draw(st.integers(1, 40))
    rows = []
    for _ in range(n_layers):
        k = draw(st.sampled_from([1, 3, 5]))
        stride = draw(st.integers(1, 2))
        pad = draw(st.integers(0, k // 2))
        out = (h + 2 * pad - k) // stride + 1
        if out < 1:
            break
        cout = draw(st.integers(1, 300))
        rows.append(dict(kind="conv", M=out * out, N=cout, K=c * k * k, in_h=h, in_w=h,
                         kh=k, kw=k, stride=stride, padding=pad, in_channels=c,
                         out_channels=cout, groups=1))
        h, c = out, cout
    if not rows:
        rows.append(dict(kind="conv", M=h * h, N=4, K=c, in_h=h, in_w=h, kh=1, kw=1, stride=1,
                         padding=0, in_channels=c, out_channels=4, groups=1))
    return pd.DataFrame(rows)


@settings(max_examples=25, deadline=None)
@given(net=conv_chains(), extra=st.integers(0, 12), set_rows=st.integers(1, 3),
       seed=st.integers(0, 2**16), mux=st.booleans())
def test_cross_layer_never_slower(net, extra, set_rows, seed, mux):
    tiles = schedule(net, 10**6, "layer").layers.tiles.to_numpy()
    if mux:  # fewer PEs than tiles: time-multiplexed, no duplication
        n_pes, dup = int(tiles.max()), None
    else:
        n_pes = int(tiles.sum()) + extra
        rng = np.random.default_rng(seed)
        dup = np.ones(len(tiles), dtype=np.int64)
        for _ in range(extra):
            i = rng.integers(len(tiles))
            if (dup * tiles).sum() + tiles[i] <= n_pes:
                dup[i] += 1
    layer = schedule(net, n_pes, "layer", dup, set_rows=set_rows)
    cross = schedule(net, n_pes, "cross-layer", dup, set_rows=set_rows)
    assert cross.makespan_us <= layer.makespan_us * (1 + 1e-12)
    for s in (layer, cross):
        assert 0 < s.utilization <= 1 + 1e-12
    auto = schedule(net, n_pes, "cross-layer", "auto", set_rows=set_rows)
    assert auto.makespan_us <= schedule(net, n_pes, "layer", "auto", set_rows=set_rows).makespan_us * (1 + 1e-12)


def test_layer_table_reads_dag_and_heads():
    t = layer_table("bert-base-128")
    qk = t[t.name == "blocks.0.attn.qk"].iloc[0]
    assert qk.instances == 12 and qk.full and qk.runtime_weights and qk.inputs == (0, 1)
    up = t[t.name == "blocks.0.mlp.up"].iloc[0]
    assert not up.full and up.rows == 128 and up.kh == 1


@pytest.mark.parametrize("name, n_pes", [("resnet50", 1024), ("resnet50", 4096)])
def test_real_network(name, n_pes):
    layer = schedule(name, n_pes, "layer")
    cross = schedule(name, n_pes, "cross-layer")
    dup = schedule(name, n_pes, "cross-layer", "auto")
    table = __import__("airchitect.workloads", fromlist=["network"]).network(name)
    # 8-bit weights in 4-bit cells: 2 slices, x2 columns (differential), 256x256
    expected = -(-table.N * 4 // 256) * -(-table.K // 256) * table["count"]
    assert layer.layers.tiles.tolist() == expected.tolist()
    assert cross.makespan_us < layer.makespan_us
    assert cross.speedup_vs_layer > 2
    if n_pes >= expected.sum():
        assert dup.makespan_us < cross.makespan_us
        assert (dup.layers.tiles * dup.layers.copies).sum() <= n_pes
    else:
        assert layer.layers.segment.max() == 1 and (dup.layers.copies == 1).all()


def test_duplication_costs_match_the_simulator():
    from airchitect.tasks.cim_schedule import (
        duplication_costs, duplication_labels, duplication_space, sample_inputs)

    inputs = sample_inputs(4, seed=1)
    space = duplication_space()
    costs = duplication_costs(inputs, space)
    for i, r in inputs.iterrows():
        net = pd.DataFrame({
            "kind": "conv", "M": [r.H * r.H] * 2, "N": [r.c_mid, r.c_out],
            "K": [r.c_in * r.k1**2, r.c_mid * r.k2**2], "in_h": r.H, "in_w": r.H,
            "kh": [r.k1, r.k2], "kw": [r.k1, r.k2], "stride": 1, "padding": [r.k1 // 2, r.k2 // 2]})
        tiles = schedule(net, 10**6, "layer").layers.tiles.to_numpy()
        for j, (d1, d2) in enumerate(zip(space.D1, space.D2)):
            if d1 * tiles[0] + d2 * tiles[1] > r.n_pes:
                assert costs[i, j] == np.inf
            else:
                s = schedule(net, int(r.n_pes), "cross-layer", [d1, d2])
                assert costs[i, j] == pytest.approx(s.makespan_us, rel=1e-12)
    labels = duplication_labels(inputs, space)
    assert costs[np.arange(4), labels] == pytest.approx(costs.min(axis=1), rel=1e-12)
    assert sample_inputs(4, seed=1).equals(inputs)


def test_duplication_tie_break_prefers_fewer_pes():
    from airchitect.tasks.cim_schedule import duplication_costs, duplication_labels

    # H = 1: one set per layer, copies cannot help; every feasible choice ties
    # and the one with fewest PEs (label 0, D1 = D2 = 1) wins.
    inputs = pd.DataFrame({"H": [1], "c_in": [16], "c_mid": [16], "c_out": [16], "k1": [3],
                           "k2": [3], "n_pes": [100]})
    costs = duplication_costs(inputs)
    assert np.isfinite(costs).all() and np.ptp(costs) == 0
    assert duplication_labels(inputs).tolist() == [0]
    with pytest.raises(ValueError, match="k2"):
        duplication_costs(inputs.assign(k2=2))

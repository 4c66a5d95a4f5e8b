"""Task labels against brute force over the space, tie-breaks, determinism."""

from itertools import permutations

import numpy as np
import pandas as pd
import pytest

import airchitect as ac
from airchitect.targets.systolic.compute import compute_fields



def simulate(M, N, K, rows, cols, dataflow):
    """Total cycles from the full CALC compute model (SCALE-Sim exact; tested
    against scalesim in test_systolic_calc), a code path separate from the
    fast kernel the tasks use."""
    code = np.vectorize({"os": 0, "ws": 1, "is": 2}.__getitem__)(np.asarray(dataflow))
    out = compute_fields(*np.broadcast_arrays(*(np.asarray(a) for a in (M, N, K, rows, cols, code))))
    return pd.DataFrame({"total_cycles": np.asarray(out["total_cycles"]).ravel()})


def test_registry_and_space_sizes():
    assert {"array", "buffer", "multiarray"} <= set(ac.tasks.names())
    assert len(ac.tasks.get("array").space()) == 273
    assert len(ac.tasks.get("buffer").space()) == 105
    assert len(ac.tasks.get("multiarray").space()) == 24
    with pytest.raises(ValueError, match="task must be one of"):
        ac.tasks.get("nope")


def test_array_space_follows_definition():
    space = ac.tasks.get("array").space()
    assert (space.rows * space.cols <= 2**16).all()
    assert space.rows.min() == 4 and space.cols.min() == 4
    assert set(space.dataflow) == {"os", "ws", "is"}
    assert not space.duplicated().any()


def _array_brute_force(M, N, K, max_macs):
    """Literal reading of DESIGN.md's array task with the full simulator."""
    space = ac.tasks.get("array").space()
    report = simulate(M, N, K, space.rows.to_numpy(), space.cols.to_numpy(),
                      space.dataflow.to_numpy())
    best = None
    for label, row in space.iterrows():
        if row.rows * row.cols > max_macs:
            continue
        cycles = report.total_cycles[label]
        key = (cycles, row.rows * row.cols, "os ws is".split().index(row.dataflow), row.rows)
        if best is None or key < best[0]:
            best = (key, label)
    return best[1], best[0][0]


@pytest.mark.parametrize("seed", [0, 1])
def test_array_labels_match_brute_force(seed):
    task = ac.tasks.get("array")
    inputs = task.sample(6, seed=seed)
    inputs.loc[0] = [1, 1, 1, 256]
    inputs.loc[1] = [64, 64, 64, 65536]  # square: R x C and C x R tie under os
    labelled = task.label(inputs)
    for i, row in inputs.iterrows():
        label, cycles = _array_brute_force(row.M, row.N, row.K, row.max_macs)
        assert labelled.label[i] == label
        assert labelled.best_cost[i] == cycles
        assert labelled.second_cost[i] >= cycles


def test_array_tie_break_by_dataflow_hand_computed():
    # M = N = 256, K = 8, 256 PEs. ws maps (Sr, Sc, T) = (K, N, M) = (8, 256, 256)
    # and is maps (K, M, N), the same numbers since M = N. On 8 x 32:
    # folds = ceil(8/8) * ceil(256/32) = 8, each T + 2R + C - 2 = 302 rows,
    # total 8 * 302 - 1 = 2415 cycles for both. os on 16 x 16 needs
    # 256 folds * (8 + 16 + 16 - 2) - 1 = 9727. ws < is breaks the tie.
    best = ac.tasks.get("array").search(M=256, N=256, K=8, max_macs=256)
    assert (best["rows"], best["cols"], best["dataflow"], best["cost"]) == (8, 32, "ws", 2415)
    assert best["second_cost"] == 2415  # the is twin


def test_multiarray_labels_match_brute_force():
    task = ac.tasks.get("multiarray")
    inputs = task.sample(5, seed=3)
    labelled = task.label(inputs)
    system = task.system
    rows, cols, flows = (np.array([a[j] for a in system]) for j in range(3))
    for i, row in inputs.iterrows():
        table = [
            simulate(row[f"M{g}"], row[f"N{g}"], row[f"K{g}"], rows, cols, flows)
            .total_cycles.tolist()
            for g in range(4)
        ]
        keys = []
        for index, perm in enumerate(permutations(range(4))):
            cycles = [table[g][perm[g]] for g in range(4)]
            keys.append((max(cycles), sum(cycles), index))
        assert labelled.label[i] == min(keys)[2]
        assert labelled.best_cost[i] == min(keys)[0]


def test_multiarray_identical_gemms_tie_to_lowest_permutation():
    task = ac.tasks.get("multiarray", system=[(16, 16, "os")] * 4)
    row = {f"{d}{i}": 32 for i in range(4) for d in "MNK"}
    assert task.search(**row)["label"] == 0


def test_sampling_is_seeded():
    for name in ("array", "multiarray", "buffer"):
        task = ac.tasks.get(name)
        pd.testing.assert_frame_equal(task.sample(50, seed=7), task.sample(50, seed=7))
        assert not task.sample(50, seed=7).equals(task.sample(50, seed=8))


def test_array_bad_inputs_name_the_field():
    task = ac.tasks.get("array")
    with pytest.raises(ValueError, match="max_macs"):
        task.search(M=4, N=4, K=4, max_macs=1000)
    with pytest.raises(ValueError, match="M must be integers in \\[1, 16384\\]"):
        task.search(M=0, N=4, K=4, max_macs=256)
    with pytest.raises(ValueError, match="objective must be one of"):
        task.search(M=4, N=4, K=4, max_macs=256, objective="speed")
    with pytest.raises(ValueError, match="missing max_macs"):
        task.label(pd.DataFrame({"M": [1], "N": [1], "K": [1]}))


def test_cost_of_recomputes_exact_costs():
    task = ac.tasks.get("array")
    inputs = task.sample(20, seed=5)
    labels = np.arange(20)
    costs = task.cost_of(inputs, labels)
    space = task.space()[:20]
    ref = simulate(inputs.M, inputs.N, inputs.K, space.rows, space.cols, space.dataflow)
    expected = np.where(space.pes <= inputs.max_macs, ref.total_cycles, np.inf)
    np.testing.assert_array_equal(costs, expected)


def test_sve_labels_match_brute_force():
    task = ac.tasks.get("sve")
    inputs = task.sample(8, seed=2)
    labelled = task.label(inputs)
    space = task.space()
    for i, row in inputs.iterrows():
        report = ac.sve.simulate(row.M, row.N, row.K, space.vl_bits.to_numpy(), space.m0.to_numpy(),
                                 space.n_v.to_numpy(), space.u.to_numpy() * {"f32": 1, "bf16": 2, "i8": 4}[row["dtype"]],
                                 dtype=row["dtype"])
        keys = [(c, v, r, m, n, u, label) for label, (c, v, r, m, n, u) in enumerate(zip(
            report.cycles, space.vl_bits, space.registers, space.m0, space.n_v, space.u))
            if v <= row.max_vl_bits]
        best = min(keys)
        assert labelled.label[i] == best[-1] and labelled.best_cost[i] == best[0]
    with pytest.raises(ValueError, match="max_vl_bits must be one of"):
        task.search(M=4, N=4, K=4, dtype="f32", max_vl_bits=384)


def test_cim_labels_follow_the_documented_tie_break():
    from airchitect.tasks import cim as cim_space

    task = ac.tasks.get("cim")
    inputs = task.sample(300, seed=4)
    labelled = task.label(inputs)
    np.testing.assert_array_equal(labelled.label, cim_space.best_configs(inputs))
    costs = task.costs(inputs)
    np.testing.assert_array_equal(labelled.best_cost, costs.min(axis=1))


def test_buffer_labels_match_brute_force():
    task = ac.tasks.get("buffer")
    inputs = pd.DataFrame({
        "M": [40, 64, 17], "N": [64, 24, 50], "K": [48, 64, 33], "rows": [8, 4, 16],
        "cols": [8, 16, 4], "dataflow": ["os", "ws", "is"], "sram_kb": [16, 32, 16],
        "bandwidth": [1, 2, 1],
    })
    labelled = task.label(inputs)
    space = task.space()
    for r, row in inputs.iterrows():
        kb = [row.sram_kb * space[p].to_numpy() // 16 for p in "ijk"]
        report = ac.systolic.simulate(row.M, row.N, row.K, row.rows, row.cols, row["dataflow"], ifmap_kb=kb[0],
                          filter_kb=kb[1], ofmap_kb=kb[2], bandwidth=row.bandwidth, mode="user")
        dram = report.dram_ifmap_reads + report.dram_filter_reads + report.dram_ofmap_writes
        keys = sorted(zip(report.total_cycles, dram, space.i, space.j, space.index))
        assert labelled.label[r] == keys[0][-1]
        assert labelled.best_cost[r] == keys[0][0]
        assert labelled.ifmap_kb[r] == row.sram_kb * space.i[keys[0][-1]] // 16
    with pytest.raises(ValueError, match="sram_kb must be a multiple of 16"):
        task.search(M=4, N=4, K=4, rows=4, cols=4, dataflow="os", sram_kb=40, bandwidth=1)


def test_cim_schedule_labels_agree_with_the_scheduler_labels():
    from airchitect.tasks import cim_schedule as schedule_pairs

    task = ac.tasks.get("cim-schedule")
    inputs = task.sample(400, seed=6)
    labelled = task.label(inputs)
    np.testing.assert_array_equal(labelled.label, schedule_pairs.duplication_labels(inputs))
    assert len(task.space()) == 16


def test_multiarray_bad_input_names_the_field():
    task = ac.tasks.get("multiarray")
    row = {f"{d}{i}": [64] for i in range(4) for d in "MNK"}
    assert task.validate(row).dtypes.eq("int64").all()
    with pytest.raises(ValueError, match=r"N2 must be integers in \[1, 16384\], got 0"):
        task.validate({**row, "N2": [0]})
    with pytest.raises((ValueError, TypeError), match="K1 must be integers"):
        task.validate({**row, "K1": [2.5]})


@pytest.mark.parametrize("change", ["value", "dtype", "column"])
def test_a_checked_frame_changed_in_place_is_checked_again(change):
    """validate skips re-checking the small frame it last returned only while it is unchanged."""
    task = ac.tasks.get("codesign")
    out = task.validate({"M": [64, 8], "N": [64, 8], "K": [64, 8], "max_macs": [1024, 256],
                         "sram_kb": [64, 16], "bandwidth": [4, 1]})
    assert task.validate(out) is out  # unchanged: the same frame back
    if change == "value":
        out.loc[1, "M"] = 0
        expected = (ValueError, r"M must be integers in \[1, 65536\], got 0")
    elif change == "dtype":
        out["K"] = out["K"].astype(np.float64) + 0.5
        expected = (TypeError, "K must be integers")
    else:
        out["sram_kb"] = np.uint64(2**63)
        expected = (ValueError, "sram_kb must be integers")
    with pytest.raises(expected[0], match=expected[1]):
        task.validate(out)

"""The ``codesign`` task: its space, its checks, its provable bounds and its exact search.

The branch and bound is compared with the brute force (every allowed configuration
simulated, then the tie-broken argmin written out here) on 200 random queries per
objective. To keep the brute force affordable in a test the space is a user space
(16 shapes of sides 4..32 with up to 1024 PEs, 3 dataflows, 10 SRAM splits: 480
labels) and the queries are small and memory-bound on purpose (GEMM sides 1..300,
SRAM 6..96 kB, bandwidth 1..64 words/cycle); the full 28,665-label space is
compared in benchmarks/bench_codesign.py.
"""

import numpy as np
import pandas as pd
import pytest

import airchitect as ac
from airchitect.targets.systolic.memory import user_mode_totals
from airchitect.tasks import codesign_bounds as cb
from airchitect.tasks.codesign import CodesignTask

SIDES = [4, 8, 16, 32]
SMALL = dict(rows=SIDES, cols=SIDES, max_macs=[64, 256, 1024], parts=6)
N_QUERIES = 200


@pytest.fixture(scope="module")
def small():
    return CodesignTask(**SMALL)


def _queries(n, seed):
    rng = np.random.default_rng(seed)
    dims = np.exp(rng.uniform(0, np.log(301), size=(n, 3))).astype(np.int64)
    return pd.DataFrame({"M": dims[:, 0], "N": dims[:, 1], "K": dims[:, 2],
                         "max_macs": rng.choice([64, 256, 1024], n),
                         "sram_kb": 6 * rng.integers(1, 17, n),
                         "bandwidth": rng.choice([1, 2, 4, 8, 16, 64], n)})


@pytest.fixture(scope="module")
def brute(small):
    """Every allowed configuration of every query simulated: ``(queries, figures)``."""
    queries = small.validate(_queries(N_QUERIES, seed=11))
    n, L = len(queries), small.n_labels
    labels = np.broadcast_to(np.arange(L), (n, L))
    space = small.space()
    sim = small.simulate(queries, labels)
    allowed = space.pes.to_numpy()[None, :] <= queries.max_macs.to_numpy()[:, None]
    return queries, sim, allowed, space


def _brute_labels(sim, allowed, space, objective):
    """Least (objective, cycles, PEs, DRAM words, dataflow, rows, i, j) per row, written out:
    (labels, their costs, the least cost of the other configurations)."""
    cost = {"cycles": sim["total_cycles"].astype(float), "energy": sim["energy_pj"],
            "edp": sim["energy_pj"] * sim["total_cycles"]}[objective]
    cost = np.where(allowed, cost, np.inf)
    shape = cost.shape
    flow = space.dataflow.map({"os": 0, "ws": 1, "is": 2}).to_numpy()
    keys = [cost, sim["total_cycles"], space.pes.to_numpy(), sim["dram_words"], flow, space.rows.to_numpy(),
            space.i.to_numpy(), space.j.to_numpy()]
    order = np.lexsort([np.broadcast_to(k, shape) for k in keys[::-1]], axis=-1)
    labels = order[:, 0]
    rows = np.arange(shape[0])
    ranked = np.sort(cost, axis=1)
    return labels, cost[rows, labels], ranked[:, 1]


@pytest.mark.parametrize("objective", ["cycles", "energy", "edp"])
def test_branch_and_bound_equals_brute_force(small, brute, objective):
    queries, sim, allowed, space = brute
    expected, best, second = _brute_labels(sim, allowed, space, objective)
    labelled = small.label(queries, objective)
    np.testing.assert_array_equal(labelled["label"].to_numpy(), expected)
    np.testing.assert_array_equal(labelled["best_cost"].to_numpy(), best)
    np.testing.assert_array_equal(labelled["second_cost"].to_numpy(), second)
    sims = np.array(small.last_stats["simulations"])
    assert (sims <= allowed.sum(axis=1)).all()
    assert np.median(sims) < np.median(allowed.sum(axis=1))
    for r in (0, 57, 199):  # search without the runner-up finds the same optimum
        row = {c: int(v) for c, v in queries.iloc[r].items()}
        found = small.search(objective, runner_up=False, return_stats=True, **row)
        assert found["label"] == expected[r] and found["cost"] == best[r]
        assert "second_cost" not in found and found["stats"]["simulations"] >= 1


def test_costs_brute_force_agrees(small, brute):
    queries, sim, allowed, space = brute
    part = queries.iloc[:4]
    costs = small.costs(part, "energy")
    np.testing.assert_array_equal(costs[allowed[:4]], sim["energy_pj"][:4][allowed[:4]])
    assert np.isinf(costs[~allowed[:4]]).all()
    np.testing.assert_array_equal(small.label(part, "energy", keep_costs=True)["label"].to_numpy(),
                                  small.label(part, "energy")["label"].to_numpy())
    labels = small.label(part)["label"].to_numpy()
    np.testing.assert_array_equal(small.cost_of(part, labels),
                                  sim["total_cycles"][np.arange(4), labels].astype(float))


def test_bounds_never_exceed_the_simulation(brute, small):
    queries, sim, allowed, _ = brute
    b = small.bounds(queries)
    cost = {"cycles": sim["total_cycles"], "dram_words": sim["dram_words"], "energy": sim["energy_pj"],
            "edp": sim["edp"]}
    for key, value in cost.items():
        assert (b[key] <= value).all(), key
    # and they are not vacuous: many configurations are bound exactly
    assert (b["cycles"] == sim["total_cycles"]).mean() > 0.3


def test_bounds_of_a_few_labels_equal_the_gathered_bounds(brute, small):
    # few labels a row: computed pair by pair; every label: gathered per (array, share)
    queries, _, _, _ = brute
    every = small.bounds(queries)
    rng = np.random.default_rng(3)
    few = rng.integers(0, small.n_labels, size=(len(queries), small.n_labels // 8))
    pairs = small.bounds(queries, few)
    assert set(pairs) == set(every)
    for key, value in every.items():
        np.testing.assert_array_equal(pairs[key], np.take_along_axis(value, few, axis=1), err_msg=key)
    one = small.bounds(queries, few[:, 0], energy=False)
    assert set(one) == {"cycles", "dram_words"} and one["cycles"].shape == (len(queries),)
    np.testing.assert_array_equal(one["dram_words"], pairs["dram_words"][:, 0])


def test_compiled_label_bounds_equal_the_numpy_bounds_bit_for_bit():
    # the compiled pass over (row, label) pairs against the broadcast numpy formulas, on the
    # shipped 28,665-label space, sampled queries and odd bandwidths (energy and EDP included)
    task = ac.tasks.get("codesign")
    queries = task.validate(task.sample(400, seed=4).assign(bandwidth=np.resize([1, 3, 7, 64, 509], 400)))
    rng = np.random.default_rng(8)
    n_arrays, n_splits = task.factors
    # random labels, then every split of three arrays a row (their read bounds are shared)
    # and one label twice
    beam = rng.integers(0, n_arrays, size=(400, 3, 1)) * n_splits + np.arange(n_splits)
    labels = np.concatenate([rng.integers(0, task.n_labels, size=(400, 24)), beam.reshape(400, -1)], axis=1)
    labels[:, -1] = labels[:, 0]
    p = task._pairs(queries, labels)
    expected = cb.bounds(*(p[c] for c in task._ORDER))
    got = cb.label_bounds(*(queries[c].to_numpy() for c in ("M", "N", "K", "sram_kb", "bandwidth")), labels,
                          task._space_arrays(), task.parts)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    cycles_only = task.bounds(queries, labels[:, 0], energy=False)
    np.testing.assert_array_equal(cycles_only["cycles"], expected["cycles"][:, 0])


def test_array_allowed_is_the_allowed_labels_by_array(brute, small):
    queries, _, allowed, _ = brute  # allowed: every label's PEs against the row's budget
    a, s = small.factors
    np.testing.assert_array_equal(small.allowed(queries), allowed)
    expected = allowed.reshape(len(queries), a, s)
    assert (expected.all(axis=2) == expected.any(axis=2)).all()  # a budget allows an array whole
    np.testing.assert_array_equal(small.array_allowed(queries), expected.any(axis=2))


def test_bounds_hold_at_extreme_bandwidths_and_buffers():
    rng = np.random.default_rng(5)
    n = 3000
    M, N, K = (np.exp(rng.uniform(0, np.log(700), n)).astype(np.int64) for _ in range(3))
    R, C = 2 ** rng.integers(0, 7, n), 2 ** rng.integers(0, 7, n)
    code = rng.integers(0, 3, n)
    kb = rng.integers(1, 9, (n, 3))
    bw = rng.choice([1, 3, 7, 64, 256, 511, 512, 2048], n)
    sim = user_mode_totals(M, N, K, R, C, code, kb[:, 0], kb[:, 1], kb[:, 2], bw)
    b = cb.bounds(M, N, K, R, C, code, kb[:, 0] * 1024, kb[:, 1] * 1024, kb[:, 2] * 1024, bw)
    dram = sim["dram_ifmap_reads"] + sim["dram_filter_reads"] + sim["dram_ofmap_writes"]
    assert (b["cycles"] <= sim["total_cycles"]).all()
    assert (b["dram_words"] <= dram).all()
    assert (b["energy"] <= sim["energy_pj"]).all() and (b["edp"] <= sim["edp"]).all()
    write = cb.write_bound(M, N, K, R, C, code, kb[:, 2] * 1024, bw)
    assert (write <= sim["total_cycles"]).all() and (write > 0).sum() > 100


def test_bounds_by_hand():
    # compute: os 4x5x6 on 8x4: 1 row fold x 2 column folds x (6 + 8 + 4 - 2) rows - 1
    assert int(cb.compute_cycles(4, 5, 6, 8, 4, 0)) == 31
    # ifmap of os 64x64x64 on 8x8, 1 kB buffer at 2 words/cycle: sets of 11 words,
    # 373 sets, window 47, prefetch 47; each of the 8 column folds reads all 4096
    # words (373 sets): 8 x (373 - 47) = 2608 sets of slide, 56 prefetches of 256 requests
    b = cb.read_bounds(64, 64, 64, 8, 8, 0, 1024, 2, 0)
    assert int(b["misses"]) == 56
    assert int(b["dram_reads"]) == (256 + 56 * 256) * 2
    assert int(b["cycles"]) == 56 * 257 - 2
    sim = user_mode_totals(64, 64, 64, 8, 8, 0, 1, 1, 1, 2)
    assert int(sim["dram_ifmap_reads"][0]) >= int(b["dram_reads"])
    assert int(sim["total_cycles"][0]) >= int(b["cycles"])
    # the whole filter fits: no prefetch, the first fill only (min(512, 4096) / 2 requests)
    f = cb.read_bounds(64, 64, 64, 8, 8, 0, 8192, 2, 1)
    assert int(f["misses"]) == 0 and int(f["dram_reads"]) == 4096
    # ofmap words: os M x N; ws ceil(K / rows) x M x N
    assert int(cb.ofmap_words(8, 509, 125, 4, 32, 0)) == 8 * 509
    assert int(cb.ofmap_words(8, 509, 125, 4, 32, 1)) == 32 * 8 * 509
    # drains: 5 kB ofmap at 1 word/cycle sends 2560 lines per drain; 130,304 words
    # need ceil((130304 - 5122) / 2560) = 49 drains, 48 x 2559 cycles apart at least
    w = cb.write_bound(8, 509, 125, 4, 32, 1, 5120, 1)
    assert int(w) == 48 * 2559
    assert int(user_mode_totals(8, 509, 125, 4, 32, 1, 1, 1, 5, 1)["total_cycles"][0]) >= int(w)
    # one line per drain (bandwidth >= half the buffer) proves nothing
    assert int(cb.write_bound(8, 509, 125, 4, 32, 1, 1024, 512)) == 0


def test_energy_bound_by_hand():
    # os 16x16x16 on 4x4, 1 kB each: 4096 MACs x 0.69 pJ; SRAM reads 4 x 16 x 16 = 1024 of
    # each operand, writes 256 + 16 x 8 phantom; DRAM bound 1000 words x 46 pJ
    sram = 1.38 * (1 / 108) ** 0.5
    expected = 4096 * 0.69 + 1024 * sram + 1024 * sram + 384 * sram + 1000 * 46
    value = cb.energy_bound(16, 16, 16, 4, 4, 0, (1, 1, 1), 1000)
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_space_and_definition():
    task = ac.tasks.get("codesign")
    assert task.n_labels == 273 * 105
    space = task.space()
    flow = space.dataflow.map({"os": 0, "ws": 1, "is": 2})
    keys = list(zip(space.pes, flow, space.rows, space.i, space.j))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert (space.i + space.j + space.k == 16).all() and space.k.min() == 1
    small = ac.tasks.get("codesign", **SMALL)
    assert small.n_labels == 480 and small.params() == {"rows": SIDES, "cols": SIDES,
                                                        "max_macs": [64, 256, 1024], "parts": 6}
    assert ac.tasks.from_definition(small.definition()).definition() == small.definition()
    row = small.label(_queries(1, seed=3)).iloc[0]
    assert row.ifmap_kb == row.sram_kb * row.i // 6 and row.rows * row.cols <= row.max_macs


def test_sampler_is_bounded_and_valid():
    task = ac.tasks.get("codesign")
    rows = task.validate(task.sample(2000, seed=1))
    assert rows[["M", "N", "K"]].min().min() >= 8 and rows[["M", "N", "K"]].max().max() <= 512
    assert rows.sram_kb.between(16, 1024).all() and (rows.sram_kb % 16 == 0).all()
    assert set(rows.bandwidth) <= {1, 2, 4, 8, 16} and set(rows.max_macs) <= {2**e for e in range(8, 17)}


def test_every_network_layer_is_accepted():
    nets = ac.workloads.networks()
    task = ac.tasks.get("codesign")
    inputs = pd.DataFrame({"M": nets.M, "N": nets.N, "K": nets.K, "max_macs": 256, "sram_kb": 4096,
                           "bandwidth": 1})
    assert len(task.validate(inputs)) == len(nets)


def test_simulations_past_the_user_mode_limit_are_refused_before_any_runs():
    # 65536^3 on 16 x 16 (os) is 2^48 / 256 folds of 65,536 rows: 1.1e12 demand rows, far
    # past USER_ROWS_LIMIT = 2e8; the model still predicts (its features walk 128 folds)
    from airchitect.targets.systolic.simulate import USER_ROWS_LIMIT

    task = ac.tasks.get("codesign")
    query = dict(M=65536, N=65536, K=65536, max_macs=256, sram_kb=16, bandwidth=1)
    label = int(task.space().query("rows == 16 and cols == 16 and dataflow == 'os'").index[0])
    with pytest.raises(ValueError, match=r"needs 1.1e\+12 demand rows to simulate, more than USER_ROWS_LIMIT"):
        task.cost_of(task.validate(pd.DataFrame([query])), [label])
    for call in (lambda: task.search(**query), lambda: ac.recommend("codesign", k=8, **query)):
        with pytest.raises(ValueError, match="USER_ROWS_LIMIT"):
            call()
    assert ac.predict("codesign", **query)["rows"] * ac.predict("codesign", **query)["cols"] <= 256
    # at the limit's edge: 16 x 16 os folds x (K + 2 x 16 + 16) rows
    fits = dict(query, M=1024, N=1024, K=4096)
    assert 64 * 64 * (4096 + 48) <= USER_ROWS_LIMIT
    assert task.cost_of(task.validate(pd.DataFrame([fits])), [label])[0] > 64 * 64 * 4096


def test_simulable_is_what_simulate_accepts():
    # 224 x 21664 x 6528 (a synthetic network's layer) on 4 x 16 os: ceil(224 / 4) x
    # ceil(21664 / 16) folds of 6528 + 2 x 4 + 16 rows = 56 x 1354 x 6552 = 4.97e8 demand
    # rows, past USER_ROWS_LIMIT = 2e8; on 16 x 16 os: 14 x 1354 x 6576 = 1.25e8, accepted
    task = ac.tasks.get("codesign")
    inputs = task.validate(pd.DataFrame([dict(M=224, N=21664, K=6528, max_macs=256, sram_kb=64, bandwidth=1)]))
    space = task.space()
    small, big = (int(space.query(f"rows == {r} and cols == 16 and dataflow == 'os'").index[0]) for r in (4, 16))
    assert 56 * 1354 * 6552 > 2e8 > 14 * 1354 * 6576
    assert task.simulable(inputs, np.array([[small, big]])).tolist() == [[False, True]]
    with pytest.raises(ValueError, match=r"needs 4.97e\+08 demand rows"):
        task.simulate(inputs, np.array([[small]]))
    mask = task.simulable(inputs, np.arange(task.n_labels)[None, :])
    assert mask.shape == (1, task.n_labels) and 0 < mask.sum() < task.n_labels


@pytest.mark.parametrize("field, value, words", [
    ("M", 0, "M must be integers in [1, 65536]"),
    ("K", 70000, "K must be integers in [1, 65536]"),
    ("max_macs", 300, "max_macs must be one of the task's budgets"),
    ("sram_kb", 24, "sram_kb must be a multiple of 16 in [16, 4096]"),
    ("sram_kb", 8192, "sram_kb must be integers in [16, 4096]"),
    ("bandwidth", 0, "bandwidth must be integers in [1, 1048576]"),
])
def test_bad_inputs_name_the_field_and_range(field, value, words):
    task = ac.tasks.get("codesign")
    query = {"M": 64, "N": 64, "K": 64, "max_macs": 256, "sram_kb": 64, "bandwidth": 4, field: value}
    with pytest.raises(ValueError) as err:
        task.search(**query)
    assert str(err.value).startswith(words) and "\n" not in str(err.value)


def test_energy_equals_the_simulators_user_mode_report(small):
    # the task's energy and EDP come with its cycles from the event model; they equal
    # the public simulator's USER-mode report (the row model) exactly
    queries = small.validate(_queries(12, seed=4))
    labels = np.random.default_rng(2).integers(0, small.n_labels, len(queries))
    sim = small.simulate(queries, labels)
    config = small.configs(queries, labels)
    report = ac.systolic.simulate(queries.M.to_numpy(), queries.N.to_numpy(), queries.K.to_numpy(),
                                  config.rows.to_numpy(), config.cols.to_numpy(), config.dataflow.to_numpy(),
                                  ifmap_kb=config.ifmap_kb.to_numpy(), filter_kb=config.filter_kb.to_numpy(),
                                  ofmap_kb=config.ofmap_kb.to_numpy(), bandwidth=queries.bandwidth.to_numpy(),
                                  mode="user")
    np.testing.assert_array_equal(sim["total_cycles"], report.total_cycles.to_numpy())
    np.testing.assert_array_equal(sim["energy_pj"], report.energy_pj.to_numpy())
    np.testing.assert_array_equal(sim["edp"], report.edp.to_numpy())


def test_split_estimate_energy_is_the_simulated_energy_when_walked_to_the_end():
    # the read buffers' DRAM words of a walk to the end are SCALE-Sim's; the MAC and SRAM
    # terms are exact; the ofmap's DRAM words are those the array stores, which SCALE-Sim
    # may drain more of: the estimate is at most the energy, and within 1% of it (0.22% at
    # most here: 43 x 95 x 114 on a 4-row array drains 118,777 ofmap words)
    task = ac.tasks.get("codesign")
    inputs = task.validate(task.sample(12, seed=8))
    arrays = np.array([0, 40, 100, 200, 272])
    cycles, energy = task.split_estimate(inputs, arrays, max_folds=10**9, energy=True)
    np.testing.assert_array_equal(cycles, task.split_estimate(inputs, arrays, max_folds=10**9))
    labels = (arrays[:, None] * 105 + np.arange(0, 105, 13)[None, :]).ravel()
    grid = np.ascontiguousarray(np.broadcast_to(labels, (len(inputs), labels.size)))
    sim = task.simulate(inputs, grid)["energy_pj"]
    estimate = energy.reshape(len(inputs), -1)[:, np.searchsorted(arrays, labels // 105) * 105 + labels % 105]
    assert (estimate <= sim * (1 + 1e-12)).all() and (estimate >= sim * 0.99).all()
    assert (task.bounds(inputs, grid)["energy"] <= estimate).all()


def test_walked_bounds_are_bounds_and_tighter_than_the_closed_forms():
    # walked to the end, a read buffer's DRAM reads are SCALE-Sim's: the tightened bounds
    # stay below the simulated figures, above the closed-form ones, and move the DRAM
    # words all the way up to the reads; with no fold to walk they are the closed forms
    task = ac.tasks.get("codesign")
    inputs = task.validate(task.sample(200, seed=3))
    rng = np.random.default_rng(0)
    labels = np.array([rng.choice(np.flatnonzero(a)) for a in task.allowed(inputs, validated=True)])
    got = task.walked_bounds(inputs, labels)
    sim = task.simulate(inputs, labels[:, None])
    closed = task.bounds(inputs, labels[:, None])
    assert got["walked"].all()
    for name, key in (("cycles", "total_cycles"), ("dram_words", "dram_words"), ("energy", "energy_pj")):
        exact, low = sim[key][:, 0].astype(float), np.asarray(closed[name])[:, 0]
        assert (got[name] <= exact * (1 + 1e-12)).all() and (got[name] >= low).all()
        assert (got[name] > low * (1 + 1e-9)).sum() >= 40
    reads = sim["dram_words"][:, 0] - user_mode_totals(
        inputs.M, inputs.N, inputs.K, *(task.space_columns()[c][labels] for c in ("rows", "cols")),
        [{"os": 0, "ws": 1, "is": 2}[d] for d in task.space_columns()["dataflow"][labels]],
        *(inputs.sram_kb.to_numpy() * task.space_columns()[p][labels] // 16 for p in "ijk"),
        inputs.bandwidth)["dram_ofmap_writes"]
    ofmap = cb.ofmap_words(inputs.M.to_numpy(), inputs.N.to_numpy(), inputs.K.to_numpy(),
                           *(task._space_arrays()[c][labels] for c in ("rows", "cols", "code")))
    np.testing.assert_array_equal(got["dram_words"], reads + ofmap)
    none = task.walked_bounds(inputs, labels, max_folds=0)
    assert not none["walked"].any() and np.array_equal(none["cycles"], np.asarray(closed["cycles"])[:, 0])

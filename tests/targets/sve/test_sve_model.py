"""SVE target: packed layouts, the analytic model and the sve task pieces."""

import numpy as np
import pandas as pd
import pytest

import airchitect as ac
from airchitect.targets.sve import config
from airchitect.tasks import sve as space
from airchitect.targets.sve.model import CORES, Core, simulate


@pytest.mark.parametrize("dtype", ["f32", "bf16", "i8"])
def test_mmt4d_equals_matmul_on_random_shapes_and_all_tiles(dtype):
    rng = np.random.default_rng(1)
    for vl in config.VL_BITS:
        for m0, n_v, u in [(m, n, u) for m in (1, 3, 8, 16) for n in (1, 2, 4) for u in (1, 2, 4)
                           if config.is_legal(m, n, u)]:
            M, N, K = rng.integers(1, 70, size=3)
            a = rng.integers(-9, 10, size=(M, K)).astype(np.int8 if dtype == "i8" else np.float32)
            b = rng.integers(-9, 10, size=(K, N)).astype(a.dtype)
            n0 = int(config.n0_of(vl, n_v))
            k0 = u * config.DOT_WIDTH[dtype]
            got = ac.sve.mmt4d(a, b, m0, n0, k0)
            assert np.array_equal(got, a.astype(np.int64) @ b.astype(np.int64))


def test_pack_shapes_and_zero_padding():
    a = np.arange(1, 7).reshape(2, 3)
    lhs = ac.sve.pack_lhs(a, 4, 2)
    assert lhs.shape == (1, 2, 4, 2)
    assert lhs[0, 0].tolist() == [[1, 2], [4, 5], [0, 0], [0, 0]]
    assert lhs[0, 1].tolist() == [[3, 0], [6, 0], [0, 0], [0, 0]]
    rhs = ac.sve.pack_rhs(a.T, 3, 1)  # B = a.T is 3 x 2: N = 2, K = 3
    assert rhs.shape == (1, 3, 3, 1) and rhs[0, :, :, 0].tolist() == [[1, 4, 0], [2, 5, 0], [3, 6, 0]]


def test_simulate_hand_computed_case():
    # 64^3 f32 GEMM, tile 4 x (2 x 4) x 1 at VL 128 on the V1-like core.
    row = simulate(64, 64, 64, 128, 4, 2, 1).iloc[0]
    tiles, k1 = 16 * 8, 64
    per_kstep = 4 + 2 + 8 + 5  # LD1RW, LD1W, FMLA, loop
    assert row.instructions == tiles * k1 * per_kstep + tiles * (10 + 2 * 8) + 16 * 10 + 16
    assert row.fma_instructions == 64 * 64 * 64 // 4
    assert row.loads == tiles * k1 * 6
    # k-step bounds: fma 8/2 = 4, load 6/2 = 3, bytes 48/32, issue 19/8, latency 4.
    assert row.kernel_cycles == tiles * (k1 * 4 + 8)
    assert row.pack_cycles == 2 * ((64 + 64) * 64 * 4 + 64 * 64 * 4) / 32
    assert row.registers == 12 and row.legal and row.useful_fraction == 1.0 and row.n0 == 8


def test_useful_fraction_and_legality():
    df = simulate(10, 10, 5, 256, 3, 1, 1)
    assert df.useful_fraction[0] == pytest.approx(100 / (12 * 16))
    assert not simulate(8, 8, 8, 128, 8, 4, 1).legal[0]  # 32 + 4 + 2 registers
    assert simulate(8, 8, 8, 128, 6, 4, 1).legal[0]  # 24 + 4 + 2 = 30


def test_v2_core_cracks_long_vectors():
    v1 = simulate(256, 256, 256, [128, 512], 8, 2, 1, core="v1")
    v2 = simulate(256, 256, 256, [128, 512], 8, 2, 1, core="v2")
    # V1-like: FMA pipes as wide as VL, 4x fewer k-steps at 512 bits.
    assert v1.kernel_cycles[0] / v1.kernel_cycles[1] == pytest.approx(4.0)
    # V2 at 128 bits: issue-bound, (16 FMLA + 8 LD1RW + 2 LD1W + 5) / 6 per k-step;
    # 1024 tiles x (256 k-steps + 16 stores / 2 per cycle).
    assert v2.kernel_cycles[0] == pytest.approx(1024 * (256 * 31 / 6 + 8))
    # At 512 bits every FMLA is four 128-bit micro-ops: 16 * 4 / 4 pipes per k-step.
    assert v2.kernel_cycles[1] == pytest.approx(256 * (256 * 16 + 16 * 4 / 2))
    assert v2.bound.tolist() == ["issue", "fma"]
    assert (v1.instructions == v2.instructions).all()


def test_simulate_broadcasts_and_custom_core():
    df = simulate(100, 100, 100, np.array(config.VL_BITS)[:, None], [1, 2, 4], 2, 2, dtype="bf16")
    assert len(df) == 15 and set(df.vl_bits) == set(config.VL_BITS)
    narrow = Core("narrow", fma_pipes=1, fma_width_bits=128, loads_per_cycle=1, load_width_bits=128,
                  stores_per_cycle=1, issue_width=4)
    assert (simulate(64, 64, 64, 512, 4, 1, 1, core=narrow).cycles
            > simulate(64, 64, 64, 512, 4, 1, 1, core=CORES["v1"]).cycles).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(vl_bits=192), "vl_bits must be one of"),
    (dict(k0=3), "k0 must be one of 1, 2, 4"),
    (dict(m0=17), r"m0 must be integers in \[1, 16\]"),
    (dict(dtype="f16"), "dtype must be one of"),
    (dict(core="v9"), "core must be one of"),
    (dict(M=0), r"M must be integers in \[1, "),
])
def test_simulate_rejects_bad_input(kwargs, match):
    args = dict(M=8, N=8, K=8, vl_bits=128, m0=2, n_v=1, k0=1, dtype="f32", core="v1") | kwargs
    with pytest.raises(ValueError, match=match):
        simulate(**args)
    with pytest.raises(TypeError):
        simulate(8.0, 8, 8, 128, 2, 1, 1)


def test_design_space_counts_and_legality():
    sp = space.design_space(2048, "i8")
    tiles = [(m, n, u) for m in range(1, 17) for n in range(1, 5) for u in (1, 2, 4)
             if m * n + n * u + 2 <= 32]
    assert len(space.design_space(128)) == len(tiles)
    assert len(sp) == 5 * len(tiles)
    assert set(sp.k0) == {4, 8, 16} and (sp.registers <= 32).all()
    assert sp.vl_bits.max() == 2048 and space.design_space(512).vl_bits.max() == 512
    with pytest.raises(ValueError, match="max_vl_bits"):
        space.design_space(300)


def test_task_costs_match_simulate_and_mask_long_vectors():
    inputs = pd.DataFrame({"M": [7, 300], "N": [900, 5], "K": [33, 64], "dtype": ["bf16", "i8"],
                           "max_vl_bits": [256, 2048]})
    sp = space.design_space(2048)
    costs = space.task_costs(inputs, sp)
    assert costs.shape == (2, len(sp))
    assert np.isinf(costs[0, sp.vl_bits > 256]).all() and np.isfinite(costs[0, sp.vl_bits <= 256]).all()
    j = 17
    c = sp.iloc[j]
    ref = simulate(7, 900, 33, c.vl_bits, c.m0, c.n_v, 2 * c.u, dtype="bf16").cycles[0]
    assert costs[0, j] == ref
    inst = space.task_costs(inputs, sp, objective="instructions")
    ref = simulate(300, 5, 64, c.vl_bits, c.m0, c.n_v, 4 * c.u, dtype="i8").instructions[0]
    assert inst[1, j] == ref


def test_best_config_tie_break_prefers_shorter_vectors():
    # N = 4 fits one tile row at every VL, so instruction counts tie across
    # vector lengths; the tie-break picks the shortest, then fewest registers.
    inputs = pd.DataFrame({"M": [16], "N": [4], "K": [16], "dtype": ["f32"], "max_vl_bits": [2048]})
    sp = space.design_space(2048)
    best = space.best_config(inputs, sp, objective="instructions")[0]
    costs = space.task_costs(inputs, sp, objective="instructions")[0]
    ties = np.flatnonzero(costs == costs.min())
    assert len(ties) > 1 and best == ties[np.argmin(sp.vl_bits.to_numpy()[ties] * 1000
                                                    + sp.registers.to_numpy()[ties])]
    assert sp.vl_bits[best] == 128


def test_sample_inputs_is_seeded_and_in_range():
    a, b = space.sample_inputs(500, seed=3), space.sample_inputs(500, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert a[["M", "N", "K"]].min().min() >= 1 and a[["M", "N", "K"]].max().max() <= 16384
    assert set(a.dtype) == {"f32", "bf16", "i8"} and set(a.max_vl_bits) == set(config.VL_BITS)
    assert not a.equals(space.sample_inputs(500, seed=4))


def test_check_tile_accepts_exactly_the_task_tiles_and_names_the_rule():
    accepted = set()
    for m0 in range(1, 17):
        for n_v in range(1, 5):
            for k0 in (1, 2, 4):
                if m0 * n_v + n_v * k0 + 2 <= 32:  # accumulators + RHS vectors + 2 LHS broadcasts
                    assert config.check_tile(m0, n_v, k0) == k0
                    accepted.add((m0, n_v, k0))
                else:
                    with pytest.raises(ValueError, match="vector registers, more than 32"):
                        config.check_tile(m0, n_v, k0)
    assert len(accepted) == 123
    assert accepted == set(space.design_space(128)[["m0", "n_v", "u"]].itertuples(index=False, name=None))
    with pytest.raises(ValueError, match=r"^tile m0=13, n_v=2, k0=4 needs 36 vector registers, more than 32 "
                                         r"\(26 accumulators \+ 8 RHS vectors \+ 2 LHS broadcasts\)$"):
        config.check_tile(13, 2, 4)
    assert config.check_tile(13, 2, 1) == 1 and config.check_tile(4, 2, 8, "bf16") == 4
    for args, err, match in [((0, 1, 1), ValueError, r"m0 must be an integer in \[1, 16\], got 0"),
                             ((2, 5, 1), ValueError, r"n_v must be an integer in \[1, 4\], got 5"),
                             ((2, 1, 3), ValueError, "k0 must be one of 1, 2, 4 for f32, got 3"),
                             ((2, 1, 1, "i8"), ValueError, "k0 must be one of 4, 8, 16 for i8, got 1"),
                             ((2, 1, 2.0), TypeError, "k0 must be one of 1, 2, 4 for f32, got 2.0"),
                             ((2, 1, 1, "f16"), ValueError, "dtype must be one of")]:
        with pytest.raises(err, match=match):
            config.check_tile(*args)

"""Tiles the shipped sve model predicts compile with IREE and run correctly under qemu.

Nine compiles: the first three distinct tiles predicted for seeded sampled
f32 workloads at each of three vector lengths (128, 512, 2048 bits), each
compiled for the query's GEMM cut to at most 37 x 29 x 53 and run under
qemu at its vector length (``tests/cli/test_compile_sve.py`` compiles and
runs one more, the README's default). Also: the reason the backend reduces one K0
element per vector step (reducing all of them at once fails in
iree-compile 3.13.0 for every k0 > 1).
"""

import numpy as np
import pytest

import airchitect as ac
from airchitect.backends import iree
from airchitect.tasks.sve import sample_inputs

reasons = iree.missing()
pytestmark = pytest.mark.skipif(bool(reasons), reason="; ".join(reasons))

VECTOR_LENGTHS = (128, 512, 2048)
CAP = (37, 29, 53)


def predicted_tiles(vl_bits, count=3, seed=0):
    """``{(vl_bits, m0, n_v, k0): (M, N, K)}``: the first ``count`` distinct predicted tiles."""
    tiles = {}
    for q in sample_inputs(40, seed=seed).itertuples():
        cfg = ac.predict("sve", M=int(q.M), N=int(q.N), K=int(q.K), dtype="f32", max_vl_bits=vl_bits)
        shape = tuple(min(int(d), cap) for d, cap in zip((q.M, q.N, q.K), CAP))
        tiles.setdefault((cfg["vl_bits"], cfg["m0"], cfg["n_v"], cfg["u"]), shape)
        if len(tiles) == count:
            break
    return tiles


def test_predicted_tiles_compile_and_run_at_three_vector_lengths(tmp_path):
    checked = []
    for vl_bits in VECTOR_LENGTHS:
        for (vl, m0, n_v, k0), (M, N, K) in predicted_tiles(vl_bits).items():
            assert vl <= vl_bits
            rng = np.random.default_rng(len(checked))
            a = rng.integers(-4, 5, (M, K)).astype(np.float32)
            b = rng.integers(-4, 5, (K, N)).astype(np.float32)
            art = iree.compile_gemm(M, N, K, vl, tmp_path / f"g{len(checked)}.vmfb", m0=m0, n_v=n_v, k0=k0)
            assert art.tile == (m0, n_v * vl // 32) and art.substituted
            out = iree.run(art, [a, b])
            assert np.array_equal(out, a @ b), (vl, m0, n_v, k0, M, N, K)
            checked.append((vl, m0, n_v, k0))
    assert len(checked) == 9
    assert {vl for vl, *_ in checked} == set(VECTOR_LENGTHS)
    assert {k0 for *_, k0 in checked} == {1, 2, 4}  # the sample holds the tiles that used to fail


def test_reducing_all_k0_elements_at_once_fails_in_iree_compile(tmp_path, monkeypatch):
    """Without the one-element reduction step iree-compile 3.13.0 cannot lower k0 > 1 (scalable transpose)."""
    rewrite = iree.rewrite_lowering_config

    def whole_k0(text, m0, n0, vscale):
        new, changed = rewrite(text, m0, n0, vscale)
        return new.replace("vector_reduction = [0, 0, 1, 0, 0, 1]", "vector_reduction = [0, 0, 1, 0, 0, 2]"), changed

    monkeypatch.setattr(iree, "rewrite_lowering_config", whole_k0)
    with pytest.raises(iree.BackendError) as info:
        iree.compile_gemm(16, 16, 8, 256, tmp_path / "g.vmfb", m0=4, n_v=1, k0=2)
    message = str(info.value)
    assert message.startswith("iree-compile failed (exit code 1): <unknown>:0: error: LLVM Translation failed "
                              "for operation: builtin.unrealized_conversion_cast; command: ")
    assert "--iree-hal-substitute-executable-configuration=" in message and "\n" not in message
    assert "llvm.mul" in info.value.stderr and "llvm.mul" not in message  # the IR dump stays out of the message
    assert list(tmp_path.iterdir()) == []

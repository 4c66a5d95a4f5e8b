"""IREE backend: SVE modules with a chosen packed tile, run under qemu."""

import numpy as np
import pytest

import airchitect as ac
from airchitect.backends import iree

reasons = iree.missing()
needs_iree = pytest.mark.skipif(bool(reasons), reason="; ".join(reasons))


def test_rewrite_lowering_config_makes_n_scalable_and_reduces_one_k0_element_per_step():
    text = ("%8 = linalg.mmt4d {lowering_config = #iree_cpu.lowering_config<distribution = [2, 2, 0, 0, 0, 0], "
            "vector_common_parallel = [1, 1, 0, 8, 32, 0], vector_reduction = [0, 0, 1, 0, 0, 4]>} "
            "ins(%3, %4 : tensor<2x3x8x4xf32>, tensor<1x3x32x4xf32>)")
    new, changed = iree.rewrite_lowering_config(text, 8, 32, 4)
    assert changed
    assert ("lowering_config<distribution = [2, 2, 0, 0, 0, 0], vector_common_parallel = [1, 1, 0, 8, [8], 0], "
            "vector_reduction = [0, 0, 1, 0, 0, 1]>} ins(%3, %4 : tensor<2x3x8x4xf32>") in new
    smaller = text.replace("[1, 1, 0, 8, 32, 0]", "[1, 1, 0, 1, 16, 0]")  # IREE's own sub-tile
    assert "vector_common_parallel = [1, 1, 0, 8, [8], 0]" in iree.rewrite_lowering_config(smaller, 8, 32, 4)[0]
    no_reduction = text.replace(", vector_reduction = [0, 0, 1, 0, 0, 4]", "")
    assert iree.rewrite_lowering_config(no_reduction, 8, 32, 4)[0] == new
    fill = "linalg.fill {lowering_config = #iree_cpu.lowering_config<vector_common_parallel = [1, 1, 8, 32]>}"
    assert iree.rewrite_lowering_config(fill, 8, 32, 4) == (fill, False)
    assert not iree.rewrite_lowering_config("linalg.matmul", 8, 32, 4)[1]
    with pytest.raises(ValueError, match="not a multiple of vscale"):
        iree.rewrite_lowering_config(text, 8, 6, 4)


def test_first_error_line_skips_notes_and_ir():
    stderr = ("NOTE: hal.executable `main_dispatch_2` substituted\n"
              "<unknown>:0: error: LLVM Translation failed for operation: builtin.unrealized_conversion_cast\n"
              "<unknown>:0: note: see current operation: %23 = ...\n"
              "m.mlir:0:0: error: failed to translate the MLIR LLVM dialect to the native llvm::Module\n"
              '  %52 = "llvm.mul"(%44, %5) : (i64, i64) -> i64\n')
    assert iree.first_error_line(stderr) == ("<unknown>:0: error: LLVM Translation failed for operation: "
                                             "builtin.unrealized_conversion_cast")
    assert iree.first_error_line("\n  boom  \nmore") == "boom"
    assert iree.first_error_line("") == "no error output"
    assert iree.first_error_line("x: error: " + "y" * 1000, limit=50) == "x: error: " + "y" * 37 + "..."
    err = iree.BackendError("iree-compile", ["iree-compile", "a b.mlir", "-o", "x"], 1, stderr)
    assert str(err) == ("iree-compile failed (exit code 1): <unknown>:0: error: LLVM Translation failed for "
                        "operation: builtin.unrealized_conversion_cast; command: iree-compile 'a b.mlir' -o x")
    assert isinstance(err, RuntimeError) and err.stderr == stderr and err.returncode == 1


def test_mlp_mlir_packs_every_layer():
    text = iree.mlp_mlir(4, [13, 512, 256], 8, 16, 1)
    assert text.count("linalg.mmt4d") == 2 and text.count("arith.maximumf") == 1
    assert "tensor<1x13x8x1xf32>" in text  # ceil(4/8) x ceil(13/1) x 8 x 1
    assert "tensor<32x13x16x1xf32>" in text  # ceil(512/16) x 13 x 16 x 1


def test_compile_flags_name_vscale_and_refuse_bad_vl():
    flags = iree.compile_flags(1024)
    assert "--iree-experimental-vscale-value=8" in flags and "--iree-llvmcpu-target-cpu-features=+sve" in flags
    with pytest.raises(ValueError, match="vl_bits must be one of"):
        iree.compile_flags(384)


@needs_iree
@pytest.mark.parametrize("vl_bits, m0, n_v", [(128, 8, 2), (2048, 2, 1)])
def test_gemm_with_predicted_tile_matches_numpy(tmp_path, vl_bits, m0, n_v):
    rng = np.random.default_rng(vl_bits)
    a = rng.integers(-4, 5, (37, 53)).astype(np.float32)
    b = rng.integers(-4, 5, (53, 29)).astype(np.float32)
    art = iree.compile_gemm(37, 29, 53, vl_bits, tmp_path / "g.vmfb", m0=m0, n_v=n_v)
    assert art.tile == (m0, n_v * vl_bits // 32) and art.substituted
    assert f"--iree-experimental-vscale-value={vl_bits // 128}" in art.flags
    assert np.array_equal(iree.run(art, [a, b]), a @ b)
    loaded = iree.Artifact.load(art.vmfb)
    assert loaded == art
    other = 256 if vl_bits != 256 else 512
    with pytest.raises(ValueError, match=f"vl_bits must be {vl_bits}"):
        iree.run(loaded, [a, b], vl_bits=other)


@needs_iree
def test_dlrm_bottom_mlp_matches_numpy(tmp_path):
    layers = ac.workloads.network("dlrm", batch=4)
    bottom = layers[layers.layer.str.startswith("bottom")]
    sizes = [int(bottom.K.iloc[0]), *bottom.N.astype(int)]
    assert sizes == [13, 512, 256, 128]
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, (4, 13)).astype(np.float32)
    ws = [rng.integers(-1, 2, (k, n)).astype(np.float32) for k, n in zip(sizes, sizes[1:])]
    art = iree.compile_mlp(4, sizes, 512, tmp_path / "mlp.vmfb", m0=4, n_v=2)
    assert len(art.substituted) == 3
    want = x
    for i, w in enumerate(ws):
        want = want @ w
        if i < len(ws) - 1:
            want = np.maximum(want, 0)
    assert np.array_equal(iree.run(art, [x, *ws]), want)


@needs_iree
def test_data_tiling_mode_matches_numpy(tmp_path):
    rng = np.random.default_rng(5)
    a = rng.integers(-4, 5, (19, 40)).astype(np.float32)
    b = rng.integers(-4, 5, (40, 70)).astype(np.float32)
    art = iree.compile_gemm(19, 70, 40, 256, tmp_path / "dt.vmfb", mode="data-tiling")
    assert "--iree-opt-data-tiling" in art.flags and art.tile is None
    assert np.array_equal(iree.run(art, [a, b], vl_bits=256), a @ b)

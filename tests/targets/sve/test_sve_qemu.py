"""SVE micro-kernels cross-compiled and run under qemu at all five vector lengths.

Needs ``aarch64-linux-gnu-gcc``, ``qemu-aarch64`` and a host ``gcc`` (for
the counting plugin); CI installs them (``.ci/run``).
"""

import numpy as np
import pytest

from airchitect.targets.sve import kernel, toolchain
from airchitect.targets.sve.config import VL_BITS
from airchitect.targets.sve.model import simulate

missing = toolchain.tools_missing()
pytestmark = pytest.mark.skipif(bool(missing), reason=f"missing tools: {', '.join(missing)}")

SHAPES = [tuple(int(x) for x in s) for s in np.random.default_rng(8).integers(1, 80, size=(24, 3))]
SHAPES[:3] = [(1, 1, 1), (64, 64, 64), (17, 129, 3)]
# (m0, n_v, k0, dtype): IREE's f32 tile 8 x [8] x 1 is m0 = 8, n_v = 2.
TILES = [(8, 2, 1, "f32"), (3, 4, 4, "f32"), (4, 2, 8, "bf16"), (6, 2, 16, "i8")]


@pytest.mark.parametrize("vl_bits", VL_BITS)
@pytest.mark.parametrize("m0, n_v, k0, dtype", TILES)
def test_outputs_equal_numpy_and_counts_match_model(vl_bits, m0, n_v, k0, dtype):
    results, expected, counts = toolchain.run(SHAPES, vl_bits, m0, n_v, k0, dtype, seed=vl_bits, count=True)
    for got, want in zip(results, expected):
        assert np.array_equal(got, want)
    M, N, K = np.array(SHAPES).T
    model = simulate(M, N, K, vl_bits, m0, n_v, k0, dtype=dtype).instructions.to_numpy()
    assert len(counts) == len(SHAPES)
    rel = np.abs(model - counts) / counts
    assert rel.max() <= 0.05, (rel.max(), SHAPES[int(rel.argmax())])


def test_kernel_source_is_vector_length_agnostic():
    src = kernel.kernel_source(8, 2, 1)
    assert "svcntw()" in src and "svwhilelt_b32" in src and "vscale" not in src
    with pytest.raises(ValueError, match=r"needs 38 vector registers, more than 32 \(32 accumulators"):
        kernel.kernel_source(8, 4, 1)
    with pytest.raises(ValueError, match="k0 must be one of 2, 4, 8 for bf16"):
        kernel.kernel_source(2, 1, 1, "bf16")


def test_one_binary_serves_every_vector_length():
    exe = toolchain.build(2, 1, 1)
    assert toolchain.build(2, 1, 1) == exe  # cached, vector-length agnostic
    outs = [toolchain.run([(5, 37, 9)], vl, 2, 1, 1, seed=0)[0][0] for vl in (128, 2048)]
    assert np.array_equal(outs[0], outs[1])

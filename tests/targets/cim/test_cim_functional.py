"""Functional crossbar simulator: exactness, BNN/TNN mappings, non-idealities."""

import numpy as np
import pytest

import airchitect.targets.cim as cim

W_TEST = np.array([[100, -32], [1, 0], [12, 1]])
X_TEST = np.array([-120, 55])
EXPECTED = [-13759, -119, -1386]  # W @ x + [1, 1, -1], by hand


@pytest.mark.parametrize("mapping", ["offset", "differential-column", "differential-row"])
@pytest.mark.parametrize("cell_bits, dac_bits", [(1, 1), (2, 1), (4, 1), (3, 2), (4, 4), (8, 8)])
def test_integer_mappings_are_exact(mapping, cell_bits, dac_bits):
    out = cim.mvm(W_TEST, X_TEST, accumulator=[1, 1, -1], mapping=mapping,
                  cell_bits=cell_bits, dac_bits=dac_bits)
    assert out.tolist() == EXPECTED


@pytest.mark.parametrize("mapping", ["offset", "differential-column", "differential-row"])
def test_exact_with_finite_lossless_adc_and_row_groups(mapping):
    signed = mapping != "offset"
    for xbar_rows, active in [(256, None), (2, 1), (4, 2)]:
        rows = min(active or xbar_rows, xbar_rows)
        bits = int(cim.lossless_adc_bits(rows, 4, 1, signed))
        out = cim.mvm(W_TEST, X_TEST, accumulator=[1, 1, -1], mapping=mapping,
                      xbar_rows=xbar_rows, active_rows=active, adc_bits=bits)
        assert out.tolist() == EXPECTED
        # one bit fewer: the full-scale ADC must quantise coarsely and miss
        if bits > 1:
            rough = cim.mvm(W_TEST, X_TEST, mapping=mapping, xbar_rows=xbar_rows,
                            active_rows=active, adc_bits=bits - 1)
            assert rough.tolist() != (W_TEST @ X_TEST).tolist()


@pytest.mark.parametrize("mapping", cim.MAPPINGS[3:])
def test_bnn_tnn_mappings_match_ideal(mapping):
    rng = np.random.default_rng(7)
    values = [-1, 1] if mapping.startswith("BNN") else [-1, 0, 1]
    W = rng.choice(values, (9, 150))
    X = rng.choice(values, (6, 150))
    for kwargs in [{}, dict(xbar_rows=64, active_rows=16)]:
        out = cim.mvm(W, X, mapping=mapping, **kwargs)
        assert np.array_equal(out, X @ W.T)
    props = cim.mapping_properties(mapping)
    assert props["integer"] == 0


def test_bnn_tnn_reject_other_values():
    with pytest.raises(ValueError, match="W must hold only"):
        cim.mvm([[2, 1]], [1, 1], mapping="BNN-I")
    with pytest.raises(ValueError, match="x must hold only"):
        cim.mvm([[1, -1]], [0, 1], mapping="BNN-V")


def _rel_error(out, ref):
    return np.abs(out - ref).mean() / np.abs(ref).mean()


def test_error_grows_with_variation():
    rng = np.random.default_rng(0)
    W = rng.integers(-128, 128, (32, 200))
    X = rng.integers(0, 256, (64, 200))
    ref = X @ W.T
    errors = [_rel_error(cim.mvm(W, X, d2d_sigma=s, c2c_sigma=s, seed=1), ref)
              for s in (0.0, 0.01, 0.05, 0.2)]
    assert errors[0] == 0
    assert errors[0] < errors[1] < errors[2] < errors[3]


def test_error_shrinks_with_adc_bits():
    rng = np.random.default_rng(0)
    W = rng.integers(-128, 128, (32, 256))
    X = rng.integers(0, 256, (64, 256))
    ref = X @ W.T
    for adc_range in ("full-scale", "calibrated"):
        errors = [_rel_error(cim.mvm(W, X, adc_bits=b, adc_range=adc_range), ref) for b in (4, 6, 8, 10)]
        assert errors[0] > errors[1] > errors[2] >= errors[3]
    # 256 rows x 15 levels = 3840 -> 12 bits + sign is lossless at full scale
    assert _rel_error(cim.mvm(W, X, adc_bits=13), ref) == 0
    # calibrating the range to the data beats full scale at low resolution
    assert (_rel_error(cim.mvm(W, X, adc_bits=6, adc_range="calibrated"), ref)
            < _rel_error(cim.mvm(W, X, adc_bits=6), ref))


def test_d2d_is_fixed_at_programming_c2c_changes_per_read():
    rng = np.random.default_rng(3)
    W = rng.integers(-8, 8, (4, 50))
    x = rng.integers(0, 16, (3, 50))
    layer = cim.program(W, d2d_sigma=0.1, seed=5)
    assert np.array_equal(layer.mvm(x), layer.mvm(x))
    assert not np.array_equal(layer.mvm(x), x @ W.T)
    layer = cim.program(W, c2c_sigma=0.1, seed=5)
    assert not np.array_equal(layer.mvm(x), layer.mvm(x))
    # seeded: the same seed repeats every draw
    a = cim.mvm(W, x, d2d_sigma=0.1, c2c_sigma=0.1, seed=9)
    b = cim.mvm(W, x, d2d_sigma=0.1, c2c_sigma=0.1, seed=9)
    c = cim.mvm(W, x, d2d_sigma=0.1, c2c_sigma=0.1, seed=10)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_signed_input_slices_and_bits():
    slices, coefs = cim.functional._input_slices(np.array([[-120, 55]]), 2, 8)
    # 7 magnitude bits in 4 two-bit slices plus the sign slice
    assert slices.shape == (5, 1, 2) and coefs.tolist() == [1, 4, 16, 64, -128]
    value = np.tensordot(coefs, slices, axes=1)
    assert value.tolist() == [[-120, 55]]


def test_bad_input():
    with pytest.raises(ValueError, match="w_bits"):
        cim.program(W_TEST, w_bits=4)
    with pytest.raises(ValueError, match="adc_range"):
        cim.program(W_TEST, adc_range="auto")
    with pytest.raises(ValueError, match="x must have 2"):
        cim.mvm(W_TEST, [1, 2, 3])
    with pytest.raises(ValueError, match="d2d_sigma"):
        cim.mvm(W_TEST, X_TEST, d2d_sigma=-1)
    with pytest.raises(TypeError, match="unknown"):
        cim.mvm(W_TEST, X_TEST, colour=1)

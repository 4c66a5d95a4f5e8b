"""``airchitect compile --target sve``: the tile flags as a set, the predicted tile, failures of iree-compile."""

import json

import pytest

import airchitect as ac
from airchitect import cli
from airchitect.backends import iree


def _compile(capsys, *argv):
    code = cli.main(["compile", "--target", "sve", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(code, err, *words):
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    for word in words:
        assert word in err


@pytest.mark.parametrize("flags, missing", [
    (("--m0", 4), "missing --n-v, --k0"),
    (("--n-v", 2, "--k0", 2), "missing --m0"),
    (("--k0", 1), "missing --m0, --n-v"),
])
def test_tile_flags_go_together(tmp_path, capsys, flags, missing):
    code, _, err = _compile(capsys, *flags, "--out", tmp_path / "g.vmfb")
    _one_line_error(code, err, "--m0, --n-v and --k0 go together (or none, to use the prediction)", missing)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("m0, n_v, k0, words", [
    (99, 1, 1, ("--m0 must be an integer in [1, 16], got 99",)),
    (4, 0, 1, ("--n-v must be an integer in [1, 4], got 0",)),
    (4, 1, 8, ("--k0 must be one of 1, 2, 4 for f32, got 8",)),
    # every flag in range, the set is not: 26 + 8 + 2 registers (13 x 2 x 1 is legal)
    (13, 2, 4, ("tile m0=13, n_v=2, k0=4 needs 36 vector registers, more than 32 "
                "(26 accumulators + 8 RHS vectors + 2 LHS broadcasts)",)),
    (8, 4, 1, ("needs 38 vector registers, more than 32 (32 accumulators + 4 RHS vectors",)),
])
def test_tile_outside_the_space_names_the_rule(tmp_path, capsys, m0, n_v, k0, words):
    code, _, err = _compile(capsys, "--m0", m0, "--n-v", n_v, "--k0", k0, "--out", tmp_path / "g.vmfb")
    _one_line_error(code, err, *words)
    assert list(tmp_path.iterdir()) == []


needs_iree = pytest.mark.skipif(bool(iree.missing()), reason="; ".join(iree.missing()))


@needs_iree
def test_readme_default_compiles_the_predicted_tile_and_runs(tmp_path, capsys):
    """The README command: 64 x 64 x 64 at 256 bits; the shipped model predicts a k0 = 4 tile."""
    cfg = ac.predict("sve", M=64, N=64, K=64, dtype="f32", max_vl_bits=256)
    code, out, err = _compile(capsys, "--out", tmp_path / "d.vmfb", "--run", "--json")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["tile"] == f"{cfg['m0']}x{cfg['n_v']}x{cfg['u']}" and result["tile_source"] == "predicted"
    assert cfg["u"] > 1  # the case that failed before
    assert result["vl_bits"] == 256 and 0 <= result["max_abs_error"] < 1e-3  # f32 sums of 64 normal products
    assert iree.Artifact.load(tmp_path / "d.vmfb").tile == (cfg["m0"], cfg["n_v"] * 8)


@needs_iree
def test_given_k0_2_tile_compiles_and_runs(tmp_path, capsys):
    code, out, err = _compile(capsys, "--M", 19, "--N", 40, "--K", 33, "--vl-bits", 512,
                              "--m0", 5, "--n-v", 2, "--k0", 2, "--out", tmp_path / "g.vmfb", "--run", "--json")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["tile"] == "5x2x2" and result["tile_source"] == "given" and result["vl_bits"] == 512
    assert 0 <= result["max_abs_error"] < 1e-3


@needs_iree
def test_failing_iree_compile_shows_its_first_error_line_and_command(tmp_path, capsys, monkeypatch):
    """Force the lowering that iree-compile 3.13.0 cannot translate (all k0 elements per vector step)."""
    rewrite = iree.rewrite_lowering_config

    def whole_k0(text, m0, n0, vscale):
        new, changed = rewrite(text, m0, n0, vscale)
        return new.replace("vector_reduction = [0, 0, 1, 0, 0, 1]", "vector_reduction = [0, 0, 1, 0, 0, 4]"), changed

    monkeypatch.setattr(iree, "rewrite_lowering_config", whole_k0)
    with pytest.raises(SystemExit) as info:
        _compile(capsys, "--M", 16, "--N", 16, "--K", 16, "--m0", 2, "--n-v", 1, "--k0", 4,
                 "--out", tmp_path / "g.vmfb")
    err = capsys.readouterr().err
    assert info.value.code == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("airchitect compile: error: tile 2x1x4 (given) at 256 bits: iree-compile failed "
                          "(exit code 1): <unknown>:0: error: LLVM Translation failed for operation: "
                          "builtin.unrealized_conversion_cast; command: ")
    assert "--iree-llvmcpu-target-cpu-features=+sve" in err and "llvm." not in err.split("; command: ")[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target, flags, named", [
    ("sve", ["--module", "net.py:net"], "--module is a --target cim flag"),
    ("sve", ["--xbar", "64"], "--xbar is a --target cim flag"),
    ("cim", ["--m0", "2"], "--m0 is a --target sve flag"),
])
def test_a_flag_of_the_other_target_is_refused(target, flags, named, tmp_path, capsys):
    code = cli.main(["compile", "--target", target, *flags, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and named in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()

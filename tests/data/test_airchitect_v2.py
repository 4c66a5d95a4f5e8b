"""Loader of the public AIrchitect v2 dataset: the real files and crafted bad files."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airchitect.data.airchitect_v2 import ENV_VAR, default_path, load_airchitect_v2

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "airchitect_v2"
needs_real = pytest.mark.skipif(not (REAL / "gemm.csv").is_file(), reason=f"dataset not at {REAL}")


@needs_real
def test_real_gemm_file_drops_the_known_bad_rows():
    with pytest.warns(UserWarning, match=r"gemm.csv: 119 of 101556 rows are bad .*21 N not an integer >= 1 \(rows 676, 1985,"):
        df = load_airchitect_v2("gemm", REAL)
    assert len(df) == 101556 - 119
    assert list(df.columns) == ["M", "N", "GEMM_K", "df", "ConfigID", "rewards", "pe", "buf", "row"]
    assert (df[["M", "N", "GEMM_K"]] >= 1).all().all()
    assert set(df.df) == {"dla", "eye", "shi"}
    assert df.loc[0, ["M", "N", "GEMM_K", "ConfigID"]].tolist() == [210, 11088, 5300, 765]
    # README: ConfigID = (PE - 1) * 12 + (Buf - 1); 272 classes occur; majority class 767 is 21.3%
    assert ((df.pe - 1) * 12 + df.buf - 1 == df.ConfigID).all()
    raw = pd.read_csv(REAL / "gemm.csv")
    assert raw.ConfigID.nunique() == 272
    rejected = sorted(set(range(len(raw))) - set(df.row))
    only_in_bad = set(raw.ConfigID[rejected]) - set(raw.ConfigID.drop(index=rejected))
    assert df.ConfigID.nunique() == 272 - len(only_in_bad)
    assert round((df.ConfigID == 767).mean(), 3) == 0.213
    assert round((df.pe == 64).mean(), 2) == 0.81
    # without the conv cross-check only the 21 rows with N = 0 go
    with pytest.warns(UserWarning, match="21 of 101556 rows are bad"):
        assert len(load_airchitect_v2("gemm", REAL, check_conv=False)) == 101556 - 21


@needs_real
def test_real_conv_file_and_alignment_with_gemm():
    with pytest.warns(UserWarning, match=r"conv.csv: 119 of 101556 rows are bad .*filter larger than input"):
        conv = load_airchitect_v2("conv", REAL)
    with pytest.warns(UserWarning):
        gemm = load_airchitect_v2("gemm", REAL)
    assert (conv.row.to_numpy() == gemm.row.to_numpy()).all()
    assert (gemm.M == conv.K).all()
    assert (gemm.N == (conv.X - conv.R + 1) * (conv.Y - conv.S + 1)).all()
    assert (gemm.GEMM_K == conv.C * conv.R * conv.S).all()
    assert (gemm.rewards == conv.rewards).all() and (gemm.ConfigID == conv.ConfigID).all()
    with pytest.raises(ValueError, match="strict=True"):
        load_airchitect_v2("conv", REAL, strict=True)


def write(path, text):
    path.write_text(text)
    return path


GOOD = "M,N,GEMM_K,df,ConfigID,rewards\n4,5,6,eye,0,10.0\n7,8,9,shi,767,2e3\n"


def test_crafted_bad_gemm_rows_counted_and_named(tmp_path):
    f = write(tmp_path / "gemm.csv", GOOD + "\n".join([
        "0,5,6,eye,1,10",  # row 2: M zero
        "4,-3,6,dla,1,10",  # 3: N negative
        "4,5,abc,dla,1,10",  # 4: GEMM_K text
        "4.5,5,6,dla,1,10",  # 5: M fractional
        "4,,6,dla,1,10",  # 6: N missing
        "4,5,6,xyz,1,10",  # 7: unknown dataflow
        "4,5,6,eye,768,10",  # 8: ConfigID out of range
        "4,5,6,eye,3,nan",  # 9: rewards NaN
        "4,5,6,eye,3,-1",  # 10: rewards negative
        "4,5,6,eye,3,inf",  # 11: rewards infinite
        "5,6,7, dla ,12,30",  # 12: good, with spaces
    ]) + "\n")
    with pytest.warns(UserWarning) as record:
        df = load_airchitect_v2("gemm", f)
    message = str(record[0].message)
    assert message.startswith("gemm.csv: 10 of 13 rows are bad (0-based data rows): ")
    for part in ["1 M not an integer >= 1 (rows 2, 5)".replace("1 M", "2 M"),
                 "2 N not an integer >= 1 (rows 3, 6)", "1 GEMM_K not an integer >= 1 (rows 4)",
                 "1 ConfigID not an integer in [0, 767] (rows 8)",
                 "3 rewards not a finite number > 0 (rows 9, 10, 11)",
                 "1 df not one of dla, eye, shi (rows 7)", "kept 3"]:
        assert part in message
    assert df.row.tolist() == [0, 1, 12]
    assert df.df.tolist() == ["eye", "shi", "dla"]
    assert df.M.dtype == np.int64 and df.rewards.tolist() == [10.0, 2000.0, 30.0]
    assert df.pe.tolist() == [1, 64, 2] and df.buf.tolist() == [1, 12, 1]
    assert sorted(df.attrs["rejected"]) == sorted([
        "M not an integer >= 1", "N not an integer >= 1", "GEMM_K not an integer >= 1",
        "df not one of dla, eye, shi", "ConfigID not an integer in [0, 767]",
        "rewards not a finite number > 0"])
    with pytest.raises(ValueError, match="10 of 13 rows are bad"):
        load_airchitect_v2("gemm", f, strict=True)


def test_clean_file_is_silent_and_conv_check_uses_the_aligned_file(tmp_path):
    write(tmp_path / "gemm.csv", GOOD)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_airchitect_v2("gemm", tmp_path)) == 2
    # a conv.csv beside it whose row 1 has a 3x3 filter on a 1x1 input: (-1) * (-1) = 1
    write(tmp_path / "conv.csv", "K,C,X,Y,R,S,df,ConfigID,rewards\n4,6,5,5,1,1,eye,0,10\n7,1,1,1,3,3,shi,767,2000\n")
    write(tmp_path / "gemm.csv", "M,N,GEMM_K,df,ConfigID,rewards\n4,25,6,eye,0,10\n7,1,9,shi,767,2000\n")
    with pytest.warns(UserWarning, match=r"1 im2col of a conv.csv layer whose filter is larger than its input \(rows 1\)"):
        assert load_airchitect_v2("gemm", tmp_path).row.tolist() == [0]
    with pytest.warns(UserWarning, match=r"1 filter larger than input \(X < R or Y < S\) \(rows 1\)"):
        assert load_airchitect_v2("conv", tmp_path).row.tolist() == [0]
    assert len(load_airchitect_v2("gemm", tmp_path, check_conv=False)) == 2


def test_structural_errors(tmp_path):
    f = write(tmp_path / "gemm.csv", "M,N,K,df,ConfigID,rewards\n1,1,1,eye,0,1\n")
    with pytest.raises(ValueError, match="columns must be M, N, GEMM_K, df, ConfigID, rewards"):
        load_airchitect_v2("gemm", f)
    with pytest.raises(ValueError, match="kind must be one of gemm, conv"):
        load_airchitect_v2("matrix", tmp_path)
    with pytest.raises(FileNotFoundError, match="no conv.csv"):
        load_airchitect_v2("conv", tmp_path)


def test_default_path_env_var(tmp_path, monkeypatch):
    write(tmp_path / "gemm.csv", GOOD)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert default_path() == tmp_path
    assert load_airchitect_v2().M.tolist() == [4, 7]
    monkeypatch.delenv(ENV_VAR)
    if REAL.is_dir():
        assert default_path().resolve() == REAL.resolve()

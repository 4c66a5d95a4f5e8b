"""The SCALE-Sim backend: files the ``scalesim`` command accepts, in-process runs."""

import os
import subprocess
import sys

import pandas as pd

import airchitect as ac
from airchitect.targets.systolic import scalesim as sb


def test_files_run_unchanged_with_scalesim_command(tmp_path):
    layers = pd.DataFrame({"M": [4, 9], "N": [5, 3], "K": [6, 7]})
    paths = sb.write_inputs(tmp_path, layers, 8, 4, "ws", ifmap_kb=2)
    proc = subprocess.run([sys.executable, "-m", "scalesim.scale", "-c", paths["config"], "-t",
                           paths["topology"], "-l", paths["layout"], "-i", "gemm", "-s", "N",
                           "-p", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-500:]
    ref = sb.read_reports(tmp_path / "out" / "airchitect")
    ours = ac.systolic.simulate(layers["M"], layers["N"], layers["K"], 8, 4, "ws", ifmap_kb=2)
    # ws 8x4: (4,5,6) -> 2 folds of 4 + 16 + 4 - 2 = 22 -> 43; (9,3,7) -> 1 fold of 27 -> 26.
    assert ref["total_cycles"].tolist() == [43, 26]
    assert ours["total_cycles"].tolist() == [43, 26]


def test_run_scalesim_conv_keep_dir_and_user_mode(tmp_path):
    layer = [(7, 7, 3, 3, 2, 4, 2)]
    out = sb.run_scalesim(layer, 4, 4, "os", kind="conv", keep_dir=str(tmp_path))
    assert os.path.exists(tmp_path / "topology.csv") and os.path.exists(tmp_path / "run.cfg")
    # 7x7 IFMAP, 3x3, stride 2 -> 9 output pixels, K = 18: os on 4x4 -> 3 folds of 24 -> 71.
    assert out["total_cycles"].tolist() == [71]
    user = sb.run_scalesim([(8, 8, 8)], 4, 4, "os", mode="user", bandwidth=4, ifmap_kb=1)
    assert user["mode"].tolist() == ["user"] and "dram_ifmap_reads" in user.columns
    assert user["total_cycles"][0] >= 2 * 2 * (8 + 4 + 4 - 2) - 1


def test_temp_dir_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sb.run_scalesim([(3, 3, 3)], 2, 2, "is")
    assert os.listdir(tmp_path) == []


def test_topology_text_formats():
    assert sb.topology_text([(4, 5, 6)]).splitlines()[1] == "layer0, 4, 5, 6,"
    conv = sb.topology_text([(7, 7, 3, 3, 2, 4, 2)], kind="conv").splitlines()
    assert conv[1] == "layer0, 7, 7, 3, 3, 2, 4, 2,"
    assert "DP" not in "".join(conv)

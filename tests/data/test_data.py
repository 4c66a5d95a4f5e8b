"""Dataset generation: determinism, resume after SIGKILL, Dask equivalence, checks."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import airchitect as ac
from airchitect.data import store


def _bytes(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.glob("shard-*.parquet"))}


def test_generate_writes_labelled_rows(tmp_path):
    manifest = ac.data.generate("array", 300, seed=4, out=tmp_path / "d", workers=1,
                                shard_rows=128, progress=False)
    frame = ac.data.load(tmp_path / "d")
    assert len(frame) == 300 and [s["rows"] for s in manifest["shards"]] == [128, 128, 44]
    assert list(frame.columns) == ["M", "N", "K", "max_macs", "label", "rows", "cols",
                                   "dataflow", "pes", "best_cost", "second_cost"]
    task = ac.tasks.get("array")
    relabelled = task.label(frame[list(task.input_columns)])
    np.testing.assert_array_equal(relabelled.label, frame.label)
    assert (frame.second_cost >= frame.best_cost).all()
    summary = manifest["summary"]
    counts = np.bincount(frame.label)
    assert summary["majority_share"] == round(counts.max() / 300, 4)
    assert manifest["arguments"]["seed"] == 4 and manifest["complete"]


def test_buffer_dataset_keeps_every_split_cost(tmp_path):
    manifest = ac.data.generate("buffer", 6, seed=2, out=tmp_path / "b", workers=1, progress=False)
    frame = ac.data.load(tmp_path / "b")
    task = ac.tasks.get("buffer")
    costs = np.stack(frame.costs.to_numpy())
    assert costs.shape == (6, 105) and manifest["arguments"]["stored_costs"]
    np.testing.assert_array_equal(costs, task.costs(task.validate(frame[list(task.input_columns)])))
    np.testing.assert_array_equal(costs[np.arange(6), frame.label], frame.best_cost)
    assert "costs" not in ac.data.load(ac.data.generate("array", 5, seed=1, out=tmp_path / "a",
                                                        workers=1, progress=False) and tmp_path / "a")


def test_same_arguments_give_identical_bytes_whatever_the_workers(tmp_path):
    ac.data.generate("multiarray", 500, seed=1, out=tmp_path / "a", workers=1,
                     shard_rows=100, progress=False)
    ac.data.generate("multiarray", 500, seed=1, out=tmp_path / "b", workers=2,
                     shard_rows=100, progress=False)
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    ac.data.generate("multiarray", 500, seed=2, out=tmp_path / "c", workers=1,
                     shard_rows=100, progress=False)
    assert _bytes(tmp_path / "a") != _bytes(tmp_path / "c")


def test_dask_cluster_gives_the_same_bytes(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    ac.data.generate("array", 600, seed=3, out=tmp_path / "local", workers=1,
                     shard_rows=200, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        ac.data.generate("array", 600, seed=3, out=tmp_path / "dask",
                         scheduler=cluster.scheduler_address, shard_rows=200, progress=False)
    assert _bytes(tmp_path / "local") == _bytes(tmp_path / "dask")


def _cli(*args):
    return [sys.executable, "-m", "airchitect", *map(str, args)]


def test_resume_after_sigkill(tmp_path):
    args = ("dataset", "generate", "--task", "array", "--workloads", 100_000, "--seed", 9,
            "--shard-rows", 2000, "--workers", 1, "--quiet")
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(*args, "--out", out))
    deadline = time.time() + 120
    while len(list(out.glob("shard-*.parquet"))) < 3 and time.time() < deadline:
        assert proc.poll() is None, "generation ended before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not store.read_manifest(out)["complete"]
    done_before = len(list(out.glob("shard-*.parquet")))
    assert 3 <= done_before < 50
    with pytest.raises(ValueError, match="incomplete"):
        ac.data.load(out)
    subprocess.run(_cli(*args, "--out", out), check=True)
    subprocess.run(_cli(*args, "--out", tmp_path / "whole"), check=True)
    assert _bytes(out) == _bytes(tmp_path / "whole")
    assert not list(out.glob(".*.tmp"))
    assert len(ac.data.load(out)) == 100_000


def test_load_refuses_tampered_truncated_and_missing_shards(tmp_path):
    out = tmp_path / "d"
    ac.data.generate("array", 200, seed=0, out=out, workers=1, shard_rows=100, progress=False)
    shard = out / "shard-00001.parquet"
    good = shard.read_bytes()
    shard.write_bytes(good[:-10])
    with pytest.raises(ValueError, match="shard-00001.parquet does not match"):
        ac.data.load(out)
    shard.write_bytes(good[:20] + b"X" + good[21:])
    with pytest.raises(ValueError, match="shard-00001.parquet"):
        ac.data.load(out)
    shard.unlink()
    with pytest.raises(ValueError, match="shard-00001.parquet is missing"):
        ac.data.load(out)


def test_foreign_dataset_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "d"
    ac.data.generate("array", 50, seed=0, out=out, workers=1, progress=False)
    with pytest.raises(FileExistsError, match="other arguments"):
        ac.data.generate("array", 50, seed=1, out=out, workers=1, progress=False)
    ac.data.generate("array", 50, seed=1, out=out, workers=1, progress=False, overwrite=True)
    assert store.read_manifest(out)["arguments"]["seed"] == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--task", "nope", "--workloads", "5"], "task must be one of"),
        (["--task", "array", "--workloads", "0"], "--workloads must be an integer"),
        (["--task", "array", "--workloads", "-3"], "--workloads must be an integer"),
        (["--task", "array", "--workloads", "5", "--objective", "speed"], "objective must be one of"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(tmp_path, extra, message):
    res = subprocess.run(_cli("dataset", "generate", "--out", tmp_path / "x", "--quiet", *extra),
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and message in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_unwritable_and_foreign_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = subprocess.run(_cli("dataset", "generate", "--task", "array", "--workloads", 5,
                              "--out", blocker, "--quiet"), capture_output=True, text=True)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    res = subprocess.run(_cli("dataset", "generate", "--task", "array", "--workloads", 5,
                              "--out", foreign, "--quiet"), capture_output=True, text=True)
    assert res.returncode == 2 and "not a dataset" in res.stderr
    assert (foreign / "notes.txt").read_text() == "mine"


def test_cli_json_summary(tmp_path):
    res = subprocess.run(_cli("dataset", "generate", "--task", "array", "--workloads", 64,
                              "--out", tmp_path / "d", "--quiet", "--json", "--workers", 1),
                         capture_output=True, text=True, check=True)
    manifest = json.loads(res.stdout)
    assert manifest["summary"]["distinct_labels"] >= 1 and manifest["arguments"]["n"] == 64

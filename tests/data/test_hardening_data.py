"""Dataset generation and loading under hostile conditions.

Resume verifies each shard against the sha256 recorded when it was written;
the directory is locked; overwrite deletes only a dataset's own files;
manifests are checked against their schema; a run killed with SIGKILL at any
point (``AIRCHITECT_TEST_KILL_AT``) resumes to the bytes of an uninterrupted run.
"""

import errno
import importlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from filelock import FileLock

import airchitect as ac
from airchitect.cli import main as cli_main
from airchitect.data import store

generate_module = importlib.import_module("airchitect.data.generate")

N, SHARD_ROWS, SEED = 3000, 500, 7
ARGS = ("dataset", "generate", "--task", "array", "--workloads", N, "--seed", SEED,
        "--shard-rows", SHARD_ROWS, "--workers", 1, "--quiet")


def _cli(*args):
    return [sys.executable, "-m", "airchitect", *map(str, args)]


def _generate(out, **kw):
    kw = {"seed": SEED, "shard_rows": SHARD_ROWS, "workers": 1, "progress": False, **kw}
    return ac.data.generate("array", kw.pop("n", N), out=out, **kw)


def _shard_bytes(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.glob("shard-*.parquet"))}


def _comparable(manifest):
    """A manifest without what depends on timing: ``timings`` and ``summary.rows_per_s``."""
    manifest = {k: v for k, v in manifest.items() if k != "timings"}
    manifest["summary"] = {k: v for k, v in manifest["summary"].items() if k != "rows_per_s"}
    return manifest


def _killed_at(out, point):
    """Run the CLI into ``out`` until it kills itself at ``point``."""
    env = {**os.environ, generate_module.KILL_AT: point}
    res = subprocess.run(_cli(*ARGS, "--out", out), env=env, capture_output=True, text=True)
    assert res.returncode == -9, f"not killed at {point}: {res.returncode} {res.stderr}"


def _assert_same_as(out, whole):
    assert _shard_bytes(out) == _shard_bytes(whole)
    assert _comparable(store.read_manifest(out)) == _comparable(store.read_manifest(whole))
    assert not [p.name for p in out.iterdir() if store.is_temporary(p.name)]
    assert not (out / store.JOURNAL).exists()
    assert len(ac.data.load(out)) == N


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The uninterrupted run every resumed run must equal."""
    out = tmp_path_factory.mktemp("whole") / "d"
    _generate(out)
    return out


def _frame_with(path, **changes):
    import pyarrow.parquet as pq

    frame = pq.read_table(path).to_pandas()
    for column, value in changes.items():
        if value is None:
            frame = frame.drop(columns=column)
        else:
            frame[column] = value
    return frame


# -- 7: SIGKILL at every point of a run, then resume ---------------------------------
@pytest.mark.parametrize(
    "point",
    ["manifest", "journal:0", "shard-rename:0", "shard-done:0", "journal:3", "shard-rename:3",
     "shard-done:5", "final-manifest", "journal-removal"],
)
def test_resume_after_sigkill_at_every_point_gives_the_uninterrupted_bytes(tmp_path, whole,
                                                                          point):
    out = tmp_path / "d"
    _killed_at(out, point)
    subprocess.run(_cli(*ARGS, "--out", out), check=True, capture_output=True)
    _assert_same_as(out, whole)


# -- 2: a kill during the first manifest write ---------------------------------------
def test_kill_during_first_manifest_write_leaves_a_resumable_directory(tmp_path, whole):
    out = tmp_path / "d"
    _killed_at(out, "manifest")
    assert [p.name for p in out.glob(".manifest.json.*.tmp")]
    assert not (out / store.MANIFEST).exists()
    _generate(out)
    _assert_same_as(out, whole)


def test_leftover_temporaries_of_ours_do_not_block_a_new_run(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    leftovers = [".manifest.json.k2j_x1.tmp", ".shard-00001.parquet.abc123.tmp",
                 ".write-probe.tmp", store.LOCK]
    for name in leftovers:
        (out / name).write_bytes(b"partial")
    _generate(out, n=600)
    assert len(ac.data.load(out)) == 600
    assert not [p for p in out.iterdir() if store.is_temporary(p.name)]


# -- 1: resume and re-run verify what is on disk -------------------------------------
def test_resume_writes_again_a_shard_changed_since_it_was_written(tmp_path, whole, capfd):
    out = tmp_path / "d"
    _killed_at(out, "shard-done:2")
    shard = out / "shard-00000.parquet"
    fake = _frame_with(shard, label=999)
    shard.write_bytes(store.frame_to_parquet(fake))
    flipped = out / "shard-00001.parquet"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    capfd.readouterr()
    _generate(out)
    err = capfd.readouterr().err
    assert "shard-00000.parquet does not match the sha256 recorded" in err
    assert "shard-00001.parquet does not match the sha256 recorded" in err
    assert "shard-00002.parquet" not in err
    _assert_same_as(out, whole)
    assert ac.data.load(out).label.max() < 273


def test_rerun_of_a_finished_dataset_verifies_and_never_rehashes(tmp_path, whole, capfd):
    out = tmp_path / "d"
    _generate(out)
    recorded = store.read_manifest(out)["shards"]
    shard = out / "shard-00004.parquet"
    shard.write_bytes(store.frame_to_parquet(_frame_with(shard, label=999)))
    with pytest.raises(ValueError, match="shard-00004.parquet does not match"):
        ac.data.load(out)
    capfd.readouterr()
    res = subprocess.run(_cli(*ARGS, "--out", out), capture_output=True, text=True)
    assert res.returncode == 0
    assert "shard-00004.parquet does not match the sha256 recorded" in res.stderr
    assert store.read_manifest(out)["shards"] == recorded
    _assert_same_as(out, whole)


def test_rerun_of_an_intact_finished_dataset_changes_nothing(tmp_path):
    out = tmp_path / "d"
    first = _generate(out, n=1000)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    assert _generate(out, n=1000) == first
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()} == before


def test_shard_without_a_recorded_checksum_is_written_again(tmp_path, whole, capfd):
    out = tmp_path / "d"
    _killed_at(out, "shard-done:2")
    (out / store.JOURNAL).unlink()
    capfd.readouterr()
    _generate(out)
    err = capfd.readouterr().err
    assert err.count("has no sha256 recorded") == 3
    _assert_same_as(out, whole)


def test_torn_last_journal_line_is_ignored(tmp_path, whole, capfd):
    out = tmp_path / "d"
    _killed_at(out, "shard-done:2")
    with open(out / store.JOURNAL, "a") as fh:
        fh.write('{"file": "shard-00003.parquet", "sha2')
    capfd.readouterr()
    _generate(out)
    assert "sha256 recorded" not in capfd.readouterr().err
    _assert_same_as(out, whole)


def test_shard_path_that_is_a_directory_is_refused_on_resume(tmp_path):
    out = tmp_path / "d"
    _killed_at(out, "shard-done:0")
    (out / "shard-00001.parquet").mkdir()
    with pytest.raises(FileExistsError, match="shard-00001.parquet is not a regular file"):
        _generate(out)


# -- 3: overwrite removes only what a manifest of ours lists ---------------------------
def test_overwrite_refuses_a_foreign_file_and_deletes_nothing(tmp_path):
    out = tmp_path / "d"
    _generate(out, n=1200)
    (out / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(FileExistsError, match="notes.txt is not part of the dataset"):
        _generate(out, n=1200, seed=SEED + 1, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (out / "notes.txt").unlink()
    (out / "extra").mkdir()
    with pytest.raises(FileExistsError, match="extra is not part of the dataset"):
        _generate(out, n=1200, seed=SEED + 1, overwrite=True)
    assert (out / "shard-00002.parquet").exists()


def test_overwrite_replaces_a_dataset_of_other_arguments(tmp_path):
    out = tmp_path / "d"
    _generate(out, n=1200)
    (out / ".shard-00001.parquet.x1y2z3.tmp").write_bytes(b"partial")
    _generate(out, n=400, seed=SEED + 1, overwrite=True)
    names = sorted(p.name for p in out.iterdir())
    assert names == [store.LOCK, store.MANIFEST, "shard-00000.parquet"]
    assert store.read_manifest(out)["arguments"]["seed"] == SEED + 1


def test_overwrite_never_deletes_a_directory_that_is_not_a_dataset(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "shard-00000.parquet").write_text("not ours")
    with pytest.raises(FileExistsError, match="not a dataset"):
        _generate(out, n=100, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "shard-00000.parquet"]


def test_overwrite_refuses_an_invalid_manifest(tmp_path):
    out = tmp_path / "d"
    _generate(out, n=600)
    manifest = store.read_manifest(out)
    manifest["shards"][1]["file"] = "../outside.parquet"
    (out / store.MANIFEST).write_text(json.dumps(manifest))
    (tmp_path / "outside.parquet").write_text("keep")
    with pytest.raises(ValueError, match=r"shards\[1\].file must be shard-00001.parquet"):
        _generate(out, n=600, seed=SEED + 1, overwrite=True)
    assert (tmp_path / "outside.parquet").read_text() == "keep"
    assert (out / "shard-00001.parquet").exists()


# -- 4: one run at a time ------------------------------------------------------------
def test_a_locked_directory_is_refused(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    with FileLock(out / store.LOCK, timeout=0):
        with pytest.raises(FileExistsError, match="another airchitect dataset generate is writing"):
            _generate(out, n=100)
        res = subprocess.run(_cli(*ARGS, "--out", out), capture_output=True, text=True)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
        assert "another airchitect dataset generate is writing" in res.stderr
        assert str(out) in res.stderr
    assert sorted(p.name for p in out.iterdir()) == [store.LOCK]
    _generate(out, n=100)


def test_two_runs_into_one_directory_cannot_both_succeed(tmp_path, monkeypatch):
    out = tmp_path / "d"
    second = []
    append = store.append_journal

    def append_and_start_another(directory, file, sha):
        if not second:
            try:
                _generate(out, n=600, seed=SEED + 1)
                second.append("succeeded")
            except FileExistsError as err:
                second.append(str(err))
        append(directory, file, sha)

    monkeypatch.setattr(store, "append_journal", append_and_start_another)
    _generate(out, n=600)
    assert second and "another airchitect dataset generate is writing" in second[0]
    assert store.read_manifest(out)["arguments"]["seed"] == SEED


# -- 5: manifests are checked --------------------------------------------------------
def _drop_shard(m):
    m["shards"].pop(1)


def _duplicate_shard(m):
    m["shards"].insert(1, dict(m["shards"][0]))


def _set(path, value):
    def change(m):
        *parents, last = path
        target = m
        for key in parents:
            target = target[key]
        target[last] = value
    return change


def _delete(path):
    def change(m):
        *parents, last = path
        target = m
        for key in parents:
            target = target[key]
        del target[last]
    return change


BAD_MANIFESTS = {
    "dropped shard": (_drop_shard, r"shards\[1\].file must be shard-00001.parquet, "
                                   r"got 'shard-00002.parquet'"),
    "duplicated shard": (_duplicate_shard, r"shards\[1\].file must be shard-00001.parquet, "
                                           r"got 'shard-00000.parquet'"),
    "n too large": (_set(["arguments", "n"], 400), r"shards has 3 entries; arguments.n = 400"),
    "n short of the last shard": (_set(["arguments", "n"], 250),
                                  r"shards\[2\].rows must be 50"),
    "rows of a shard": (_set(["shards", 0, "rows"], 99), r"shards\[0\].rows must be 100"),
    "shard_rows": (_set(["arguments", "shard_rows"], 150), r"shards has 3 entries"),
    "task": (_set(["task", "task"], "buffer"),
             r"task.task is 'buffer' but arguments.task is 'array'"),
    "task of the arguments": (_set(["arguments", "task"], "buffer"), r"task.task is 'array'"),
    "format_version": (_set(["format_version"], 2), r"format_version 2 is not supported"),
    "format": (_set(["format"], "other"), r"format must be 'airchitect-dataset'"),
    "absolute path": (_set(["shards", 1, "file"], "/etc/passwd"),
                      r"shards\[1\].file must be shard-00001.parquet, got '/etc/passwd'"),
    "parent path": (_set(["shards", 2, "file"], "../../etc/passwd"),
                    r"shards\[2\].file must be shard-00002.parquet, got '../../etc/passwd'"),
    "no arguments": (_delete(["arguments"]), r"'arguments' is a required property"),
    "no n": (_delete(["arguments", "n"]), r"arguments: 'n' is a required property"),
    "shards not a list": (_set(["shards"], {}), r"shards: \{\} is not of type 'array'"),
    "rows as text": (_set(["shards", 0, "rows"], "100"), r"shards\[0\].rows: '100' is not of"),
    "n as a float": (_set(["arguments", "n"], 300.0), r"arguments.n: 300.0 is not of type"),
    "no sha256": (_delete(["shards", 1, "sha256"]), r"shards\[1\]: 'sha256' is a required"),
    "sha256 not hex": (_set(["shards", 1, "sha256"], "zz"), r"shards\[1\].sha256: 'zz' does not"),
    "complete as text": (_set(["complete"], "yes"), r"complete: 'yes' is not of type 'boolean'"),
    "unknown task": (lambda m: (_set(["arguments", "task"], "nope")(m),
                                _set(["task", "task"], "nope")(m)),
                     r"arguments.task 'nope' .* is not a task of this airchitect"),
    "n_labels": (_set(["task", "n_labels"], 300), r"task.n_labels is 300 but the array task"),
}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "d"
    _generate(out, n=300, shard_rows=100)
    return out


def _copy(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_load_refuses_a_bad_manifest_naming_the_file_and_field(tmp_path, small, case):
    change, message = BAD_MANIFESTS[case]
    out = _copy(small, tmp_path / "d")
    manifest = json.loads((out / store.MANIFEST).read_text())
    change(manifest)
    (out / store.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=message) as caught:
        ac.data.load(out)
    assert str(out / store.MANIFEST) in str(caught.value)


@pytest.mark.parametrize(
    "text, message",
    [("{", "not valid JSON"), ("[1, 2]", "must be a JSON object, got list"),
     ("\xff", "not valid JSON"), ("null", "must be a JSON object")],
)
def test_read_manifest_refuses_what_is_not_a_manifest(tmp_path, text, message):
    out = tmp_path / "d"
    out.mkdir()
    (out / store.MANIFEST).write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match=message):
        ac.data.read_manifest(out)
    with pytest.raises(ValueError, match=message):
        ac.data.load(out)


def test_load_refuses_a_shard_that_is_a_directory(tmp_path, small):
    out = _copy(small, tmp_path / "d")
    (out / "shard-00001.parquet").unlink()
    (out / "shard-00001.parquet").mkdir()
    with pytest.raises(ValueError, match="shard-00001.parquet is not a regular file"):
        ac.data.load(out)


def _replace_shard(out, index, frame):
    """Write ``frame`` as shard ``index`` and record its true sha256 in the manifest."""
    data = store.frame_to_parquet(frame)
    (out / store.shard_name(index)).write_bytes(data)
    manifest = json.loads((out / store.MANIFEST).read_text())
    manifest["shards"][index]["sha256"] = store.sha256_bytes(data)
    (out / store.MANIFEST).write_text(json.dumps(manifest))


def test_load_refuses_labels_outside_the_space_even_with_a_matching_checksum(tmp_path, small):
    out = _copy(small, tmp_path / "d")
    frame = _frame_with(out / "shard-00001.parquet")
    frame.loc[5, "label"] = 999
    _replace_shard(out, 1, frame)
    with pytest.raises(ValueError, match=r"shard-00001.parquet: label must be in \[0, 272\] "
                                         r"for the array task, got 999"):
        ac.data.load(out)
    with pytest.raises(ValueError, match="label must be in"):
        ac.data.load(out, columns=["M", "N"])
    frame.loc[5, "label"] = 272
    _replace_shard(out, 1, frame)
    assert ac.data.load(out).label.iloc[105] == 272
    assert list(ac.data.load(out, columns=["M", "N"]).columns) == ["M", "N"]


@pytest.mark.parametrize("column, message", [("K", r"lacks the column\(s\) \['K'\]"),
                                             ("label", r"lacks the column\(s\) \['label'\]")])
def test_load_refuses_a_shard_without_the_task_columns(tmp_path, small, column, message):
    out = _copy(small, tmp_path / "d")
    _replace_shard(out, 2, _frame_with(out / "shard-00002.parquet", **{column: None}))
    with pytest.raises(ValueError, match=message):
        ac.data.load(out)


@pytest.mark.parametrize("column, value, message", [
    ("best_cost", float("nan"), r"best_cost must be a finite number >= 0; row 3 holds nan"),
    ("best_cost", float("inf"), r"best_cost must be a finite number >= 0; row 3 holds inf"),
    ("second_cost", -1.0, r"second_cost must be a number >= 0 \(inf: no runner-up\); row 3 holds -1.0"),
    ("M", -3, r"shard-00000.parquet: M must be integers in \[1, 16384\], got -3"),
])
def test_load_refuses_bad_costs_and_inputs_even_with_a_matching_checksum(tmp_path, small, column, value,
                                                                         message):
    out = _copy(small, tmp_path / "d")
    frame = _frame_with(out / "shard-00000.parquet")
    frame.loc[3, column] = value
    _replace_shard(out, 0, frame)
    with pytest.raises(ValueError, match=message):
        ac.data.load(out)


def test_load_refuses_float_labels(tmp_path, small):
    out = _copy(small, tmp_path / "d")
    frame = _frame_with(out / "shard-00000.parquet")
    _replace_shard(out, 0, frame.assign(label=frame.label.astype(float)))
    with pytest.raises(ValueError, match="label must be integers"):
        ac.data.load(out)


def test_shipped_samples_still_load():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "datasets")
    for task in ["array", "buffer", "multiarray", "cim", "cim-schedule", "sve"]:
        path = os.path.join(root, task, "sample")
        manifest = ac.data.read_manifest(path)
        assert len(ac.data.load(path)) == manifest["arguments"]["n"]


# -- 6: the command line: one line, exit 2, nothing left behind ----------------------
def _one_line_exit_2(argv):
    res = subprocess.run(_cli(*argv), capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    return res.stderr


def test_shard_rows_zero_is_refused_not_replaced_by_the_default(tmp_path):
    with pytest.raises(ValueError, match=r"shard_rows must be an integer in \[1, "):
        ac.data.generate("array", 10, out=tmp_path / "api", shard_rows=0, progress=False)
    err = _one_line_exit_2(["dataset", "generate", "--task", "array", "--workloads", 10,
                            "--shard-rows", 0, "--out", tmp_path / "cli", "--quiet"])
    assert "--shard-rows must be an integer in [1, 2147483647], got 0" in err
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()


def test_unreachable_scheduler_fails_fast_naming_the_flag(tmp_path):
    start = time.monotonic()
    err = _one_line_exit_2(["dataset", "generate", "--task", "array", "--workloads", 10,
                            "--scheduler", "tcp://127.0.0.1:1", "--out", tmp_path / "d",
                            "--quiet"])
    assert time.monotonic() - start < 60
    assert "--scheduler" in err and "tcp://127.0.0.1:1" in err
    assert not (tmp_path / "d").exists()
    with pytest.raises(generate_module.SchedulerError, match="scheduler: cannot reach"):
        ac.data.generate("array", 10, out=tmp_path / "api", scheduler="no-port",
                         progress=False)
    assert not (tmp_path / "api").exists()


def test_unwritable_out_is_one_line_and_creates_nothing(tmp_path):
    err = _one_line_exit_2(["dataset", "generate", "--task", "array", "--workloads", 5,
                            "--out", "/proc/airchitect-x", "--quiet"])
    assert "/proc/airchitect-x" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    err = _one_line_exit_2(["dataset", "generate", "--task", "array", "--workloads", 5,
                            "--out", blocker / "sub" / "d", "--quiet"])
    assert "cannot be created" in err and blocker.read_text() == "x"


def _fail_fsync_after(monkeypatch, calls):
    real = os.fsync
    count = []

    def fsync(fd):
        count.append(fd)
        if len(count) > calls:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_full_disk_mid_run_is_one_line_and_resumes(tmp_path, whole, monkeypatch, capsys):
    out = tmp_path / "d"
    _fail_fsync_after(monkeypatch, 2 + 2 * 3)
    argv = [str(a) for a in (*ARGS, "--out", out)]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "No space left on device" in err
    assert len(list(out.glob("shard-*.parquet"))) == 3
    assert not [p for p in out.iterdir() if store.is_temporary(p.name)]
    monkeypatch.undo()
    assert cli_main(argv) == 0
    _assert_same_as(out, whole)


def test_full_disk_before_any_shard_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    _fail_fsync_after(monkeypatch, 0)
    out = tmp_path / "new" / "d"
    argv = [str(a) for a in (*ARGS, "--out", out)]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "No space left on device" in err
    assert not (tmp_path / "new").exists()


def test_labels_of_a_resumed_dataset_are_the_task_labels(tmp_path):
    out = tmp_path / "d"
    _killed_at(out, "shard-done:1")
    _generate(out)
    frame = ac.data.load(out)
    task = ac.tasks.get("array")
    np.testing.assert_array_equal(task.label(frame[list(task.input_columns)]).label, frame.label)

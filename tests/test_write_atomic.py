"""Whole-or-nothing writes (airchitect._files)."""

import os

import pytest

from airchitect._files import write_atomic


@pytest.mark.parametrize("sync", [True, False])
def test_write_atomic_replaces_a_file_and_leaves_no_temporary(tmp_path, sync):
    path = tmp_path / "report.csv"
    path.write_bytes(b"old contents, longer than the new ones\n")
    write_atomic(path, b"new\n", sync=sync)
    assert path.read_bytes() == b"new\n"
    assert os.listdir(tmp_path) == ["report.csv"]
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("sync", [True, False])
def test_write_atomic_failing_before_the_rename_keeps_the_old_file(tmp_path, sync):
    path = tmp_path / "report.csv"
    path.write_bytes(b"old\n")

    def fail():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, b"new\n", before_rename=fail, sync=sync)
    assert path.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["report.csv"]


def test_write_atomic_onto_a_folder_names_the_path(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError, match="cannot write .*taken"):
        write_atomic(tmp_path / "taken", b"x", sync=False)
    assert sorted(os.listdir(tmp_path)) == ["taken"]


def test_write_atomic_writes_large_data_whole(tmp_path):
    data = bytes(range(256)) * 40000  # 10 MB: more than one write() may take
    write_atomic(tmp_path / "big.bin", data, sync=False)
    assert (tmp_path / "big.bin").read_bytes() == data

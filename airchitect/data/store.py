"""Datasets on disk: Parquet shards plus ``manifest.json``.

Layout of a dataset directory::

    manifest.json          # arguments, versions, per-shard rows and sha256, timings
    shard-00000.parquet
    shard-00001.parquet
    ...

Every file is written under a temporary name in the same directory and then
renamed, so a reader never sees a half-written file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = "manifest.json"
FORMAT = "airchitect-dataset"
FORMAT_VERSION = 1


def shard_name(index):
    return f"shard-{index:05d}.parquet"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path, data: bytes):
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path, obj):
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def remove_temporaries(directory):
    """Delete leftovers of writes that were killed before their rename."""
    for tmp in Path(directory).glob(".*.tmp"):
        tmp.unlink()


def frame_to_parquet(df: pd.DataFrame) -> bytes:
    """Serialise ``df`` to Parquet bytes; the same frame gives the same bytes."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def read_manifest(path) -> dict:
    path = Path(path)
    manifest = path / MANIFEST if path.is_dir() else path
    if not manifest.exists():
        raise FileNotFoundError(f"{path}: no {MANIFEST}; not an airchitect dataset")
    with open(manifest) as fh:
        data = json.load(fh)
    if data.get("format") != FORMAT:
        raise ValueError(f"{manifest}: not an airchitect dataset manifest")
    return data


def load(path, columns=None) -> pd.DataFrame:
    """Read a dataset directory after checking its manifest and every shard.

    A missing, truncated or tampered shard (row count or sha256 differing from
    the manifest) raises ``ValueError`` naming the shard.

    Parameters
    ----------
    path : str or Path
        The dataset directory written by :func:`airchitect.data.generate`.
    columns : list of str, optional
        Read only these columns.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if not manifest.get("complete"):
        raise ValueError(
            f"{path}: dataset is incomplete; run the same generate command again to resume"
        )
    frames = []
    for shard in manifest["shards"]:
        file = path / shard["file"]
        if not file.exists():
            raise ValueError(f"{path}: shard {shard['file']} is missing")
        if sha256_file(file) != shard["sha256"]:
            raise ValueError(f"{path}: shard {shard['file']} does not match its sha256 checksum")
        frame = pq.read_table(file, columns=columns).to_pandas()
        if len(frame) != shard["rows"]:
            raise ValueError(
                f"{path}: shard {shard['file']} has {len(frame)} rows, manifest says {shard['rows']}"
            )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def load_column(path, shards, column):
    """One column of every shard, concatenated, as a numpy array."""
    import numpy as np

    return np.concatenate(
        [pq.read_table(Path(path) / s["file"], columns=[column])[column].to_numpy() for s in shards]
    )


def manifest_hash(path) -> str:
    """sha256 of the manifest's shard list: identifies the data a model was trained on."""
    shards = read_manifest(path)["shards"]
    return sha256_bytes(json.dumps(shards, sort_keys=True).encode())

"""Writing files whole or not at all: a temporary name in the same folder, then a rename.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_atomic(folder / "a.txt", b"hello")
>>> (folder / "a.txt").read_bytes()
b'hello'
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_error(path, err):
    """``err`` again, of the same ``OSError`` subclass, with ``path`` in its message."""
    if err.errno is None:
        return err
    return OSError(err.errno, f"cannot write {path}: {err.strerror or err}")


def write_atomic(path, data: bytes, before_rename=None, sync=True):
    """Write ``data`` to ``path`` through a temporary file and a rename.

    The temporary file is ``.<name>.<random>.tmp`` beside ``path``.
    ``before_rename``, if given, is called once the temporary file is
    complete (and synced), just before the rename. An ``OSError`` (a full
    disk, a read-only directory) removes the temporary file and is raised
    again with ``path`` in its message.

    ``sync=False`` is for outputs a run regenerates: the file is not synced to
    disk (after a power failure it may be lost), and an existing ``path`` is
    removed just before the rename instead of being renamed over. Renaming over
    a file makes ext4 (``auto_da_alloc``) start writing the new data at once,
    about 0.15 ms a file; so a reader may, for that moment, find no file. Either
    way a killed process never leaves a partial file at ``path``.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise write_error(path, err) from err
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, 0o644)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if before_rename is not None:
            before_rename()
        if not sync:
            _remove_file(path)
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise write_error(path, err) from err
        raise


def _remove_file(path):
    """Remove the file ``path`` if there is one (a folder or other non-file is left
    for the rename to refuse)."""
    try:
        os.unlink(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        pass


def write_json_atomic(path, obj, before_rename=None, indent=2):
    """:func:`write_atomic` of ``obj`` as JSON (keys sorted, a final newline)."""
    write_atomic(path, (json.dumps(obj, indent=indent, sort_keys=True) + "\n").encode(),
                 before_rename=before_rename)

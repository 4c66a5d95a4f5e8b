"""Load a user's PyTorch model from ``FILE.py:ATTR`` (the ``--module`` option of the commands).

``FILE.py`` is imported as a fresh module (its own name, not added to
``sys.modules``, so two files with the same name do not clash); ``ATTR`` is a
name in it (dots reach inside: ``models.small``) that is either an
``nn.Module`` instance or a callable taking no arguments -- a class or a
factory function -- that returns one. The file runs as Python code: load
only files you trust. Work: one import of the file and at most one call.

Every problem is a one-line ``ValueError`` (``TypeError`` when ``ATTR`` is
not a module or a factory of one) naming the file and the attribute.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "net.py"
>>> _ = path.write_text("from torch import nn\\ndef make():\\n    return nn.Linear(4, 2)\\n")
>>> load_module(f"{path}:make")
Linear(in_features=4, out_features=2, bias=True)
"""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

_COUNTER = itertools.count()


def split_spec(spec):
    """``(Path, attr)`` of a ``FILE.py:ATTR`` string; ValueError when it is not one."""
    if not isinstance(spec, str):
        raise TypeError(f"module must be a string FILE.py:ATTR, got {type(spec).__name__}")
    path, sep, attr = spec.rpartition(":")
    if not sep or not path or not attr:
        raise ValueError(f"module must be FILE.py:ATTR (a Python file and a name in it), got {spec!r}")
    if not all(part.isidentifier() for part in attr.split(".")):
        raise ValueError(f"module {spec!r}: ATTR must be a Python name (dots allowed), got {attr!r}")
    path = Path(path)
    if path.suffix != ".py":
        raise ValueError(f"module {spec!r}: FILE must be a .py file, got {path}")
    if not path.is_file():
        raise ValueError(f"module file {path} does not exist or is not a file")
    return path, attr


def load_module(spec):
    """The ``torch.nn.Module`` named by ``spec`` = ``"FILE.py:ATTR"`` (see the module docstring)."""
    from torch import nn

    path, attr = split_spec(spec)
    source = importlib.util.spec_from_file_location(f"_airchitect_user_{next(_COUNTER)}", path)
    if source is None or source.loader is None:
        raise ValueError(f"module file {path} cannot be imported")
    mod = importlib.util.module_from_spec(source)
    try:
        source.loader.exec_module(mod)
    except (Exception, SystemExit) as err:  # the user's file raised (or exited) while importing
        raise ValueError(f"module file {path} failed to import: {_line(err)}") from None
    value = mod
    for part in attr.split("."):
        if not hasattr(value, part):
            raise ValueError(f"module file {path} has no attribute {attr!r}")
        value = getattr(value, part)
    if isinstance(value, nn.Module):
        return value
    if not callable(value):
        raise TypeError(f"{path}:{attr} must be an nn.Module or a function/class returning one, "
                        f"got {type(value).__name__}")
    try:
        value = value()
    except Exception as err:  # a factory that needs arguments, or fails
        raise ValueError(f"{path}:{attr}() failed (it must take no arguments): {_line(err)}") from None
    if not isinstance(value, nn.Module):
        raise TypeError(f"{path}:{attr}() must return an nn.Module, got {type(value).__name__}")
    return value


def _line(err):
    """An exception as one short line."""
    return f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"


#: Largest number of values an ``--input-shape`` may hold (one float64 batch of 128 MiB).
MAX_INPUT_VALUES = 2**24


def parse_shape(text, name="--input-shape"):
    """``"1,3,32,32"`` as a tuple of ints (batch first, at least two entries, each >= 1).

    ValueError naming ``name`` unless every entry is a positive integer and the
    shape holds at most ``MAX_INPUT_VALUES`` values.

    >>> parse_shape("1, 3,32,32")
    (1, 3, 32, 32)
    """
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) < 2 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise ValueError(f"{name} must be positive integers separated by commas, batch first "
                         f"(e.g. 1,3,32,32), got {text!r}")
    shape = tuple(int(p) for p in parts)
    values = 1
    for v in shape:
        values *= v
    if values > MAX_INPUT_VALUES:
        raise ValueError(f"{name} {text!r} holds {values} values, more than the limit {MAX_INPUT_VALUES}")
    return shape

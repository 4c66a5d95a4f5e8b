"""Build and use the instruction-counting qemu plugin (``csrc/count_insns.c``).

The plugin counts the guest instructions executed inside ``mmt4d_kernel``'s
address range (from the static binary's symbol table) and writes the running
count each time ``mark()`` runs; differences between consecutive lines are
the per-call counts. It is compiled with the host ``gcc`` into the cache
folder the first time it is needed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np

HOST_GCC = "gcc"


def build_plugin():
    """Compile the plugin as a shared object in the cache folder; return its path."""
    from airchitect.targets.sve.kernel import cache_dir

    source = resources.files("airchitect.targets.sve").joinpath("csrc/count_insns.c").read_text()
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    lib = cache_dir() / f"count_insns_{key}.so"
    if not lib.exists():
        src = lib.with_suffix(".c")
        src.write_text(source)
        tmp = lib.with_name(lib.name + f".tmp{os.getpid()}")
        cmd = [HOST_GCC, "-shared", "-fPIC", "-O2", "-o", str(tmp), str(src)]
        subprocess.run(cmd, check=True, capture_output=True)
        os.replace(tmp, lib)
    return lib


def plugin_available():
    """True when a host C compiler exists to build the plugin."""
    return shutil.which(HOST_GCC) is not None


def plugin_args(exe, out):
    """The ``-plugin`` option value counting ``mmt4d_kernel`` of ``exe`` into ``out``."""
    from airchitect.targets.sve.kernel import symbol_range

    lo, hi = symbol_range(exe, "mmt4d_kernel")
    mark, _ = symbol_range(exe, "mark")
    return f"{build_plugin()},lo={lo:x},hi={hi:x},mark={mark:x},out={out}"


def read_counts(path):
    """Per-call instruction counts from the plugin's output file."""
    running = np.loadtxt(Path(path), dtype=np.int64, ndmin=1)
    return np.diff(running, prepend=0)

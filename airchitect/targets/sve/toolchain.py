"""Cross-compile, run and count SVE micro-kernels: gcc, qemu and a TCG plugin.

:func:`build` compiles the C source of :func:`~airchitect.targets.sve.kernel.kernel_source`
with ``aarch64-linux-gnu-gcc -O2 -static`` (no loop alignment padding, no
pre-allocation scheduling: ``NO_ALIGN``); :func:`run` executes it under
``qemu-aarch64 -cpu max,sve-default-vector-length=<vl_bits/8>``.

Counting: the qemu plugin ``csrc/count_insns.c`` counts the guest
instructions executed inside ``mmt4d_kernel``'s address range (from the
static binary's symbol table) and writes the running count each time
``mark()`` runs; differences between consecutive lines are the per-call
counts. It is compiled with the host ``gcc`` into the cache folder the first
time it is needed.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from airchitect.targets.sve.config import VL_BITS
from airchitect.targets.sve.kernel import kernel_source

GCC = "aarch64-linux-gnu-gcc"
QEMU = "qemu-aarch64"
HOST_GCC = "gcc"
MARCH = {"f32": "armv8-a+sve", "bf16": "armv8-a+sve+bf16", "i8": "armv8-a+sve"}
# No nop padding before loop heads and no pre-allocation scheduling (which
# interleaves accumulator chains and costs MOVPRFX copies), so the executed
# instructions follow the generated source.
NO_ALIGN = ["-falign-loops=1", "-falign-jumps=1", "-falign-labels=1", "-falign-functions=16",
            "-fno-schedule-insns"]
NUMPY_TYPES = {  # numpy input (as the kernel reads it), numpy output
    "f32": (np.float32, np.float32),
    "bf16": (np.uint16, np.float32),
    "i8": (np.int8, np.int32),
}


def tools_missing():
    """Names of the missing tools (cross compiler, qemu, host gcc for the plugin), empty if none."""
    return [tool for tool in (GCC, QEMU, HOST_GCC) if shutil.which(tool) is None]


def cache_dir():
    """Folder for built binaries: ``$AIRCHITECT_SVE_CACHE`` or a temp folder."""
    path = Path(os.environ.get("AIRCHITECT_SVE_CACHE", Path(tempfile.gettempdir()) / "airchitect-sve"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.lru_cache(maxsize=1)
def _gcc_version():
    """First line of the cross compiler's ``--version`` (part of the binary cache key)."""
    return subprocess.run([GCC, "--version"], capture_output=True, text=True).stdout.split("\n")[0]


def _compile_once(out, source, cmd):
    """Write ``source`` next to ``out`` and run ``cmd + [-o tmp, source]`` unless ``out`` exists."""
    if not out.exists():
        src = out.with_suffix(".c")
        src.write_text(source)
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        subprocess.run([*cmd, "-o", str(tmp), str(src)], check=True, capture_output=True)
        os.replace(tmp, out)
    return out


def build(m0, n_v, k0, dtype="f32"):
    """Cross-compile the kernel for one tile; return the path of the static binary.

    Binaries are cached by a hash of their source, flags and compiler version.
    """
    source = kernel_source(m0, n_v, k0, dtype)
    flags = ["-O2", f"-march={MARCH[dtype]}", "-static", *NO_ALIGN]
    key = hashlib.sha256((source + " ".join(flags) + _gcc_version()).encode()).hexdigest()[:16]
    exe = cache_dir() / f"mmt4d_{dtype}_{m0}x{n_v}x{k0}_{key}"
    return _compile_once(exe, source, [GCC, *flags])


def build_plugin():
    """Compile the counting plugin as a shared object in the cache folder; return its path."""
    source = resources.files("airchitect.targets.sve").joinpath("csrc/count_insns.c").read_text()
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    lib = cache_dir() / f"count_insns_{key}.so"
    return _compile_once(lib, source, [HOST_GCC, "-shared", "-fPIC", "-O2"])


def plugin_available():
    """True when a host C compiler exists to build the plugin."""
    return shutil.which(HOST_GCC) is not None


def symbol_range(exe, name):
    """``(start, end)`` addresses of function ``name`` in the static binary ``exe``."""
    nm = GCC.replace("gcc", "nm")
    out = subprocess.run([nm, "-S", str(exe)], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            start = int(parts[0], 16)
            return start, start + int(parts[1], 16)
    raise ValueError(f"symbol {name} not found in {exe}")


def plugin_args(exe, out):
    """The ``-plugin`` option value counting ``mmt4d_kernel`` of ``exe`` into ``out``."""
    lo, hi = symbol_range(exe, "mmt4d_kernel")
    mark, _ = symbol_range(exe, "mark")
    return f"{build_plugin()},lo={lo:x},hi={hi:x},mark={mark:x},out={out}"


def read_counts(path):
    """Per-call instruction counts from the plugin's output file."""
    running = np.loadtxt(Path(path), dtype=np.int64, ndmin=1)
    return np.diff(running, prepend=0)


def random_operands(m, n, k, dtype, rng):
    """Small-integer operands (values in -4..4) so every product and sum is exact."""
    a = rng.integers(-4, 5, size=(m, k))
    b = rng.integers(-4, 5, size=(k, n))
    return a, b


def _encode(x, dtype):
    """Integer operand ``x`` as the kernel's input type (bf16: the top 16 bits of f32)."""
    if dtype == "bf16":
        return (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return x.astype(NUMPY_TYPES[dtype][0])


def _write_inputs(path, shapes, operands, dtype):
    """The driver's input file: shape count, then per shape ``(M, N, K)`` (int64), A and B."""
    with open(path, "wb") as f:
        f.write(np.int64(len(shapes)).tobytes())
        for (m, n, k), (a, b) in zip(shapes, operands):
            f.write(np.array([m, n, k], dtype=np.int64).tobytes())
            f.write(_encode(a, dtype).tobytes())
            f.write(_encode(b, dtype).tobytes())


def run(shapes, vl_bits, m0, n_v, k0, dtype="f32", *, seed=0, count=False):
    """Run the kernel under qemu on ``shapes`` [(M, N, K), ...] at ``vl_bits``.

    Returns ``(results, expected, counts)``: the kernel's outputs, ``A @ B``
    computed by numpy (int64 or float64, exact for the small-integer
    operands), and, if ``count``, the instructions executed inside
    ``mmt4d_kernel`` per shape (else None).
    """
    if vl_bits not in VL_BITS:
        raise ValueError(f"vl_bits must be one of {', '.join(map(str, VL_BITS))}; got {vl_bits!r}")
    exe = build(m0, n_v, k0, dtype)
    rng = np.random.default_rng(seed)
    operands = [random_operands(*shape, dtype, rng) for shape in shapes]
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp, counts_file = Path(tmp) / "in.bin", Path(tmp) / "out.bin", Path(tmp) / "counts.txt"
        _write_inputs(inp, shapes, operands, dtype)
        cmd = [QEMU, "-cpu", f"max,sve-default-vector-length={vl_bits // 8}"]
        if count:
            cmd += ["-plugin", plugin_args(exe, counts_file)]
        subprocess.run([*cmd, str(exe), str(inp), str(outp)], check=True, capture_output=True)
        flat = np.fromfile(outp, dtype=NUMPY_TYPES[dtype][1])
        counts = read_counts(counts_file) if count else None
    results, expected, at = [], [], 0
    for (m, n, k), (a, b) in zip(shapes, operands):
        results.append(flat[at : at + m * n].reshape(m, n))
        expected.append(a @ b)
        at += m * n
    return results, expected, counts

"""Generate, cross-compile and run SVE mmt4d micro-kernels (ACLE intrinsics).

The generated C is vector-length agnostic: the tile width is
``N0 = n_v * svcntw()`` at run time, so one binary runs at every vector
length; the driver's unpack uses ``svwhilelt`` predicates for the N tail.
Binaries are built with ``aarch64-linux-gnu-gcc -O2 -static`` (no loop
alignment padding, no pre-allocation scheduling: ``NO_ALIGN``) and run under
``qemu-aarch64 -cpu max,sve-default-vector-length=<vl_bits/8>``.
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

from airchitect._checks import check_choice, check_int
from airchitect.targets.sve.config import DOT_WIDTH, DTYPES, UNROLLS, VL_BITS, is_legal

GCC = "aarch64-linux-gnu-gcc"
QEMU = "qemu-aarch64"
MARCH = {"f32": "armv8-a+sve", "bf16": "armv8-a+sve+bf16", "i8": "armv8-a+sve"}
# No nop padding before loop heads and no pre-allocation scheduling (which
# interleaves accumulator chains and costs MOVPRFX copies), so the executed
# instructions follow the generated source.
NO_ALIGN = ["-falign-loops=1", "-falign-jumps=1", "-falign-labels=1", "-falign-functions=16",
            "-fno-schedule-insns"]
_TYPES = {  # C input type, C accumulator type, accumulator vector, numpy input, numpy output
    "f32": ("float", "float", "svfloat32_t", np.float32, np.float32),
    "bf16": ("uint16_t", "float", "svfloat32_t", np.uint16, np.float32),
    "i8": ("int8_t", "int32_t", "svint32_t", np.int8, np.int32),
}
_ZERO = {"f32": "svdup_n_f32(0.0f)", "bf16": "svdup_n_f32(0.0f)", "i8": "svdup_n_s32(0)"}
_STORE = {"f32": "svst1_vnum_f32", "bf16": "svst1_vnum_f32", "i8": "svst1_vnum_s32"}


def _op(dtype, acc, b, a):
    if dtype == "f32":
        return f"svmla_f32_m(pg, {acc}, svreinterpret_f32_u32({b}), svreinterpret_f32_u32({a}))"
    if dtype == "bf16":
        return f"svbfdot_f32({acc}, svreinterpret_bf16_u32({b}), svreinterpret_bf16_u32({a}))"
    return f"svdot_s32({acc}, svreinterpret_s8_u32({b}), svreinterpret_s8_u32({a}))"


def check_tile(m0, n_v, k0, dtype):
    """Validate a tile; return ``u = k0 / DOT_WIDTH[dtype]``."""
    dtype = check_choice("dtype", dtype, DTYPES)
    check_int("m0", m0, 1, 16)
    check_int("n_v", n_v, 1, 4)
    width = DOT_WIDTH[dtype]
    allowed = [width * u for u in UNROLLS]
    if k0 not in allowed:
        raise ValueError(f"k0 must be one of {', '.join(map(str, allowed))} for {dtype}; got {k0!r}")
    u = k0 // width
    if not is_legal(m0, n_v, u):
        raise ValueError(f"tile m0={m0}, n_v={n_v}, k0={k0} needs more than 32 vector registers")
    return u


def kernel_source(m0, n_v, k0, dtype="f32"):
    """C source of the micro-kernel ``mmt4d_kernel`` plus its test driver.

    >>> "svmla_f32_m" in kernel_source(2, 1, 1)
    True
    """
    u = check_tile(m0, n_v, k0, dtype)
    in_t, acc_t, vec_t, _, _ = _TYPES[dtype]
    lines = [
        "#include <arm_sve.h>",
        "#include <stdint.h>",
        f"typedef {in_t} in_t;",
        f"typedef {acc_t} acc_t;",
        f"#define M0 {m0}",
        f"#define N_V {n_v}",
        f"#define K0 {k0}",
        "__attribute__((noinline)) void mmt4d_kernel(const in_t *restrict lhs, const in_t *restrict rhs,",
        "                                            acc_t *restrict out, long M1, long N1, long K1)",
        "{",
        "    const svbool_t pg = svptrue_b32();",
        "    const long n0 = N_V * (long)svcntw();",
        "    for (long i = 0; i < M1; i++) {",
        "        for (long j = 0; j < N1; j++) {",
        "            const uint32_t *l = (const uint32_t *)(lhs + i * K1 * (M0 * K0));",
        "            const uint32_t *r = (const uint32_t *)(rhs + j * K1 * K0 * n0);",
    ]
    accs = [[f"c{m}_{v}" for v in range(n_v)] for m in range(m0)]
    lines += [f"            {vec_t} {name} = {_ZERO[dtype]};" for row in accs for name in row]
    lines.append("            for (long k = 0; k < K1; k++) {")
    for v in range(n_v):
        if u == 1:
            lines.append(f"                svuint32_t b{v}_0 = svld1_vnum_u32(pg, r, {v});")
        else:
            lines.append(f"                svuint32x{u}_t b{v} = svld{u}_vnum_u32(pg, r, {v * u});")
            lines += [f"                svuint32_t b{v}_{j} = svget{u}_u32(b{v}, {j});" for j in range(u)]
    for j in range(u):
        for m in range(m0):
            g = m * u + j
            lines.append(f"                svuint32_t a{g} = svdup_n_u32(l[{g}]);")
            for v in range(n_v):
                acc = accs[m][v]
                lines.append(f"                {acc} = {_op(dtype, acc, f'b{v}_{j}', f'a{g}')};")
    lines += [
        f"                l += {m0 * u};",
        f"                r += {n_v * u} * svcntw();",
        "            }",
        "            acc_t *o = out + (i * N1 + j) * M0 * n0;",
    ]
    for m in range(m0):
        lines += [f"            {_STORE[dtype]}(pg, o, {v}, {accs[m][v]});" for v in range(n_v)]
        lines.append("            o += n0;")
    lines += ["        }", "    }", "}", ""]
    driver = resources.files("airchitect.targets.sve").joinpath("csrc/driver.c").read_text()
    return "\n".join(lines) + driver


def tools_missing():
    """Names of the missing tools (cross compiler, qemu, host gcc for the plugin), empty if none."""
    return [tool for tool in (GCC, QEMU, "gcc") if shutil.which(tool) is None]


def cache_dir():
    """Folder for built binaries: ``$AIRCHITECT_SVE_CACHE`` or a temp folder."""
    path = Path(os.environ.get("AIRCHITECT_SVE_CACHE", Path(tempfile.gettempdir()) / "airchitect-sve"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.lru_cache(maxsize=1)
def _gcc_version():
    return subprocess.run([GCC, "--version"], capture_output=True, text=True).stdout.split("\n")[0]


def build(m0, n_v, k0, dtype="f32"):
    """Cross-compile the kernel for one tile; return the path of the static binary.

    Binaries are cached by a hash of their source, flags and compiler version.
    """
    source = kernel_source(m0, n_v, k0, dtype)
    flags = ["-O2", f"-march={MARCH[dtype]}", "-static", *NO_ALIGN]
    key = hashlib.sha256((source + " ".join(flags) + _gcc_version()).encode()).hexdigest()[:16]
    exe = cache_dir() / f"mmt4d_{dtype}_{m0}x{n_v}x{k0}_{key}"
    if not exe.exists():
        src = exe.with_suffix(".c")
        src.write_text(source)
        tmp = exe.with_name(exe.name + f".tmp{os.getpid()}")
        subprocess.run([GCC, *flags, "-o", str(tmp), str(src)], check=True, capture_output=True)
        os.replace(tmp, exe)
    return exe


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


def random_operands(m, n, k, dtype, rng):
    """Small-integer operands (values in -4..4) so every product and sum is exact."""
    a = rng.integers(-4, 5, size=(m, k))
    b = rng.integers(-4, 5, size=(k, n))
    return a, b


def _encode(x, dtype):
    if dtype == "bf16":
        return (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return x.astype(_TYPES[dtype][3])


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
    out_dtype = _TYPES[dtype][4]
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        with open(inp, "wb") as f:
            f.write(np.int64(len(shapes)).tobytes())
            for (m, n, k), (a, b) in zip(shapes, operands):
                f.write(np.array([m, n, k], dtype=np.int64).tobytes())
                f.write(_encode(a, dtype).tobytes())
                f.write(_encode(b, dtype).tobytes())
        cmd = [QEMU, "-cpu", f"max,sve-default-vector-length={vl_bits // 8}"]
        if count:
            from airchitect.targets.sve.plugin import plugin_args

            cmd += ["-plugin", plugin_args(exe, Path(tmp) / "counts.txt")]
        subprocess.run([*cmd, str(exe), str(inp), str(outp)], check=True, capture_output=True)
        flat = np.fromfile(outp, dtype=out_dtype)
        counts = None
        if count:
            from airchitect.targets.sve.plugin import read_counts

            counts = read_counts(Path(tmp) / "counts.txt")
    results, expected, at = [], [], 0
    for (m, n, k), (a, b) in zip(shapes, operands):
        results.append(flat[at : at + m * n].reshape(m, n))
        expected.append(a @ b)
        at += m * n
    return results, expected, counts

"""IREE backend: compile GEMMs and MLPs for Arm SVE with a chosen packed tile.

The input program is MLIR ``linalg`` text that packs each operand into the
mmt4d layout of an SVE tile (``M0 x N0 x K0``, ``N0 = n_v * vl_bits / 32``),
multiplies with ``linalg.mmt4d`` and unpacks. ``iree-compile`` (package
``iree-base-compiler``) builds it for ``aarch64`` with ``+sve``, scalable
vectorisation and ``--iree-experimental-vscale-value = vl_bits / 128``.

Driving the tile: a first run of ``iree-compile`` stops after configuring
the executables (``--compile-to=executable-configurations``) and dumps them
(``--iree-hal-dump-executable-configurations-to``); in each ``linalg.mmt4d``
lowering config the fixed vector size ``N0`` becomes the scalable size
``[N0 / vscale]`` (``[4 * n_v]``), the row tile stays ``M0`` and the vector
loop reduces one of the ``K0`` elements of a packed K step at a time (see
:func:`rewrite_lowering_config`: reducing all ``K0`` at once does not
compile for ``K0 > 1``); a second compile substitutes the rewritten
executables (``--iree-hal-substitute-executable-configuration``). Every
tile of the ``sve`` task's space (``m0`` 1..16, ``n_v`` 1..4, ``k0`` 1, 2,
4, at most 32 registers) compiles this way and runs correctly at 128 and
2048 bits, as does every tile predicted for a 200-query sample at all five
lengths (``benchmarks/bench_sve_compile.py``). Micro-kernels are
disabled (``--iree-llvmcpu-enable-ukernels=none``) so that code generation,
not a library routine, lowers the tile.

``mode="data-tiling"`` instead lets IREE choose its own packed layout
(``--iree-opt-data-tiling``; f32 tile ``8 x [8] x 1``); there the host code
sizes buffers with the compile-time vscale, so the module is only correct at
that vector length.

Every :class:`Artifact` records its vector length; :func:`run` refuses
another one. Modules run with ``iree-run-module`` from the aarch64
``iree-base-runtime`` wheel (fetched with ``pip download`` into a cache
folder, same version as the compiler) under ``qemu-aarch64`` at that vector
length.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from airchitect._checks import check_choice, check_int
from airchitect._files import write_atomic
from airchitect._math import ceil_div
from airchitect.targets.sve.config import VL_BITS
from airchitect.targets.sve.toolchain import cache_dir
from airchitect.targets.sve.layout import check_packed_size

TRIPLE = "aarch64-unknown-linux-gnu"
SYSROOT = "/usr/aarch64-linux-gnu"
MODES = ("explicit", "data-tiling")
#: Largest GEMM size (M, N, K, batch, layer widths) the backend compiles.
MAX_DIM = 1 << 20
#: Largest tile accepted: m0 rows, n_v accumulator vectors, k0 reduction elements.
MAX_M0, MAX_N_V, MAX_K0 = 64, 16, 64
#: Largest number of input elements :func:`run` passes to a module.
MAX_INPUT_ELEMENTS = 2**27
#: Compiler versions a sidecar may name (no path separators, no "..").
VERSION_PATTERN = re.compile(r"^\d+\.\d+(\.\d+)?([a-z0-9.+-]*)?$")
_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOOL_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Artifact:
    """A compiled IREE module bound to one SVE vector length."""

    vmfb: str
    vl_bits: int
    mode: str
    tile: tuple | None
    function: str
    flags: tuple
    compiler_version: str
    substituted: tuple = ()

    def save_metadata(self):
        """Write ``<vmfb>.json`` next to the module (temp name, then rename)."""
        path = Path(self.vmfb + ".json")
        write_atomic(path, json.dumps(asdict(self), indent=1).encode())
        return path

    @classmethod
    def load(cls, vmfb):
        """Read and validate the artifact description written by :meth:`save_metadata`.

        Raises ValueError naming the file and the field when the sidecar has
        unknown or missing keys, wrong types, a vector length outside
        ``VL_BITS`` or a compiler version that does not match
        :data:`VERSION_PATTERN`.
        """
        path = Path(str(vmfb) + ".json")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not a JSON artifact description ({err})") from None
        return cls(**_check_sidecar(path, data))


def _is_version(value):
    """Whether ``value`` is a version string matching :data:`VERSION_PATTERN` without ``..``."""
    return isinstance(value, str) and bool(VERSION_PATTERN.match(value)) and ".." not in value


def _check_sidecar(path, data):
    """Validated constructor arguments of :class:`Artifact` from a sidecar's JSON object."""
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must hold a JSON object, got {type(data).__name__}")
    fields = list(Artifact.__dataclass_fields__)
    unknown = sorted(set(data) - set(fields))
    missing = sorted(set(fields) - set(data) - {"substituted"})
    if unknown or missing:
        raise ValueError(f"{path}: unknown field(s) {', '.join(unknown) or '-'}, "
                         f"missing field(s) {', '.join(missing) or '-'}")

    def bad(field, allowed):
        return ValueError(f"{path}: field {field} must be {allowed}; got {data[field]!r}")

    if not isinstance(data["vmfb"], str) or not data["vmfb"] or "\0" in data["vmfb"]:
        raise bad("vmfb", "a file path")
    vl = data["vl_bits"]
    if isinstance(vl, bool) or not isinstance(vl, int) or vl not in VL_BITS:
        raise bad("vl_bits", f"one of {', '.join(map(str, VL_BITS))}")
    if data["mode"] not in MODES:
        raise bad("mode", f"one of {', '.join(MODES)}")
    tile = data["tile"]
    if tile is not None and not (isinstance(tile, list) and len(tile) == 2
                                 and all(type(v) is int and 1 <= v <= MAX_DIM for v in tile)):
        raise bad("tile", f"null or two integers in [1, {MAX_DIM}]")
    if not isinstance(data["function"], str) or not _NAME_PATTERN.match(data["function"]):
        raise bad("function", f"a name matching {_NAME_PATTERN.pattern}")
    if not isinstance(data["flags"], list) or not all(isinstance(f, str) and f.startswith("--")
                                                      for f in data["flags"]):
        raise bad("flags", "a list of --options")
    version = data["compiler_version"]
    if version is not None and not _is_version(version):
        raise bad("compiler_version", f"null or a version matching {VERSION_PATTERN.pattern}")
    substituted = data.get("substituted", [])
    if not isinstance(substituted, list) or not all(isinstance(v, str) and _NAME_PATTERN.match(v)
                                                    for v in substituted):
        raise bad("substituted", f"a list of names matching {_NAME_PATTERN.pattern}")
    return {**data, "tile": tuple(tile) if tile else None, "flags": tuple(data["flags"]),
            "substituted": tuple(substituted)}


def compiler_version():
    """Installed ``iree-base-compiler`` version, or None."""
    try:
        return metadata.version("iree-base-compiler")
    except metadata.PackageNotFoundError:
        return None


def _compile_tool():
    exe = Path(sys.executable).with_name("iree-compile")
    return str(exe) if exe.exists() else shutil.which("iree-compile")


def missing():
    """Reasons the backend cannot run here (empty list when it can)."""
    reasons = []
    if compiler_version() is None or _compile_tool() is None:
        reasons.append("iree-base-compiler is not installed")
    if shutil.which("qemu-aarch64") is None:
        reasons.append("qemu-aarch64 is not installed")
    if not Path(SYSROOT, "lib", "ld-linux-aarch64.so.1").exists():
        reasons.append(f"no aarch64 sysroot at {SYSROOT} (Debian package libc6-arm64-cross)")
    return reasons


def _check_vl(vl_bits):
    vl_bits = check_int("vl_bits", vl_bits, 128, 2048)
    if vl_bits not in VL_BITS:
        raise ValueError(f"vl_bits must be one of {', '.join(map(str, VL_BITS))}; got {vl_bits}")
    return vl_bits


def _pack_mmt4d_unpack(x, w, m, n, k, m0, n0, k0, name):
    """MLIR lines computing ``%{name} = x @ w`` through packed tiles."""
    m1, n1, k1 = ceil_div(m, m0), ceil_div(n, n0), ceil_div(k, k0)
    t = "f32"
    return [
        f"  %{name}_pa0 = tensor.empty() : tensor<{m1}x{k1}x{m0}x{k0}x{t}>",
        f"  %{name}_pa = linalg.pack %{x} padding_value(%zero : {t}) inner_dims_pos = [0, 1] "
        f"inner_tiles = [{m0}, {k0}] into %{name}_pa0 : tensor<{m}x{k}x{t}> -> tensor<{m1}x{k1}x{m0}x{k0}x{t}>",
        f"  %{name}_pb0 = tensor.empty() : tensor<{n1}x{k1}x{n0}x{k0}x{t}>",
        f"  %{name}_pb = linalg.pack %{w} padding_value(%zero : {t}) outer_dims_perm = [1, 0] "
        f"inner_dims_pos = [1, 0] inner_tiles = [{n0}, {k0}] into %{name}_pb0 "
        f": tensor<{k}x{n}x{t}> -> tensor<{n1}x{k1}x{n0}x{k0}x{t}>",
        f"  %{name}_c0 = tensor.empty() : tensor<{m1}x{n1}x{m0}x{n0}x{t}>",
        f"  %{name}_cf = linalg.fill ins(%zero : {t}) outs(%{name}_c0 : tensor<{m1}x{n1}x{m0}x{n0}x{t}>) "
        f"-> tensor<{m1}x{n1}x{m0}x{n0}x{t}>",
        f"  %{name}_c = linalg.mmt4d ins(%{name}_pa, %{name}_pb : tensor<{m1}x{k1}x{m0}x{k0}x{t}>, "
        f"tensor<{n1}x{k1}x{n0}x{k0}x{t}>) outs(%{name}_cf : tensor<{m1}x{n1}x{m0}x{n0}x{t}>) "
        f"-> tensor<{m1}x{n1}x{m0}x{n0}x{t}>",
        f"  %{name}_r0 = tensor.empty() : tensor<{m}x{n}x{t}>",
        f"  %{name} = linalg.unpack %{name}_c inner_dims_pos = [0, 1] inner_tiles = [{m0}, {n0}] "
        f"into %{name}_r0 : tensor<{m1}x{n1}x{m0}x{n0}x{t}> -> tensor<{m}x{n}x{t}>",
    ]


def _relu(x, m, n, name):
    t = f"tensor<{m}x{n}xf32>"
    return [
        f"  %{name}_e = tensor.empty() : {t}",
        f"  %{name} = linalg.generic {{indexing_maps = [affine_map<(i, j) -> (i, j)>, "
        f"affine_map<(i, j) -> (i, j)>], iterator_types = [\"parallel\", \"parallel\"]}} "
        f"ins(%{x} : {t}) outs(%{name}_e : {t}) {{",
        "  ^bb0(%v: f32, %o: f32):",
        "    %r = arith.maximumf %v, %zero : f32",
        "    linalg.yield %r : f32",
        f"  }} -> {t}",
    ]


def mlp_mlir(batch, sizes, m0, n0, k0, relu=True):
    """MLIR of an MLP ``x -> relu(x @ W1) -> ... -> x @ Wn`` through packed tiles.

    ``sizes`` = ``[in, hidden..., out]``; arguments are ``x`` (``batch x
    in``) and one ``K x N`` weight per layer; one f32 result.
    A single GEMM is ``mlp_mlir(M, [K, N], ...)``.

    >>> "linalg.mmt4d" in mlp_mlir(4, [8, 16], 2, 8, 1)
    True
    """
    batch = check_int("batch", batch, 1, 1 << 20)
    sizes = [check_int("sizes", s, 1, 1 << 20) for s in sizes]
    if len(sizes) < 2:
        raise ValueError("sizes must list at least an input and an output width")
    args = [f"%x: tensor<{batch}x{sizes[0]}xf32>"]
    args += [f"%w{i}: tensor<{k}x{n}xf32>" for i, (k, n) in enumerate(zip(sizes, sizes[1:]))]
    lines = [f"func.func @main({', '.join(args)}) -> tensor<{batch}x{sizes[-1]}xf32> {{",
             "  %zero = arith.constant 0.0 : f32"]
    x = "x"
    for i, (k, n) in enumerate(zip(sizes, sizes[1:])):
        lines += _pack_mmt4d_unpack(x, f"w{i}", batch, n, k, m0, n0, k0, f"y{i}")
        x = f"y{i}"
        if relu and i < len(sizes) - 2:
            lines += _relu(x, batch, n, f"h{i}")
            x = f"h{i}"
    lines += [f"  return %{x} : tensor<{batch}x{sizes[-1]}xf32>", "}", ""]
    return "\n".join(lines)


def _matmul_mlir(m, n, k):
    """Plain ``linalg.matmul`` (for ``mode="data-tiling"``)."""
    a, b, c = f"tensor<{m}x{k}xf32>", f"tensor<{k}x{n}xf32>", f"tensor<{m}x{n}xf32>"
    return "\n".join([
        f"func.func @main(%a: {a}, %b: {b}) -> {c} {{",
        "  %zero = arith.constant 0.0 : f32",
        f"  %e = tensor.empty() : {c}",
        f"  %f = linalg.fill ins(%zero : f32) outs(%e : {c}) -> {c}",
        f"  %r = linalg.matmul ins(%a, %b : {a}, {b}) outs(%f : {c}) -> {c}",
        f"  return %r : {c}", "}", ""])


def compile_flags(vl_bits, mode="explicit"):
    """``iree-compile`` flags for aarch64 SVE at ``vl_bits``."""
    vl_bits = _check_vl(vl_bits)
    mode = check_choice("mode", mode, MODES)
    flags = [
        "--iree-hal-target-device=local",
        "--iree-hal-local-target-device-backends=llvm-cpu",
        f"--iree-llvmcpu-target-triple={TRIPLE}",
        "--iree-llvmcpu-target-cpu-features=+sve",
        "--iree-llvmcpu-enable-scalable-vectorization",
        f"--iree-experimental-vscale-value={vl_bits // 128}",
    ]
    if mode == "explicit":
        flags.append("--iree-llvmcpu-enable-ukernels=none")
    else:
        flags.append("--iree-opt-data-tiling")
    return flags


def rewrite_lowering_config(text, m0, n0, vscale):
    """Set every ``linalg.mmt4d`` vector tile to ``m0 x [n0 / vscale]``, one K0 element per step.

    ``vector_common_parallel`` becomes ``[.., m0, [n0 / vscale], 0]``: the
    register tile is the whole packed ``m0 x n0`` tile with a scalable N size
    (IREE's own choice may be a smaller, fixed one). The inner entry of
    ``vector_reduction`` becomes 1: each step of the vectorised loop reduces
    one of the ``k0`` elements of a packed K step, reading ``[n0 / vscale]``
    RHS elements of one K index. Reducing all ``k0`` at once reads the RHS
    tile as ``vector<[N]xK0>`` and transposes it to ``vector<K0x[N]>``; MLIR
    has no lowering for that transpose of a scalable vector, and
    ``iree-compile`` 3.13.0 fails with "LLVM Translation failed for
    operation: builtin.unrealized_conversion_cast" for every ``k0 > 1``
    (see ``docs/sve.md``). The packed layout (``m0 x n0 x k0`` tiles) is not
    changed. Returns ``(new_text, changed)``.

    >>> cfg = ("linalg.mmt4d {lowering_config = #iree_cpu.lowering_config<vector_common_parallel = "
    ...        "[1, 1, 0, 4, 16, 0], vector_reduction = [0, 0, 1, 0, 0, 2]>}")
    >>> rewrite_lowering_config(cfg, 4, 16, 2)[0].split("<")[1]
    'vector_common_parallel = [1, 1, 0, 4, [8], 0], vector_reduction = [0, 0, 1, 0, 0, 1]>}'
    """
    if n0 % vscale:
        raise ValueError(f"n0 = {n0} is not a multiple of vscale = {vscale}")
    config = re.compile(r"(linalg\.mmt4d \{lowering_config = #iree_cpu\.lowering_config<)([^>]*)(>)")
    parallel = re.compile(r"vector_common_parallel = \[(\d+), (\d+), (\d+), (\d+), (\d+), (\d+)\]")
    reduction = re.compile(r"vector_reduction = \[(\d+), (\d+), (\d+), (\d+), (\d+), (\d+)\]")

    def parallel_tile(match):
        outer_m, outer_n, red = match.groups()[:3]
        return f"vector_common_parallel = [{outer_m}, {outer_n}, {red}, {m0}, [{n0 // vscale}], 0]"

    def reduction_tile(match):
        return f"vector_reduction = [0, 0, {match.group(3)}, 0, 0, 1]"

    def repl(match):
        head, body, tail = match.groups()
        body, count = parallel.subn(parallel_tile, body)
        if not count:
            return match.group(0)
        body, count = reduction.subn(reduction_tile, body)
        if not count:
            body += ", vector_reduction = [0, 0, 1, 0, 0, 1]"
        return head + body + tail

    new = config.sub(repl, text)
    return new, new != text


class BackendError(RuntimeError):
    """An IREE tool failed: the message names its first error line and the command.

    ``command`` is the argument list, ``stderr`` the tool's whole error output.
    """

    def __init__(self, tool, command, returncode, stderr):
        self.command, self.returncode, self.stderr = list(command), returncode, stderr
        super().__init__(f"{tool} failed (exit code {returncode}): {first_error_line(stderr)}; "
                         f"command: {shlex.join(self.command)}")


def first_error_line(stderr, limit=400):
    """The first line of ``stderr`` that holds ``error:`` (else its first non-empty line), at most ``limit`` characters.

    >>> first_error_line("NOTE: x\\nm.mlir:0:0: error: failed\\n%1 = llvm.add")
    'm.mlir:0:0: error: failed'
    """
    lines = [line.strip() for line in str(stderr).splitlines() if line.strip()]
    line = next((line for line in lines if "error:" in line), lines[0] if lines else "no error output")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _iree_compile(mlir_path, out, flags, extra=()):
    cmd = [_compile_tool(), str(mlir_path), *flags, *extra, "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise BackendError("iree-compile", cmd, done.returncode, done.stderr)


def compile_module(mlir, vl_bits, out, *, tile=None, mode="explicit"):
    """Compile MLIR text for SVE at ``vl_bits``; return an :class:`Artifact`.

    ``tile = (m0, n0)`` (explicit mode) rewrites every mmt4d lowering config
    to the scalable ``m0 x [n0 / vscale]`` tile, one ``k0`` element per
    vector step (:func:`rewrite_lowering_config`), and substitutes it: two
    ``iree-compile`` runs, the first stopping after the executable
    configurations. A failing run raises :class:`BackendError` (its first
    ``error:`` line and the command) and leaves no file at ``out``.
    """
    vl_bits = _check_vl(vl_bits)
    flags = compile_flags(vl_bits, mode)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    substituted = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "module.mlir"
        src.write_text(mlir)
        extra = []
        if tile is not None and mode == "explicit":
            dump = Path(tmp) / "configs"
            _iree_compile(src, Path(tmp) / "configured.mlir", flags,
                          ["--compile-to=executable-configurations",
                           f"--iree-hal-dump-executable-configurations-to={dump}"])
            for path in sorted(dump.glob("*.mlir")):
                text, changed = rewrite_lowering_config(path.read_text(), tile[0], tile[1], vl_bits // 128)
                if changed:
                    name = re.search(r"hal\.executable public @(\w+)", text).group(1)
                    new = Path(tmp) / f"{name}.mlir"
                    new.write_text(text)
                    extra.append(f"--iree-hal-substitute-executable-configuration={name}={new}")
                    substituted.append(name)
            if not substituted:
                raise RuntimeError("no linalg.mmt4d lowering configuration matched the tile")
        tmp_out = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            _iree_compile(src, tmp_out, flags, extra)
            os.replace(tmp_out, out)
        finally:
            tmp_out.unlink(missing_ok=True)
    flags = [f for f in flags]
    art = Artifact(str(out), vl_bits, mode, tuple(tile) if tile else None, "main", tuple(flags),
                   compiler_version(), tuple(substituted))
    art.save_metadata()
    return art


def _check_tile(m0, n_v, k0, vl_bits):
    """Validate a tile; return ``(m0, n0, k0)``."""
    m0 = check_int("m0", m0, 1, MAX_M0)
    n_v = check_int("n_v", n_v, 1, MAX_N_V)
    k0 = check_int("k0", k0, 1, MAX_K0)
    return m0, n_v * vl_bits // 32, k0


def _check_layers(batch, sizes, m0, n0, k0):
    """Validate an MLP's sizes and refuse padded tensors past the mmt4d limits."""
    batch = check_int("batch", batch, 1, MAX_DIM)
    sizes = [check_int("sizes", s, 1, MAX_DIM) for s in sizes]
    for k, n in zip(sizes, sizes[1:]):
        check_packed_size(batch, n, k, m0, n0, k0)
    return batch, sizes


def compile_gemm(M, N, K, vl_bits, out, *, m0=8, n_v=2, k0=1, mode="explicit"):
    """Compile ``C = A @ B`` (f32) for SVE at ``vl_bits`` with tile ``m0 x (n_v*VL/32) x k0``.

    ``M, N, K`` are integers in [1, 2**20]; ``m0`` in [1, 64], ``n_v`` in
    [1, 16], ``k0`` in [1, 64]. A product whose padded operands pass the
    :func:`~airchitect.targets.sve.mmt4d` limits (2**27 elements, 2**36
    multiply-adds) raises ValueError before compiling.
    ``mode="data-tiling"`` ignores the tile and uses IREE's own layout.
    """
    vl_bits = _check_vl(vl_bits)
    M, N, K = (check_int(name, v, 1, MAX_DIM) for name, v in (("M", M), ("N", N), ("K", K)))
    if check_choice("mode", mode, MODES) == "data-tiling":
        check_packed_size(M, N, K, 1, 1, 1)
        return compile_module(_matmul_mlir(M, N, K), vl_bits, out, mode=mode)
    m0, n0, k0 = _check_tile(m0, n_v, k0, vl_bits)
    _check_layers(M, [K, N], m0, n0, k0)
    return compile_module(mlp_mlir(M, [K, N], m0, n0, k0), vl_bits, out, tile=(m0, n0))


def compile_mlp(batch, sizes, vl_bits, out, *, m0=8, n_v=2, k0=1):
    """Compile an f32 MLP (see :func:`mlp_mlir`) for SVE at ``vl_bits``; limits as :func:`compile_gemm`."""
    vl_bits = _check_vl(vl_bits)
    m0, n0, k0 = _check_tile(m0, n_v, k0, vl_bits)
    _check_layers(batch, sizes, m0, n0, k0)
    return compile_module(mlp_mlir(batch, sizes, m0, n0, k0), vl_bits, out, tile=(m0, n0))


def runtime_tool(name="iree-run-module", version=None):
    """Path of an aarch64 IREE runtime tool, fetched from PyPI on first use.

    Runs ``pip download --no-deps --only-binary=:all: --platform
    manylinux_2_28_aarch64 --python-version 3.11 iree-base-runtime==<version>``
    into the cache folder and extracts ``iree/_runtime_libs/<name>``.
    """
    version = version or compiler_version()
    if not _is_version(version):
        raise ValueError(f"version must match {VERSION_PATTERN.pattern}; got {version!r}")
    if not isinstance(name, str) or not _TOOL_PATTERN.match(name):
        raise ValueError(f"name must match {_TOOL_PATTERN.pattern}; got {name!r}")
    root = cache_dir().resolve()
    folder = (root / f"iree-runtime-aarch64-{version}").resolve()
    exe = (folder / name).resolve()
    if folder.parent != root or exe.parent != folder:
        raise ValueError(f"version {version!r} and name {name!r} must keep the runtime inside {root}")
    if exe.exists():
        return exe
    wheels = folder / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    if not list(wheels.glob("iree_base_runtime-*.whl")):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--platform", "manylinux_2_28_aarch64", "--python-version", "3.11",
               "-d", str(wheels), f"iree-base-runtime=={version}"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"pip download of iree-base-runtime failed: {done.stderr.strip()[-500:]}")
    wheel = next(wheels.glob("iree_base_runtime-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(f"iree/_runtime_libs/{name}")
    tmp = exe.with_name(exe.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    os.replace(tmp, exe)
    return exe


def run(artifact, inputs, vl_bits=None):
    """Run ``artifact`` under qemu at its vector length; return the output array.

    ``vl_bits`` (if given) must equal the artifact's: a data-tiled SVE module
    is only correct at the vscale it was compiled for. A failing
    ``iree-run-module`` raises :class:`BackendError`.
    """
    if not isinstance(artifact, Artifact):
        artifact = Artifact.load(artifact)
    _check_inputs(inputs)
    if vl_bits is not None and _check_vl(vl_bits) != artifact.vl_bits:
        raise ValueError(f"vl_bits must be {artifact.vl_bits} (the vector length {artifact.vmfb} "
                         f"was compiled for); got {vl_bits}")
    return _run_at(artifact, inputs, artifact.vl_bits)


def _check_inputs(inputs):
    """Refuse inputs that are not numbers or pass ``MAX_INPUT_ELEMENTS`` together."""
    total = 0
    for i, x in enumerate(inputs):
        arr = np.asarray(x)
        if arr.dtype == bool or arr.dtype.kind not in "iuf":
            raise TypeError(f"inputs[{i}] must be numbers, got dtype {arr.dtype}")
        total += arr.size
        if total > MAX_INPUT_ELEMENTS:
            raise ValueError(f"inputs hold more than {MAX_INPUT_ELEMENTS} elements together; "
                             "run smaller tensors")


def _run_at(artifact, inputs, vl_bits):
    tool = runtime_tool("iree-run-module", artifact.compiler_version)
    with tempfile.TemporaryDirectory() as tmp:
        args = []
        for i, x in enumerate(inputs):
            path = Path(tmp) / f"in{i}.npy"
            np.save(path, np.ascontiguousarray(x, dtype=np.float32))
            args.append(f"--input=@{path}")
        out = Path(tmp) / "out.npy"
        cmd = ["qemu-aarch64", "-L", SYSROOT, "-cpu", f"max,sve-default-vector-length={vl_bits // 8}",
               str(tool), f"--module={artifact.vmfb}", "--device=local-task",
               f"--function={artifact.function}", *args, f"--output=@{out}"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise BackendError("iree-run-module", cmd, done.returncode, done.stderr)
        return np.load(out)

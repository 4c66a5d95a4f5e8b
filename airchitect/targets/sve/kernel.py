"""Generate SVE mmt4d micro-kernels as C source with ACLE intrinsics.

The generated C is vector-length agnostic: the tile width is
``N0 = n_v * svcntw()`` at run time, so one binary runs at every vector
length; the driver's unpack uses ``svwhilelt`` predicates for the N tail.
:mod:`airchitect.targets.sve.toolchain` compiles, runs and counts it.
"""

from __future__ import annotations

from importlib import resources

from airchitect.targets.sve import config

C_TYPES = {  # C input type, C accumulator type, accumulator vector type
    "f32": ("float", "float", "svfloat32_t"),
    "bf16": ("uint16_t", "float", "svfloat32_t"),
    "i8": ("int8_t", "int32_t", "svint32_t"),
}
_ZERO = {"f32": "svdup_n_f32(0.0f)", "bf16": "svdup_n_f32(0.0f)", "i8": "svdup_n_s32(0)"}
_STORE = {"f32": "svst1_vnum_f32", "bf16": "svst1_vnum_f32", "i8": "svst1_vnum_s32"}


def _op(dtype, acc, b, a):
    """C expression: accumulator ``acc`` plus the product of vectors ``b`` and ``a`` (FMLA, BFDOT or SDOT)."""
    if dtype == "f32":
        return f"svmla_f32_m(pg, {acc}, svreinterpret_f32_u32({b}), svreinterpret_f32_u32({a}))"
    if dtype == "bf16":
        return f"svbfdot_f32({acc}, svreinterpret_bf16_u32({b}), svreinterpret_bf16_u32({a}))"
    return f"svdot_s32({acc}, svreinterpret_s8_u32({b}), svreinterpret_s8_u32({a}))"


def check_tile(m0, n_v, k0, dtype):
    """Validate a tile (see :func:`airchitect.targets.sve.config.check_tile`); return ``u = k0 / DOT_WIDTH[dtype]``."""
    return config.check_tile(m0, n_v, k0, dtype)


def kernel_source(m0, n_v, k0, dtype="f32"):
    """C source of the micro-kernel ``mmt4d_kernel`` plus its test driver.

    >>> "svmla_f32_m" in kernel_source(2, 1, 1)
    True
    """
    u = check_tile(m0, n_v, k0, dtype)
    in_t, acc_t, vec_t = C_TYPES[dtype]
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
    lines += _k_step(m0, n_v, u, dtype, accs)
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


def _k_step(m0, n_v, u, dtype, accs):
    """Body of one k-step: ``n_v`` RHS loads, ``m0 * u`` LHS broadcasts, the dot products."""
    lines = []
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
    return lines

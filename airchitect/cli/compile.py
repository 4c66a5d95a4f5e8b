"""``airchitect compile``: hand a predicted configuration to a real backend.

``--target sve``: predict the register tile of a GEMM with the shipped ``sve``
model (or take ``--m0/--n-v/--k0``, all three together, within the ``sve``
task's space: m0 1..16, n_v 1..4, k0 1, 2 or 4, at most 32 registers), compile it with the IREE compiler for
aarch64 + SVE at ``--vl-bits`` with that tile, and write the module and its
description (``<out>.json``). ``--run`` executes it under qemu at that vector
length and checks the result against numpy.

``--target cim``: train the small digits CNN (seconds), compile it onto
crossbars of the given configuration and write the crossbar program as JSON.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from airchitect.cli import print_record

TILE_FLAGS = (("m0", "--m0"), ("n_v", "--n-v"), ("k0", "--k0"))


def add_parser(sub):
    parser = sub.add_parser("compile", help="compile a predicted configuration for a backend",
                            description=__doc__)
    parser.add_argument("--target", required=True, help="sve or cim")
    parser.add_argument("--out", required=True, help="output file (.vmfb for sve, .json for cim)")
    parser.add_argument("--M", type=int, default=64)
    parser.add_argument("--N", type=int, default=64)
    parser.add_argument("--K", type=int, default=64)
    parser.add_argument("--vl-bits", type=int, default=256, help="SVE vector length in bits")
    parser.add_argument("--m0", type=int, default=None)
    parser.add_argument("--n-v", type=int, default=None)
    parser.add_argument("--k0", type=int, default=None)
    parser.add_argument("--run", action="store_true", help="run under qemu and check (sve)")
    parser.add_argument("--xbar", type=int, default=64, help="crossbar rows = cols (cim)")
    parser.add_argument("--bits", type=int, default=8, help="weight and input bits (cim)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def check_out(path):
    """Return ``path`` as a Path if a file can be written there, else raise ValueError."""
    out = Path(path)
    if out.is_dir():
        raise ValueError(f"out must be a file path, not a folder: {out}")
    parent = out.parent
    if not parent.is_dir():
        raise ValueError(f"out must be in an existing folder; {parent} is not one")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"out must be in a writable folder; {parent} is not writable")
    return out


def check_tile(args):
    """Validate ``--m0 --n-v --k0``: none (the prediction) or all three, within the sve space."""
    from airchitect.targets.sve.config import M0_RANGE, N_V_RANGE, UNROLLS, is_legal, registers

    given = [flag for name, flag in TILE_FLAGS if getattr(args, name) is not None]
    if not given:
        return None
    if len(given) < len(TILE_FLAGS):
        missing = [flag for name, flag in TILE_FLAGS if getattr(args, name) is None]
        raise ValueError(f"--m0, --n-v and --k0 go together (or none, to use the prediction); "
                         f"missing {', '.join(missing)}")
    m0, n_v, k0 = args.m0, args.n_v, args.k0
    if not M0_RANGE[0] <= m0 <= M0_RANGE[1]:
        raise ValueError(f"m0 must be an integer in [{M0_RANGE[0]}, {M0_RANGE[1]}], got {m0}")
    if not N_V_RANGE[0] <= n_v <= N_V_RANGE[1]:
        raise ValueError(f"n_v must be an integer in [{N_V_RANGE[0]}, {N_V_RANGE[1]}], got {n_v}")
    if k0 not in UNROLLS:
        raise ValueError(f"k0 must be one of {', '.join(map(str, UNROLLS))} for f32, got {k0}")
    if not is_legal(m0, n_v, k0):
        raise ValueError(f"m0, n_v, k0 = {m0}, {n_v}, {k0} need {int(registers(m0, n_v, k0))} "
                         "vector registers, more than 32")
    return m0, n_v, k0


def _sve_tile(args):
    tile = check_tile(args)
    if tile is not None:
        return (*tile, "given")
    from airchitect import api

    cfg = api.predict("sve", M=args.M, N=args.N, K=args.K, dtype="f32", max_vl_bits=args.vl_bits)
    return int(cfg["m0"]), int(cfg["n_v"]), int(cfg["u"]), "predicted"


def run(args):
    from airchitect._checks import check_choice

    target = check_choice("target", args.target, ("sve", "cim"))
    check_out(args.out)
    result = _compile_sve(args) if target == "sve" else _compile_cim(args)
    print_record(result, args.json)
    return 0


def _compile_sve(args):
    from airchitect.backends import iree

    iree._check_vl(args.vl_bits)
    check_tile(args)
    if iree.missing():
        raise ValueError(f"the IREE backend is unavailable here: {iree.missing()}")
    m0, n_v, k0, source = _sve_tile(args)
    artifact = iree.compile_gemm(args.M, args.N, args.K, args.vl_bits, args.out, m0=m0, n_v=n_v, k0=k0)
    result = {"module": artifact.vmfb, "vl_bits": artifact.vl_bits, "tile": f"{m0}x{n_v}x{k0}",
              "tile_source": source}
    if args.run:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((args.M, args.K)).astype(np.float32)
        b = rng.standard_normal((args.K, args.N)).astype(np.float32)
        out = iree.run(artifact, [a, b])
        result["max_abs_error"] = float(np.abs(np.asarray(out) - a @ b).max())
    return result


def _compile_cim(args):
    from airchitect.backends import cim as cim_backend
    from airchitect.targets.cim.config import make_config
    from airchitect.targets.cim.digits import train_digits_cnn

    make_config(xbar_rows=args.xbar, xbar_cols=args.xbar)
    cim_backend._check_bits(args.bits, 1)
    model, data = train_digits_cnn(seed=0)
    program = cim_backend.compile(model, calibration=data["x_train"][:256], bits=args.bits,
                                  xbar_rows=args.xbar, xbar_cols=args.xbar)
    program.save(args.out)
    report = program.evaluate(data["x_test"], data["y_test"])
    return {"program": args.out, "crossbars": program.n_crossbars, "ops": len(program.ops),
            "latency_us": round(float(program.latency_us), 3),
            "energy_pj": round(float(program.energy_pj), 1),
            "crossbar_accuracy": round(report["crossbar_accuracy"], 4),
            "float_accuracy": round(report["float_accuracy"], 4)}

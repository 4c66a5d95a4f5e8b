"""``airchitect compile``: hand a predicted configuration to a real backend.

``--target sve``: predict the register tile of a GEMM with the shipped ``sve``
model (or take ``--m0/--n-v/--k0``), compile it with the IREE compiler for
aarch64 + SVE at ``--vl-bits`` with that tile, and write the module and its
description (``<out>.json``). ``--run`` executes it under qemu at that vector
length and checks the result against numpy.

``--target cim``: train the small digits CNN (seconds), compile it onto
crossbars of the given configuration and write the crossbar program as JSON.
"""

from __future__ import annotations

from airchitect.cli import print_record


import numpy as np


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


def _sve_tile(args):
    if None not in (args.m0, args.n_v, args.k0):
        return args.m0, args.n_v, args.k0, "given"
    from airchitect import api

    cfg = api.predict("sve", M=args.M, N=args.N, K=args.K, dtype="f32", max_vl_bits=args.vl_bits)
    return int(cfg["m0"]), int(cfg["n_v"]), int(cfg["u"]), "predicted"


def run(args):
    from airchitect._checks import check_choice

    target = check_choice("target", args.target, ("sve", "cim"))
    result = _compile_sve(args) if target == "sve" else _compile_cim(args)
    print_record(result, args.json)
    return 0


def _compile_sve(args):
    from airchitect.backends import iree

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
    from airchitect.targets.cim.digits import train_digits_cnn

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

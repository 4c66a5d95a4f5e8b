"""``airchitect compile``: hand a predicted configuration to a real backend.

``--target sve``: predict the register tile of an f32 GEMM (``--M --N --K``,
default 64) with the shipped ``sve`` model, or take ``--m0/--n-v/--k0`` (all
three together or none; the tile must lie in the ``sve`` task's space: m0
1..16, n_v 1..4, k0 1, 2 or 4, at most 32 vector registers, and the error
names the rule it breaks, e.g. ``needs 38 vector registers, more than 32``);
compile it with the IREE compiler for aarch64 + SVE at ``--vl-bits`` (128,
256, 512, 1024 or 2048) with that tile, and write the module and its
description (``<out>.json``). ``--run`` executes it under qemu at that vector
length and checks the result against numpy. The space's tiles compile
(measured: ``docs/sve.md``); should ``iree-compile`` or ``iree-run-module`` fail, the
command prints the tool's first ``error:`` line and the command line on
stderr and exits with code 1. Work: two ``iree-compile`` runs (seconds; up to
about 45 s for 2048-bit tiles with n_v >= 3 and k0 > 1) and, with ``--run``,
one qemu run.

``--target cim``: compile a PyTorch model onto RRAM crossbars and write the
crossbar program as JSON. The model is ``--module FILE.py:ATTR`` (an
``nn.Module`` instance, or a class or function that builds one with no
arguments; the file runs as Python code) with ``--input-shape B,C,H,W``
(batch first): it is calibrated on a seeded uniform [0, 1) batch of that
shape and, with ``--run``, executed on the ideal simulated crossbars and
compared with the quantised model. Without ``--module`` the small digits CNN
is trained (seconds), compiled and evaluated on its test images.
``--config uniform`` (default) gives every Conv2d/Linear layer the crossbar
of ``--xbar`` (default 64), ``--cell-bits``, ``--dac-bits``, ``--mapping``,
``--active-rows``, ``--duplication``; ``--config predict`` lets the shipped
``cim`` model pick each layer's crossbar for a chip of ``--n-xbars``
crossbars per layer and ``--adc-bits`` ADCs. ``--bits`` sets the weight and
input bits (default 8); ``--adc-bits`` also sets the ADC resolution.
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
    parser.add_argument("--xbar", type=int, default=None, help="crossbar rows = cols (cim; default 64)")
    parser.add_argument("--bits", type=int, default=8, help="weight and input bits (cim)")
    parser.add_argument("--module", default=None, metavar="FILE.py:ATTR",
                        help="the PyTorch model to compile (cim; default: the digits CNN)")
    parser.add_argument("--input-shape", default=None, metavar="B,C,H,W",
                        help="input shape of --module, batch first (cim)")
    parser.add_argument("--config", default="uniform", help="uniform or predict (cim)")
    parser.add_argument("--cell-bits", type=int, default=None, help="bits per cell (cim, uniform)")
    parser.add_argument("--dac-bits", type=int, default=None, help="DAC bits (cim, uniform)")
    parser.add_argument("--mapping", default=None, help="signed-weight mapping (cim, uniform)")
    parser.add_argument("--active-rows", type=int, default=None, help="rows per read (cim, uniform)")
    parser.add_argument("--duplication", type=int, default=None, help="weight copies (cim, uniform)")
    parser.add_argument("--n-xbars", type=int, default=None, help="crossbars per layer (cim, predict)")
    parser.add_argument("--adc-bits", type=int, default=None, help="ADC bits (cim)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run, flag_for={"w_bits": "--bits", "in_bits": "--bits"})


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
    """Validate ``--m0 --n-v --k0`` as a set: none (the prediction) or all three, within the sve space.

    The tile must be one of the ``sve`` task's f32 tiles (``m0`` 1..16,
    ``n_v`` 1..4, ``k0`` 1, 2 or 4, at most 32 vector registers; see
    :func:`airchitect.targets.sve.config.check_tile`); the ValueError says
    which rule the tile breaks. Returns ``(m0, n_v, k0)`` or None.
    """
    from airchitect.targets.sve.config import check_tile as check_sve_tile

    given = [flag for name, flag in TILE_FLAGS if getattr(args, name) is not None]
    if not given:
        return None
    if len(given) < len(TILE_FLAGS):
        missing = [flag for name, flag in TILE_FLAGS if getattr(args, name) is None]
        raise ValueError(f"--m0, --n-v and --k0 go together (or none, to use the prediction); "
                         f"missing {', '.join(missing)}")
    check_sve_tile(args.m0, args.n_v, args.k0, "f32")
    return args.m0, args.n_v, args.k0


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
    _check_flags_of(target, args)
    check_out(args.out)
    result = _compile_sve(args) if target == "sve" else _compile_cim(args)
    print_record(result, args.json)
    return 0


#: flags that belong to one target only (default None: given or not)
_ONLY = {"sve": (("m0", "--m0"), ("n_v", "--n-v"), ("k0", "--k0")),
         "cim": (("xbar", "--xbar"), ("module", "--module"), ("input_shape", "--input-shape"),
                 ("cell_bits", "--cell-bits"), ("dac_bits", "--dac-bits"), ("mapping", "--mapping"),
                 ("active_rows", "--active-rows"), ("duplication", "--duplication"),
                 ("n_xbars", "--n-xbars"), ("adc_bits", "--adc-bits"))}


def _check_flags_of(target, args):
    """Refuse a flag of the other target (it would be ignored)."""
    other = "cim" if target == "sve" else "sve"
    given = [flag for name, flag in _ONLY[other] if getattr(args, name) is not None]
    if given:
        raise ValueError(f"{given[0]} is a --target {other} flag; --target {target} does not take it")


def _compile_sve(args):
    import sys

    from airchitect.backends import iree

    iree._check_vl(args.vl_bits)
    check_tile(args)
    if iree.missing():
        raise ValueError(f"the IREE backend is unavailable here: {iree.missing()}")
    m0, n_v, k0, source = _sve_tile(args)
    try:
        artifact = iree.compile_gemm(args.M, args.N, args.K, args.vl_bits, args.out, m0=m0, n_v=n_v, k0=k0)
        result = {"module": artifact.vmfb, "vl_bits": artifact.vl_bits, "tile": f"{m0}x{n_v}x{k0}",
                  "tile_source": source}
        if args.run:
            rng = np.random.default_rng(0)
            a = rng.standard_normal((args.M, args.K)).astype(np.float32)
            b = rng.standard_normal((args.K, args.N)).astype(np.float32)
            out = iree.run(artifact, [a, b])
            result["max_abs_error"] = float(np.abs(np.asarray(out) - a @ b).max())
    except iree.BackendError as err:  # a tool failed: its first error line and the command, exit code 1
        print(f"airchitect compile: error: tile {m0}x{n_v}x{k0} ({source}) at {args.vl_bits} bits: {err}",
              file=sys.stderr)
        raise SystemExit(1) from None
    return result


#: Flags of one crossbar for every layer (``--config uniform``) and the CrossbarConfig field each sets.
CIM_UNIFORM_FLAGS = (("xbar", "--xbar"), ("cell_bits", "--cell-bits"), ("dac_bits", "--dac-bits"),
                     ("mapping", "--mapping"), ("active_rows", "--active-rows"),
                     ("duplication", "--duplication"))


def _cim_config(args):
    """``(config, options)`` for :func:`airchitect.backends.cim.compile` from the cim flags."""
    from airchitect._checks import check_choice, check_int
    from airchitect.backends import cim as cim_backend
    from airchitect.targets.cim.config import make_config

    source = check_choice("config", args.config, ("uniform", "predict"))
    given = {name: getattr(args, name) for name, _ in CIM_UNIFORM_FLAGS if getattr(args, name) is not None}
    options = {} if args.adc_bits is None else {"adc_bits": args.adc_bits}
    if source == "predict":
        if given:
            flags = [flag for name, flag in CIM_UNIFORM_FLAGS if name in given]
            raise ValueError(f"{', '.join(flags)}: only with --config uniform (--config predict picks "
                             "each layer's crossbar)")
        make_config(None, **options)
        if args.n_xbars is not None:
            check_int("n_xbars", args.n_xbars, 1, 2**40)
        return "predict", options
    if args.n_xbars is not None:
        raise ValueError("--n-xbars applies to --config predict")
    config = make_config({"xbar": 64, **given}, **options)
    cim_backend._integer(config)
    return config, {}


def _compile_cim(args):
    from airchitect.backends import cim as cim_backend

    config, options = _cim_config(args)
    cim_backend._check_bits(args.bits, 1)
    if args.n_xbars is not None:
        options["n_xbars"] = args.n_xbars
    if args.module is not None:
        return _compile_cim_module(args, config, options)
    if args.input_shape is not None:
        raise ValueError("--input-shape goes with --module")
    from airchitect.targets.cim.digits import train_digits_cnn

    model, data = train_digits_cnn(seed=0)
    program = cim_backend.compile(model, config, calibration=data["x_train"][:256], bits=args.bits, **options)
    program.save(args.out)
    report = program.evaluate(data["x_test"], data["y_test"])
    return {**_cim_summary(args, program),
            "crossbar_accuracy": round(report["crossbar_accuracy"], 4),
            "float_accuracy": round(report["float_accuracy"], 4)}


def _compile_cim_module(args, config, options):
    """Compile ``--module`` calibrated on a seeded uniform batch of ``--input-shape``."""
    from airchitect.backends import cim as cim_backend
    from airchitect.cli.module_file import load_module, parse_shape

    if args.input_shape is None:
        raise ValueError("--module needs --input-shape (batch first, e.g. 1,3,32,32)")
    shape = parse_shape(args.input_shape)
    model = load_module(args.module)
    x = np.random.default_rng(0).random(shape)
    program = cim_backend.compile(model, config, calibration=x, bits=args.bits, **options)
    program.save(args.out)
    result = _cim_summary(args, program)
    if args.run:
        report = program.evaluate(x)
        result["rel_error_vs_quantized"] = report["rel_error_vs_quantized"]
        result["rel_error_vs_float"] = round(report["rel_error_vs_float"], 6)
    return result


def _cim_summary(args, program):
    """What ``compile --target cim`` prints about a program."""
    layers = [{"layer": r["name"], "xbar": c.xbar_rows if c.xbar else [c.xbar_rows, c.xbar_cols],
               "active_rows": c.active_rows or c.xbar_rows, "cell_bits": c.cell_bits, "dac_bits": c.dac_bits,
               "mapping": c.mapping, "duplication": c.duplication}
              for r, c in zip((r for r in program.layers if "config" in r), program.configs)]
    return {"program": args.out, "config": args.config, "crossbars": program.n_crossbars,
            "ops": len(program.ops), "latency_us": round(float(program.latency_us), 3),
            "energy_pj": round(float(program.energy_pj), 1), "layers": layers}

"""CALC-mode per-layer speed of the public path (``simulate``, ``simulate_conv``) on
SCALE-Sim v3's shipped topologies and configs, and against SCALE-Sim itself.

Run: ``python benchmarks/bench_calc_dram.py [--scalesim-budget 150] [--repeat 3]
[--modes calc,user] [--previous FOLDER]``

* the script writes the topologies (SCALE-Sim v3's ``topologies/conv_nets`` and
  ``GEMM_mnk`` field data) as CSV fixtures into a temporary folder and reads them back;
* every topology runs in one vectorised call per shipped configuration (array, SRAM
  sizes and dataflow of ``configs/*.cfg``), in CALC and USER mode; per-layer time =
  call / layers (best of ``--repeat``), and every output must be free of NaN;
* ``--previous FOLDER``: an older airchitect package (``git archive REV airchitect |
  tar -x -C FOLDER``) times the same CALC-mode calls in a subprocess (layers with a
  NaN field or a refused call are listed);
* the real ``scalesim`` 3.0.0 runs layers one at a time (CALC mode), from the
  fewest SRAM words up, each only if its predicted time fits in what is left of
  ``--scalesim-budget`` seconds; each is timed against ours on the same layer in
  the same run (our per-layer share of its whole-topology call), and the outputs
  must agree exactly on every report field.
"""

import argparse
import os
import tempfile
import time

import numpy as np
import pandas as pd

import airchitect as ac
from airchitect.targets.systolic.scalesim import run_scalesim
from airchitect.targets.systolic.simulate import REPORT_FIELDS

CONV = ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters", "stride")
TOPOLOGIES = {
    "alexnet": ("conv", [(224, 224, 11, 11, 3, 96, 4), (27, 27, 5, 5, 96, 256, 1),
                         (13, 13, 3, 3, 256, 384, 1), (13, 13, 3, 3, 384, 384, 1),
                         (13, 13, 3, 3, 384, 256, 1)]),
    "yolo_tiny": ("conv", [(416, 416, 3, 3, 3, 4, 1), (208, 208, 3, 3, 16, 32, 1),
                           (104, 104, 3, 3, 32, 64, 1), (52, 52, 3, 3, 64, 128, 1),
                           (26, 26, 3, 3, 128, 256, 1), (13, 13, 3, 3, 256, 512, 1),
                           (11, 11, 3, 3, 512, 1024, 1), (9, 9, 3, 3, 1024, 1024, 1),
                           (7, 7, 1, 1, 1024, 125, 1)]),
    "Resnet18": ("conv", [(224, 224, 7, 7, 3, 64, 2), (56, 56, 3, 3, 64, 64, 1),
                          (56, 56, 3, 3, 64, 128, 2), (28, 28, 3, 3, 128, 128, 1),
                          (28, 28, 3, 3, 128, 256, 2), (14, 14, 3, 3, 256, 256, 1),
                          (14, 14, 3, 3, 256, 512, 2), (7, 7, 3, 3, 512, 512, 1)]),
    "gpt2": ("gemm", [(1024, 1024, 64), (1024, 64, 1024), (1024, 4800, 1600),
                      (1024, 1600, 1600), (1024, 3072, 1600), (1024, 1600, 3072)]),
    "vit_s": ("gemm", [(197, 1152, 384), (197, 197, 64), (197, 64, 197), (197, 384, 384),
                       (197, 1536, 384), (197, 384, 1536)]),
}
# configs/*.cfg: rows, cols, ifmap_kb, filter_kb, ofmap_kb, dataflow, bandwidth
CONFIGS = {
    "eyeriss": (12, 14, 36, 36, 36, "ws", 10),
    "google": (256, 256, 6144, 6144, 2048, "os", 10),
    "rebuttal_test_is": (128, 128, 10240, 10240, 10240, "is", 60),
    "scale": (32, 32, 64, 64, 64, "ws", 10),
    "scale_layout": (128, 128, 256, 256, 256, "os", 64),
    "tpuv5e_downscale": (128, 128, 4096, 4096, 8192, "ws", 60),
}


def write_fixtures(folder):
    """Write every topology as a SCALE-Sim-style CSV; return {name: (kind, DataFrame)}."""
    out = {}
    for name, (kind, layers) in TOPOLOGIES.items():
        cols = CONV if kind == "conv" else ("M", "N", "K")
        path = os.path.join(folder, f"{name}.csv")
        pd.DataFrame(layers, columns=cols).to_csv(path, index=False)
        out[name] = (kind, pd.read_csv(path))
    return out


def run_ours(kind, table, config, mode):
    R, C, ikb, fkb, okb, flow, bw = config
    kw = dict(ifmap_kb=ikb, filter_kb=fkb, ofmap_kb=okb, bandwidth=bw, mode=mode)
    if kind == "conv":
        return ac.systolic.simulate_conv(*(table[c].to_numpy() for c in CONV), R, C, flow, **kw)
    return ac.systolic.simulate(*(table[c].to_numpy() for c in ("M", "N", "K")), R, C, flow, **kw)


_PREVIOUS = r"""
import json, sys, time
import numpy as np, pandas as pd
import airchitect as ac
topologies, configs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
conv = ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters", "stride")
out = {}
for cname, (R, C, ikb, fkb, okb, flow, bw) in configs.items():
    for tname, (kind, layers) in topologies.items():
        cols = np.array(layers).T
        kw = dict(ifmap_kb=ikb, filter_kb=fkb, ofmap_kb=okb)
        call = (lambda: ac.systolic.simulate_conv(*cols, R, C, flow, **kw)) if kind == "conv" \
            else (lambda: ac.systolic.simulate(*cols, R, C, flow, **kw))
        try:
            call()
            t0 = time.perf_counter()
            df = call()
            secs = time.perf_counter() - t0
            nan = int(df.select_dtypes("number").isna().any(axis=1).sum())
            out[cname + "/" + tname] = [secs / len(layers), nan, ""]
        except Exception as err:
            out[cname + "/" + tname] = [float("nan"), -1, type(err).__name__]
print(json.dumps(out))
"""


def previous_path(folder):
    """Time the CALC-mode calls of the airchitect tree in ``folder`` (an older
    checkout, e.g. ``git archive <rev> airchitect | tar -x -C folder``), in a
    subprocess: {"config/topology": [seconds per layer, layers with NaN, error]}."""
    import json
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=folder)
    run = subprocess.run([sys.executable, "-c", _PREVIOUS, json.dumps(TOPOLOGIES),
                          json.dumps(CONFIGS)], capture_output=True, text=True, env=env,
                         timeout=3600, cwd=folder)
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-2000:])
    return json.loads(run.stdout.strip().splitlines()[-1])


def best_time(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--scalesim-budget", type=float, default=150.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--modes", default="calc,user")
    p.add_argument("--previous", default=None,
                   help="folder holding an older airchitect package to time in CALC mode")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        topologies = write_fixtures(folder)
    run_ours("conv", topologies["alexnet"][1].head(2), CONFIGS["eyeriss"], "calc")  # compile
    run_ours("gemm", topologies["gpt2"][1].head(2), CONFIGS["eyeriss"], "calc")
    per_layer, outputs = {}, {}
    print("mode  config             topology    layers  call_ms  per_layer_ms  max_layer_ms")
    for mode in args.modes.split(","):
        for cname, config in CONFIGS.items():
            for tname, (kind, table) in topologies.items():
                try:
                    secs, out = best_time(lambda: run_ours(kind, table, config, mode),
                                          args.repeat if mode == "calc" else 1)
                except ValueError as err:  # USER mode bounds its work
                    print(f"{mode:5s} {cname:18s} {tname:11s} refused: {err}")
                    continue
                assert not out.select_dtypes("number").isna().any().any(), (mode, cname, tname)
                # the slowest layer alone
                worst = max(best_time(lambda: run_ours(kind, table.iloc[[i]], config, mode), 2)[0]
                            for i in range(len(table))) if mode == "calc" else float("nan")
                per_layer[(mode, cname, tname)] = secs / len(table)
                outputs[(mode, cname, tname)] = out
                print(f"{mode:5s} {cname:18s} {tname:11s} {len(table):6d} {secs * 1e3:8.2f} "
                      f"{secs * 1e3 / len(table):13.3f} {worst * 1e3:13.2f}", flush=True)
    if args.previous:
        prev = previous_path(args.previous)
        print("\nprevious code path (CALC), same run: per-layer ms, layers with a NaN field")
        print("config             topology    previous_ms  nan_layers  now_ms  speedup")
        for (mode, cname, tname), secs in per_layer.items():
            if mode != "calc":
                continue
            p_secs, nan, err = prev[f"{cname}/{tname}"]
            note = err or f"{nan:10d}"
            print(f"{cname:18s} {tname:11s} {p_secs * 1e3:11.2f} {note:>11s} {secs * 1e3:7.2f} "
                  f"{p_secs / secs:8.1f}")
    calc = np.array([v for (m, _, _), v in per_layer.items() if m == "calc"])
    if calc.size:
        print(f"CALC per-layer time over topology x config calls: median {np.median(calc) * 1e3:.3f} "
              f"ms, max {calc.max() * 1e3:.3f} ms")

    # SCALE-Sim, same run: layers from small to large, each only if its predicted time
    # (seconds per SRAM word, the slowest rate seen so far) fits in what is left
    jobs = []
    for (mode, cname, tname), out in outputs.items():
        if mode != "calc":
            continue
        words = (out["sram_ifmap_reads"] + out["sram_filter_reads"]
                 + out["sram_ofmap_writes"]).to_numpy()
        jobs += [(int(w), cname, tname, i) for i, w in enumerate(words)]
    jobs.sort()
    spent, rate, ratios = 0.0, 1e-6, []
    print("\nSCALE-Sim 3.0.0 (CALC) vs ours, same layer, same run")
    print("config             topology    layer  sram_words  scalesim_s  ours_ms  ratio")
    for words, cname, tname, i in jobs:
        if 0.3 + words * rate > args.scalesim_budget - spent:
            continue
        kind, table = topologies[tname]
        R, C, ikb, fkb, okb, flow, _ = CONFIGS[cname]
        layer = [tuple(int(v) for v in table.iloc[i])]
        t0 = time.perf_counter()
        ref = run_scalesim(layer, R, C, flow, kind=kind, ifmap_kb=ikb, filter_kb=fkb,
                           ofmap_kb=okb)
        ss = time.perf_counter() - t0
        spent += ss
        rate = max(rate, (ss - 0.3) / words)
        ours = outputs[("calc", cname, tname)].iloc[[i]].reset_index(drop=True)
        for name in REPORT_FIELDS:
            assert ours[name].to_numpy()[0] == ref[name].to_numpy()[0], (cname, tname, i, name)
        mine = per_layer[("calc", cname, tname)]
        ratios.append(ss / mine)
        print(f"{cname:18s} {tname:11s} {i:5d} {words:11d} {ss:11.2f} {mine * 1e3:8.3f} "
              f"{ss / mine:8.0f}", flush=True)
    if ratios:
        print(f"SCALE-Sim / ours per layer over {len(ratios)} layers: median {np.median(ratios):.0f}x, "
              f"min {np.min(ratios):.0f}x, max {np.max(ratios):.0f}x (SCALE-Sim time {spent:.0f} s; "
              f"small layers only, where the ratio is lowest; ours = per-layer share of the "
              f"whole-topology call)")


if __name__ == "__main__":
    main()

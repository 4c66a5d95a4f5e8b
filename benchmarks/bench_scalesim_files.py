"""The SCALE-Sim drop-in (``ac.systolic.run_files``) against SCALE-Sim 3.0.0, per layer.

Both run on the same files, written by this script into a temporary folder with
the parameter values of SCALE-Sim's shipped configs (``scale.cfg``,
``eyeriss.cfg`` without its ``[layout]`` section, ``google.cfg``) and
topologies (``Resnet18``, ``alexnet``, ``gpt2``, ``vit_s``):

* airchitect: one ``run_files`` call per config x topology, median of
  ``REPEATS`` calls after a warm-up; per-layer time = call time / layers of
  the topology. Two public paths are timed: "files" (``out=...``, what
  ``airchitect simulate -c -t -p`` does: read the files, simulate every layer
  in one vectorised call, write the three reports, each through a temporary name and a rename)
  and "api" (``out=None``: the same, returning the DataFrame without writing).
* SCALE-Sim 3.0.0: the real package in-process (``save_disk_space=True``,
  stdout captured), one run per selected layer (a one-layer topology), timed
  once. The layers are the fixed list ``SCALESIM_LAYERS`` below, run in that
  order until ``SCALESIM_BUDGET_S`` seconds of SCALE-Sim time are spent (the
  rest are printed as skipped), so the script takes about 10-15 minutes.
  SCALE-Sim cannot read ``eyeriss.cfg`` (no ``[layout]``); it runs the same
  file with SCALE-Sim's defaults written out.

Each timed SCALE-Sim layer's report rows are also compared with ours (every
field of the three reports, as text). Prints one line per layer (SCALE-Sim
seconds, our per-layer milliseconds and the ratio for both paths) and the
median and minimum ratios. Run: ``python benchmarks/bench_scalesim_files.py``.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import airchitect as ac
from airchitect.targets.systolic.reports import REPORTS, report_text

REPEATS = 7
SCALESIM_BUDGET_S = 600.0

ARCH = ("[architecture_presets]\nArrayHeight: {rows}\nArrayWidth: {cols}\nIfmapSramSzkB: {kb[0]}\n"
        "FilterSramSzkB: {kb[1]}\nOfmapSramSzkB: {kb[2]}\nIfmapOffset: 0\nFilterOffset: 10000000\n"
        "OfmapOffset: 20000000\nBandwidth : {bw}\nDataflow : {df}\nReadRequestBuffer: {rq}\n"
        "WriteRequestBuffer: {rq}\n\n")
LAYOUT = ("[layout]\nIfmapCustomLayout: False\nIfmapSRAMBankBandwidth: {bw}\nIfmapSRAMBankNum: 10\n"
          "IfmapSRAMBankPort: 2\nFilterCustomLayout: False\nFilterSRAMBankBandwidth: {bw}\n"
          "FilterSRAMBankNum: 10\nFilterSRAMBankPort: 2\n\n")
REST = ("[sparsity]\nSparsitySupport : false\nSparseRep : ellpack_block\nOptimizedMapping : false\n"
        "BlockSize : 8\nRandomNumberGeneratorSeed : 40\n\n[run_presets]\nInterfaceBandwidth: {mode}\n"
        "UseRamulatorTrace: False\n")
# name -> (run_name, rows, cols, SRAM kB, bandwidth, dataflow, request buffer, mode, has [layout])
CONFIGS = {
    "scale": ("scale_example_run_32x32_ws", 32, 32, (64, 64, 64), 10, "ws", 32, "CALC", True),
    "eyeriss": ("eyeriss", 12, 14, (36, 36, 36), 10, "ws", 128, "CALC", False),
    "google": ("GoogleTPU_v1_os", 256, 256, (6144, 6144, 2048), 10, "os", 512, "USER", True),
}
CONV_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
               "Num Filter, Strides,")
TOPOLOGIES = {
    "Resnet18": ("conv", [
        ("Conv1", 224, 224, 7, 7, 3, 64, 2), ("Conv2_1a", 56, 56, 3, 3, 64, 64, 1),
        ("Conv2_1b", 56, 56, 3, 3, 64, 64, 1), ("Conv2_2a", 56, 56, 3, 3, 64, 64, 1),
        ("Conv2_2b", 56, 56, 3, 3, 64, 64, 1), ("Conv3_1a", 56, 56, 3, 3, 64, 128, 2),
        ("Conv3_1b", 28, 28, 3, 3, 128, 128, 1), ("Conv3_s", 56, 56, 1, 1, 64, 128, 2),
        ("Conv3_2a", 28, 28, 3, 3, 128, 128, 1), ("Conv3_2b", 28, 28, 3, 3, 128, 128, 1),
        ("Conv4_1a", 28, 28, 3, 3, 128, 256, 2), ("Conv4_1b", 14, 14, 3, 3, 256, 256, 1),
        ("Conv4_s", 28, 28, 1, 1, 128, 256, 2), ("Conv4_2a", 14, 14, 3, 3, 256, 256, 1),
        ("Conv4_2b", 14, 14, 3, 3, 256, 256, 1), ("Conv5_1a", 14, 14, 3, 3, 256, 512, 2),
        ("Conv5_1b", 7, 7, 3, 3, 512, 512, 1), ("Conv5_s", 14, 14, 1, 1, 256, 512, 2),
        ("Conv5_2a", 7, 7, 3, 3, 512, 512, 1), ("Conv5_2b", 7, 7, 3, 3, 512, 512, 1),
        ("FC", 1, 1, 1, 1, 512, 1000, 1)]),
    "alexnet": ("conv", [
        ("Conv1", 224, 224, 11, 11, 3, 96, 4), ("Conv2", 27, 27, 5, 5, 96, 256, 1),
        ("Conv3", 13, 13, 3, 3, 256, 384, 1), ("Conv4", 13, 13, 3, 3, 384, 384, 1),
        ("Conv5", 13, 13, 3, 3, 384, 256, 1)]),
    "gpt2": ("gemm", [
        ("QKT", 1024, 1024, 64), ("QKTV", 1024, 64, 1024), ("Linear1", 1024, 4800, 1600),
        ("Linear2", 1024, 1600, 1600), ("PW-FF-L1", 1024, 3072, 1600),
        ("PW-FF-L2", 1024, 1600, 3072)]),
    "vit_s": ("gemm", [
        ("L0", 196, 192, 384), ("L1", 196, 1176, 64), ("L2", 196, 64, 1176),
        ("L3", 196, 1536, 384), ("L4", 196, 384, 1536)]),
}
# (config, topology, layer index): the layers SCALE-Sim runs, in this order.
SCALESIM_LAYERS = [
    ("scale", "Resnet18", 20), ("scale", "vit_s", 0), ("scale", "vit_s", 1),
    ("google", "vit_s", 0), ("eyeriss", "vit_s", 1), ("scale", "Resnet18", 17),
    ("scale", "alexnet", 4), ("scale", "gpt2", 0), ("scale", "Resnet18", 12),
    ("google", "Resnet18", 20), ("eyeriss", "Resnet18", 20), ("scale", "Resnet18", 19),
    ("scale", "vit_s", 2), ("scale", "alexnet", 2), ("scale", "Resnet18", 7),
]


def config_text(name, for_scalesim=False):
    run_name, rows, cols, kb, bw, df, rq, mode, has_layout = CONFIGS[name]
    text = f"[general]\nrun_name = {run_name}\n\n"
    text += ARCH.format(rows=rows, cols=cols, kb=kb, bw=bw, df=df, rq=rq)
    if has_layout or for_scalesim:  # SCALE-Sim needs the section: its defaults, written out
        text += LAYOUT.format(bw=bw)
    return text + REST.format(mode=mode)


def topology_text(name, rows=None):
    kind, layers = TOPOLOGIES[name]
    header = CONV_HEADER if kind == "conv" else "Layer, M, N, K,"
    rows = layers if rows is None else rows
    return "\n".join([header] + [", ".join(map(str, row)) + "," for row in rows]) + "\n"


def write_inputs(folder):
    for name in CONFIGS:
        (folder / f"{name}.cfg").write_text(config_text(name))
        (folder / f"{name}_scalesim.cfg").write_text(config_text(name, for_scalesim=True))
    for name in TOPOLOGIES:
        (folder / f"{name}.csv").write_text(topology_text(name))
    from airchitect.targets.systolic.scalesim import layout_text

    (folder / "layout.csv").write_text(layout_text(1))


def time_ours(folder, config, topology, out):
    kind = TOPOLOGIES[topology][0]
    args = (folder / f"{config}.cfg", folder / f"{topology}.csv")
    ac.systolic.run_files(*args, kind=kind, out=out)  # warm-up (numba, caches)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        df = ac.systolic.run_files(*args, kind=kind, out=out)
        times.append(time.perf_counter() - start)
    return statistics.median(times), df


def time_scalesim(folder, config, topology, index):
    from scalesim.scale_sim import scalesim

    kind, layers = TOPOLOGIES[topology]
    topo = folder / "one_layer.csv"
    topo.write_text(topology_text(topology, [layers[index]]))
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False,
                       config=str(folder / f"{config}_scalesim.cfg"), topology=str(topo),
                       layout=str(folder / "layout.csv"), input_type_gemm=(kind == "gemm"))
        sim.run_scale(top_path=str(folder / "ref"))
    seconds = time.perf_counter() - start
    out = folder / "ref" / CONFIGS[config][0]
    rows = {name: (out / name).read_text().splitlines()[1].split(", ", 1)[1] for name in REPORTS}
    return seconds, rows


def main():
    folder = Path(tempfile.mkdtemp(prefix="bench_scalesim_files_"))
    write_inputs(folder)
    ours = {}
    print(f"airchitect run_files, median of {REPEATS} calls (files: reports written; api: "
          f"out=None):")
    for config in CONFIGS:
        for topology in TOPOLOGIES:
            call, df = time_ours(folder, config, topology, folder / "ours")
            api, _ = time_ours(folder, config, topology, None)
            ours[config, topology] = (call / len(df), api / len(df), df)
            print(f"  {config:8s} {topology:9s} {len(df):3d} layers  files: call {call * 1e3:8.2f} ms"
                  f", per layer {call / len(df) * 1e3:7.3f} ms  api: call {api * 1e3:8.2f} ms, "
                  f"per layer {api / len(df) * 1e3:7.3f} ms")
    print(f"\nSCALE-Sim 3.0.0 per layer (budget {SCALESIM_BUDGET_S:.0f} s), ratio = SCALE-Sim "
          f"layer time / our per-layer time (files, api):")
    ratios, api_ratios, spent, mismatches = [], [], 0.0, 0
    for config, topology, index in SCALESIM_LAYERS:
        name = TOPOLOGIES[topology][1][index][0]
        label = f"{config:8s} {topology:9s} {name:9s}"
        if spent >= SCALESIM_BUDGET_S:
            print(f"  {label} skipped (budget spent)")
            continue
        seconds, rows = time_scalesim(folder, config, topology, index)
        spent += seconds
        per_layer, per_layer_api, df = ours[config, topology]
        row = df.iloc[[index]].reset_index(drop=True)
        same = all(report_text(row, name).splitlines()[1].split(", ", 1)[1] == rows[name]
                   for name in REPORTS)
        mismatches += not same
        ratios.append(seconds / per_layer)
        api_ratios.append(seconds / per_layer_api)
        print(f"  {label} SCALE-Sim {seconds:8.2f} s  ours {per_layer * 1e3:7.3f} ms "
              f"{per_layer_api * 1e3:7.3f} ms  ratio {ratios[-1]:8.0f}x {api_ratios[-1]:8.0f}x  "
              f"reports {'equal' if same else 'DIFFERENT'}")
    print(f"\n{len(ratios)} layers, {spent:.0f} s of SCALE-Sim time; report rows different: "
          f"{mismatches}")
    print(f"files (reports written): median ratio {statistics.median(ratios):.0f}x, "
          f"min {min(ratios):.0f}x")
    print(f"api (DataFrame):         median ratio {statistics.median(api_ratios):.0f}x, "
          f"min {min(api_ratios):.0f}x")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

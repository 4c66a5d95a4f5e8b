"""Scheduler time and schedule quality of the tiled CIM scheduler.

Run: python benchmarks/bench_cim_schedule.py

1. Wall time to schedule ResNet-50 on 1024 PEs (256x256 crossbars, 8-bit;
   1595 tiles, so time-multiplexed in two segments) with each strategy,
   against the 10 s target and against the layer-by-layer time of the same run.
2. Makespan, utilisation and their gains over layer-by-layer without
   duplication for VGG16, ResNet-50 and BERT-base (128 tokens), on as many
   PEs as the network has tiles (x1) and on twice and four times as many.
"""

import time

import airchitect.workloads as wl
from airchitect.targets.cim.schedule import schedule

TARGET_S = 10.0


def timed(*args, **kwargs):
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        result = schedule(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return result, best


def main():
    net = wl.network("resnet50")  # traced once, outside the timing
    print("ResNet-50 on 1024 PEs (best of 3)")
    print(f"{'strategy':<12} {'duplication':<11} {'time_s':>8} {'x target':>9} {'x layer':>8} "
          f"{'makespan_us':>12} {'speedup':>8}")
    base = None
    for strategy in ("layer", "cross-layer"):
        for dup in (None, "auto"):
            s, sec = timed(net, 1024, strategy, dup)
            base = base or sec
            print(f"{strategy:<12} {str(dup):<11} {sec:8.3f} {sec / TARGET_S:9.4f} {sec / base:8.2f} "
                  f"{s.makespan_us:12.1f} {s.speedup_vs_layer:8.2f}")

    print()
    print("Schedules (256x256 crossbars, 8-bit weights and inputs, 1 output row per set)")
    print(f"{'network':<14} {'tiles':>6} {'PEs':>6} {'strategy':<12} {'dup':<5} "
          f"{'makespan_us':>12} {'util':>7} {'speedup':>8} {'util gain':>9} {'used-PE util gain':>17}")
    for name in ("vgg16", "resnet50", "bert-base-128"):
        table = wl.network(name)
        tiles = int(schedule(table, 2**24, "layer").layers.tiles.sum())
        for factor in (1, 2, 4):
            for strategy, dup in (("layer", None), ("cross-layer", None), ("layer", "auto"),
                                  ("cross-layer", "auto")):
                if factor == 1 and dup:
                    continue
                s = schedule(table, tiles * factor, strategy, dup)
                print(f"{name:<14} {tiles:6d} {tiles * factor:6d} {strategy:<12} {str(dup):<5} "
                      f"{s.makespan_us:12.1f} {s.utilization:7.4f} {s.speedup_vs_layer:8.2f} "
                      f"{s.utilization_vs_layer:9.2f} {s.utilization_used_vs_layer:17.2f}")


if __name__ == "__main__":
    main()

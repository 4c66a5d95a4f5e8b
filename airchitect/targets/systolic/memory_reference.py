"""Run the real SCALE-Sim 3.0.0 package in-process to get reference memory figures.

Used by the memory model's tests and benchmark. Every layer in one call shares
one configuration (array, SRAM sizes, bandwidth, dataflow), as in SCALE-Sim.

Example::

    >>> rows = run_scalesim_layers([("gemm", 8, 8, 8)], 4, 4, "os", 1, 1, 1, 2)
    >>> rows[0]["total_cycles"] > 0
    True
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile

#: report fields, in SCALE-Sim's order, as snake_case names
COMPUTE_FIELDS = (
    "total_cycles_incl_prefetch", "total_cycles", "stall_cycles",
    "overall_util", "mapping_efficiency", "compute_util",
)
BANDWIDTH_FIELDS = (
    "avg_ifmap_sram_bw", "avg_filter_sram_bw", "avg_ofmap_sram_bw",
    "avg_ifmap_dram_bw", "avg_filter_dram_bw", "avg_ofmap_dram_bw",
)
DETAIL_FIELDS = (
    "sram_ifmap_start_cycle", "sram_ifmap_stop_cycle", "sram_ifmap_reads",
    "sram_filter_start_cycle", "sram_filter_stop_cycle", "sram_filter_reads",
    "sram_ofmap_start_cycle", "sram_ofmap_stop_cycle", "sram_ofmap_writes",
    "dram_ifmap_start_cycle", "dram_ifmap_stop_cycle", "dram_ifmap_reads",
    "dram_filter_start_cycle", "dram_filter_stop_cycle", "dram_filter_reads",
    "dram_ofmap_start_cycle", "dram_ofmap_stop_cycle", "dram_ofmap_writes",
)


def _config_text(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb, bandwidth, mode):
    return f"""[general]
run_name = ref

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:    {ifmap_kb}
FilterSramSzkB:   {filter_kb}
OfmapSramSzkB:    {ofmap_kb}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {bandwidth}
Dataflow : {dataflow}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bandwidth}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bandwidth}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""


def run_scalesim_layers(layers, rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb,
                        bandwidth, mode="USER"):
    """Simulate ``layers`` with SCALE-Sim 3.0.0 and return one dict per layer.

    ``layers`` holds either ``("gemm", M, N, K)`` tuples or conv tuples
    ``("conv", ifmap_h, ifmap_w, filter_h, filter_w, channels, filters, stride)``;
    one call takes layers of a single kind. ``bandwidth`` (words/cycle) is
    written to ``Bandwidth`` and to both ``*SRAMBankBandwidth`` keys.
    The dicts carry every COMPUTE, BANDWIDTH and DETAILED_ACCESS report field.
    """
    from scalesim.scale_sim import scalesim

    kinds = {layer[0] for layer in layers}
    if len(kinds) != 1 or not kinds <= {"gemm", "conv"}:
        raise ValueError("layers must all be ('gemm', ...) or all ('conv', ...) tuples")
    gemm = kinds == {"gemm"}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "c.cfg")
        topo = os.path.join(tmp, "t.csv")
        layout = os.path.join(tmp, "l.csv")
        with open(cfg, "w") as f:
            f.write(_config_text(rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb,
                                 bandwidth, mode))
        with open(topo, "w") as f, open(layout, "w") as g:
            if gemm:
                f.write("Layer, M, N, K,\n")
            else:
                f.write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                        "Channels, Num Filter, Strides,\n")
            g.write("Layer name," + ",".join(["x"] * 20) + ",\n")
            for i, layer in enumerate(layers):
                f.write(f"l{i}, " + ", ".join(str(int(v)) for v in layer[1:]) + ",\n")
                g.write(f"l{i}," + ",".join(["1"] * 20) + ",\n")
        sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo,
                       layout=layout, input_type_gemm=gemm)
        with contextlib.redirect_stdout(io.StringIO()):
            sim.run_scale(top_path=os.path.join(tmp, "out"))
        out = []
        for layer_sim in sim.runner.single_layer_sim_object_list:
            row = dict(zip(COMPUTE_FIELDS, layer_sim.get_compute_report_items()))
            row.update(zip(BANDWIDTH_FIELDS, layer_sim.get_bandwidth_report_items()))
            row.update(zip(DETAIL_FIELDS, layer_sim.get_detail_report_items()))
            out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
        return out

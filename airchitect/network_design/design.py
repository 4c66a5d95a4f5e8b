"""A network's cost on one given accelerator: a SCALE-Sim config's array, dataflow and
SRAM sizes, whatever they are (the ``codesign`` space's grid need not hold them).

:func:`network_on_config` answers "what does my design cost on this network?" with
the same exact USER-mode model as :func:`airchitect.network_design.codesign`, so that
a design and the co-design optimum under its budget compare like for like: the
config gives the array (``ArrayHeight``, ``ArrayWidth``), ``Dataflow``, the three SRAM
sizes and ``Bandwidth``; the SRAM banks, ports and request buffers are those of the
co-design model (:func:`airchitect.systolic.simulate`'s defaults), whatever the file
says, and a config that needs more than the model (sparsity, Ramulator traces, a custom
layout) is refused.

Examples
--------
>>> import pathlib, tempfile
>>> cfg = pathlib.Path(tempfile.mkdtemp()) / "mine.cfg"
>>> _ = cfg.write_text("[architecture_presets]\\nArrayHeight: 8\\nArrayWidth: 8\\n"
...     "IfmapSramSzkB: 16\\nFilterSramSzkB: 16\\nOfmapSramSzkB: 8\\nIfmapOffset: 0\\n"
...     "FilterOffset: 10000000\\nOfmapOffset: 20000000\\nDataflow: ws\\nBandwidth: 4\\n"
...     "[run_presets]\\nInterfaceBandwidth: USER\\n")
>>> cost = network_on_config({"M": [64, 128], "N": [64, 32], "K": [32, 64]}, cfg)
>>> cost["config"]["dataflow"], bool(cost["cycles"] == cost["layers"]["cycles"].sum())
('ws', True)
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from airchitect._checks import check_int


def _config(config):
    from airchitect.targets.systolic.files import ScaleSimConfig, read_config

    if isinstance(config, (str, os.PathLike)):
        return read_config(config)
    if not isinstance(config, ScaleSimConfig):
        raise TypeError(f"config must be a SCALE-Sim .cfg path or a ScaleSimConfig, got "
                        f"{type(config).__name__}")
    return config


def config_bandwidth(config, bandwidth=None):
    """``bandwidth`` (words/cycle) if given, else the config's one ``Bandwidth`` value;
    ``ValueError`` naming the file where it has none or several."""
    if bandwidth is not None:
        return check_int("bandwidth", bandwidth, 1, 2**31 - 1)
    if len(config.bandwidth) != 1:
        raise ValueError(f"{config.path}: [architecture_presets] Bandwidth must be one integer to "
                         f"cost a design in USER mode (or give bandwidth), got "
                         f"{', '.join(map(str, config.bandwidth)) or 'none'}")
    return int(config.bandwidth[0])


def network_on_config(network, config, *, bandwidth=None, input_shape=None, input_dtype=None, batch=1):
    """Exact USER-mode cycles, energy and EDP of ``network`` on the accelerator of ``config``.

    Parameters
    ----------
    network :
        What :func:`airchitect.network_design.codesign` takes (a name, a GEMM table, a
        SCALE-Sim topology, a module with ``input_shape``) or its distinct layers
        (:class:`~airchitect.network_design.layers.NetworkLayers`).
    config : path or ScaleSimConfig
        A SCALE-Sim 3.0.0 ``.cfg``: its array, dataflow and SRAM sizes (kB); see the
        module docstring for the keys it does not set. A CALC-mode config is costed
        in USER mode too.
    bandwidth : int, optional
        DRAM bandwidth in words/cycle; default the config's ``Bandwidth``.

    Returns
    -------
    dict
        ``config`` (rows, cols, pes, dataflow, the three sizes in kB, bandwidth),
        ``cycles``, ``energy_pj`` (pJ), ``edp`` (pJ x cycles): count-weighted sums over
        the distinct GEMMs, each simulated once by :func:`airchitect.systolic.simulate`
        (its work bounds apply); ``layers``: one row per distinct GEMM with its
        ``cycles`` and ``energy_pj``.
    """
    from airchitect.network_design.layers import NetworkLayers, network_layers
    from airchitect.targets.systolic.simulate import simulate

    config = _config(config)
    for key, used in (("[sparsity] SparsitySupport", config.sparsity_support),
                      ("[run_presets] UseRamulatorTrace", config.use_ramulator_trace),
                      ("[layout] IfmapCustomLayout", config.ifmap_custom_layout),
                      ("[layout] FilterCustomLayout", config.filter_custom_layout)):
        if used:
            raise ValueError(f"{config.path}: {key} = true: a design is costed on the co-design "
                             f"model, which has no such feature (set it to false)")
    bandwidth = config_bandwidth(config, bandwidth)
    if isinstance(network, dict):
        network = pd.DataFrame(network)
    layers = network if isinstance(network, NetworkLayers) else network_layers(
        network, input_shape, batch=batch, input_dtype=input_dtype)
    table = layers.table
    report = simulate(table["M"].to_numpy(np.int64), table["N"].to_numpy(np.int64),
                      table["K"].to_numpy(np.int64), config.array_height, config.array_width,
                      config.dataflow, ifmap_kb=config.ifmap_sram_kb, filter_kb=config.filter_sram_kb,
                      ofmap_kb=config.ofmap_sram_kb, bandwidth=bandwidth, mode="user")
    counts = table["count"].to_numpy(np.int64)
    cycles = report["total_cycles"].to_numpy(np.float64)
    energy = report["energy_pj"].to_numpy(np.float64)
    total_cycles, total_energy = float(counts @ cycles), float(counts @ energy)
    per_layer = pd.DataFrame({"layers": table["layers"], "M": table["M"], "N": table["N"], "K": table["K"],
                              "count": table["count"], "cycles": cycles, "energy_pj": energy})
    return {"config": {"rows": config.array_height, "cols": config.array_width,
                       "pes": config.array_height * config.array_width, "dataflow": config.dataflow,
                       "ifmap_kb": config.ifmap_sram_kb, "filter_kb": config.filter_sram_kb,
                       "ofmap_kb": config.ofmap_sram_kb, "bandwidth": bandwidth},
            "cycles": total_cycles, "energy_pj": total_energy, "edp": total_energy * total_cycles,
            "layers": per_layer}

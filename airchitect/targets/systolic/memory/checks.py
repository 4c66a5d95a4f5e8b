"""Checked, broadcast inputs of the memory model's public functions.

Each function checks its arguments with the package's one configuration check
(:func:`airchitect.targets.systolic.config.check_config`; a bad one raises,
naming it), broadcasts them (numpy rules) and returns geometry vectors
(:mod:`airchitect.targets.systolic.geometry`) and flat int64 arrays in C order of
the broadcast shape.
"""

from __future__ import annotations

import numpy as np

from airchitect._checks import INT_MAX, check_int_array
from airchitect.targets.systolic.config import check_config
from airchitect.targets.systolic.geometry import conv_geometry, gemm_geometry


def _checked(layer, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth, to_geometry):
    config = check_config(rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth,
                          dataflow_field="dataflow_code")
    mem = (config.ifmap_kb, config.filter_kb, config.ofmap_kb, config.bandwidth)
    shape = np.broadcast_shapes(*(np.shape(a) for a in (*layer, config.rows, config.cols,
                                                         config.code, *mem)))
    G = to_geometry(*(np.broadcast_to(a, shape) for a in (*layer, config.rows, config.cols,
                                                           config.code)))
    return (G, *(np.broadcast_to(a, shape).ravel() for a in mem))


def checked_gemms(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth):
    """Check GEMMs ``(M, N, K)`` and their arrays: ``(G, ifmap_kb, filter_kb, ofmap_kb,
    bandwidth)``, the geometry vectors (n, 13) and flat int64 arrays (kB, words/cycle)."""
    gemm = [check_int_array(n, v, 1, INT_MAX) for n, v in (("M", M), ("N", N), ("K", K))]
    return _checked(gemm, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth,
                    gemm_geometry)


def checked_convs(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, rows, cols,
                  dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth):
    """:func:`checked_gemms` for conv layers in SCALE-Sim's conv topology format."""
    layer = [check_int_array(n, v, 1, INT_MAX) for n, v in
             (("ifmap_h", ifmap_h), ("ifmap_w", ifmap_w), ("filter_h", filter_h),
              ("filter_w", filter_w), ("channels", channels), ("num_filters", num_filters),
              ("stride", stride))]
    return _checked(layer, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth,
                    conv_geometry)

"""SCALE-Sim 3.0.0's memory system in USER bandwidth mode, exact and vectorised.

SCALE-Sim replays every SRAM address of a layer in Python (minutes per GEMM
when the buffers are small). This module gives the same figures -- stall
cycles, total cycles, DRAM traffic per operand, SRAM and DRAM start/stop
cycles, average bandwidths -- from streamed, fold-by-fold numba models, one
workload at a time inside a compiled loop.

Modules (one concept each):

* the buffers SCALE-Sim has: :mod:`.read_buffer` (USER-mode read SRAM),
  :mod:`.write_buffer` (OFMAP SRAM), :mod:`.estimate_buffer` (CALC-mode read
  SRAM), and :mod:`.prefetch` (the order in which a read buffer fetches);
* three models over them: :mod:`.rows` (every demand row; all report fields),
  :mod:`.events` (dense GEMMs, only the rows where something happens; exact
  totals, or a cheaper estimate), :mod:`.splits` with :mod:`.split_reads` (each
  buffer alone at each share of one SRAM budget: the ``buffer`` task's ranking);
* CALC mode in closed form: :mod:`.calc_dram` (DRAM reads and start cycles),
  :mod:`.calc_drain` (the OFMAP drain);
* :mod:`.checks`: checked, broadcast inputs.

:func:`user_mode` is the entry point; ``method`` picks the model.

Conventions
-----------
``convention="scalesim-3.0"`` (default) reproduces SCALE-Sim 3.0.0, quirks
included. ``convention="corrected"`` departs in two places, both in the read
buffers (see :mod:`.read_buffer`):

* a positive prefetch stall is counted once (SCALE-Sim adds it twice, and adds a
  negative one once, in ``read_buffer.service_reads``);
* a prefetch starts no earlier than the miss that triggers it (SCALE-Sim times
  it from the end of the previous prefetch, ``read_buffer.new_prefetch``).

SCALE-Sim 3.0.0 in USER mode takes the ifmap and filter DRAM bandwidth from the
``[layout]`` ``IfmapSRAMBankBandwidth`` / ``FilterSRAMBankBandwidth`` keys and only
the OFMAP drain from ``Bandwidth``. :func:`user_mode` takes one ``bandwidth`` for
all three; :func:`simulate_geometry` (what ``ac.systolic.simulate`` calls) also
takes the two read bandwidths apart, and the custom layouts with their bank
conflicts (``custom``, ``layouts``, ``banks``; see
:func:`~.read_buffer.serve_layout` and :mod:`airchitect.targets.systolic.layout`).

Units: sizes in kB (1 kB = 1024 one-byte words, SCALE-Sim's word size),
bandwidths in words/cycle, cycles as SCALE-Sim counts them (the DRAM start
cycles of the first prefetch are negative: it happens before cycle 0).

Examples
--------
>>> out = user_mode(64, 64, 64, 8, 8, 0, 1, 1, 1, 2)  # SCALE-Sim 3.0.0 gives the same
>>> int(out["total_cycles"][0]), int(out["stall_cycles"][0])
(116383, 111392)
"""
from __future__ import annotations

from airchitect._checks import check_choice
from airchitect.targets.systolic.config import CONVENTIONS, WORDS_PER_KB
from airchitect.targets.systolic.energy import add_energy
from airchitect.targets.systolic.geometry import conv_geometry, gemm_geometry, geometry
from airchitect.targets.systolic.memory.calc_drain import calc_ofmap_drain
from airchitect.targets.systolic.memory.calc_dram import calc_dram_reads, calc_dram_start
from airchitect.targets.systolic.memory.checks import checked_convs, checked_gemms
from airchitect.targets.systolic.memory.events import (
    estimate_user_mode, read_windows, run_geometry, user_mode_totals,
)
from airchitect.targets.systolic.memory.rows import OUT_FIELDS, simulate_geometry

#: integer-valued output fields of :func:`user_mode` (``method="rows"``), then the derived ones
COUNT_FIELDS = OUT_FIELDS + ("sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes")
RATE_FIELDS = (
    "overall_util", "energy_pj", "edp",
    "avg_ifmap_sram_bw", "avg_filter_sram_bw", "avg_ofmap_sram_bw",
    "avg_ifmap_dram_bw", "avg_filter_dram_bw", "avg_ofmap_dram_bw",
)
#: the models :func:`user_mode` can run
METHODS = ("rows", "events", "estimate")

__all__ = [
    "user_mode", "user_mode_conv", "calc_mode", "user_mode_totals", "estimate_user_mode",
    "simulate_geometry", "checked_gemms", "checked_convs", "add_energy", "calc_dram_reads",
    "calc_dram_start", "calc_ofmap_drain", "read_windows", "run_geometry", "geometry",
    "gemm_geometry", "conv_geometry", "CONVENTIONS", "COUNT_FIELDS", "RATE_FIELDS", "METHODS",
    "WORDS_PER_KB",
]


def user_mode(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth,
              convention="scalesim-3.0", method="rows"):
    """SCALE-Sim 3.0.0 USER-mode memory figures of GEMMs, vectorised.

    Every argument broadcasts (numpy rules); results are flat arrays in C order
    of the broadcast shape.

    Parameters
    ----------
    M, N, K : int or array_like of int
        GEMM ``C[M, N] = A[M, K] @ B[K, N]``.
    rows, cols : int or array_like of int
        Array height and width in PEs.
    dataflow_code : int or array_like of int
        0 = os, 1 = ws, 2 = is.
    ifmap_kb, filter_kb, ofmap_kb : int or array_like of int
        SRAM sizes in kB (1024 words each).
    bandwidth : int or array_like of int
        DRAM bandwidth in words/cycle, for all three operands.
    convention : {"scalesim-3.0", "corrected"}
        ``"corrected"`` only with ``method="rows"``.
    method : {"rows", "events", "estimate"}
        ``"rows"``: the row model (:mod:`.rows`), every field below.
        ``"events"``: the event model (:func:`~.events.user_mode_totals`), the
        same totals, DRAM and SRAM counts, ``energy_pj`` and ``edp``, faster,
        without the start/stop cycles and bandwidths. ``"estimate"``: its
        cheaper mode (:func:`~.events.estimate_user_mode`), estimated
        ``total_cycles`` and ``ofmap_stall_cycles``, exact prefetch and DRAM
        read counts.

    Returns
    -------
    dict of str -> numpy.ndarray
        For ``"rows"``: ``COUNT_FIELDS`` (int64: cycles, words) and
        ``RATE_FIELDS`` (float64: ``overall_util`` in percent, bandwidths in
        words/cycle, ``energy_pj`` in pJ with the default
        :mod:`~airchitect.targets.systolic.energy` model, ``edp`` in pJ x
        cycles), named after SCALE-Sim's report columns.

    Examples
    --------
    >>> out = user_mode(32, 32, 32, 8, 8, [0, 1, 2], 1, 1, 1, 1)
    >>> out["stall_cycles"].tolist()  # as SCALE-Sim 3.0.0 reports them
    [7656, 7344, 7344]
    >>> user_mode(32, 32, 32, 8, 8, [0, 1, 2], 1, 1, 1, 1, method="events")["stall_cycles"].tolist()
    [7656, 7344, 7344]
    """
    method = check_choice("method", method, METHODS)
    convention = check_choice("convention", convention, CONVENTIONS)
    args = (M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth)
    if method != "rows" and convention != "scalesim-3.0":
        raise ValueError(f"method={method!r} models convention 'scalesim-3.0' only")
    if method == "events":
        return user_mode_totals(*args)
    if method == "estimate":
        return estimate_user_mode(*args)
    return simulate_geometry(*checked_gemms(*args), convention=convention)


def user_mode_conv(ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, rows,
                   cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb, bandwidth,
                   convention="scalesim-3.0"):
    """:func:`user_mode` (the row model) for conv layers in SCALE-Sim's conv topology format.

    The ifmap operand is SCALE-Sim's im2col matrix, whose addresses repeat across
    overlapping windows (and are empty past the edge when the stride does not
    divide the image); a read hits when any buffer set holding the address is
    active, exactly as SCALE-Sim's hashed buffer decides.

    Examples
    --------
    >>> out = user_mode_conv(8, 8, 3, 3, 4, 8, 1, 4, 4, 0, 1, 1, 1, 1)
    >>> int(out["total_cycles"][0]) > 0
    True
    """
    return simulate_geometry(*checked_convs(ifmap_h, ifmap_w, filter_h, filter_w, channels,
                                            num_filters, stride, rows, cols, dataflow_code,
                                            ifmap_kb, filter_kb, ofmap_kb, bandwidth),
                             convention=convention)


def calc_mode(M, N, K, rows, cols, dataflow_code, ifmap_kb, filter_kb, ofmap_kb):
    """SCALE-Sim 3.0.0 CALC-mode memory figures of GEMMs (its estimate buffers),
    vectorised like :func:`user_mode`; same output fields.

    Examples
    --------
    >>> out = calc_mode(64, 64, 64, 8, 8, 0, 1, 1, 1)
    >>> int(out["dram_ifmap_reads"][0]) >= 64 * 64
    True
    """
    # CALC mode has no DRAM bandwidth: 1 stands in for it
    return simulate_geometry(*checked_gemms(M, N, K, rows, cols, dataflow_code, ifmap_kb,
                                            filter_kb, ofmap_kb, 1), mode="calc")

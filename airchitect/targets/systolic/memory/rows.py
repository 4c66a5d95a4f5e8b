"""The row model: SCALE-Sim 3.0.0's memory system replayed demand row by demand row.

One demand row is one array cycle when nothing stalls. Fold by fold, in
SCALE-Sim's order, each row's reads go to the two read buffers
(:mod:`~airchitect.targets.systolic.memory.read_buffer`, or in CALC mode the
estimate buffers of :mod:`~airchitect.targets.systolic.memory.estimate_buffer`)
and its writes to the write buffer
(:mod:`~airchitect.targets.systolic.memory.write_buffer`); a row is served when
all three answer. Quiet folds (no miss, no drain, no stall) are jumped over in
O(1), conv folds too once the whole ifmap fits its window. The only arrays of
operand size are the set index of every conv ifmap address (USER mode, only when
the ifmap does not fit) and, in CALC mode, one entry per operand word; never a
demand matrix.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from airchitect._checks import check_choice
from airchitect._math import ceil_div
from airchitect.targets.systolic import energy
from airchitect.targets.systolic.config import CONVENTIONS, MODES, WORDS_PER_KB
from airchitect.targets.systolic.layout import (
    FILTER_OFFSET, filter_order, ifmap_order, line_columns,
)
from airchitect.targets.systolic.geometry import (
    G_C, G_CH, G_DENSE, G_FW, G_H, G_NF, G_R, G_W, G_WN, fold_grid, fold_span, geometry_macs, row_runs,
)
from airchitect.targets.systolic.memory.estimate_buffer import (
    CALC_READ_BW, SETS_HALF, estimate_finish, estimate_row, estimate_state,
)
from airchitect.targets.systolic.memory.prefetch import (
    D_COLS, D_ROWS, filter_addrs, ifmap_addrs, ifmap_valid, operand_layout, position,
    prefetch_order, valid_words,
)
from airchitect.targets.systolic.memory.read_buffer import (
    build_sets, first_row, read_state, read_state_sets, serve_addrs, serve_layout, serve_run,
)
from airchitect.targets.systolic.memory.write_buffer import (
    empty_all, serve_writes, store, write_state,
)


# output vector layout (float64)
OUT_FIELDS = (
    "total_cycles_incl_prefetch", "total_cycles", "stall_cycles",
    "sram_ifmap_start_cycle", "sram_ifmap_stop_cycle",
    "sram_filter_start_cycle", "sram_filter_stop_cycle",
    "sram_ofmap_start_cycle", "sram_ofmap_stop_cycle",
    "dram_ifmap_start_cycle", "dram_ifmap_stop_cycle", "dram_ifmap_reads",
    "dram_filter_start_cycle", "dram_filter_stop_cycle", "dram_filter_reads",
    "dram_ofmap_start_cycle", "dram_ofmap_stop_cycle", "dram_ofmap_writes",
)
N_OUT = len(OUT_FIELDS)
# custom-layout vector (int64) of simulate_one: per read buffer (ifmap at 0, filter at
# L_FILTER) whether its custom layout is on, words per bank, banks, ports per bank and the
# laid-out operand's words (padding included)
L_ON, L_BANK_WORDS, L_BANKS, L_PORTS, L_ELEMS = range(5)
L_FILTER = 5
NO_LAYOUT = np.zeros(2 * L_FILTER, np.int64)
_NO_SETS = np.zeros(1, np.int64)


@njit(cache=True, inline="always")
def _fold_hits(st, d, eps, r0, c0, n0, r1, c1, n1):
    """Whether every word of a fold (rows given by their first and last runs)
    lies in sets of the active window, so that the fold cannot miss."""
    if st[0].all_fit == 1:
        return True
    a = position(d, r0, c0)
    b = position(d, r1, c1)
    lo = min(a, b) // eps
    hi = max(a + n0 - 1, b + n1 - 1) // eps
    start = st[0].start
    end = st[0].end
    if start < end:
        return start <= lo and hi < end
    return lo >= start or hi < end


@njit(cache=True)
def simulate_one(g, ifmap_words, filter_words, ofmap_words, bw_ifmap, bw_filter,
                 bw_ofmap, convention, out, calc, lay, iline, icolumn, fline, fcolumn):
    """Simulate one layer; write the OUT_FIELDS figures to ``out``.

    ``g`` is the geometry vector (:func:`~airchitect.targets.systolic.geometry.geometry`); sizes are in words.
    ``calc`` replaces the read buffers by CALC mode's estimate buffers (which
    never stall; ``bw_ifmap``/``bw_filter`` are then unused).
    ``lay`` (the ``L_*`` vector) switches a read buffer to its custom layout (USER
    mode only); its sets and columns by address id are then ``iline, icolumn``
    (ifmap) and ``fline, fcolumn`` (filter), from
    :func:`~airchitect.targets.systolic.layout.line_columns`.
    """
    R = g[G_R]
    C = g[G_C]
    dense = g[G_DENSE] == 1
    idesc = operand_layout(g, np.int64(0))  # int64, not literals: one compilation, as the event model's
    fdesc = operand_layout(g, np.int64(1))
    ieps = ceil_div(ifmap_words, 100)
    feps = ceil_div(filter_words, 100)
    ne_i = idesc[D_ROWS] * idesc[D_COLS]
    ion = lay[L_ON] == 1 and not calc
    fon = lay[L_FILTER + L_ON] == 1 and not calc
    lay_conv = 2 if convention == 0 else convention
    if fon:
        fst = read_state_sets(filter_words, bw_filter, g[G_WN] * g[G_NF],
                              lay[L_FILTER + L_ELEMS], lay_conv, bw_filter)
        fstamp = np.zeros(fst[0].n_lines * lay[L_FILTER + L_BANKS], np.int64)
        fcount = np.zeros(lay[L_FILTER + L_BANKS], np.int64)
    else:
        fst = read_state(filter_words, bw_filter, valid_words(fdesc),
                         fdesc[D_ROWS] * fdesc[D_COLS], convention)
        fstamp = np.zeros(1, np.int64)
        fcount = fstamp
    istamp = np.zeros(1, np.int64)
    icount = istamp
    iptr = np.zeros(1, np.int64)
    iidx = np.zeros(1, np.int32)
    if ion:
        ist = read_state_sets(ifmap_words, bw_ifmap, g[G_H] * g[G_W] * g[G_CH], lay[L_ELEMS],
                              lay_conv, bw_ifmap)
        istamp = np.zeros(ist[0].n_lines * lay[L_BANKS], np.int64)
        icount = np.zeros(lay[L_BANKS], np.int64)
    elif dense:
        ist = read_state(ifmap_words, bw_ifmap, valid_words(idesc), ne_i,
                           convention)
    else:
        # the set index is needed only when a row can miss (USER mode, not all sets fit)
        ist = read_state(ifmap_words, bw_ifmap, ifmap_valid(g), ne_i, convention)
        if not calc and ist[0].all_fit == 0:
            order = np.empty(ne_i, np.int64)
            nv, _ = prefetch_order(g, 0, order)
            iptr, iidx = build_sets(order, nv, g[G_H] * g[G_W] * g[G_CH], ieps)
    # a conv ifmap whose sets all fit never misses: its folds may be jumped over too
    i_fit = not dense and not ion and not calc and ist[0].all_fit == 1

    wst = write_state(ofmap_words, bw_ofmap)
    lines = np.zeros((64, 2), np.int64)
    iest = estimate_state(ifmap_words)
    fest = estimate_state(filter_words)
    # CALC mode, closed form: an operand with fewer distinct words than the estimate
    # buffer's 50 sets never triggers a prefetch before the end; every word is
    # fetched once, by complete_all_prefetches, in the cycles before -1.
    i_once = calc and dense and valid_words(idesc) < SETS_HALF * iest[0].items
    f_once = calc and valid_words(fdesc) < SETS_HALF * fest[0].items
    if calc:
        n_ids = valid_words(idesc) if dense else g[G_H] * g[G_W] * g[G_CH]
        ilatest = np.full(n_ids, -1, np.int64)
        flatest = np.full(valid_words(fdesc), -1, np.int64)
    else:
        ilatest = np.zeros(1, np.int64)
        flatest = ilatest

    n_outer, n_inner, per, sr, sc, t = fold_grid(g)
    ia = np.empty(max(R, C), np.int64)
    fa = np.empty(max(R, C), np.int64)
    if not calc:
        # SCALE-Sim fills both active halves on the first demand row (cycle 0)
        first_row(ist, 0)
        first_row(fst, 0)
    stall = 0
    row = 0
    i_first = -1
    i_last = 0
    f_first = -1
    f_last = 0
    o_first = -1
    o_last = 0
    out_o = np.int64(0)  # int64, not a literal: empty_all compiles once
    for fc in range(n_outer):
        cv = min(C, sc - fc * C)
        for fr in range(n_inner):
            rv = min(R, sr - fr * R)
            if ((dense or i_fit) and not ion and not fon
                    and (not calc or (i_once and f_once))):
                # closed form for a quiet fold: no miss, no drain, no stall
                i_lo, i_hi, f_lo, f_hi, o_lo, o_hi, words = fold_span(g, rv, cv, t)
                cycle = row + stall
                free = wst[0].free
                quiet_writes = ((cycle >= wst[0].drain_end and free - words >= wst[0].active)
                                or (cycle + per - 1 < wst[0].drain_end and free - words >= 1))
                if quiet_writes and calc:
                    quiet = True
                elif quiet_writes:
                    r0, c0, n0, q0, e0, m0, _ = row_runs(g, fc, fr, i_lo, rv, cv, t)
                    r1, c1, n1, _, _, _, _ = row_runs(g, fc, fr, i_hi, rv, cv, t)
                    quiet = _fold_hits(ist, idesc, ieps, r0, c0, n0, r1, c1, n1)
                    if quiet:
                        _, _, _, q0, e0, m0, _ = row_runs(g, fc, fr, f_lo, rv, cv, t)
                        _, _, _, q1, e1, m1, _ = row_runs(g, fc, fr, f_hi, rv, cv, t)
                        quiet = _fold_hits(fst, fdesc, feps, q0, e0, m0, q1, e1, m1)
                else:
                    quiet = False
                if quiet and i_fit:
                    # rows whose im2col addresses all lie past the edge read nothing
                    while i_lo <= i_hi and ifmap_addrs(g, fc, fr, i_lo, rv, cv, t, ia) == 0:
                        i_lo += 1
                    while i_hi >= i_lo and ifmap_addrs(g, fc, fr, i_hi, rv, cv, t, ia) == 0:
                        i_hi -= 1
                if quiet:
                    if i_lo <= i_hi:
                        if i_first < 0:
                            i_first = cycle + i_lo + 1
                        i_last = cycle + i_hi + 1
                    if f_first < 0:
                        f_first = cycle + f_lo + 1
                    f_last = cycle + f_hi + 1
                    if words > 0:
                        if o_first < 0:
                            o_first = cycle + o_lo
                        o_last = cycle + o_hi
                    store(wst, lines, words)
                    out_o = cycle + per - 1
                    row += per
                    continue
            for j in range(per):
                cycle = row + stall
                ir, ic, ni, fr_, fcol, nf, no = row_runs(g, fc, fr, j, rv, cv, t)
                if calc:
                    if dense:
                        p = position(idesc, ir, ic) if ni > 0 and not i_once else 0
                    else:
                        ni = ifmap_addrs(g, fc, fr, j, rv, cv, t, ia)
                        p = 0
                    out_i = estimate_row(iest, ilatest, p, 0 if i_once else ni, ia, not dense,
                                          cycle)
                    p = position(fdesc, fr_, fcol) if nf > 0 and not f_once else 0
                    out_f = estimate_row(fest, flatest, p, 0 if f_once else nf, ia, False, cycle)
                elif ion:
                    ni = ifmap_addrs(g, fc, fr, j, rv, cv, t, ia)
                    out_i = serve_layout(ist, iline, icolumn, ia, ni, cycle, lay[L_BANK_WORDS],
                                         lay[L_BANKS], lay[L_PORTS], istamp, icount, row + 1)
                elif dense:
                    if ni > 0 and ist[0].all_fit == 0:
                        p = position(idesc, ir, ic)
                    else:
                        p = 0
                    out_i = serve_run(ist, p, ni, ieps, cycle)
                else:
                    ni = ifmap_addrs(g, fc, fr, j, rv, cv, t, ia)
                    out_i = serve_addrs(ist, iptr, iidx, ia, ni, cycle)
                if fon:
                    nf = filter_addrs(g, fc, fr, j, rv, cv, t, fa)
                    out_f = serve_layout(fst, fline, fcolumn, fa, nf, cycle,
                                         lay[L_FILTER + L_BANK_WORDS], lay[L_FILTER + L_BANKS],
                                         lay[L_FILTER + L_PORTS], fstamp, fcount, row + 1)
                elif not calc:
                    if nf > 0 and fst[0].all_fit == 0:
                        p = position(fdesc, fr_, fcol)
                    else:
                        p = 0
                    out_f = serve_run(fst, p, nf, feps, cycle)
                out_o, lines = serve_writes(wst, lines, no, cycle)
                if ni > 0:
                    if i_first < 0:
                        i_first = out_i
                    i_last = out_i
                if nf > 0:
                    if f_first < 0:
                        f_first = out_f
                    f_last = out_f
                if no > 0:
                    if o_first < 0:
                        o_first = out_o
                    o_last = out_o
                stall += max(out_i - cycle - 1, out_f - cycle - 1, out_o - cycle)
                row += 1
    total_cycles = out_o
    lines = empty_all(wst, lines, out_o)
    if calc:
        for once, st_, d in ((i_once, iest, idesc), (f_once, fest, fdesc)):
            if once:
                words = valid_words(d)
                st_[0].access = words
                st_[0].dram_start = -ceil_div(ceil_div(words, st_[0].items) * st_[0].items,
                                            CALC_READ_BW)
                st_[0].dram_stop = -1
            else:
                estimate_finish(st_)
        ist[0].dram_start = iest[0].dram_start
        ist[0].last = iest[0].dram_stop
        fst[0].dram_start = fest[0].dram_start
        fst[0].last = fest[0].dram_stop

    out[0] = wst[0].dram_stop - min(ist[0].dram_start, fst[0].dram_start)
    out[1] = total_cycles
    out[2] = stall
    out[3] = i_first
    out[4] = i_last
    out[5] = f_first
    out[6] = f_last
    out[7] = o_first
    out[8] = o_last
    out[9] = ist[0].dram_start
    out[10] = ist[0].last
    out[11] = iest[0].access if calc else (ist[0].req0 + ist[0].n_prefetch * ist[0].req1) * ist[0].bw
    out[12] = fst[0].dram_start
    out[13] = fst[0].last
    out[14] = fest[0].access if calc else (fst[0].req0 + fst[0].n_prefetch * fst[0].req1) * fst[0].bw
    out[15] = wst[0].dram_start
    out[16] = wst[0].dram_stop
    out[17] = wst[0].access


@njit(cache=True)
def simulate_many(G, words, bws, convention, calc, out):
    """:func:`simulate_one` over the rows of ``G``, ``words`` (n, 3: ifmap, filter,
    ofmap SRAM words), ``bws`` (n, 3: words/cycle), into ``out`` (n, N_OUT)."""
    for n in range(G.shape[0]):
        simulate_one(G[n], words[n, 0], words[n, 1], words[n, 2], bws[n, 0], bws[n, 1],
                     bws[n, 2], convention, out[n], calc, NO_LAYOUT, _NO_SETS, _NO_SETS,
                     _NO_SETS, _NO_SETS)


def _layout_args(g, layout, on, bws, banks, ports):
    """``simulate_one``'s custom-layout arguments for geometry vector ``g``: the
    ``L_*`` vector and the (set, column) arrays of ifmap and filter. ``on``,
    ``bws`` (read bandwidths), ``banks``, ``ports``: (ifmap, filter) pairs."""
    lay = NO_LAYOUT.copy()
    sets = [_NO_SETS, _NO_SETS, _NO_SETS, _NO_SETS]
    dims = [(g[G_H], g[G_W], g[G_CH]),
            (g[G_NF], g[G_CH], g[G_WN] // (g[G_FW] * g[G_CH]), g[G_FW])]
    for k, (order_of, offset) in enumerate(((ifmap_order, 0), (filter_order, FILTER_OFFSET))):
        if not on[k]:
            continue
        order = order_of(layout, *(int(d) for d in dims[k]))
        base = k * L_FILTER
        lay[base + L_ON] = 1
        lay[base + L_BANK_WORDS] = bws[k] // banks[k]
        lay[base + L_BANKS] = banks[k]
        lay[base + L_PORTS] = ports[k]
        lay[base + L_ELEMS] = order.size
        sets[2 * k], sets[2 * k + 1] = line_columns(order, int(np.prod(dims[k])), int(bws[k]),
                                                    offset)
    return lay, sets


def simulate_geometry(G, ifmap_kb, filter_kb, ofmap_kb, bandwidth, convention="scalesim-3.0",
                      mode="user", energy_model=energy.DEFAULT, *, ifmap_bandwidth=None,
                      filter_bandwidth=None, custom=None, layouts=None, banks=None):
    """Run the row model on geometry vectors ``G`` (n, 13); see
    :func:`~airchitect.targets.systolic.memory.user_mode`.

    ``mode="calc"`` gives SCALE-Sim's CALC-mode figures instead: estimate read
    buffers (10 words/cycle, never stalling) and an OFMAP drain of ``cols``
    words/cycle; ``bandwidth`` and ``convention`` are then unused.
    ``energy_model`` (:class:`~airchitect.targets.systolic.energy.EnergyModel`)
    sets the ``energy_pj`` and ``edp`` columns.

    USER mode, SCALE-Sim's ``[layout]`` keys (no checks here; see
    :func:`airchitect.systolic.simulate`): ``ifmap_bandwidth``,
    ``filter_bandwidth`` (words/cycle, default ``bandwidth``) feed the read
    buffers from DRAM, ``bandwidth`` drains the OFMAP; ``custom`` (n, 2) bool
    switches the ifmap / filter custom layout on, with ``layouts`` (n,) of
    :class:`~airchitect.targets.systolic.layout.Layout` and ``banks`` (n, 4):
    ifmap banks, ifmap ports per bank, filter banks, filter ports per bank.
    """
    convention = check_choice("convention", convention, CONVENTIONS)
    mode = check_choice("mode", mode, MODES)
    n = G.shape[0]
    kb = np.broadcast_arrays(*(np.broadcast_to(np.asarray(v, dtype=np.int64), (n,))
                               for v in (ifmap_kb, filter_kb, ofmap_kb)))
    words = np.stack(kb, axis=1) * WORDS_PER_KB
    bw = np.broadcast_to(np.asarray(bandwidth, dtype=np.int64), (n,))
    bws = np.repeat(bw[:, None], 3, axis=1)
    for k, value in enumerate((ifmap_bandwidth, filter_bandwidth)):
        if value is not None:
            bws[:, k] = np.broadcast_to(np.asarray(value, dtype=np.int64), (n,))
    if mode == "calc":
        bws[:, 0] = bws[:, 1] = CALC_READ_BW
        bws[:, 2] = G[:, G_C]
    raw = np.zeros((n, N_OUT), dtype=np.float64)
    G = np.ascontiguousarray(G)
    words = np.ascontiguousarray(words)
    laid = (np.zeros(n, bool) if custom is None or mode == "calc"
            else np.broadcast_to(custom, (n, 2)).any(axis=1))
    if laid.any():
        plain = np.flatnonzero(~laid)
        part = np.zeros((plain.size, N_OUT), dtype=np.float64)
        simulate_many(G[plain], words[plain], bws[plain], CONVENTIONS.index(convention), False,
                      part)
        raw[plain] = part
        custom = np.broadcast_to(custom, (n, 2))
        banks = np.broadcast_to(banks, (n, 4))
        layouts = np.broadcast_to(np.asarray(layouts, dtype=object), (n,))
        for i in np.flatnonzero(laid):
            lay, sets = _layout_args(G[i], layouts[i], custom[i], bws[i], banks[i, ::2],
                                     banks[i, 1::2])
            simulate_one(G[i], words[i, 0], words[i, 1], words[i, 2], bws[i, 0], bws[i, 1],
                         bws[i, 2], CONVENTIONS.index(convention), raw[i], False, lay, *sets)
    else:
        simulate_many(G, words, bws, CONVENTIONS.index(convention), mode == "calc", raw)
    out = {name: raw[:, i].astype(np.int64) for i, name in enumerate(OUT_FIELDS)}
    out = energy.add_energy(G, np.stack(kb, axis=1), out, energy_model)
    total = out["total_cycles"]
    macs = geometry_macs(G)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["overall_util"] = (macs * 100) / (total * G[:, G_R] * G[:, G_C])
        for op, count in (("ifmap", "sram_ifmap_reads"), ("filter", "sram_filter_reads"),
                          ("ofmap", "sram_ofmap_writes")):
            out[f"avg_{op}_sram_bw"] = out[count] / total
        for op, count in (("ifmap", "dram_ifmap_reads"), ("filter", "dram_filter_reads"),
                          ("ofmap", "dram_ofmap_writes")):
            span = (out[f"dram_{op}_stop_cycle"] - out[f"dram_{op}_start_cycle"] + 1.0)
            out[f"avg_{op}_dram_bw"] = out[count] / span
    return out

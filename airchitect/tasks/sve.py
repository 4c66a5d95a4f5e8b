"""The ``sve`` task: vector length and register tile of a GEMM on Arm SVE.

Inputs per workload: ``M``, ``N``, ``K`` (1..16384, log-uniform), ``dtype``
(f32, bf16, i8) and ``max_vl_bits`` (the longest vector length the hardware
may have, 128..2048). A configuration (label) is ``(vl_bits, m0, n_v, u)``;
its reduction tile is ``k0 = u * DOT_WIDTH[dtype]``, so the label vocabulary
is the same for every element type. The space holds every vector length in
``VL_BITS`` times every legal tile with ``m0`` in 1..16, ``n_v`` in 1..4,
``u`` in 1, 2, 4 (615 labels, sorted by ``(vl_bits, m0, n_v, u)``).
Configurations with ``vl_bits > max_vl_bits`` cost ``inf`` for that row.
Objective: :func:`airchitect.targets.sve.model.simulate` ``cycles`` on a core
(default the Neoverse-V1-like ``v1``), or ``instructions``. Tie-break
(:func:`tiebreak_keys`): fewer cycles, then shorter vector length, then fewer
registers, then smaller m0, n_v, u. The full definition is in ``docs/tasks.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from airchitect._checks import check_choice, check_choice_array, check_int, check_int_array
from airchitect.targets.sve.config import DOT_WIDTH, DTYPES, M0_RANGE, N_V_RANGE, UNROLLS, VL_BITS, is_legal, registers
from airchitect.targets.sve.model import CORES, evaluate
from airchitect.tasks.base import checked_sample, Task, tiebroken_argmin

OBJECTIVES = ("cycles", "instructions")
MAX_DIM = 16384


def design_space(max_vl_bits=2048, dtype="f32"):
    """Every ``vl_bits <= max_vl_bits`` times every legal tile, as a DataFrame.

    Columns ``vl_bits, m0, n_v, u, k0, n0, registers``; rows sorted by
    ``(vl_bits, m0, n_v, u)`` (the tie-break order after cycles and
    registers).

    >>> len(design_space(2048)), len(design_space(128))
    (615, 123)
    """
    max_vl_bits = check_int("max_vl_bits", max_vl_bits, 128, 2048)
    if max_vl_bits not in VL_BITS:
        raise ValueError(f"max_vl_bits must be one of {', '.join(map(str, VL_BITS))}; got {max_vl_bits}")
    dtype = check_choice("dtype", dtype, DTYPES)
    vl, m0, n_v, u = (a.ravel() for a in np.meshgrid(
        [v for v in VL_BITS if v <= max_vl_bits], np.arange(M0_RANGE[0], M0_RANGE[1] + 1),
        np.arange(N_V_RANGE[0], N_V_RANGE[1] + 1), UNROLLS, indexing="ij"))
    keep = is_legal(m0, n_v, u)
    df = pd.DataFrame({"vl_bits": vl[keep], "m0": m0[keep], "n_v": n_v[keep], "u": u[keep]})
    df["k0"] = df.u * DOT_WIDTH[dtype]
    df["n0"] = df.n_v * df.vl_bits // 32
    df["registers"] = registers(df.m0, df.n_v, df.u)
    return df.reset_index(drop=True)


def sample_inputs(n, seed=0):
    """``n`` seeded workloads: M, N, K log-uniform in 1..16384, dtype and max_vl_bits uniform.

    >>> sample_inputs(3, seed=0).columns.tolist()
    ['M', 'N', 'K', 'dtype', 'max_vl_bits']
    """
    n = check_int("n", n, 0)
    rng = np.random.default_rng(seed)
    dims = np.floor(np.exp(rng.uniform(0, np.log(MAX_DIM + 1), size=(3, n)))).astype(np.int64)
    dims = np.clip(dims, 1, MAX_DIM)
    return pd.DataFrame({
        "M": dims[0], "N": dims[1], "K": dims[2],
        "dtype": np.asarray(DTYPES)[rng.integers(0, len(DTYPES), n)],
        "max_vl_bits": np.asarray(VL_BITS)[rng.integers(0, len(VL_BITS), n)],
    })


def task_costs(inputs, space, objective="cycles", core="v1"):
    """Cost of every configuration for every workload: ``(n_workloads, n_configs)``.

    ``inputs`` has columns M, N, K, dtype, max_vl_bits; ``space`` has
    vl_bits, m0, n_v, u (as from :func:`design_space`). Entries whose
    ``vl_bits`` exceeds the row's ``max_vl_bits`` are ``np.inf``.
    """
    objective = check_choice("objective", objective, OBJECTIVES)
    M, N, K = (check_int_array(c, inputs[c].to_numpy(), 1, MAX_DIM) for c in ("M", "N", "K"))
    dtypes = check_choice_array("dtype", inputs["dtype"].to_numpy(), DTYPES)
    max_vl = check_int_array("max_vl_bits", inputs["max_vl_bits"].to_numpy(), 128, 2048)
    vl, m0, n_v, u = (space[c].to_numpy() for c in ("vl_bits", "m0", "n_v", "u"))
    out = np.empty((len(M), len(vl)), dtype=np.float64)
    for dtype in DTYPES:  # one vectorised call per element type
        rows = np.flatnonzero(dtypes == dtype)
        if rows.size:
            cost = evaluate(M[rows, None], N[rows, None], K[rows, None], vl[None], m0[None], n_v[None],
                            u[None], dtype, core, columns=objective)[objective]
            out[rows] = cost
    out[vl[None, :] > max_vl[:, None]] = np.inf
    return out


def tiebreak_keys(space):
    """The tie-break keys after cost, one ``(n_configs,)`` array each: vl_bits,
    registers, m0, n_v, u."""
    m0, n_v, u = (space[c].to_numpy() for c in ("m0", "n_v", "u"))
    return [space["vl_bits"].to_numpy(), registers(m0, n_v, u), m0, n_v, u]


def best_config(inputs, space, objective="cycles", core="v1"):
    """Index into ``space`` of each workload's best configuration (tie-break applied)."""
    return tiebroken_argmin(task_costs(inputs, space, objective, core), tiebreak_keys(space))


class SveTask(Task):
    """Pick the SVE vector length and register tile that minimise cycles."""

    name = "sve"
    space_version = "1"
    input_columns = ("M", "N", "K", "dtype", "max_vl_bits")
    config_columns = ("vl_bits", "m0", "n_v", "u", "n0")
    objectives = OBJECTIVES

    def __init__(self, core="v1"):
        super().__init__()
        self.core = check_choice("core", core, tuple(CORES))

    def params(self):
        return {"core": self.core}

    def _space(self):
        return design_space(2048, "f32").drop(columns=["k0"])

    @checked_sample
    def sample(self, n, seed=0):
        return sample_inputs(n, seed=seed)

    def _validate(self, df):
        for name in ("M", "N", "K"):
            df[name] = check_int_array(name, df[name].to_numpy(), 1, MAX_DIM)
        df["dtype"] = check_choice_array("dtype", df["dtype"].to_numpy(), DTYPES)
        vl = check_int_array("max_vl_bits", df["max_vl_bits"].to_numpy(), 128, 2048)
        if not np.isin(vl, VL_BITS).all():
            raise ValueError(f"max_vl_bits must be one of {', '.join(map(str, VL_BITS))}; "
                             f"got {vl[~np.isin(vl, VL_BITS)][0]}")
        df["max_vl_bits"] = vl
        return df

    def _allowed(self, inputs):
        return self._cached_space().vl_bits.to_numpy()[None, :] <= inputs["max_vl_bits"].to_numpy()[:, None]

    def relax(self, inputs):
        return inputs.assign(max_vl_bits=max(VL_BITS))

    def costs(self, inputs, objective="cycles"):
        objective = self.check_objective(objective)
        return task_costs(inputs, self.space(), objective, self.core)

    def tiebreak(self, inputs, costs, objective="cycles"):
        return tiebreak_keys(self._cached_space())

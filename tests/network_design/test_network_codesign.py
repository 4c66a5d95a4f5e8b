"""ac.codesign: the exact network optimum equals the enumeration, tie-break included."""

import itertools
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import airchitect as ac
from airchitect.network_design import codesign, network_layers
from airchitect.tasks.codesign import CodesignTask

SMALL = CodesignTask(rows=[2, 4, 8, 16], cols=[2, 4, 8, 16], max_macs=[64, 256], parts=4)
NET = {"layer": ["a", "b", "c", "d"], "M": [64, 32, 64, 100], "N": [32, 64, 32, 20],
       "K": [16, 80, 16, 33], "count": [1, 2, 3, 1]}


def _enumerate(task, net, max_macs, sram_kb, bandwidth):
    """Every allowed label's per-layer figures on the network's distinct layers."""
    table = network_layers(pd.DataFrame(net)).table
    inputs = task.validate(pd.DataFrame({"M": table.M, "N": table.N, "K": table.K, "max_macs": max_macs,
                                         "sram_kb": sram_kb, "bandwidth": bandwidth}))
    s = task._space_arrays()
    allowed = np.flatnonzero(s["pes"] <= max_macs)
    sim = task.simulate(inputs, np.broadcast_to(allowed, (len(inputs), allowed.size)))
    return table["count"].to_numpy(), allowed, sim, s


def _shared_best(task, net, max_macs, sram_kb, bandwidth, objective, k=1):
    counts, allowed, sim, s = _enumerate(task, net, max_macs, sram_kb, bandwidth)
    cycles = counts @ sim["total_cycles"].astype(float)
    energy = counts @ sim["energy_pj"]
    dram = counts @ sim["dram_words"].astype(float)
    cost = {"cycles": cycles, "energy": energy, "edp": energy * cycles}[objective]
    order = np.lexsort([allowed, dram, s["pes"][allowed], cycles, cost])[:k]
    return allowed[order], cycles[order], energy[order]


@pytest.mark.parametrize("objective", ["cycles", "energy", "edp"])
@pytest.mark.parametrize("budget", [(64, 16, 1), (256, 32, 4), (256, 16, 2)])
def test_shared_dataflow_equals_enumeration(objective, budget):
    max_macs, sram_kb, bandwidth = budget
    labels, cycles, energy = _shared_best(SMALL, NET, *budget, objective, k=3)
    got = codesign(NET, max_macs=max_macs, sram_kb=sram_kb, bandwidth=bandwidth, objective=objective,
                   task=SMALL, k=3)
    space = SMALL.space()
    for rank in range(3):
        row = got.top.iloc[rank]
        want = space.iloc[labels[rank]]
        assert (row.rows, row.cols, row.dataflow) == (want.rows, want.cols, want.dataflow)
        assert (row.ifmap_kb, row.filter_kb) == (sram_kb * want.i // 4, sram_kb * want.j // 4)
        assert row.cycles == cycles[rank] and row.energy_pj == energy[rank]
    assert got.top["rank"].tolist() == [1, 2, 3]
    assert got.cycles == cycles[0] and got.energy_pj == energy[0]
    assert got.edp == energy[0] * cycles[0]
    assert got.simulations <= got.enumeration


def _per_layer_best(task, net, max_macs, sram_kb, bandwidth, objective):
    """Brute force over hardware x every per-layer dataflow assignment (3^layers)."""
    counts, allowed, sim, s = _enumerate(task, net, max_macs, sram_kb, bandwidth)
    by_hw = {}
    for col, label in enumerate(allowed):
        by_hw.setdefault((s["rows"][label], s["cols"][label], s["i"][label], s["j"][label]), {})[
            s["code"][label]] = col
    best = None
    for hw, flows in by_hw.items():
        codes = sorted(flows)
        for pick in itertools.product(codes, repeat=len(counts)):
            cols = [flows[c] for c in pick]
            rows = np.arange(len(counts))
            cyc = float(counts @ sim["total_cycles"][rows, cols])
            en = float(counts @ sim["energy_pj"][rows, cols])
            cost = {"cycles": cyc, "energy": en, "edp": en * cyc}[objective]
            key = (cost, cyc, hw[0] * hw[1])
            if best is None or key < best[0]:
                best = (key, cyc, en)
    return best


@pytest.mark.parametrize("objective", ["cycles", "energy", "edp"])
def test_per_layer_dataflow_equals_enumeration(objective):
    net = {k: v[:3] for k, v in NET.items()}
    key, cycles, energy = _per_layer_best(SMALL, net, 256, 32, 2, objective)
    got = codesign(net, max_macs=256, sram_kb=32, bandwidth=2, objective=objective, task=SMALL,
                   dataflow="per-layer")
    assert got.cost == key[0]
    assert (got.cycles, got.config["pes"]) == (key[1], key[2])
    assert got.config["dataflow"] == "per-layer"
    # each layer's figures add up to the network's
    assert (got.layers["count"] * got.layers["cycles"]).sum() == got.cycles


def test_full_space_small_network_equals_enumeration():
    task = ac.tasks.get("codesign")
    net = {"M": [64, 128, 20], "N": [64, 32, 300], "K": [32, 64, 50], "count": [2, 1, 3]}
    labels, cycles, energy = _shared_best(task, net, 1024, 32, 1, "edp")
    got = codesign(net, max_macs=1024, sram_kb=32, bandwidth=1, objective="edp")
    assert (got.cycles, got.energy_pj) == (cycles[0], energy[0])
    assert got.simulations < got.enumeration / 5


def test_walked_bounds_keep_the_enumeration_optimum_with_fewer_simulations(monkeypatch):
    # the full space: the candidates that come to the front get their read buffers walked
    # before they are simulated; for each objective the three best equal the enumeration's,
    # tie-break included, and the search without those walks gives the same with more
    # simulations
    import airchitect.network_design as network_design

    task = ac.tasks.get("codesign")
    net = {"M": [196, 49, 784], "N": [64, 128, 32], "K": [288, 576, 27], "count": [2, 1, 1]}
    budget = dict(max_macs=256, sram_kb=32, bandwidth=2)
    counts, allowed, sim, s = _enumerate(task, net, *budget.values())
    cyc, en = counts @ sim["total_cycles"].astype(float), counts @ sim["energy_pj"]
    dram = counts @ sim["dram_words"].astype(float)
    search = network_design.search_network
    columns = ["rows", "cols", "dataflow", "ifmap_kb", "filter_kb", "cycles", "energy_pj"]
    for objective, cost in (("cycles", cyc), ("energy", en), ("edp", en * cyc)):
        best = np.lexsort([allowed, dram, s["pes"][allowed], cyc, cost])[:3]
        got = codesign(net, objective=objective, k=3, **budget)
        for rank, at in enumerate(best):
            row, label = got.top.iloc[rank], allowed[at]
            assert (row.rows, row.cols) == (s["rows"][label], s["cols"][label])
            assert row.dataflow == task.space().dataflow[label]
            assert (row.ifmap_kb, row.filter_kb) == (32 * s["i"][label] // 16, 32 * s["j"][label] // 16)
            assert (row.cycles, row.energy_pj) == (cyc[at], en[at])
        with monkeypatch.context() as m:
            m.setattr(network_design, "search_network", lambda *a, **kw: search(*a, **kw, walk=False))
            plain = codesign(net, objective=objective, k=3, **budget)
        assert plain.top[columns].equals(got.top[columns])
        assert got.simulations < plain.simulations


def test_walked_bounds_keep_the_per_layer_optimum():
    # per-layer dataflows for EDP (not separable: the Pareto sums) on the full space
    task = ac.tasks.get("codesign")
    net = {"M": [196, 784], "N": [64, 32], "K": [288, 27], "count": [2, 1]}
    key, cycles, energy = _per_layer_best(task, net, 256, 32, 2, "edp")
    got = codesign(net, max_macs=256, sram_kb=32, bandwidth=2, objective="edp", dataflow="per-layer")
    assert got.cost == key[0]
    assert (got.cycles, got.config["pes"]) == (key[1], key[2])


def test_duplicates_are_merged_and_counted():
    net = pd.DataFrame({"layer": ["x", "y", "z"], "M": [64, 64, 8], "N": [32, 32, 8],
                        "K": [16, 16, 8], "count": [2, 3, 1]})
    layers = network_layers(net)
    assert layers.n_rows == 3 and len(layers.table) == 2
    assert layers.table["count"].tolist() == [5, 1]
    assert layers.table["layers"].tolist() == ["x, y", "z"]
    got = codesign(net, max_macs=64, sram_kb=16, bandwidth=2, task=SMALL)
    assert got.merged == 1
    assert (got.layers["count"] * got.layers["cycles"]).sum() == got.cycles


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.skip = nn.Conv2d(4, 8, 1)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        y = torch.relu(self.conv(x)) + self.skip(x)
        return self.fc(y.flatten(1))


def test_module_equals_its_gemm_table(tmp_path):
    module = _Block()
    table = ac.workloads.gemms_from_module(module, (1, 4, 8, 8))
    assert table[["M", "N", "K"]].values.tolist() == [[64, 8, 36], [64, 8, 4], [1, 10, 512]]
    by_module = codesign(module, input_shape=(1, 4, 8, 8), max_macs=256, sram_kb=32, bandwidth=2,
                         task=SMALL)
    path = tmp_path / "net.csv"
    table[["net", "layer", "M", "N", "K", "count"]].to_csv(path, index=False)
    by_csv = codesign(str(path), max_macs=256, sram_kb=32, bandwidth=2, task=SMALL)
    assert by_module.config == by_csv.config and by_module.cycles == by_csv.cycles


def test_every_named_network_is_accepted():
    task = ac.tasks.get("codesign")
    for name in ac.workloads.NETWORKS:
        table = network_layers(name).table
        task.validate(pd.DataFrame({"M": table.M, "N": table.N, "K": table.K, "max_macs": 65536,
                                    "sram_kb": 4096, "bandwidth": 1}))


@pytest.mark.parametrize("network, kwargs, message", [
    ("resnet-51", {}, "network must be one of"),
    (pd.DataFrame({"M": [4], "N": [4]}), {}, "missing K"),
    (pd.DataFrame({"M": [4], "N": [4], "K": [True]}), {}, "K must be an integer"),
    (pd.DataFrame({"M": [4], "N": [4], "K": [4], "count": [0]}), {}, "count must be an integer"),
    (pd.DataFrame({"M": [4], "N": [4], "K": [70000]}), {}, "K"),
    ({"M": [4], "N": [4], "K": [4]}, {"max_macs": 300}, "max_macs must be one of"),
    ({"M": [4], "N": [4], "K": [4]}, {"sram_kb": 20}, "sram_kb must be a multiple of 16"),
    ({"M": [4], "N": [4], "K": [4]}, {"objective": "power"}, "objective"),
    ({"M": [4], "N": [4], "K": [4]}, {"dataflow": "each"}, "dataflow"),
    ({"M": [4], "N": [4], "K": [4]}, {"k": 0}, "k"),
    (nn.Linear(4, 4), {}, "input_shape is required"),
])
def test_bad_input_names_the_field(network, kwargs, message):
    args = dict(max_macs=256, sram_kb=32, bandwidth=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        codesign(network, **args)


def test_a_module_that_fails_on_its_input_is_named():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(288, 10))
    with pytest.raises(ValueError, match=r"^module fails on an input of shape \(1, 1, 8, 8\): "
                                         r"RuntimeError: .*channel"):
        codesign(net, input_shape=(1, 1, 8, 8), max_macs=256, sram_kb=32, bandwidth=2)
    with pytest.raises(TypeError, match="input_shape must be a tuple of ints"):
        codesign(net, input_shape=8, max_macs=256, sram_kb=32, bandwidth=2)
    assert codesign(net, input_shape=(1, 3, 8, 8), max_macs=256, sram_kb=32, bandwidth=2).cycles > 0


class _TokenNet(nn.Module):
    """Token ids in, two logits out: an embedding, one linear layer, a head."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 32)
        self.fc = nn.Linear(32, 48)
        self.head = nn.Linear(48, 2)

    def forward(self, ids):
        return self.head(torch.relu(self.fc(self.emb(ids))))


TOKEN_NET_CODE = ("import torch\nfrom torch import nn\n"
                  "class TokenNet(nn.Module):\n"
                  "    def __init__(self):\n"
                  "        super().__init__()\n"
                  "        self.emb = nn.Embedding(100, 32)\n"
                  "        self.fc = nn.Linear(32, 48)\n"
                  "        self.head = nn.Linear(48, 2)\n"
                  "    def forward(self, ids):\n"
                  "        return self.head(torch.relu(self.fc(self.emb(ids))))\n"
                  "net = TokenNet()\n")


def test_a_token_id_module_is_traced_with_its_input_dtype():
    budget = dict(max_macs=256, sram_kb=32, bandwidth=2, task=SMALL)
    with pytest.raises(ValueError, match=r"^module fails on an input of shape \(2, 16\).*indices.*"
                                         r"needs input_dtype='int64'\)$"):
        codesign(_TokenNet(), input_shape=(2, 16), **budget)
    result = codesign(_TokenNet(), input_shape=(2, 16), input_dtype="int64", **budget)
    # 2 x 16 tokens: fc is 32 rows of K=32 -> N=48, head 32 rows of 48 -> 2
    assert result.layers[["M", "N", "K"]].values.tolist() == [[32, 48, 32], [32, 2, 48]]
    table = pd.DataFrame({"M": [32, 32], "N": [48, 2], "K": [32, 48]})
    want = codesign(table, **budget)
    assert result.config == want.config and result.cycles == want.cycles
    same = codesign(_TokenNet(), input_shape=(2, 16), input_dtype=torch.int64, **budget)
    assert same.cycles == result.cycles


@pytest.mark.parametrize("network, dtype, words", [
    (_TokenNet(), "int8", "input_dtype must be one of float32, float64, float16, bfloat16, int64, int32; "
                          "got 'int8'"),
    (_TokenNet(), 64, "input_dtype must be one of"),
    ({"M": [8], "N": [8], "K": [8]}, "int64", "input_dtype applies to a torch.nn.Module"),
    ("resnet50", "float32", "input_dtype applies to a torch.nn.Module"),
])
def test_a_bad_input_dtype_is_named(network, dtype, words):
    shape = (2, 16) if isinstance(network, nn.Module) else None
    with pytest.raises(ValueError) as info:
        codesign(network, input_shape=shape, input_dtype=dtype, max_macs=256, sram_kb=32, bandwidth=2)
    assert words in str(info.value)


GEMM_TOPOLOGY = "Layer, M, N, K,\nQK, 64, 64, 16,\nAV, 64, 16, 64,\nQK2, 64, 64, 16,\n"
CONV_TOPOLOGY = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                 "Num Filter, Strides,\n"
                 "conv1, 10, 10, 3, 3, 4, 8, 1,\n"   # 8 x 8 outputs: M 64, N 8, K 3*3*4 = 36
                 "conv2_DP, 9, 9, 3, 3, 3, 3, 2,\n"  # 3 channels apart: 4 x 4 outputs, K 9, N 3
                 "fc, 1, 1, 1, 1, 32, 10, 1,\n")


def test_a_scalesim_topology_is_a_network(tmp_path):
    budget = dict(max_macs=256, sram_kb=32, bandwidth=2, task=SMALL)
    (tmp_path / "g.csv").write_text(GEMM_TOPOLOGY)
    (tmp_path / "c.csv").write_text(CONV_TOPOLOGY)
    gemm = ac.systolic.read_topology(tmp_path / "g.csv", kind="auto")
    conv = ac.systolic.read_topology(tmp_path / "c.csv", kind="auto")
    assert (gemm.kind, conv.kind) == ("gemm", "conv")
    got = codesign(gemm, **budget)
    assert got.network == "g" and got.layers[["layers", "M", "N", "K", "count"]].values.tolist() == [
        ["QK, QK2", 64, 64, 16, 2], ["AV", 64, 16, 64, 1]]
    want = codesign(pd.DataFrame({"M": [64, 64, 64], "N": [64, 16, 64], "K": [16, 64, 16]}), **budget)
    assert got.config == want.config and got.cycles == want.cycles
    got = codesign(conv, **budget)
    assert got.layers[["M", "N", "K", "count"]].values.tolist() == [[64, 8, 36, 1], [16, 3, 9, 3],
                                                                    [1, 10, 32, 1]]
    want = codesign(pd.DataFrame({"M": [64, 16, 1], "N": [8, 3, 10], "K": [36, 9, 32],
                                  "count": [1, 3, 1]}), **budget)
    assert got.config == want.config and got.cycles == want.cycles


def test_a_layer_out_of_range_is_named():
    table = pd.DataFrame({"layer": ["a", "b", "c", "d"], "M": [4, 8, 70000, 90000], "N": [4] * 4,
                          "K": [4] * 4})
    with pytest.raises(ValueError, match=r"^table: layer c: M must be integers in \[1, 65536\], got 70000$"):
        codesign(table, max_macs=256, sram_kb=32, bandwidth=2)
    with pytest.raises(ValueError, match=r"^table: max_macs must be one of the task's budgets"):
        codesign(table, max_macs=300, sram_kb=32, bandwidth=2)  # the budget, not a layer
    with pytest.raises(ValueError, match=r"^table: layer c: M must be integers"):
        ac.network_design.baselines.optuna_search(table, max_macs=256, sram_kb=32, bandwidth=2, n_trials=1)


def test_a_sparse_topology_layer_is_refused(tmp_path):
    (tmp_path / "s.csv").write_text("Layer, M, N, K, Sparsity,\na, 8, 8, 8, 1:1,\nb, 8, 8, 8, 2:4,\n")
    with pytest.raises(ValueError, match=r"s\.csv: line 3: layer b is 2:4 sparse; co-design takes dense"):
        codesign(ac.systolic.read_topology(tmp_path / "s.csv", kind="gemm"), max_macs=256, sram_kb=32,
                 bandwidth=2)


def test_per_layer_optima_count_against_max_simulations():
    table = pd.DataFrame({"M": [64, 128, 300, 17], "N": [64, 32, 200, 900], "K": [32, 64, 100, 5]})
    budget = dict(max_macs=4096, sram_kb=256, bandwidth=2)
    network = codesign(table, **budget).simulations
    with pytest.raises(ValueError, match=r"max_simulations: the network search and the per-layer optima of "
                                         r"1 of 4 distinct layers used \d+ simulations"):
        codesign(table, per_layer_optima=True, max_simulations=network + 5, **budget)
    alone = codesign(table, per_layer_optima=True, **budget).layers.best_alone.tolist()
    task = ac.tasks.get("codesign")
    assert alone == [task.search(M=m, N=n, K=k, **budget, runner_up=False)["cost"]
                     for m, n, k in table.itertuples(index=False)]


@pytest.mark.parametrize("kwargs, error, words", [
    ({"per_layer_optima": "no"}, TypeError, "per_layer_optima must be true or false"),
    ({"batch": 4}, ValueError, "batch applies to a built-in network name"),
    ({"batch": -1}, ValueError, "batch must be an integer in [1, 65536]"),
    ({"input_shape": (1, 2)}, ValueError, "input_shape applies to a torch.nn.Module"),
])
def test_options_that_do_not_apply_are_refused(kwargs, error, words):
    with pytest.raises(error) as info:
        codesign({"M": [8], "N": [8], "K": [8]}, max_macs=256, sram_kb=32, bandwidth=2, **kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize("text, words", [
    ("M,N,K,Count\n64,64,64,1000\n", "unknown column(s) Count"),  # a misspelt count is not dropped
    ("M,N,K,K\n64,64,64,32\n", "unknown column(s) K.1"),
    ("M,N,K\n64,64,64,99\n", "not a CSV GEMM table (Length of header"),
    ("M,N,K\n64,64,0\n", "line 2: K must be an integer in [1, 2147483647]; got 0"),
    ("M,N,K\n\n64,64,64\n\n8,x,8\n", "line 5: N must be an integer in [1, 2147483647]; got 'x'"),
])
def test_a_csv_table_is_read_strictly(tmp_path, text, words):
    path = tmp_path / "net.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        codesign(str(path), max_macs=256, sram_kb=32, bandwidth=2)
    assert words in str(info.value) and str(path) in str(info.value)


def test_a_frame_names_its_row():
    with pytest.raises(ValueError, match=r"^network table: row 1: M must be an integer in \[1, 2147483647\]; "
                                         r"got 0$"):
        codesign(pd.DataFrame({"M": [4, 0], "N": [4, 4], "K": [4, 4]}), max_macs=256, sram_kb=32, bandwidth=2)


def test_bad_types():
    with pytest.raises(TypeError, match="network must be"):
        codesign(3.5, max_macs=256, sram_kb=32, bandwidth=2)
    two_layers = {"M": [8, 16], "N": [8, 8], "K": [8, 8]}
    for budget in ({"sram_kb": [32]}, {"max_macs": "256"}, {"bandwidth": 2.0}, {"bandwidth": True}):
        args = {**dict(max_macs=256, sram_kb=32, bandwidth=2), **budget}
        name = next(iter(budget))
        with pytest.raises(TypeError, match=f"{name} must be one integer"):
            codesign(two_layers, **args)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "airchitect", "codesign", *args],
                          capture_output=True, text=True, cwd=cwd)


def test_cli_json_matches_api(tmp_path):
    path = tmp_path / "net.csv"
    pd.DataFrame(NET).to_csv(path, index=False)
    out = _cli("--csv", str(path), "--max-macs", "256", "--sram-kb", "32", "--bandwidth", "4",
               "--objective", "energy", "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    want = codesign(str(path), max_macs=256, sram_kb=32, bandwidth=4, objective="energy")
    assert record["config"] == want.config
    assert record["energy_pj"] == want.energy_pj and record["cycles"] == want.cycles
    # layers a and c are the same GEMM: merged, counts summed
    assert [(r["M"], r["count"], r["layers"]) for r in record["layers"]] == [
        (64, 4, "a, c"), (32, 2, "b"), (100, 1, "d")]


def test_cli_module(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("from torch import nn\nnet = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), "
                    "nn.Linear(32, 16))\n")
    out = _cli("--module", f"{path}:net", "--input-shape", "8,64", "--max-macs", "256",
               "--sram-kb", "32", "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert [(r["M"], r["N"], r["K"]) for r in record["layers"]] == [(8, 32, 64), (8, 16, 32)]


def test_cli_token_id_module(tmp_path):
    path = tmp_path / "tokens.py"
    path.write_text(TOKEN_NET_CODE)
    flags = ["--module", f"{path}:net", "--input-shape", "2,16", "--max-macs", "256", "--sram-kb", "32",
             "--bandwidth", "2", "--json"]
    out = _cli(*flags)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.rstrip().endswith("(the input was float32; token ids need --input-dtype int64)")
    out = _cli(*flags, "--input-dtype", "int64")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    want = codesign(_TokenNet(), input_shape=(2, 16), input_dtype="int64", max_macs=256, sram_kb=32,
                    bandwidth=2)
    assert record["config"] == want.config and record["cycles"] == want.cycles
    out = _cli(*flags, "--input-dtype", "long")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "--input-dtype must be one of float32, float64, float16, bfloat16, int64, int32; got 'long'" in out.stderr


def test_cli_topology_matches_api(tmp_path):
    (tmp_path / "c.csv").write_text(CONV_TOPOLOGY)
    flags = ["--max-macs", "256", "--sram-kb", "32", "--bandwidth", "2", "--json"]
    want = codesign(ac.systolic.read_topology(tmp_path / "c.csv"), max_macs=256, sram_kb=32, bandwidth=2)
    for given in (["-t", "c.csv"], ["--topology", "c.csv", "-i", "conv"]):
        out = _cli(*given, *flags, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        record = json.loads(out.stdout)
        assert record["config"] == want.config and record["cycles"] == want.cycles
    out = _cli("-t", "c.csv", "-i", "gemm", *flags, cwd=tmp_path)  # a conv file read as GEMMs
    assert out.returncode == 2 and "c.csv: line 2: a gemm row has a name, M, N, K" in out.stderr
    (tmp_path / "g.csv").write_text(GEMM_TOPOLOGY)
    out = _cli("--csv", "g.csv", *flags, cwd=tmp_path)
    assert out.returncode == 2 and "a SCALE-Sim topology file: read it with ac.systolic.read_topology, " \
                                   "or give it to airchitect codesign --topology" in out.stderr


@pytest.mark.parametrize("args, message", [
    (["--network", "resnet50", "-i", "gemm"], "-i/--input-type goes with --topology"),
    (["-t", "x.csv", "-i", "dense"], "--input-type must be one of auto, conv, gemm; got 'dense'"),
    (["-t", "/nonexistent/x.csv"], "/nonexistent/x.csv: no such topology file"),
    (["--network", "resnet50", "--input-dtype", "int64"], "--input-dtype goes with --module"),
    (["--network", "nope"], "network must be one of"),
    (["--csv", "/nonexistent/x.csv"], "--csv: /nonexistent/x.csv: no such file"),
    (["--network", "resnet50", "--input-shape", "1,3"], "--input-shape goes with --module"),
    (["--network", "resnet50", "--max-macs", "1000"], "resnet50: --max-macs must be one of"),
])
def test_cli_bad_input_exits_2_with_one_line(args, message):
    out = _cli(*args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr
    assert "Traceback" not in out.stderr


def test_memory_bound_is_checked_before_any_work():
    rng = np.random.default_rng(0)
    net = pd.DataFrame({"M": rng.integers(1, 4000, 700), "N": rng.integers(1, 4000, 700),
                        "K": rng.integers(1, 4000, 700)})
    with pytest.raises(ValueError, match="MAX_ENTRIES"):
        codesign(net, max_macs=65536, sram_kb=512, bandwidth=8)


@pytest.mark.parametrize("objective", ["cycles", "edp"])
def test_configurations_past_the_user_mode_limit_are_ruled_out_or_named(objective, monkeypatch):
    # USER_ROWS_LIMIT lowered to the optimum's largest demand (folds x rows per fold) of
    # any layer: the configurations that need more cannot be simulated, their bounds rule
    # them out, and the search still returns the optimum; one row lower, the optimum
    # itself cannot be simulated and the search says so instead of returning another
    import importlib

    from airchitect.network_design.model import network_bounds

    simulate = importlib.import_module("airchitect.targets.systolic.simulate")
    budget = dict(max_macs=256, sram_kb=32, bandwidth=4)
    labels, cycles, _ = _shared_best(SMALL, NET, *budget.values(), objective)
    table = network_layers(pd.DataFrame(NET)).table
    inputs = SMALL.validate(pd.DataFrame({"M": table.M, "N": table.N, "K": table.K, **budget}))
    s = SMALL._space_arrays()
    allowed = np.flatnonzero(s["pes"] <= 256)
    M, N, K = (inputs[c].to_numpy()[:, None] for c in "MNK")
    code = s["code"][allowed]
    sr, sc = np.where(code == 0, M, K), np.where(code == 2, M, N)
    t = np.choose(code, [K, M, N])
    demand = (np.ceil(sr / s["rows"][allowed]) * np.ceil(sc / s["cols"][allowed])
              * (t + 2 * s["rows"][allowed] + s["cols"][allowed])).max(axis=0)
    limit = demand[allowed == labels[0]][0]
    assert 0 < (demand > limit).sum() < allowed.size  # some configurations are out
    monkeypatch.setattr(simulate, "USER_ROWS_LIMIT", limit)
    got = codesign(NET, objective=objective, task=SMALL, **budget)
    assert got.cycles == cycles[0]
    kept = network_bounds(SMALL, inputs, table["count"].to_numpy())[0]
    assert kept.tolist() == allowed[demand <= limit].tolist()
    monkeypatch.setattr(simulate, "USER_ROWS_LIMIT", limit - 1)
    with pytest.raises(ValueError, match=rf"cannot rule out configuration {labels[0]} .* USER_ROWS_LIMIT"):
        codesign(NET, objective=objective, task=SMALL, **budget)


def test_walking_every_layer_of_the_front_candidates_proves_what_the_blocked_pairs_cannot(monkeypatch):
    # llama2-7b-prefill under 16384 PEs, 1 MB, 16 words/cycle, EDP: with only the pairs that
    # cannot simulate walked (the 2048 x 32000 x 4096 output layer on small arrays), 16 x 64
    # os cannot be ruled out and the search stops; with every layer of the candidates that
    # come to the front walked, it is ruled out and the search returns a simulated optimum
    import airchitect.network_design as network_design
    from airchitect.network_design.baselines import network_cost, network_inputs

    task = ac.tasks.get("codesign")
    budget = dict(max_macs=16384, sram_kb=1024, bandwidth=16)
    got = codesign("llama2-7b-prefill", objective="edp", **budget)
    inputs, counts = network_inputs(task, "llama2-7b-prefill", **budget)
    space, c = task.space(), got.config
    label = int(np.flatnonzero((space.rows == c["rows"]) & (space.cols == c["cols"])
                               & (space.dataflow == c["dataflow"]) & (space.i * 64 == c["ifmap_kb"])
                               & (space.j * 64 == c["filter_kb"]))[0])
    exact = network_cost(task, inputs, counts, [label], "edp")
    assert (exact["cycles"][0], exact["energy"][0]) == (got.cycles, got.energy_pj)
    search = network_design.search_network
    monkeypatch.setattr(network_design, "search_network", lambda *a, **kw: search(*a, **kw, walk=False))
    with pytest.raises(ValueError, match=r"cannot rule out configuration \d+ \(16 x 64 os\)"):
        codesign("llama2-7b-prefill", objective="edp", **budget)


def test_configurations_past_the_user_mode_limit_are_ruled_out_by_walked_bounds(monkeypatch):
    # gpt2-prefill under 4096 PEs, 512 kB, 4 words/cycle: its 1024 x 50257 x 768 output layer
    # cannot be simulated on the small arrays (USER_ROWS_LIMIT); with the closed-form bounds
    # one of them (4 x 32 os) cannot be ruled out and the search stops, with the read
    # buffers walked to the end every one of them is ruled out and the search is exact
    from airchitect.network_design.baselines import network_cost, network_inputs

    task = ac.tasks.get("codesign")
    budget = dict(max_macs=4096, sram_kb=512, bandwidth=4)
    got = codesign("gpt2-prefill", **budget)
    inputs, counts = network_inputs(task, "gpt2-prefill", **budget)
    space = task.space()
    c = got.config
    label = int(np.flatnonzero((space.rows == c["rows"]) & (space.cols == c["cols"])
                               & (space.dataflow == c["dataflow"]) & (space.i * 32 == c["ifmap_kb"])
                               & (space.j * 32 == c["filter_kb"]))[0])
    assert network_cost(task, inputs, counts, [label], "cycles")["cycles"][0] == got.cycles
    allowed = np.flatnonzero(task.allowed(inputs.iloc[:1], validated=True)[0])
    grid = np.broadcast_to(allowed, (len(inputs), allowed.size))
    blocked = allowed[~task.simulable(inputs, grid).all(axis=0)]
    assert blocked.size > 0
    # the proof: every blocked configuration's network bound, its layers that cannot
    # simulate bounded by walking, is at least the optimum's cycles
    grid = np.ascontiguousarray(np.broadcast_to(blocked, (len(inputs), blocked.size)))
    bound = task.bounds(inputs, grid)["cycles"].astype(float)
    out = np.argwhere(~task.simulable(inputs, grid))
    walked = task.walked_bounds(inputs.iloc[out[:, 0]].reset_index(drop=True), grid[out[:, 0], out[:, 1]])
    assert walked["walked"].all()
    bound[out[:, 0], out[:, 1]] = walked["cycles"]
    assert (counts @ bound >= got.cycles).all()
    plain = lambda self, rows, labels, max_folds=0: {  # noqa: E731  the closed-form bounds alone
        **{k: np.asarray(v)[:, 0].astype(float) for k, v in self.bounds(rows, np.asarray(labels)[:, None]).items()
           if k in ("cycles", "dram_words", "energy")}, "walked": np.zeros(len(labels), dtype=bool)}
    monkeypatch.setattr(CodesignTask, "walked_bounds", plain)
    with pytest.raises(ValueError, match=r"cannot rule out configuration \d+ \(4 x 32 os\)"):
        codesign("gpt2-prefill", **budget)

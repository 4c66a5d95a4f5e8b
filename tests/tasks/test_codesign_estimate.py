"""The codesign task's split-stall estimate: the buffer task's, array by array."""

import numpy as np
import pandas as pd
import pytest

import airchitect as ac


def test_split_estimate_is_the_buffer_tasks_on_each_array():
    task = ac.tasks.get("codesign")
    buffer = ac.tasks.get("buffer")
    inputs = task.validate(pd.DataFrame({"M": [1, 197, 64], "N": [1024, 768, 300], "K": [1024, 3072, 77],
                                         "max_macs": 4096, "sram_kb": [1024, 256, 48], "bandwidth": [16, 8, 1]}))
    arrays = np.array([0, 50, 272])
    got = task.split_estimate(inputs, arrays)
    assert got.shape == (3, 3, 105)
    space = pd.DataFrame(task.space_columns())
    for a_pos, a in enumerate(arrays):
        first = a * 105
        rows = inputs.assign(rows=space["rows"][first], cols=space["cols"][first],
                             dataflow=space["dataflow"][first])
        expected = buffer.split_estimate(buffer.validate(rows[list(buffer.input_columns)]))
        assert np.array_equal(got[:, a_pos], expected)
    # the estimate follows the exact USER-mode cycles where a filter of 2^20 words is
    # swept about 4 times by a 512 kB buffer and about once by a 448 kB one
    exact = ac.systolic.simulate(1, 1024, 1024, 256, 32, "is", ifmap_kb=64, filter_kb=[448, 512],
                                 ofmap_kb=[512, 448], bandwidth=16, mode="user").total_cycles.to_numpy()
    labels = [int(np.flatnonzero((space.rows == 256) & (space.cols == 32) & (space.dataflow == "is")
                                 & (space.i == 1) & (space.j == j))[0]) for j in (7, 8)]
    est = task.split_estimate(inputs.iloc[:1], [labels[0] // 105])[0, 0, [labels[0] % 105, labels[1] % 105]]
    assert exact[1] > 4 * exact[0] and est[1] > 3 * est[0]
    assert np.allclose(est, exact, rtol=0.05)


def test_split_estimate_needs_sixteenths():
    task = ac.tasks.get("codesign", rows=[4, 8], cols=[4, 8], max_macs=[64], parts=5)
    inputs = task.validate(pd.DataFrame({"M": [8], "N": [8], "K": [8], "max_macs": [64], "sram_kb": [40],
                                         "bandwidth": [1]}))
    with pytest.raises(ValueError, match="parts = 16, got 5"):
        task.split_estimate(inputs, [0])

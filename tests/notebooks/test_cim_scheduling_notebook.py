"""Execute notebooks/03_cim_scheduling.ipynb end to end (outputs are not written back)."""

import re

from notebook_runner import output_text, run_notebook


def test_cim_scheduling_notebook_executes():
    outputs = run_notebook("03_cim_scheduling.ipynb", timeout=300)
    assert not [o for o in outputs if o.output_type == "error"]
    text = output_text(outputs)
    speedups = [float(x) for x in re.findall(r"speedup vs layer (\d+\.\d+)x", text)]
    assert len(speedups) == 3 and speedups[0] == 1.0 and min(speedups[1:]) > 1.0
    speedup = float(re.search(r"speedup vs uniform 8/8: (\d+\.\d+)x", text).group(1))
    loss = float(re.search(r"loss (-?\d+\.\d+) points", text).group(1))
    assert speedup >= 2.0 and loss <= 1.0

"""Execute notebooks/03_cim_scheduling.ipynb end to end (outputs are not written back)."""

import re
from pathlib import Path

import nbclient
import nbformat

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_cim_scheduling.ipynb"


def test_cim_scheduling_notebook_executes():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    speedups = [float(x) for x in re.findall(r"speedup vs layer (\d+\.\d+)x", text)]
    assert len(speedups) == 3 and speedups[0] == 1.0 and min(speedups[1:]) > 1.0
    speedup = float(re.search(r"speedup vs uniform 8/8: (\d+\.\d+)x", text).group(1))
    loss = float(re.search(r"loss (-?\d+\.\d+) points", text).group(1))
    assert speedup >= 2.0 and loss <= 1.0

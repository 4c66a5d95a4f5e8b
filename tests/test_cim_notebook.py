"""Execute notebooks/02_cim.ipynb end to end (outputs are not written back)."""

from pathlib import Path

import nbclient
import nbformat

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_cim.ipynb"


def test_cim_notebook_executes():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "speedup of the mixed policy: 2.482x" in text
    assert "offset [-13759.   -119.  -1386.]" in text
    assert "'rel_error_vs_quantized': 0.0" in text

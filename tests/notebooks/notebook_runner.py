"""Run a notebook of the repository for the tests."""

from pathlib import Path

import nbclient
import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run_notebook(name, timeout=600):
    """Execute ``notebooks/<name>`` in its folder; return every code cell output.

    Outputs are not written back. An error in a cell fails the run.
    """
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def output_text(outputs):
    """Printed text and plain-text results of ``outputs``, joined by newlines."""
    return "\n".join(o.get("text", "") or str(o.get("data", {}).get("text/plain", ""))
                     for o in outputs)

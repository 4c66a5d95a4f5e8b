"""Execute notebooks/02_cim.ipynb end to end (outputs are not written back)."""

from notebook_runner import output_text, run_notebook


def test_cim_notebook_executes():
    text = output_text(run_notebook("02_cim.ipynb", timeout=300))
    assert "speedup of the mixed policy: 2.482x" in text
    assert "offset [-13759.   -119.  -1386.]" in text
    assert "'rel_error_vs_quantized': 0.0" in text

"""Execute notebooks/04_sve.ipynb (qemu and IREE cells skip themselves without the tools)."""

from notebook_runner import output_text, run_notebook


def test_notebook_runs():
    text = output_text(run_notebook("04_sve.ipynb", timeout=300))
    assert "615 configurations" in text
    assert "equal to numpy: True" in text or "skipped:" in text

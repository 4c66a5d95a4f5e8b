"""The array design notebook runs end to end."""

from notebook_runner import output_text, run_notebook


def test_array_notebook_executes():
    outputs = run_notebook("01_array_design.ipynb")
    assert not [o for o in outputs if o.output_type == "error"]
    text = output_text(outputs)
    assert "airchitect:" in text and "SCALE-Sim:" in text

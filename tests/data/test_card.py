"""datasets/card.py: a set labelled for a second objective gets its own section of the card."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import airchitect as ac

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("card", ROOT / "datasets" / "card.py")
card = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(card)


def test_a_section_is_added_once_then_replaced():
    text = "# Card\n\n## Schema\n\nrows\n\n## Most frequent labels\n\n| a |\n"
    added = card.with_section(text, "## The `edp`-labelled set", "## The `edp`-labelled set\n\nold\n")
    assert added == text + "\n## The `edp`-labelled set\n\nold\n"
    replaced = card.with_section(added, "## The `edp`-labelled set", "## The `edp`-labelled set\n\nnew\n")
    assert replaced == text + "\n## The `edp`-labelled set\n\nnew\n"
    # a section in the middle keeps what follows it
    middle = card.with_section(text, "## Schema", "## Schema\n\ncolumns\n")
    assert middle == "# Card\n\n## Schema\n\ncolumns\n\n## Most frequent labels\n\n| a |\n"


def test_a_card_written_anew_keeps_the_other_objectives_sections():
    card_text = "# Card\n\n## This dataset\n\n- rows: 9\n\n## Most frequent labels\n\n| a |\n"
    edp = "## The `edp`-labelled set (`full-edp`)\n\n- rows: 5\n\n| b |\n"
    old = card.with_section(card_text, "## The `edp`-labelled set (`full-edp`)", edp)
    assert card.objective_sections(old) == "\n" + edp
    assert card_text + card.objective_sections(old) == old
    assert card.objective_sections(card_text) == ""


def test_edp_section_states_the_sets_figures(tmp_path):
    out = tmp_path / "full-edp"
    ac.data.generate("codesign", 12, seed=3, out=out, objective="edp", progress=False)
    heading, section = card.objective_section("codesign", out)
    assert heading == "## The `edp`-labelled set (`full-edp`)"
    frame = ac.data.load(out)
    top = frame.label.value_counts()
    assert "- rows: 12; seed 3; objective `edp`" in section
    assert f"labels used: {frame.label.nunique()} of 28665" in section
    assert f"| {top.index[0]} | " in section and f" | {top.iloc[0]} | " in section
    assert section.count("\n| ") == 2 + min(5, len(top))  # header, rule, at most 5 labels


def test_bad_arguments_exit_2_with_one_line_and_write_nothing(tmp_path):
    readme = ROOT / "datasets" / "codesign" / "README.md"
    before = readme.read_bytes()
    for args in ([], ["codesign", str(tmp_path / "none")], ["nosuchtask"]):
        out = subprocess.run([sys.executable, str(ROOT / "datasets" / "card.py"), *args],
                             capture_output=True, text=True)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, (args, out.stderr)
        assert ("usage:" if not args else "no manifest.json") in out.stderr
    assert readme.read_bytes() == before

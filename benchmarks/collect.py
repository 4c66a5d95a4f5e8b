"""Assemble benchmarks/RESULTS.md from the per-topic result files in benchmarks/results/.

    python benchmarks/collect.py

Each topic file holds the command and the output observed when its benchmark
script ran; this script only concatenates them under one table of contents.
"""

from pathlib import Path

from airchitect.data.store import write_atomic

HERE = Path(__file__).resolve().parent
ORDER = ["systolic", "scalesim_files", "calc_dram", "memory", "memory_events", "memory_splits", "codesign",
         "codesign_network", "codesign_exact_walks", "codesign_exact_walks_edp", "codesign_pareto_walks", "codesign_model", "model_quality", "codesign_floor", "predict_busy", "codesign_network_model", "codesign_network_model_edp", "datasets", "predict", "versions", "airchitect_v2", "cim", "cim_schedule",
         "sve", "sve_compile", "first_call"]


def main():
    files = sorted(HERE.glob("results/*.md"), key=lambda p: (
        ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem))
    parts = ["# Benchmark results", "",
             "Every figure below was printed by the script named in its section, run on the",
             "2-core development machine (no GPU), usually while other jobs shared it; ratios",
             "are against the reference measured in the same run.", ""]
    parts += [f"- [{p.stem}](results/{p.name})" for p in files]
    for p in files:
        text = p.read_text().strip()
        parts += ["", "---", "", "\n".join("#" + line if line.startswith("#") else line
                                            for line in text.splitlines())]
    write_atomic(HERE / "RESULTS.md", ("\n".join(parts) + "\n").encode())


if __name__ == "__main__":
    main()

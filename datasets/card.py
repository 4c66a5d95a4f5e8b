"""Write a dataset card (datasets/<task>/README.md) from a generated dataset.

    python datasets/card.py TASK [DATASET_DIR]

DATASET_DIR defaults to datasets/<task>/full, else datasets/<task>/sample.
The card gives the schema, the sampling and label definition (the task's
docstring), the label distribution (top labels and their shares) and the
generation time recorded in the manifest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import airchitect as ac
from airchitect.data.store import write_atomic

HERE = Path(__file__).resolve().parent


def card(task_name, path):
    task = ac.tasks.get(task_name)
    manifest = ac.data.read_manifest(path)
    frame = ac.data.load(path)
    args, summary, timings = manifest["arguments"], manifest["summary"], manifest["timings"]
    counts = frame.label.value_counts()
    top = counts.head(10)
    space = task.space()
    sample_rows = ac.data.read_manifest(HERE / task_name / "sample")["arguments"]["n"]
    lines = [
        f"# Dataset card: `{task_name}`", "",
        f"Regenerate: `datasets/{task_name}/regenerate.sh` (10^5 workloads, seed 0, into "
        f"`datasets/{task_name}/full`, not committed). A {sample_rows}-row sample (seed 0) "
        f"generated with the same code is committed in `datasets/{task_name}/sample`. "
        f"The figures below describe the {len(frame)}-row dataset in `{Path(path).name}`.", "",
        "## Definition", "", "```", (sys.modules[type(task).__module__].__doc__ or "").strip(), "```", "",
        "## Schema", "", "| column | dtype | role |", "| --- | --- | --- |",
    ]
    for column, dtype in frame.dtypes.items():
        role = ("input" if column in task.input_columns else "label id" if column == "label"
                else "configuration" if column in space.columns or column in task.config_columns
                else "objective of the optimum" if column == "best_cost"
                else "objective of the runner-up" if column == "second_cost"
                else f"objective of every configuration ({len(space)} float64 per row)" if column == "costs"
                else "")
        lines.append(f"| `{column}` | {dtype} | {role} |")
    lines += [
        "", "## This dataset", "",
        f"- rows: {len(frame)}; seed {args['seed']}; objective `{args['objective']}`; "
        f"package {args['package_version']}; shards of {args['shard_rows']} rows",
        f"- generation: {timings['wall_s']:.1f} s wall ({summary['rows_per_s']} rows/s) on the "
        f"machine that wrote it (2 cores)",
        f"- labels used: {summary['distinct_labels']} of {len(space)}; entropy "
        f"{summary['label_entropy_bits']:.2f} bits; majority label {summary['majority_label']} = "
        f"{100 * summary['majority_share']:.1f}% of rows",
        f"- optimum margin: median runner-up / best = "
        f"{np.median(frame.second_cost / frame.best_cost):.4f}; ties with the runner-up in "
        f"{100 * np.mean(frame.second_cost == frame.best_cost):.1f}% of rows", "",
        "## Most frequent labels", "", "| label | configuration | rows | share |", "| --- | --- | --- | --- |",
    ]
    for label, n in top.items():
        config = ", ".join(f"{c}={space.loc[label, c]}" for c in space.columns)
        lines.append(f"| {label} | {config} | {n} | {100 * n / len(frame):.2f}% |")
    return "\n".join(lines) + "\n"


def main():
    task = sys.argv[1]
    path = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / task / "full"
    if not (path / "manifest.json").exists():
        path = HERE / task / "sample"
    write_atomic(HERE / task / "README.md", card(task, path).encode())


if __name__ == "__main__":
    main()

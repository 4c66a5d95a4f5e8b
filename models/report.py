"""Write models/MODELS.md from the metrics saved with the shipped models.

    python models/report.py

Every number comes from ``airchitect/models/<task>/predictor.json``, written by
``models/train.py`` when it measured the model on the held-out 10% of its
dataset (costs recomputed with the exact cost model), or by
``models/train_codesign_scorer.py`` on fresh held-out queries when it retrained a
codesign model's scorer.
"""

from __future__ import annotations

import json
from pathlib import Path

from airchitect.data.store import write_atomic

ROOT = Path(__file__).resolve().parents[1]


def pct(x):
    return f"{100 * x:.2f}%"


def main():
    lines = [
        "# Shipped models", "",
        "Trained by `python models/train.py --task TASK` from the task's regenerated 10^5-workload",
        "dataset (seed 0) on 90% of it; every figure below is measured on the held-out 10%",
        "(or on real-network layers), with the cost of each predicted configuration recomputed",
        "by the exact cost model; the codesign models' scorers were retrained on fresh queries",
        "(`models/train_codesign_scorer.py`) and are measured on fresh held-out ones (rows",
        "column: proposal's train/test, then the scorer's). Regenerate this file with",
        "`python models/report.py`.",
        "`ac.predict` uses each task's model; `ac.recommend` re-ranks the top five of the model",
        "marked \"ranks `recommend`\" where a task has one (buffer), else of the same model;",
        "on codesign it first reorders the model's 128 best with the reranker (see \"The codesign",
        "reranker\" below).", "",
        "| task | model | params | rows (train/test) | top-1 | majority top-1 | top-5 | GeoMean % of best | majority GeoMean | recommend(k=5) GeoMean | p99 slowdown | worst slowdown | training time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    details = []
    shipped = ROOT / "airchitect" / "models"
    for meta_file in sorted([*shipped.glob("*/predictor.json"), *shipped.glob("*/*/predictor.json")]):
        meta = json.loads(meta_file.read_text())
        role = "" if meta_file.parent.parent == shipped else (
            " (ranks `recommend`)" if meta_file.parent.name == "recommend"
            else f" (objective `{meta_file.parent.name}`)")
        held = meta["metrics"]["held_out"]
        major = held["majority"]
        params = ", ".join(f"{k}={v}" for k, v in meta["params"].items()
                           if k in ("width", "depth", "epochs", "folds", "max_iter", "max_leaf_nodes",
                                    "labels_per_row", "best_per_row", "max_folds", "beam", "candidates",
                                    "scorer_rows", "stall_features")
                           or (k == "companion_candidates" and v))
        rec = held.get("recommend5_geomean_percent_of_best")
        rows = f"{meta['training']['rows']}/{meta['training']['test_rows']}"
        seconds = f"{meta['training'].get('wall_seconds', meta['training']['fit_seconds'])} s"
        scorer = meta["training"].get("scorer")
        if scorer:
            rows += f"; scorer {scorer['queries']}/{held['queries']['n']} fresh"
            seconds += f" + scorer {scorer['fit_seconds']} s"
        lines.append(
            f"| {meta['task']['task']}{role} | {meta['model']} | {params} "
            f"| {rows} | {pct(held['top1'])} "
            f"| {pct(major['top1'])} | {pct(held.get('top5', float('nan')))} "
            f"| {held['geomean_percent_of_best']:.4f} | {major['geomean_percent_of_best']:.3f} "
            f"| {'' if rec is None else f'{rec:.4f}'} | {held['p99_slowdown']:.4f} "
            f"| {held['worst_slowdown']:.3f} "
            f"| {seconds} |"
        )
        nets = meta["metrics"].get("networks")
        if nets:
            details += [
                "", f"## {meta['task']['task']}: real-network layers", "",
                "GEMM layers of every network in `ac.workloads.networks()` (dimensions within the",
                "task's 1..16384), under every `max_macs` budget:", "",
                "| max_macs | layers | top-1 | GeoMean % of best | worst slowdown |",
                "| --- | --- | --- | --- | --- |",
            ]
            for row in nets["per_budget"]:
                details.append(f"| {row['max_macs']} | {row['layers']} | {pct(row['top1'])} | "
                               f"{row['geomean_percent_of_best']:.5f} | {row['worst_slowdown']:.5f} |")
            details.append(f"| all | {sum(r['layers'] for r in nets['per_budget'])} | {pct(nets['top1'])} | "
                           f"{nets['geomean_percent_of_best']:.5f} | |")
    notes = (ROOT / "models" / "NOTES.md").read_text() if (ROOT / "models" / "NOTES.md").exists() else ""
    write_atomic(ROOT / "models" / "MODELS.md", ("\n".join(lines + details) + "\n\n" + notes).encode())


if __name__ == "__main__":
    main()

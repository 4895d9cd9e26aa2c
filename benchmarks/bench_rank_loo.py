"""Leave-one-out ranking quality on the embedded suite: Spearman of each metric with transfer accuracy.

For every target task, the other 11 built-in source prompts are scored on the target's 1,000
labelled images (train + val) by each transferability metric, and their single-source transfer
accuracy is measured (a linear probe on target features under that source prompt, tested on
the target's test split; docs/method.md#evaluation). The table gives, per target and averaged, the
Spearman correlation between each metric and transfer accuracy, and how often the top-ranked
source is the best one. The HGPrompt paper reports 0.808 average Spearman for its learned weights.
It also gives each target's spread (best minus worst transfer accuracy) and the mean over the
targets whose spread is at least ``WIDE`` (where there is something to rank: a 1,000-image test
split alone has about 1.5 points of binomial noise).

Reads ``runs/zoo/evidence.json``, written by ``python scripts/build_zoo.py --stages evidence``
(which computes both the scores and the accuracies with ``rank_sources(with_accuracy=True)``):

    python benchmarks/bench_rank_loo.py [--evidence runs/zoo/evidence.json] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from promptkit.stats import spearman

WIDE = 0.05  # spread (accuracy) above which a target's sources really differ


def loo_table(evidence: dict[str, Any]) -> dict[str, Any]:
    """Per-target Spearman (metric vs transfer accuracy) over the sources not tuned on the target."""
    per_target: dict[str, dict[str, float]] = {}
    top1: dict[str, dict[str, bool]] = {}
    spread: dict[str, float] = {}
    metrics: list[str] = []
    for key in sorted(evidence):
        if not key.startswith("transfer:"):
            continue
        target = key.removeprefix("transfer:")
        rows = [r for r in evidence[key]["rows"] if r["task"] != target]
        if len(rows) < 3:
            continue
        metrics = metrics or list(rows[0]["scores"])
        accs = [r["transfer_acc"] for r in rows]
        best = max(accs)
        spread[target] = best - min(accs)
        per_target[target] = {m: spearman([r["scores"][m] for r in rows], accs) for m in metrics}
        top1[target] = {m: max(rows, key=lambda r, m=m: r["scores"][m])["transfer_acc"] == best for m in metrics}
    mean = {m: sum(v[m] for v in per_target.values()) / len(per_target) for m in metrics} if per_target else {}
    hits = {m: sum(v[m] for v in top1.values()) for m in metrics}
    wide = [t for t in per_target if spread[t] >= WIDE]
    mean_wide = {m: sum(per_target[t][m] for t in wide) / len(wide) for m in metrics} if wide else {}
    return {"metrics": metrics, "per_target": per_target, "mean": mean, "top1_hits": hits, "targets": len(per_target),
            "spread": spread, "wide_targets": wide, "mean_wide": mean_wide}


def markdown(table: dict[str, Any]) -> str:
    metrics = table["metrics"]
    lines = ["| target | spread | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 2) + "|"]
    for target, row in table["per_target"].items():
        cells = " | ".join(_fmt(row[m]) for m in metrics)
        lines.append(f"| {target} | {table['spread'][target]:.3f} | {cells} |")
    lines.append("| **mean** | | " + " | ".join(f"**{_fmt(table['mean'][m])}**" for m in metrics) + " |")
    if table["mean_wide"]:
        lines.append(
            f"| mean where spread >= {WIDE:.2f} ({len(table['wide_targets'])} targets) | | "
            + " | ".join(_fmt(table["mean_wide"][m]) for m in metrics)
            + " |"
        )
    lines.append(
        "| top-1 is the best source | | "
        + " | ".join(f"{table['top1_hits'][m]}/{table['targets']}" for m in metrics)
        + " |"
    )
    return "\n".join(lines)


def _fmt(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evidence", type=Path, default=Path("runs/zoo/evidence.json"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.evidence.is_file():
        sys.exit(f"error: {args.evidence} not found; run: python scripts/build_zoo.py --stages evidence")
    table = loo_table(json.loads(args.evidence.read_text()))
    print(json.dumps(table, indent=2) if args.json else markdown(table))


if __name__ == "__main__":
    main()

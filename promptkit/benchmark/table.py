"""The paper's table from per-(target, seed) results: one row per method, the tasks in column order, group means.

Each cell is the mean test accuracy over the seeds run (in percent, as the papers print it);
a group's mean is the mean of its tasks' cells; ``average`` is the mean over all tasks run
(VTAB-1k papers such as NOAH and SSF average the 19 tasks, not the three group means; the
JSON gives both). A task without results is left out of the means and shown as ``-``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from promptkit.benchmark.suites import Suite
from promptkit.stats import mean_std

__all__ = ["build_table", "table_markdown"]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def build_table(suite: Suite, results: Sequence[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Aggregate per-(target, seed) records into the table.

    Args:
        suite: gives the column order and the groups.
        results: records as written by :func:`promptkit.benchmark.run.run_benchmark`: ``target``,
            ``seed`` and ``methods`` (label -> ``{"test_acc": float, ...}``).
        methods: the row order.

    Returns:
        JSON-ready: ``suite``, ``columns`` (dataset, column, group), and per method ``cells``
        (dataset -> ``{"mean", "std", "seeds"}`` in percent), ``groups`` (group -> mean),
        ``average`` (over tasks) and ``mean_of_groups``.
    """
    rows: dict[str, Any] = {}
    for method in methods:
        cells: dict[str, dict[str, float]] = {}
        for task in suite.tasks:
            accs = [100.0 * r["methods"][method]["test_acc"] for r in results
                    if r["target"] == task.dataset and method in r["methods"]]
            if accs:
                mean, std = mean_std(accs)
                cells[task.dataset] = {"mean": mean, "std": std, "seeds": len(accs)}
        groups = {g: _mean([cells[t.dataset]["mean"] for t in suite.tasks if t.group == g and t.dataset in cells])
                  for g in suite.groups}
        present = [g for g in groups.values() if g is not None]
        rows[method] = {
            "cells": cells,
            "groups": groups,
            "average": _mean([c["mean"] for c in cells.values()]),
            "mean_of_groups": _mean(present),
        }
    return {
        "suite": suite.name,
        "columns": [{"dataset": t.dataset, "column": t.column, "group": t.group} for t in suite.tasks],
        "groups": list(suite.groups),
        "rows": rows,
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table_markdown(table: dict[str, Any]) -> str:
    """The table as Markdown: method, the tasks in column order, each group's mean, the average.

    Columns with no result in any row are left out, so a run over a few tasks prints a narrow table.
    """
    rows = table["rows"]
    columns = [c for c in table["columns"] if any(c["dataset"] in r["cells"] for r in rows.values())]
    groups = table["groups"] if len(table["groups"]) > 1 else []
    head = ["method", *(c["column"] for c in columns), *(f"{g.capitalize()} mean" for g in groups), "Average"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for method, row in rows.items():
        cells = [_fmt(row["cells"].get(c["dataset"], {}).get("mean")) for c in columns]
        means = [_fmt(row["groups"].get(g)) for g in groups]
        lines.append("| " + " | ".join([method, *cells, *means, _fmt(row["average"])]) + " |")
    seeds = sorted({cell["seeds"] for row in rows.values() for cell in row["cells"].values()})
    lines += ["", f"Test accuracy (%), mean over {'/'.join(map(str, seeds)) or 0} seed(s) per cell; "
                  "group means over the group's tasks, Average over all tasks shown."]
    return "\n".join(lines)

"""The zoo's card: architecture, pretext, recipe, time taken, and the measured evidence tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptkit.stats import mean_std

__all__ = ["render_card"]


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _summary(record: dict[str, Any]) -> list[str]:
    """A few lines for people: architecture, pretext, recipe, seed and time taken."""
    bb, rec, pre = record.get("backbone", {}), record.get("recipe", {}), record.get("pretext", {})
    kw = bb.get("kwargs", {})
    heads = pre.get("heads", {})
    acc = record.get("final_pretext_accuracy", {})
    return [
        f"- Architecture: timm `VisionTransformer`, {kw.get('img_size')}x{kw.get('img_size')} input, patch "
        f"{kw.get('patch_size')}, width {kw.get('embed_dim')}, depth {kw.get('depth')}, {kw.get('num_heads')} heads, "
        f"{bb.get('parameters', 0) / 1e6:.2f} M parameters, {bb.get('weights_bytes', 0) / 2**20:.1f} MiB of "
        f"{bb.get('weights_dtype', '')} weights (sha256 `{bb.get('weights_sha256', '')[:16]}...`).",
        f"- Pretext data: {pre.get('description', '')}; generated on the fly, never stored. Heads: "
        + ", ".join(f"{name} ({h.get('num_classes', '?')} classes, final accuracy {acc.get(name, float('nan')):.2f})"
                    for name, h in heads.items()) + ".",
        f"- Recipe: {rec.get('optimizer', '')}, lr {rec.get('lr')}, weight decay {rec.get('weight_decay')}, batch "
        f"{rec.get('batch_size')}, {rec.get('schedule', '')}; seed {record.get('seed')}.",
        f"- Time taken: {record.get('train_minutes')} minutes for {record.get('steps')} steps "
        f"({record.get('images_seen', 0):,} images) on {record.get('threads')} CPU threads"
        + ("." if record.get("completed", True) else
           f"; the time budget ended the run before the {record.get('total_steps')} steps its cosine schedule "
           "had planned from the first steps' pace (the learning rate had not fully decayed)."),
        "",
        "The full record (`backbone/record.json`):",
        "",
    ]


def render_card(runs: Path, recipe: dict[str, Any], why: str = "", limits: str = "") -> str:
    """Markdown for ``promptkit/zoo/assets/CARD.md`` from the JSON files that ``build`` writes in ``runs``.

    Args:
        runs: the build's output folder (``evidence.json``, ``sources.json``, ``seeds.json``).
        recipe: the ``promptkit train`` options every built-in prompt was tuned with.
        why: why that recipe (shallow or deep, length, init), in prose.
        limits: where this build falls short of its goals, and what to try next, in prose.
    """
    from promptkit.zoo.arch import RECORD_FILE
    from promptkit.zoo.backbone import ZOO_BACKBONE_DIR
    from promptkit.zoo.suite import TASKS

    record = _load(ZOO_BACKBONE_DIR / RECORD_FILE)
    evidence = _load(runs / "evidence.json")
    sources = _load(runs / "sources.json")
    seeds = _load(runs / "seeds.json")
    tasks = sorted(TASKS)
    lines = [
        "# The embedded zoo",
        "",
        "A small world that runs on a laptop CPU with no network: a procedurally generated task suite, a small "
        "ViT pretrained on a disjoint pretext task, and one source prompt per task (the read-only built-in "
        "collection `zoo/<task>`). Rebuild everything with `make zoo` (`python scripts/build_zoo.py`).",
        "",
    ]
    lines += _backbone_section(record)
    lines += [
        "## Source prompts",
        "",
        "Tuned with `promptkit train` and this recipe: " + ", ".join(f"`--{k} {v}`" for k, v in recipe.items()),
        "",
    ] + ([why, ""] if why else [])
    lines += _probe_section(evidence, tasks, TASKS)
    lines += _prompts_section(sources, seeds, tasks)
    lines += _transfer_section(evidence, tasks)
    if limits:
        lines += ["## Known limits", "", limits, ""]
    return "\n".join(lines) + "\n"


def _backbone_section(record: dict[str, Any]) -> list[str]:
    """The backbone: the summary and the full record (only the heading without a record)."""
    lines = ["## Backbone", ""]
    if record:
        lines += _summary(record) + [
            "```json",
            json.dumps({k: record[k] for k in record if k not in ("history",)}, indent=2, default=str)[:4000],
            "```",
            "",
        ]
    return lines


def _probe_section(evidence: dict[str, Any], tasks: list[str], specs: dict[str, Any]) -> list[str]:
    """Linear probe on frozen features, pretrained against random init (nothing without probe evidence)."""
    probe_rows = [(t, evidence.get(f"probe:{t}")) for t in tasks]
    if not any(r for _, r in probe_rows):
        return []
    lines = [
        "## Is the backbone a foundation model for this world?",
        "",
        "Linear probe (test accuracy) on frozen features, pretrained vs randomly initialized backbone of "
        "the same shape, fit on the 1,000 labelled images of each task.",
        "",
        "| task | chance | random init | pretrained | pretrained better |",
        "|---|---|---|---|---|",
    ]
    wins = 0
    for t, r in probe_rows:
        if not r:
            continue
        better = r["pretrained"] > r["random"]
        wins += better
        lines.append(
            f"| {t} | {1 / specs[t].num_classes:.3f} | {r['random']:.3f} | {r['pretrained']:.3f} | "
            f"{'yes' if better else 'no'} |"
        )
    measured = sum(1 for _, r in probe_rows if r)
    return lines + ["", f"Pretrained beats random init on **{wins} of {measured}** tasks.", ""]


def _prompts_section(sources: dict[str, Any], seeds: dict[str, Any], tasks: list[str]) -> list[str]:
    """Tuned prompt against the linear probe, over the seeds available (nothing without source runs)."""
    if not sources:
        return []
    lines = [
        "## Do prompts matter?",
        "",
        "Test accuracy of the tuned prompt + head against the linear probe on the frozen backbone's "
        "features of the same images, over the seeds available (seed 0 is the built-in prompt).",
        "",
        "| task | probe | prompt (mean ± std) | seeds | prompt better |",
        "|---|---|---|---|---|",
    ]
    wins = 0
    for t in tasks:
        runs_t = [sources.get(t)] + [seeds.get(f"{t}:{s}") for s in (1, 2)]
        runs_t = [r for r in runs_t if r]
        if not runs_t:
            continue
        acc = [r["metrics"]["test_acc"] for r in runs_t]
        probe = [r["metrics"].get("probe_test_acc", float("nan")) for r in runs_t]
        m, s = mean_std(acc)
        pm, _ = mean_std(probe)
        better = m > pm
        wins += better
        lines.append(f"| {t} | {pm:.3f} | {m:.3f} ± {s:.3f} | {len(acc)} | {'yes' if better else 'no'} |")
    measured = sum(1 for t in tasks if sources.get(t))
    return lines + ["", f"Prompts beat the probe on **{wins} of {measured}** tasks.", ""]


def _transfer_section(evidence: dict[str, Any], tasks: list[str]) -> list[str]:
    """The single-source transfer matrix and its spread per target (nothing without transfer evidence)."""
    transfer = {t: evidence.get(f"transfer:{t}") for t in tasks}
    if not any(transfer.values()):
        return []
    src_tasks = sorted({row["task"] for v in transfer.values() if v for row in v["rows"]})
    lines = [
        "## How related are the tasks?",
        "",
        "Single-source transfer accuracy: a linear probe on target features under each source prompt "
        "(rows: targets, columns: sources; the diagonal is the target's own prompt).",
        "",
        "| target \\ source | " + " | ".join(s.removeprefix("zoo-") for s in src_tasks) + " | spread |",
        "|---" * (len(src_tasks) + 2) + "|",
    ]
    spread_ok = 0
    for t in tasks:
        v = transfer.get(t)
        if not v:
            continue
        acc = {row["task"]: row["transfer_acc"] for row in v["rows"]}
        others = [a for s, a in acc.items() if s != t]
        spread = max(others) - min(others) if others else 0.0
        spread_ok += spread >= 0.05
        cells = [f"{acc[s]:.3f}" if s in acc else "" for s in src_tasks]
        lines.append(f"| {t} | " + " | ".join(cells) + f" | {spread:.3f} |")
    return lines + [
        "",
        f"Best and worst other source differ by at least 5 points on **{spread_ok} of "
        f"{sum(1 for v in transfer.values() if v)}** targets.",
        "",
    ]

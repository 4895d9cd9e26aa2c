"""`promptkit rank`: rank source prompts by transferability to a target task."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._distributed import distributed_command, writer
from ._errors import handle_errors
from ._options import (
    BackboneChoiceOpt,
    DataRootOpt,
    DataSeedOpt,
    DeviceOpt,
    JsonOpt,
    OldTargetOpt,
    PrecisionOpt,
    QuietOpt,
    RegistryOpt,
    SourcesArg,
    TargetOpt,
    WeightsOpt,
    WorkersOpt,
    required_target,
)
from ._output import bar, err_console, fitted_table, out_console, phase_progress, print_json
from ._sources import (
    BuiltinOnlyOpt,
    IncludeDerivedOpt,
    IncludeTargetOpt,
    NamespaceOpt,
    SourceTagOpt,
    announce,
    choose_sources,
)

__all__ = ["rank_command", "register"]


@handle_errors
@distributed_command
def rank_command(
    target: TargetOpt = None,
    sources: SourcesArg = None,
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", help="A registered score (`promptkit plugins scores` lists them); repeatable, the first "
                         "orders the table [default: the built-in scores, shrinkage-hscore first].")] = None,
    with_accuracy: Annotated[bool, typer.Option(
        "--with-accuracy", help="Also measure single-source transfer accuracy and each metric's Spearman.")] = False,
    top: Annotated[int | None, typer.Option("--top", "-k", help="Show only the K best sources.")] = None,
    include_target: IncludeTargetOpt = False,
    include_derived: IncludeDerivedOpt = False,
    namespace: NamespaceOpt = None,
    source_tag: SourceTagOpt = None,
    builtin_only: BuiltinOnlyOpt = False,
    backbone: BackboneChoiceOpt = None,
    weights: WeightsOpt = None,
    root: DataRootOpt = None,
    data_seed: DataSeedOpt = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 128,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    num_workers: WorkersOpt = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the feature cache.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also draw the scores per source (PNG).")] = None,
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    old_target: OldTargetOpt = None,
) -> None:
    """Rank source prompts for a target by H-score transferability (features cached).

    Before any work, stderr says how many sources are used and which were left out and why.
    """
    target = required_target(target, old_target)
    metric_names = _metric_names(metric)  # an unknown metric fails before anything is read
    _check_device(device, precision, num_workers)
    if plot is not None:
        from ._plots import require_matplotlib

        require_matplotlib()
    reg, plan = choose_sources(registry, target, sources, include_target=include_target,
                               include_derived=include_derived, namespace=namespace, source_tag=source_tag,
                               builtin_only=builtin_only, backbone=backbone, same_geometry=False)
    if not (quiet or json_out):
        announce(plan, "ranking")
    result = run_rank(
        reg, target, plan, metrics=metric_names, with_accuracy=with_accuracy, weights=weights, root=root,
        data_seed=data_seed, batch_size=batch_size, device=device, precision=precision, num_workers=num_workers,
        no_cache=no_cache, show_progress=not (quiet or json_out) and writer(),
    )
    if not writer():  # under torchrun rank 0 alone plots and prints
        return
    rows = result.rows[:top] if top else result.rows
    if plot is not None:
        from ._plots import plot_rank

        err_console().print(f"scores plotted to {plot_rank(result, rows, plot)}", highlight=False)
    if quiet:
        for row in rows:
            out_console().print(row.ref, highlight=False)
        return
    if json_out:
        print_json(rank_json(result, rows, plan))
        return
    render_rank(result, rows)


def _check_device(device: str, precision: str, num_workers: int | None = None) -> None:
    """An unknown device or precision, or a negative --num-workers, fails before anything is read."""
    from promptkit.device import autocast, resolve_device
    from promptkit.errors import UsageError

    if num_workers is not None and num_workers < 0:
        raise UsageError(f"--num-workers must be >= 0, got {num_workers}", hint="0 loads in the main process")

    autocast(resolve_device(device), precision)


def _metric_names(metrics: list[str] | None) -> tuple[str, ...]:
    """The scores to compute, checked: an unknown name fails here."""
    from promptkit.rank import DEFAULT_METRICS
    from promptkit.scores import get_score

    names = tuple(metrics or DEFAULT_METRICS)
    for m in names:
        get_score(m)
    return names


def run_rank(reg: Any, target: str, plan: Any, *, metrics: tuple[str, ...], with_accuracy: bool,
             weights: Path | None, root: Path | None, data_seed: int, batch_size: int, device: str,
             precision: str = "fp32", num_workers: int | None = None, no_cache: bool,
             show_progress: bool) -> Any:
    """Load the planned sources (verified), the backbone and the target, and rank."""
    from promptkit.registry.workflows import load_sources

    from promptkit.backbone import backbone_for
    from promptkit.data import load_dataset, transform_for
    from promptkit.features import FeatureCache
    from promptkit.rank import rank_sources

    loaded = load_sources(reg, plan.refs)  # verified: a tampered source fails here, before any work
    bb = backbone_for(plan.backbone, weights=weights)
    splits = load_dataset(target, root=root, transform=transform_for(bb.data_config), seed=data_seed)
    with phase_progress(show_progress) as progress:
        result = rank_sources(bb, loaded, splits, metrics=metrics, with_accuracy=with_accuracy,
                              cache=None if no_cache else FeatureCache(), batch_size=batch_size, device=device,
                              precision=precision, num_workers=num_workers, progress=progress)
    return result


def rank_json(result: Any, rows: list[Any], plan: Any) -> dict[str, Any]:
    """The ``--json`` output: the ranked rows, the source choice (used, left out and why) and what was skipped."""
    return {
        "target": result.target,
        "primary": result.primary,
        "metrics": list(result.metrics),
        "num_images": result.num_images,
        "sources": [{"rank": i + 1, "ref": r.ref, "task": r.task, "scores": r.scores,
                     "transfer_acc": r.transfer_acc} for i, r in enumerate(rows)],
        "selection": plan.to_dict(),
        "skipped": [{"ref": o.ref, "reason": o.reason} for o in plan.left_out if o.misfit]
                   + [{"ref": s.ref, "reason": s.reason} for s in result.skipped],
        "spearman": {m: (None if v != v else v) for m, v in result.spearman.items()} if result.spearman else None,
        "seconds": result.seconds,
    }


def render_rank(result: Any, rows: list[Any]) -> None:
    """The ranking as a table that fits the terminal (or COLUMNS) and never cuts a reference."""
    has_acc = any(r.transfer_acc is not None for r in rows)
    columns = [("#", "right"), ("source", "left"), ("task", "left")]
    columns += [(m, "right") for m in result.metrics] + [("", "left")]
    if has_acc:
        columns.append(("transfer acc", "right"))
    values = [r.scores[result.primary] for r in result.rows]
    lo, hi = min(values), max(values)
    cells = []
    for i, r in enumerate(rows):
        row = [str(i + 1), r.ref, r.task or ""] + [f"{r.scores[m]:.4f}" for m in result.metrics]
        # scaled from a little below the lowest score, so the last row still shows a sliver
        span = (hi - lo) or 1.0
        row.append(bar(r.scores[result.primary] - lo + 0.05 * span, maximum=1.05 * span, width=12))
        if has_acc:
            row.append(f"{r.transfer_acc:.3f}")
        cells.append(row)
    drop = ["", "task", *[m for m in reversed(result.metrics) if m != result.primary]]
    table, hidden = fitted_table(f"transferability to {result.target} ({result.num_images} labelled images)",
                                 columns, cells, drop_order=drop, ref_column=1)
    out_console().print(table)
    if hidden:
        err_console().print(f"(left out to fit {out_console().width} columns: "
                            f"{', '.join(h or 'bar' for h in hidden)}; --json has every score)", highlight=False)
    if result.spearman:
        out_console().print("Spearman with transfer accuracy: " + ", ".join(
            f"{m} {v:+.3f}" if v == v else f"{m} undefined (equal accuracies)" for m, v in result.spearman.items()),
            highlight=False)
    for s in result.skipped:
        err_console().print(f"skipped {s.ref}: {s.reason}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("rank")(rank_command)

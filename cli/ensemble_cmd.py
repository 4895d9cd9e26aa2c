"""`promptkit ensemble`: learn ensemble weights over source prompts, compose, tune, compare, store."""

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
from ._output import bar, err_console, labelled, out_console, phase_progress, print_json
from ._sources import (
    BuiltinOnlyOpt,
    IncludeDerivedOpt,
    IncludeTargetOpt,
    NamespaceOpt,
    SourceTagOpt,
    announce,
    choose_sources,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_EPOCHS",
    "DEFAULT_HEAD_LR",
    "DEFAULT_LR",
    "ensemble_command",
    "lineage_for",
    "plot_weights",
    "register",
]

# Defaults sized for the main job on 2 CPU cores (rank + ensemble + three baselines in minutes on
# the embedded zoo): the built-in prompts' recipe (AdamW, prompt lr 0.01, head lr 0.001, batch 64;
# promptkit/zoo/assets/CARD.md) on a shorter schedule, since tuning starts from a composed prompt
# and a probe-initialized head and keeps the best validation epoch.
DEFAULT_EPOCHS = 2
DEFAULT_LR = 1e-2  # AdamW prompt learning rate
DEFAULT_HEAD_LR = 1e-3
DEFAULT_BATCH_SIZE = 64
PLOT_HINT = "install the plotting extra: pip install promptkit[plot]"

# The choices are the registered methods and compositions; `promptkit plugins` lists them (the
# help stays static text: computing the names here would import torch on `promptkit --help`).
MethodOpt = Annotated[str, typer.Option(
    "--method", help="A registered method (`promptkit plugins methods` lists them): a weight method, or a start "
                     "strategy that uses no ensemble weights.")]
ComposeOpt = Annotated[str | None, typer.Option(
    "--compose", help="How the weights become the target model: a registered composition (`promptkit plugins "
                      "compositions` lists them). Comma-separated: the first is stored, the others compared. "
                      "[default: stack]")]
LearnAlphaOpt = Annotated[bool, typer.Option(
    "--learn-alpha", help="Tune the weights with the prompt(s), on the simplex (compositions that support it).")]
CompareOpt = Annotated[list[str] | None, typer.Option(
    "--compare", help="Also run these on the same splits and seed: methods, compositions of --method or "
                      "METHOD+COMPOSITION[+learned] (comma-separated or repeated; `promptkit plugins` lists the "
                      "names); only the first result is stored.")]


def _split_methods(values: list[str] | None) -> list[str]:
    """``--compare a,b --compare c`` -> ``[a, b, c]``."""
    return [m.strip() for v in values or [] for m in v.split(",") if m.strip()]


@handle_errors
@distributed_command
def ensemble_command(
    target: TargetOpt = None,
    name: Annotated[str | None, typer.Option(
        "--name", "-n", help="Store the first (or with --store-best the best) result under this registry name "
                             "[default: compare only, store nothing].")] = None,
    sources: SourcesArg = None,
    method: MethodOpt = "hgprompt",
    compose: ComposeOpt = None,
    learn_alpha: LearnAlphaOpt = False,
    compare: CompareOpt = None,
    store_best: Annotated[bool, typer.Option(
        "--store-best", help="Store the result with the best validation accuracy, not the first.")] = False,
    lam: Annotated[float, typer.Option("--lam", help="HGPrompt's gradient-variance regularizer weight.")] = 0.0,
    steps: Annotated[int, typer.Option("--steps", help="HGPrompt's optimization steps on cached features.")] = 300,
    epochs: Annotated[int, typer.Option("--epochs", help="Tuning epochs of the target prompt and head.")] = (
        DEFAULT_EPOCHS),
    lr: Annotated[float, typer.Option("--lr", help="Prompt learning rate.")] = DEFAULT_LR,
    head_lr: Annotated[float, typer.Option("--head-lr", help="Head learning rate.")] = DEFAULT_HEAD_LR,
    optimizer: Annotated[str, typer.Option("--optimizer", help="adamw or sgd (momentum 0.9).")] = "adamw",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per batch.")] = DEFAULT_BATCH_SIZE,
    spot_epochs: Annotated[int, typer.Option("--spot-epochs", help="SPoT's brief target tuning, in epochs.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the inits and the shuffling (all methods alike).")] = 0,
    data_seed: DataSeedOpt = 0,
    include_target: IncludeTargetOpt = False,
    include_derived: IncludeDerivedOpt = False,
    namespace: NamespaceOpt = None,
    source_tag: SourceTagOpt = None,
    builtin_only: BuiltinOnlyOpt = False,
    backbone: BackboneChoiceOpt = None,
    weights: WeightsOpt = None,
    root: DataRootOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    num_workers: WorkersOpt = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the feature cache.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw the ensemble weights (PNG).")] = None,
    description: Annotated[str, typer.Option("--description", help="Free text for the manifest.")] = "",
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    old_target: OldTargetOpt = None,
) -> None:
    """Learn ensemble weights over source prompts for TARGET, compose and tune the target prompt; store it with --name.

    HGPrompt (Zhang et al., AAAI 2026): weights on the simplex maximize the transferability of the
    mixed source features; a composition turns them into the target model (by default an ensemble
    of the sources that carry the weight, mixed in feature space), tuned with a head. Without
    --name the rows are compared and nothing is stored; with it the stored asset's lineage
    records each source's exact version, digest and weight.
    """
    from promptkit.train import TrainConfig

    target = required_target(target, old_target)
    variants = _check_args(method, compose, compare, learn_alpha=learn_alpha, plot=plot, name=name)
    tune = TrainConfig(epochs=epochs, lr=lr, head_lr=head_lr, optimizer=optimizer, batch_size=batch_size,
                       seed=seed, device=device, precision=precision,
                       num_workers=num_workers)  # bad values fail here, before any work
    # random and spt use no source, but take the backbone and the prompt geometry from them.
    reg, plan = choose_sources(registry, target, sources, include_target=include_target,
                               include_derived=include_derived, namespace=namespace, source_tag=source_tag,
                               builtin_only=builtin_only, backbone=backbone, same_geometry=True,
                               create=name is not None)
    loaded = _load_sources(reg, plan)
    if not (quiet or json_out):
        announce(plan, "ensembling")
    results, splits = _run(loaded, variants, target=target, weights=weights, root=root,
                           data_seed=data_seed, lam=lam, steps=steps, tune=tune, spot_epochs=spot_epochs,
                           no_cache=no_cache, show=not (quiet or json_out) and writer())
    if not writer():  # under torchrun rank 0 alone stores, plots and prints
        return
    stored = _best_on_val(results) if store_best else results[0]
    manifest = None if name is None else _store(
        reg, name, stored, results, splits, lam=lam, steps=steps, data_seed=data_seed, learn_alpha=learn_alpha,
        spot_epochs=spot_epochs, description=description)
    plotted = plot_weights(results, plot, target=splits.name) if plot is not None else None
    _show(results, stored, manifest, splits, plan, plotted, quiet=quiet, json_out=json_out,
          settings={"lam": lam, "steps": steps, "seed": seed, "data_seed": data_seed})


def _show(results: list[Any], stored: Any, manifest: Any, splits: Any, plan: Any, plotted: Path | None, *,
          quiet: bool, json_out: bool, settings: dict[str, Any]) -> None:
    """Warnings on stderr, then the result: JSON, the stored reference (--quiet) or the tables."""
    _report(results, stored, manifest, plan, quiet=quiet, json_out=json_out)
    if json_out:
        print_json(_json(results, stored, manifest, splits, plan, plotted, **settings))
    elif quiet:
        if manifest is not None:
            out_console().print(manifest.ref, highlight=False)
    else:
        _render(results, stored, manifest, splits, plotted)


def _check_args(method: str, compose: str | None, compare: list[str] | None, *, learn_alpha: bool,
                plot: Path | None, name: str | None) -> list[Any]:
    """The rows to run; bad names, a plot without matplotlib and a bad ``--name`` fail here, before any work."""
    from promptkit.registry.refs import validate_name

    variants = plan_variants(method, _split_methods([compose] if compose else []), _split_methods(compare),
                             learn_alpha=learn_alpha)
    if plot is not None:
        _check_plot(variants)
    if name is not None:
        validate_name(name)
    return variants


def _best_on_val(results: list[Any]) -> Any:
    """The result with the best validation accuracy (the first among equals)."""
    best = results[0]
    for r in results[1:]:
        if r.train.metrics["val_acc"] > best.train.metrics["val_acc"]:
            best = r
    return best


def _report(results: list[Any], stored: Any, manifest: Any, plan: Any, *, quiet: bool, json_out: bool) -> None:
    """Warnings on stderr: the core's, and a stored result that lost to a compared one on validation."""
    for s in plan.left_out:
        if s.misfit and (quiet or json_out):
            err_console().print(f"skipped {s.ref}: {s.reason}", highlight=False)
    for warning in stored.warnings:
        err_console().print(labelled("warning:", "yellow", str(warning)), highlight=False)
    best = _best_on_val(results)
    if best is not stored and best.train.metrics["val_acc"] > stored.train.metrics["val_acc"]:
        what = f"stored {stored.label}" if manifest is not None else f"{stored.label} (first row)"
        err_console().print(labelled("warning:", "yellow", (
            f"{what} lost on validation to {best.label}: val {stored.train.metrics['val_acc']:.4f} < "
            f"{best.train.metrics['val_acc']:.4f}" + ("; --store-best stores the best on validation"
                                                      if manifest is not None else ""))), highlight=False)


def _check_plot(variants: list[Any]) -> None:
    """``--plot`` needs matplotlib and a method that weighs sources (checked before any work)."""
    from promptkit.errors import UsageError
    from promptkit.runs import get_method

    _require_matplotlib()
    if not any(get_method(v.method).needs_sources for v in variants):
        raise UsageError("--plot draws source weights, and no chosen method uses sources",
                         hint="use --method hgprompt (or another source method)")


def _store(reg: Any, name: str, primary: Any, results: list[Any], splits: Any, *, lam: float, steps: int,
           data_seed: int, learn_alpha: bool, spot_epochs: int, description: str) -> Any:
    """Store ``primary`` with its lineage and every compared row in its training record."""
    from promptkit.registry.workflows import store_training_result

    lineage = lineage_for(primary, lam=lam, steps=steps, data_seed=data_seed)
    compared = [{"method": r.label, "forwards_per_image": r.forwards,
                 **{k: r.train.metrics[k] for k in ("val_acc", "test_acc")}} for r in results]
    record = {"ensemble": {"method": primary.method, "composition": primary.composition, "lam": lam, "steps": steps,
                           "learn_alpha": learn_alpha, "spot_epochs": spot_epochs, "compared": compared}}
    extra: dict[str, Any] = {}
    if primary.train.kind == "ensemble":
        members = [primary.sources[i] for i in primary.built.members]
        extra = {"members": [(s.ref, s.sha256, s.task) for s in members], "composition": primary.composition,
                 "learned_alpha": learn_alpha}
    return store_training_result(reg, name, primary.train, splits, lineage=lineage, description=description,
                                 init=primary.label, training=record, **extra)


def _json(results: list[Any], primary: Any, manifest: Any, splits: Any, plan: Any, plotted: Path | None, *,
          lam: float, steps: int, seed: int, data_seed: int) -> dict[str, Any]:
    """The ``--json`` output: the stored ref (null: nothing stored), the settings, the sources and every result."""
    best = _best_on_val(results)
    return {"ref": None if manifest is None else manifest.ref, "sha256": None if manifest is None else manifest.sha256,
            "stored": manifest is not None, "stored_index": next(i for i, r in enumerate(results) if r is primary),
            "best_on_val": best.label, "stored_lost_on_val": best.train.metrics["val_acc"] >
            primary.train.metrics["val_acc"],
            "target": splits.name, "method": primary.method, "composition": primary.composition,
            "kind": primary.train.kind, "lam": lam, "steps": steps, "seed": seed, "data_seed": data_seed,
            "plot": None if plotted is None else str(plotted), "selection": plan.to_dict(),
            "skipped": [{"ref": s.ref, "reason": s.reason} for s in plan.left_out if s.misfit],
            "results": [r.to_dict() for r in results]}


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        from promptkit.errors import UsageError

        raise UsageError("--plot needs matplotlib, which is not installed", hint=PLOT_HINT) from None


def _load_sources(reg: Any, plan: Any) -> list[Any]:
    """Load the planned sources (verified) and check that they fit together, before any heavy work.

    The default set already holds one backbone and one geometry (the others are left out); named
    sources must all fit together, else the first misfit is named.
    """
    from promptkit.registry.workflows import load_sources

    from promptkit.ensemble import check_sources

    loaded = load_sources(reg, plan.refs)  # verified: a tampered source fails here, before any work
    check_sources([(s.ref, s.identity, s.geometry) for s in loaded])
    return loaded


def plan_variants(method: str, compositions: list[str], compare: list[str], *, learn_alpha: bool) -> list[Any]:
    """The rows to run, the stored one first: ``--method`` with each ``--compose``, then ``--compare``.

    A ``--compare`` entry may be a method (composed by ``average``, its classic definition), a
    composition (applied to ``--method``) or ``METHOD+COMPOSITION[+learned]``. Bad names fail here,
    before any work.
    """
    from promptkit.errors import UsageError
    from promptkit.runs import COMPOSITIONS, DEFAULT_COMPOSITION, METHODS, Variant, get_method, parse_variant
    from promptkit.runs import weight_methods as registered_weight_methods

    weight_methods = registered_weight_methods()
    base = get_method(method).name
    rows: list[Any] = []
    if base not in weight_methods:
        if compositions or learn_alpha:
            raise UsageError(f"--method {base} uses no ensemble weights, so --compose and --learn-alpha do not apply",
                             hint="compositions apply to " + ", ".join(sorted(weight_methods)))
        rows.append(Variant(base))
    else:
        for comp in compositions or [DEFAULT_COMPOSITION]:
            text = f"{base}+{comp}" + ("+learned" if learn_alpha else "")
            rows.append(parse_variant(text, weight_methods=weight_methods))
    for entry in compare:
        key = entry.strip().lower().replace("_", "-")
        if key in COMPOSITIONS and key not in METHODS:
            rows.append(parse_variant(f"{base}+{key}", weight_methods=weight_methods))
        else:
            v = parse_variant(key, weight_methods=weight_methods)
            rows.append(Variant(get_method(v.method).name, v.composition, v.learn_alpha))
    out: list[Any] = []
    for v in rows:
        if v not in out:
            out.append(v)
    return out


def _run(loaded: list[Any], methods: list[Any], *, target: str, weights: Path | None, root: Path | None,
         data_seed: int, lam: float, steps: int, tune: Any, spot_epochs: int, no_cache: bool,
         show: bool) -> tuple[list[Any], Any]:
    from promptkit.backbone import backbone_for
    from promptkit.data import load_dataset, transform_for
    from promptkit.features import FeatureCache
    from promptkit.runs import check_ensemble_sources, compare

    bb = backbone_for(loaded[0].identity, weights=weights)
    check_ensemble_sources(bb, loaded)  # geometry against this backbone, before the data loads
    splits = load_dataset(target, root=root, transform=transform_for(bb.data_config), seed=data_seed)
    with phase_progress(show) as progress:
        results = compare(methods, bb, loaded, splits, lam=lam, steps=steps, tune=tune,
                          cache=None if no_cache else FeatureCache(), spot_epochs=spot_epochs, progress=progress)
    return results, splits


def lineage_for(result: Any, *, lam: float, steps: int, data_seed: int) -> Any:
    """The stored asset's lineage: method, each source's exact version, digest and weight, and the scores.

    None for methods that start from no source (``random``, ``spt``).
    """
    from promptkit.registry import Lineage, LineageSource

    if not result.sources:
        return None
    alpha = [float(a) for a in result.alpha]
    w = result.weights
    params: dict[str, Any] = {
        "composition": result.composition,
        "forwards_per_image": result.forwards,
        "learned_alpha": None if result.learned_alpha is None else [float(a) for a in result.learned_alpha],
        "alpha": alpha,
        "lambda": lam,
        "steps": steps,
        "transferability": None if w is None else w.transferability,
        "regularizer": None if w is None else w.regularizer,
        "objective": None if w is None else w.objective,
        "source_scores": None if w is None else [float(s) for s in w.source_scores],
        "composed_hscore": result.composed_hscore,
        "seed": result.train.config.seed,
        "data_seed": data_seed,
        "dataset_fingerprint": result.train.dataset_fingerprint,
        **{k: v for k, v in result.start.details.items()},
        **({} if result.built is None else result.built.details),
    }
    sources = [LineageSource(ref=s.ref, sha256=s.sha256, weight=a, task=s.task) for s, a in zip(result.sources, alpha)]
    return Lineage(method=result.method, sources=sources, params=params)


def plot_weights(results: list[Any], path: Path, *, target: str = "the target") -> Path:
    """Bar chart of the source weights, one group of bars per source and one colour per method."""
    _require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    with_alpha = [r for r in results if r.alpha is not None]
    refs = [s.ref for s in with_alpha[0].sources]
    width = 0.8 / len(with_alpha)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(refs) + 2), 3.6))
    for j, r in enumerate(with_alpha):
        xs = [i - 0.4 + width * (j + 0.5) for i in range(len(refs))]
        ax.bar(xs, [float(a) for a in r.alpha], width=width, label=r.method)
    ax.set_xticks(range(len(refs)), refs, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("weight alpha")
    ax.set_ylim(0, 1)
    ax.set_title(f"ensemble weights for {target}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "" if value is None else format(value, spec)


def _start_label(r: Any) -> str:
    chosen = r.start.details.get("chosen")
    if chosen:
        return chosen
    if r.alpha is None:
        return r.train.config.init
    if r.built is not None and r.built.members:
        k = len(r.built.members)
        if r.train.kind == "ensemble":
            return f"{k} member" + ("s" if k > 1 else "") + (", stacked" if r.composition == "stack" else "")
        return f"from {r.built.details['start']}"
    return r.composition or "composed"


def _render(results: list[Any], stored: Any, manifest: Any, splits: Any, plotted: Path | None) -> None:
    """The weights of the first row's method, then one row per result (``*``: the stored one)."""
    from rich.table import Table

    primary = results[0]
    if primary.alpha is not None:
        w = primary.weights
        title = f"{primary.method} weights for {splits.name}"
        if w is not None:
            title += f"  (lambda {w.lam:g}, T {w.transferability:.3f}, R {w.regularizer:.3g}; composed prompt " \
                     f"H-score {_fmt(primary.composed_hscore)})"
        table = Table(title=title, title_justify="left")
        for col in ("source", "task", "own H-score", "alpha", ""):
            table.add_column(col, justify="right" if col in ("own H-score", "alpha") else "left")
        scores = w.source_scores if w is not None else [None] * len(primary.sources)
        for s, a, sc in zip(primary.sources, primary.alpha, scores):
            table.add_row(s.ref, s.task or "", _fmt(None if sc is None else float(sc)), f"{float(a):.3f}",
                          bar(float(a)))
        out_console().print(table)
    table = Table(title=f"tuned on {splits.name} ({splits.sizes['train']} train, {splits.sizes['test']} test images, "
                        f"seed {primary.train.config.seed})", title_justify="left")
    for col in ("method", "start", "T (mixture)", "H-score (start)", "val", "test", "tune s", "fwd/img"):
        table.add_column(col, justify="left" if col in ("method", "start") else "right")
    for r in results:
        m = r.train.metrics
        tune_s = r.seconds["tune"] + r.seconds.get("teacher", 0.0)
        mark = " *" if r is stored and manifest is not None else ""
        table.add_row(r.label + mark, _start_label(r), _fmt(r.transferability),
                      _fmt(r.composed_hscore), f"{m['val_acc']:.4f}", f"{m['test_acc']:.4f}", f"{tune_s:.1f}",
                      str(r.forwards))
    out_console().print(table)
    said = (f"stored {manifest.ref} (* = stored method)" if manifest is not None
            else "compared only, nothing stored (--name NAME stores the first row, --store-best the best on val)")
    out_console().print(said + (f"; weights plotted to {plotted}" if plotted else ""), highlight=False)


def register(app: typer.Typer) -> None:
    app.command("ensemble")(ensemble_command)

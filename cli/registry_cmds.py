"""Registry commands: add, list/ls, show, tag, alias, rm, verify, export (prompts and ensembles alike)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from promptkit.errors import EXIT_INTEGRITY, UsageError

from ._errors import handle_errors
from ._options import JsonOpt, QuietOpt, RegistryOpt, YesOpt, open_registry
from ._output import err_console, fitted_table, labelled, out_console, print_json, progress

__all__ = ["register"]

# the columns `list` leaves out first when the terminal (or COLUMNS) is narrow; the ref always stays
LIST_DROP_ORDER = ("created", "sha256", "backbone", "kind", "geometry", "aliases", "metrics", "task")


def _kv(pairs: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {pair!r} is not key=value", hint=f"write it as key=value, e.g. {what} task=dtd")
        out[key] = value
    return out


def _kind(manifest) -> str:
    """``prompt`` or ``ensemble (k)``, for tables."""
    return f"ensemble ({manifest.num_members})" if manifest.kind == "ensemble" else "prompt"


def _entry_json(entry) -> dict:
    data = entry.manifest.model_dump(mode="json")
    data["kind"] = entry.manifest.kind  # also for schema-1 manifests, which do not store it
    data["ref"] = entry.manifest.ref
    data["aliases"] = list(entry.aliases)
    data["builtin"] = entry.builtin
    return data


@handle_errors
def add(
    path: Annotated[Path, typer.Argument(help="A .safetensors prompt file, a VPT checkpoint, or an exported folder.")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="Name [default: the file's].")] = None,
    backbone: Annotated[str | None, typer.Option(help="timm name of the backbone (bare files only).")] = None,
    weights_sha256: Annotated[str | None, typer.Option(help="Backbone weights digest (bare files).")] = None,
    like: Annotated[str | None, typer.Option(help="Copy the backbone identity from this asset (bare files).")] = None,
    mode: Annotated[str | None, typer.Option(help="shallow or deep [default: from the tensor's layers].")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="key=value, repeatable.")] = None,
    description: Annotated[str, typer.Option(help="Free text for the manifest.")] = "",
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Store a prompt as the next version of NAME (validated; nothing is written on error)."""
    from promptkit.registry.ops import add_path
    from promptkit.registry.versioning import high_water

    reg = open_registry(registry, create=True)
    numbered = high_water(reg.root)  # each name's last version number before this add
    manifest = add_path(
        reg, path, name=name, backbone=backbone, weights_sha256=weights_sha256, like=like, mode=mode,
        tags=_kv(tag, "--tag"), description=description,
    )
    added = manifest.version > numbered.get(manifest.name, 0)  # else that content was already stored
    if json_out:
        print_json(json.loads(manifest.model_dump_json()) | {"ref": manifest.ref, "kind": manifest.kind,
                                                             "added": added})
    elif not added:
        out_console().print(Text.assemble("already stored as ", (manifest.ref, "bold"),
                                          f" (same content, sha256:{manifest.sha256[:12]}); nothing added"))
    else:
        what = f" (an ensemble of {manifest.num_members} prompts)" if manifest.kind == "ensemble" else ""
        out_console().print(Text.assemble("added ", (manifest.ref, "bold"), f"{what}  sha256:{manifest.sha256[:12]}"))


@handle_errors
def list_(
    name: Annotated[str | None, typer.Option("--name", help="A name or a namespace ('org/').")] = None,
    backbone: Annotated[str | None, typer.Option(help="Only prompts for this backbone (timm name).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="key=value; all must match.")] = None,
    latest: Annotated[bool, typer.Option("--latest", help="Only the latest version of each name.")] = False,
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List stored prompt versions (built-in ones included)."""
    reg = open_registry(registry)
    entries = reg.list(name=name, backbone=backbone, tags=_kv(tag, "--tag"), all_versions=not latest)
    if json_out:
        print_json([_entry_json(e) for e in entries])
        return
    if quiet:
        for e in entries:
            out_console().print(e.manifest.ref, highlight=False)
        return
    if not entries:
        err_console().print("no prompts match; add one with `promptkit add FILE --name NAME`")
        return
    rows = []
    for e in entries:
        m = e.manifest
        metrics = " ".join(f"{k.removesuffix('_acc')}={v:.3f}" for k, v in _headline(m.metrics))
        rows.append([
            Text.assemble(m.ref, (" (built-in)", "dim") if e.builtin else ""),
            ",".join(e.aliases), _kind(m), m.task or "",
            m.backbone.timm_name, m.geometry.short(), metrics, m.sha256[:12], m.created_at.strftime("%Y-%m-%d %H:%M"),
        ])
    columns = [(c, "left") for c in ("ref", "aliases", "kind", "task", "backbone", "geometry", "metrics", "sha256",
                                     "created")]
    table, hidden = fitted_table(f"registry {reg.root}", columns, rows, drop_order=LIST_DROP_ORDER)
    out_console().print(table)
    if hidden:
        err_console().print(f"(left out to fit {out_console().width} columns: {', '.join(hidden)}; "
                            "--json has every field)", highlight=False)


@handle_errors
def show(
    ref: Annotated[str, typer.Argument(help="name, name:3, name@alias or name@sha256:<prefix>.")],
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw its training curve (PNG): loss and accuracy "
                                                               "per epoch, from the stored history.")] = None,
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show one version's manifest (for an ensemble also its members and how they were composed)."""
    from promptkit.registry.lineage import aliases_of

    reg = open_registry(registry)
    m = reg.resolve(ref)
    if plot is not None:
        _plot_history(m, plot)
    aliases = aliases_of(reg, m.ref)
    if json_out:
        data = json.loads(m.model_dump_json()) | {"ref": m.ref, "kind": m.kind, "path": str(reg.path_of(m.ref)),
                                                  "aliases": aliases}
        print_json(data)
        return
    from rich.table import Table

    table = Table(show_header=False, title=m.ref, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("sha256", m.sha256)
    table.add_row("aliases", ", ".join(f"{m.name}@{a}" for a in aliases) or "none")
    table.add_row("kind", f"ensemble of {m.num_members} prompts" if m.ensemble else "prompt")
    table.add_row("backbone", m.backbone.short())
    table.add_row("geometry", m.geometry.short() + (" (each member)" if m.ensemble else ""))
    if m.ensemble:
        alpha = "learned" if m.ensemble.learned_alpha else "fixed"
        head_reads = "members' features side by side" if m.ensemble.features == "stack" else "the alpha-mixture"
        table.add_row("composition", f"{m.ensemble.composition} (alpha {alpha}; head on {head_reads}; "
                                     f"{m.num_members} forwards per image)")
        for j, member in enumerate(m.ensemble.members):
            task = f", task {member.task}" if member.task else ""
            table.add_row(f"member {j}", f"{member.ref} (weight {member.weight:.4f}{task}; "
                                         f"source sha256 {member.sha256[:12]})")
    elif m.lineage and isinstance(m.lineage.params.get("composition"), str):
        table.add_row("composition", _single_prompt_composition(m.lineage.params))
    table.add_row("init", m.init)
    for key in ("task", "seed", "license", "description"):
        if getattr(m, key) not in (None, ""):
            table.add_row(key, str(getattr(m, key)))
    if m.dataset:
        table.add_row("dataset", f"{m.dataset.name} (fingerprint {m.dataset.fingerprint[:12]})")
    if m.head:
        table.add_row("head", f"{m.head.num_classes} classes on {m.head.in_features} features")
    for k, v in m.metrics.items():
        table.add_row(f"metric {k}", _metric_text(k, v))
    if m.tags:
        table.add_row("tags", " ".join(f"{k}={v}" for k, v in m.tags.items()))
    if m.lineage:
        srcs = ", ".join(f"{s.ref} ({s.weight:.3f})" if s.weight is not None else s.ref for s in m.lineage.sources)
        table.add_row("lineage", f"{m.lineage.method}: {srcs}")
    if m.origin:
        table.add_row("origin", f"{m.origin.repo_id}@{m.origin.commit_sha[:12]}")
    table.add_row("created", m.created_at.isoformat())
    table.add_row("file", str(reg.path_of(m.ref)))
    out_console().print(table)


def _single_prompt_composition(params: dict) -> str:
    """How a composed plain prompt was made, from its lineage params: ``distill``'s teacher and start, or the name."""
    name = params["composition"]
    parts = ["one prompt, 1 forward per image"]
    if isinstance(params.get("teacher"), str):
        val = params.get("teacher_val_acc")
        parts.append(f"distilled from {params['teacher']}" + (f" (val {val:.4f})" if isinstance(val, float) else ""))
    if isinstance(params.get("start"), str):
        parts.append(f"started from {params['start']}")
    return f"{name} ({'; '.join(parts)})"


@handle_errors
def tag(
    ref: Annotated[str, typer.Argument(help="The version to tag.")],
    tags: Annotated[list[str] | None, typer.Argument(help="key=value pairs to set.")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", "-r", help="Tag keys to remove.")] = None,
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set or remove key=value tags on a version."""
    m = open_registry(registry).tag(ref, _kv(tags, "tag"), remove or [])
    if json_out:
        print_json({"ref": m.ref, "tags": m.tags})
        return
    out_console().print(f"{m.ref}: " + (" ".join(f"{k}={v}" for k, v in m.tags.items()) or "no tags"))


@handle_errors
def alias(
    ref: Annotated[str, typer.Argument(help="The version the alias should point to (or the name, with --delete).")],
    name: Annotated[str, typer.Argument(help="Alias name, e.g. prod.")],
    delete: Annotated[bool, typer.Option(
        "--remove", "-r", "--delete", help="Remove the alias instead (--delete: the former spelling).")] = False,
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Point an alias (name@ALIAS) at a version, or remove it."""
    reg = open_registry(registry)
    if delete:
        from promptkit.registry.refs import parse_reference

        asset_name = parse_reference(ref).name
        reg.remove_alias(asset_name, name)
        if json_out:
            print_json({"alias": f"{asset_name}@{name}", "ref": None, "removed": True})
        else:
            out_console().print(f"removed alias {asset_name}@{name}", highlight=False)
        return
    from promptkit.registry.refs import parse_reference

    before = next((e.manifest.ref for e in reg.list(name=parse_reference(ref).name) if name in e.aliases), None)
    m = reg.set_alias(ref, name)
    if json_out:
        print_json({"alias": f"{m.name}@{name}", "ref": m.ref, "previous": before, "removed": False})
        return
    moved = f" (moved from {before})" if before not in (None, m.ref) else (" (unchanged)" if before else "")
    out_console().print(f"{m.name}@{name} -> {m.ref}{moved}", highlight=False)


@handle_errors
def rm(
    ref: Annotated[str, typer.Argument(help="name:3 (one version) or name (every version).")],
    yes: YesOpt = False,
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove a version, or a whole name. Version numbers are never reused."""
    reg = open_registry(registry)
    whole = ":" not in ref and "@" not in ref
    what = f"every version of {ref}" if whole else reg.resolve(ref).ref
    if whole:
        reg.resolve(ref)  # not found -> error before asking
    if not yes:
        import sys

        if not sys.stdin.isatty():
            raise UsageError(f"refusing to remove {what} without confirmation", hint="add --yes")
        if not typer.confirm(f"remove {what}?", err=True):
            raise typer.Exit(1)
    pointing = {e.manifest.ref: [a for a in e.aliases if a != "latest"]
                for e in reg.list(name=reg.resolve(ref).name)}
    removed = reg.remove(ref)
    gone = [f"{r.split(':')[0]}@{a}" for r in removed for a in pointing.get(r, [])]
    if json_out:
        print_json({"removed": removed, "aliases_removed": gone})
        return
    out_console().print("removed " + ", ".join(removed), highlight=False)
    for r in removed:
        for a in pointing.get(r, []):
            err_console().print(f"alias {r.split(':')[0]}@{a} pointed at {r} and is gone", highlight=False)


@handle_errors
def verify(
    ref: Annotated[str | None, typer.Argument(help="One version to check [default: everything].")] = None,
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Re-hash every stored file; exit 4 if anything does not match its record."""
    reg = open_registry(registry)
    with progress("verifying", enabled=not json_out) as cb:
        report = reg.verify(ref, progress=cb)
    if json_out:
        print_json({"ok": report.ok, "checked": report.checked,
                    "issues": [{"ref": i.ref, "problem": i.problem} for i in report.issues]})
    else:
        for issue in report.issues:
            err_console().print(labelled("FAIL", "red", f"{issue.ref}: {issue.problem}"), highlight=False)
        status = "ok" if report.ok else f"{len(report.issues)} problem(s)"
        out_console().print(f"verified {report.checked} version(s): {status}")
    if not report.ok:
        raise typer.Exit(EXIT_INTEGRITY)


@handle_errors
def export(
    ref: Annotated[str, typer.Argument(help="The version to export.")],
    out: Annotated[Path, typer.Argument(help="Folder to write (prompt.safetensors + manifest.json).")],
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write a version to a folder that `promptkit add FOLDER` imports again."""
    reg = open_registry(registry)
    path = reg.export(ref, out)
    if json_out:
        print_json({"ref": reg.resolve(ref).ref, "path": str(path)})
        return
    out_console().print(f"exported {ref} to {path}", highlight=False)


# The accuracies people compare first; other metrics (timings, chosen l2, ...) are in `show`.
_HEADLINE = ("test_acc", "val_acc", "probe_test_acc")


def _plot_history(m, path: Path) -> None:  # m: promptkit.registry.Manifest
    """Draw the version's training curve, or say why there is none."""
    from ._plots import plot_training_curve, require_matplotlib

    require_matplotlib()
    history = m.training.get("history") if isinstance(m.training, dict) else None
    if not isinstance(history, list) or not history:
        raise UsageError(f"{m.ref} has no per-epoch history to plot",
                         hint="versions stored by `promptkit train` or `ensemble` carry one; added files do not")
    err_console().print(f"training curve plotted to {plot_training_curve(m.ref, history, path)}", highlight=False)


def _metric_text(key: str, value: float) -> str:
    """``best_epoch 10``, not ``10.0000``: counts print as integers, other metrics with 4 decimals."""
    if value == int(value) and ("epoch" in key or key.startswith(("num_", "n_"))):
        return str(int(value))
    return f"{value:.4f}"


def _headline(metrics: dict[str, float], n: int = 2) -> list[tuple[str, float]]:
    """Up to ``n`` metrics for the list table: accuracies first, else the first ones stored."""
    first = [(k, metrics[k]) for k in _HEADLINE if k in metrics]
    return (first or list(metrics.items()))[:n]


def register(app: typer.Typer) -> None:
    app.command("add")(add)
    app.command("list")(list_)
    app.command("ls", hidden=True)(list_)
    app.command("show")(show)
    app.command("tag")(tag)
    app.command("alias")(alias)
    app.command("rm")(rm)
    app.command("verify")(verify)
    app.command("export")(export)

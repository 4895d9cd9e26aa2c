"""The source choice of `rank` and `ensemble`: the options, and the lines saying what was chosen.

The choice itself is a library call (:func:`promptkit.registry.sources.plan_sources`); this module
reads the options, reports the plan on stderr before any work, and turns an empty plan into an
error that says what was left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._options import open_registry, read_sources
from ._output import err_console

__all__ = [
    "BuiltinOnlyOpt",
    "IncludeDerivedOpt",
    "IncludeTargetOpt",
    "NamespaceOpt",
    "SourceTagOpt",
    "announce",
    "choose_sources",
]

IncludeTargetOpt = Annotated[bool, typer.Option(
    "--include-target", help="Keep sources tuned on the target task itself (left out by default).")]
IncludeDerivedOpt = Annotated[bool, typer.Option(
    "--include-derived", help="Keep prompts composed from other prompts by an earlier ensemble run "
                              "(left out by default).")]
NamespaceOpt = Annotated[list[str] | None, typer.Option(
    "--namespace", help="Use only sources in this namespace (zoo for the built-ins; repeatable).")]
SourceTagOpt = Annotated[list[str] | None, typer.Option(
    "--source-tag", help="Use only sources with this key=value tag (repeatable; all must match).")]
BuiltinOnlyOpt = Annotated[bool, typer.Option("--builtin-only", help="Use only the built-in prompts.")]

# at most this many left-out sources are named one per line; the rest are counted by reason
_NAMED = 12


def choose_sources(registry: Path | None, target: str, sources: list[str] | None, *, include_target: bool,
                   include_derived: bool, namespace: list[str] | None, source_tag: list[str] | None,
                   builtin_only: bool, backbone: str | None, same_geometry: bool,
                   create: bool = False) -> tuple[Any, Any]:
    """``(registry, plan)``: the sources for ``target`` (stdin read for '-'), never empty.

    Raises:
        UsageError: '-' read nothing, a filter is malformed, or no source is left (naming why).
    """
    from promptkit.registry.sources import plan_sources

    from promptkit.errors import UsageError

    named = read_sources(sources)
    tags: dict[str, str] = {}
    for pair in source_tag or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--source-tag {pair!r} is not key=value",
                             hint="write it as key=value, e.g. --source-tag stage=reviewed")
        tags[key] = value
    if named and (namespace or tags or builtin_only or include_derived):
        raise UsageError("named sources are all used: --namespace, --source-tag, --builtin-only and "
                         "--include-derived choose among the default set",
                         hint="name the sources, or leave them out and filter")
    reg = open_registry(registry, create=create)
    plan = plan_sources(reg, target, named, include_target=include_target, include_derived=include_derived,
                        namespaces=namespace or (), tags=tags, builtin_only=builtin_only, backbone=backbone,
                        same_geometry=same_geometry)
    return reg, plan.require()


def announce(plan: Any, verb: str) -> None:
    """Say on stderr, before any work, how many sources ``verb`` uses and which were left out and why."""
    console = err_console()
    n = len(plan.refs)
    where = "named" if plan.named else f"of {n + len(plan.left_out)} latest prompts"
    console.print(f"{verb} {n} source{'s' if n != 1 else ''} ({where}) for {plan.target}, "
                  f"backbone {plan.backbone.short()}", highlight=False)
    console.print("  using " + ", ".join(plan.refs), highlight=False)
    for o in plan.left_out[:_NAMED]:
        console.print(f"  left out {o.ref}: {o.reason}", highlight=False)
    rest = len(plan.left_out) - _NAMED
    if rest > 0:
        console.print(f"  and {rest} more left out (--json lists them all)", highlight=False)

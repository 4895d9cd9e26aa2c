"""`promptkit lineage REF`: what a version was built from, and what was built from it."""

from __future__ import annotations

from typing import Annotated

import typer

from ._errors import handle_errors
from ._options import JsonOpt, RegistryOpt, open_registry
from ._output import out_console, print_json

__all__ = ["lineage_command", "register"]


@handle_errors
def lineage_command(
    ref: Annotated[str, typer.Argument(help="name, name:3, name@alias or name@sha256:<prefix>.")],
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show what REF was built from (sources, members) and which stored versions were built from it."""
    from promptkit.registry.lineage import lineage_of

    view = lineage_of(open_registry(registry), ref)
    if json_out:
        print_json(view.to_dict())
        return
    console = out_console()
    console.print(f"{view.ref}  sha256:{view.sha256[:12]}", highlight=False)
    console.print("built from:" if view.upstream else "built from: no stored prompt (tuned from its init)",
                  highlight=False)
    for link in view.upstream:
        console.print("  " + _describe(link) + ("" if link.stored else "  (not in this registry)"), highlight=False)
    console.print("built into:" if view.downstream else "built into: nothing stored here", highlight=False)
    for link in view.downstream:
        console.print("  " + _describe(link), highlight=False)


def _describe(link) -> str:  # link: promptkit.registry.lineage.Link
    weight = "" if link.weight is None else f", weight {link.weight:.3f}"
    task = "" if not link.task else f", task {link.task}"
    return f"{link.ref}  ({link.method}{weight}{task})"


def register(app: typer.Typer) -> None:
    app.command("lineage")(lineage_command)

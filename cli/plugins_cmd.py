"""`promptkit plugins`: every name a command accepts, table by table, with its summary."""

from __future__ import annotations

from typing import Annotated

import typer

from ._errors import handle_errors
from ._options import JsonOpt
from ._output import out_console, print_json

__all__ = ["plugins_command", "register"]


@handle_errors
def plugins_command(
    kind: Annotated[str | None, typer.Argument(
        help="One table: backbones, inits, scores, weights, methods, compositions, datasets, zoo-generators.",
        show_default=False)] = None,
    json_out: JsonOpt = False,
) -> None:
    """List the registered plugins: what --backbone, --init, --metric, --method, --compose and
    --dataset accept. A plugin registered in Python appears here and in every command at once."""
    from promptkit.builtins import tables
    from promptkit.errors import UsageError, format_choices

    every = tables()
    if kind is not None and kind not in every:
        raise UsageError(f"unknown plugin table {kind!r}", hint=f"choose {format_choices(sorted(every))}")
    chosen = {kind: every[kind]} if kind is not None else every
    rows = {name: [{"name": e.name, "summary": e.summary} for e in table.entries()] for name, table in chosen.items()}
    if json_out:
        print_json(rows)
        return
    from rich.table import Table

    for name, entries in rows.items():
        table = Table(title=name, title_justify="left")
        table.add_column("name", no_wrap=True)
        table.add_column("summary")
        for entry in entries:
            table.add_row(entry["name"], entry["summary"])
        out_console().print(table)


def register(app: typer.Typer) -> None:
    app.command("plugins")(plugins_command)

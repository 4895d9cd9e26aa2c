"""`promptkit datasets`: list the dataset catalog, or download one dataset explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._errors import handle_errors
from ._options import JsonOpt
from ._output import out_console, print_json

__all__ = ["datasets_command", "register"]

DataRootOpt = Annotated[
    Path | None,
    typer.Option(
        "--root", envvar="PROMPTKIT_DATA", show_envvar=True,
        help="Folder of named datasets [default: $PROMPTKIT_HOME/datasets, PROMPTKIT_HOME=~/.cache/promptkit].",
    ),
]


@handle_errors
def datasets_command(
    download: Annotated[
        str | None, typer.Option("--download", metavar="NAME", help="Download NAME's official files (needs network).")
    ] = None,
    root: DataRootOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List dataset names (VTAB-1k, FGVC, VTAB archives, embedded zoo tasks), whether each is on disk and where.

    VTAB-1k's 19 tasks (vtab-1k/<task>) are read from ROOT/vtab-1k/<task>/ as NOAH, SSF and SPT distribute
    them, FGVC's 5 (fgvc/<task>) from ROOT/fgvc/<folder>/ as VPT does. Any task folder works too: pass its
    path as --dataset to the commands that take one.
    """
    from promptkit.data import dataset_root, download_dataset, list_datasets

    base = dataset_root(root)
    if download is not None:
        where = download_dataset(download, root=base)
        if json_out:
            print_json({"downloaded": download, "root": str(where)})
        else:
            out_console().print(f"{download}: downloaded under {where}", highlight=False)
        return
    entries = list_datasets()
    rows = [
        {
            "name": e.name,
            "group": e.group,
            "num_classes": e.num_classes,
            "kind": e.kind,
            "present": e.is_present(base),
            "path": None if e.kind == "generated" else str(e.location(base)),
            "downloadable": e.downloadable,
            "description": e.description,
            "layout": e.layout,
            "homepage": e.homepage,
        }
        for e in entries
    ]
    if json_out:
        print_json({"root": str(base), "datasets": rows})
        return
    from rich.table import Table

    table = Table(title=f"datasets (root: {base})", title_justify="left")
    for column in ("name", "group", "classes", "on disk", "path (found, or where expected)"):
        table.add_column(column, no_wrap=column == "name", overflow="fold")
    for row in rows:
        present = "yes" if row["present"] else ("missing: --download" if row["downloadable"] else "missing")
        table.add_row(row["name"], row["group"], str(row["num_classes"] or "?"), present,
                      row["path"] or "(generated)")
    out_console().print(table)
    out_console().print("Any task folder works as a path too: split lists (train800.txt, val200.txt, "
                        "train800val200.txt, test.txt, or train/val/test.txt), train/val/test.json, or class "
                        "folders (train/<class>/..., test/<class>/...).", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("datasets")(datasets_command)

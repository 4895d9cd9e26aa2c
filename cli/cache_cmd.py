"""`promptkit cache`: the size of the feature cache and the run folders, and cleaning them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ._errors import handle_errors
from ._options import JsonOpt, YesOpt
from ._output import out_console, print_json

__all__ = ["cache_command", "register"]


def _human(n: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@handle_errors
def cache_command(
    clean: Annotated[str | None, typer.Option(
        "--clean", help="Delete the contents of an area: features (recomputed on next use), runs (train "
                        "checkpoints; --resume no longer possible) or all.")] = None,
    runs: Annotated[bool, typer.Option("--runs", help="Also list each run folder with its size.")] = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Show the size of the feature cache and the run folders under PROMPTKIT_HOME; --clean deletes one."""
    from promptkit.caches import AREAS, cache_areas, clean_area, run_folders
    from promptkit.errors import UsageError

    if clean is not None:
        names = list(AREAS) if clean == "all" else [clean]
        for name in names:
            if name not in AREAS:
                raise UsageError(f"unknown cache area {name!r}", hint="give --clean features, runs or all")
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError(f"refusing to delete the {clean} cache without confirmation", hint="add --yes")
            if not typer.confirm(f"delete everything in {', '.join(names)}?", err=True):
                raise typer.Exit(1)
        freed = [clean_area(n) for n in names]
        if json_out:
            print_json({"cleaned": [{"area": a.name, "path": str(a.path), "files": a.files, "bytes": a.bytes}
                                    for a in freed]})
        else:
            for a in freed:
                out_console().print(f"cleaned {a.name}: {a.files} files, {_human(a.bytes)} freed ({a.path})",
                                    highlight=False)
        return
    areas = cache_areas()
    folders = run_folders() if runs else []
    if json_out:
        print_json({"areas": [{"area": a.name, "path": str(a.path), "files": a.files, "bytes": a.bytes}
                              for a in areas],
                    "runs": [{"name": r.name, "path": str(r.path), "bytes": r.bytes} for r in folders]})
        return
    for a in areas:
        out_console().print(f"{a.name:<9} {_human(a.bytes):>10}  {a.files:>6} files  {a.path}", highlight=False)
    for r in folders:
        out_console().print(f"  run {r.name:<40} {_human(r.bytes):>10}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("cache")(cache_command)

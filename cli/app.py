"""The `promptkit` command: assembles the command groups; each lives in its own module.

Nothing heavy is imported here: torch and timm load inside the commands that need them, so
`promptkit --help` starts fast.
"""

from __future__ import annotations

import typer

from promptkit._version import __version__

from . import benchmark_cmd, cache_cmd, ensemble_cmd, hub_cmds, lineage_cmd, plugins_cmd, rank_cmd, registry_cmds
from . import datasets as datasets_cmd
from . import eval as eval_cmd
from . import train as train_cmd
from ._errors import OneLineErrors

__all__ = ["app", "main"]

app = typer.Typer(
    name="promptkit",
    cls=OneLineErrors,
    help="Manage, rank, ensemble and publish visual prompts for frozen Vision Transformers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"promptkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """promptkit: visual prompts as versioned, rankable, composable assets."""


registry_cmds.register(app)
lineage_cmd.register(app)
hub_cmds.register(app)
datasets_cmd.register(app)
train_cmd.register(app)
eval_cmd.register(app)
rank_cmd.register(app)
ensemble_cmd.register(app)
plugins_cmd.register(app)
cache_cmd.register(app)
benchmark_cmd.register(app)
# Command groups added by later modules register here, one line each.


def main() -> None:
    app()

"""Option types shared by every command (one definition, reused everywhere)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = [
    "BackboneChoiceOpt",
    "BackboneOpt",
    "BatchOpt",
    "DataRootOpt",
    "DataSeedOpt",
    "DatasetOpt",
    "DeviceOpt",
    "JsonOpt",
    "OldTargetOpt",
    "PrecisionOpt",
    "QuietOpt",
    "RegistryOpt",
    "SourcesArg",
    "TargetOpt",
    "WeightsOpt",
    "WorkersOpt",
    "YesOpt",
    "deprecated_spelling",
    "open_registry",
    "read_sources",
    "required_target",
]

RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry", envvar="PROMPTKIT_REGISTRY", show_envvar=True,
        help="Registry folder [default: $PROMPTKIT_HOME/registry, PROMPTKIT_HOME=~/.cache/promptkit].",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout, nothing else.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only what a script needs.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="auto (CUDA when present, else MPS, else CPU), cpu, cuda, cuda:N or mps.")
]

WeightsOpt = Annotated[
    Path | None,
    typer.Option("--weights", help="Local backbone weights (.safetensors, .pth, .bin) instead of downloading."),
]
DataRootOpt = Annotated[
    Path | None,
    typer.Option("--root", envvar="PROMPTKIT_DATA", show_envvar=True,
                 help="Folder of named datasets [default: $PROMPTKIT_HOME/datasets]."),
]
DataSeedOpt = Annotated[int, typer.Option("--data-seed", help="Seed of the VTAB-1k 800/200 train/val draw.")]
PrecisionOpt = Annotated[str, typer.Option("--precision", help="fp32, or bf16 autocast (GPUs).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Images per batch.")]
WorkersOpt = Annotated[int | None, typer.Option("--num-workers", help="DataLoader workers [default: by device].")]
DatasetOpt = Annotated[
    str, typer.Option("--dataset", "-d", help="Catalog name (`promptkit datasets`) or image folder.")
]
BackboneOpt = Annotated[
    str, typer.Option("--backbone", "-b", help="timm ViT name, e.g. vit_base_patch16_224.augreg_in21k.")
]

# the source prompts of `rank` and `ensemble` (promptkit.registry.sources.select_sources)
# Optional only so that the deprecated `-t` (OldTargetOpt) can stand in for it; `required` checks it.
TargetOpt = Annotated[str | None, typer.Option(
    "--target", "--dataset", "-d", show_default=False,
    help="Required. Catalog name (`promptkit datasets`) or image folder (--dataset/-d: the spelling train and "
         "eval use).")]
# Short flags mean one thing in every command: -t is --tag (add, list), -m is --message (push).
# The former meanings elsewhere still work, with a warning, until they are removed.
OldTargetOpt = Annotated[str | None, typer.Option("-t", hidden=True, help="Deprecated: use -d or --target.")]
SourcesArg = Annotated[
    list[str] | None,
    typer.Argument(help="Source references [default: the latest version of every prompt in the registry]; "
                        "'-' reads them from stdin, one per line."),
]
BackboneChoiceOpt = Annotated[
    str | None, typer.Option("--backbone", "-b", help="Use sources tuned on this backbone [default: the most common].")
]


def required_target(target: str | None, old_t: str | None) -> str:
    """--target, or the deprecated ``-t`` (with a warning on stderr); one of them is required.

    Raises:
        UsageError: neither was given, or both with different values.
    """
    from promptkit.errors import UsageError

    value = deprecated_spelling(target, old_t, old="-t", new="-d/--target", default=None,
                                why="-t means --tag in every command")
    if value is None:
        raise UsageError("missing option --target", hint="name the target task: --target NAME (or -d NAME); "
                                                         "`promptkit datasets` lists the names")
    return value


def deprecated_spelling(value: Any, old_value: Any, *, old: str, new: str, default: Any, why: str) -> Any:
    """The value of an option given either by its current spelling or by a deprecated one.

    Using the old spelling prints one warning on stderr naming the new one. Raises UsageError when
    both are given with different values.
    """
    if old_value is None:
        return value
    from promptkit.errors import UsageError

    from ._output import err_console

    if value != default and value != old_value:
        raise UsageError(f"{old} and {new} were both given, with different values",
                         hint=f"{old} is a deprecated spelling of {new}: give only {new}")
    err_console().print(f"warning: {old} is deprecated ({why}): use {new}", highlight=False)
    return old_value


def read_sources(sources: list[str] | None) -> list[str] | None:
    """Expand '-' into the references read from stdin (as printed by `rank --quiet`).

    None (no sources named) means the default set; '-' with nothing on stdin is an error, never
    "every source": an empty pipe most often means the command before it failed.

    Raises:
        UsageError: '-' was given and stdin held no reference.
    """
    if not sources:
        return None
    out: list[str] = []
    for s in sources:
        if s != "-":
            out.append(s)
            continue
        piped = [line.strip() for line in sys.stdin.read().splitlines() if line.strip()]
        if not piped:
            from promptkit.errors import UsageError

            raise UsageError("'-' read no source reference from stdin (it was empty)",
                             hint="the command piped in printed nothing: did it fail? Run it alone to see, or "
                                  "leave out '-' to use the default sources")
        out += piped
    return out


def open_registry(root: Path | None, *, create: bool = False):  # -> promptkit.registry.Registry (lazy import)
    """The registry at ``root`` (--registry or PROMPTKIT_REGISTRY), else the default location.

    A ``--registry`` folder that does not exist is an error for commands that only read (a typo
    would otherwise show the built-ins alone); commands that store (``create``) make it. A
    PROMPTKIT_REGISTRY folder that does not exist yet (a fresh registry set for a session) is
    read as empty, with a note on stderr.

    Raises:
        NotFoundError: ``--registry`` names no existing folder and ``create`` is false.
        UsageError: ``root`` names a file.
    """
    import os

    from promptkit.registry import Registry

    if root is not None and not create and not Path(root).exists():
        env = os.environ.get("PROMPTKIT_REGISTRY")
        if env and Path(env).expanduser() == Path(root).expanduser():
            from ._output import err_console

            err_console().print(f"note: no registry at {root} yet (PROMPTKIT_REGISTRY): reading it as empty",
                                highlight=False)
        else:
            from promptkit.errors import NotFoundError

            raise NotFoundError(f"no registry at {root}: the folder does not exist",
                                hint="check the --registry path; commands that store, such as `promptkit add`, "
                                     "create it")
    return Registry(root)

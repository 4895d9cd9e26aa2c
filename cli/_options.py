"""Option types shared by every command (one definition, reused everywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["DeviceOpt", "JsonOpt", "QuietOpt", "RegistryOpt", "YesOpt", "open_registry"]

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


def open_registry(root: Path | None):  # -> promptkit.registry.Registry (imported lazily for a fast --help)
    from promptkit.registry import Registry

    return Registry(root)

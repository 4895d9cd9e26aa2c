"""Option types shared by every command (one definition, reused everywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "BackboneOpt",
    "BatchOpt",
    "DataRootOpt",
    "DataSeedOpt",
    "DatasetOpt",
    "DeviceOpt",
    "JsonOpt",
    "PrecisionOpt",
    "QuietOpt",
    "RegistryOpt",
    "WeightsOpt",
    "WorkersOpt",
    "YesOpt",
    "open_registry",
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


def open_registry(root: Path | None):  # -> promptkit.registry.Registry (imported lazily for a fast --help)
    from promptkit.registry import Registry

    return Registry(root)

"""The zoo backbone's architecture: a small timm VisionTransformer, its input normalization and its loading.

This is the runtime half of the zoo backbone (``zoo-vit`` loads through it); the tooling that
pretrains it is not part of the installed package. A pretraining output folder holds
``record.json`` (architecture, pretext, recipe, ...) and ``backbone.safetensors`` (the ViT
trunk, no heads).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["PRETRAINED_CFG", "RECORD_FILE", "WEIGHTS_FILE", "ArchConfig", "build_vit", "load_zoo_vit", "normalize"]

WEIGHTS_FILE = "backbone.safetensors"
RECORD_FILE = "record.json"


@dataclass(frozen=True)
class ArchConfig:
    """The backbone: timm ``VisionTransformer`` keyword arguments."""

    img_size: int = 32
    patch_size: int = 4  # 8x8 = 64 patch tokens
    embed_dim: int = 128
    depth: int = 4  # depth 6 is ~1.5x slower to tune; the zoo budget goes to tuning runs (card)
    num_heads: int = 4  # head width 32
    mlp_ratio: float = 4.0
    global_pool: str = "token"  # VPT reads the cls token

    def timm_kwargs(self) -> dict[str, Any]:
        return {**asdict(self), "num_classes": 0}


PRETRAINED_CFG = {  # what promptkit's transforms read (data_config_for): 32x32, no crop, inputs in [-1, 1]
    "input_size": (3, 32, 32),
    "interpolation": "bilinear",
    "mean": (0.5, 0.5, 0.5),
    "std": (0.5, 0.5, 0.5),
    "crop_pct": 1.0,
    "crop_mode": "center",
}


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 images to the zoo backbone's input: ``(x / 255 - mean) / std`` with the config above.

    Shape:
        images: ``(N, 3, H, W)`` uint8; returns float32 of the same shape.
    """
    mean = torch.tensor(PRETRAINED_CFG["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(PRETRAINED_CFG["std"]).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def build_vit(arch: ArchConfig, *, seed: int = 0) -> nn.Module:
    """A randomly initialized zoo ViT (timm's init, from ``seed``), with the zoo's pretrained config attached."""
    from timm.models.vision_transformer import VisionTransformer

    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
        torch.manual_seed(seed)
        model = VisionTransformer(**arch.timm_kwargs())
    model.pretrained_cfg = dict(PRETRAINED_CFG)
    model.zoo_arch = asdict(arch)  # type: ignore[assignment]
    return model


def load_zoo_vit(folder: str | os.PathLike[str]) -> nn.Module:
    """The pretrained ViT of a pretraining output folder (float32, eval mode, no head).

    The architecture comes from ``record.json``; the model carries ``zoo_arch`` (its
    :class:`ArchConfig` fields) and the zoo's ``pretrained_cfg``.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    record = json.loads((folder / RECORD_FILE).read_text())
    kwargs = dict(record["backbone"]["kwargs"])
    kwargs.pop("num_classes", None)
    model = build_vit(ArchConfig(**kwargs))
    state = {k: v.float() for k, v in load_file(str(folder / record["backbone"]["weights_file"])).items()}
    model.load_state_dict(state)
    return model.eval()

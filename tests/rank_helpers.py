"""A tiny registered backbone, a colour-class image folder and source prompts for ranking tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from promptkit.backbone import BACKBONES, Backbone, register_backbone
from promptkit.identity import PromptGeometry

TEST_BACKBONE = "test-tiny-vit"


def _build(**_: object) -> Backbone:
    from timm.models.vision_transformer import VisionTransformer

    with torch.random.fork_rng():
        torch.manual_seed(0)  # the same weights (and digest) on every load
        model = VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=0)
    return Backbone.from_model(model, timm_name=TEST_BACKBONE)


if TEST_BACKBONE not in BACKBONES:
    register_backbone(TEST_BACKBONE)(lambda *, weights=None, pretrained=True, **kw: _build())


def tiny_backbone() -> Backbone:
    from promptkit.backbone import load_backbone

    return load_backbone(TEST_BACKBONE)


def colour_folder(root: Path, *, classes: int = 3, train: int = 12, test: int = 6, seed: int = 0) -> Path:
    """train/<class>/*.png and test/<class>/*.png: each class a noisy colour, 32x32."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, size=(classes, 3))
    for split, n in (("train", train), ("test", test)):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = np.clip(palette[c] + rng.normal(0, 40, size=(32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(folder / f"{i}.png")
    return root


def source_world(root: Path, *, digests: bool = False):
    """``(backbone, splits, sources)``: the tiny backbone, a colour folder's splits under ``root`` and
    three shallow source prompts of growing scale (tasks ``t0``..``t2``; ``sha256`` set when ``digests``)."""
    from promptkit.data import load_dataset, transform_for
    from promptkit.rank import SourcePrompt

    bb = tiny_backbone()
    splits = load_dataset(colour_folder(root / "colours"), transform=transform_for(bb.data_config))
    geo = PromptGeometry(mode="shallow", length=2, width=bb.embed_dim, layers=1)
    g = torch.Generator().manual_seed(0)
    extra = (lambda i: {"sha256": f"{i}" * 64}) if digests else (lambda i: {})
    sources = [SourcePrompt(f"s{i}:1", torch.randn(1, 2, bb.embed_dim, generator=g) * (i + 1), bb.identity, geo,
                            task=f"t{i}", **extra(i)) for i in range(3)]  # fmt: skip
    return bb, splits, sources


def add_sources(reg, backbone: Backbone, *, count: int = 3, length: int = 2, other_backbone: bool = False):
    """Store ``count`` random shallow prompts for ``backbone`` (and one for another backbone)."""
    from promptkit.registry import AssetSpec

    geometry = PromptGeometry(mode="shallow", length=length, width=backbone.embed_dim, layers=1)
    g = torch.Generator().manual_seed(1)
    refs = []
    for i in range(count):
        spec = AssetSpec(backbone=backbone.identity, geometry=geometry, task=f"task{i}")
        prompt = torch.randn(1, length, backbone.embed_dim, generator=g) * (0.5 + i)
        refs.append(reg.add(f"src/s{i}", {"prompt": prompt}, spec).ref)
    if other_backbone:
        other = backbone.identity.model_copy(update={"weights_sha256": "cd" * 32})
        reg.add("src/other", {"prompt": torch.zeros(1, length, backbone.embed_dim)},
                AssetSpec(backbone=other, geometry=geometry, task="elsewhere"))
    return refs

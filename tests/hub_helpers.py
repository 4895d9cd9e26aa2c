"""Helpers for Hub tests: a tiny prompt asset with a known backbone Hub id, and a folder snapshot."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HUB_ID", "add_prompt", "tree"]

HUB_ID = "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k"


def add_prompt(registry, name: str = "dtd-hg", *, seed: int = 0, **spec):
    """Add a tiny (1, 4, 8) prompt for vit_tiny with a known Hub id; returns its manifest."""
    import torch
    from promptkit.registry import AssetSpec

    from promptkit.identity import BackboneIdentity, PromptGeometry

    backbone = BackboneIdentity(
        timm_name="vit_tiny_patch16_224", pretrained_tag="augreg_in21k_ft_in1k", weights_sha256="ab" * 32,
        hub_id=HUB_ID,
    )
    spec = {"task": "dtd", "metrics": {"test_acc": 0.71}, **spec}
    g = torch.Generator().manual_seed(seed)
    return registry.add(
        name, {"prompt": torch.randn(1, 4, 8, generator=g)},
        AssetSpec(backbone=backbone, geometry=PromptGeometry(mode="shallow", length=4, width=8, layers=1), **spec),
    )


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (empty when ``root`` does not exist)."""
    if not root.exists():
        return {}
    return {
        os.path.relpath(os.path.join(d, f), root): Path(d, f).read_bytes()
        for d, _, files in os.walk(root) for f in files
    }

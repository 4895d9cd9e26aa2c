"""VPT's random prompt initialization (Jia et al., ECCV 2022)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from promptkit.inits._registry import InitContext

__all__ = ["vpt_uniform_bound"]


def vpt_uniform_bound(patch_size: tuple[int, int], width: int) -> float:
    """Xavier-uniform bound used by the official VPT code: ``v = sqrt(6 / (3 * p_h * p_w + d))``.

    For ViT-B/16 (``p = 16``, ``d = 768``) this is 0.0625.
    """
    return math.sqrt(6.0 / (3 * patch_size[0] * patch_size[1] + width))


def random_init(ctx: InitContext) -> Tensor:
    """VPT uniform init in [-v, v], v = sqrt(6 / (3 p^2 + d))."""
    v = vpt_uniform_bound(tuple(ctx.vit.patch_embed.patch_size), ctx.geometry.width)
    u = torch.rand(ctx.geometry.shape, generator=ctx.generator, dtype=torch.float32)  # [0, 1)
    return (u * 2.0 - 1.0) * v

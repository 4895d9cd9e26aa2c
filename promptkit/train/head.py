"""The trained linear head: a linear map on standardized pooled features.

Standardizing what the head sees makes one learning rate fit every feature dimension
(docs/zoo.md#lesson-2); the head starts from the linear-probe solution (Kumar et al., ICLR 2022). For
storage the standardization is folded into the weights, so a stored head is a plain
``W x + b`` on raw pooled features.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["StandardizedHead", "fold_standardization"]


def fold_standardization(weight: Tensor, bias: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
    """``W' = W / std`` (per column), ``b' = b - W' mean``, so ``W' x + b' == W ((x - mean) / std) + b``.

    Shape:
        - weight: ``(C, d)``; bias: ``(C,)``; mean, std: ``(d,)``
        - output: ``(C, d)`` and ``(C,)``
    """
    w = weight / std
    return w, bias - w @ mean


class StandardizedHead(nn.Module):
    """``logits = W ((x - mean) / std) + b`` with fixed ``mean``/``std`` and trainable ``W``, ``b``.

    Args:
        weight: initial ``W`` (e.g. a linear probe's, in standardized space).
        bias: initial ``b``.
        mean: per-dimension feature mean (a buffer, not trained).
        std: per-dimension feature std, all > 0 (a buffer).

    Shape:
        - input: ``(B, d)``
        - output: ``(B, C)``
    """

    def __init__(self, weight: Tensor, bias: Tensor, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().float().clone())
        self.bias = nn.Parameter(bias.detach().float().clone())
        self.register_buffer("mean", mean.detach().float().clone())
        self.register_buffer("std", std.detach().float().clone())

    def forward(self, x: Tensor) -> Tensor:
        x = (x.float() - self.mean) / self.std
        return x @ self.weight.T + self.bias

    @torch.no_grad()
    def folded(self) -> tuple[Tensor, Tensor]:
        """The equivalent plain head on raw features, as float32 CPU tensors."""
        w, b = fold_standardization(self.weight, self.bias, self.mean, self.std)
        return w.float().cpu().clone(), b.float().cpu().clone()

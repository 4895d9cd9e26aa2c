"""Which sources an ensemble keeps: the few that carry the weight.

A feature-level ensemble costs one forward per member and image, so it keeps only the sources
that carry most of alpha: in order of weight, until the kept weights cover ``cover`` of the
total, at most ``max_members``, and never one below ``min_weight`` (the top source is always
kept). The kept weights are renormalized to sum to 1. The defaults (cover 0.9, at most 3,
weight at least 0.05) follow the measured prototype in docs/method.md ("Compositions").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from promptkit.errors import UsageError

__all__ = ["MemberRule", "choose_members"]


@dataclass(frozen=True)
class MemberRule:
    """How many sources an ensemble keeps (see the module docstring)."""

    cover: float = 0.9  # keep sources, heaviest first, until their weights sum to this much of alpha
    max_members: int = 3  # at most this many members (inference costs one forward per member)
    min_weight: float = 0.05  # never keep a source weighing less than this (the top one excepted)
    stack_members: int | None = None  # stack: keep exactly the k heaviest (None: choose k on validation)

    def __post_init__(self) -> None:
        if not 0 < self.cover <= 1:
            raise UsageError(f"member rule: cover must lie in (0, 1], got {self.cover}")
        if self.max_members < 1:
            raise UsageError(f"member rule: max_members must be >= 1, got {self.max_members}")
        if not 0 <= self.min_weight < 1:
            raise UsageError(f"member rule: min_weight must lie in [0, 1), got {self.min_weight}")
        if self.stack_members is not None and self.stack_members < 1:
            raise UsageError(f"member rule: stack_members must be >= 1, got {self.stack_members}")


def choose_members(alpha: Tensor, rule: MemberRule | None = None) -> tuple[list[int], Tensor]:
    """The indices of the kept sources, heaviest first, and their renormalized weights.

    Args:
        alpha: the sources' weights (non-negative, not all zero).
        rule: the selection rule; default :class:`MemberRule`.

    Returns:
        ``(indices, weights)``; ``weights`` sums to 1, float64.

    Shape:
        alpha: ``(K,)``; weights: ``(k,)`` with ``1 <= k <= min(K, rule.max_members)``.
    """
    rule = rule or MemberRule()
    a = alpha.detach().to(torch.float64).cpu()
    if a.ndim != 1 or a.numel() == 0 or not bool(torch.isfinite(a).all()) or bool((a < 0).any()) or a.sum() <= 0:
        raise UsageError(f"member weights must be finite, non-negative and not all zero, got {a.tolist()}")
    a = a / a.sum()
    order = sorted(range(a.numel()), key=lambda i: (-float(a[i]), i))
    kept: list[int] = []
    covered = 0.0
    for i in order:
        if kept and (covered >= rule.cover - 1e-12 or len(kept) >= rule.max_members or float(a[i]) < rule.min_weight):
            break
        kept.append(i)
        covered += float(a[i])
    weights = a[kept]
    return kept, weights / weights.sum()

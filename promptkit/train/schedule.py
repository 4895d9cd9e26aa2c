"""The optimizer and the learning-rate schedule of prompt tuning (VPT's recipe).

Prompt parameters and the head are separate parameter groups (the head may have its own
learning rate; its bias has no weight decay); the learning rate warms up linearly, then decays
with a cosine to 0 (VPT's WarmupCosineSchedule). Each epoch's shuffling generator is seeded
from ``(seed, epoch)``, so a resumed run shuffles as an uninterrupted one.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from promptkit.train.config import TrainConfig
from promptkit.train.head import StandardizedHead

__all__ = ["epoch_seed", "lr_factor", "make_optimizer"]


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s shuffling generator (``seed * 100003 + epoch``)."""
    return seed * 100_003 + epoch


def make_optimizer(model: Any, head: StandardizedHead, config: TrainConfig) -> torch.optim.Optimizer:
    groups = [
        *model.prompt_groups(config.lr, config.weight_decay),
        {"params": [head.weight], "lr": config.effective_head_lr, "weight_decay": config.weight_decay},
        {"params": [head.bias], "lr": config.effective_head_lr, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    return torch.optim.AdamW(groups, lr=config.lr)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to 0 (VPT's WarmupCosineSchedule)."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

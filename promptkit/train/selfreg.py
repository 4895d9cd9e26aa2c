"""Self-regulation while tuning a prompt (PromptSRC; Khattak et al., ICCV 2023; docs/method.md#self-regulation).

Two of PromptSRC's three regularizers carry over to a vision-only ViT:

- mutual agreement with the frozen model: an L1 loss between the L2-normalized prompted and
  frozen (prompt-free) pooled features, weight 10, plus a KL loss between the prompted logits
  and the frozen model's logits at temperature 1, weight 1. A vision-only backbone has no
  zero-shot classifier, so the frozen logits come from a linear probe fit on frozen features.
- Gaussian prompt aggregation (GPA): the final prompt is ``sum_e w_e P_e`` over the prompts
  after each epoch ``e = 1..E``, with ``w_e`` proportional to ``N(e; mu, sigma)`` and
  normalized over the run's epochs.

The third, textual diversity, needs a text encoder and is not applicable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["GaussianPromptAggregator", "agreement_loss", "gpa_weights"]


def agreement_loss(
    features: Tensor,
    frozen_features: Tensor,
    logits: Tensor,
    frozen_logits: Tensor,
    *,
    feature_weight: float = 10.0,
    logit_weight: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """PromptSRC's mutual-agreement terms, already weighted: ``(l1_term, kl_term)``.

    ``l1 = mean |f / ||f|| - g / ||g|||`` over all elements; ``kl = sum KL(softmax(z_frozen) ||
    softmax(z)) / numel(z)`` at temperature 1 (PromptSRC's reduction).

    Shape:
        - features, frozen_features: ``(B, d)``
        - logits, frozen_logits: ``(B, C)``
    """
    l1 = F.l1_loss(F.normalize(features.float(), dim=-1), F.normalize(frozen_features.float(), dim=-1))
    kl = F.kl_div(
        F.log_softmax(logits.float(), dim=1),
        F.log_softmax(frozen_logits.float(), dim=1),
        reduction="sum",
        log_target=True,
    ) / logits.numel()
    return feature_weight * l1, logit_weight * kl


def gpa_weights(epochs: int, mu: float, sigma: float) -> list[float]:
    """Normalized Gaussian weights ``w_e`` for epochs ``e = 1..epochs``.

    Falls back to the last epoch alone when every weight underflows (``mu`` far outside the run).
    """
    raw = [math.exp(-0.5 * ((e - mu) / sigma) ** 2) for e in range(1, epochs + 1)]
    total = sum(raw)
    if total == 0.0:
        return [0.0] * (epochs - 1) + [1.0]
    return [w / total for w in raw]


class GaussianPromptAggregator:
    """Running ``sum_e w_e * tensors_e`` over epochs (PromptSRC's GPA).

    Args:
        epochs: total epochs of the run.
        mu: mean epoch (1-based).
        sigma: standard deviation in epochs.
    """

    def __init__(self, epochs: int, mu: float, sigma: float) -> None:
        self.weights = gpa_weights(epochs, mu, sigma)
        self.sums: dict[str, Tensor] = {}

    def update(self, epoch: int, tensors: dict[str, Tensor]) -> None:
        """Add the tensors after ``epoch`` (1-based) with that epoch's weight."""
        w = self.weights[epoch - 1]
        for name, t in tensors.items():
            t = t.detach().float()
            self.sums[name] = self.sums[name] + w * t if name in self.sums else w * t

    def result(self) -> dict[str, Tensor]:
        """The aggregate so far (complete once every epoch was added)."""
        return {k: v.clone() for k, v in self.sums.items()}

    def state(self) -> dict[str, Tensor]:
        return {k: v.detach().cpu() for k, v in self.sums.items()}

    def load_state(self, sums: dict[str, Tensor], device: torch.device) -> None:
        self.sums = {k: v.to(device) for k, v in sums.items()}

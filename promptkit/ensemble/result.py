"""What every ensemble-weight method returns: the weights and the numbers to judge them by."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from promptkit.ensemble.objective import SourceFeatures, ensemble_objective
from promptkit.errors import UsageError

__all__ = ["AlphaResult", "evaluate_weights"]


@dataclass(frozen=True, eq=False)
class AlphaResult:
    """Ensemble weights for one target and how they score (all numbers in float64).

    Shape:
        alpha: (K,), non-negative, sums to 1 (on the CPU).
        source_scores: (K,), each source's own shrinkage H-score on the target (on the CPU).
    """

    method: str  # registered name, e.g. "hgprompt", "uniform"
    alpha: Tensor
    lam: float  # the regularizer weight the objective was computed (and, for hgprompt, optimized) with
    objective: float  # T / (C - 1) - lam * R at alpha
    transferability: float  # T: shrinkage H-score of the alpha-mixture of features, in [0, C - 1]
    regularizer: float  # R: gradient-variance mismatch across sources at alpha
    source_scores: Tensor
    num_classes: int  # C
    history: tuple[float, ...] = ()  # objective before each optimization step; empty for closed forms

    @property
    def best_source_score(self) -> float:
        """The highest single-source shrinkage H-score (compare with ``transferability``)."""
        return float(self.source_scores.max())

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready values, for an asset's lineage (docs/method.md#hgprompt-step-6)."""
        return {
            "method": self.method,
            "alpha": [float(a) for a in self.alpha],
            "lam": self.lam,
            "objective": self.objective,
            "transferability": self.transferability,
            "regularizer": self.regularizer,
            "source_scores": [float(s) for s in self.source_scores],
            "num_classes": self.num_classes,
            "steps": len(self.history),
        }


def evaluate_weights(
    sources: SourceFeatures,
    alpha: Tensor,
    *,
    method: str,
    lam: float,
    history: tuple[float, ...] = (),
) -> AlphaResult:
    """Score given weights with HGPrompt's objective, in float64, and package them.

    Args:
        sources: prepared sources (:func:`promptkit.ensemble.objective.prepare_sources`).
        alpha: non-negative weights, one per source; normalized to sum to 1 here.
        method: the name to record.
        lam: regularizer weight for the recorded objective.
        history: the optimizer's objective trace, if any.

    Raises:
        UsageError: alpha of the wrong length, negative, non-finite or all zero.

    Shape:
        alpha: (K,).
    """
    alpha = alpha.detach().to(torch.float64)
    if alpha.shape != (sources.num_sources,):
        raise UsageError(f"alpha has shape {tuple(alpha.shape)}, expected ({sources.num_sources},), one per source")
    if not bool(torch.isfinite(alpha).all()) or bool((alpha < 0).any()) or float(alpha.sum()) <= 0:
        raise UsageError(f"ensemble weights must be finite, non-negative and not all 0, got {alpha.tolist()}")
    alpha = (alpha / alpha.sum()).cpu()
    src64 = sources if sources.features.dtype == torch.float64 else sources.to(torch.float64)
    with torch.no_grad():
        terms = ensemble_objective(src64, alpha, lam=lam)
    return AlphaResult(
        method=method,
        alpha=alpha,
        lam=float(lam),
        objective=float(terms.objective),
        transferability=float(terms.transferability),
        regularizer=float(terms.regularizer),
        source_scores=sources.source_scores.cpu(),
        num_classes=sources.num_classes,
        history=tuple(history),
    )

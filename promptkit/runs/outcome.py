"""What one method run gives: where tuning started, and the tuned model with its scores and costs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from promptkit.ensemble.result import AlphaResult
from promptkit.rank import SourcePrompt
from promptkit.runs.compositions import Built, Variant
from promptkit.train import TrainResult

__all__ = ["MethodResult", "Start"]


@dataclass(frozen=True)
class Start:
    """Where a method's tuning starts: a given prompt (composed or chosen), or a registered init."""

    init: str  # TrainConfig.init of the tuning run: "random", "kmeans", or "from:<method>" with ``prompt``
    prompt: Tensor | None = None  # (L, m, d): the start prompt for a "from" init
    weights: AlphaResult | None = None  # ensemble weights and their scores, for weight methods
    alpha: Tensor | None = None  # (K,) float64: the weights the start prompt was composed with
    details: dict[str, Any] = field(default_factory=dict)  # method-specific, JSON-ready


@dataclass
class MethodResult:
    """One method's outcome on one target.

    Attributes:
        method: the registered name.
        sources: the K sources, in input order (empty for methods that use none).
        start: how tuning started (alpha, ensemble weights and their scores, details).
        composed_hscore: shrinkage H-score of the target's training features under the start
            prompt, standardized as the mixture's (None for ``random`` and ``spt``); compare
            with ``transferability``, the score of the alpha-mixture of features.
        train: the tuned prompt, folded head, metrics (``test_acc``, ...) and history.
        seconds: wall time per phase: ``features``, ``weights``, ``spot``, ``compose``,
            ``tune``, ``total`` (features read from memory in a comparison cost 0 here).
    """

    method: str
    sources: tuple[SourcePrompt, ...]
    start: Start
    composed_hscore: float | None
    train: TrainResult
    seconds: dict[str, float]
    variant: Variant | None = None
    built: Built | None = None

    @property
    def label(self) -> str:
        """The row's name: the method, plus its composition unless it is the plain ``average``."""
        return self.method if self.variant is None else self.variant.label

    @property
    def composition(self) -> str | None:
        """How the weights became the model; None for methods without weights (random, spt)."""
        return None if self.alpha is None or self.variant is None else self.variant.composition

    @property
    def forwards(self) -> int:
        """Backbone forwards per image at inference: the members of an ensemble, else 1."""
        return 1 if self.built is None else self.built.forwards

    @property
    def learned_alpha(self) -> Tensor | None:
        """(k,) the weights after tuning, when they were learned (else None)."""
        a = self.train.extras.get("alpha")
        return None if a is None or self.variant is None or not self.variant.learn_alpha else a

    @property
    def alpha(self) -> Tensor | None:
        """(K,) weights the start prompt was composed with; None for ``random`` and ``spt``."""
        return self.start.alpha

    @property
    def weights(self) -> AlphaResult | None:
        return self.start.weights

    @property
    def transferability(self) -> float | None:
        """T: shrinkage H-score of the alpha-mixture of source features (weight methods only)."""
        return None if self.weights is None else self.weights.transferability

    @property
    def regularizer(self) -> float | None:
        """R: gradient-variance mismatch across sources at alpha (weight methods only)."""
        return None if self.weights is None else self.weights.regularizer

    @property
    def test_acc(self) -> float:
        return float(self.train.metrics["test_acc"])

    @property
    def warnings(self) -> list[str]:
        """Cautions for a person (the CLI prints them): tuning's, then the composition gap's.

        Composing prompts averages their *parameters*, while the weights were chosen on the
        mixture of their *features* (docs/method.md, "The composition gap"). When the composed start
        prompt scores below the best single source on the target, the composition lost part of
        what the weights found, and starting from that source alone may be better.
        """
        out = list(self.train.warnings)
        w = self.weights
        averaged = self.composition in (None, "average", "aligned")
        gap = w is not None and self.composed_hscore is not None and self.composed_hscore < w.best_source_score
        if averaged and gap:
            assert w is not None and self.composed_hscore is not None
            best = self.sources[int(torch.argmax(w.source_scores))].ref
            out.append(
                f"the composed start prompt scores {self.composed_hscore:.3f} (shrinkage H-score) on the target, "
                f"below the best single source {best} ({w.best_source_score:.3f}) and the weighted feature "
                f"mixture ({w.transferability:.3f}): averaging prompt parameters loses part of what the weights "
                "found (docs/method.md, 'The composition gap'): --compose ensemble keeps the mixture itself, and "
                "the best single source may be the better start (--compare best-single)"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (no tensors)."""
        alpha = None if self.alpha is None else [float(a) for a in self.alpha]
        learned = self.learned_alpha
        return {
            "method": self.method,
            "label": self.label,
            "composition": self.composition,
            "learn_alpha": bool(self.variant is not None and self.variant.learn_alpha),
            "forwards_per_image": self.forwards,
            "members": [] if self.built is None else [self.sources[i].ref for i in self.built.members],
            "member_alpha": None if self.built is None or self.built.member_alpha is None else
            [float(a) for a in self.built.member_alpha],
            "learned_alpha": None if learned is None else [float(a) for a in learned],
            "sources": [{"ref": s.ref, "sha256": s.sha256, "task": s.task,
                         "weight": None if alpha is None else alpha[i]} for i, s in enumerate(self.sources)],
            "alpha": alpha,
            "weights": None if self.weights is None else self.weights.to_dict(),
            "transferability": self.transferability,
            "regularizer": self.regularizer,
            "composed_hscore": self.composed_hscore,
            "warnings": self.warnings,
            "init": self.start.init,
            "details": {**self.start.details, **({} if self.built is None else self.built.details)},
            "metrics": dict(self.train.metrics),
            "seconds": dict(self.seconds),
            "config": self.train.config.to_dict(),
            "dataset_fingerprint": self.train.dataset_fingerprint,
        }

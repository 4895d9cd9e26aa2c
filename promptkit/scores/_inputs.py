"""Validation shared by every transferability score.

The reference implementations (tllib's ``ranking/``, the authors' scripts) assume labels
0..C-1 and silently return NaN for an empty or single-sample class. Every score here goes
through :func:`check_score_inputs` instead, which remaps any integer labels to 0..C-1 and
refuses, with the numbers, inputs that no score can be computed from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from promptkit.errors import ScoreInputError

__all__ = ["ScoreInputs", "check_score_inputs"]


@dataclass(frozen=True)
class ScoreInputs:
    """Features and labels after validation.

    Shape:
        features: (N, d), float64, still attached to the caller's autograd graph.
        labels: (N,), int64 in 0..C-1.
        classes: (C,), the caller's label values, sorted; ``classes[labels]`` gives them back.
        counts: (C,), int64, samples per class (every entry >= 2).
    """

    features: Tensor
    labels: Tensor
    classes: Tensor
    counts: Tensor

    @property
    def num_samples(self) -> int:
        """N."""
        return int(self.features.shape[0])

    @property
    def num_classes(self) -> int:
        """C."""
        return int(self.classes.shape[0])

    def one_hot(self) -> Tensor:
        """Class indicators as float64, shape (N, C)."""
        return torch.nn.functional.one_hot(self.labels, self.num_classes).to(self.features.dtype)

    def class_means(self) -> Tensor:
        """E[f | y = c] for every class c, shape (C, d)."""
        sums = self.one_hot().T @ self.features  # (C, d)
        return sums / self.counts.to(self.features.dtype).unsqueeze(1)


def _as_tensor(value: Tensor | object, what: str) -> Tensor:
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ScoreInputError(f"{what} cannot be read as a tensor: {exc}") from exc


def check_score_inputs(features: Tensor, labels: Tensor) -> ScoreInputs:
    """Validate features and labels for a transferability score and remap the labels.

    Conversion to float64 keeps the autograd graph, so scores stay differentiable w.r.t. the
    caller's features.

    Args:
        features: one row of features per sample (tensor or array-like).
        labels: one integer class label per sample, any integer values.

    Returns:
        The validated inputs, labels remapped to 0..C-1 in sorted order of the originals.

    Raises:
        ScoreInputError: features not 2-D, labels not 1-D or not integers, N mismatch, N <= 1,
            non-finite features, fewer than 2 classes, a class with fewer than 2 samples, or
            features that are constant across samples.

    Shape:
        features: (N, d); labels: (N,).
    """
    features = _as_tensor(features, "features")
    labels = _as_tensor(labels, "labels")
    if features.ndim != 2:
        raise ScoreInputError(
            f"features must be 2-D (N samples, d dimensions), got shape {tuple(features.shape)}",
            hint="pool or flatten each sample's features into one row",
        )
    if labels.ndim != 1:
        raise ScoreInputError(f"labels must be 1-D (N,), got shape {tuple(labels.shape)}")
    if features.shape[0] != labels.shape[0]:
        raise ScoreInputError(
            f"features have {features.shape[0]} rows but labels have {labels.shape[0]} entries",
            hint="pass one label per feature row",
        )
    n = int(features.shape[0])
    if n <= 1:
        raise ScoreInputError(f"need at least 2 samples, got N={n}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ScoreInputError(f"labels must be integers, got dtype {labels.dtype}")
    if not features.is_floating_point():
        features = features.to(torch.float64)
    bad = ~torch.isfinite(features.detach())
    if bool(bad.any()):
        row = int(bad.any(dim=1).nonzero()[0, 0])
        raise ScoreInputError(
            f"features contain {int(bad.sum())} non-finite values (NaN or inf) in "
            f"{int(bad.any(dim=1).sum())} of {n} rows, first in row {row}",
            hint="check the feature extraction for overflow (e.g. float16) or drop those samples",
        )
    classes, remapped, counts = torch.unique(labels, sorted=True, return_inverse=True, return_counts=True)
    if classes.numel() < 2:
        raise ScoreInputError(
            f"need at least 2 classes, got 1 (label {int(classes[0])} for all {n} samples)",
            hint="a transferability score compares classes; pass a labelled set with several classes",
        )
    small = (counts < 2).nonzero().flatten()
    if small.numel() > 0:
        named = ", ".join(f"class {int(classes[i])} has {int(counts[i])}" for i in small[:5])
        more = f" and {small.numel() - 5} more" if small.numel() > 5 else ""
        raise ScoreInputError(
            f"every class needs at least 2 samples: {named}{more} (N={n}, {classes.numel()} classes)",
            hint="collect more samples for those classes or drop them",
        )
    features = features.to(torch.float64)
    if bool((features.detach() == features.detach()[0]).all()):
        raise ScoreInputError(f"features are identical for all {n} samples (zero variance in every dimension)")
    return ScoreInputs(features=features, labels=remapped.to(torch.int64), classes=classes, counts=counts)

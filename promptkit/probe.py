"""The linear probe: full-batch multinomial logistic regression on frozen features.

Used for single-source transfer accuracy (docs/method.md#evaluation), for evaluation, and to
start every trained head from the probe's solution ("linear probing, then fine-tuning";
Kumar, Raghunathan, Jones, Ma, Liang, ICLR 2022), since a head trained from scratch for a
few epochs underfits far below the probe (docs/zoo.md#lesson-2).

The fit is deterministic: standardized features, zero initialization, one torch L-BFGS run
with strong Wolfe line search on the full batch, no randomness anywhere. The objective is

    mean_i CE(W x_i' + b, y_i) + (l2 / 2) ||W||_F^2,   x' = (x - mean) / std,

which is scikit-learn's ``LogisticRegression(C=1 / (l2 * N))`` on the standardized features
(bias not penalized).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from promptkit.errors import ScoreInputError
from promptkit.stats import standardization

__all__ = ["LinearProbe", "fit_linear_probe", "probe_accuracy", "select_l2"]


@dataclass(frozen=True)
class LinearProbe:
    """A linear classifier on standardized features.

    logits(x) = weight @ ((x - mean) / std) + bias.

    Shape:
        weight: (C, d); bias: (C,); mean: (d,); std: (d,), all entries > 0.
    """

    weight: Tensor
    bias: Tensor
    mean: Tensor
    std: Tensor

    @property
    def num_classes(self) -> int:
        """C."""
        return int(self.weight.shape[0])

    def logits(self, features: Tensor) -> Tensor:
        """Class scores for raw (unstandardized) features.

        Shape:
            features: (N, d); output: (N, C).
        """
        x = (features.to(self.weight.dtype) - self.mean) / self.std
        return x @ self.weight.T + self.bias

    def predict(self, features: Tensor) -> Tensor:
        """Predicted class indices (argmax of the logits).

        Shape:
            features: (N, d); output: (N,), int64.
        """
        return self.logits(features).argmax(dim=1)

    def accuracy(self, features: Tensor, labels: Tensor) -> float:
        """Fraction of samples whose predicted class equals the label.

        Shape:
            features: (N, d); labels: (N,).
        """
        _check_features_labels(features, labels)
        return float((self.predict(features) == labels.to(self.weight.device)).double().mean())

    def folded(self) -> tuple[Tensor, Tensor]:
        """The head for raw features, standardization folded in (how heads are stored).

        W' = W / std (column-wise), b' = b - W' @ mean, so W' x + b' == W ((x - mean) / std) + b.

        Shape:
            output: (C, d) and (C,).
        """
        w = self.weight / self.std  # (C, d)
        return w, self.bias - w @ self.mean


def _check_features_labels(features: Tensor, labels: Tensor) -> None:
    if features.ndim != 2:
        raise ScoreInputError(f"probe features must be 2-D (N, d), got shape {tuple(features.shape)}")
    if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
        raise ScoreInputError(
            f"probe labels must have shape ({features.shape[0]},) to match the features, got {tuple(labels.shape)}"
        )
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ScoreInputError(f"probe labels must be integer class indices, got dtype {labels.dtype}")


def fit_linear_probe(
    features: Tensor,
    labels: Tensor,
    *,
    num_classes: int | None = None,
    l2: float = 1e-3,
    max_iter: int = 200,
    standardize: bool = True,
) -> LinearProbe:
    """Fit a multinomial logistic-regression probe, deterministically.

    Minimizes mean cross-entropy + (l2 / 2) ||W||_F^2 with L-BFGS (strong Wolfe line search)
    from W = 0, b = 0 on the full batch, in the features' dtype (float64 stays float64,
    anything else runs in float32).

    Args:
        features: frozen features, one row per sample.
        labels: class indices in 0..num_classes-1.
        num_classes: C; ``labels.max() + 1`` when None (pass it when a class may be absent).
        l2: weight penalty (not on the bias); sklearn's C = 1 / (l2 * N).
        max_iter: L-BFGS iterations.
        standardize: standardize each dimension with the training mean and std (stored in
            the probe); when False, mean = 0 and std = 1.

    Returns:
        The fitted :class:`LinearProbe`.

    Raises:
        ScoreInputError: bad shapes, non-integer or out-of-range labels, non-finite features,
            fewer than 1 sample, or l2 < 0.

    Shape:
        features: (N, d); labels: (N,).
    """
    _check_features_labels(features, labels)
    if features.shape[0] < 1:
        raise ScoreInputError("cannot fit a probe on 0 samples")
    if l2 < 0 or max_iter < 1:
        raise ScoreInputError(f"need l2 >= 0 and max_iter >= 1, got l2={l2}, max_iter={max_iter}")
    dtype = torch.float64 if features.dtype == torch.float64 else torch.float32
    x = features.detach().to(dtype)
    if not bool(torch.isfinite(x).all()):
        raise ScoreInputError(f"probe features contain {int((~torch.isfinite(x)).sum())} non-finite values")
    y = labels.detach().to(device=x.device, dtype=torch.int64)
    c = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if int(y.min()) < 0 or int(y.max()) >= c:
        raise ScoreInputError(
            f"probe labels must lie in 0..{c - 1}, got range {int(y.min())}..{int(y.max())}",
            hint="pass num_classes, or remap the labels to 0..C-1",
        )
    if standardize:
        mean, std = standardization(x)
    else:
        mean, std = x.new_zeros(x.shape[1]), x.new_ones(x.shape[1])
    xs = (x - mean) / std  # (N, d)
    weight = x.new_zeros(c, x.shape[1], requires_grad=True)
    bias = x.new_zeros(c, requires_grad=True)
    opt = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-9 if dtype == torch.float64 else 1e-6,
        tolerance_change=1e-12 if dtype == torch.float64 else 1e-9,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xs @ weight.T + bias, y) + 0.5 * l2 * (weight * weight).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return LinearProbe(weight=weight.detach(), bias=bias.detach(), mean=mean, std=std)


def select_l2(
    train_f: Tensor,
    train_y: Tensor,
    val_f: Tensor,
    val_y: Tensor,
    *,
    grid: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1),
    **kwargs: Any,
) -> float:
    """The l2 from ``grid`` whose probe has the best validation accuracy (ties: larger l2).

    Args:
        train_f, train_y: features and labels the probes are fit on.
        val_f, val_y: held-out features and labels they are compared on.
        grid: candidate penalties.
        **kwargs: passed to :func:`fit_linear_probe` (not ``l2``).

    Shape:
        train_f: (N, d); train_y: (N,); val_f: (M, d); val_y: (M,).
    """
    if not grid:
        raise ScoreInputError("select_l2 needs a non-empty grid")
    c = int(max(int(train_y.max()), int(val_y.max()))) + 1
    kwargs.setdefault("num_classes", c)
    scored = [(fit_linear_probe(train_f, train_y, l2=l2, **kwargs).accuracy(val_f, val_y), l2) for l2 in grid]
    return float(max(scored)[1])  # max over (accuracy, l2): the tie-break favours the larger l2


def probe_accuracy(train_f: Tensor, train_y: Tensor, test_f: Tensor, test_y: Tensor, **kwargs: Any) -> float:
    """Test accuracy of a linear probe fit on the training features.

    The single-source transfer accuracy of docs/method.md#evaluation: features of the target's
    train and test images under one frozen source prompt.

    Args:
        train_f, train_y: training features and class indices.
        test_f, test_y: test features and class indices.
        **kwargs: passed to :func:`fit_linear_probe`; num_classes defaults to the largest
            label in either split plus one.

    Shape:
        train_f: (N, d); train_y: (N,); test_f: (M, d); test_y: (M,).
    """
    kwargs.setdefault("num_classes", int(max(int(train_y.max()), int(test_y.max()))) + 1)
    return fit_linear_probe(train_f, train_y, **kwargs).accuracy(test_f, test_y)

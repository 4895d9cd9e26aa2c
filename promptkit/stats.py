"""Small statistics: feature standardization, Spearman rank correlation, mean with standard deviation.

The paper's headline diagnostic (HGPrompt, docs/method.md#evaluation) is the Spearman correlation
between learned ensemble weights and single-source transfer accuracies; ties are common
there (equal accuracies on 200 test images), so ranks are averaged over ties as in
``scipy.stats.spearmanr``. NumPy only: scipy is not a runtime dependency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from promptkit.errors import UsageError

__all__ = ["mean_std", "rankdata", "spearman", "standardization"]

Values = Sequence[float] | np.ndarray | Tensor


def standardization(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-dimension mean and population standard deviation of features, for ``(x - mean) / std``.

    A constant dimension carries nothing: its std is replaced by 1 (left unscaled rather than
    divided by ~0). Used by the linear probe, the ensemble objective and ensemble members alike.

    Shape:
        x: (N, d); mean, std: (d,), in ``x``'s dtype; every std entry > 0.
    """
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False)
    floor = 10 * torch.finfo(x.dtype).eps * mean.abs().clamp_min(1.0)
    return mean, torch.where(std > floor, std, torch.ones_like(std))


def _as_vector(values: Values, what: str) -> np.ndarray:
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise UsageError(f"{what} must be a flat sequence of numbers, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise UsageError(f"{what} contains {int((~np.isfinite(arr)).sum())} non-finite values")
    return arr


def rankdata(values: Values) -> np.ndarray:
    """Ranks 1..n, tied values sharing the average of the ranks they span.

    Example: [10, 20, 20, 30] -> [1, 2.5, 2.5, 4].

    Shape:
        values: (n,); output: (n,), float64.
    """
    arr = _as_vector(values, "values")
    _, inverse, counts = np.unique(arr, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts  # ranks taken by smaller values, per distinct value
    average = first + (counts + 1) / 2.0  # mean of ranks first+1 .. first+count
    return average[inverse.reshape(-1)]


def spearman(x: Values, y: Values) -> float:
    """Spearman rank correlation: the Pearson correlation of the average ranks.

    rho = cov(rank x, rank y) / (std(rank x) std(rank y)), ties given average ranks (the same
    value as ``scipy.stats.spearmanr``).

    Args:
        x: n numbers.
        y: n numbers, paired with ``x``.

    Returns:
        rho in [-1, 1]; NaN when either side is constant (no ranking to correlate).

    Raises:
        UsageError: lengths differ, fewer than 2 pairs, or non-finite values.

    Shape:
        x: (n,); y: (n,).
    """
    rx, ry = rankdata(x), rankdata(y)
    if rx.shape != ry.shape:
        raise UsageError(f"spearman needs paired values, got {rx.shape[0]} and {ry.shape[0]}")
    if rx.shape[0] < 2:
        raise UsageError(f"spearman needs at least 2 pairs, got {rx.shape[0]}")
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
    if denom == 0.0:
        return float("nan")
    return float(np.clip((dx * dy).sum() / denom, -1.0, 1.0))


def mean_std(values: Values, *, ddof: int = 1) -> tuple[float, float]:
    """Mean and standard deviation, e.g. of a metric over seeds.

    Args:
        values: at least one number.
        ddof: 1 (default) for the sample standard deviation, 0 for the population one.

    Returns:
        (mean, std); std is 0.0 for a single value.

    Raises:
        UsageError: no values, or non-finite values.

    Shape:
        values: (n,).
    """
    arr = _as_vector(values, "values")
    if arr.shape[0] == 0:
        raise UsageError("mean_std needs at least one value")
    if arr.shape[0] <= ddof:
        return float(arr.mean()), 0.0
    return float(arr.mean()), float(arr.std(ddof=ddof))

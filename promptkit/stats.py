"""Small statistics: feature standardization, Spearman rank correlation, mean with standard deviation.

The paper's headline diagnostic (HGPrompt, docs/method.md#evaluation) is the Spearman correlation
between learned ensemble weights and single-source transfer accuracies; ties are common
there (equal accuracies on 200 test images), so ranks are averaged over ties: both come from
SciPy (``scipy.stats.rankdata`` and ``scipy.stats.spearmanr``, scipy being a dependency), with
promptkit's input checks and a NaN, not a warning, for a constant side.
"""

from __future__ import annotations

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
    from scipy.stats import rankdata as scipy_rankdata

    return np.asarray(scipy_rankdata(_as_vector(values, "values"), method="average"), dtype=np.float64)


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
    from scipy.stats import spearmanr

    vx, vy = _as_vector(x, "x"), _as_vector(y, "y")
    if vx.shape != vy.shape:
        raise UsageError(f"spearman needs paired values, got {vx.shape[0]} and {vy.shape[0]}")
    if vx.shape[0] < 2:
        raise UsageError(f"spearman needs at least 2 pairs, got {vx.shape[0]}")
    if np.ptp(vx) == 0 or np.ptp(vy) == 0:
        return float("nan")  # scipy would warn (ConstantInputWarning) and return NaN
    return float(np.clip(spearmanr(vx, vy).statistic, -1.0, 1.0))


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

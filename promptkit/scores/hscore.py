"""H-score (Bao, Li, Huang, Zheng, Zhang, Lin; "An information-theoretic approach to
transferability in task transfer learning", ICIP 2019).

    H(f) = tr( cov(f)^+ cov(E[f | y]) )

cov is the (N-1)-normalized sample covariance and E[f | y] replaces each sample by the mean
of its class, so cov(E[f | y]) is the class-size-weighted between-class covariance. As in
the authors' reference code, the inverse is a pseudo-inverse with relative cutoff 1e-15.
H lies in [0, C - 1] when cov(f) is invertible; larger is more transferable.

When d is large against N (VTAB-1k: N = 1000, d = 768) cov(f) is singular or nearly so and
the cutoff decides which noise directions count, which makes H unstable; use
:func:`promptkit.scores.shrinkage.shrinkage_hscore` there.
"""

from __future__ import annotations

import torch
from torch import Tensor

from promptkit.scores._inputs import ScoreInputs, check_score_inputs

__all__ = ["PINV_RTOL", "between_class_covariance", "hscore"]

PINV_RTOL = 1e-15  # the reference code's np.linalg.pinv(rcond=1e-15)


def between_class_covariance(inputs: ScoreInputs) -> Tensor:
    """cov(E[f | y]): the covariance of the class means, each counted once per member.

    sum_c n_c (mu_c - mu)(mu_c - mu)^T / (N - 1), which equals the (N-1)-normalized sample
    covariance of the N vectors E[f | y_i] (their mean is the overall mean mu).

    Args:
        inputs: validated features and labels (:func:`check_score_inputs`).

    Returns:
        The between-class covariance, float64, differentiable w.r.t. the features.

    Shape:
        inputs.features: (N, d); output: (d, d).
    """
    f = inputs.features
    diff = inputs.class_means() - f.mean(dim=0)  # (C, d)
    weighted = diff * inputs.counts.to(f.dtype).unsqueeze(1)  # (C, d), row c scaled by n_c
    return weighted.T @ diff / (inputs.num_samples - 1)


def hscore(features: Tensor, labels: Tensor) -> Tensor:
    """H-score of features for a labelled target task (Bao et al., ICIP 2019).

    H(f) = tr( pinv(cov(f)) @ cov(E[f | y]) ), covariances (N-1)-normalized, pinv with
    relative cutoff :data:`PINV_RTOL`. Computed in float64. Differentiable w.r.t. the
    features: torch's pinv backward is the closed-form derivative of the pseudo-inverse,
    so it stays finite for repeated or zero eigenvalues, but the value itself jumps where the
    numerical rank changes (d near or above N).

    Args:
        features: one row per sample.
        labels: one integer label per sample, any values (remapped to 0..C-1).

    Returns:
        A float64 scalar tensor on the features' device.

    Raises:
        ScoreInputError: see :func:`check_score_inputs`.

    Shape:
        features: (N, d); labels: (N,); output: ().
    """
    inputs = check_score_inputs(features, labels)
    f = inputs.features
    centered = f - f.mean(dim=0)  # (N, d)
    cov_f = centered.T @ centered / (inputs.num_samples - 1)  # (d, d)
    cov_g = between_class_covariance(inputs)  # (d, d)
    pinv = torch.linalg.pinv(cov_f, rtol=PINV_RTOL, hermitian=True)  # (d, d)
    # tr(A B) = sum(A * B^T), and cov_g is symmetric.
    return (pinv * cov_g).sum()

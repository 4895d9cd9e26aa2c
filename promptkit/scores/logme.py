"""LogME (You, Liu, Wang, Long; "LogME: Practical assessment of pre-trained models for
transfer learning", ICML 2021).

For each class c, regress the one-hot target y_c on the features with Bayesian linear
regression (prior m ~ N(0, alpha^-1 I), noise precision beta) and take the maximized log
evidence per sample:

    L(alpha, beta) = d/2 log alpha + N/2 log beta - N/2 log 2pi
                     - beta/2 ||y - F m||^2 - alpha/2 ||m||^2 - 1/2 log |alpha I + beta F^T F|,
    m = beta (alpha I + beta F^T F)^-1 F^T y.

alpha and beta come from MacKay's fixed point, gamma = sum_i s_i / (s_i + alpha/beta)
over the eigenvalues s_i of F^T F, alpha <- gamma / ||m||^2, beta <- (N - gamma) / ||y - F m||^2.
LogME is the mean over classes of L / N. The features are used as given (no centering).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from promptkit.scores._inputs import check_score_inputs

__all__ = ["logme"]

# The published algorithm's constants (ICML 2021 version of the authors' code), kept so that
# values compare with the literature: start at alpha = beta = 1, at most 11 updates, stop when
# alpha/beta moves by less than 1 %, and add 1e-5 to both denominators.
_MAX_UPDATES = 11
_REL_TOL = 0.01
_EPS = 1e-5


def _class_evidence(u: Tensor, sigma: Tensor, y: Tensor, dim: int) -> Tensor:
    """Maximized log evidence per sample of one target column (LogME's fixed point).

    Works in the basis of the thin SVD F = U diag(sigma) V^T, where the posterior mean has
    coordinates m_i = beta sigma_i z_i / (alpha + beta s_i), z = U^T y, s = sigma^2 (the
    remaining d - k eigenvalues of F^T F are 0 and add (d - k) log alpha to log |A|).

    Shape:
        u: (N, k); sigma: (k,); y: (N,); output: ().
    """
    n = u.shape[0]
    s = sigma * sigma  # (k,) nonzero-part eigenvalues of F^T F
    z = u.T @ y  # (k,)
    alpha = torch.ones((), dtype=y.dtype, device=y.device)
    beta = torch.ones_like(alpha)
    lam = alpha / beta
    for _ in range(_MAX_UPDATES):
        gamma = (s / (s + lam)).sum()
        m = beta * sigma * z / (alpha + beta * s)  # (k,) posterior mean in V coordinates
        m_sq = (m * m).sum()
        res_sq = ((y - u @ (sigma * m)) ** 2).sum()  # ||y - F m||^2
        alpha = gamma / (m_sq + _EPS)
        beta = (n - gamma) / (res_sq + _EPS)
        new_lam = alpha / beta
        if bool((new_lam - lam).abs() / lam < _REL_TOL):
            break
        lam = new_lam
    log_det = torch.log(alpha + beta * s).sum() + (dim - s.shape[0]) * torch.log(alpha)
    evidence = (
        dim / 2 * torch.log(alpha)
        + n / 2 * torch.log(beta)
        - log_det / 2
        - beta / 2 * (res_sq + _EPS)
        - alpha / 2 * (m_sq + _EPS)
        - n / 2 * math.log(2 * math.pi)
    )
    return evidence / n


def logme(features: Tensor, labels: Tensor) -> Tensor:
    """LogME of features for a classification target (You et al., ICML 2021).

    Mean over classes of the maximized log evidence per sample of a Bayesian linear
    regression from the features to that class's one-hot column (see the module docstring).
    Follows the published algorithm (alpha = beta = 1 at start, at most 11 fixed-point
    updates, stop at < 1 % change of alpha/beta, 1e-5 added to the denominators), using one
    thin SVD of the features. Computed in float64 on detached features: not differentiable.

    Args:
        features: one row per sample.
        labels: one integer label per sample, any values (remapped to 0..C-1).

    Returns:
        A float64 scalar tensor on the features' device; larger is more transferable.

    Raises:
        ScoreInputError: see :func:`promptkit.scores._inputs.check_score_inputs`.

    Shape:
        features: (N, d); labels: (N,); output: ().
    """
    inputs = check_score_inputs(features, labels)
    f = inputs.features.detach()
    u, sigma, _ = torch.linalg.svd(f, full_matrices=False)  # (N, k), (k,), k = min(N, d)
    targets = inputs.one_hot()  # (N, C)
    per_class = [_class_evidence(u, sigma, targets[:, c], f.shape[1]) for c in range(inputs.num_classes)]
    return torch.stack(per_class).mean()

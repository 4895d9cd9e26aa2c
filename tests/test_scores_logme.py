"""LogME against a direct NumPy transcription of You et al.'s Algorithm 1 (naive form)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from promptkit.scores import logme


def _reference_logme(f: np.ndarray, y: np.ndarray) -> float:
    """Algorithm 1 of You et al. (ICML 2021) with the naive posterior mean m = beta A^-1 F^T t.

    Constants of the published algorithm: alpha = beta = 1 at start, at most 11 updates, stop
    when alpha / beta changes by less than 1 %, 1e-5 added to both denominators.
    """
    n, d = f.shape
    ftf = f.T @ f
    s = np.linalg.eigvalsh(ftf)
    evidences = []
    for c in sorted(set(y.tolist())):
        t = (y == c).astype(np.float64)
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            gamma = float(np.sum(beta * s / (alpha + beta * s)))
            a_mat = alpha * np.eye(d) + beta * ftf
            m = beta * np.linalg.solve(a_mat, f.T @ t)
            m2 = float(m @ m)
            r2 = float(np.sum((t - f @ m) ** 2))
            new_alpha = gamma / (m2 + 1e-5)
            new_beta = (n - gamma) / (r2 + 1e-5)
            converged = abs(new_alpha / new_beta - alpha / beta) / (alpha / beta) < 0.01
            alpha, beta = new_alpha, new_beta
            if converged:
                break
        _, logdet = np.linalg.slogdet(alpha * np.eye(d) + beta * ftf)
        evidence = (
            d / 2 * math.log(alpha)
            + n / 2 * math.log(beta)
            - logdet / 2
            - beta / 2 * (r2 + 1e-5)
            - alpha / 2 * (m2 + 1e-5)
            - n / 2 * math.log(2 * math.pi)
        )
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def _data(seed: int, n: int, d: int, c: int, signal: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    f = torch.randn(n, d, generator=g, dtype=torch.float64)
    f[:, : min(c, d)] += signal * torch.nn.functional.one_hot(y, c)[:, : min(c, d)]
    return f, y


class TestLogme:
    @pytest.mark.parametrize(("n", "d", "c"), [(60, 5, 3), (40, 16, 4), (20, 50, 2), (30, 30, 5)])
    def test_matches_reference_transcription(self, n: int, d: int, c: int) -> None:
        f, y = _data(n * d + c, n, d, c)
        assert float(logme(f, y)) == pytest.approx(_reference_logme(f.numpy(), y.numpy()), rel=1e-8)

    def test_informative_features_score_higher(self) -> None:
        noise = float(logme(*_data(1, 200, 10, 4, signal=0.0)))
        signal = float(logme(*_data(1, 200, 10, 4, signal=3.0)))
        assert signal > noise

    def test_float32_input_returns_float64_scalar(self) -> None:
        f, y = _data(2, 50, 6, 3)
        out = logme(f.float(), y)
        assert out.dtype == torch.float64 and out.shape == ()
        assert float(out) == pytest.approx(_reference_logme(f.float().double().numpy(), y.numpy()), rel=1e-8)

    def test_ignores_gradient_requests(self) -> None:
        f, y = _data(3, 30, 4, 2)
        assert not logme(f.requires_grad_(True), y).requires_grad

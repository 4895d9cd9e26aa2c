"""The gradient-variance mismatch R against its definition, sample by sample."""

from __future__ import annotations

import pytest
import torch

from promptkit.ensemble import gradient_variance_atoms, variance_mismatch
from promptkit.errors import UsageError


def _features(seed: int, k: int = 3, n: int = 40, d: int = 5, c: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    scale = torch.arange(1, k + 1, dtype=torch.float64)[:, None, None]  # sources of different scales
    return torch.randn(k, n, d, generator=g, dtype=torch.float64) * scale, y


def _per_sample_gradients(f: torch.Tensor, y: torch.Tensor, c: int) -> torch.Tensor:
    """(p(x) - y(x)) f(x)^T for each sample, p = 1/C: shape (N, C, d)."""
    p = torch.full((c,), 1.0 / c, dtype=torch.float64)
    onehot = torch.eye(c, dtype=torch.float64)
    return torch.stack([torch.outer(p - onehot[y[s]], f[s]) for s in range(f.shape[0])])


def _definition(features: torch.Tensor, y: torch.Tensor, alpha: torch.Tensor) -> float:
    """g_i(x) = alpha_i (p(x) - y(x)) f_i(x)^T with p = 1/C, v_i its variance over x, R by formula."""
    k = features.shape[0]
    c = int(y.max()) + 1
    v = [(alpha[i] * _per_sample_gradients(features[i], y, c)).var(dim=0, unbiased=False) for i in range(k)]
    mean = sum(v) / k
    return float(sum(((vi - mean) ** 2).sum() for vi in v) / k / (mean**2).sum())


class TestGradientVarianceAtoms:
    def test_is_the_variance_of_the_per_sample_gradient(self) -> None:
        f, y = _features(0)
        atoms = gradient_variance_atoms(f, y)
        assert atoms.shape == (3, 3, 5)
        for i in range(3):
            assert torch.allclose(atoms[i], _per_sample_gradients(f[i], y, 3).var(dim=0, unbiased=False))

    def test_accepts_any_integer_labels(self) -> None:
        f, y = _features(1)
        assert torch.equal(gradient_variance_atoms(f, y), gradient_variance_atoms(f, 5 * y + 2))

    def test_refuses_mismatched_shapes(self) -> None:
        f, y = _features(2)
        with pytest.raises(UsageError):
            gradient_variance_atoms(f, y[:-1])

    def test_refuses_a_single_class(self) -> None:
        f, _ = _features(3)
        with pytest.raises(UsageError, match="2 classes"):
            gradient_variance_atoms(f, torch.zeros(40, dtype=torch.long))


class TestVarianceMismatch:
    def test_matches_the_definition(self) -> None:
        f, y = _features(4)
        alpha = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
        r = variance_mismatch(alpha, gradient_variance_atoms(f, y))
        assert float(r) == pytest.approx(_definition(f, y, alpha), rel=1e-10)

    def test_is_scale_free(self) -> None:
        f, y = _features(5)
        alpha = torch.tensor([0.6, 0.1, 0.3], dtype=torch.float64)
        r = float(variance_mismatch(alpha, gradient_variance_atoms(f, y)))
        assert float(variance_mismatch(alpha, gradient_variance_atoms(7.5 * f, y))) == pytest.approx(r, rel=1e-10)
        assert float(variance_mismatch(4 * alpha, gradient_variance_atoms(f, y))) == pytest.approx(r, rel=1e-10)

    def test_is_zero_for_identical_sources_with_equal_weights(self) -> None:
        f, y = _features(6, k=1)
        atoms = gradient_variance_atoms(f.expand(4, -1, -1), y)
        equal = torch.full((4,), 0.25, dtype=torch.float64)
        assert float(variance_mismatch(equal, atoms)) == pytest.approx(0, abs=1e-15)

    def test_pulls_identical_sources_towards_equal_weights(self) -> None:
        f, y = _features(7, k=1)
        atoms = gradient_variance_atoms(f.expand(3, -1, -1), y)
        uneven = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
        assert float(variance_mismatch(uneven, atoms)) > 0

    def test_is_zero_for_one_source(self) -> None:
        f, y = _features(8, k=1)
        assert float(variance_mismatch(torch.ones(1, dtype=torch.float64), gradient_variance_atoms(f, y))) == 0.0

    def test_gradient_is_finite(self) -> None:
        f, y = _features(9)
        alpha = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(variance_mismatch(alpha, gradient_variance_atoms(f, y)), alpha)
        assert torch.isfinite(grad).all()

    def test_refuses_alpha_of_the_wrong_length(self) -> None:
        f, y = _features(10)
        with pytest.raises(UsageError):
            variance_mismatch(torch.ones(2), gradient_variance_atoms(f, y))

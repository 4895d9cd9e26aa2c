"""Shrinkage H-score against scikit-learn's Ledoit-Wolf estimator and loop-based class statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.covariance import LedoitWolf, ledoit_wolf_shrinkage

from promptkit.scores import hscore, shrinkage_hscore
from promptkit.scores import ledoit_wolf_shrinkage as lw_shrinkage


def _loop_between_class_cov(f: np.ndarray, y: np.ndarray) -> np.ndarray:
    n, d = f.shape
    mean = f.sum(axis=0) / n
    cov = np.zeros((d, d))
    for c in set(y.tolist()):
        members = [i for i in range(n) if y[i] == c]
        class_mean = np.zeros(d)
        for i in members:
            class_mean += f[i] / len(members)
        cov += len(members) * np.outer(class_mean - mean, class_mean - mean) / (n - 1)
    return cov


def _reference(f: np.ndarray, y: np.ndarray) -> float:
    """Ibrahim et al.: tr(LW(f)^-1 (1 - a) cov(E[f|y])) with sklearn's Ledoit-Wolf."""
    lw = LedoitWolf(assume_centered=False).fit(f)
    a = lw.shrinkage_
    return float(np.trace(np.linalg.solve(lw.covariance_, (1 - a) * _loop_between_class_cov(f, y))))


def _data(seed: int, n: int, d: int, c: int, signal: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    f = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(0.5, 2.0, d, dtype=torch.float64)
    f[:, : min(c, d)] += signal * torch.nn.functional.one_hot(y, c)[:, : min(c, d)]
    return f, y


class TestLedoitWolfShrinkage:
    @pytest.mark.parametrize(("n", "d"), [(50, 5), (30, 30), (20, 60), (100, 2)])
    def test_matches_sklearn(self, n: int, d: int) -> None:
        f, _ = _data(n * d, n, d, 2)
        assert float(lw_shrinkage(f)) == pytest.approx(ledoit_wolf_shrinkage(f.numpy()), rel=1e-8, abs=1e-12)

    def test_single_dimension_is_not_shrunk(self) -> None:
        f, _ = _data(0, 20, 1, 2)
        assert float(lw_shrinkage(f)) == 0.0

    def test_more_shrinkage_when_d_grows_against_n(self) -> None:
        # anisotropic data (an isotropic truth is shrunk fully whatever N is)
        small = float(lw_shrinkage(_data(1, 500, 5, 2, signal=0.0)[0]))
        large = float(lw_shrinkage(_data(1, 50, 200, 2, signal=0.0)[0]))
        assert 0.0 <= small < large <= 1.0


class TestShrinkageHscore:
    @pytest.mark.parametrize(("n", "d", "c"), [(60, 5, 3), (30, 12, 4), (20, 40, 2), (24, 24, 3)])
    def test_matches_sklearn_reference(self, n: int, d: int, c: int) -> None:
        f, y = _data(n + d, n, d, c)
        assert float(shrinkage_hscore(f, y)) == pytest.approx(_reference(f.numpy(), y.numpy()), rel=1e-8)

    def test_bounded_by_classes_minus_one(self) -> None:
        f, y = _data(3, 300, 8, 4, signal=5.0)
        assert 0.0 < float(shrinkage_hscore(f, y)) < 3.0

    def test_close_to_hscore_when_n_is_large(self) -> None:
        # little shrinkage with N >> d; at a = 0 the value is N / (N - 1) times the H-score.
        f, y = _data(4, 2000, 4, 3)
        assert float(shrinkage_hscore(f, y)) == pytest.approx(float(hscore(f, y)), rel=2e-2)

    def test_finite_and_stable_when_d_exceeds_n(self) -> None:
        f, y = _data(5, 30, 200, 3, signal=4.0)
        base = float(shrinkage_hscore(f, y))
        bumped = f + 1e-9 * torch.randn(f.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        assert np.isfinite(base)
        assert float(shrinkage_hscore(bumped, y)) == pytest.approx(base, rel=1e-6)

    @pytest.mark.parametrize(("n", "d"), [(10, 3), (6, 8)])
    def test_gradcheck_through_features_and_shrinkage(self, n: int, d: int) -> None:
        f, y = _data(6, n, d, 2)
        f.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda x: shrinkage_hscore(x, y), (f,))

    def test_gradient_flows_into_mixture_weights(self) -> None:
        # What the ensemble does: optimize logits w of alpha = softmax(w) through the score.
        f1, y = _data(7, 40, 6, 3, signal=2.0)
        f2, _ = _data(8, 40, 6, 3, signal=0.0)
        w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        alpha = torch.softmax(w, dim=0)
        shrinkage_hscore(alpha[0] * f1 + alpha[1] * f2, y).backward()
        assert w.grad is not None and w.grad[0] > 0 > w.grad[1]

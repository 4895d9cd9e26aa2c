"""H-score against an independent NumPy computation written with explicit loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from promptkit.scores import hscore, shrinkage_hscore
from promptkit.scores._inputs import check_score_inputs
from promptkit.scores.hscore import between_class_covariance


def _loop_hscore(f: np.ndarray, y: np.ndarray) -> float:
    """Bao et al. 2019 by the definition: covariances and class means by Python loops."""
    n, d = f.shape
    mean = np.zeros(d)
    for i in range(n):
        mean += f[i] / n
    cov_f = np.zeros((d, d))
    for i in range(n):
        cov_f += np.outer(f[i] - mean, f[i] - mean) / (n - 1)
    g = np.zeros_like(f)  # E[f | y] sample by sample
    for c in set(y.tolist()):
        members = [i for i in range(n) if y[i] == c]
        class_mean = np.zeros(d)
        for i in members:
            class_mean += f[i] / len(members)
        for i in members:
            g[i] = class_mean
    g_mean = np.zeros(d)
    for i in range(n):
        g_mean += g[i] / n
    cov_g = np.zeros((d, d))
    for i in range(n):
        cov_g += np.outer(g[i] - g_mean, g[i] - g_mean) / (n - 1)
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-15) @ cov_g))


def _data(seed: int, n: int, d: int, c: int, signal: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (n,), generator=g)
    y[:c] = torch.arange(c)  # every class present
    y[c : 2 * c] = torch.arange(c)  # at least twice
    f = torch.randn(n, d, generator=g, dtype=torch.float64)
    f[:, : min(c, d)] += signal * torch.nn.functional.one_hot(y, c)[:, : min(c, d)]
    return f, y


class TestHscore:
    @pytest.mark.parametrize(("n", "d", "c"), [(40, 5, 3), (30, 8, 4), (25, 3, 2)])
    def test_matches_loop_reference(self, n: int, d: int, c: int) -> None:
        f, y = _data(n + d, n, d, c)
        expected = _loop_hscore(f.numpy(), y.numpy())
        assert float(hscore(f, y)) == pytest.approx(expected, rel=1e-8)

    def test_float32_input_is_computed_in_float64(self) -> None:
        f, y = _data(1, 50, 6, 3)
        f32 = f.float()
        out = hscore(f32, y)
        assert out.dtype == torch.float64
        assert float(out) == pytest.approx(_loop_hscore(f32.double().numpy(), y.numpy()), rel=1e-8)

    def test_bounded_by_classes_minus_one_and_grows_with_signal(self) -> None:
        weak = float(hscore(*_data(2, 200, 6, 4, signal=0.2)))
        strong = float(hscore(*_data(2, 200, 6, 4, signal=3.0)))
        assert 0.0 <= weak < strong <= 3.0

    def test_invariant_to_invertible_linear_maps(self) -> None:
        f, y = _data(3, 60, 5, 3)
        a = torch.randn(5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 3 * torch.eye(5)
        assert float(hscore(f @ a + 7.0, y)) == pytest.approx(float(hscore(f, y)), rel=1e-8)

    def test_gradcheck(self) -> None:
        f, y = _data(4, 10, 3, 2)
        f.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda x: hscore(x, y), (f,))

    def test_gradient_finite_with_a_repeated_zero_eigenvalue(self) -> None:
        # two constant dimensions give cov(f) a double zero eigenvalue; an eigen-decomposition
        # backward would divide by 0 - 0 there, the pseudo-inverse derivative does not.
        f, y = _data(5, 30, 4, 3)
        f = torch.cat([f, torch.ones(30, 2, dtype=torch.float64)], dim=1).requires_grad_(True)
        hscore(f, y).backward()
        assert torch.isfinite(f.grad).all()


class TestHscoreDegenerate:
    def test_saturates_at_ceiling_when_d_exceeds_n(self) -> None:
        # d > N: every labelling is linearly separable in-sample, so H = C - 1 for pure
        # noise and for informative features alike; the shrinkage H-score still tells them apart.
        n, d, c = 40, 120, 4
        y = torch.arange(n) % c
        g = torch.Generator().manual_seed(0)
        noise = torch.randn(n, d, generator=g, dtype=torch.float64)
        signal = torch.randn(n, d, generator=g, dtype=torch.float64)
        signal[:, :c] += 6.0 * torch.nn.functional.one_hot(y, c)
        assert float(hscore(noise, y)) == pytest.approx(c - 1, abs=1e-6)
        assert float(hscore(signal, y)) == pytest.approx(c - 1, abs=1e-6)
        s_noise, s_signal = float(shrinkage_hscore(noise, y)), float(shrinkage_hscore(signal, y))
        assert 0.0 <= s_noise < 0.5 < s_signal < c - 1

    def test_jumps_under_a_tiny_change_near_the_pinv_cutoff(self) -> None:
        # A class-aligned direction with variance ~1e-15 of the largest counts fully or not at
        # all depending on which side of the rcond cutoff it falls: a feature change below 1e-7
        # moves H by ~0.9 of its range of C - 1 = 1. The shrinkage H-score does not move.
        n = 40
        g = torch.Generator().manual_seed(0)
        y = torch.arange(n) % 2
        base = torch.randn(n, 2, generator=g, dtype=torch.float64)
        tiny = (y.double() - 0.5) + 0.1 * torch.randn(n, generator=g, dtype=torch.float64)
        below = torch.cat([base, 4e-8 * tiny[:, None]], dim=1)
        above = torch.cat([base, 1e-7 * tiny[:, None]], dim=1)
        assert (above - below).abs().max() < 1e-7
        assert float(hscore(above, y)) - float(hscore(below, y)) > 0.5
        assert float(shrinkage_hscore(above, y)) == pytest.approx(float(shrinkage_hscore(below, y)), rel=1e-9)


class TestBetweenClassCovariance:
    def test_equals_covariance_of_class_means_per_sample(self) -> None:
        f, y = _data(6, 30, 4, 3)
        inputs = check_score_inputs(f, y)
        g = inputs.class_means()[inputs.labels]  # (N, d): E[f | y_i]
        assert torch.allclose(between_class_covariance(inputs), torch.cov(g.T), rtol=1e-10, atol=1e-12)

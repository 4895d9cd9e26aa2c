"""The per-pair evaluation of the objective equals the direct one, value and gradient."""

from __future__ import annotations

import pytest
import torch

from promptkit.ensemble import (
    PairwiseMixture,
    ensemble_objective,
    mix_features,
    mixture_transferability,
    prepare_sources,
)
from promptkit.ensemble.pairwise import fits
from promptkit.errors import UsageError
from promptkit.scores import shrinkage_hscore


def _sources(seed: int, n: int, d: int, c: int = 3, k: int = 4):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    means = torch.randn(c, d, generator=g, dtype=torch.float64)
    scales = torch.linspace(0.5, 2.0, d, dtype=torch.float64)
    f = torch.stack([s * means[y] + torch.randn(n, d, generator=g, dtype=torch.float64) * scales
                     for s in torch.linspace(1.0, 0.0, k).tolist()])
    return prepare_sources(f, y), y


def _alpha(seed: int, k: int) -> torch.Tensor:
    a = torch.rand(k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a / a.sum()


class TestPairwiseMixture:
    @pytest.mark.parametrize(("n", "d"), [(100, 12), (30, 45), (50, 1)])
    def test_transferability_equals_the_reference(self, n: int, d: int) -> None:
        src, y = _sources(n + d, n, d)
        mixture = PairwiseMixture(src, torch.float64)
        for seed in range(3):
            a = _alpha(seed, 4)
            expected = float(shrinkage_hscore(mix_features(src.features, a), y))
            assert float(mixture.transferability(a)) == pytest.approx(expected, rel=1e-8, abs=1e-12)

    def test_gradient_equals_the_direct_gradient(self) -> None:
        src, _ = _sources(1, 80, 10)
        mixture = PairwiseMixture(src, torch.float64)
        a = _alpha(4, 4).requires_grad_(True)
        (pairwise,) = torch.autograd.grad(mixture.transferability(a), a)
        (direct,) = torch.autograd.grad(mixture_transferability(src, a), a)
        assert torch.allclose(pairwise, direct, rtol=1e-8, atol=1e-12)

    def test_gradcheck(self) -> None:
        src, _ = _sources(2, 40, 9, k=3)
        mixture = PairwiseMixture(src, torch.float64)
        a = _alpha(5, 3).requires_grad_(True)
        assert torch.autograd.gradcheck(mixture.transferability, (a,))

    def test_objective_equals_the_direct_objective(self) -> None:
        src, _ = _sources(3, 60, 8)
        mixture = PairwiseMixture(src, torch.float64)
        a = _alpha(6, 4)
        direct = ensemble_objective(src, a, lam=0.2)
        pairwise = mixture.objective(a, lam=0.2)
        for got, want in zip(pairwise, direct):
            assert float(got) == pytest.approx(float(want), rel=1e-9)

    def test_float32_is_close_to_float64(self) -> None:
        src, _ = _sources(4, 120, 20)
        a = _alpha(7, 4)
        t32 = PairwiseMixture(src, torch.float32).transferability(a)
        assert t32.dtype == torch.float32
        assert float(t32) == pytest.approx(float(mixture_transferability(src, a)), rel=1e-4)

    def test_fully_shrunk_mixture_scores_zero_and_keeps_a_graph(self) -> None:
        g = torch.Generator().manual_seed(0)
        src = prepare_sources(torch.randn(2, 30, 25, generator=g, dtype=torch.float64), torch.arange(30) % 2)
        a = torch.tensor([0.5, 0.5], dtype=torch.float64, requires_grad=True)
        t = PairwiseMixture(src, torch.float64).transferability(a)
        (grad,) = torch.autograd.grad(t, a)
        assert float(t.detach()) == 0.0 and torch.all(grad == 0)

    def test_refuses_statistics_over_the_memory_limit(self) -> None:
        src, _ = _sources(5, 20, 6)
        with pytest.raises(UsageError, match="MiB"):
            PairwiseMixture(src, torch.float32, max_bytes=100)


class TestFits:
    def test_counts_the_packed_pair_statistics(self) -> None:
        src, _ = _sources(6, 20, 6)  # K = 4: 10 pairs of 21 packed entries
        assert fits(src, torch.float32, max_bytes=10 * 21 * 4)
        assert not fits(src, torch.float32, max_bytes=10 * 21 * 4 - 1)
        assert not fits(src, torch.float64, max_bytes=10 * 21 * 4)

"""The exact mixture objective against the reference shrinkage H-score of the mixed features."""

from __future__ import annotations

import pytest
import torch

from promptkit.ensemble import (
    ensemble_objective,
    mix_features,
    mixture_transferability,
    prepare_sources,
    stack_sources,
    variance_mismatch,
)
from promptkit.ensemble.objective import ledoit_wolf_moments, shrinkage_case
from promptkit.errors import ScoreInputError, UsageError
from promptkit.scores import ledoit_wolf_shrinkage, shrinkage_hscore


def _features(seed: int, n: int, d: int, c: int, signals: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sources that see the same class means with different strengths, each with its own noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    means = torch.randn(c, d, generator=g, dtype=torch.float64)
    scales = torch.linspace(0.5, 2.0, d, dtype=torch.float64)  # anisotropic, so a stays below 1
    feats = [s * means[y] + torch.randn(n, d, generator=g, dtype=torch.float64) * scales for s in signals]
    return torch.stack(feats), y


def _random_alpha(seed: int, k: int) -> torch.Tensor:
    a = torch.rand(k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a / a.sum()


class TestStackSources:
    def test_stacks_a_list(self) -> None:
        f, _ = _features(0, 20, 3, 2, [1.0, 0.5])
        assert torch.equal(stack_sources([f[0], f[1]]), f)

    def test_passes_a_stacked_tensor_through(self) -> None:
        f, _ = _features(0, 20, 3, 2, [1.0, 0.5])
        assert stack_sources(f) is f

    @pytest.mark.parametrize("bad", [[], torch.zeros(0, 5, 3), torch.zeros(5, 3)])
    def test_refuses_no_sources_or_a_bare_matrix(self, bad: object) -> None:
        with pytest.raises(UsageError):
            stack_sources(bad)  # type: ignore[arg-type]

    def test_names_the_source_of_another_shape(self) -> None:
        with pytest.raises(UsageError, match="source 1"):
            stack_sources([torch.zeros(5, 3), torch.zeros(5, 4)])


class TestMixFeatures:
    def test_is_the_weighted_sum(self) -> None:
        f, _ = _features(1, 10, 4, 2, [1.0, 0.3, 0.0])
        a = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
        assert torch.allclose(mix_features(f, a), 0.2 * f[0] + 0.5 * f[1] + 0.3 * f[2])

    def test_refuses_alpha_of_the_wrong_length(self) -> None:
        f, _ = _features(1, 10, 4, 2, [1.0, 0.3])
        with pytest.raises(UsageError, match="one per source"):
            mix_features(f, torch.ones(3))


class TestPrepareSources:
    def test_standardizes_each_source_per_dimension(self) -> None:
        f, y = _features(2, 50, 6, 3, [1.0, 0.2])
        src = prepare_sources(f * 100 + 7, y)
        x = src.features
        assert torch.allclose(x.mean(dim=1), torch.zeros(2, 6, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(x.std(dim=1, unbiased=False), torch.ones(2, 6, dtype=torch.float64))

    def test_feature_scale_does_not_change_the_objective(self) -> None:
        f, y = _features(3, 60, 5, 3, [1.0, 0.2])
        scaled = f.clone()
        scaled[0] *= 1000.0
        a = _random_alpha(0, 2)
        t1 = mixture_transferability(prepare_sources(f, y), a)
        t2 = mixture_transferability(prepare_sources(scaled, y), a)
        assert float(t1) == pytest.approx(float(t2), rel=1e-9)

    def test_constant_dimension_stays_zero(self) -> None:
        f, y = _features(4, 40, 4, 2, [1.0])
        f[0, :, 2] = 3.0
        assert torch.all(prepare_sources(f, y).features[0, :, 2] == 0)

    def test_remaps_any_integer_labels(self) -> None:
        f, y = _features(5, 40, 4, 2, [1.0, 0.5])
        a = _random_alpha(1, 2)
        t1 = mixture_transferability(prepare_sources(f, y), a)
        t2 = mixture_transferability(prepare_sources(f, y * 10 - 3), a)
        assert float(t1) == float(t2)
        assert prepare_sources(f, y * 10 - 3).num_classes == 2

    def test_names_the_source_with_bad_values(self) -> None:
        f, y = _features(6, 30, 4, 2, [1.0, 0.5])
        f[1, 3, 2] = float("nan")
        with pytest.raises(ScoreInputError, match="source 1"):
            prepare_sources(f, y)

    def test_refuses_a_class_with_one_sample(self) -> None:
        f, y = _features(7, 30, 4, 2, [1.0])
        y = y.clone()
        y[0] = 9
        with pytest.raises(ScoreInputError, match="at least 2 samples"):
            prepare_sources(f, y)

    def test_source_scores_are_each_sources_own_score(self) -> None:
        f, y = _features(8, 80, 6, 3, [1.5, 0.5, 0.0])
        src = prepare_sources(f, y)
        expected = [float(shrinkage_hscore(src.features[i], y)) for i in range(3)]
        assert src.source_scores.tolist() == pytest.approx(expected, rel=1e-9)
        assert src.source_scores[0] > src.source_scores[1] > src.source_scores[2]


class TestMixtureTransferability:
    @pytest.mark.parametrize(("n", "d", "c"), [(120, 10, 3), (40, 60, 4), (60, 60, 2), (200, 1, 2)])
    def test_equals_the_reference_score_of_the_mixture(self, n: int, d: int, c: int) -> None:
        f, y = _features(n + d, n, d, c, [1.0, 0.6, 0.2, 0.0])
        src = prepare_sources(f, y)
        for seed in range(3):
            a = _random_alpha(seed, 4)
            expected = shrinkage_hscore(mix_features(src.features, a), y)
            assert float(mixture_transferability(src, a)) == pytest.approx(float(expected), rel=1e-8, abs=1e-12)

    def test_gradient_equals_the_reference_gradient(self) -> None:
        f, y = _features(9, 80, 12, 3, [1.0, 0.5, 0.0])
        src = prepare_sources(f, y)
        a = _random_alpha(2, 3).requires_grad_(True)
        (fast,) = torch.autograd.grad(mixture_transferability(src, a), a)
        (ref,) = torch.autograd.grad(shrinkage_hscore(mix_features(src.features, a), y), a)
        assert torch.allclose(fast, ref, rtol=1e-7, atol=1e-10)

    @pytest.mark.parametrize(("n", "d"), [(60, 8), (30, 50), (40, 1)])
    def test_gradcheck(self, n: int, d: int) -> None:
        f, y = _features(n * d, n, d, 3, [1.0, 0.4, 0.1])
        src = prepare_sources(f, y)
        a = _random_alpha(3, 3).requires_grad_(True)
        assert torch.autograd.gradcheck(lambda t: mixture_transferability(src, t), (a,))

    def test_fully_shrunk_mixture_scores_zero_with_finite_zero_gradient(self) -> None:
        # Isotropic noise with d close to N: Ledoit-Wolf shrinks completely (a = 1).
        g = torch.Generator().manual_seed(0)
        f = torch.randn(2, 30, 25, generator=g, dtype=torch.float64)
        y = torch.arange(30) % 2
        src = prepare_sources(f, y)
        a = torch.tensor([0.5, 0.5], dtype=torch.float64, requires_grad=True)
        assert float(ledoit_wolf_shrinkage(mix_features(src.features, a.detach()))) == 1.0
        t = mixture_transferability(src, a)
        (grad,) = torch.autograd.grad(t, a, allow_unused=True)
        assert float(t.detach()) == 0.0
        assert grad is None or torch.all(grad == 0)

    def test_invariant_to_the_scale_of_alpha(self) -> None:
        f, y = _features(10, 60, 6, 3, [1.0, 0.5])
        src = prepare_sources(f, y)
        a = _random_alpha(4, 2)
        assert float(mixture_transferability(src, 3 * a)) == pytest.approx(float(mixture_transferability(src, a)))

    def test_refuses_non_finite_alpha(self) -> None:
        f, y = _features(11, 30, 4, 2, [1.0, 0.5])
        with pytest.raises(UsageError, match="non-finite"):
            mixture_transferability(prepare_sources(f, y), torch.tensor([float("nan"), 1.0]))


class TestEnsembleObjective:
    def test_combines_normalized_transferability_and_regularizer(self) -> None:
        f, y = _features(12, 90, 8, 4, [1.0, 0.5, 0.0])
        src = prepare_sources(f, y)
        a = _random_alpha(5, 3)
        terms = ensemble_objective(src, a, lam=0.3)
        assert float(terms.transferability) == pytest.approx(float(mixture_transferability(src, a)))
        assert float(terms.regularizer) == pytest.approx(float(variance_mismatch(a, src.atoms)))
        expected = terms.transferability / 3 - 0.3 * terms.regularizer
        assert float(terms.objective) == pytest.approx(float(expected))

    def test_lambda_zero_is_the_normalized_transferability(self) -> None:
        f, y = _features(13, 90, 8, 4, [1.0, 0.5, 0.0])
        src = prepare_sources(f, y)
        a = _random_alpha(6, 3)
        terms = ensemble_objective(src, a, lam=0.0)
        assert float(terms.objective) == pytest.approx(float(mixture_transferability(src, a)) / 3)

    def test_gradient_wrt_softmax_logits_is_finite(self) -> None:
        f, y = _features(14, 50, 30, 3, [1.0, 0.2, 0.0])
        src = prepare_sources(f, y)
        w = torch.tensor([0.3, -2.0, 1.0], dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(ensemble_objective(src, torch.softmax(w, 0), lam=0.1).objective, w)
        assert torch.isfinite(grad).all() and bool((grad != 0).any())


class TestLedoitWolfMoments:
    def test_give_the_scores_shrinkage(self) -> None:
        f, _ = _features(15, 40, 30, 2, [0.5])
        x = f[0] - f[0].mean(dim=0)
        s = x.T @ x / 40
        mu, b2, d2 = ledoit_wolf_moments((x * x).sum(dim=1), (s * s).sum(), 30)
        assert shrinkage_case(b2, d2, 30) == "shrunk"
        assert float(b2 / d2) == pytest.approx(float(ledoit_wolf_shrinkage(f[0])), rel=1e-10)
        assert float(mu) == pytest.approx(float(torch.diagonal(s).mean()))


class TestShrinkageCase:
    def test_one_dimension_is_not_shrunk(self) -> None:
        one = torch.tensor(1.0)
        assert shrinkage_case(one, one, 1) == "fixed"

    def test_full_shrinkage_when_b2_reaches_d2(self) -> None:
        assert shrinkage_case(torch.tensor(2.0), torch.tensor(1.0), 5) == "zero"

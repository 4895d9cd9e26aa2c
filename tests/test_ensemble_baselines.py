"""Weight baselines (uniform, hscore-weights, best-single) and SPoT's prompt-similarity ranking."""

from __future__ import annotations

import pytest
import torch

from promptkit.ensemble import (
    best_single_weights,
    ensemble_weights,
    hscore_weights,
    mixture_transferability,
    prepare_sources,
    spot_rank,
    uniform_weights,
)
from promptkit.errors import IncompatibleError, UsageError


def _prepared(signals: list[float], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(120) % 3
    means = torch.randn(3, 10, generator=g, dtype=torch.float64)
    f = torch.stack([s * means[y] + torch.randn(120, 10, generator=g, dtype=torch.float64) for s in signals])
    return prepare_sources(f, y)


class TestUniformWeights:
    def test_equal_weights_scored_as_a_mixture(self) -> None:
        src = _prepared([1.0, 0.5, 0.0, 0.2])
        result = uniform_weights(src, lam=0.1)
        assert torch.equal(result.alpha, torch.full((4,), 0.25, dtype=torch.float64))
        assert result.transferability == pytest.approx(float(mixture_transferability(src, result.alpha)))
        assert (result.method, result.lam) == ("uniform", 0.1)


class TestHscoreWeights:
    def test_proportional_to_each_sources_own_score(self) -> None:
        src = _prepared([1.0, 0.5, 0.0])
        result = hscore_weights(src)
        scores = src.source_scores
        assert torch.allclose(result.alpha, scores / scores.sum())
        assert result.alpha[0] > result.alpha[1] > result.alpha[2]

    def test_falls_back_to_uniform_when_no_source_scores(self) -> None:
        g = torch.Generator().manual_seed(0)
        src = prepare_sources(torch.randn(2, 30, 25, generator=g, dtype=torch.float64), torch.arange(30) % 2)
        assert src.source_scores.tolist() == [0.0, 0.0]  # isotropic noise, fully shrunk
        assert hscore_weights(src).alpha.tolist() == [0.5, 0.5]


class TestBestSingleWeights:
    def test_all_weight_on_the_top_source(self) -> None:
        src = _prepared([0.2, 1.5, 0.5])
        result = best_single_weights(src)
        assert result.alpha.tolist() == [0.0, 1.0, 0.0]
        assert result.transferability == pytest.approx(float(src.source_scores[1]))

    def test_first_source_wins_a_tie(self) -> None:
        g = torch.Generator().manual_seed(1)
        f = torch.randn(1, 60, 5, generator=g, dtype=torch.float64).expand(3, -1, -1)
        src = prepare_sources(f, torch.arange(60) % 2)
        assert best_single_weights(src).alpha.tolist() == [1.0, 0.0, 0.0]

    def test_registered_by_name(self) -> None:
        src = _prepared([0.2, 1.5])
        assert torch.equal(ensemble_weights("best-single", src).alpha, best_single_weights(src).alpha)


class TestSpotRank:
    def test_orders_by_cosine_of_mean_pooled_tokens(self) -> None:
        target = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])  # (L=1, m=2, d=2), mean (1, 0)
        sources = torch.tensor(
            [
                [[[0.0, 1.0], [0.0, 1.0]]],  # mean (0, 1): cosine 0
                [[[2.0, 0.0], [0.0, 0.0]]],  # mean (1, 0): cosine 1, although no token equals the target's
                [[[1.0, 1.0], [1.0, 1.0]]],  # mean (1, 1): cosine 1/sqrt(2)
            ]
        )
        ranking = spot_rank(target, sources)
        assert ranking.order == (1, 2, 0)
        assert ranking.similarities.tolist() == pytest.approx([0.0, 1.0, 2**-0.5])

    def test_deep_prompts_compare_layer_by_layer(self) -> None:
        target = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # (L=2, m=1, d=2)
        swapped = torch.tensor([[[0.0, 1.0]], [[1.0, 0.0]]])  # the same tokens in the other layers
        same = target * 3
        ranking = spot_rank(target, [swapped, same])
        assert ranking.order == (1, 0)
        assert ranking.similarities.tolist() == pytest.approx([0.0, 1.0])

    def test_ties_keep_the_input_order_and_zero_prompts_score_zero(self) -> None:
        target = torch.ones(1, 2, 3)
        ranking = spot_rank(target, [torch.zeros(1, 2, 3), torch.ones(1, 2, 3), 2 * torch.ones(1, 2, 3)])
        assert ranking.order == (1, 2, 0)
        assert float(ranking.similarities[0]) == 0.0

    def test_refuses_a_source_of_another_shape(self) -> None:
        with pytest.raises(IncompatibleError, match="source 1"):
            spot_rank(torch.ones(1, 2, 3), [torch.ones(1, 2, 3), torch.ones(1, 4, 3)])

    def test_refuses_no_sources_or_a_flat_target(self) -> None:
        with pytest.raises(UsageError):
            spot_rank(torch.ones(1, 2, 3), [])
        with pytest.raises(UsageError):
            spot_rank(torch.ones(2, 3), [torch.ones(2, 3)])

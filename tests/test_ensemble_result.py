"""Scoring given weights and packaging them for an asset's lineage."""

from __future__ import annotations

import json

import pytest
import torch

from promptkit.ensemble import AlphaResult, ensemble_objective, evaluate_weights, prepare_sources
from promptkit.errors import UsageError


def _prepared(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(90) % 3
    means = torch.randn(3, 8, generator=g, dtype=torch.float64)
    f = torch.stack([s * means[y] + torch.randn(90, 8, generator=g, dtype=torch.float64) for s in (1.0, 0.4, 0.0)])
    return prepare_sources(f, y)


class TestEvaluateWeights:
    def test_normalizes_and_scores_in_float64(self) -> None:
        src = _prepared()
        result = evaluate_weights(src, torch.tensor([2.0, 1.0, 1.0]), method="custom", lam=0.1)
        expected_alpha = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
        assert torch.equal(result.alpha, expected_alpha)
        terms = ensemble_objective(src, expected_alpha, lam=0.1)
        assert result.objective == pytest.approx(float(terms.objective))
        assert result.transferability == pytest.approx(float(terms.transferability))
        assert result.regularizer == pytest.approx(float(terms.regularizer))
        assert torch.equal(result.source_scores, src.source_scores)
        assert (result.method, result.lam, result.num_classes, result.history) == ("custom", 0.1, 3, ())

    @pytest.mark.parametrize("alpha", [[1.0, -0.5, 0.5], [0.0, 0.0, 0.0], [float("nan"), 1.0, 1.0], [1.0, 1.0]])
    def test_refuses_weights_that_are_not_a_mixture(self, alpha: list[float]) -> None:
        with pytest.raises(UsageError):
            evaluate_weights(_prepared(), torch.tensor(alpha), method="custom", lam=0.0)


class TestAlphaResult:
    def test_to_dict_is_json_ready(self) -> None:
        result = evaluate_weights(_prepared(), torch.tensor([1.0, 1.0, 0.0]), method="custom", lam=0.0)
        data = json.loads(json.dumps(result.to_dict()))
        assert data["alpha"] == [0.5, 0.5, 0.0]
        assert data["method"] == "custom" and data["steps"] == 0
        assert len(data["source_scores"]) == 3

    def test_best_source_score(self) -> None:
        result = evaluate_weights(_prepared(), torch.ones(3), method="custom", lam=0.0)
        assert isinstance(result, AlphaResult)
        assert result.best_source_score == float(result.source_scores.max())

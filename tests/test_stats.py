"""Spearman correlation and mean/std against SciPy and NumPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from promptkit.errors import UsageError
from promptkit.stats import mean_std, rankdata, spearman


class TestRankdata:
    def test_average_ranks_for_ties(self) -> None:
        assert rankdata([10, 20, 20, 30]).tolist() == [1.0, 2.5, 2.5, 4.0]

    @pytest.mark.parametrize("seed", range(3))
    def test_matches_scipy(self, seed: int) -> None:
        values = np.random.default_rng(seed).integers(0, 5, size=30).astype(float)
        assert np.array_equal(rankdata(values), sps.rankdata(values))


class TestSpearman:
    @pytest.mark.parametrize("seed", range(5))
    def test_matches_scipy_with_ties(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        x = rng.integers(0, 4, size=25).astype(float)  # many ties
        y = x + rng.integers(0, 3, size=25)
        assert spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic, rel=1e-12)

    def test_matches_scipy_without_ties(self) -> None:
        rng = np.random.default_rng(9)
        x, y = rng.normal(size=11), rng.normal(size=11)
        assert spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic, rel=1e-12)

    def test_monotone_relations(self) -> None:
        x = [0.1, 0.4, 0.2, 0.9]
        assert spearman(x, [math.exp(v) for v in x]) == 1.0
        assert spearman(x, [-v for v in x]) == -1.0

    def test_accepts_tensors(self) -> None:
        x = torch.tensor([0.5, 0.2, 0.3])
        assert spearman(x, np.array([3.0, 1.0, 2.0])) == pytest.approx(1.0)

    def test_constant_side_gives_nan(self) -> None:
        assert math.isnan(spearman([1, 2, 3], [4, 4, 4]))

    @pytest.mark.parametrize(
        ("x", "y", "message"),
        [
            ([1, 2, 3], [1, 2], "3 and 2"),
            ([1], [2], "at least 2 pairs, got 1"),
            ([1, float("nan")], [1, 2], "1 non-finite"),
            ([[1, 2]], [[1, 2]], r"shape \(1, 2\)"),
        ],
    )
    def test_invalid_inputs(self, x: list, y: list, message: str) -> None:
        with pytest.raises(UsageError, match=message):
            spearman(x, y)


class TestMeanStd:
    def test_sample_std_by_default(self) -> None:
        values = [60.1, 61.3, 59.8]
        mean, std = mean_std(values)
        assert mean == pytest.approx(np.mean(values)) and std == pytest.approx(np.std(values, ddof=1))

    def test_population_std(self) -> None:
        assert mean_std([1.0, 3.0], ddof=0) == (2.0, 1.0)

    def test_single_value_has_zero_std(self) -> None:
        assert mean_std([0.7]) == (0.7, 0.0)

    def test_empty(self) -> None:
        with pytest.raises(UsageError, match="at least one value"):
            mean_std([])

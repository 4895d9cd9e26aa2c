"""Validation and label remapping shared by every registered score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from promptkit.errors import ScoreInputError
from promptkit.scores import SCORES, check_score_inputs

ALL_SCORES = sorted(SCORES)


def _data(n: int = 12, d: int = 3, c: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % c
    return torch.randn(n, d, generator=g, dtype=torch.float64) + y[:, None], y


@pytest.mark.parametrize("name", ALL_SCORES)
class TestEveryScoreValidates:
    def test_features_not_2d(self, name: str) -> None:
        with pytest.raises(ScoreInputError, match=r"2-D.*got shape \(4, 2, 3\)"):
            SCORES[name](torch.zeros(4, 2, 3), torch.tensor([0, 0, 1, 1]))

    def test_shape_mismatch(self, name: str) -> None:
        f, y = _data()
        with pytest.raises(ScoreInputError, match="features have 12 rows but labels have 11 entries"):
            SCORES[name](f, y[:11])

    def test_labels_not_1d(self, name: str) -> None:
        f, y = _data()
        with pytest.raises(ScoreInputError, match=r"1-D.*got shape \(12, 1\)"):
            SCORES[name](f, y[:, None])

    def test_too_few_samples(self, name: str) -> None:
        with pytest.raises(ScoreInputError, match="at least 2 samples, got N=1"):
            SCORES[name](torch.ones(1, 3), torch.tensor([0]))

    def test_non_finite_features(self, name: str) -> None:
        f, y = _data()
        f[5, 0], f[5, 2], f[9, 1] = float("nan"), float("inf"), float("-inf")
        with pytest.raises(ScoreInputError, match="3 non-finite values .* in 2 of 12 rows, first in row 5"):
            SCORES[name](f, y)

    def test_single_class(self, name: str) -> None:
        f, _ = _data()
        with pytest.raises(ScoreInputError, match=r"at least 2 classes, got 1 \(label 4 for all 12 samples\)"):
            SCORES[name](f, torch.full((12,), 4))

    def test_class_with_one_sample(self, name: str) -> None:
        f, _ = _data()
        y = torch.tensor([0, 0, 0, 0, 0, 7, 2, 2, 2, 2, 2, 2])
        with pytest.raises(ScoreInputError, match=r"class 7 has 1 \(N=12, 3 classes\)"):
            SCORES[name](f, y)

    def test_float_labels(self, name: str) -> None:
        f, y = _data()
        with pytest.raises(ScoreInputError, match="labels must be integers, got dtype torch.float32"):
            SCORES[name](f, y.float())

    def test_constant_features(self, name: str) -> None:
        _, y = _data()
        with pytest.raises(ScoreInputError, match="identical for all 12 samples"):
            SCORES[name](torch.full((12, 3), 2.5), y)

    def test_errors_are_value_errors_with_a_hint_field(self, name: str) -> None:
        f, _ = _data()
        with pytest.raises(ValueError) as info:
            SCORES[name](f, torch.tensor([0] * 11 + [1]))
        assert isinstance(info.value, ScoreInputError) and info.value.hint

    def test_labels_remapped_from_any_integers(self, name: str) -> None:
        f, y = _data()
        sparse = torch.tensor([3, 7, 100])[y]
        negative = torch.tensor([-5, 0, 2])[y]
        reference = float(SCORES[name](f, y))
        assert float(SCORES[name](f, sparse)) == pytest.approx(reference, rel=1e-12)
        assert float(SCORES[name](f, negative)) == pytest.approx(reference, rel=1e-12)

    def test_accepts_numpy_arrays(self, name: str) -> None:
        f, y = _data()
        assert float(SCORES[name](f.numpy(), y.numpy())) == pytest.approx(float(SCORES[name](f, y)), rel=1e-12)


class TestCheckScoreInputs:
    def test_remaps_in_sorted_order_and_counts(self) -> None:
        f, _ = _data(n=7)
        out = check_score_inputs(f, torch.tensor([100, 3, 7, 3, 100, 7, 3]))
        assert out.labels.tolist() == [2, 0, 1, 0, 2, 1, 0]
        assert out.classes.tolist() == [3, 7, 100]
        assert out.counts.tolist() == [3, 2, 2]
        assert (out.num_samples, out.num_classes) == (7, 3)

    def test_keeps_the_autograd_graph_in_float64(self) -> None:
        f = torch.randn(6, 2, requires_grad=True)
        out = check_score_inputs(f, torch.tensor([0, 0, 0, 1, 1, 1]))
        assert out.features.dtype == torch.float64 and out.features.requires_grad

    def test_class_means(self) -> None:
        f = torch.tensor([[0.0], [2.0], [10.0], [20.0]])
        out = check_score_inputs(f, np.array([5, 5, 9, 9]))
        assert out.class_means().flatten().tolist() == [1.0, 15.0]

    def test_lists_at_most_five_small_classes(self) -> None:
        f = torch.randn(9, 2, dtype=torch.float64)
        with pytest.raises(ScoreInputError, match="class 5 has 1 and 2 more"):
            check_score_inputs(f, torch.tensor([0, 0, 1, 2, 3, 4, 5, 6, 7]))

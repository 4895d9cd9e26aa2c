"""The deterministic L-BFGS linear probe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from promptkit.errors import ScoreInputError
from promptkit.probe import LinearProbe, fit_linear_probe, probe_accuracy, select_l2


def _blobs(
    seed: int, n: int, d: int = 8, c: int = 3, sep: float = 4.0, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = sep * torch.randn(c, d, generator=torch.Generator().manual_seed(123))
    y = torch.arange(n) % c
    scale = torch.linspace(0.1, 10.0, d)  # unequal scales, which standardization must handle
    f = (centers[y] + torch.randn(n, d, generator=g)) * scale + 3.0
    return f.to(dtype), y


class TestFitLinearProbe:
    def test_separable_data_is_learned(self) -> None:
        train_f, train_y = _blobs(0, 300)
        test_f, test_y = _blobs(1, 300)
        probe = fit_linear_probe(train_f, train_y)
        assert probe.accuracy(test_f, test_y) > 0.95
        assert probe.weight.shape == (3, 8) and probe.bias.shape == (3,)

    def test_deterministic(self) -> None:
        f, y = _blobs(2, 200, sep=1.0)
        a, b = fit_linear_probe(f, y), fit_linear_probe(f, y)
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)

    def test_agrees_with_sklearn_logistic_regression(self) -> None:
        # same objective: sklearn's C = 1 / (l2 * N) on the standardized features
        train_f, train_y = _blobs(3, 300, sep=0.6, dtype=torch.float64)
        test_f, test_y = _blobs(4, 600, sep=0.6, dtype=torch.float64)
        l2 = 1e-2
        probe = fit_linear_probe(train_f, train_y, l2=l2)
        mean, std = train_f.mean(0).numpy(), train_f.std(0, unbiased=False).numpy()
        sk = LogisticRegression(C=1.0 / (l2 * 300), max_iter=2000, tol=1e-10)
        sk.fit((train_f.numpy() - mean) / std, train_y.numpy())
        sk_pred = sk.predict((test_f.numpy() - mean) / std)
        ours = probe.predict(test_f).numpy()
        assert (ours == sk_pred).mean() > 0.98
        assert probe.accuracy(test_f, test_y) == pytest.approx((sk_pred == test_y.numpy()).mean(), abs=0.02)
        assert np.allclose(probe.weight.numpy(), sk.coef_, atol=1e-3)

    def test_dtypes(self) -> None:
        f, y = _blobs(5, 60)
        assert fit_linear_probe(f.double(), y).weight.dtype == torch.float64
        assert fit_linear_probe(f.half(), y).weight.dtype == torch.float32

    def test_without_standardization(self) -> None:
        f, y = _blobs(6, 60)
        probe = fit_linear_probe(f, y, standardize=False)
        assert torch.equal(probe.mean, torch.zeros(8)) and torch.equal(probe.std, torch.ones(8))

    def test_constant_dimension_stays_finite(self) -> None:
        f, y = _blobs(7, 90)
        f[:, 2] = 5.0
        probe = fit_linear_probe(f, y)
        assert torch.isfinite(probe.weight).all() and probe.std[2] == 1.0
        assert probe.accuracy(f, y) > 0.9

    def test_num_classes_larger_than_seen(self) -> None:
        f, y = _blobs(8, 60, c=2)
        probe = fit_linear_probe(f, y, num_classes=5)
        assert probe.num_classes == 5 and set(probe.predict(f).tolist()) <= {0, 1}

    @pytest.mark.parametrize(
        ("labels", "kwargs", "message"),
        [
            (torch.tensor([0, 1, 3]), {"num_classes": 3}, r"lie in 0..2, got range 0..3"),
            (torch.tensor([0, -1, 1]), {}, r"lie in 0..1, got range -1..1"),
            (torch.tensor([0.0, 1.0, 1.0]), {}, "integer class indices"),
            (torch.tensor([0, 1]), {}, r"shape \(3,\)"),
            (torch.tensor([0, 1, 1]), {"l2": -1.0}, "l2 >= 0"),
        ],
    )
    def test_invalid_inputs(self, labels: torch.Tensor, kwargs: dict, message: str) -> None:
        with pytest.raises(ScoreInputError, match=message):
            fit_linear_probe(torch.randn(3, 2), labels, **kwargs)

    def test_non_finite_features(self) -> None:
        f = torch.randn(4, 2)
        f[1, 1] = float("nan")
        with pytest.raises(ScoreInputError, match="1 non-finite"):
            fit_linear_probe(f, torch.tensor([0, 1, 0, 1]))


class TestLinearProbe:
    def test_folded_head_equals_unfolded_computation(self) -> None:
        f, y = _blobs(9, 120, dtype=torch.float64)
        probe = fit_linear_probe(f, y)
        w, b = probe.folded()
        unfolded = ((f - probe.mean) / probe.std) @ probe.weight.T + probe.bias
        assert torch.allclose(f @ w.T + b, unfolded, rtol=1e-10, atol=1e-10)
        assert torch.allclose(probe.logits(f), unfolded, rtol=1e-12, atol=1e-12)

    def test_predict_and_accuracy(self) -> None:
        probe = LinearProbe(
            weight=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
            bias=torch.zeros(2),
            mean=torch.zeros(2),
            std=torch.ones(2),
        )
        f = torch.tensor([[2.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
        assert probe.predict(f).tolist() == [0, 1, 0]
        assert probe.accuracy(f, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)


class TestSelectL2:
    def test_ties_go_to_the_larger_l2(self) -> None:
        train_f, train_y = _blobs(10, 90, sep=8.0)
        val_f, val_y = _blobs(11, 90, sep=8.0)
        assert select_l2(train_f, train_y, val_f, val_y) == 0.1

    def test_picks_the_penalty_that_generalizes(self) -> None:
        # a huge penalty flattens W, so the unpenalized bias predicts the majority class only
        g = torch.Generator().manual_seed(0)
        y = (torch.rand(400, generator=g) < 0.2).long()
        f = torch.randn(400, 4, generator=g) + 2.0 * y[:, None]
        grid = (1e-3, 1e3)
        assert select_l2(f[:200], y[:200], f[200:], y[200:], grid=grid) == 1e-3


class TestProbeAccuracy:
    def test_equals_fit_then_accuracy(self) -> None:
        train_f, train_y = _blobs(12, 150, sep=1.0)
        test_f, test_y = _blobs(13, 150, sep=1.0)
        expected = fit_linear_probe(train_f, train_y, l2=1e-2).accuracy(test_f, test_y)
        assert probe_accuracy(train_f, train_y, test_f, test_y, l2=1e-2) == expected

    def test_class_missing_from_training_counts_as_wrong(self) -> None:
        train_f, train_y = _blobs(14, 60, c=2)
        test_y = torch.tensor([0, 1, 2, 2])
        test_f = torch.cat([train_f[:2], train_f[:2]])
        assert probe_accuracy(train_f, train_y, test_f, test_y) == pytest.approx(0.5)

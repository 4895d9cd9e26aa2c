"""Tests for promptkit.train.selfreg: PromptSRC agreement losses and Gaussian prompt aggregation."""

from __future__ import annotations

import math

import pytest
import torch

from promptkit.train import GaussianPromptAggregator, agreement_loss, gpa_weights


class TestAgreementLoss:
    def test_zero_when_prompted_equals_frozen(self):
        f, z = torch.randn(4, 8), torch.randn(4, 3)
        l1, kl = agreement_loss(f, 2 * f, z, z)  # same direction: normalized features agree
        assert float(l1) == pytest.approx(0.0, abs=1e-7) and float(kl) == pytest.approx(0.0, abs=1e-7)

    def test_matches_promptsrc_formulas_and_weights(self):
        g = torch.Generator().manual_seed(0)
        f, f0 = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
        z, z0 = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
        l1, kl = agreement_loss(f, f0, z, z0, feature_weight=10.0, logit_weight=2.0)
        n, n0 = f / f.norm(dim=1, keepdim=True), f0 / f0.norm(dim=1, keepdim=True)
        assert float(l1) == pytest.approx(10.0 * float((n - n0).abs().mean()), rel=1e-5)
        p0 = z0.softmax(1)
        manual_kl = float((p0 * (p0.log() - z.log_softmax(1))).sum()) / z.numel()
        assert float(kl) == pytest.approx(2.0 * manual_kl, rel=1e-5)

    def test_gradients_reach_the_prompted_side_only(self):
        f = torch.randn(2, 4, requires_grad=True)
        f0 = torch.randn(2, 4, requires_grad=True)
        l1, _ = agreement_loss(f, f0.detach(), torch.randn(2, 3), torch.randn(2, 3))
        l1.backward()
        assert f.grad is not None and f0.grad is None


class TestGpaWeights:
    def test_normalized_gaussian_over_epochs(self):
        w = gpa_weights(20, 15, 1)
        assert sum(w) == pytest.approx(1.0)
        assert max(range(20), key=lambda i: w[i]) == 14  # epoch 15, 1-based
        assert w[13] == pytest.approx(w[15]) and w[13] / w[14] == pytest.approx(math.exp(-0.5))

    def test_underflow_falls_back_to_the_last_epoch(self):
        assert gpa_weights(5, 1e6, 1e-3) == [0.0, 0.0, 0.0, 0.0, 1.0]


class TestGaussianPromptAggregator:
    def test_weighted_sum_of_epoch_snapshots(self):
        agg = GaussianPromptAggregator(3, mu=2, sigma=1)
        snaps = [torch.full((1, 2, 2), float(e)) for e in (1, 2, 3)]
        for e, s in enumerate(snaps, start=1):
            agg.update(e, {"prompt": s})
        expected = sum(w * s for w, s in zip(agg.weights, snaps))
        assert torch.allclose(agg.result()["prompt"], expected)
        assert torch.allclose(agg.result()["prompt"], torch.full((1, 2, 2), 2.0))  # symmetric around epoch 2

    def test_state_round_trip(self):
        agg = GaussianPromptAggregator(2, mu=1, sigma=1)
        agg.update(1, {"prompt": torch.ones(1, 1, 2)})
        other = GaussianPromptAggregator(2, mu=1, sigma=1)
        other.load_state(agg.state(), torch.device("cpu"))
        for a in (agg, other):
            a.update(2, {"prompt": torch.zeros(1, 1, 2)})
        assert torch.equal(agg.result()["prompt"], other.result()["prompt"])

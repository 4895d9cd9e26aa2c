"""Tests for promptkit.train.head: the standardized head and its folding into W x + b."""

from __future__ import annotations

import torch

from promptkit.train import StandardizedHead, fold_standardization


class TestFoldStandardization:
    def test_folded_head_on_raw_features_equals_head_on_standardized(self):
        g = torch.Generator().manual_seed(0)
        w, b = torch.randn(3, 5, generator=g), torch.randn(3, generator=g)
        mean, std = torch.randn(5, generator=g), torch.rand(5, generator=g) + 0.5
        x = torch.randn(7, 5, generator=g)
        wf, bf = fold_standardization(w, b, mean, std)
        assert torch.allclose(x @ wf.T + bf, ((x - mean) / std) @ w.T + b, atol=1e-5)


class TestStandardizedHead:
    def test_forward_folded_and_trainable_parts(self):
        g = torch.Generator().manual_seed(1)
        head = StandardizedHead(torch.randn(2, 4, generator=g), torch.randn(2, generator=g),
                                torch.randn(4, generator=g), torch.rand(4, generator=g) + 0.5)
        x = torch.randn(6, 4, generator=g)
        w, b = head.folded()
        assert torch.allclose(head(x), x @ w.T + b, atol=1e-5)
        assert [n for n, _ in head.named_parameters()] == ["weight", "bias"]
        assert {n for n, _ in head.named_buffers()} == {"mean", "std"}
        assert w.device.type == "cpu" and not w.requires_grad

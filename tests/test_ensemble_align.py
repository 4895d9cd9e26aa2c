"""Aligned averaging: the token symmetry it relies on, and the assignment it computes."""

from __future__ import annotations

import pytest
import torch
from rank_helpers import tiny_backbone

from promptkit.ensemble.align import align_prompt, aligned_average, permute_tokens
from promptkit.errors import IncompatibleError
from promptkit.prompted import PromptedViT


def _deep_model(prompt: torch.Tensor) -> PromptedViT:
    return PromptedViT(tiny_backbone(), prompt, mode="deep")


def _random_perms(layers: int, m: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randperm(m, generator=g).tolist() for _ in range(layers)]


class TestTokenSymmetry:
    def test_permuting_a_layers_tokens_leaves_pooled_features_unchanged(self):
        bb = tiny_backbone()
        prompt = torch.randn(bb.depth, 5, bb.embed_dim, generator=torch.Generator().manual_seed(1))
        perms = _random_perms(bb.depth, 5, seed=2)
        assert any(p != sorted(p) for p in perms)
        x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            a = _deep_model(prompt).pooled(x)
            b = _deep_model(permute_tokens(prompt, perms)).pooled(x)
        # Attention sums over keys in another order: equal up to float rounding, nothing more.
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
        with torch.no_grad():  # and a real change of the prompt does change them
            c = _deep_model(prompt + torch.randn_like(prompt)).pooled(x)
        assert not torch.allclose(a, c, atol=1e-3)


class TestAlignPrompt:
    def test_recovers_the_permutation_of_a_permuted_copy(self):
        prompt = torch.randn(3, 6, 16, generator=torch.Generator().manual_seed(0))
        perms = _random_perms(3, 6, seed=5)
        shuffled = permute_tokens(prompt, perms)
        aligned, found = align_prompt(prompt, shuffled)
        assert torch.equal(aligned, prompt)
        for layer in range(3):  # aligned[l, j] = shuffled[l, found[l][j]] = prompt[l, j]
            assert [perms[layer][i] for i in found[layer]] == list(range(6))

    def test_minimizes_the_total_squared_distance(self):
        import itertools

        g = torch.Generator().manual_seed(4)
        ref, other = torch.randn(1, 4, 3, generator=g), torch.randn(1, 4, 3, generator=g)
        _, (perm,) = align_prompt(ref, other)

        def cost(p):
            return float(((ref[0] - other[0, list(p)]) ** 2).sum())

        assert cost(perm) == pytest.approx(min(cost(p) for p in itertools.permutations(range(4))))

    def test_shapes_must_agree(self):
        with pytest.raises(IncompatibleError, match="alignment"):
            align_prompt(torch.zeros(2, 3, 4), torch.zeros(2, 4, 4))


class TestAlignedAverage:
    def test_a_prompt_averaged_with_its_permuted_copy_gives_the_prompt_back(self):
        prompt = torch.randn(4, 8, 32, generator=torch.Generator().manual_seed(7))
        copy = permute_tokens(prompt, _random_perms(4, 8, seed=8))
        composed, aligned, perms = aligned_average([prompt, copy], torch.tensor([0.6, 0.4], dtype=torch.float64))
        assert torch.allclose(composed, prompt, atol=1e-6)
        assert torch.equal(aligned[1], prompt)
        assert perms[0] == [list(range(8))] * 4  # the top-weight source is the reference
        # A plain average of the same two mixes unrelated tokens.
        assert not torch.allclose(0.6 * prompt + 0.4 * copy, prompt, atol=1e-2)

    def test_aligns_to_the_top_weight_source(self):
        g = torch.Generator().manual_seed(9)
        a, b = torch.randn(1, 5, 8, generator=g), torch.randn(1, 5, 8, generator=g)
        _, aligned, perms = aligned_average([a, b], torch.tensor([0.2, 0.8], dtype=torch.float64))
        assert torch.equal(aligned[1], b) and perms[1] == [list(range(5))]
        assert sorted(perms[0][0]) == list(range(5))

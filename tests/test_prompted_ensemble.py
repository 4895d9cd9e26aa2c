"""PromptedEnsemble: the batched members' forward, the alpha-mixture, learnable weights."""

from __future__ import annotations

import pytest
import torch
from rank_helpers import tiny_backbone

from promptkit.errors import IncompatibleError, UsageError
from promptkit.prompted import PromptedViT
from promptkit.prompted_composed import ComposedPromptViT
from promptkit.prompted_ensemble import PromptedEnsemble


def _members(bb, k: int, *, mode: str = "deep", m: int = 3, seed: int = 0) -> torch.Tensor:
    layers = bb.depth if mode == "deep" else 1
    return torch.randn(k, layers, m, bb.embed_dim, generator=torch.Generator().manual_seed(seed))


def _images(n: int = 5) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(11))


def _stats(k: int, d: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, d, generator=g), torch.rand(k, d, generator=g) + 0.5


class TestPromptedEnsemble:
    @pytest.mark.parametrize("mode", ["shallow", "deep"])
    def test_batched_members_equal_one_forward_per_member(self, mode):
        bb = tiny_backbone()
        members = _members(bb, 3, mode=mode)
        mean, std = _stats(3, bb.embed_dim)
        ens = PromptedEnsemble(bb, members, torch.tensor([0.5, 0.3, 0.2]), mean, std, mode=mode)
        x = _images()
        with torch.no_grad():
            batched = ens.member_features(x)
            single = torch.stack([PromptedViT(bb, p, mode=mode).pooled(x) for p in members])
            mixed = ens.pooled(x)
        assert batched.shape == (3, 5, bb.embed_dim)
        assert torch.allclose(batched, single, atol=1e-5)
        expected = sum(a * (f - mu) / sd for a, f, mu, sd in zip((0.5, 0.3, 0.2), single, mean, std))
        assert torch.allclose(mixed, expected, atol=1e-5)

    def test_one_member_with_weight_one_gives_that_members_features(self):
        bb = tiny_backbone()
        member = _members(bb, 1)
        ens = PromptedEnsemble(bb, member, torch.ones(1), torch.zeros(1, bb.embed_dim), torch.ones(1, bb.embed_dim),
                               mode="deep")
        x = _images()
        with torch.no_grad():
            assert torch.allclose(ens.pooled(x), PromptedViT(bb, member[0], mode="deep").pooled(x), atol=1e-6)
            assert torch.equal(ens.pooled(x, use_prompt=False), PromptedViT(bb).pooled(x))

    def test_gradients_reach_every_member_and_not_the_backbone(self):
        bb = tiny_backbone()
        ens = PromptedEnsemble(bb, _members(bb, 2), torch.tensor([0.7, 0.3]), *_stats(2, bb.embed_dim), mode="deep",
                               learn_alpha=True)
        ens.pooled(_images()).pow(2).sum().backward()
        assert ens.members.grad is not None and bool((ens.members.grad.abs().sum(dim=(1, 2, 3)) > 0).all())
        assert ens.alpha_logits.grad is not None
        assert all(p.grad is None for p in bb.model.parameters())

    def test_learned_alpha_stays_on_the_simplex(self):
        bb = tiny_backbone()
        ens = PromptedEnsemble(bb, _members(bb, 3), torch.tensor([0.5, 0.3, 0.2]), *_stats(3, bb.embed_dim),
                               mode="deep", learn_alpha=True)
        assert torch.allclose(ens.alpha, torch.tensor([0.5, 0.3, 0.2]), atol=1e-6)  # starts where it was given
        opt = torch.optim.SGD([ens.alpha_logits], lr=50.0)
        for _ in range(5):  # large steps on a loss that pushes one weight up
            opt.zero_grad()
            (-ens.pooled(_images())[:, 0].sum()).backward()
            opt.step()
            a = ens.alpha.detach()
            assert bool((a >= 0).all()) and float(a.sum()) == pytest.approx(1.0, abs=1e-6)
        assert not torch.allclose(ens.alpha, torch.tensor([0.5, 0.3, 0.2]), atol=1e-3)

    def test_digest_changes_with_every_input(self):
        bb = tiny_backbone()
        members, (mean, std) = _members(bb, 2), _stats(2, bb.embed_dim)
        base = PromptedEnsemble(bb, members, torch.tensor([0.5, 0.5]), mean, std, mode="deep").prompt_sha256()
        variants = [
            PromptedEnsemble(bb, members + 1e-3, torch.tensor([0.5, 0.5]), mean, std, mode="deep"),
            PromptedEnsemble(bb, members, torch.tensor([0.6, 0.4]), mean, std, mode="deep"),
            PromptedEnsemble(bb, members, torch.tensor([0.5, 0.5]), mean + 1, std, mode="deep"),
        ]
        assert len({base, *(v.prompt_sha256() for v in variants)}) == 4

    def test_bad_inputs_are_refused(self):
        bb = tiny_backbone()
        mean, std = _stats(2, bb.embed_dim)
        with pytest.raises(UsageError, match="sum to 1"):
            PromptedEnsemble(bb, _members(bb, 2), torch.tensor([0.5, 0.6]), mean, std, mode="deep")
        with pytest.raises(IncompatibleError, match="members shape"):
            PromptedEnsemble(bb, _members(bb, 2, mode="shallow"), torch.tensor([0.5, 0.5]), mean, std, mode="deep")
        with pytest.raises(UsageError, match="std"):
            PromptedEnsemble(bb, _members(bb, 2), torch.tensor([0.5, 0.5]), mean, std * 0, mode="deep")


class TestStackedEnsemble:
    def test_stacked_features_are_each_members_standardized_features_scaled_by_sqrt_alpha(self):
        bb = tiny_backbone()
        members, (mean, std) = _members(bb, 3), _stats(3, bb.embed_dim)
        alpha = torch.tensor([0.5, 0.3, 0.2])
        ens = PromptedEnsemble(bb, members, alpha, mean, std, mode="deep", combine="stack")
        x = _images()
        with torch.no_grad():
            stacked = ens.pooled(x)
            single = torch.stack([PromptedViT(bb, p, mode="deep").pooled(x) for p in members])
        d = bb.embed_dim
        assert stacked.shape == (5, 3 * d) and ens.feature_dim == 3 * d and ens.prestandardized
        for j in range(3):
            expected = (single[j] - mean[j]) / std[j] * alpha[j].sqrt()
            assert torch.allclose(stacked[:, j * d:(j + 1) * d], expected, atol=1e-5)

    def test_a_head_with_blocks_alpha_w_on_stacked_features_equals_the_mixture_head(self):
        # The mixture is the special case of the stacked head: W_j = sqrt(alpha_j) W on block j.
        bb = tiny_backbone()
        members, (mean, std) = _members(bb, 2), _stats(2, bb.embed_dim)
        alpha = torch.tensor([0.7, 0.3])
        mix = PromptedEnsemble(bb, members, alpha, mean, std, mode="deep")
        stack = PromptedEnsemble(bb, members, alpha, mean, std, mode="deep", combine="stack")
        w = torch.randn(4, bb.embed_dim, generator=torch.Generator().manual_seed(3))
        blocks = torch.cat([alpha[j].sqrt() * w for j in range(2)], dim=1)
        x = _images()
        with torch.no_grad():
            assert torch.allclose(mix.pooled(x) @ w.T, stack.pooled(x) @ blocks.T, atol=1e-4)

    def test_one_member_stacked_is_the_mixture(self):
        bb = tiny_backbone()
        member, (mean, std) = _members(bb, 1), _stats(1, bb.embed_dim)
        x = _images()
        mix = PromptedEnsemble(bb, member, torch.ones(1), mean, std, mode="deep")
        stack = PromptedEnsemble(bb, member, torch.ones(1), mean, std, mode="deep", combine="stack")
        with torch.no_grad():
            assert torch.allclose(mix.pooled(x), stack.pooled(x), atol=1e-6)

    def test_digest_tells_stack_from_mix_and_bad_combine_is_refused(self):
        bb = tiny_backbone()
        members, (mean, std) = _members(bb, 2), _stats(2, bb.embed_dim)
        alpha = torch.tensor([0.5, 0.5])
        mix = PromptedEnsemble(bb, members, alpha, mean, std, mode="deep")
        stack = PromptedEnsemble(bb, members, alpha, mean, std, mode="deep", combine="stack")
        assert mix.prompt_sha256() != stack.prompt_sha256()
        with pytest.raises(UsageError, match="combine must be one of mix, stack"):
            PromptedEnsemble(bb, members, alpha, mean, std, mode="deep", combine="concat")


class TestComposedPromptViT:
    def test_starts_at_the_weighted_sum_and_learns_alpha_on_the_simplex(self):
        bb = tiny_backbone()
        sources = _members(bb, 3)
        alpha = torch.tensor([0.2, 0.5, 0.3])
        model = ComposedPromptViT(bb, sources, alpha, mode="deep")
        assert torch.allclose(model.current_prompt(), torch.einsum("k,klmd->lmd", alpha, sources), atol=1e-6)
        x = _images()
        with torch.no_grad():
            ref = PromptedViT(bb, model.current_prompt().detach(), mode="deep").pooled(x)
            assert torch.allclose(model.pooled(x), ref, atol=1e-6)
        opt = torch.optim.SGD([model.prompt, model.alpha_logits], lr=5.0)
        opt.zero_grad()
        model.pooled(x).pow(2).sum().backward()
        opt.step()
        a = model.alpha.detach()
        assert bool((a >= 0).all()) and float(a.sum()) == pytest.approx(1.0, abs=1e-6)
        assert set(model.export()) == {"prompt", "alpha"} and model.export()["prompt"].shape == sources.shape[1:]


class TestSequenceCap:
    """Inference splits a batch wider than the cap into passes that each run every member."""

    @staticmethod
    def _pass_widths(ens: PromptedEnsemble, x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        widths: list[int] = []
        handle = ens.vit.blocks[0].register_forward_hook(lambda _m, args, _out: widths.append(args[0].shape[0]))
        try:
            out = ens.member_features(x)
        finally:
            handle.remove()
        return out, widths

    def test_capped_inference_equals_one_pass_and_respects_the_cap(self):
        bb = tiny_backbone()
        members, (mean, std) = _members(bb, 3), _stats(3, bb.embed_dim)
        x = _images(7)
        one = PromptedEnsemble(bb, members, torch.tensor([0.5, 0.3, 0.2]), mean, std, mode="deep",
                               max_sequences=10_000)
        capped = PromptedEnsemble(bb, members, torch.tensor([0.5, 0.3, 0.2]), mean, std, mode="deep",
                                  max_sequences=8)
        with torch.no_grad():
            full, full_widths = self._pass_widths(one, x)
            parts, widths = self._pass_widths(capped, x)
        assert full_widths == [21]
        assert widths == [6, 6, 6, 3]  # 2 images x 3 members at most: 7 images in 4 chunks (2, 2, 2, 1)
        assert torch.allclose(parts, full, atol=1e-6)

    def test_a_cap_below_the_members_still_runs_one_image_with_every_member(self):
        bb = tiny_backbone()
        ens = PromptedEnsemble(bb, _members(bb, 3), torch.tensor([0.5, 0.3, 0.2]), *_stats(3, bb.embed_dim),
                               mode="deep", max_sequences=2)
        with torch.no_grad():
            _, widths = self._pass_widths(ens, _images(2))
        assert widths == [3, 3]

    def test_tuning_keeps_one_pass(self):
        bb = tiny_backbone()
        ens = PromptedEnsemble(bb, _members(bb, 3), torch.tensor([0.5, 0.3, 0.2]), *_stats(3, bb.embed_dim),
                               mode="deep", max_sequences=4)
        _, widths = self._pass_widths(ens, _images(5))
        assert widths == [15]

    def test_default_cap_is_for_cpus_only(self):
        from promptkit.prompted_ensemble import CPU_MAX_SEQUENCES

        bb = tiny_backbone()
        ens = PromptedEnsemble(bb, _members(bb, 2), torch.tensor([0.5, 0.5]), *_stats(2, bb.embed_dim), mode="deep")
        assert ens.max_sequences_for(torch.zeros(1)) == CPU_MAX_SEQUENCES
        assert ens.max_sequences_for(torch.zeros(1, device="meta")) is None

    @pytest.mark.parametrize("bad", [0, -3, 2.5, True])
    def test_bad_cap_is_refused(self, bad):
        bb = tiny_backbone()
        with pytest.raises(UsageError, match="max_sequences"):
            PromptedEnsemble(bb, _members(bb, 2), torch.tensor([0.5, 0.5]), *_stats(2, bb.embed_dim), mode="deep",
                             max_sequences=bad)

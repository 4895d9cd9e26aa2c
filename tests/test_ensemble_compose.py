"""Composing the target prompt from sources, and refusing sources that do not fit together."""

from __future__ import annotations

import pytest
import torch

from promptkit.ensemble import check_sources, compose_prompt
from promptkit.errors import IncompatibleError, UsageError
from promptkit.identity import BackboneIdentity, PromptGeometry

VIT = BackboneIdentity(timm_name="vit_base_patch16_224", pretrained_tag="augreg_in21k", weights_sha256="ab" * 32)
OTHER_WEIGHTS = BackboneIdentity(timm_name="vit_base_patch16_224", weights_sha256="cd" * 32)
SHALLOW = PromptGeometry(mode="shallow", length=10, width=768, layers=1)
LONGER = PromptGeometry(mode="shallow", length=20, width=768, layers=1)


class TestComposePrompt:
    def test_is_the_weighted_sum(self) -> None:
        prompts = torch.randn(3, 2, 4, 5, generator=torch.Generator().manual_seed(0))
        alpha = torch.tensor([0.5, 0.3, 0.2])
        assert torch.allclose(compose_prompt(prompts, alpha), 0.5 * prompts[0] + 0.3 * prompts[1] + 0.2 * prompts[2])

    def test_one_hot_weights_give_that_prompt(self) -> None:
        prompts = [torch.randn(1, 4, 5), torch.randn(1, 4, 5)]
        assert torch.equal(compose_prompt(prompts, torch.tensor([0.0, 1.0])), prompts[1])

    def test_is_differentiable_in_alpha_and_prompts(self) -> None:
        prompts = torch.randn(2, 1, 3, 4, requires_grad=True)
        alpha = torch.tensor([0.6, 0.4], requires_grad=True)
        compose_prompt(prompts, alpha).sum().backward()
        assert alpha.grad is not None and prompts.grad is not None
        assert torch.allclose(alpha.grad, prompts.detach().sum(dim=(1, 2, 3)), atol=1e-6)  # summation order varies

    def test_refuses_prompts_of_different_shapes(self) -> None:
        with pytest.raises(IncompatibleError, match="prompt 1") as info:
            compose_prompt([torch.zeros(1, 4, 5), torch.zeros(1, 8, 5)], torch.ones(2) / 2)
        assert info.value.expected == "(1, 4, 5)" and info.value.actual == "(1, 8, 5)"

    @pytest.mark.parametrize(
        ("prompts", "alpha"),
        [([], torch.ones(0)), ([torch.zeros(4, 5)], torch.ones(1)), ([torch.zeros(1, 4, 5)], torch.ones(2)),
         ([torch.zeros(1, 4, 5)], torch.tensor([float("inf")]))],
    )
    def test_refuses_bad_arguments(self, prompts: list[torch.Tensor], alpha: torch.Tensor) -> None:
        with pytest.raises(UsageError):
            compose_prompt(prompts, alpha)


class TestCheckSources:
    def test_returns_the_common_backbone_and_geometry(self) -> None:
        assert check_sources([("zoo/a:1", VIT, SHALLOW), ("zoo/b:2", VIT, SHALLOW)]) == (VIT, SHALLOW)

    def test_names_the_source_with_other_weights_and_both_sides(self) -> None:
        with pytest.raises(IncompatibleError) as info:
            check_sources([("zoo/a:1", VIT, SHALLOW), ("zoo/b:2", VIT, SHALLOW), ("x/c:1", OTHER_WEIGHTS, SHALLOW)])
        message = str(info.value)
        assert "x/c:1" in message and "zoo/a:1" in message
        assert VIT.short() in message and OTHER_WEIGHTS.short() in message

    def test_names_the_source_with_another_geometry(self) -> None:
        with pytest.raises(IncompatibleError, match="zoo/b:2") as info:
            check_sources([("zoo/a:1", VIT, SHALLOW), ("zoo/b:2", VIT, LONGER)])
        assert info.value.expected == SHALLOW.short() and info.value.actual == LONGER.short()

    def test_refuses_no_sources(self) -> None:
        with pytest.raises(UsageError):
            check_sources([])

"""Tests for promptkit.prompted: visual prompts on a frozen timm ViT (VPT, docs/method.md#vpt)."""

from __future__ import annotations

import pytest
import torch

from promptkit.backbone import load_backbone
from promptkit.errors import IncompatibleError, UsageError
from promptkit.identity import BackboneIdentity, PromptGeometry
from promptkit.prompted import PromptedViT, prompt_sha256

TINY = dict(img_size=32, patch_size=8, depth=3, embed_dim=48, num_heads=2)



@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_backbone("vit_tiny_patch16_224", pretrained=False, **TINY)


@pytest.fixture(scope="module")
def tiny_avg():
    torch.manual_seed(1)
    return load_backbone("vit_tiny_patch16_224", pretrained=False, global_pool="avg", reg_tokens=2,
                         class_token=False, **TINY)


def _images(n: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _reference_tokens(vit, x, prompt, mode):
    """Prompted tokens computed directly from timm's own modules (docs/method.md#vpt)."""
    n = vit.num_prefix_tokens
    h = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))
    b = x.shape[0]
    h = torch.cat([h[:, :n], prompt[0].expand(b, -1, -1), h[:, n:]], dim=1)
    m = prompt.shape[1]
    for i, block in enumerate(vit.blocks):
        if mode == "deep" and i > 0:
            h = torch.cat([h[:, :n], prompt[i].expand(b, -1, -1), h[:, n + m:]], dim=1)
        h = block(h)
    return vit.norm(h)


class TestPromptedViTExactness:
    """With m = 0 the wrapper must reproduce timm's forward_features bit for bit."""

    @pytest.mark.parametrize(
        ("name", "kwargs", "size"),
        [
            ("vit_tiny_patch16_224", {"img_size": 32}, 32),
            ("vit_small_patch16_224", {"img_size": 32}, 32),
            ("deit_tiny_patch16_224", {"img_size": 32}, 32),
            ("vit_tiny_patch16_224", {}, 224),  # default size
            ("vit_little_patch16_reg4_gap_256", {"img_size": 64}, 64),  # 4 register tokens, avg pooling
            ("vit_small_patch14_reg4_dinov2", {"img_size": 56}, 56),  # registers, cls pooling, layer scale
        ],
    )
    def test_zero_prompt_tokens_equal_timm_forward_features(self, name, kwargs, size):
        torch.manual_seed(0)
        backbone = load_backbone(name, pretrained=False, **kwargs)
        model = PromptedViT(backbone)
        x = _images(2, size)
        with torch.no_grad():
            ours, theirs = model.forward_features(x), backbone.model.forward_features(x)
            pooled, pooled_ref = model.pooled(x), backbone.model.forward_head(theirs, pre_logits=True)
        assert torch.equal(ours, theirs)
        assert torch.equal(pooled, pooled_ref)
        assert model.geometry is None and model.length == 0

    def test_use_prompt_false_is_the_frozen_backbone(self, tiny):
        model = PromptedViT(tiny, torch.randn(1, 3, 48))
        x = _images()
        with torch.no_grad():
            assert torch.equal(model.forward_features(x, use_prompt=False), tiny.model.forward_features(x))


class TestPromptedViTForward:
    @pytest.mark.parametrize("mode", ["shallow", "deep"])
    def test_prompts_are_inserted_after_prefix_tokens_and_replaced_per_layer(self, tiny, mode):
        layers = 1 if mode == "shallow" else 3
        prompt = torch.randn(layers, 5, 48)
        model = PromptedViT(tiny, prompt, mode=mode)
        x = _images()
        with torch.no_grad():
            tokens = model.forward_features(x)
            ref = _reference_tokens(tiny.model, x, prompt, mode)
        assert tokens.shape == (2, 1 + 5 + 16, 48)
        assert torch.allclose(tokens, ref, atol=1e-6)

    def test_deep_prompts_of_later_layers_change_the_output(self, tiny):
        prompt = torch.randn(3, 4, 48)
        model = PromptedViT(tiny, prompt, mode="deep")
        x = _images()
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            before = model.pooled(x)
            # A random change: adding a constant to a token would vanish in the next LayerNorm.
            model.prompt[2] += torch.randn(4, 48, generator=g)
            after = model.pooled(x)
        assert (before - after).abs().max() > 1e-2

    def test_cls_pooling_reads_the_cls_token(self, tiny):
        model = PromptedViT(tiny, torch.randn(1, 4, 48))
        x = _images()
        with torch.no_grad():
            assert torch.equal(model.pooled(x), model.forward_features(x)[:, 0])

    def test_avg_pooling_excludes_prompt_and_prefix_tokens(self, tiny_avg):
        model = PromptedViT(tiny_avg, 10 * torch.randn(1, 4, 48))
        x = _images()
        with torch.no_grad():
            tokens = model.forward_features(x)
            expected = tiny_avg.model.fc_norm(tokens[:, 2 + 4:].mean(1))  # 2 register tokens, no cls
            assert torch.allclose(model.pooled(x), expected, atol=1e-6)
            assert model.strip_prompts(tokens).shape == (2, 2 + 16, 48)

    def test_forward_applies_the_linear_head(self, tiny):
        model = PromptedViT(tiny, torch.randn(1, 2, 48))
        w, b = torch.randn(3, 48), torch.randn(3)
        model.set_head(w, b)
        x = _images()
        with torch.no_grad():
            assert torch.allclose(model(x), model.pooled(x) @ w.T + b, atol=1e-5)

    def test_forward_without_head_is_a_usage_error(self, tiny):
        with pytest.raises(UsageError, match="no head"):
            PromptedViT(tiny, torch.randn(1, 2, 48))(_images())

    def test_deep_prompt_gradient_matches_the_reference(self, tiny):
        """Deep prompts are written into each block's input in place; autograd must see the same graph."""
        prompt = torch.randn(3, 4, 48)
        model = PromptedViT(tiny, prompt, mode="deep")
        x = _images()
        model.forward_features(x).pow(2).sum().backward()
        ref_prompt = prompt.clone().requires_grad_(True)
        _reference_tokens(tiny.model, x, ref_prompt, "deep").pow(2).sum().backward()
        assert torch.allclose(model.prompt.grad, ref_prompt.grad, atol=1e-5)
        assert model.prompt.grad[2].abs().sum() > 0

    def test_grad_checkpointing_gives_the_same_gradient(self, tiny):
        prompt = torch.randn(3, 2, 48)
        grads = []
        for ckpt in (False, True):
            tiny.model.set_grad_checkpointing(ckpt)
            model = PromptedViT(tiny, prompt, mode="deep", num_classes=2)
            model.pooled(_images()).pow(2).sum().backward()
            grads.append(model.prompt.grad.clone())
        tiny.model.set_grad_checkpointing(False)
        assert torch.allclose(grads[0], grads[1], atol=1e-6)


class TestPromptedViTTraining:
    def test_only_prompt_and_head_train_and_backbone_is_unchanged(self, tiny):
        before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
        model = PromptedViT(tiny, torch.randn(3, 4, 48) * 0.1, mode="deep")
        model.set_head(torch.randn(3, 48), torch.zeros(3))
        assert model.trainable_parameters() == [model.prompt, model.head.weight, model.head.bias]
        prompt0 = model.prompt.detach().clone()
        opt = torch.optim.SGD(model.parameters(), lr=0.5)  # every parameter: frozen ones must not move
        model.train()
        loss = torch.nn.functional.cross_entropy(model(_images(4)), torch.tensor([0, 1, 2, 0]))
        loss.backward()
        opt.step()
        assert all(p.grad is None for p in tiny.model.parameters())
        assert all(torch.equal(v, before[k]) for k, v in tiny.model.state_dict().items())
        assert not torch.equal(model.prompt.detach(), prompt0)

    def test_backbone_stays_in_eval_mode(self):
        torch.manual_seed(0)
        noisy = load_backbone("vit_tiny_patch16_224", pretrained=False, drop_rate=0.5, attn_drop_rate=0.5,
                              proj_drop_rate=0.5, drop_path_rate=0.5, **TINY)
        model = PromptedViT(noisy, torch.randn(1, 2, 48), num_classes=2).train()
        assert model.training and model.head.training and not model.vit.training
        assert not any(m.training for m in model.vit.modules())
        x = _images()
        with torch.no_grad():
            assert torch.equal(model(x), model(x))  # dropout would make these differ


class TestPromptedViTCompatibility:
    def _other_identity(self, tiny) -> BackboneIdentity:
        return tiny.identity.model_copy(update={"weights_sha256": "0" * 64})

    def test_from_prompt_checks_the_backbone_identity(self, tiny):
        geometry = PromptGeometry(mode="shallow", length=2, width=48, layers=1)
        other = self._other_identity(tiny)
        with pytest.raises(IncompatibleError) as info:
            PromptedViT.from_prompt(tiny, torch.zeros(1, 2, 48), identity=other, geometry=geometry)
        assert tiny.identity.short() in str(info.value) and other.short() in str(info.value)
        ok = PromptedViT.from_prompt(tiny, torch.ones(1, 2, 48), identity=tiny.identity, geometry=geometry)
        assert ok.geometry == geometry

    def test_from_prompt_checks_geometry_against_the_backbone(self, tiny):
        wrong_width = PromptGeometry(mode="shallow", length=2, width=64, layers=1)
        with pytest.raises(IncompatibleError, match="geometry"):
            PromptedViT.from_prompt(tiny, torch.zeros(1, 2, 64), identity=tiny.identity, geometry=wrong_width)
        wrong_depth = PromptGeometry(mode="deep", length=2, width=48, layers=12)
        with pytest.raises(IncompatibleError, match="deep 3x2x48"):
            PromptedViT.from_prompt(tiny, torch.zeros(12, 2, 48), identity=tiny.identity, geometry=wrong_depth)

    def test_load_prompt_names_both_geometries(self, tiny):
        model = PromptedViT(tiny, torch.zeros(1, 2, 48))
        longer = PromptGeometry(mode="shallow", length=3, width=48, layers=1)
        with pytest.raises(IncompatibleError) as info:
            model.load_prompt(torch.zeros(1, 3, 48), identity=tiny.identity, geometry=longer)
        assert "shallow 1x2x48" in str(info.value) and "shallow 1x3x48" in str(info.value)
        with pytest.raises(IncompatibleError, match="backbone"):
            model.load_prompt(torch.zeros(1, 2, 48), identity=self._other_identity(tiny), geometry=model.geometry)
        model.load_prompt(torch.ones(1, 2, 48), identity=tiny.identity, geometry=model.geometry)
        assert torch.equal(model.prompt.detach(), torch.ones(1, 2, 48))

    def test_prompt_shape_must_fit_mode_and_width(self, tiny):
        with pytest.raises(IncompatibleError):
            PromptedViT(tiny, torch.zeros(2, 4, 48), mode="shallow")
        with pytest.raises(IncompatibleError):
            PromptedViT(tiny, torch.zeros(1, 4, 48), mode="deep")
        with pytest.raises(IncompatibleError):
            PromptedViT(tiny, torch.zeros(1, 4, 32))

    def test_set_head_rejects_wrong_width(self, tiny):
        with pytest.raises(IncompatibleError):
            PromptedViT(tiny).set_head(torch.zeros(3, 10), torch.zeros(3))


class TestPromptSha256:
    def test_digest_follows_values_and_mode(self):
        p = torch.arange(8.0).reshape(1, 2, 4)
        assert prompt_sha256(p) == prompt_sha256(p.clone().double())  # hashed as float32
        assert prompt_sha256(p) != prompt_sha256(p + 1)
        assert prompt_sha256(p, "shallow") != prompt_sha256(p, "deep")
        assert prompt_sha256(None) == prompt_sha256(torch.zeros(1, 0, 4)) == "none"

"""Tests for promptkit.backbone: loading a frozen timm ViT and fingerprinting its weights."""

from __future__ import annotations

import pytest
import torch

from promptkit.backbone import Backbone, load_backbone, state_dict_sha256
from promptkit.errors import UsageError, WeightsError

TINY = dict(img_size=32, patch_size=8, depth=2, embed_dim=48, num_heads=2)



@pytest.fixture(scope="module")
def tiny() -> Backbone:
    torch.manual_seed(0)
    return load_backbone("vit_tiny_patch16_224", pretrained=False, **TINY)


class TestStateDictSha256:
    def test_independent_of_insertion_order(self):
        a = {"x": torch.arange(3.0), "y": torch.ones(2, 2)}
        b = {"y": torch.ones(2, 2), "x": torch.arange(3.0)}
        assert state_dict_sha256(a) == state_dict_sha256(b)

    def test_sensitive_to_values_dtype_shape_and_names(self):
        base = {"x": torch.zeros(4)}
        digest = state_dict_sha256(base)
        assert state_dict_sha256({"x": torch.tensor([0.0, 0.0, 0.0, 1e-8])}) != digest
        assert state_dict_sha256({"x": torch.zeros(4, dtype=torch.float64)}) != digest
        assert state_dict_sha256({"x": torch.zeros(2, 2)}) != digest
        assert state_dict_sha256({"z": torch.zeros(4)}) != digest

    def test_non_contiguous_and_scalar_tensors(self):
        t = torch.arange(6.0).reshape(2, 3)
        assert state_dict_sha256({"t": t.T}) == state_dict_sha256({"t": t.T.contiguous()})
        assert len(state_dict_sha256({"s": torch.tensor(1.0)})) == 64


class TestLoadBackbone:
    def test_random_init_is_frozen_headless_and_identified(self, tiny):
        model = tiny.model
        assert not model.training
        assert all(not p.requires_grad for p in model.parameters())
        assert model.num_classes == 0
        ident = tiny.identity
        assert ident.timm_name == "vit_tiny_patch16_224"
        assert ident.pretrained_tag is None and ident.hub_id is None
        assert ident.weights_sha256 == state_dict_sha256(model.state_dict())
        assert (tiny.embed_dim, tiny.depth, tiny.num_prefix_tokens, tiny.num_patches) == (48, 2, 1, 16)
        assert tiny.data_config["input_size"] == (3, 32, 32)

    def test_tag_is_split_from_the_timm_name(self):
        b = load_backbone("vit_tiny_patch16_224.augreg_in21k", pretrained=False, **TINY)
        assert b.identity.timm_name == "vit_tiny_patch16_224"
        assert b.identity.pretrained_tag is None  # random weights carry no pretrained tag

    @pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".bin"])
    def test_local_weights_file_gives_the_same_weights_and_digest(self, tiny, tmp_path, suffix):
        path = tmp_path / f"w{suffix}"
        state = {k: v.clone() for k, v in tiny.model.state_dict().items()}
        if suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(state, str(path))
        else:
            torch.save({"state_dict": state}, path)  # a wrapped checkpoint, as training scripts write
        loaded = load_backbone("vit_tiny_patch16_224", weights=path, **TINY)
        assert loaded.identity.weights_sha256 == tiny.identity.weights_sha256
        assert loaded.identity.same_backbone(tiny.identity)
        assert loaded.identity.pretrained_tag is None
        for k, v in tiny.model.state_dict().items():
            assert torch.equal(loaded.model.state_dict()[k], v)

    def test_classifier_head_in_the_file_is_ignored(self, tiny, tmp_path):
        state = dict(tiny.model.state_dict())
        state["head.weight"] = torch.randn(10, 48)
        state["head.bias"] = torch.randn(10)
        torch.save(state, tmp_path / "w.pth")
        loaded = load_backbone("vit_tiny_patch16_224", weights=tmp_path / "w.pth", **TINY)
        assert loaded.identity.weights_sha256 == tiny.identity.weights_sha256

    def test_mismatched_weights_name_the_file(self, tiny, tmp_path):
        torch.save(tiny.model.state_dict(), tmp_path / "w.pth")
        with pytest.raises(WeightsError, match="does not fit") as info:
            load_backbone("vit_tiny_patch16_224", weights=tmp_path / "w.pth", **{**TINY, "depth": 3})
        assert info.value.path.endswith("w.pth")

    def test_missing_unreadable_and_pickled_files(self, tmp_path):
        with pytest.raises(WeightsError, match="does not exist"):
            load_backbone("vit_tiny_patch16_224", weights=tmp_path / "nope.safetensors", **TINY)
        (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
        with pytest.raises(WeightsError, match="cannot read"):
            load_backbone("vit_tiny_patch16_224", weights=tmp_path / "bad.safetensors", **TINY)
        torch.save({"obj": object()}, tmp_path / "obj.pth")  # arbitrary pickled object: refused
        with pytest.raises(WeightsError):
            load_backbone("vit_tiny_patch16_224", weights=tmp_path / "obj.pth", **TINY)
        (tmp_path / "w.npz").write_bytes(b"")
        with pytest.raises(WeightsError, match="unknown suffix"):
            load_backbone("vit_tiny_patch16_224", weights=tmp_path / "w.npz", **TINY)

    def test_network_failure_says_to_pass_a_local_file(self, monkeypatch):
        import timm

        def offline(*args, **kwargs):
            if kwargs.get("pretrained"):
                raise OSError("Name or service not known")
            raise AssertionError("unexpected call")

        monkeypatch.setattr(timm, "create_model", offline)
        # the Hub answers a connection (promptkit.hub_weights lets timm try), then the download fails
        monkeypatch.setattr("promptkit.hub_weights.pretrained_weights_file", lambda name: None)
        with pytest.raises(WeightsError, match="could not download") as info:
            load_backbone("vit_base_patch16_224.augreg_in21k")
        assert "--weights" in info.value.hint
        assert isinstance(info.value, OSError)

    def test_rejects_non_vit_and_unknown_names(self):
        with pytest.raises(UsageError, match="not a timm VisionTransformer"):
            load_backbone("resnet10t", pretrained=False)
        with pytest.raises(UsageError, match="unknown timm model"):
            load_backbone("vit_does_not_exist_patch16")

    def test_rejects_models_without_pooling(self):
        with pytest.raises(UsageError, match="no pooling"):
            load_backbone("vit_tiny_patch16_224", pretrained=False, global_pool="", **TINY)


class TestBackboneFromModel:
    def test_wraps_a_model_built_in_code(self):
        from timm.models.vision_transformer import VisionTransformer

        torch.manual_seed(1)
        vit = VisionTransformer(img_size=16, patch_size=4, embed_dim=32, depth=1, num_heads=2, num_classes=5)
        b = Backbone.from_model(vit, timm_name="zoo_vit", pretrained_tag="zoo-v1")
        assert b.model.num_classes == 0 and not b.model.training
        assert b.identity.pretrained_tag == "zoo-v1"
        assert b.identity.weights_sha256 == state_dict_sha256(vit.state_dict())


class TestRegisterBackbone:
    def test_registered_loader_takes_precedence(self):
        from promptkit.backbone import BACKBONES, register_backbone

        calls = []

        @register_backbone("test-zoo-vit")
        def loader(*, weights=None, pretrained=True, **kwargs):
            calls.append((weights, pretrained, kwargs))
            return load_backbone("vit_tiny_patch16_224", pretrained=False, **TINY)

        try:
            b = load_backbone("test-zoo-vit", weights="w.safetensors", img_size=32)
            assert isinstance(b, Backbone) and calls == [("w.safetensors", True, {"img_size": 32})]
            assert b.identity.timm_name == "test-zoo-vit"  # the name that reloads it
            with pytest.raises(ValueError, match="already registered"):
                register_backbone("test-zoo-vit")(loader)
        finally:
            BACKBONES.pop("test-zoo-vit")

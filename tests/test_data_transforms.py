"""Backbone preprocessing from timm pretrained configs (promptkit/data/transforms.py)."""

from __future__ import annotations

import pytest
import timm
import torch
from PIL import Image

from promptkit.data import data_config_for, describe_transform, transform_for
from promptkit.errors import UsageError

CFG = {"input_size": (3, 24, 24), "mean": (0.5, 0.25, 0.0), "std": (0.5, 0.25, 1.0), "interpolation": "bilinear",
       "crop_pct": 1.0, "crop_mode": "center"}


class TestTransformFor:
    def test_size_mean_and_std_from_a_pretrained_cfg(self):
        t = transform_for(CFG)
        out = t(Image.new("RGB", (40, 30), (128, 64, 0)))
        assert out.shape == (3, 24, 24)
        # (x - mean) / std with x = colour / 255: about 0 in every channel
        assert torch.allclose(out.mean(dim=(1, 2)), torch.zeros(3), atol=0.02)

    def test_eval_transform_is_deterministic_and_described_by_its_parameters(self):
        t = transform_for(CFG)
        img = Image.effect_noise((40, 40), 50).convert("RGB")
        assert torch.equal(t(img), t(img))
        text = describe_transform(t)
        assert "24" in text and "Normalize" in text and text == describe_transform(transform_for(CFG))
        assert text != describe_transform(transform_for(CFG | {"mean": (0.4, 0.25, 0.0)}))

    def test_float_tensor_input_is_accepted(self):
        assert transform_for(CFG)(torch.rand(3, 32, 32)).shape == (3, 24, 24)

    def test_train_transform_is_random_augmentation(self):
        assert "RandomResizedCrop" in repr(transform_for(CFG, train=True))
        assert "RandomResizedCrop" not in repr(transform_for(CFG))

    def test_timm_name_reads_its_config_without_weights(self):
        cfg = data_config_for("vit_base_patch16_224.augreg_in21k")
        assert cfg["input_size"] == (3, 224, 224) and tuple(cfg["mean"]) == (0.5, 0.5, 0.5)

    def test_unknown_timm_name(self):
        with pytest.raises(UsageError):
            data_config_for("not_a_model_xyz")


class TestModelInput:
    def test_model_built_for_another_size_keeps_that_size_and_its_normalization(self):
        model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=4, depth=1)
        cfg = data_config_for(model)
        assert cfg["input_size"] == (3, 32, 32) and tuple(cfg["mean"]) == (0.5, 0.5, 0.5)
        assert transform_for(model)(torch.rand(3, 32, 32)).shape == (3, 32, 32)

    def test_wrapper_module_is_searched_for_its_vit(self):
        class Wrapper(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32,
                                                  patch_size=4, depth=1)

        assert data_config_for(Wrapper())["input_size"] == (3, 32, 32)

    def test_module_without_any_input_information_is_refused(self):
        with pytest.raises(UsageError):
            data_config_for(torch.nn.Linear(2, 2))

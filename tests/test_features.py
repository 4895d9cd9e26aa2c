"""Tests for promptkit.features: pooled-feature extraction and the on-disk feature cache."""

from __future__ import annotations

import pytest
import torch

from promptkit.backbone import load_backbone
from promptkit.features import FeatureCache, cache_key, default_cache_dir, extract_features
from promptkit.prompted import PromptedViT


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_backbone("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2, embed_dim=32,
                         num_heads=2)


@pytest.fixture(scope="module")
def dataset():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(3, 32, 32, generator=g), i % 3) for i in range(10)]


@pytest.fixture
def model(tiny):
    return PromptedViT(tiny, torch.randn(1, 2, 32, generator=torch.Generator().manual_seed(1)))


class TestExtractFeatures:
    def test_matches_pooled_in_order_with_labels(self, model, dataset):
        calls = []
        feats, labels = extract_features(model, dataset, batch_size=4, device="cpu",
                                         progress=lambda d, t: calls.append((d, t)))
        images = torch.stack([x for x, _ in dataset])
        with torch.no_grad():
            assert torch.allclose(feats, model.pooled(images), atol=1e-6)
        assert feats.dtype == torch.float32 and feats.shape == (10, 32)
        assert labels.tolist() == [i % 3 for i in range(10)]
        assert calls == [(4, 10), (8, 10), (10, 10)]

    def test_without_prompt_is_the_frozen_backbone(self, model, tiny, dataset):
        feats, _ = extract_features(model, dataset, batch_size=5, use_prompt=False)
        images = torch.stack([x for x, _ in dataset])
        with torch.no_grad():
            ref = tiny.model.forward_head(tiny.model.forward_features(images), pre_logits=True)
        assert torch.allclose(feats, ref, atol=1e-6)

    def test_restores_training_mode_and_works_under_bf16(self, model, dataset):
        model.train()
        feats, _ = extract_features(model, dataset, batch_size=5, precision="bf16")
        assert model.training and feats.dtype == torch.float32
        ref, _ = extract_features(model, dataset, batch_size=5)
        assert torch.allclose(feats, ref, atol=0.2)  # bf16 rounding, same features


class TestCacheKey:
    def test_every_input_changes_the_key(self):
        base = dict(prompt_sha256="p", backbone_sha256="b", dataset_fingerprint="f", split="train", pooling="token")
        key = cache_key(**base)
        for name in base:
            assert cache_key(**{**base, name: base[name] + "x"}) != key
        assert cache_key(**base, precision="bf16") != key
        assert cache_key(**base) == key


class TestFeatureCache:
    def _get(self, cache, model, dataset, **kw):
        args = dict(dataset_fingerprint="fp-1", split="train", batch_size=4)
        return cache.features(model, dataset, **{**args, **kw})

    def test_default_dir_is_under_promptkit_home(self, monkeypatch, tmp_path):
        monkeypatch.setenv("PROMPTKIT_HOME", str(tmp_path))
        assert default_cache_dir() == tmp_path / "cache" / "features"
        assert FeatureCache().root == tmp_path / "cache" / "features"

    def test_miss_then_hit(self, tmp_path, model, dataset):
        cache = FeatureCache(tmp_path)
        f1, y1 = self._get(cache, model, dataset)
        assert cache.stats == {"hits": 0, "misses": 1, "corrupt": 0}
        f2, y2 = self._get(cache, model, dataset)
        assert cache.stats["hits"] == 1
        assert torch.equal(f1, f2) and torch.equal(y1, y2)
        assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temp files

    def test_changed_inputs_never_hit_a_stale_entry(self, tmp_path, model, tiny, dataset):
        cache = FeatureCache(tmp_path)
        first, _ = self._get(cache, model, dataset)
        self._get(cache, model, dataset, dataset_fingerprint="fp-2")
        self._get(cache, model, dataset, split="val")
        self._get(cache, model, dataset, use_prompt=False)
        with torch.no_grad():
            model.prompt.add_(1.0)
        changed, _ = self._get(cache, model, dataset)
        assert cache.stats["hits"] == 0 and cache.stats["misses"] == 5
        assert not torch.allclose(first, changed)
        other = PromptedViT(load_backbone("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8,
                                          depth=2, embed_dim=32, num_heads=2), model.prompt.detach())
        self._get(cache, other, dataset)  # same prompt and data, other backbone weights
        assert cache.stats["hits"] == 0

    @pytest.mark.parametrize("damage", ["truncate", "flip-byte", "garbage", "empty"])
    def test_corrupt_entries_are_recomputed(self, tmp_path, model, dataset, damage):
        cache = FeatureCache(tmp_path)
        good, _ = self._get(cache, model, dataset)
        [path] = list(tmp_path.rglob("*.safetensors"))
        raw = bytearray(path.read_bytes())
        if damage == "truncate":
            raw = raw[: len(raw) // 2]
        elif damage == "flip-byte":
            raw[-3] ^= 0xFF  # inside the tensor data: parses, fails the digest
        elif damage == "garbage":
            raw = bytearray(b"\x00" * 64)
        else:
            raw = bytearray()
        path.write_bytes(bytes(raw))
        fresh = FeatureCache(tmp_path)
        again, _ = self._get(fresh, model, dataset)
        assert fresh.stats == {"hits": 0, "misses": 1, "corrupt": 1}
        assert torch.equal(again, good)
        assert FeatureCache(tmp_path).get(path.stem) is not None  # the entry was rewritten, valid

    def test_entry_under_the_wrong_key_is_not_trusted(self, tmp_path):
        cache = FeatureCache(tmp_path)
        cache.put("a" * 64, torch.ones(2, 3), torch.zeros(2, dtype=torch.int64))
        target = cache.path("b" * 64)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(cache.path("a" * 64).read_bytes())
        assert cache.get("b" * 64) is None and cache.stats["corrupt"] == 1
        assert cache.get("a" * 64) is not None

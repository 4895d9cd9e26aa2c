"""Tests for promptkit.train.loop and promptkit.train.evaluate: tuning a prompt + head end to end."""

from __future__ import annotations

import hashlib

import pytest
import torch

from promptkit.backbone import load_backbone
from promptkit.errors import IncompatibleError, UsageError
from promptkit.features import FeatureCache, extract_features
from promptkit.prompted import PromptedViT
from promptkit.train import CHECKPOINT_FILE, TrainConfig, evaluate, head_applies, load_checkpoint, train_prompt

D = 32



class ToySplits:
    """Four texture classes (horizontal / vertical stripes, checks, none) under heavy pixel noise."""

    def __init__(self, seed: int = 0, n_train: int = 64, n_val: int = 32, n_test: int = 64,
                 noise: float = 1.5) -> None:
        self.noise = noise
        self.train = self._make(n_train, 100 + seed)
        self.val = self._make(n_val, 200 + seed)
        self.test = self._make(n_test, 300)
        self.num_classes = 4
        self.seed = seed

    def _make(self, n: int, seed: int) -> list[tuple[torch.Tensor, int]]:
        g = torch.Generator().manual_seed(seed)
        items = []
        for i in range(n):
            y = i % 4
            x = self.noise * torch.randn(3, 32, 32, generator=g)
            if y == 0:
                x[:, ::4] += 1.0
            elif y == 1:
                x[:, :, ::4] += 1.0
            elif y == 2:
                x[:, ::2, ::2] += 1.0
            items.append((x, y))
        return items

    def fingerprint(self, split: str | None = None) -> str:
        text = f"toy:{self.seed}" if split is None else f"toy:{split}:{self.seed if split != 'test' else ''}"
        return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_backbone("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2, embed_dim=D,
                         num_heads=2)


@pytest.fixture(scope="module")
def splits():
    return ToySplits()


def _config(**kw) -> TrainConfig:
    base = dict(length=4, epochs=4, batch_size=16, lr=0.05, device="cpu", probe_l2=1e-2, seed=0)
    return TrainConfig(**{**base, **kw})


class TestTrainPrompt:
    def test_tunes_a_separable_task_well_above_chance(self, tiny, splits):
        records = []
        result = train_prompt(tiny, splits, _config(probe_l2=None, keep="last", epochs=6, lr=0.5),
                              on_epoch=records.append)
        m = result.metrics
        assert m["test_acc"] >= 0.8  # chance is 0.25
        assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
        assert result.prompt.shape == (1, 4, D) and result.head_weight.shape == (4, D)
        assert [r["epoch"] for r in records] == [float(e) for e in range(1, 7)] and records == result.history
        assert {"probe_train_acc", "probe_val_acc", "probe_test_acc", "start_val_acc", "head_probe_l2",
                "init_seconds", "train_seconds"} <= set(m)
        assert result.geometry.shape == (1, 4, D) and result.backbone == tiny.identity
        assert result.dataset_fingerprint == splits.fingerprint()
        assert result.split_fingerprints["test"] == splits.fingerprint("test")

    def test_the_prompt_alone_lowers_the_training_loss(self, tiny, splits):
        # Head frozen at the probe solution (head_lr=0): any progress comes through the prompt.
        result = train_prompt(tiny, splits, _config(head_lr=0.0, keep="last", epochs=6, lr=0.5))
        losses = [r["train_loss"] for r in result.history]
        assert losses[-1] < 0.8 * losses[0]

    def test_folded_head_reproduces_the_reported_accuracy(self, tiny, splits):
        result = train_prompt(tiny, splits, _config(epochs=2))
        model = PromptedViT(tiny, result.prompt)
        feats, labels = extract_features(model, splits.test, batch_size=32)
        acc = float(((feats @ result.head_weight.T + result.head_bias).argmax(1) == labels).double().mean())
        assert acc == pytest.approx(result.metrics["test_acc"])

    def test_same_seed_gives_identical_prompts(self, tiny, splits):
        cfg = _config(epochs=2, init="mean", keep="last")
        a, b = train_prompt(tiny, splits, cfg), train_prompt(tiny, splits, cfg)
        assert torch.equal(a.prompt, b.prompt) and torch.equal(a.head_weight, b.head_weight)
        c = train_prompt(tiny, splits, cfg.replace(seed=1))
        assert not torch.equal(a.prompt, c.prompt)

    def test_global_rng_of_the_caller_is_untouched(self, tiny, splits):
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        train_prompt(tiny, splits, _config(epochs=1))
        assert torch.equal(torch.rand(3), expected)

    def test_keep_best_can_return_the_probe_start(self, tiny, splits):
        # A learning rate this large wrecks the prompt: the best-val epoch is the start (epoch 0).
        result = train_prompt(tiny, splits, _config(epochs=2, lr=500.0, init="sample"))
        assert max(r["val_acc"] for r in result.history) < result.metrics["start_val_acc"]
        assert result.metrics["best_epoch"] == 0.0
        assert result.metrics["val_acc"] == pytest.approx(result.metrics["start_val_acc"])

    def test_start_below_frozen_probe_is_reported(self, tiny, splits):
        from promptkit.inits import PromptSource

        geometry = PromptedViT(tiny, torch.zeros(1, 4, D)).geometry
        wreck = PromptSource(50 * torch.randn(1, 4, D, generator=torch.Generator().manual_seed(0)), tiny.identity,
                             geometry)
        result = train_prompt(tiny, splits, _config(epochs=1, init="from:big", probe_on="frozen"), init_source=wreck)
        assert result.metrics["start_val_acc"] < result.metrics["probe_val_acc"]
        assert any("below the frozen-feature probe" in w for w in result.warnings)

    def test_self_regulation_and_gpa(self, tiny, splits):
        result = train_prompt(tiny, splits, _config(epochs=3, self_reg=True, gpa_mu=2, gpa_sigma=1,
                                                    optimizer="adamw", lr=1e-3))
        assert all("sr_feature_loss" in r and "sr_logit_loss" in r for r in result.history)
        assert "best_epoch" not in result.metrics  # the aggregate is no single epoch
        assert result.metrics["test_acc"] >= 0.5

    def test_deep_prompts_with_kmeans_init(self, tiny, splits):
        result = train_prompt(tiny, splits, _config(epochs=1, mode="deep", init="kmeans", init_images=8))
        assert result.prompt.shape == (2, 4, D)

    def test_uses_the_feature_cache(self, tiny, splits, tmp_path):
        cache = FeatureCache(tmp_path)
        first = train_prompt(tiny, splits, _config(epochs=1), cache=cache)
        misses = cache.stats["misses"]
        again = train_prompt(tiny, splits, _config(epochs=1), cache=FeatureCache(tmp_path))
        assert misses > 0 and torch.equal(first.prompt, again.prompt)

    def test_progress_phases(self, tiny, splits):
        phases = set()
        train_prompt(tiny, splits, _config(epochs=1), progress=lambda p, d, t: phases.add(p))
        assert {"init", "features:train", "features:train:frozen", "train", "features:test"} <= phases


class TestResume:
    @pytest.mark.parametrize("extra", [{}, {"optimizer": "adamw", "lr": 1e-3, "self_reg": True, "gpa_mu": 3.0,
                                            "gpa_sigma": 1.0}])
    def test_resumed_run_ends_with_the_same_prompt(self, tiny, splits, tmp_path, extra):
        cfg = _config(epochs=4, **extra)
        whole = train_prompt(tiny, splits, cfg, checkpoint_dir=tmp_path / "whole")

        class Interrupt(Exception):
            pass

        def stop_after_two(record):
            if record["epoch"] == 2.0:
                raise Interrupt

        with pytest.raises(Interrupt):
            train_prompt(tiny, splits, cfg, checkpoint_dir=tmp_path / "cut", on_epoch=stop_after_two)
        _, state = load_checkpoint(tmp_path / "cut" / CHECKPOINT_FILE)
        assert state["epoch"] == 2
        resumed = train_prompt(tiny, splits, cfg, checkpoint_dir=tmp_path / "cut", resume=True)
        assert torch.equal(resumed.prompt, whole.prompt)
        assert torch.equal(resumed.head_weight, whole.head_weight)
        assert resumed.history == whole.history

    def test_resume_refuses_a_different_configuration(self, tiny, splits, tmp_path):
        train_prompt(tiny, splits, _config(epochs=1), checkpoint_dir=tmp_path)
        with pytest.raises(UsageError, match="lr: 0.05 -> 0.1"):
            train_prompt(tiny, splits, _config(epochs=1, lr=0.1), checkpoint_dir=tmp_path, resume=True)
        with pytest.raises(UsageError, match="different data"):
            train_prompt(tiny, ToySplits(seed=1), _config(epochs=1), checkpoint_dir=tmp_path, resume=True)

    def test_resume_of_a_finished_run_returns_its_result(self, tiny, splits, tmp_path):
        first = train_prompt(tiny, splits, _config(epochs=2), checkpoint_dir=tmp_path)
        again = train_prompt(tiny, splits, _config(epochs=2, device="cpu", num_workers=0), checkpoint_dir=tmp_path,
                             resume=True)
        assert torch.equal(first.prompt, again.prompt)


@pytest.fixture(scope="module")
def trained(tiny, splits):
    return train_prompt(tiny, splits, _config(epochs=2))


class TestEvaluate:
    def test_uses_the_head_on_its_own_task(self, tiny, splits, trained):
        fps = {"all": trained.dataset_fingerprint, "test": trained.split_fingerprints["test"]}
        res = evaluate(tiny, trained.prompt, splits, prompt_backbone=tiny.identity, geometry=trained.geometry,
                       head=trained.head, head_fingerprints=fps, device="cpu")
        assert res.method == "head" and res.accuracy == pytest.approx(trained.metrics["test_acc"])
        assert res.num_test == 64

    def test_head_applies_across_seeds_of_the_same_task(self, splits, trained):
        other_seed = ToySplits(seed=5)
        fps = {"all": trained.dataset_fingerprint, "test": trained.split_fingerprints["test"]}
        assert head_applies(fps, other_seed)
        assert not head_applies({"all": "0" * 64}, other_seed)
        assert not head_applies(None, splits)

    def test_fits_a_probe_on_another_task(self, tiny, splits, trained):
        res = evaluate(tiny, trained.prompt, splits, prompt_backbone=tiny.identity, geometry=trained.geometry,
                       head=trained.head, head_fingerprints={"all": "f" * 64, "test": "e" * 64}, l2=1e-2)
        assert res.method == "probe" and res.probe_l2 == 1e-2 and res.val_accuracy is not None
        assert res.accuracy > 0.5

    def test_frozen_backbone_and_incompatible_prompts(self, tiny, splits, trained):
        assert evaluate(tiny, None, splits, l2=1e-2).method == "probe"
        other = tiny.identity.model_copy(update={"weights_sha256": "2" * 64})
        with pytest.raises(IncompatibleError):
            evaluate(tiny, trained.prompt, splits, prompt_backbone=other, geometry=trained.geometry)
        with pytest.raises(UsageError):
            evaluate(tiny, trained.prompt, splits)

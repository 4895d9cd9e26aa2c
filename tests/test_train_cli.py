"""`promptkit train` and `promptkit eval` (cli/train.py, cli/eval.py) through typer's CliRunner."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from promptkit.backbone import BACKBONES, load_backbone, register_backbone
from promptkit.errors import EXIT_NOT_FOUND, EXIT_USAGE

BACKBONE = "test-cli-tiny-vit"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # an accidental download fails at once instead of retrying



@pytest.fixture(scope="module", autouse=True)
def _tiny_backbone():
    @register_backbone(BACKBONE)
    def loader(*, weights=None, pretrained=True, **kwargs):
        torch.manual_seed(0)  # same weights, same identity, on every load
        return load_backbone("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2,
                             embed_dim=32, num_heads=2)

    yield
    BACKBONES.pop(BACKBONE)


def _write_folder(root, *, seed: int, classes=("hstripes", "vstripes", "checks", "plain"), n_train=12, n_test=6):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for k, cls in enumerate(classes):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.normal(0.5, 0.25, (32, 32, 3))
                if k % 4 == 0:
                    img[::4] += 0.4
                elif k % 4 == 1:
                    img[:, ::4] += 0.4
                elif k % 4 == 2:
                    img[::2, ::2] += 0.4
                Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _write_folder(tmp_path_factory.mktemp("textures"), seed=0)


@pytest.fixture
def run(tmp_path):
    from promptkit.cli.app import app

    registry = tmp_path / "registry"

    def invoke(*args: str):
        return CliRunner().invoke(app, [*args, "--registry", str(registry)])

    invoke.registry = registry
    return invoke


def _train_args(folder, name, *extra):
    return ["train", "--dataset", str(folder), "--backbone", BACKBONE, "--name", name, "--length", "2",
            "--epochs", "2", "--batch-size", "16", "--lr", "0.1", "--device", "cpu", "--json", *extra]


class TestTrainCommand:
    def test_stores_prompt_head_metrics_and_config(self, run, folder):
        result = run(*_train_args(folder, "toy"))
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert out["ref"] == "toy:1" and 0.0 <= out["metrics"]["test_acc"] <= 1.0
        from promptkit.registry import Registry

        asset = Registry(run.registry).load("toy")
        m = asset.manifest
        assert asset.prompt.shape == (1, 2, 32) and asset.head[0].shape == (4, 32)
        assert m.geometry.short() == "shallow 1x2x32" and m.init == "random" and m.seed == 0
        assert m.head.num_classes == 4 and m.dataset.num_classes == 4 and m.task == folder.name
        assert m.training["lr"] == 0.1 and m.training["epochs"] == 2 and len(m.training["history"]) == 2
        assert set(m.training["split_fingerprints"]) == {"train", "val", "test"}
        assert m.metrics["test_acc"] == out["metrics"]["test_acc"]

    def test_resume_after_interruption_stores_the_uninterrupted_prompt(self, run, folder, tmp_path, monkeypatch):
        whole = run(*_train_args(folder, "whole", "--epochs", "3", "--checkpoint-dir", str(tmp_path / "a")))
        assert whole.exit_code == 0, whole.output
        import promptkit.train.loop as loop

        real_save, saves = loop.save_checkpoint, []

        def save_then_die(*args, **kwargs):
            real_save(*args, **kwargs)
            saves.append(1)
            if len(saves) == 2:
                raise KeyboardInterrupt  # Ctrl-C after epoch 2's checkpoint

        monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
        cut = run(*_train_args(folder, "cut", "--epochs", "3", "--checkpoint-dir", str(tmp_path / "b")))
        assert cut.exit_code == 130
        monkeypatch.setattr(loop, "save_checkpoint", real_save)
        resumed = run(*_train_args(folder, "cut", "--epochs", "3", "--checkpoint-dir", str(tmp_path / "b"),
                                   "--resume"))
        assert resumed.exit_code == 0, resumed.output
        from promptkit.registry import Registry

        reg = Registry(run.registry)
        a, b = reg.load("whole"), reg.load("cut")
        assert torch.equal(a.prompt, b.prompt) and torch.equal(a.head[0], b.head[0])

    def test_from_init_records_lineage(self, run, folder):
        assert run(*_train_args(folder, "base")).exit_code == 0
        result = run(*_train_args(folder, "child", "--init", "from:base:1", "--epochs", "1"))
        assert result.exit_code == 0, result.output
        from promptkit.registry import Registry

        m = Registry(run.registry).resolve("child")
        assert m.init == "from:base:1" and m.lineage.method == "from" and m.lineage.sources[0].ref == "base:1"

    def test_usage_errors_exit_2_before_loading_anything(self, run, folder):
        result = run(*_train_args(folder, "x", "--init", "kmeanz"))
        assert result.exit_code == EXIT_USAGE and "kmeans" in result.output
        result = run(*_train_args(folder, "x", "--optimizer", "adam"))
        assert result.exit_code == EXIT_USAGE and "optimizer" in result.output

    def test_missing_dataset_and_source_exit_not_found(self, run, tmp_path):
        result = run(*_train_args(tmp_path / "nope", "x"))
        assert result.exit_code == EXIT_NOT_FOUND
        result = run(*_train_args(tmp_path, "x", "--init", "from:missing"))
        assert result.exit_code == EXIT_NOT_FOUND


class TestEvalCommand:
    def test_own_task_uses_the_head_other_task_a_probe(self, run, folder, tmp_path):
        trained = run(*_train_args(folder, "toy"))
        assert trained.exit_code == 0, trained.output
        test_acc = json.loads(trained.stdout)["metrics"]["test_acc"]
        same = run("eval", "toy", "--dataset", str(folder), "--device", "cpu", "--json")
        assert same.exit_code == 0, same.output
        out = json.loads(same.stdout)
        assert out["method"] == "head" and out["accuracy"] == pytest.approx(test_acc) and out["num_test"] == 24
        other = _write_folder(tmp_path / "other", seed=1, classes=("a", "b", "c"))
        probe = run("eval", "toy", "--dataset", str(other), "--device", "cpu", "--json")
        assert probe.exit_code == 0, probe.output
        assert json.loads(probe.stdout)["method"] == "probe"

    def test_a_zoo_prompt_evaluates_on_its_own_backbone_without_naming_it(self, run, folder):
        """The README's example: the asset's identity (zoo-vit, tag promptkit-zoo) picks the backbone."""
        from promptkit.zoo.backbone import ZOO_COLLECTION_DIR

        file = ZOO_COLLECTION_DIR / "assets" / "zoo" / "digits" / "versions" / "2" / "prompt.safetensors"
        assert run("add", str(file), "--name", "mine/digits").exit_code == 0
        out = run("eval", "mine/digits", "--dataset", str(folder), "--device", "cpu", "--json")
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout)["method"] == "probe"  # its head is for zoo-digits, not this folder

    def test_human_output_and_unknown_ref(self, run, folder):
        assert run(*_train_args(folder, "toy")).exit_code == 0
        text = run("eval", "toy", "--dataset", str(folder), "--device", "cpu")
        assert text.exit_code == 0 and "test accuracy" in text.stdout and "own head" in text.stdout
        missing = run("eval", "nope", "--dataset", str(folder))
        assert missing.exit_code == EXIT_NOT_FOUND

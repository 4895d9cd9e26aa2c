"""Pretraining the zoo backbone: outputs, checkpoint and resume (zoobuild/pretrain.py, promptkit/zoo/arch.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from promptkit.errors import UsageError
from promptkit.zoo.arch import RECORD_FILE, WEIGHTS_FILE, ArchConfig, build_vit, load_zoo_vit, normalize
from zoobuild.pretrain import CHECKPOINT_FILE, LOG_FILE, MAX_WEIGHT_BYTES, Recipe, pretrain, smoke_config

TINY = ArchConfig(embed_dim=32, depth=2, num_heads=2)
FAST = Recipe(
    minutes=5.0, steps=8, batch_size=8, warmup_steps=2, eval_every=4, val_size=16, checkpoint_minutes=0.0, threads=1
)


class _Kill(Exception):
    pass


def _kill_at(step_to_die: int):
    def progress(step: int, total: int) -> None:
        if step == step_to_die:
            raise _Kill

    return progress


class TestPretrain:
    def test_writes_weights_record_and_log(self, tmp_path: Path) -> None:
        record = pretrain(tmp_path, arch=TINY, recipe=FAST)
        assert record["steps"] == 8 and record["completed"]
        assert set(record["final_pretext_accuracy"]) >= {"letter", "hue", "patches"}
        assert record["backbone"]["kwargs"]["embed_dim"] == 32
        assert json.loads((tmp_path / RECORD_FILE).read_text()) == json.loads(json.dumps(record))
        lines = [json.loads(x) for x in (tmp_path / LOG_FILE).read_text().splitlines()]
        assert lines[0]["event"] == "start" and lines[-1]["event"] == "done"
        weights = load_file(str(tmp_path / WEIGHTS_FILE))
        assert not any(k.startswith("head.") and weights[k].numel() for k in weights)
        assert (tmp_path / WEIGHTS_FILE).stat().st_size <= MAX_WEIGHT_BYTES

    def test_loaded_backbone_matches_the_trained_trunk(self, tmp_path: Path) -> None:
        pretrain(tmp_path, arch=TINY, recipe=FAST)
        vit = load_zoo_vit(tmp_path)
        saved = load_file(str(tmp_path / WEIGHTS_FILE))
        assert all(torch.equal(vit.state_dict()[k], saved[k].float()) for k in saved)
        assert vit.pretrained_cfg["input_size"] == (3, 32, 32)
        assert vit(torch.zeros(2, 3, 32, 32)).shape == (2, 32)

    def test_resume_after_a_kill_gives_the_uninterrupted_result(self, tmp_path: Path) -> None:
        pretrain(tmp_path / "whole", arch=TINY, recipe=FAST)
        with pytest.raises(_Kill):
            pretrain(tmp_path / "killed", arch=TINY, recipe=FAST, progress=_kill_at(5))
        assert (tmp_path / "killed" / CHECKPOINT_FILE).exists()
        record = pretrain(tmp_path / "killed", arch=TINY, recipe=FAST)
        assert record["sessions"] == 2 and record["steps"] == 8
        a = load_file(str(tmp_path / "whole" / WEIGHTS_FILE))
        b = load_file(str(tmp_path / "killed" / WEIGHTS_FILE))
        assert all(torch.equal(a[k], b[k]) for k in a)

    def test_refuses_to_resume_another_configuration(self, tmp_path: Path) -> None:
        pretrain(tmp_path, arch=TINY, recipe=FAST)
        with pytest.raises(UsageError):
            pretrain(tmp_path, arch=TINY, recipe=replace(FAST, seed=1))

    def test_time_budget_sets_the_step_count(self, tmp_path: Path) -> None:
        recipe = replace(FAST, steps=None, minutes=0.05, timing_steps=3)
        record = pretrain(tmp_path, arch=TINY, recipe=recipe)
        assert record["total_steps"] is not None and record["steps"] >= 5


class TestBuildVit:
    def test_same_seed_same_init(self) -> None:
        a, b = build_vit(TINY, seed=3), build_vit(TINY, seed=3)
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))

    def test_leaves_the_global_rng_alone(self) -> None:
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        build_vit(TINY, seed=5)
        assert torch.equal(torch.rand(3), expected)

    def test_default_architecture_fits_the_size_limit_in_float32(self) -> None:
        params = sum(p.numel() for p in build_vit(ArchConfig()).parameters())
        assert params * 4 <= MAX_WEIGHT_BYTES


class TestNormalize:
    def test_maps_uint8_to_minus_one_one(self) -> None:
        x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(1, 3, 1, 2)
        assert torch.equal(normalize(x), torch.tensor([-1.0, 1.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2))


class TestSmokeEntryPoint:
    @staticmethod
    def _run(out: Path, *extra: str) -> dict:
        cmd = [sys.executable, "-m", "zoobuild.pretrain", "--out", str(out), "--smoke", "--threads", "1", *extra]
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        return json.loads((out / RECORD_FILE).read_text())

    def test_smoke_run_resumes_a_killed_run(self, tmp_path: Path) -> None:
        arch, recipe = smoke_config(Recipe(threads=1), steps=12)
        with pytest.raises(_Kill):
            pretrain(tmp_path, arch=arch, recipe=replace(recipe, checkpoint_minutes=0.0), progress=_kill_at(6))
        record = self._run(tmp_path, "--steps", "12")
        assert record["sessions"] == 2 and record["steps"] == 12 and record["completed"]
        uninterrupted = pretrain(tmp_path / "whole", arch=arch, recipe=recipe)
        assert record["backbone"]["weights_sha256"] == uninterrupted["backbone"]["weights_sha256"]

    @pytest.mark.slow
    def test_default_smoke_run_is_time_budgeted(self, tmp_path: Path) -> None:
        record = self._run(tmp_path)
        assert record["completed"] and 0.2 <= record["train_minutes"] <= 0.6

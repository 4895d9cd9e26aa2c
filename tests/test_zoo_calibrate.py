"""Calibration of the zoo suite (zoobuild/calibrate.py)."""

from __future__ import annotations

import torch

from promptkit.zoo.arch import ArchConfig, build_vit
from zoobuild.calibrate import CalibrationRow, calibrate, markdown, vit_features

TINY = ArchConfig(embed_dim=32, depth=1, num_heads=2)


class TestCalibrate:
    def test_pixel_probe_locates_a_sprite_and_backbone_columns_are_named(self) -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(1)  # small kernels: one thread is faster on a shared machine
        try:
            rows = calibrate(["zoo-location"], backbones={"random": build_vit(TINY)}, cnn_epochs=0, test_size=200)
        finally:
            torch.set_num_threads(before)
        (row,) = rows
        assert row.task == "zoo-location" and abs(row.chance - 1 / 8) < 1e-9
        assert set(row.columns) == {"pixels", "random-cls", "random-avg"}
        assert row.columns["pixels"] > 0.5  # x position is linear in the pixels of a sprite on black


class TestVitFeatures:
    def test_cls_and_average_token_features(self) -> None:
        feats = vit_features(build_vit(TINY), torch.zeros(5, 3, 32, 32, dtype=torch.uint8))
        assert feats["cls"].shape == (5, 32) and feats["avg"].shape == (5, 32)


class TestMarkdown:
    def test_one_row_per_task_and_blank_for_missing_columns(self) -> None:
        text = markdown([CalibrationRow("a", 0.5, {"x": 0.75}), CalibrationRow("b", 0.25, {"y": 0.5})])
        lines = text.splitlines()
        assert lines[0] == "| task | chance | x | y |"
        assert lines[2] == "| a | 0.50 | 0.75 |  |" and lines[3] == "| b | 0.25 |  | 0.50 |"

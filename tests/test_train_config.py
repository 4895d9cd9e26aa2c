"""Tests for promptkit.train.config: TrainConfig validation and JSON round-trip."""

from __future__ import annotations

import json

import pytest

from promptkit.errors import UsageError
from promptkit.train import RUNTIME_FIELDS, TrainConfig


class TestTrainConfig:
    def test_defaults_are_the_commands_defaults(self):
        c = TrainConfig()
        assert (c.optimizer, c.lr, c.momentum, c.weight_decay, c.batch_size, c.epochs) == ("adamw", 0.01, 0.9, 1e-4,
                                                                                             64, 100)
        assert c.effective_warmup_epochs == 10 and c.effective_head_lr == 0.001
        vpt = TrainConfig(optimizer="sgd", head_lr=None, batch_size=128)  # VPT's published recipe
        assert vpt.effective_head_lr == vpt.lr == 0.01
        assert c.keep == "best" and not c.self_reg and not c.gpa

    def test_json_round_trip(self):
        c = TrainConfig(mode="deep", length=5, init="from:zoo/dtd:1", gpa_mu=15, gpa_sigma=1, self_reg=True)
        again = TrainConfig.from_dict(json.loads(json.dumps(c.to_dict())))
        assert again == c

    def test_unknown_keys_are_ignored(self):
        assert TrainConfig.from_dict({"lr": 0.5, "from_the_future": 1}).lr == 0.5

    @pytest.mark.parametrize(
        ("field", "value"),
        [("mode", "wide"), ("optimizer", "adam"), ("length", 0), ("epochs", 0), ("lr", 0.0), ("head_lr", -1.0),
         ("warmup_epochs", 101), ("precision", "fp16"), ("keep", "first"), ("probe_on", "x"), ("momentum", 1.0),
         ("gpa_sigma", 0.0), ("seed", -1)],
    )
    def test_invalid_values_name_the_field(self, field, value):
        extra = {"gpa_mu": 3.0} if field == "gpa_sigma" else {}
        with pytest.raises(UsageError, match=field):
            TrainConfig(**{field: value}, **extra)

    def test_gpa_needs_mu_and_sigma(self):
        with pytest.raises(UsageError, match="gpa_sigma.*needs both"):
            TrainConfig(gpa_mu=3)
        with pytest.raises(UsageError, match="gpa_mu.*needs both"):
            TrainConfig(gpa_sigma=3)
        assert TrainConfig(gpa_mu=3, gpa_sigma=1).gpa

    def test_semantic_dict_leaves_out_runtime_fields(self):
        a = TrainConfig(device="cpu", num_workers=0)
        b = TrainConfig(device="cuda", num_workers=8, eval_batch_size=512)
        assert a.semantic_dict() == b.semantic_dict()
        assert not RUNTIME_FIELDS & set(a.semantic_dict())
        assert TrainConfig(lr=0.1).semantic_dict() != a.semantic_dict()

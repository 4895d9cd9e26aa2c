"""Tests for promptkit.train.checkpoint: atomic, pickle-free training checkpoints."""

from __future__ import annotations

import pytest
import torch

from promptkit.errors import IntegrityError
from promptkit.train.checkpoint import load_checkpoint, optimizer_from_flat, optimizer_to_flat, save_checkpoint


class TestSaveLoadCheckpoint:
    def test_round_trip_is_a_plain_safetensors_file(self, tmp_path):
        from safetensors.torch import load_file

        tensors = {"prompt": torch.randn(1, 2, 3), "rng.torch": torch.get_rng_state()}
        path = save_checkpoint(tmp_path / "run" / "checkpoint.safetensors", tensors, {"epoch": 3, "history": [1.5]})
        got, state = load_checkpoint(path)
        assert torch.equal(got["prompt"], tensors["prompt"]) and torch.equal(got["rng.torch"], tensors["rng.torch"])
        assert state["epoch"] == 3 and state["history"] == [1.5]
        assert set(load_file(str(path))) == {"prompt", "rng.torch"}
        assert [p.name for p in path.parent.iterdir()] == ["checkpoint.safetensors"]  # no temp files left

    def test_corrupt_or_foreign_files_raise_integrity_errors(self, tmp_path):
        from safetensors.torch import save_file

        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"\x10\x00garbage")
        with pytest.raises(IntegrityError, match="cannot read training checkpoint") as info:
            load_checkpoint(bad)
        assert "without --resume" in info.value.hint
        foreign = tmp_path / "foreign.safetensors"
        save_file({"x": torch.zeros(1)}, str(foreign))
        with pytest.raises(IntegrityError):
            load_checkpoint(foreign)


class TestOptimizerFlat:
    @pytest.mark.parametrize("kind", ["sgd", "adamw"])
    def test_round_trip_continues_identically(self, kind):
        def make():
            p = torch.nn.Parameter(torch.ones(3))
            opt = (torch.optim.SGD([p], lr=0.1, momentum=0.9) if kind == "sgd"
                   else torch.optim.AdamW([p], lr=0.1))
            return p, opt

        def step(p, opt, k):
            opt.zero_grad()
            (p * torch.arange(1.0, 4.0) * k).sum().backward()
            opt.step()

        p1, o1 = make()
        step(p1, o1, 1.0)
        tensors, meta = optimizer_to_flat(o1)
        p2, o2 = make()
        with torch.no_grad():
            p2.copy_(p1)
        optimizer_from_flat(o2, tensors, meta)
        step(p1, o1, 2.0)
        step(p2, o2, 2.0)
        assert torch.equal(p1, p2)

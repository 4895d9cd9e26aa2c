"""Tests for promptkit.device: device names, autocast and loader settings."""

from __future__ import annotations

import pytest
import torch

from promptkit.device import autocast, loader_kwargs, resolve_device
from promptkit.errors import UsageError


class TestResolveDevice:
    def test_cpu_and_auto(self):
        assert resolve_device("cpu") == torch.device("cpu")
        expected = "cuda" if torch.cuda.is_available() else None
        if expected:
            assert resolve_device("auto").type == "cuda"
        elif not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            assert resolve_device("auto") == torch.device("cpu")
        assert resolve_device(None) == resolve_device("auto")

    def test_unknown_and_unavailable_devices(self):
        with pytest.raises(UsageError, match="unknown device"):
            resolve_device("tpu")
        if not torch.cuda.is_available():
            with pytest.raises(UsageError, match="CUDA is not available") as info:
                resolve_device("cuda:0")
            assert "cpu" in info.value.hint
        else:
            with pytest.raises(UsageError, match="does not exist"):
                resolve_device(f"cuda:{torch.cuda.device_count()}")


class TestAutocast:
    def test_fp32_is_a_no_op_and_bf16_autocasts(self):
        x = torch.randn(4, 4)
        with autocast(torch.device("cpu"), "fp32"):
            assert (x @ x).dtype == torch.float32
        with autocast(torch.device("cpu"), "bf16"):
            assert (x @ x).dtype == torch.bfloat16

    def test_unknown_precision(self):
        with pytest.raises(UsageError, match="unknown precision"):
            autocast(torch.device("cpu"), "fp8")


class TestLoaderKwargs:
    def test_pins_memory_only_for_cuda(self):
        assert loader_kwargs(torch.device("cpu"))["pin_memory"] is False
        assert loader_kwargs(torch.device("cuda"), 4) == {"num_workers": 4, "pin_memory": True,
                                                          "persistent_workers": False}

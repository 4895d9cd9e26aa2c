"""Fixtures for Hub tests: an isolated huggingface_hub environment and the loopback Hub emulator.

A test module loads them with ``pytest_plugins = ["conftest_hub"]``; helpers live in hub_helpers.
huggingface_hub reads some settings once, at import (``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` and
``HF_HUB_DISABLE_XET`` are copied into ``huggingface_hub.constants``), so besides the environment the
fixture patches ``huggingface_hub.constants``: Xet off (an LFS upload would otherwise ask for a
Xet server), offline off, and the stored-token path inside the test's temporary HF_HOME, so no
test sees the developer's own login or cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_emulator import HubEmulator

__all__ = ["hf_env", "hub", "hub_any_mode", "make_hub"]


@pytest.fixture
def hf_env(tmp_path, monkeypatch) -> Path:
    """A fresh HF_HOME; no token, endpoint or offline flag from the developer's environment."""
    from huggingface_hub import constants

    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT",
                "HF_OIDC_RESOURCE", "HF_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    return home


@pytest.fixture
def make_hub(hf_env, monkeypatch) -> Iterator:
    """``make_hub(**options)`` starts an emulator and points HF_ENDPOINT at it; all stop after the test."""
    started: list[HubEmulator] = []

    def start(**options) -> HubEmulator:
        emulator = HubEmulator(**options).start()
        started.append(emulator)
        monkeypatch.setenv("HF_ENDPOINT", emulator.endpoint)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def hub(make_hub) -> HubEmulator:
    """An open emulator answering 'regular' uploads, at $HF_ENDPOINT."""
    return make_hub()


@pytest.fixture(params=["regular", "lfs"])
def hub_any_mode(request, make_hub) -> HubEmulator:
    """The emulator once per upload path: inline ('regular') and git-lfs batch + PUT ('lfs')."""
    return make_hub(upload_mode=request.param)

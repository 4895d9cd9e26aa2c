"""Shared fixtures: an isolated PROMPTKIT_HOME, without the built-in collection, and small prompt assets."""

from __future__ import annotations

import os

import pytest

# Two cores run the suite: one BLAS/OpenMP thread per process avoids oversubscription, which made
# small L-BFGS fits 30x slower in measurements here.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's ~/.cache/promptkit."""
    home = tmp_path_factory.mktemp("promptkit_home")
    monkeypatch.setenv("PROMPTKIT_HOME", str(home))
    monkeypatch.delenv("PROMPTKIT_REGISTRY", raising=False)
    monkeypatch.delenv("PROMPTKIT_DEBUG", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)  # tables at the piped width (200) unless a test sets it
    # The shipped built-in collection stays out of every registry a test opens, unless the test
    # asks for it (tests/test_zoo_assets.py); tests that build their own pass builtin=<folder>.
    monkeypatch.setenv("PROMPTKIT_NO_BUILTIN", "1")
    return home


def make_spec(*, layers: int = 1, length: int = 4, width: int = 8, num_classes: int | None = None, **extra):
    """An AssetSpec for a tiny prompt of shape (layers, length, width)."""
    from promptkit.registry import AssetSpec, HeadInfo

    from promptkit.identity import BackboneIdentity, PromptGeometry

    head = HeadInfo(num_classes=num_classes, in_features=width) if num_classes else None
    return AssetSpec(
        backbone=BackboneIdentity(timm_name="vit_tiny_patch16_224", pretrained_tag="augreg_in21k",
                                  weights_sha256="ab" * 32),
        geometry=PromptGeometry(mode="shallow" if layers == 1 else "deep", length=length, width=width, layers=layers),
        head=head,
        **extra,
    )


def make_tensors(*, layers: int = 1, length: int = 4, width: int = 8, num_classes: int | None = None, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    out = {"prompt": torch.randn(layers, length, width, generator=g)}
    if num_classes:
        out["head.weight"] = torch.randn(num_classes, width, generator=g)
        out["head.bias"] = torch.randn(num_classes, generator=g)
    return out


@pytest.fixture
def registry(tmp_path):
    from promptkit.registry import Registry

    return Registry(tmp_path / "reg", builtin=False)

"""The shipped zoo: pretrained backbone weights and the read-only built-in collection of 12 prompts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from promptkit.registry import Registry

from promptkit.backbone import load_backbone
from promptkit.errors import PromptkitError
from promptkit.zoo.backbone import ZOO_ASSETS, ZOO_BACKBONE_DIR, ZOO_COLLECTION_DIR
from promptkit.zoo.suite import TASKS

pytestmark = pytest.mark.skipif(
    not (ZOO_BACKBONE_DIR / "record.json").is_file(), reason="zoo assets not built (make zoo)"
)


@pytest.fixture(autouse=True)
def _with_builtin(monkeypatch):
    monkeypatch.delenv("PROMPTKIT_NO_BUILTIN", raising=False)


def _size(path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_sizes_within_budget():
    record = json.loads((ZOO_BACKBONE_DIR / "record.json").read_text())
    weights = ZOO_BACKBONE_DIR / record["backbone"]["weights_file"]
    assert weights.stat().st_size <= 5 * 2**20
    assert _size(ZOO_COLLECTION_DIR) <= 10 * 2**20


def test_backbone_loads_and_differs_from_random_init():
    bb = load_backbone("zoo-vit")
    rnd = load_backbone("zoo-vit", pretrained=False)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        a, b = bb.model(x), rnd.model(x)
    assert a.shape == b.shape == (2, bb.embed_dim)
    assert not torch.allclose(a, b)
    assert bb.identity.weights_sha256 != rnd.identity.weights_sha256


def test_builtin_collection_has_one_prompt_per_task(tmp_path):
    reg = Registry(tmp_path / "user")
    entries = [e for e in reg.list() if e.builtin]
    tasks = {e.manifest.task for e in entries}
    assert tasks == set(TASKS)
    bb = load_backbone("zoo-vit")
    for e in entries:
        assert e.manifest.backbone.weights_sha256 == bb.identity.weights_sha256
        assert reg.is_builtin(e.manifest.name)


def _build_script():
    import zoobuild.build

    return zoobuild.build


def test_latest_builtin_prompts_follow_the_build_recipe(tmp_path):
    """The card states the build script's recipe; the prompts every registry ranks (the latest) must follow it."""
    build = _build_script()
    reg = Registry(tmp_path / "user")
    latest = [e for e in reg.list(all_versions=False) if e.builtin]
    assert len(latest) == len(TASKS)
    for e in latest:
        assert build._tuned_with_recipe(reg, e.manifest.name), e.manifest.ref
    card = (ZOO_ASSETS / "CARD.md").read_text()
    assert f"`--length {build.RECIPE['length']}`" in card and f"`--epochs {build.RECIPE['epochs']}`" in card


def test_builtin_prompts_load_and_verify(tmp_path):
    reg = Registry(tmp_path / "user")
    ref = next(e.manifest.ref for e in reg.list() if e.builtin)
    asset = reg.load(ref)
    assert asset.prompt.ndim == 3 and torch.isfinite(asset.prompt).all()
    report = reg.verify()
    assert report.ok, report.issues
    assert report.checked >= len(TASKS)


def test_builtin_collection_is_read_only(tmp_path):
    reg = Registry(tmp_path / "user")
    ref = next(e.manifest.ref for e in reg.list() if e.builtin)
    before = _size(ZOO_COLLECTION_DIR)
    with pytest.raises(PromptkitError):
        reg.remove(ref)
    assert _size(ZOO_COLLECTION_DIR) == before
    assert reg.load(ref) is not None


def test_no_builtin_env_hides_the_collection(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTKIT_NO_BUILTIN", "1")
    assert Registry(tmp_path / "user").list() == []


def test_wheel_install_loads_backbone_and_collection(tmp_path):
    """From an installed wheel (not the source tree), with no network: backbone and built-in prompts load."""
    out = tmp_path / "wheel"
    root = ZOO_ASSETS.parents[2]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(root)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    wheel = next(out.glob("promptkit-*.whl"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    code = (
        "import sys, promptkit; assert promptkit.__file__.startswith(sys.argv[1]), promptkit.__file__\n"
        "from promptkit.backbone import load_backbone\n"
        "from promptkit.registry import Registry\n"
        "bb = load_backbone('zoo-vit')\n"
        "reg = Registry(sys.argv[2])\n"
        "entries = [e for e in reg.list(all_versions=False) if e.builtin]\n"
        "shapes = {tuple(reg.load(e.manifest.ref).prompt.shape) for e in entries}\n"
        "print(len(entries), bb.identity.weights_sha256, sorted(shapes))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "PROMPTKIT_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", code, str(site), str(tmp_path / "reg")], check=True, env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    count, sha, _ = done.stdout.split(" ", 2)
    assert int(count) == len(TASKS)
    assert sha == load_backbone("zoo-vit").identity.weights_sha256

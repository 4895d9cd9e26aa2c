"""timm pretrained names offline: from a local Hugging Face cache with no network, else an error within seconds.

The cache is a tiny fake in the real layout (``hub/models--timm--<name>/snapshots/<rev>/model.safetensors``
and ``refs/main``), holding random weights for timm's 0.2 M-parameter ``test_vit`` under its
pretrained name ``test_vit.r160_in1k``. "No network" is an endpoint nothing listens on (refused at
once), or a connection that times out (simulated: this machine's sandbox answers every address).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from promptkit.backbone import load_backbone
from promptkit.errors import WeightsError

NAME = "test_vit.r160_in1k"
ROOT = Path(__file__).resolve().parents[1]


def _fake_cache(home: Path) -> Path:
    """A Hugging Face cache under ``home`` holding ``NAME``'s weights; returns the weights file."""
    import timm
    from safetensors.torch import save_file

    model = timm.create_model(NAME, pretrained=False)
    repo = home / "hub" / "models--timm--test_vit.r160_in1k"
    snapshot = repo / "snapshots" / ("0123abcd" * 5)
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(snapshot / "model.safetensors"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd" * 5)
    return snapshot / "model.safetensors"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf"


def test_cached_weights_load_offline(offline):
    file = _fake_cache(offline)
    bb = load_backbone(NAME)
    assert (bb.identity.timm_name, bb.identity.pretrained_tag, bb.identity.hub_id) == (
        "test_vit", "r160_in1k", "timm/test_vit.r160_in1k")
    assert bb.identity.weights_sha256 == load_backbone("test_vit", weights=file).identity.weights_sha256


def test_not_cached_and_offline_fails_at_once_saying_how_to_get_them(offline):
    t0 = time.monotonic()
    with pytest.raises(WeightsError) as info:
        load_backbone(NAME)
    assert time.monotonic() - t0 < 2
    assert f"not in the Hugging Face cache ({offline / 'hub'}) and HF_HUB_OFFLINE is set" in str(info.value)
    hint = info.value.hint
    assert "--weights FILE" in hint and "HF_HUB_OFFLINE=1" in hint
    assert str(offline / "hub" / "models--timm--test_vit.r160_in1k") in hint


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", "http://example.invalid"])
def test_no_network_fails_within_seconds(monkeypatch, tmp_path, endpoint):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    t0 = time.monotonic()
    with pytest.raises(WeightsError, match=f"{endpoint} cannot be reached") as info:
        load_backbone(NAME)
    assert time.monotonic() - t0 < 6  # refused at once, or the 3 s connect timeout; not a minute of retries
    assert "--weights FILE" in info.value.hint and "HF_HUB_OFFLINE=1" in info.value.hint


def test_a_connection_that_times_out_is_no_network(monkeypatch, tmp_path):
    import promptkit.hub_weights as hw

    waited = []

    def silent(address, timeout):
        waited.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hw.socket, "create_connection", silent)
    with pytest.raises(WeightsError, match="cannot be reached"):
        load_backbone(NAME)
    assert waited == [hw.HUB_CONNECT_TIMEOUT] and hw.HUB_CONNECT_TIMEOUT <= 5


def test_the_cli_fails_within_seconds_with_the_hint(monkeypatch, tmp_path):
    from promptkit.cli.app import app
    from typer.testing import CliRunner

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    t0 = time.monotonic()
    result = CliRunner().invoke(app, ["benchmark", "--root", str(ROOT / "tests/fixtures"), "--tasks", "dtd,eurosat",
                                      "--backbone", NAME, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert time.monotonic() - t0 < 6
    assert "cannot be reached" in result.output
    assert "hint: pass a local weights file with --weights FILE" in result.output
    assert not (tmp_path / "out").exists()  # nothing started

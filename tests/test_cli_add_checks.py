"""`promptkit add` as a user runs it (issue 15, item 8): geometry checked against the named backbone,
identical content not stored twice, and a registry path that is a file or a typo refused."""

from __future__ import annotations

import json

import pytest
import torch
from promptkit.cli.app import app
from promptkit.registry import Registry
from typer.testing import CliRunner

from promptkit.errors import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_USAGE

runner = CliRunner()


@pytest.fixture
def zoo_registry(tmp_path, monkeypatch):
    """A fresh registry that shows the built-in collection (zoo-vit: width 128, 4 blocks)."""
    monkeypatch.delenv("PROMPTKIT_NO_BUILTIN")
    return tmp_path / "reg"


def add(*args):
    return runner.invoke(app, ["add", *map(str, args)])


@pytest.mark.parametrize(("shape", "words"), [
    ((12, 10, 768), "deep 12x10x768"),   # ViT-B's deep prompt: width and layers both wrong
    ((1, 10, 768), "shallow 1x10x768"),  # width wrong
    ((6, 8, 128), "deep 6x8x128"),       # width right, 6 layers for a 4-block backbone
])
def test_add_like_refuses_a_prompt_of_another_backbone(zoo_registry, tmp_path, shape, words):
    path = tmp_path / "x.pth"
    torch.save({"prompt": torch.randn(*shape)}, path)
    result = add(path, "--name", "me/x", "--like", "zoo/digits", "--registry", zoo_registry)
    assert result.exit_code == EXIT_ERROR, result.output
    assert "width 128, 4 layers when deep" in result.stderr and words in result.stderr
    assert "--like a prompt tuned on it" in result.stderr and len(result.stderr.strip().splitlines()) == 2
    assert not [e for e in Registry(zoo_registry).list() if not e.builtin]


def test_add_like_accepts_a_fitting_prompt(zoo_registry, tmp_path):
    path = tmp_path / "x.pth"
    torch.save({"prompt": torch.randn(4, 8, 128)}, path)
    result = add(path, "--name", "me/x", "--like", "zoo/digits", "--registry", zoo_registry)
    assert result.exit_code == 0, result.output and "added me/x:1" in result.stdout


def test_the_same_content_twice_is_stored_once_and_said(zoo_registry, tmp_path):
    path = tmp_path / "x.pth"
    torch.save({"prompt": torch.randn(4, 8, 128)}, path)
    first = add(path, "--name", "me/x", "--like", "zoo/digits", "--registry", zoo_registry)
    again = add(path, "--name", "me/x", "--like", "zoo/digits", "--registry", zoo_registry)
    assert first.exit_code == 0 and again.exit_code == 0, again.output
    assert "already stored as me/x:1 (same content" in again.stdout and "nothing added" in again.stdout
    data = json.loads(add(path, "--name", "me/x", "--like", "zoo/digits", "--registry", zoo_registry,
                          "--json").stdout)
    assert data["ref"] == "me/x:1" and data["added"] is False
    assert [e.manifest.ref for e in Registry(zoo_registry).list(name="me/x")] == ["me/x:1"]
    torch.save({"prompt": torch.randn(4, 8, 128)}, path)  # other content: a new version
    assert "added me/x:2" in add(path, "--name", "me/x", "--like", "zoo/digits", "--registry", zoo_registry).stdout


def test_a_promptkit_file_added_twice_is_stored_once(zoo_registry, tmp_path):
    out = tmp_path / "out"
    assert runner.invoke(app, ["export", "zoo/digits", str(out)]).exit_code == 0
    assert "added mine/d:1" in add(out / "prompt.safetensors", "--name", "mine/d", "--registry", zoo_registry).stdout
    again = add(out, "--name", "mine/d", "--registry", zoo_registry)
    assert "already stored as mine/d:1" in again.stdout


def test_registry_naming_a_file_or_a_missing_folder(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = runner.invoke(app, ["list", "--registry", str(afile)])
    assert result.exit_code == EXIT_USAGE and "is not a folder" in result.stderr
    typo = runner.invoke(app, ["list", "--registry", str(tmp_path / "regsitry")])
    assert typo.exit_code == EXIT_NOT_FOUND and "no registry at" in typo.stderr and "does not exist" in typo.stderr
    assert not (tmp_path / "regsitry").exists()


def test_a_fresh_promptkit_registry_from_the_environment_reads_as_empty(tmp_path, monkeypatch):
    """`PROMPTKIT_REGISTRY=/tmp/new make demo` starts with `list`: a session's fresh registry is no typo."""
    monkeypatch.setenv("PROMPTKIT_REGISTRY", str(tmp_path / "fresh"))
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and "reading it as empty" in result.stderr

"""`promptkit rank` as a user runs it."""

from __future__ import annotations

import json

import pytest
from promptkit.cli.app import app
from promptkit.registry import Registry
from rank_helpers import add_sources, colour_folder, tiny_backbone
from registry_helpers import tampered_copy
from typer.testing import CliRunner

from promptkit.errors import EXIT_INTEGRITY

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("rank")
    reg = Registry(root / "reg", builtin=False)
    refs = add_sources(reg, tiny_backbone(), other_backbone=True)
    folder = colour_folder(root / "colours")
    return reg, refs, folder


def rank(world, *args):
    reg, _, folder = world
    return runner.invoke(app, ["rank", "--target", str(folder), "--registry", str(reg.root), "--device", "cpu",
                               *map(str, args)])


def test_json_lists_every_compatible_source_and_the_skipped_one(world):
    result = rank(world, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sorted(s["ref"] for s in data["sources"]) == ["src/s0:1", "src/s1:1", "src/s2:1"]
    assert [s["ref"] for s in data["skipped"]] == ["src/other:1"]
    assert data["primary"] == "shrinkage-hscore" and [s["rank"] for s in data["sources"]] == [1, 2, 3]


def test_top_quiet_prints_refs_for_piping(world):
    full = json.loads(rank(world, "--json").stdout)
    result = rank(world, "--top", "2", "--quiet")
    assert result.stdout.split() == [s["ref"] for s in full["sources"][:2]]


def test_explicit_sources_and_stdin(world):
    reg, refs, folder = world
    result = runner.invoke(app, ["rank", "--target", str(folder), "--registry", str(reg.root), "--device", "cpu",
                                 "--json", "-"], input="\n".join(refs[:2]) + "\n")
    assert result.exit_code == 0, result.output
    assert sorted(s["ref"] for s in json.loads(result.stdout)["sources"]) == sorted(refs[:2])


def test_with_accuracy_table(world):
    result = rank(world, "--with-accuracy", "--metric", "hscore", "--metric", "logme")
    assert result.exit_code == 0, result.output
    assert "transfer acc" in result.stdout and "Spearman" in result.stdout


def test_tampered_source_refused_before_work(world, tmp_path):
    reg, refs, folder = world
    copy = tampered_copy(reg, refs[1], tmp_path / "reg")
    result = runner.invoke(app, ["rank", "--target", str(folder), "--registry", str(copy), "--device", "cpu"])
    assert result.exit_code == EXIT_INTEGRITY and refs[1] in result.stderr


def test_unknown_target(world):
    reg, _, _ = world
    result = runner.invoke(app, ["rank", "--target", "no-such-dataset", "--registry", str(reg.root)])
    assert result.exit_code == 3 and "no-such-dataset" in result.stderr

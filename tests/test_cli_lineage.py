"""`show` lists aliases, `alias` and `rm` report what happens to aliases, `lineage` both ways (issue 15, item 9)."""

from __future__ import annotations

import json

import pytest
from conftest import make_spec, make_tensors
from promptkit.cli.app import app
from promptkit.registry import Lineage, LineageSource
from registry_helpers import make_ensemble
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture
def reg(registry):
    a = registry.add("me/a", make_tensors(seed=1), make_spec(task="ta"))
    b = registry.add("me/b", make_tensors(seed=2), make_spec(task="tb"))
    lineage = Lineage(method="hgprompt", sources=[LineageSource(ref=a.ref, sha256=a.sha256, weight=0.75, task="ta"),
                                                  LineageSource(ref=b.ref, sha256=b.sha256, weight=0.25, task="tb")])
    registry.add("me/c", make_tensors(seed=3), make_spec(task="tc", lineage=lineage))
    registry.add("me/a", make_tensors(seed=4), make_spec(task="ta"))
    return registry


def run(reg, *args):
    return runner.invoke(app, [*map(str, args), "--registry", str(reg.root)])


def test_show_lists_aliases(reg):
    reg.set_alias("me/a:1", "prod")
    result = run(reg, "show", "me/a:1")
    assert result.exit_code == 0 and "me/a@prod" in result.stdout
    assert json.loads(run(reg, "show", "me/a:2", "--json").stdout)["aliases"] == ["latest"]


def test_alias_move_and_removal_are_reported(reg):
    assert "(moved from" not in run(reg, "alias", "me/a:1", "prod").stdout
    moved = run(reg, "alias", "me/a:2", "prod")
    assert moved.exit_code == 0 and "me/a@prod -> me/a:2 (moved from me/a:1)" in moved.stdout
    removed = run(reg, "rm", "me/a:2", "--yes")
    assert removed.exit_code == 0 and "alias me/a@prod pointed at me/a:2 and is gone" in removed.stderr


def test_lineage_both_ways(reg):
    up = run(reg, "lineage", "me/c")
    assert up.exit_code == 0, up.output
    assert "me/a:1  (hgprompt, weight 0.750, task ta)" in up.stdout and "built into: nothing" in up.stdout
    down = json.loads(run(reg, "lineage", "me/a:1", "--json").stdout)
    assert down["built_from"] == [] and [x["ref"] for x in down["built_into"]] == ["me/c:1"]
    assert "built from: no stored prompt" in run(reg, "lineage", "me/a:2").stdout


def test_lineage_of_an_ensemble_lists_its_members(registry):
    tensors, spec = make_ensemble(k=2)
    registry.add("me/ens", tensors, spec)
    data = json.loads(run(registry, "lineage", "me/ens", "--json").stdout)
    assert [x["ref"] for x in data["built_from"]] == ["src-0:1", "src-1:1"]
    assert not any(x["stored"] for x in data["built_from"])

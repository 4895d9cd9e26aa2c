"""The sources of `rank` and `ensemble` as a user sees them (issue 15, items 2, 4 and 5).

An empty pipe is an error, never "every source"; before any work, stderr says how many sources
are used and which were left out and why (and ``--json`` carries it); sources can be chosen by
namespace, tag or built-in only; `ensemble` without ``--name`` compares without storing, and
with it says when the stored row lost to a compared one on validation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from promptkit.cli.app import app
from promptkit.registry import AssetSpec, Lineage, LineageSource, Registry
from promptkit.registry.sources import plan_sources
from rank_helpers import add_sources, colour_folder, tiny_backbone
from registry_helpers import make_ensemble
from typer.testing import CliRunner

from promptkit.errors import EXIT_USAGE, UsageError

runner = CliRunner()
FAST = ("--epochs", "1", "--steps", "20", "--device", "cpu")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three sources (tasks task0..2, one tagged), one on another backbone, one tuned on the target
    (folder ``colours``), one composed by an earlier run, one in another namespace, and an ensemble."""
    root = tmp_path_factory.mktemp("sources")
    reg = Registry(root / "reg", builtin=False)
    bb = tiny_backbone()
    refs = add_sources(reg, bb, other_backbone=True)
    reg.tag(refs[0], {"stage": "reviewed"})
    prompt = {"prompt": torch.full((1, 2, bb.embed_dim), 0.1)}
    spec = reg.resolve(refs[1])
    base = AssetSpec(backbone=spec.backbone, geometry=spec.geometry)
    reg.add("me/own", prompt, base.model_copy(update={"task": "colours"}))
    lineage = Lineage(method="hgprompt", sources=[LineageSource(ref=r, sha256=reg.resolve(r).sha256) for r in refs])
    reg.add("me/derived", prompt, base.model_copy(update={"task": "task9", "lineage": lineage}))
    reg.add("solo", prompt, base.model_copy(update={"task": "task8"}))
    tensors, ens = make_ensemble(k=2, width=bb.embed_dim, backbone=spec.backbone)
    reg.add("me/ens", tensors, ens.model_copy(update={"task": "task7"}))
    return reg, refs, colour_folder(root / "colours")


def invoke(world, command, *args, input=None):
    reg, _, folder = world
    extra = FAST if command == "ensemble" else ("--device", "cpu")
    return runner.invoke(app, [command, "--target", str(folder), "--registry", str(reg.root), *extra,
                               *map(str, args)], input=input)


class TestEmptyPipe:
    @pytest.mark.parametrize("command", ["rank", "ensemble"])
    @pytest.mark.parametrize("piped", ["", "\n  \n"])
    def test_dash_with_nothing_on_stdin_is_an_error_naming_the_cause(self, world, command, piped):
        result = invoke(world, command, "-", input=piped)
        assert result.exit_code == EXIT_USAGE, result.output
        assert "read no source reference from stdin" in result.stderr and "did it fail" in result.stderr
        assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 2  # error line and hint

    def test_a_failed_upstream_command_in_a_real_pipe(self, world, tmp_path):
        """`false | promptkit rank --target T -` as a shell runs it: exit 2 and the message, nothing ranked."""
        reg, _, folder = world
        env = {**os.environ, "PROMPTKIT_REGISTRY": str(reg.root)}
        cmd = f"printf '' | {sys.executable} -m promptkit.cli rank --target {folder} --device cpu -q -"
        proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == EXIT_USAGE and proc.stdout == ""
        assert "'-' read no source reference from stdin" in proc.stderr

    def test_nothing_stored_after_an_empty_pipe(self, world):
        reg = world[0]
        invoke(world, "ensemble", "--name", "tgt/never", "-", input="")
        assert "tgt/never" not in {e.manifest.name for e in reg.list()}


class TestChoiceIsSaid:
    def test_rank_says_what_it_uses_and_what_it_left_out_before_work(self, world):
        result = invoke(world, "rank")
        assert result.exit_code == 0, result.output
        err = result.stderr
        assert "ranking 4 sources (of 8 latest prompts)" in err
        for ref, why in (("me/own:1", "tuned on the target task colours"), ("me/derived:1", "composed from 3"),
                         ("me/ens:1", "an ensemble"), ("src/other:1", "tuned on another backbone")):
            assert f"left out {ref}: {why}" in err
        assert err.index("left out") < err.index("features:train")  # said before the first feature pass

    def test_json_carries_the_selection(self, world):
        data = json.loads(invoke(world, "rank", "--json").stdout)
        sel = data["selection"]
        assert sorted(sel["used"]) == ["solo:1", "src/s0:1", "src/s1:1", "src/s2:1"]
        kinds = {o["ref"]: o["kind"] for o in sel["left_out"]}
        assert kinds == {"me/own:1": "target", "me/derived:1": "derived", "me/ens:1": "ensemble",
                         "src/other:1": "backbone"}
        assert [s["ref"] for s in data["skipped"]] == ["src/other:1"]

    @pytest.mark.parametrize(("args", "used"), [
        (("--namespace", "src"), ["src/s0:1", "src/s1:1", "src/s2:1"]),
        (("--source-tag", "stage=reviewed"), ["src/s0:1"]),
        (("--include-derived", "--include-target"), ["me/derived:1", "me/own:1", "solo:1", "src/s0:1", "src/s1:1",
                                                     "src/s2:1"]),
    ])
    def test_choose_by_namespace_tag_or_inclusion(self, world, args, used):
        data = json.loads(invoke(world, "rank", "--json", *args).stdout)
        assert sorted(data["selection"]["used"]) == used and [r["ref"] for r in data["sources"]] != []

    def test_builtin_only_without_builtins_says_why_nothing_is_left(self, world):
        result = invoke(world, "rank", "--builtin-only")
        assert result.exit_code == EXIT_USAGE
        assert "no source prompts for" in result.stderr and "not built in" in result.stderr

    def test_filters_do_not_apply_to_named_sources(self, world):
        result = invoke(world, "rank", "--namespace", "src", "src/s0")
        assert result.exit_code == EXIT_USAGE and "named sources are all used" in result.stderr

    def test_ensemble_says_it_before_work(self, world):
        result = invoke(world, "ensemble", "--method", "uniform")
        assert result.exit_code == 0, result.output
        assert "ensembling 4 sources" in result.stderr and "left out me/own:1" in result.stderr

    def test_library_plan_for_the_builtins(self, monkeypatch, tmp_path):
        monkeypatch.delenv("PROMPTKIT_NO_BUILTIN")
        plan = plan_sources(Registry(tmp_path / "reg"), "zoo-digits", builtin_only=True)
        assert len(plan.refs) == 11 and [o.ref for o in plan.left_out] == ["zoo/digits:2"]
        with pytest.raises(UsageError, match="all 12 left out"):
            plan_sources(Registry(tmp_path / "reg"), "zoo-digits", namespaces=["me"]).require()


class TestCompareWithoutStoring:
    def test_no_name_compares_and_stores_nothing(self, world):
        reg = world[0]
        before = len(reg.list())
        result = invoke(world, "ensemble", "--method", "uniform", "--compare", "random")
        assert result.exit_code == 0, result.output
        assert "compared only, nothing stored" in result.stdout and len(reg.list()) == before
        data = json.loads(invoke(world, "ensemble", "--method", "uniform", "--json").stdout)
        assert data["ref"] is None and data["stored"] is False and len(reg.list()) == before

    @pytest.fixture
    def first_row_loses(self, monkeypatch):
        """The first row scores 0 on validation, the compared one 1: the first surely lost."""
        from promptkit.cli import ensemble_cmd

        real = ensemble_cmd._run

        def run(*args, **kwargs):
            results, splits = real(*args, **kwargs)
            results[0].train.metrics["val_acc"], results[1].train.metrics["val_acc"] = 0.0, 1.0
            return results, splits

        monkeypatch.setattr(ensemble_cmd, "_run", run)

    def test_stored_row_that_lost_on_validation_is_said(self, world, first_row_loses):
        reg = world[0]
        result = invoke(world, "ensemble", "--name", "tgt/lost", "--method", "uniform", "--compare", "random")
        assert result.exit_code == 0, result.output
        assert "warning: stored uniform+stack lost on validation to random: val 0.0000 < 1.0000" in result.stderr
        assert "--store-best" in result.stderr
        assert reg.load("tgt/lost").manifest.init.startswith("uniform")

    def test_store_best_stores_the_best_on_validation(self, world, first_row_loses):
        reg = world[0]
        result = invoke(world, "ensemble", "--name", "tgt/best", "--method", "uniform", "--compare", "random",
                        "--store-best", "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["stored_index"] == 1 and data["best_on_val"] == "random" and not data["stored_lost_on_val"]
        assert reg.load(data["ref"]).manifest.init == "random" and "lost on validation" not in result.stderr

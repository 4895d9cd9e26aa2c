"""`promptkit ensemble` as a user runs it: weights, comparison table, JSON, plot, lineage, refusals, piping."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from promptkit.cli.app import app
from promptkit.registry import AssetSpec, Registry
from rank_helpers import add_sources, colour_folder, tiny_backbone
from registry_helpers import tampered_copy
from typer.testing import CliRunner

from promptkit.errors import EXIT_INTEGRITY, EXIT_USAGE
from promptkit.identity import PromptGeometry

runner = CliRunner()
FAST = ("--epochs", "1", "--steps", "40", "--device", "cpu")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    reg = Registry(root / "reg", builtin=False)
    bb = tiny_backbone()
    refs = add_sources(reg, bb, other_backbone=True)
    spec = AssetSpec(backbone=bb.identity, task="long",
                     geometry=PromptGeometry(mode="shallow", length=3, width=bb.embed_dim, layers=1))
    reg.add("src/long", {"prompt": torch.zeros(1, 3, bb.embed_dim)}, spec)
    folder = colour_folder(root / "colours")
    return reg, refs, folder


def ensemble(world, *args, registry=None, input=None):
    reg, _, folder = world
    return runner.invoke(app, ["ensemble", "--target", str(folder), "--registry", str(registry or reg.root), *FAST,
                               *map(str, args)], input=input)


@pytest.fixture(scope="module")
def compared(world, tmp_path_factory):
    """One run with a comparison, JSON out and a plot, shared by several tests."""
    _, refs, _ = world
    png = tmp_path_factory.mktemp("plot") / "weights.png"
    result = ensemble(world, "--name", "tgt/hg", "--json", "--compose", "average", "--compare", "uniform,best-single",
                      "--compare", "random", "--lam", "0.1", "--seed", "3", "--plot", png, *refs)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), png


def _cache_files(home):
    return list((home / "cache").rglob("*.safetensors")) if (home / "cache").exists() else []


class TestEnsembleCommand:
    def test_json_holds_weights_metrics_compared_methods_and_the_stored_ref(self, compared, world):
        data, _ = compared
        _, refs, _ = world
        assert [r["method"] for r in data["results"]] == ["hgprompt", "uniform", "best-single", "random"]
        hg = data["results"][0]
        assert [s["ref"] for s in hg["sources"]] == refs
        assert sum(hg["alpha"]) == pytest.approx(1.0) and min(hg["alpha"]) >= 0
        assert hg["weights"]["lam"] == 0.1 and hg["config"]["seed"] == 3 and hg["config"]["epochs"] == 1
        assert all(0 <= r["metrics"]["test_acc"] <= 1 for r in data["results"])
        assert data["results"][3]["alpha"] is None and data["ref"] == "tgt/hg:1"

    def test_lineage_round_trips_through_the_registry(self, compared, world):
        data, _ = compared
        reg, _, folder = world
        hg = data["results"][0]
        m = reg.load(data["ref"]).manifest
        assert m.sha256 == data["sha256"] and m.init == "hgprompt" and m.lineage.method == "hgprompt"
        stored = [(s.ref, s.sha256, s.weight, s.task) for s in m.lineage.sources]
        assert stored == [(s["ref"], s["sha256"], s["weight"], s["task"]) for s in hg["sources"]]
        assert [reg.resolve(s.ref).sha256 for s in m.lineage.sources] == [s.sha256 for s in m.lineage.sources]
        p = m.lineage.params
        assert p["alpha"] == hg["alpha"] and p["lambda"] == 0.1 and p["steps"] == 40
        assert p["transferability"] == hg["transferability"] and p["regularizer"] == hg["regularizer"]
        assert p["objective"] == hg["weights"]["objective"] and p["source_scores"] == hg["weights"]["source_scores"]
        assert p["composed_hscore"] == hg["composed_hscore"]
        assert p["seed"] == 3 and p["data_seed"] == 0 and p["dataset_fingerprint"] == hg["dataset_fingerprint"]
        assert m.dataset.fingerprint == hg["dataset_fingerprint"] and m.dataset.name == str(folder.resolve())
        assert m.metrics["test_acc"] == hg["metrics"]["test_acc"] and m.seed == 3
        assert {k: m.training[k] for k in hg["config"]} == hg["config"]
        assert [c["method"] for c in m.training["ensemble"]["compared"]] == ["hgprompt", "uniform", "best-single",
                                                                               "random"]
        assert m.head is not None and m.geometry.length == 2

    def test_plot_writes_a_png(self, compared):
        data, png = compared
        assert data["plot"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def test_table_shows_weights_and_every_method(self, world):
        _, refs, _ = world
        result = ensemble(world, "--name", "tgt/table", "--compose", "average", "--compare", "uniform,random", *refs)
        assert result.exit_code == 0, result.output
        out = result.stdout
        assert "hgprompt weights" in out and all(r in out for r in refs) and "█" in out
        for method in ("hgprompt *", "uniform", "random"):
            assert method in out
        assert "test" in out and "stored tgt/table:1" in out

    def test_quiet_prints_the_ref_and_one_source_gives_that_source(self, world):
        reg, refs, _ = world
        result = ensemble(world, "--name", "tgt/one", "--quiet", refs[1])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == "tgt/one:1"
        lineage = reg.load("tgt/one:1").manifest.lineage
        assert [(s.ref, s.weight) for s in lineage.sources] == [(refs[1], 1.0)]

    def test_rank_quiet_pipes_into_ensemble(self, world):
        reg, refs, folder = world
        ranked = runner.invoke(app, ["rank", "--target", str(folder), "--registry", str(reg.root), "--device", "cpu",
                                     "--top", "2", "--quiet", *refs])
        assert ranked.exit_code == 0, ranked.output
        top = ranked.stdout.split()
        result = ensemble(world, "--name", "tgt/piped", "--json", "-", input=ranked.stdout)
        assert result.exit_code == 0, result.output
        assert [s["ref"] for s in json.loads(result.stdout)["results"][0]["sources"]] == top

    def test_default_sources_skip_other_backbones_and_geometries(self, world):
        result = ensemble(world, "--name", "tgt/all", "--json", "--method", "uniform")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert sorted(s["ref"] for s in data["skipped"]) == ["src/long:1", "src/other:1"]
        assert len(data["results"][0]["sources"]) == 3


class TestRefusals:
    def test_tampered_source_refused_before_work(self, world, tmp_path, _isolated_home):
        reg, refs, _ = world
        copy = tampered_copy(reg, refs[1], tmp_path / "reg")
        result = ensemble(world, "--name", "tgt/bad", *refs, registry=copy)
        assert result.exit_code == EXIT_INTEGRITY and refs[1] in result.stderr
        assert not _cache_files(_isolated_home)
        assert "tgt/bad" not in [e.manifest.name for e in Registry(copy, builtin=False).list()]

    @pytest.mark.parametrize(("alien", "what"), [("src/other:1", "backbone"), ("src/long:1", "geometry")])
    def test_incompatible_source_named_before_work(self, world, _isolated_home, alien, what):
        _, refs, _ = world
        result = ensemble(world, "--name", "tgt/bad", refs[0], alien)
        assert result.exit_code == 1 and alien in result.stderr and what in result.stderr
        assert not _cache_files(_isolated_home)

    def test_unknown_method(self, world, _isolated_home):
        result = ensemble(world, "--name", "tgt/bad", "--compare", "uniform,magic")
        assert result.exit_code == EXIT_USAGE and "magic" in result.stderr and "hgprompt" in result.stderr
        assert not _cache_files(_isolated_home)

    def test_plot_without_matplotlib_says_what_to_install(self, world, monkeypatch, _isolated_home, tmp_path):
        monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
        result = ensemble(world, "--name", "tgt/bad", "--plot", tmp_path / "w.png")
        assert result.exit_code == EXIT_USAGE and "pip install promptkit[plot]" in result.stderr
        assert not _cache_files(_isolated_home) and not (tmp_path / "w.png").exists()


class TestCompositions:
    def test_default_stores_a_stacked_ensemble_of_the_members(self, world):
        reg, refs, _ = world
        result = ensemble(world, "--name", "tgt/ens", "--json", *refs)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        row = data["results"][0]
        assert row["label"] == "hgprompt+stack" and row["composition"] == "stack" and data["kind"] == "ensemble"
        assert row["forwards_per_image"] == len(row["members"]) >= 1 and set(row["members"]) <= set(refs)
        asset = reg.load(data["ref"])
        m = asset.manifest
        assert m.kind == "ensemble" and m.ensemble.composition == "stack"
        assert m.ensemble.features == ("stack" if m.ensemble.k > 1 else "mix")
        assert m.head.in_features == m.ensemble.head_in_features(m.geometry.width)
        assert [e.ref for e in m.ensemble.members] == row["members"]
        assert m.lineage.params["composition"] == "stack"

    def test_compositions_compared_in_one_table(self, world):
        _, refs, _ = world
        result = ensemble(world, "--name", "tgt/comp", "--compose", "ensemble,distill,aligned,average",
                          "--compare", "best-single", *refs)
        assert result.exit_code == 0, result.output
        out = result.stdout
        for label in ("hgprompt+ensemble *", "hgprompt+distill", "hgprompt+aligned", "best-single", "fwd/img"):
            assert label in out
        assert "stored tgt/comp:1" in out

    def test_a_composition_in_compare_applies_to_the_method(self, world):
        _, refs, _ = world
        result = ensemble(world, "--name", "tgt/cmp", "--json", "--compose", "average", "--compare",
                          "distill,uniform+ensemble", *refs)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert [r["label"] for r in data["results"]] == ["hgprompt", "hgprompt+distill", "uniform+ensemble"]
        assert data["kind"] == "prompt"
        distill = data["results"][1]
        assert distill["details"]["teacher"] == "hgprompt+stack" and distill["forwards_per_image"] == 1

    def test_learned_weights_stay_on_the_simplex_and_are_recorded(self, world):
        reg, refs, _ = world
        result = ensemble(world, "--name", "tgt/learned", "--json", "--learn-alpha", *refs)
        assert result.exit_code == 0, result.output
        row = json.loads(result.stdout)["results"][0]
        assert row["label"] == "hgprompt+stack+learned"  # the default composition, weights learned
        assert sum(row["learned_alpha"]) == pytest.approx(1.0, abs=1e-5) and min(row["learned_alpha"]) >= 0
        lineage = reg.load("tgt/learned:1").manifest.lineage
        assert lineage.params["learned_alpha"] == row["learned_alpha"]

    @pytest.mark.parametrize(("args", "words"), [
        (("--compose", "soup"), ("soup", "ensemble")),
        (("--compose", "distill", "--learn-alpha"), ("distill", "cannot learn")),
        (("--method", "random", "--compose", "ensemble"), ("random", "--compose")),
        (("--compare", "random+ensemble"), ("random", "no composition")),
    ])
    def test_bad_compositions_fail_before_work(self, world, _isolated_home, args, words):
        result = ensemble(world, "--name", "tgt/bad", *args)
        assert result.exit_code == EXIT_USAGE, result.output
        assert all(w in result.stderr for w in words)
        assert not _cache_files(_isolated_home)

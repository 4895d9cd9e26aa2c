"""The Hub model card: metadata huggingface_hub parses back, and a body that survives odd text."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from huggingface_hub import ModelCard
from promptkit.registry import DatasetInfo, EnsembleInfo, EnsembleMember, HeadInfo, Lineage, LineageSource, Manifest
from promptkit.registry.card import card_metadata, render_card

from promptkit.identity import BackboneIdentity, PromptGeometry

HUB_ID = "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k"


def manifest(**fields) -> Manifest:
    base = dict(
        backbone=BackboneIdentity(timm_name="vit_tiny_patch16_224", pretrained_tag="augreg_in21k_ft_in1k",
                                  weights_sha256="ab" * 32, hub_id=HUB_ID),
        geometry=PromptGeometry(mode="deep", length=4, width=8, layers=12),
        task="dtd", metrics={"test_acc": 0.7125, "val_acc": 0.7}, name="dtd-hg", version=3, sha256="cd" * 32,
        created_at=datetime(2026, 1, 2, tzinfo=timezone.utc), promptkit_version="0.1.0",
    )
    return Manifest(**(base | fields))


def composed(**fields) -> Manifest:
    lineage = Lineage(method="hgprompt", params={"lambda": 0.1, "alpha": [0.6, 0.4]}, sources=[
        LineageSource(ref="zoo/textures:1", sha256="01" * 32, weight=0.6, task="textures"),
        LineageSource(ref="svhn-vpt:2", sha256="02" * 32, weight=0.4, hub_repo="someone/svhn-vpt"),
    ])
    return manifest(lineage=lineage, init="hgprompt", **fields)


def ensemble(**fields) -> Manifest:
    info = EnsembleInfo(composition="ensemble", learned_alpha=True, members=[
        EnsembleMember(ref="zoo/count:2", sha256="01" * 32, task="count", weight=0.625, prompt_sha256="03" * 32),
        EnsembleMember(ref="svhn-vpt:2", sha256="02" * 32, task=None, weight=0.375, prompt_sha256="04" * 32),
    ])
    return manifest(kind="ensemble", ensemble=info, head=HeadInfo(num_classes=10, in_features=8), **fields)


def parse(text: str) -> ModelCard:
    return ModelCard(text)


class TestRenderCard:
    def test_parses_with_model_card_and_names_the_library(self):
        card = parse(render_card(manifest(), repo_id="me/dtd-hg"))
        assert card.data.library_name == "promptkit"
        assert card.data.base_model == HUB_ID
        assert {"promptkit", "visual-prompt-tuning", "vit_tiny_patch16_224"} <= set(card.data.tags)
        assert card.data.datasets == ["dtd"]
        assert card.data.pipeline_tag == "image-classification"

    def test_metrics_in_model_index(self):
        card = parse(render_card(manifest(), repo_id="me/dtd-hg"))
        results = {(r.metric_type, r.dataset_split, r.metric_name): r.metric_value for r in card.data.eval_results}
        assert results == {("accuracy", "test", "test accuracy"): 0.7125, ("accuracy", "val", "val accuracy"): 0.7}
        assert {r.dataset_name for r in card.data.eval_results} == {"dtd"}
        assert card.data.model_name == "dtd-hg"
        assert "| test_acc | 0.7125 |" in card.text

    def test_only_accuracies_go_to_the_model_index_and_the_license_is_stated(self):
        m = manifest(metrics={"test_acc": 0.5, "tune_seconds": 12.0, "best_epoch": 3.0, "l2_to_init": 0.1})
        card = parse(render_card(m, repo_id="me/x"))
        assert [(r.metric_type, r.dataset_split) for r in card.data.eval_results] == [("accuracy", "test")]
        assert "| tune_seconds | 12.0000 |" in card.text  # every metric stays in the body
        assert card.data.license == "unknown"

    def test_without_metrics_hub_id_or_dataset(self):
        bare = manifest(
            metrics={}, task=None,
            backbone=BackboneIdentity(timm_name="vit_small_patch16_224", weights_sha256="ef" * 32),
        )
        text = render_card(bare, repo_id="me/x")
        card = parse(text)
        assert card.data.library_name == "promptkit"
        assert card.data.base_model is None and card.data.datasets is None and card.data.eval_results is None
        assert "model-index" not in text and "No metrics were recorded." in card.text

    def test_body_says_what_and_how(self):
        m = manifest(
            dataset=DatasetInfo(name="dtd", fingerprint="12" * 32, num_classes=47, sizes={"train": 800}),
            head=HeadInfo(num_classes=47, in_features=8), seed=7, training={"epochs": 10, "lr": 0.5},
            init="kmeans", description="Tuned on textures.", license="apache-2.0",
        )
        text = render_card(m, repo_id="me/dtd-hg")
        card = parse(text)
        assert card.data.license == "apache-2.0"
        for fact in ("deep visual prompt (12 x 4 tokens of width 8)", "`vit_tiny_patch16_224`", "ab" * 32,
                     "`kmeans`", "12" * 32, "47 classes on 8 features", "| seed | 7 |", '"epochs": 10',
                     "Tuned on textures.", "cd" * 32):
            assert fact in card.text, fact

    def test_usage_snippet_pulls_the_version_tag_and_loads_by_digest(self):
        text = render_card(manifest(), repo_id="me/dtd-hg")
        assert "promptkit pull me/dtd-hg@v3" in text
        assert f'Registry().load("dtd-hg@sha256:{"cd" * 8}")' in text

    def test_lineage_table_with_hub_repos_and_weights(self):
        text = render_card(composed(), repo_id="me/dtd-hg", source_repos={"zoo/textures:1": "zoo/textures"})
        rows = [line for line in text.splitlines() if line.startswith("| `")]
        lineage = {row.split("`")[1]: row for row in rows if row.count("|") == 6}
        assert "[zoo/textures](https://huggingface.co/zoo/textures)" in lineage["zoo/textures:1"]
        assert "0.6000" in lineage["zoo/textures:1"] and "textures" in lineage["zoo/textures:1"]
        assert "someone/svhn-vpt" in lineage["svhn-vpt:2"] and "0.4000" in lineage["svhn-vpt:2"]
        assert "composed visual prompt" in text and '"lambda": 0.1' in text
        assert "hgprompt" in parse(text).data.tags

    def test_unknown_source_repo_says_local_only(self):
        text = render_card(composed(), repo_id="me/dtd-hg")
        row = next(line for line in text.splitlines() if line.startswith("| `zoo/textures:1`"))
        assert "local only" in row

    def test_files_section(self):
        text = render_card(manifest(), repo_id="me/x", files={"prompt.safetensors": "the tensors"})
        assert "- `prompt.safetensors`: the tensors" in text

    def test_plain_card_has_no_lineage_section(self):
        assert "## Lineage" not in render_card(manifest(), repo_id="me/x")


class TestEnsembleCard:
    def test_says_k_prompts_lists_members_and_the_cost(self):
        text = render_card(ensemble(), repo_id="me/ens", source_repos={"svhn-vpt:2": "someone/svhn-vpt"})
        card = parse(text)
        assert "An ensemble of 2 prompts" in card.text and "2 forwards per image" in card.text
        assert "## Members" in card.text and "learned with the members" in card.text
        rows = {line.split("`")[1]: line for line in card.text.splitlines() if line.startswith(("| 0 |", "| 1 |"))}
        count = rows["zoo/count:2"]
        assert "count" in count and "0.6250" in count and "local only" in count
        assert "0.3750" in rows["svhn-vpt:2"] and "someone/svhn-vpt" in rows["svhn-vpt:2"]
        assert "asset.members  # tensor of shape (2, 12, 4, 8)" in card.text and "PromptedEnsemble" in card.text
        assert "asset.prompt " not in card.text

    def test_metadata_names_the_kind_and_members(self):
        card = parse(render_card(ensemble(), repo_id="me/ens"))
        assert "prompt-ensemble" in card.data.tags and card.data.library_name == "promptkit"
        block = card_metadata(ensemble())["promptkit"]
        assert block["kind"] == "ensemble" and block["composition"] == "ensemble"
        assert [(m["ref"], m["task"], m["weight"]) for m in block["members"]] == [
            ("zoo/count:2", "count", 0.625), ("svhn-vpt:2", None, 0.375)]

    def test_a_prompt_card_has_no_members(self):
        text = render_card(manifest(), repo_id="me/x")
        assert "## Members" not in text and "prompt-ensemble" not in text and "forwards per image" not in text
        assert card_metadata(manifest())["promptkit"]["kind"] == "prompt"


class TestUntrustedText:
    def test_description_cannot_replace_the_front_matter(self):
        evil = "---\nlibrary_name: evil\n---\n"
        card = parse(render_card(manifest(description=evil), repo_id="me/x"))
        assert card.data.library_name == "promptkit"

    @pytest.mark.parametrize("task", ["a|b", "line\nbreak", "back`tick"])
    def test_table_cells_stay_one_cell(self, task):
        lineage = Lineage(method="m|x", sources=[LineageSource(ref="a:1", sha256="01" * 32, weight=1.0, task=task)])
        text = render_card(manifest(task=task, lineage=lineage), repo_id="me/x")
        row = next(line for line in text.splitlines() if line.startswith("| `a:1`"))
        assert row.replace("\\|", "").count("|") == 6

    def test_code_fence_longer_than_backticks_inside(self):
        text = render_card(manifest(training={"note": "```python"}), repo_id="me/x")
        assert "````json" in text
        parse(text)

    def test_yaml_special_characters_in_names(self):
        m = manifest(task="dtd: #1 'quoted'", metrics={"acc@1": 0.5})
        card = parse(render_card(m, repo_id="me/x"))
        assert card.data.eval_results[0].dataset_name == "dtd: #1 'quoted'"
        assert card.data.datasets is None  # not a Hub dataset id


class TestCardMetadata:
    def test_promptkit_block_identifies_the_version(self):
        meta = card_metadata(composed(), source_repos={"zoo/textures:1": "zoo/textures"})
        block = meta["promptkit"]
        assert (block["name"], block["version"], block["sha256"]) == ("dtd-hg", 3, "cd" * 32)
        assert block["geometry"] == {"mode": "deep", "length": 4, "width": 8, "layers": 12}
        assert block["sources"] == ["zoo/textures", "someone/svhn-vpt"]

    def test_dataset_paths_are_not_hub_datasets(self):
        m = manifest(dataset=DatasetInfo(name="/data/my images", fingerprint="12" * 32))
        assert "datasets" not in card_metadata(m)

"""Compositions end to end on a tiny backbone: average, aligned, ensemble, distill, learned weights."""

from __future__ import annotations

import pytest
import torch
from rank_helpers import source_world

from promptkit.errors import UsageError
from promptkit.features import FeatureCache
from promptkit.runs import COMPOSITIONS, Variant, compare, parse_variant, weight_methods
from promptkit.train import TrainConfig, distillation_loss, train_prompt

TUNE = TrainConfig(epochs=1, optimizer="adamw", lr=1e-3, baseline_probe=False, device="cpu")
ROWS = ("hgprompt+distill", "hgprompt+ensemble", "hgprompt+aligned", "hgprompt+ensemble+learned",
        "hgprompt+average+learned", "hgprompt", "hgprompt+stack")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return source_world(tmp_path_factory.mktemp("data"), digests=True)


@pytest.fixture(scope="module")
def rows(world, tmp_path_factory):
    bb, splits, sources = world
    cache = FeatureCache(tmp_path_factory.mktemp("cache"))
    return {r.label: r for r in compare(ROWS, bb, sources, splits, steps=60, tune=TUNE, cache=cache)}


class TestEnsembleComposition:
    def test_the_tuned_model_is_an_ensemble_of_the_members(self, world, rows):
        _, _, sources = world
        r = rows["hgprompt+ensemble"]
        k = len(r.built.members)
        assert r.train.kind == "ensemble" and r.forwards == k >= 1
        assert r.train.prompt.shape == (k, *sources[0].geometry.shape)
        alpha = r.train.extras["alpha"]
        assert float(alpha.sum()) == pytest.approx(1.0, abs=1e-6)
        assert torch.allclose(alpha.double(), r.built.member_alpha, atol=1e-6)  # fixed unless learned
        assert r.train.extras["member.mean"].shape == (k, sources[0].geometry.width)
        # Its start scores what the weights scored: the mixture of the members.
        assert r.composed_hscore == pytest.approx(r.transferability, rel=0.2)

    def test_learned_weights_move_and_stay_on_the_simplex(self, rows):
        for label in ("hgprompt+ensemble+learned", "hgprompt+average+learned"):
            learned = rows[label].learned_alpha
            assert learned is not None and bool((learned >= 0).all())
            assert float(learned.sum()) == pytest.approx(1.0, abs=1e-5)
        assert rows["hgprompt+ensemble"].learned_alpha is None

    def test_average_with_learned_weights_stores_a_plain_prompt(self, world, rows):
        _, _, sources = world
        r = rows["hgprompt+average+learned"]
        assert r.train.kind == "prompt" and r.train.prompt.shape == sources[0].geometry.shape


class TestStack:
    def test_same_members_as_the_mixture_with_a_head_over_all_their_features(self, world, rows):
        _, _, sources = world
        r, mix = rows["hgprompt+stack"], rows["hgprompt+ensemble"]
        k, d = len(r.built.members), sources[0].geometry.width
        assert r.built.members == mix.built.members and r.forwards == k
        assert r.train.kind == "ensemble" and r.built.details["features"] == "stack"
        assert r.train.head_weight.shape == (r.train.num_classes, k * d)
        assert r.composed_hscore is not None and r.composed_hscore == r.composed_hscore  # scored, not NaN

    def test_stored_and_evaluated_with_its_head_it_gives_its_test_accuracy(self, world, rows, registry):
        from promptkit.registry.workflows import store_training_result

        from promptkit.train.evaluate import evaluate

        bb, splits, sources = world
        r = rows["hgprompt+stack"]
        members = [(sources[i].ref, sources[i].sha256, sources[i].task) for i in r.built.members]
        m = store_training_result(registry, "me/stacked", r.train, splits, members=members, composition="stack")
        k = len(members)
        assert (m.kind, m.ensemble.features, m.ensemble.composition) == ("ensemble", "stack" if k > 1 else "mix",
                                                                         "stack")
        assert m.head.in_features == r.train.head_weight.shape[1]
        asset = registry.load("me/stacked")
        result = evaluate(bb, asset.members, splits, prompt_backbone=m.backbone, geometry=m.geometry,
                          head=asset.head, head_fingerprints={"all": m.dataset.fingerprint}, device="cpu",
                          alpha=asset.alpha, member_stats=asset.member_stats, combine=m.ensemble.features)
        assert result.method == "head"
        assert result.accuracy == pytest.approx(r.train.metrics["test_acc"], abs=1e-9)


class TestDistill:
    def test_distils_from_the_tuned_ensemble_of_the_same_comparison(self, rows):
        d, e = rows["hgprompt+distill"], rows["hgprompt+ensemble"]
        assert d.built.details["teacher"] == "hgprompt+ensemble"
        assert d.built.details["teacher_test_acc"] == e.test_acc  # the very run reported in the table
        assert d.train.config.distill_weight > 0 and "distill_loss" in d.train.history[0]
        assert d.seconds["teacher"] == e.seconds["total"]

    def test_the_result_is_one_plain_prompt_started_from_the_top_member(self, world, rows):
        _, _, sources = world
        d = rows["hgprompt+distill"]
        assert d.train.kind == "prompt" and d.forwards == 1
        assert d.train.prompt.shape == sources[0].geometry.shape
        top = d.built.members[0]
        assert d.built.details["start"] == sources[top].ref
        assert torch.equal(d.built.prompt, sources[top].prompt.float())


class TestAligned:
    def test_permutations_are_recorded_per_source(self, world, rows):
        _, _, sources = world
        details = rows["hgprompt+aligned"].to_dict()["details"]
        assert set(details["permutations"]) == {s.ref for s in sources}
        assert all(len(p) == sources[0].geometry.layers for p in details["permutations"].values())


class TestVariants:
    def test_labels(self):
        assert Variant("hgprompt").label == "hgprompt"
        assert Variant("hgprompt", "ensemble", True).label == "hgprompt+ensemble+learned"
        assert parse_variant("HGPrompt+Distill") == Variant("hgprompt", "distill")

    def test_every_composition_is_registered_with_a_summary(self):
        assert {"average", "aligned", "ensemble", "stack", "distill"} <= set(COMPOSITIONS)
        assert all(spec.summary for spec in COMPOSITIONS.values())

    def test_bad_variants_are_refused_before_any_work(self):
        with pytest.raises(UsageError, match="unknown composition") as err:
            parse_variant("hgprompt+soup")
        assert "ensemble" in (err.value.hint or "")
        with pytest.raises(UsageError, match="cannot learn"):
            parse_variant("hgprompt+distill+learned")
        with pytest.raises(UsageError, match="takes no composition"):
            parse_variant("random+ensemble", weight_methods=weight_methods())


class TestDistillationLoss:
    def test_zero_at_the_teacher_and_positive_elsewhere(self):
        t = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
        assert float(distillation_loss(t.clone(), t, temperature=2.0)) == pytest.approx(0.0, abs=1e-6)
        assert float(distillation_loss(torch.zeros(6, 4), t, temperature=1.0)) > 0

    def test_training_refuses_a_missing_or_misshapen_teacher(self, world):
        bb, splits, _ = world
        config = TUNE.replace(distill_weight=1.0)
        with pytest.raises(UsageError, match="teacher"):
            train_prompt(bb, splits, config)
        with pytest.raises(UsageError, match="shape"):
            train_prompt(bb, splits, config, teacher_logits=torch.zeros(2, 2))

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


def _two_bit_world(n: int = 400, d: int = 8, seed: int = 0):
    """A fake run: 4 classes = 2 bits; source 0 sees bit 0, source 1 bit 1, source 2 only noise."""
    from types import SimpleNamespace

    from promptkit.runs.members import MemberRule

    g = torch.Generator().manual_seed(seed)
    labels = {split: torch.randint(0, 4, (n,), generator=g) for split in ("train", "val")}
    noise = {(i, split): torch.randn(n, d, generator=g) for i in range(3) for split in ("train", "val")}

    def features(src, phase, split="train"):
        y, f = labels[split], noise[(src.index, split)].clone()
        if src.index < 2:
            f[:, 0] += 4.0 * ((y >> src.index) & 1).float()  # one bit, clearly separable
        return f, y

    sources = tuple(SimpleNamespace(index=i, ref=f"src/{i}:1") for i in range(3))
    return SimpleNamespace(sources=sources, features=features, splits=SimpleNamespace(num_classes=4),
                           member_rule=MemberRule())


class TestStack:
    def test_keeps_the_heaviest_sources_as_many_as_validation_prefers(self):
        from promptkit.runs.compositions import choose_stack_members

        run = _two_bit_world()
        # source 1 is light (0.03, under the member rule's minimum) but has the bit source 0 lacks
        members, weights, sel = choose_stack_members(run, torch.tensor([0.9, 0.03, 0.07]))
        accs = {int(k): v for k, v in sel["val_acc_by_members"].items()}
        assert sel["rule"] == "validation" and sorted(accs) == [1, 2, 3]
        assert accs[1] < 0.6 and accs[3] > 0.9  # one bit alone is a coin flip between two classes
        # heaviest first: 0, 2 (noise), 1 (the second bit): three needed
        assert members == [0, 2, 1] and sel["members"] == 3
        assert float(weights.sum()) == pytest.approx(1.0) and weights[0] == pytest.approx(0.9)

    def test_a_rule_with_stack_members_keeps_that_many_without_validation(self):
        from promptkit.runs.compositions import choose_stack_members
        from promptkit.runs.members import MemberRule

        run = _two_bit_world()
        run.member_rule = MemberRule(stack_members=2)
        run.features = None  # not read: the count is given
        members, weights, sel = choose_stack_members(run, torch.tensor([0.9, 0.03, 0.07]))
        assert members == [0, 2] and sel == {"rule": "fixed", "members": 2}
        assert weights.tolist() == pytest.approx([0.9 / 0.97, 0.07 / 0.97])
        with pytest.raises(UsageError, match="stack_members"):
            MemberRule(stack_members=0)

    def test_a_useless_extra_source_is_left_out(self):
        from promptkit.runs.compositions import choose_stack_members

        members, _, sel = choose_stack_members(_two_bit_world(), torch.tensor([0.5, 0.3, 0.2]))
        accs = {int(k): v for k, v in sel["val_acc_by_members"].items()}
        assert accs[2] > 0.9 and members == [0, 1] and sel["members"] == 2  # noise never beats the two bits

    def test_members_are_the_heaviest_k_chosen_on_validation_with_a_head_over_all_features(self, world, rows):
        _, _, sources = world
        r = rows["hgprompt+stack"]
        k, d = len(r.built.members), sources[0].geometry.width
        sel = r.built.details["member_selection"]
        accs = {int(n): v for n, v in sel["val_acc_by_members"].items()}
        assert sorted(accs) == list(range(1, min(3, len(sources)) + 1))
        assert sel["members"] == max(accs, key=lambda n: (accs[n], -n)) == k == r.forwards
        order = sorted(range(len(r.alpha)), key=lambda i: (-float(r.alpha[i]), i))
        assert r.built.members == order[:k]
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
    def test_distils_from_the_tuned_stack_of_the_same_comparison(self, rows):
        d, s = rows["hgprompt+distill"], rows["hgprompt+stack"]
        assert d.built.details["teacher"] == "hgprompt+stack"
        assert d.built.details["teacher_test_acc"] == s.test_acc  # the very run reported in the table
        assert d.train.config.distill_weight > 0 and "distill_loss" in d.train.history[0]
        assert d.seconds["teacher"] == s.seconds["total"]

    def test_the_teacher_logits_are_the_tuned_stacks_own(self, world, rows):
        from promptkit.prompted_ensemble import PromptedEnsemble

        bb, splits, _ = world
        d, t = rows["hgprompt+distill"], rows["hgprompt+stack"].train
        model = PromptedEnsemble(bb, t.prompt, t.extras["alpha"], t.extras["member.mean"], t.extras["member.std"],
                                 mode=t.geometry.mode, combine="stack")
        images = torch.stack([splits.train[i][0] for i in range(len(splits.train))])
        with torch.no_grad():
            logits = model.pooled(images) @ t.head_weight.T + t.head_bias
        assert d.built.teacher.shape == (len(splits.train), splits.num_classes)
        assert torch.allclose(d.built.teacher, logits, atol=1e-4)

    def test_the_result_is_one_plain_prompt_started_from_the_teachers_tuned_heaviest_member(self, world, rows):
        _, _, sources = world
        d, s = rows["hgprompt+distill"], rows["hgprompt+stack"]
        assert d.train.kind == "prompt" and d.forwards == 1
        assert d.train.prompt.shape == sources[0].geometry.shape
        top = s.built.members[0]
        assert d.built.members == s.built.members and d.built.details["start_source"] == sources[top].ref
        assert d.built.details["start"] == f"{sources[top].ref} as tuned in hgprompt+stack"
        assert torch.equal(d.built.prompt, s.train.prompt[0].float())  # the source itself if tuning kept its start


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

"""The pretext of the zoo backbone (zoobuild/pretext.py)."""

from __future__ import annotations

import torch

from promptkit.zoo.font import DIGITS, LETTERS
from promptkit.zoo.suite import TASKS
from zoobuild.pretext import IGNORE, PRETEXT_HEADS, pretext_batch


class TestPretextHeads:
    def test_no_head_labels_a_suite_factor(self) -> None:
        assert not {h.factor for h in PRETEXT_HEADS.values()} & {s.factor for s in TASKS.values()}

    def test_letter_classes_share_no_name_with_any_suite_class(self) -> None:
        suite_names = {c for s in TASKS.values() for c in s.class_names}
        assert not set(PRETEXT_HEADS["letter"].class_names) & suite_names
        assert not set(LETTERS) & set(DIGITS)

    def test_teaches_several_factors(self) -> None:
        assert len(PRETEXT_HEADS) >= 5
        assert {h.kind for h in PRETEXT_HEADS.values()} == {"global", "patch"}


class TestPretextBatch:
    def test_deterministic_in_seed_and_step(self) -> None:
        a, ta = pretext_batch(16, seed=0, step=3)
        b, tb = pretext_batch(16, seed=0, step=3)
        c, _ = pretext_batch(16, seed=0, step=4)
        d, _ = pretext_batch(16, seed=1, step=3)
        assert torch.equal(a, b) and all(torch.equal(ta[k], tb[k]) for k in ta)
        assert not torch.equal(a, c) and not torch.equal(a, d)

    def test_shapes_and_label_ranges(self) -> None:
        images, targets = pretext_batch(64, seed=0, step=0)
        assert images.shape == (64, 3, 32, 32) and images.dtype == torch.uint8
        assert set(targets) == set(PRETEXT_HEADS)
        for name, head in PRETEXT_HEADS.items():
            t = targets[name]
            if head.kind == "patch":
                assert t.shape == (64, 64) and set(t.unique().tolist()) <= {0.0, 1.0}
                assert 0 < float(t.mean()) < 0.8
            else:
                assert t.shape == (64,) and t.dtype == torch.int64
                valid = t[t != IGNORE]
                assert valid.numel() > 0 and int(valid.min()) >= 0 and int(valid.max()) < head.num_classes

    def test_every_class_of_every_global_head_occurs(self) -> None:
        _, targets = pretext_batch(512, seed=0, step=0)
        for name, head in PRETEXT_HEADS.items():
            if head.kind == "global":
                valid = targets[name][targets[name] != IGNORE]
                assert int(torch.bincount(valid, minlength=head.num_classes).min()) > 0, name

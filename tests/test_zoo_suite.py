"""The embedded task suite: specs, determinism, splits, classes (promptkit/zoo/suite.py)."""

from __future__ import annotations

import hashlib
from collections import Counter
from functools import cache

import pytest
import torch

from promptkit.errors import DatasetNotFoundError, UsageError
from promptkit.zoo.suite import SPLIT_SIZES, TASKS, derive_seed, generate

ALL = sorted(TASKS)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # small elementwise kernels: one thread is faster than two on a shared machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@cache
def _split(task: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    return generate(task, split)


def _digests(images: torch.Tensor) -> set[str]:
    return {hashlib.sha256(im.numpy().tobytes()).hexdigest() for im in images}


class TestTaskSpec:
    def test_suite_has_vtab_like_groups(self) -> None:
        groups = Counter(s.group for s in TASKS.values())
        assert len(TASKS) >= 12
        assert groups["natural"] >= 3 and groups["specialized"] >= 2 and groups["structured"] >= 4

    def test_names_are_catalog_keys_with_zoo_prefix(self) -> None:
        for key, spec in TASKS.items():
            assert key == spec.name and key.startswith("zoo-")

    def test_class_names_are_unique_and_count_classes(self) -> None:
        for spec in TASKS.values():
            assert spec.num_classes == len(set(spec.class_names)) >= 2

    def test_dtd_and_cifar_analogues_have_at_least_ten_classes(self) -> None:
        assert TASKS["zoo-textures"].num_classes >= 10
        assert TASKS["zoo-objects"].num_classes >= 10

    def test_each_task_labels_its_own_factor(self) -> None:
        factors = [s.factor for s in TASKS.values()]
        assert len(set(factors)) == len(factors)


class TestGenerate:
    @pytest.mark.parametrize("task", ALL)
    def test_same_seed_same_tensors_other_seed_other_tensors(self, task: str) -> None:
        a = generate(task, "train", n=24)
        b = generate(task, "train", n=24)
        c = generate(task, "train", n=24, seed=1)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert not torch.equal(a[0], c[0])

    @pytest.mark.parametrize("task", ALL)
    def test_shapes_dtypes_and_ranges(self, task: str) -> None:
        images, labels = generate(task, "val", n=30)
        assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8
        assert labels.shape == (30,) and labels.dtype == torch.int64
        assert 0 <= int(labels.min()) and int(labels.max()) < TASKS[task].num_classes
        assert float(images.float().std(dim=(1, 2, 3)).min()) > 1.0  # no blank images

    @pytest.mark.parametrize("task", ALL)
    def test_vtab_1k_split_sizes_with_every_class_in_each(self, task: str) -> None:
        for split, size in SPLIT_SIZES.items():
            images, labels = _split(task, split)
            assert images.shape[0] == labels.shape[0] == size
            counts = torch.bincount(labels, minlength=TASKS[task].num_classes)
            assert int(counts.min()) >= size // TASKS[task].num_classes  # balanced, none missing

    @pytest.mark.parametrize("task", ALL)
    def test_splits_are_disjoint(self, task: str) -> None:
        train, val, test = (_digests(_split(task, s)[0]) for s in ("train", "val", "test"))
        assert len(train) == SPLIT_SIZES["train"]  # no duplicate images within a split either
        assert not (train & val) and not (train & test) and not (val & test)

    def test_trainval_is_train_then_val(self) -> None:
        images, labels = generate("zoo-count", "trainval")
        train, val = _split("zoo-count", "train"), _split("zoo-count", "val")
        assert torch.equal(images, torch.cat([train[0], val[0]])) and torch.equal(
            labels, torch.cat([train[1], val[1]])
        )

    def test_thread_count_does_not_change_the_images(self) -> None:
        a = generate("zoo-textures", "val", n=40)[0]
        torch.set_num_threads(2)
        try:
            b = generate("zoo-textures", "val", n=40)[0]
        finally:
            torch.set_num_threads(1)
        assert torch.equal(a, b)

    def test_unknown_task_is_a_dataset_not_found_error(self) -> None:
        with pytest.raises(DatasetNotFoundError):
            generate("zoo-nope", "train")

    def test_unknown_split_or_bad_size_is_a_usage_error(self) -> None:
        with pytest.raises(UsageError):
            generate("zoo-count", "holdout")
        with pytest.raises(UsageError):
            generate("zoo-count", "train", n=0)


class TestDeriveSeed:
    def test_stable_and_distinct(self) -> None:
        assert derive_seed("zoo-count", "train", 0) == derive_seed("zoo-count", "train", 0)
        assert derive_seed("zoo-count", "train", 0) != derive_seed("zoo-count", "val", 0)
        assert 0 <= derive_seed("x") < 2**63

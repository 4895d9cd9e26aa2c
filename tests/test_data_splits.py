"""VTAB-1k draws and dataset fingerprints (promptkit/data/splits.py)."""

from __future__ import annotations

import pytest
import torch
from fixtures.data_layouts import write_image, write_image_folder

from promptkit.data import DefaultTransform, SplitSource, TensorImageDataset, load_dataset, vtab1k_indices
from promptkit.data.splits import make_splits
from promptkit.errors import DatasetError


class TestVtab1kIndices:
    def test_draws_800_train_and_200_val_disjoint_in_range(self):
        train, val = vtab1k_indices(5000, seed=0)
        assert (len(train), len(val)) == (800, 200)
        assert not set(train) & set(val)
        assert all(0 <= i < 5000 for i in train + val)
        assert train == sorted(train) and val == sorted(val)

    def test_same_seed_same_draw_other_seed_other_draw(self):
        assert vtab1k_indices(3000, seed=7) == vtab1k_indices(3000, seed=7)
        assert vtab1k_indices(3000, seed=7)[0] != vtab1k_indices(3000, seed=8)[0]

    @pytest.mark.parametrize(("n", "expected"), [(1000, (800, 200)), (50, (40, 10)), (94, (75, 19)), (2, (1, 1))])
    def test_small_pools_keep_the_80_20_ratio_and_use_every_example(self, n, expected):
        train, val = vtab1k_indices(n, seed=0)
        assert (len(train), len(val)) == expected
        assert sorted(train + val) == list(range(n))

    def test_custom_sizes(self):
        train, val = vtab1k_indices(100, seed=0, train=10, val=5)
        assert (len(train), len(val)) == (10, 5)

    def test_fewer_than_two_examples_is_an_error(self):
        with pytest.raises(DatasetError, match="1 example"):
            vtab1k_indices(1, seed=0)


def _tensor_source(n=20, *, val=False, value_shift=0):
    images = (torch.arange(n * 3 * 4 * 4) % 251 + value_shift).to(torch.uint8).reshape(n, 3, 4, 4)
    labels = torch.arange(n) % 2
    ds = TensorImageDataset(images, labels)
    return SplitSource(train=ds, val=ds if val else None, test=ds, class_names=["a", "b"],
                       protocol="given" if val else "vtab1k")


class TestSplits:
    def test_sizes_classes_and_split_lookup(self):
        s = make_splits(_tensor_source(), name="t", origin="t", seed=0, transform=None)
        assert s.sizes == {"train": 16, "val": 4, "test": 20}
        assert (s.num_classes, s.class_names) == (2, ["a", "b"])
        assert s.split("val") is s.val
        with pytest.raises(ValueError, match="unknown split"):
            s.split("dev")

    def test_given_protocol_keeps_splits(self):
        s = make_splits(_tensor_source(val=True), name="t", origin="t", seed=3, transform=None)
        assert s.sizes == {"train": 20, "val": 20, "test": 20}
        assert s.indices == {"train": None, "val": None, "test": None}

    def test_fingerprint_is_hex_sha256_and_stable(self):
        a = make_splits(_tensor_source(), name="t", origin="t", seed=0, transform=None)
        b = make_splits(_tensor_source(), name="other-name", origin="elsewhere", seed=0, transform=None)
        assert len(a.fingerprint()) == 64 and int(a.fingerprint(), 16) >= 0
        assert a.fingerprint() == b.fingerprint()  # content, not where it came from
        assert {a.fingerprint(s) for s in ("train", "val", "test")} | {a.fingerprint()} == {
            b.fingerprint(s) for s in ("train", "val", "test")} | {b.fingerprint()}
        assert len({a.fingerprint(s) for s in ("train", "val", "test")}) == 3

    def test_fingerprint_follows_image_content_in_memory(self):
        a = make_splits(_tensor_source(), name="t", origin="t", seed=0, transform=None)
        b = make_splits(_tensor_source(value_shift=1), name="t", origin="t", seed=0, transform=None)
        assert a.fingerprint("test") != b.fingerprint("test")

    def test_fingerprint_follows_transform(self):
        a = make_splits(_tensor_source(), name="t", origin="t", seed=0, transform=None)
        b = a.with_transform(DefaultTransform(2))
        assert b.train[0][0].shape == (3, 2, 2)
        assert all(a.fingerprint(s) != b.fingerprint(s) for s in ("train", "val", "test"))
        assert b.transform_description == "DefaultTransform(image_size=2)"
        assert a.with_transform(None).fingerprint() == a.fingerprint()


class TestFolderFingerprint:
    def _load(self, folder, **kw):
        return load_dataset(folder, **kw)

    def test_reloading_gives_the_same_fingerprint(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", per_class=5)
        assert self._load(folder).fingerprint() == self._load(folder).fingerprint()

    def test_seed_moves_train_and_val_but_not_test(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", per_class=5)
        a, b = self._load(folder, seed=0), self._load(folder, seed=1)
        assert a.fingerprint("train") != b.fingerprint("train")
        assert a.fingerprint("val") != b.fingerprint("val")
        assert a.fingerprint("test") == b.fingerprint("test")

    def test_a_changed_label_changes_the_fingerprint(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", per_class=5)
        before = self._load(folder)
        (folder / "test" / "cat" / "cat_000.png").rename(folder / "test" / "dog" / "cat_000.png")
        after = self._load(folder)
        assert before.fingerprint("test") != after.fingerprint("test")

    def test_an_added_or_resized_file_changes_the_fingerprint(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", per_class=5)
        before = self._load(folder).fingerprint("test")
        write_image(folder / "test" / "dog" / "extra.png", 1)
        added = self._load(folder).fingerprint("test")
        with open(folder / "test" / "dog" / "extra.png", "ab") as f:
            f.write(b"\0" * 16)  # same name, other size (PIL ignores bytes after the PNG end)
        resized = self._load(folder).fingerprint("test")
        assert len({before, added, resized}) == 3

    def test_an_unrelated_file_does_not_change_the_fingerprint(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", per_class=5)
        before = self._load(folder).fingerprint()
        (folder / "test" / "dog" / "notes.txt").write_text("not an image")
        assert self._load(folder).fingerprint() == before

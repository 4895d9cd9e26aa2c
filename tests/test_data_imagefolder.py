"""Image folders as tasks (promptkit/data/imagefolder.py), through load_dataset as users call it."""

from __future__ import annotations

import pytest
import torch
from fixtures.data_layouts import colour, write_image, write_image_folder

from promptkit.data import load_dataset, load_image_folder
from promptkit.errors import DatasetError


def _colour_of(image: torch.Tensor) -> tuple[int, int, int]:
    return tuple(int(round(v)) for v in (image[:, 0, 0] * 255).tolist())


class TestLoadImageFolder:
    def test_classes_labels_and_decoded_images(self, tmp_path):
        folder = write_image_folder(tmp_path / "pets", {"dog": 4, "cat": 6, "eel": 5})
        s = load_dataset(folder)
        assert s.class_names == ["cat", "dog", "eel"]  # sorted folder names
        assert s.name == "pets" and s.source == str(folder.resolve())
        assert s.sizes["test"] == 15 and s.sizes["train"] + s.sizes["val"] == 15
        assert s.protocol == "vtab1k"  # no val/: drawn from train/
        for image, label in (s.test[i] for i in range(len(s.test))):
            assert image.shape == (3, 8, 8) and image.dtype == torch.float32
            assert _colour_of(image) == colour(label)  # PNG is lossless: the label's colour exactly
        assert sorted(s.test.labels.tolist()) == [0] * 6 + [1] * 4 + [2] * 5

    def test_val_folder_is_used_as_given(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", ("a", "b"), per_class=2, splits=("train", "val", "test"))
        s = load_dataset(folder)
        assert s.protocol == "given"
        assert s.sizes == {"train": 4, "val": 4, "test": 4}

    def test_test_may_lack_some_train_classes(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", ("a", "b", "c"), splits=("train",))
        write_image_folder(folder, ("b",), splits=("test",))
        s = load_dataset(folder)
        assert set(s.test.labels.tolist()) == {1}

    def test_nested_folders_read_and_other_files_ignored(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", ("a", "b"), per_class=2)
        write_image(folder / "train" / "a" / "sub" / "deep.jpg", 0)
        (folder / "train" / "a" / "README.txt").write_text("notes")
        (folder / "train" / "a" / ".hidden.png").write_bytes(b"junk")
        (folder / "train" / "notes.md").write_text("notes")
        source = load_image_folder(folder)
        assert len(source.train) == 5
        assert "train/a/sub/deep.jpg" in source.train.paths

    def test_verify_reports_progress_over_all_files(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", ("a", "b"), per_class=2)
        calls = []
        load_dataset(folder, verify=True, progress=lambda done, total: calls.append((done, total)))
        assert calls[-1] == (8, 8) and len(calls) == 8


class TestImageFolderErrors:
    def test_corrupt_image_fails_on_load_naming_the_file(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", ("a", "b"), per_class=2)
        bad = folder / "test" / "a" / "a_000.png"
        bad.write_bytes(b"this is not a png")
        s = load_dataset(folder)  # not verified: found when read
        index = s.test.paths.index("test/a/a_000.png")
        with pytest.raises(DatasetError, match="a_000.png") as info:
            s.test[index]
        assert info.value.path == str(bad)

    def test_corrupt_image_fails_up_front_with_verify(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", ("a", "b"), per_class=2)
        (folder / "train" / "b" / "b_001.png").write_bytes(b"")
        with pytest.raises(DatasetError, match="b_001.png"):
            load_dataset(folder, verify=True)

    def test_truncated_jpeg_fails_when_decoded(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", ("a", "b"), per_class=2)
        big = write_image(folder / "test" / "a" / "big.jpg", 0, size=(64, 64))
        big.write_bytes(big.read_bytes()[:200])
        s = load_dataset(folder)
        with pytest.raises(DatasetError, match="big.jpg"):
            s.test[s.test.paths.index("test/a/big.jpg")]

    def test_empty_class_folder(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", ("a", "b"))
        (folder / "train" / "c").mkdir()
        (folder / "train" / "c" / "readme.txt").write_text("no images here")
        with pytest.raises(DatasetError, match="class folder .*c has no images") as info:
            load_dataset(folder)
        assert info.value.path.endswith("c")

    def test_one_class(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", ("only",))
        with pytest.raises(DatasetError, match="1 class folder.*at least 2") as info:
            load_dataset(folder)
        assert info.value.path.endswith("train")

    def test_test_class_missing_from_train(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", ("a", "b"))
        write_image_folder(folder, ("zebra",), splits=("test",))
        with pytest.raises(DatasetError, match="zebra"):
            load_dataset(folder)

    def test_missing_test_folder(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", ("a", "b"), splits=("train",))
        with pytest.raises(DatasetError, match="no test/ folder") as info:
            load_dataset(folder)
        assert "train/<class>" in info.value.hint

    def test_image_outside_class_folder(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", ("a", "b"))
        write_image(folder / "train" / "stray.png")
        with pytest.raises(DatasetError, match="outside class folders"):
            load_dataset(folder)

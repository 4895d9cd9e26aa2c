"""Dataset classes and the default transform (promptkit/data/datasets.py)."""

from __future__ import annotations

import functools

import pytest
import torch
from PIL import Image

from promptkit.data import DefaultTransform, ImageFileDataset, TensorImageDataset, describe_transform
from promptkit.errors import DatasetError


class TestDefaultTransform:
    def test_pil_to_float_in_unit_range(self):
        out = DefaultTransform()(Image.new("RGB", (5, 3), (255, 0, 51)))
        assert out.shape == (3, 3, 5) and out.dtype == torch.float32
        assert torch.allclose(out[:, 0, 0], torch.tensor([1.0, 0.0, 0.2]))

    def test_resize_shorter_side_then_centre_crop(self):
        out = DefaultTransform(4)(torch.rand(3, 8, 16))
        assert out.shape == (3, 4, 4)

    def test_uint8_tensor_is_scaled(self):
        out = DefaultTransform()(torch.full((3, 2, 2), 255, dtype=torch.uint8))
        assert torch.equal(out, torch.ones(3, 2, 2))


class TestDescribeTransform:
    def test_memory_addresses_are_removed(self):
        def t(x):
            return x

        assert "0x" not in describe_transform(t) and "t" in describe_transform(t)
        assert describe_transform(functools.partial(t)) == describe_transform(functools.partial(t))

    def test_description_attribute_wins(self):
        class T:
            description = "resize 32, normalize (0.5, 0.5)"

            def __call__(self, x):
                return x

        assert describe_transform(T()) == "resize 32, normalize (0.5, 0.5)"

    def test_none_is_the_default_transform(self):
        assert describe_transform(None) == repr(DefaultTransform())


class TestTensorImageDataset:
    def test_items_subset_concat(self):
        images = torch.arange(4 * 3 * 2 * 2, dtype=torch.uint8).reshape(4, 3, 2, 2)
        ds = TensorImageDataset(images, [0, 1, 1, 0])
        image, label = ds[2]
        assert label == 1 and torch.allclose(image, images[2].float() / 255)
        sub = ds.subset([3, 1])
        assert sub.labels.tolist() == [0, 1] and torch.equal(sub.images[0], images[3])
        assert len(ds.concat(sub)) == 6

    @pytest.mark.parametrize(
        ("images", "labels"),
        [(torch.zeros(2, 3, 4, 4), [0, 1]), (torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0, 1]),
         (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), [0])],
    )
    def test_wrong_dtype_shape_or_count_is_refused(self, images, labels):
        with pytest.raises(ValueError):
            TensorImageDataset(images, labels)


class TestImageFileDataset:
    def test_grey_and_rgba_files_become_rgb(self, tmp_path):
        Image.new("L", (4, 4), 128).save(tmp_path / "g.png")
        Image.new("RGBA", (4, 4), (10, 20, 30, 0)).save(tmp_path / "a.png")
        ds = ImageFileDataset(tmp_path, ["g.png", "a.png"], [0, 1], [1, 1])
        assert ds[0][0].shape == (3, 4, 4) and ds[1][0].shape == (3, 4, 4)

    def test_missing_file_is_named(self, tmp_path):
        ds = ImageFileDataset(tmp_path, ["gone.jpg"], [0], [1])
        with pytest.raises(DatasetError, match="gone.jpg"):
            ds[0]
        with pytest.raises(DatasetError, match="gone.jpg"):
            ds.verify()

    def test_subset_keeps_transform_and_concat_needs_one_root(self, tmp_path):
        ds = ImageFileDataset(tmp_path, ["a", "b", "c"], [0, 1, 0], [1, 2, 3], transform=DefaultTransform(2))
        sub = ds.subset([2, 0])
        assert (sub.paths, sub.sizes, repr(sub.transform)) == (["c", "a"], [3, 1], "DefaultTransform(image_size=2)")
        with pytest.raises(ValueError):
            ds.concat(ImageFileDataset(tmp_path / "other", ["x"], [0], [1]))

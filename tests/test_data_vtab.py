"""VTAB loaders (promptkit/data/vtab.py) on tiny fixtures written in each dataset's real layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures.data_layouts import (
    DTD_CLASSES,
    EUROSAT_CLASSES,
    cifar100_records,
    colour,
    svhn_arrays,
    write_cifar100,
    write_dtd,
    write_eurosat,
    write_svhn,
)

from promptkit.data import load_dataset, vtab
from promptkit.errors import DatasetError


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    monkeypatch.delenv("PROMPTKIT_DATA", raising=False)


def _close_to_colour(image: torch.Tensor, label: int) -> bool:
    got = (image[:, 4, 4] * 255).tolist()
    return all(abs(g - c) <= 12 for g, c in zip(got, colour(label)))  # JPEG is lossy


class TestDTD:
    def test_classes_splits_labels_and_images(self, tmp_path):
        write_dtd(tmp_path, per_split=1)
        s = load_dataset("dtd", root=tmp_path)
        assert s.class_names == sorted(DTD_CLASSES) and s.num_classes == 47
        # pool = train1 + val1 = 94 images -> the VTAB-1k rule scaled to 80/20; test1 whole
        assert s.sizes == {"train": 75, "val": 19, "test": 47}
        assert sorted(s.test.labels.tolist()) == list(range(47))
        for i in range(0, 47, 9):
            image, label = s.test[i]
            assert image.shape == (3, 8, 8)
            assert s.test.paths[i].startswith(f"images/{s.class_names[label]}/")
            assert _close_to_colour(image, label)

    def test_a_listed_file_that_is_missing_is_named(self, tmp_path):
        write_dtd(tmp_path)
        victim = tmp_path / "dtd" / "images" / "banded" / "banded_0002.jpg"
        victim.unlink()
        with pytest.raises(DatasetError, match="banded_0002.jpg") as info:
            load_dataset("dtd", root=tmp_path)
        assert "test1.txt" in str(info.value)

    def test_missing_classes_mean_an_incomplete_copy(self, tmp_path):
        write_dtd(tmp_path, classes=DTD_CLASSES[:5])
        with pytest.raises(DatasetError, match="found 5 classes.*expected 47"):
            load_dataset("dtd", root=tmp_path)


class TestSVHN:
    def test_images_labels_and_digit_zero(self, tmp_path):
        write_svhn(tmp_path, n_train=30, n_test=20)
        s = load_dataset("svhn", root=tmp_path)
        assert s.sizes == {"train": 24, "val": 6, "test": 20}
        assert s.class_names == [str(d) for d in range(10)]
        x, y = svhn_arrays(20, seed=2)  # what write_svhn stored for test
        expected = torch.from_numpy(np.transpose(x, (3, 2, 0, 1)).copy())
        assert torch.equal(s.test.images, expected)
        assert s.test.labels.tolist() == [int(v) % 10 for v in y.reshape(-1)]  # label 10 is digit 0
        image, label = s.test[9]
        assert label == 0 and torch.allclose(image, expected[9].float() / 255)

    def test_damaged_file_is_named(self, tmp_path):
        write_svhn(tmp_path)
        (tmp_path / "svhn" / "test_32x32.mat").write_bytes(b"garbage")
        with pytest.raises(DatasetError, match="test_32x32.mat"):
            load_dataset("svhn", root=tmp_path)


class TestCIFAR100:
    def test_binary_records_fine_labels_and_names(self, tmp_path):
        write_cifar100(tmp_path, n_train=200, n_test=100)
        s = load_dataset("cifar100", root=tmp_path)
        assert s.class_names == [f"fine_{i:02d}" for i in range(100)]  # blank lines dropped
        assert s.sizes == {"train": 160, "val": 40, "test": 100}
        records = cifar100_records(100, seed=2)
        assert s.test.labels.tolist() == records[:, 1].tolist()  # the fine label, not the coarse
        assert torch.equal(s.test.images[3, 0], torch.from_numpy(records[3, 2:1026].reshape(32, 32)))  # R plane
        assert torch.equal(s.test.images[3, 2], torch.from_numpy(records[3, 2050:].reshape(32, 32)))  # B plane

    def test_truncated_file_is_named(self, tmp_path):
        write_cifar100(tmp_path)
        path = tmp_path / "cifar-100-binary" / "train.bin"
        path.write_bytes(path.read_bytes()[:-5])
        with pytest.raises(DatasetError, match="train.bin.*3074-byte record"):
            load_dataset("cifar100", root=tmp_path)


class TestEuroSAT:
    def test_classes_fixed_test_split_and_images(self, tmp_path):
        write_eurosat(tmp_path, per_class=3)
        a = load_dataset("eurosat", root=tmp_path, seed=0)
        b = load_dataset("eurosat", root=tmp_path, seed=1)
        assert a.class_names == list(EUROSAT_CLASSES)
        # 30 images: fixed 60/20/20 = 18/6/6; VTAB-1k draw from the 24 of train+val = 19/5
        assert a.sizes == {"train": 19, "val": 5, "test": 6}
        assert a.test.paths == b.test.paths  # the test split never moves with the seed
        assert a.train.paths != b.train.paths
        assert not set(a.test.paths) & (set(a.train.paths) | set(a.val.paths))
        image, label = a.test[0]
        assert a.test.paths[0].startswith(f"2750/{EUROSAT_CLASSES[label]}/") and _close_to_colour(image, label)


class TestDownloads:
    """The download step calls torchvision's helpers with the official URLs and md5s (no network here)."""

    @pytest.fixture
    def calls(self, monkeypatch):
        import torchvision.datasets.utils as tvu

        calls = []
        writers = {"dtd-r1.0.1.tar.gz": write_dtd, "cifar-100-binary.tar.gz": write_cifar100}

        def fake_archive(url, download_root, md5=None, remove_finished=False, **kw):
            calls.append((url, md5, download_root))
            name = url.rsplit("/", 1)[-1]
            if name == "EuroSAT.zip":
                write_eurosat(Path(download_root).parent)
            else:
                writers[name](Path(download_root))

        def fake_url(url, root, filename=None, md5=None, **kw):
            calls.append((url, md5, root))
            if filename == "test_32x32.mat":
                write_svhn(Path(root).parent)

        monkeypatch.setattr(tvu, "download_and_extract_archive", fake_archive)
        monkeypatch.setattr(tvu, "download_url", fake_url)
        return calls

    @pytest.mark.parametrize(
        ("name", "urls"),
        [
            ("dtd", {vtab.DTD_URL: vtab.DTD_MD5}),
            ("cifar100", {vtab.CIFAR100_URL: vtab.CIFAR100_MD5}),
            ("eurosat", {vtab.EUROSAT_URL: vtab.EUROSAT_MD5}),
            ("svhn", {url: md5 for url, _, md5 in vtab.SVHN_FILES.values()}),
        ],
    )
    def test_download_true_fetches_official_files_then_loads(self, tmp_path, calls, name, urls):
        s = load_dataset(name, root=tmp_path, download=True)
        assert {url: md5 for url, md5, _ in calls} == urls
        assert s.name == name and s.sizes["test"] > 0

    def test_official_md5s(self):
        assert vtab.DTD_MD5 == "fff73e5086ae6bdbea199a49dfb8a4c1"
        assert vtab.CIFAR100_URL.endswith("cifar-100-binary.tar.gz")
        assert vtab.CIFAR100_MD5 == "03b5dce01913d631647c71ecec9e9cb8"
        assert vtab.SVHN_FILES["train"][2] == "e26dedcc434d2e4c54c9b2d4a06d8373"

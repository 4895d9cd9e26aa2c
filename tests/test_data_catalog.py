"""The dataset catalog (promptkit/data/catalog.py): names, roots, missing datasets, generated tasks."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from fixtures.data_layouts import write_dtd, write_image_folder

from promptkit.data import (
    DATASETS,
    dataset_root,
    download_dataset,
    get_dataset_entry,
    list_datasets,
    load_dataset,
    register_dataset,
    register_generated,
)
from promptkit.data.datasets import TensorImageDataset
from promptkit.data.splits import SplitSource
from promptkit.errors import EXIT_NOT_FOUND, DatasetError, DatasetNotFoundError, UsageError


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    monkeypatch.delenv("PROMPTKIT_DATA", raising=False)


@pytest.fixture
def scratch_names():
    """Names registered by a test are removed afterwards, so the global catalog stays clean."""
    names: list[str] = []
    yield names
    for name in names:
        DATASETS.pop(name, None)


def _generator(n_classes=3, *, with_val=True):
    calls = []

    def generate(split, *, seed):
        calls.append((split, seed))
        g = torch.Generator().manual_seed(seed * 10 + {"train": 0, "val": 1, "test": 2}[split])
        n = {"train": 12, "val": 6, "test": 9}[split]
        return torch.randint(0, 256, (n, 3, 4, 4), generator=g, dtype=torch.uint8), torch.arange(n) % n_classes

    return generate, calls


class TestListDatasets:
    def test_vtab_names_with_groups_and_classes(self):
        entries = {e.name: e for e in list_datasets()}
        assert {n: (entries[n].group, entries[n].num_classes) for n in ("dtd", "svhn", "cifar100", "eurosat")} == {
            "dtd": ("natural", 47), "svhn": ("natural", 10), "cifar100": ("natural", 100),
            "eurosat": ("specialized", 10),
        }
        assert all(entries[n].downloadable for n in ("dtd", "svhn", "cifar100", "eurosat"))

    def test_presence_follows_the_files(self, tmp_path):
        entry = get_dataset_entry("dtd")
        assert not entry.is_present(tmp_path)
        write_dtd(tmp_path)
        assert entry.is_present(tmp_path)

    @pytest.mark.skipif(importlib.util.find_spec("promptkit.zoo.suite") is None, reason="embedded zoo not built")
    def test_embedded_zoo_tasks_are_listed_lazily(self):
        from promptkit.zoo.suite import TASKS

        entries = {e.name: e for e in list_datasets()}
        for name, spec in TASKS.items():
            assert entries[name].kind == "generated" and entries[name].num_classes == spec.num_classes
            assert entries[name].is_present()


class TestDatasetRoot:
    def test_precedence_argument_then_promptkit_data_then_home(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PROMPTKIT_HOME", str(tmp_path / "home"))
        assert dataset_root() == tmp_path / "home" / "datasets"
        monkeypatch.setenv("PROMPTKIT_DATA", str(tmp_path / "data"))
        assert dataset_root() == tmp_path / "data"
        assert dataset_root(tmp_path / "explicit") == tmp_path / "explicit"

    def test_default_root_is_used_by_load(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PROMPTKIT_DATA", str(tmp_path))
        write_dtd(tmp_path)
        assert load_dataset("dtd").num_classes == 47


class TestMissingDatasets:
    def test_unknown_name_suggests_close_names(self):
        with pytest.raises(DatasetNotFoundError) as info:
            load_dataset("cifar-100")
        err = info.value
        assert "'cifar100'" in err.hint and "promptkit datasets" in err.hint and "train/<class>" in err.hint
        assert err.exit_code == EXIT_NOT_FOUND and isinstance(err, LookupError)

    def test_known_name_without_files_gives_the_download_command_and_layout(self, tmp_path):
        with pytest.raises(DatasetNotFoundError) as info:
            load_dataset("dtd", root=tmp_path)
        err = info.value
        assert f"promptkit datasets --download dtd --root {tmp_path}" in err.hint
        assert "dtd/images/<class>/<image>.jpg" in err.hint
        assert str(tmp_path / "dtd") in str(err)

    def test_missing_path(self, tmp_path):
        with pytest.raises(DatasetNotFoundError, match="no folder at"):
            load_dataset(str(tmp_path / "nowhere"))
        with pytest.raises(DatasetNotFoundError):
            load_dataset(tmp_path / "nowhere")

    def test_a_file_is_not_a_folder(self, tmp_path):
        (tmp_path / "x.zip").write_bytes(b"zip")
        with pytest.raises(DatasetNotFoundError, match="not a folder"):
            load_dataset(tmp_path / "x.zip")

    def test_download_without_network_is_a_clear_error(self, tmp_path, scratch_names):
        def offline(root):
            raise OSError("Network is unreachable")

        register_dataset("offline-ds", group="test", description="d", num_classes=2, files=("x",), download=offline)(
            lambda root, **kw: None
        )
        scratch_names.append("offline-ds")
        with pytest.raises(DatasetNotFoundError, match="download failed: Network is unreachable"):
            download_dataset("offline-ds", root=tmp_path)


class TestLoadDataset:
    def test_folder_by_path_string_and_path_object(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds")
        assert load_dataset(str(folder)).fingerprint() == load_dataset(folder).fingerprint()

    def test_catalog_name_wins_over_a_folder_of_the_same_name(self, tmp_path, monkeypatch):
        write_image_folder(tmp_path / "dtd")
        monkeypatch.chdir(tmp_path)
        with pytest.raises(DatasetNotFoundError):  # the catalog's dtd, absent from the empty root
            load_dataset("dtd", root=tmp_path / "empty")
        assert load_dataset("./dtd").class_names == ["cat", "dog"]

    def test_image_size_resizes_with_the_default_transform(self, tmp_path):
        folder = write_image_folder(tmp_path / "ds", size=(10, 6))
        s = load_dataset(folder, image_size=4)
        assert s.train[0][0].shape == (3, 4, 4)
        assert s.fingerprint() != load_dataset(folder).fingerprint()

    def test_transform_and_image_size_together_is_a_usage_error(self, tmp_path):
        with pytest.raises(UsageError):
            load_dataset(write_image_folder(tmp_path / "ds"), image_size=4, transform=lambda x: x)

    def test_download_true_runs_the_download_once_then_loads(self, tmp_path, scratch_names):
        fetched = []

        def fetch(root):
            fetched.append(root)
            write_image_folder(root / "mini")

        @register_dataset("mini", group="test", description="d", num_classes=2, files=("mini/train",), download=fetch)
        def load_mini(root, **kw):
            from promptkit.data.imagefolder import load_image_folder

            return load_image_folder(root / "mini")

        scratch_names.append("mini")
        with pytest.raises(DatasetNotFoundError):
            load_dataset("mini", root=tmp_path)
        assert not fetched  # never downloads unless asked
        assert load_dataset("mini", root=tmp_path, download=True).num_classes == 2
        load_dataset("mini", root=tmp_path, download=True)
        assert fetched == [tmp_path]

    def test_class_count_is_checked(self, tmp_path, scratch_names):
        @register_dataset("threeclass", group="test", description="d", num_classes=3, files=())
        def load_two(root, **kw):
            ds = TensorImageDataset(torch.zeros(4, 3, 2, 2, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]))
            return SplitSource(train=ds, val=None, test=ds, class_names=["a", "b"])

        scratch_names.append("threeclass")
        with pytest.raises(DatasetError, match="found 2 classes.*expected 3"):
            load_dataset("threeclass", root=tmp_path)


class TestRegisterGenerated:
    def test_generated_splits_are_used_as_given_and_follow_the_seed(self, scratch_names):
        generate, calls = _generator()
        entry = register_generated("gen-a", generate, group="test", description="d", num_classes=3)
        scratch_names.append("gen-a")
        assert entry.kind == "generated" and entry.is_present()
        s0, s0b, s1 = (load_dataset("gen-a", seed=k) for k in (0, 0, 1))
        assert s0.sizes == {"train": 12, "val": 6, "test": 9} and s0.protocol == "given"
        assert s0.class_names == ["0", "1", "2"]
        assert ("test", 1) in calls
        assert s0.fingerprint() == s0b.fingerprint()
        assert s0.fingerprint("test") != s1.fingerprint("test")  # generated data follows the seed
        image, label = s0.train[0]
        assert image.dtype == torch.float32 and 0.0 <= float(image.min()) and float(image.max()) <= 1.0

    def test_without_val_the_vtab1k_rule_draws_it(self, scratch_names):
        generate, _ = _generator()
        register_generated("gen-b", generate, group="test", description="d", num_classes=3, splits=("train", "test"))
        scratch_names.append("gen-b")
        s = load_dataset("gen-b")
        assert s.protocol == "vtab1k" and s.sizes == {"train": 10, "val": 2, "test": 9}

    def test_labels_outside_the_classes_are_an_error(self, scratch_names):
        generate, _ = _generator(n_classes=5)
        register_generated("gen-c", generate, group="test", description="d", num_classes=3,
                           class_names=["x", "y", "z"])
        scratch_names.append("gen-c")
        with pytest.raises(DatasetError, match="labels span 0..4, outside 0..2"):
            load_dataset("gen-c")

    def test_names_that_read_as_paths_or_repeat_are_refused(self, scratch_names):
        generate, _ = _generator()
        for name in ("a/b/c", "./a", "a/", "~/a"):  # one family/ prefix is a name (vtab-1k/dtd); more reads as a path
            with pytest.raises(ValueError, match="path"):
                register_generated(name, generate, group="t", description="d", num_classes=3)
        get_dataset_entry("dtd")  # the built-in names are registered on first use of the catalog
        with pytest.raises(ValueError, match="already registered"):
            register_generated("dtd", generate, group="t", description="d", num_classes=3)



"""VTAB-1k's 19 tasks and FGVC's 5 by name, task folders by path, the select and final stages, `promptkit datasets`.

Read from the committed fixtures: tests/fixtures/vtab-1k/{cifar,dtd,eurosat,clevr_count} (NOAH's
folder names; cifar holds CIFAR-100) and tests/fixtures/fgvc/CUB_200_2011 (VPT's JSON splits).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from promptkit.cli.app import app
from typer.testing import CliRunner

from promptkit.data import get_dataset_entry, list_datasets, load_dataset
from promptkit.data.vtab1k import VTAB1K_TASKS, vtab1k_task
from promptkit.errors import DatasetError, DatasetNotFoundError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
runner = CliRunner()

# The papers' VTAB-1k class counts (NOAH's and SSF's dataset tables).
COUNTS = {"cifar100": 100, "caltech101": 102, "dtd": 47, "oxford_flowers102": 102, "oxford_iiit_pet": 37,
          "svhn": 10, "sun397": 397, "patch_camelyon": 2, "eurosat": 10, "resisc45": 45,
          "diabetic_retinopathy": 5, "clevr_count": 8, "clevr_dist": 6, "dmlab": 6, "kitti": 4,
          "dsprites_loc": 16, "dsprites_ori": 16, "smallnorb_azi": 18, "smallnorb_ele": 9}


class TestCatalog:
    def test_the_19_tasks_with_groups_and_class_counts(self):
        entries = {e.name: e for e in list_datasets() if e.name.startswith("vtab-1k/")}
        assert {n.removeprefix("vtab-1k/") for n in entries} == set(COUNTS)
        for name, count in COUNTS.items():
            assert entries[f"vtab-1k/{name}"].num_classes == count
        groups = [t.group for t in VTAB1K_TASKS]
        assert (groups.count("natural"), groups.count("specialized"), groups.count("structured")) == (7, 4, 8)

    @pytest.mark.parametrize(("spelling", "task"), [
        ("cifar", "cifar100"), ("retinopathy", "diabetic_retinopathy"),
        ("vtab-1k/clevr-count", "clevr_count"), ("pets", "oxford_iiit_pet"),
        ("smallnorb_elevation", "smallnorb_ele")])
    def test_folder_name_variants(self, spelling, task):
        found = vtab1k_task(spelling)
        assert found is not None and found.name == task

    def test_names_with_dashes_or_underscores(self):
        assert get_dataset_entry("vtab-1k/oxford-iiit-pet").name == get_dataset_entry("vtab-1k/oxford_iiit_pet").name

    def test_reads_the_release_folder_name(self):
        splits = load_dataset("vtab-1k/cifar100", root=FIXTURES)  # found as <root>/vtab-1k/cifar
        assert splits.num_classes == 100 and splits.sizes == {"train": 9, "val": 3, "test": 6}
        assert splits.protocol == "given" and splits.stage == "select"

    def test_a_missing_task_says_where_it_is_expected(self):
        with pytest.raises(DatasetNotFoundError) as info:
            load_dataset("vtab-1k/kitti", root=FIXTURES)
        assert f"{FIXTURES}/vtab-1k/kitti/train800.txt does not exist" in str(info.value)
        assert "vtab-1k/kitti/ with train800.txt, val200.txt, train800val200.txt, test.txt" in info.value.hint


class TestStages:
    def test_final_trains_on_train800val200_and_keeps_the_test(self):
        select = load_dataset("vtab-1k/dtd", root=FIXTURES)
        final = load_dataset("vtab-1k/dtd", root=FIXTURES, stage="final")
        assert final.sizes == {"train": 12, "val": 3, "test": 6} and final.stage == "final"
        assert sorted(final.train.paths) == sorted(select.train.paths + select.val.paths)
        assert final.fingerprint("test") == select.fingerprint("test")
        assert final.fingerprint("train") != select.fingerprint("train")

    def test_final_on_drawn_data_trains_on_the_drawn_train_and_val(self):
        import torch

        from promptkit.data import SplitSource, TensorImageDataset
        from promptkit.data.splits import make_splits

        pool = TensorImageDataset(torch.zeros(1200, 3, 2, 2, dtype=torch.uint8), torch.arange(1200) % 3)
        source = SplitSource(train=pool, val=None, test=pool.subset(range(5)), class_names=["a", "b", "c"])
        select = make_splits(source, name="t", origin="t", seed=1, transform=None)
        final = make_splits(source, name="t", origin="t", seed=1, transform=None, stage="final")
        assert (len(select.train), len(select.val), len(final.train)) == (800, 200, 1000)
        assert final.indices["train"] == sorted(select.indices["train"] + select.indices["val"])

    def test_unknown_stage(self):
        with pytest.raises(ValueError, match="unknown stage 'test'"):
            load_dataset("vtab-1k/dtd", root=FIXTURES, stage="test")


class TestByPath:
    def test_a_list_folder_is_a_target_by_path(self):
        splits = load_dataset(str(FIXTURES / "vtab-1k" / "clevr_count"))
        assert splits.name == "clevr_count" and splits.num_classes == 3  # one more than the largest label
        assert splits.sizes == {"train": 9, "val": 3, "test": 6}

    def test_a_fgvc_json_folder_is_a_target_by_path(self):
        splits = load_dataset(str(FIXTURES / "fgvc" / "CUB_200_2011"))
        assert splits.class_names == ["1", "2", "3"]  # VPT's class ids, numbered from 1
        assert splits.train.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
        assert splits.train.root == FIXTURES / "fgvc" / "CUB_200_2011" / "images"
        assert load_dataset(str(FIXTURES / "fgvc" / "CUB_200_2011"), stage="final").sizes["train"] == 12

    def test_fgvc_by_name_checks_the_class_count(self):
        with pytest.raises(DatasetError, match="hold 3 class ids, expected 200"):
            load_dataset("fgvc/cub", root=FIXTURES)

    def test_fgvc_by_name_with_the_full_class_list(self, tmp_path):
        folder = tmp_path / "fgvc" / "Stanford-dogs"
        shutil.copytree(FIXTURES / "fgvc" / "CUB_200_2011" / "images", folder / "Images")
        for split in ("train", "val", "test"):
            data = json.loads((FIXTURES / "fgvc" / "CUB_200_2011" / f"{split}.json").read_text())
            if split == "train":  # 120 breeds: the other 117 point at existing images
                key = next(iter(data))
                (folder / "Images" / "extra").mkdir()
                for c in range(4, 121):
                    shutil.copy(folder / "Images" / key, folder / "Images" / "extra" / f"{c}.jpg")
                    data[f"extra/{c}.jpg"] = c
            (folder / f"{split}.json").write_text(json.dumps(data))
        splits = load_dataset("fgvc/stanford_dogs", root=tmp_path)
        assert splits.num_classes == 120 and len(splits.train) == 9 + 117

    def test_a_folder_without_a_layout(self, tmp_path):
        (tmp_path / "task").mkdir()
        with pytest.raises(DatasetError, match="has no split lists and no train/ folder"):
            load_dataset(str(tmp_path / "task"))


class TestDatasetsCommand:
    def test_lists_the_19_present_or_missing_with_their_path(self):
        result = runner.invoke(app, ["datasets", "--root", str(FIXTURES), "--json"])
        assert result.exit_code == 0, result.output
        rows = {r["name"]: r for r in json.loads(result.output)["datasets"]}
        vtab = {n: r for n, r in rows.items() if n.startswith("vtab-1k/")}
        assert len(vtab) == 19
        assert vtab["vtab-1k/cifar100"]["present"] and vtab["vtab-1k/cifar100"]["path"] == str(
            FIXTURES / "vtab-1k" / "cifar")
        assert not vtab["vtab-1k/sun397"]["present"]
        assert vtab["vtab-1k/sun397"]["path"] == str(FIXTURES / "vtab-1k" / "sun397")
        assert rows["fgvc/cub"]["present"] and rows["fgvc/nabirds"]["path"] == str(FIXTURES / "fgvc" / "nabirds")

    def test_the_table_says_missing_and_where(self):
        result = runner.invoke(app, ["datasets", "--root", str(FIXTURES)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        line = next(ln for ln in result.output.splitlines() if "vtab-1k/kitti" in ln)
        assert "missing" in line and str(FIXTURES / "vtab-1k" / "kitti") in line

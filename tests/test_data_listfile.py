"""Split lists and JSON splits: every bad line is an error naming the file, the line and what is wrong.

The task folders are copies of the committed fixtures (tests/fixtures/vtab-1k, tests/fixtures/fgvc)
with one list edited per test. The CLI test at the end shows the same message through a command.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from promptkit.cli.app import app
from typer.testing import CliRunner

from promptkit.data import load_dataset
from promptkit.data.listfile import read_list_split
from promptkit.errors import DatasetError, ListFileError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
runner = CliRunner()


@pytest.fixture
def task(tmp_path: Path) -> Path:
    """A writable copy of the eurosat fixture (labels 0..2, 10 classes declared)."""
    folder = tmp_path / "vtab-1k" / "eurosat"
    shutil.copytree(FIXTURES / "vtab-1k" / "eurosat", folder)
    return folder


def _edit(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


def _load_error(task: Path) -> ListFileError:
    with pytest.raises(ListFileError) as info:
        load_dataset(str(task))
    return info.value


class TestBadLines:
    def test_missing_image(self, task):
        _edit(task / "train800.txt", 2, "images/train/gone.jpg 0")
        err = _load_error(task)
        assert (err.file, err.line) == (str(task / "train800.txt"), 2)
        assert "image 'images/train/gone.jpg' does not exist" in str(err)
        assert str(err).startswith(f"{task / 'train800.txt'}:2: ")

    def test_label_not_an_integer(self, task):
        _edit(task / "val200.txt", 3, "images/val/02_0.jpg two")
        err = _load_error(task)
        assert str(err) == f"{task / 'val200.txt'}:3: label 'two' is not an integer"

    def test_label_out_of_range_of_the_catalog_task(self, task):
        _edit(task / "test.txt", 4, "images/test/01_1.jpg 10")  # eurosat has 10 classes: 0..9
        with pytest.raises(ListFileError, match=r"test.txt:4: label 10 is out of range \(expected 0..9\)"):
            load_dataset("vtab-1k/eurosat", root=task.parent.parent)

    def test_label_out_of_range_of_a_folder_by_path(self, task):
        _edit(task / "test.txt", 1, "images/test/00_0.jpg 3")  # train and val hold 0..2
        err = _load_error(task)
        assert (err.line, err.problem) == (1, "label 3 is out of range (expected 0..2)")

    def test_label_skipping_classes_in_a_folder_by_path(self, task):
        _edit(task / "train800.txt", 2, "images/train/00_1.jpg 99")  # a typo: train and val hold 0..2
        err = _load_error(task)
        assert (err.file, err.line) == (str(task / "train800.txt"), 2)
        assert err.problem.startswith("label 99 is out of range: no train or val line has class 3")

    def test_negative_label(self, task):
        _edit(task / "train800.txt", 1, "images/train/00_0.jpg -1")
        assert "label -1 is out of range" in str(_load_error(task))

    def test_duplicate_path(self, task):
        _edit(task / "train800.txt", 5, "images/train/00_0.jpg 0")
        err = _load_error(task)
        assert str(err) == f"{task / 'train800.txt'}:5: path 'images/train/00_0.jpg' is listed twice (first on line 1)"

    @pytest.mark.parametrize("path", ["../dtd/images/train/00_0.jpg", "/etc/hostname", "images/../../x.jpg"])
    def test_path_escaping_the_task_folder(self, task, path):
        _edit(task / "val200.txt", 1, f"{path} 0")
        err = _load_error(task)
        assert err.line == 1 and f"path {path!r} escapes the task folder" in str(err)

    def test_link_out_of_the_task_folder(self, task, tmp_path):
        outside = tmp_path / "outside.jpg"
        shutil.copy(task / "images" / "train" / "00_0.jpg", outside)
        (task / "images" / "link.jpg").symlink_to(outside)
        _edit(task / "train800.txt", 1, "images/link.jpg 0")
        err = _load_error(task)
        assert err.line == 1 and "escapes the task folder" in str(err) and "it leads to" in str(err)

    def test_empty_split(self, task):
        (task / "test.txt").write_text("\n\n")
        err = _load_error(task)
        assert str(err) == f"{task / 'test.txt'}: the split is empty (no 'path label' lines)"
        assert err.line == 0 and err.hint

    def test_line_without_label(self, task):
        _edit(task / "train800.txt", 3, "images/train/00_2.jpg")
        assert "train800.txt:3: expected 'relative/path label'" in str(_load_error(task))

    def test_errors_are_dataset_errors_with_a_hint(self, task):
        _edit(task / "train800.txt", 2, "images/train/gone.jpg 0")
        err = _load_error(task)
        assert isinstance(err, DatasetError) and err.hint and err.path == str(task / "train800.txt")


class TestAccepted:
    def test_windows_line_endings_and_spaces_in_names(self):
        listed = read_list_split(FIXTURES / "vtab-1k" / "dtd" / "test.txt", FIXTURES / "vtab-1k" / "dtd")
        assert b"\r\n" in (FIXTURES / "vtab-1k" / "dtd" / "test.txt").read_bytes()  # the fixture keeps them
        assert listed.paths[0] == "images/test/00 img 0.jpg" and listed.labels == [0, 0, 1, 1, 2, 2]

    def test_byte_order_mark_blank_lines_and_backslashes(self, task):
        rows = (task / "val200.txt").read_text().splitlines()
        text = "\ufeff" + rows[0].replace("/", "\\") + "\r\n\r\n" + "\r\n".join(rows[1:]) + "\r\n"
        (task / "val200.txt").write_bytes(text.encode())
        splits = load_dataset(str(task))
        assert splits.val.paths[0] == "images/val/00_0.jpg" and len(splits.val) == 3

    def test_plain_train_val_test_lists(self, task):
        for old, new in (("train800.txt", "train.txt"), ("val200.txt", "val.txt")):
            (task / old).rename(task / new)
        (task / "train800val200.txt").unlink()
        splits = load_dataset(str(task), stage="final")  # no train800val200: train then val
        assert splits.sizes == {"train": 12, "val": 3, "test": 6}


class TestJsonSplits:
    @pytest.fixture
    def cub(self, tmp_path: Path) -> Path:
        folder = tmp_path / "CUB_200_2011"
        shutil.copytree(FIXTURES / "fgvc" / "CUB_200_2011", folder)
        return folder

    def test_duplicate_entry(self, cub):
        text = (cub / "val.json").read_text()
        first = text.splitlines()[1]  # '"001.Bird_1/val_0.jpg": 1,'
        (cub / "val.json").write_text(text.replace("{\n", "{\n" + first + "\n", 1))
        with pytest.raises(ListFileError, match=r"val.json:2: path '001.Bird_1/val_0.jpg' is listed twice"):
            load_dataset(str(cub))

    def test_class_id_not_an_integer_and_missing_image(self, cub):
        data = json.loads((cub / "train.json").read_text())
        key = next(iter(data))
        (cub / "train.json").write_text(json.dumps({**data, key: "bird"}))
        with pytest.raises(ListFileError, match=r"train.json:1: class id 'bird' of .* is not an integer"):
            load_dataset(str(cub))
        (cub / "train.json").write_text(json.dumps({"nowhere.jpg": 1, **data}))
        with pytest.raises(ListFileError, match=r"train.json:1: image 'nowhere.jpg' does not exist"):
            load_dataset(str(cub))

    def test_test_class_unknown_to_training(self, cub):
        data = json.loads((cub / "test.json").read_text())
        (cub / "test.json").write_text(json.dumps({**data, next(iter(data)): 9}))
        with pytest.raises(ListFileError, match=r"test.json:1: class id 9 is not among the training class ids"):
            load_dataset(str(cub))


def test_the_cli_names_file_line_and_problem(task):
    _edit(task / "train800.txt", 4, "images/train/01_0.jpg 1.5")
    result = runner.invoke(app, ["benchmark", "--root", str(task.parent.parent), "--tasks", "eurosat,dtd",
                                 "--backbone", "zoo-vit", "--out", str(task.parent.parent / "out")])
    assert result.exit_code == 1, result.output
    assert f"error: {task / 'train800.txt'}:4: label '1.5' is not an integer" in result.output
    assert "hint:" in result.output

"""A task folder given by path: split lists, JSON splits, or class folders.

Three layouts are read, tried in this order (:func:`load_task_folder`):

- split lists: VTAB-1k's ``train800.txt``, ``val200.txt``, ``train800val200.txt`` and
  ``test.txt`` as NOAH, SSF and SPT distribute them, or ``train.txt`` / ``val.txt`` / ``test.txt``
  of the same shape, one ``relative/path label`` per line (:func:`load_list_folder`);
- JSON splits: ``train.json``, ``val.json``, ``test.json`` mapping image paths to class ids, as
  the VPT release (Jia et al., ECCV 2022) distributes FGVC (:func:`load_json_folder`);
- class folders: ``train/<class>/...``, ``test/<class>/...`` (:mod:`promptkit.data.imagefolder`).

Lists and JSON splits are used as given (no 800 / 200 draw); their union of train and val is
what the ``final`` stage trains on (:func:`promptkit.data.splits.make_splits`).
"""

from __future__ import annotations

from pathlib import Path

from promptkit.data.datasets import ImageFileDataset
from promptkit.data.imagefolder import FOLDER_LAYOUT, load_image_folder
from promptkit.data.listfile import ListedSplit, read_json_split, read_list_split
from promptkit.data.splits import SplitSource
from promptkit.errors import DatasetError, ListFileError
from promptkit.progress import PhaseProgress

__all__ = [
    "JSON_LISTS",
    "LIST_LAYOUT",
    "PLAIN_LISTS",
    "TASK_FOLDER_LAYOUTS",
    "VTAB1K_LISTS",
    "find_json_lists",
    "find_lists",
    "load_json_folder",
    "load_list_folder",
    "load_task_folder",
]

VTAB1K_LISTS = ("train800.txt", "val200.txt", "train800val200.txt", "test.txt")
PLAIN_LISTS = ("train.txt", "val.txt", "test.txt")
JSON_LISTS = ("train.json", "val.json", "test.json")
LIST_LAYOUT = ("train800.txt, val200.txt, train800val200.txt and test.txt (or train.txt, val.txt, test.txt), "
               "one 'relative/path label' per line")
TASK_FOLDER_LAYOUTS = f"{LIST_LAYOUT}; or train.json, val.json, test.json (image path -> class id); or {FOLDER_LAYOUT}"


def find_lists(folder: Path) -> dict[str, Path] | None:
    """The split lists of a list-layout folder, keyed ``train``, ``val``, ``trainval``, ``test``; else ``None``.

    The VTAB-1k names win when both forms are present; ``trainval`` is absent in the plain form.
    """
    if all((folder / name).is_file() for name in VTAB1K_LISTS):
        return dict(zip(("train", "val", "trainval", "test"), (folder / n for n in VTAB1K_LISTS), strict=True))
    if all((folder / name).is_file() for name in PLAIN_LISTS):
        return dict(zip(("train", "val", "test"), (folder / n for n in PLAIN_LISTS), strict=True))
    return None


def _dataset(folder: Path, listed: ListedSplit) -> ImageFileDataset:
    return ImageFileDataset(folder, listed.paths, listed.labels, listed.sizes)


def load_list_folder(
    folder: Path, *, num_classes: int | None = None, verify: bool = False, progress: PhaseProgress | None = None
) -> SplitSource:
    """Read a folder of split lists (VTAB-1k's four, or ``train`` / ``val`` / ``test``) into a source.

    Args:
        folder: the task folder; listed paths are relative to it.
        num_classes: the task's class count (labels must lie below it); ``None``: one more
            than the largest training or validation label, and test labels must lie below that.
        verify: open every image's header now.
        progress: ``callback(done, total)`` while verifying.

    Returns:
        train / val / test (and ``trainval``) as given, class names ``"0" .. "C-1"``.

    Raises:
        ListFileError: a bad line, naming the file and line (:mod:`promptkit.data.listfile`).
        DatasetError: the lists are not there, or fewer than 2 classes.
    """
    folder = Path(folder).expanduser()
    lists = find_lists(folder)
    if lists is None:
        raise DatasetError(f"no split lists in {folder}", path=str(folder), hint=f"expected {LIST_LAYOUT}")
    train = read_list_split(lists["train"], folder, num_classes=num_classes)
    val = read_list_split(lists["val"], folder, num_classes=num_classes)
    if num_classes is None:
        _check_labels_contiguous(train, val, lists)
    count = num_classes if num_classes is not None else max(train.labels + val.labels) + 1
    if count < 2:
        raise DatasetError(f"{folder}: the training and validation lists hold {count} class(es); "
                           "a classification task needs at least 2", path=str(folder))
    trainval = read_list_split(lists["trainval"], folder, num_classes=count) if "trainval" in lists else None
    test = read_list_split(lists["test"], folder, num_classes=count)
    parts = [_dataset(folder, s) for s in (train, val, test)]
    if verify:
        _verify(parts, progress)
    return SplitSource(train=parts[0], val=parts[1], test=parts[2], class_names=[str(i) for i in range(count)],
                       protocol="given", trainval=None if trainval is None else _dataset(folder, trainval))


def _check_labels_contiguous(train: ListedSplit, val: ListedSplit, lists: dict[str, Path]) -> None:
    """Labels of a folder by path (no declared class count) must be 0..C-1 with none skipped.

    A skipped class is most often a mistyped label (``99`` for ``9``): name its first line.

    Raises:
        ListFileError: at the first line whose label lies above a class no train or val line uses.
    """
    present = set(train.labels) | set(val.labels)
    missing = next(c for c in range(len(present) + 1) if c not in present)  # the smallest unused class
    if missing >= max(present, default=-1):
        return
    for split, listed in (("train", train), ("val", val)):
        for label, line in zip(listed.labels, listed.lines, strict=True):
            if label > missing:
                raise ListFileError(str(lists[split]), line,
                                    f"label {label} is out of range: no train or val line has class {missing}, so "
                                    f"the labels are not 0..C-1",
                                    hint="labels are class indices 0..C-1; check this line for a typo")


def find_json_lists(folder: Path) -> dict[str, Path] | None:
    """``train.json``, ``val.json``, ``test.json`` of a folder keyed ``train``, ``val``, ``test``; else ``None``."""
    if all((folder / name).is_file() for name in JSON_LISTS):
        return dict(zip(("train", "val", "test"), (folder / n for n in JSON_LISTS), strict=True))
    return None


def _class_index(listed: dict[str, ListedSplit], lists: dict[str, Path], expected: int | None,
                 folder: Path) -> dict[int, int]:
    """Class id -> label 0..C-1, over the sorted ids of train and val (as VPT numbers them)."""
    ids = sorted(set(listed["train"].labels) | set(listed["val"].labels))
    if len(ids) < 2:
        raise DatasetError(f"{folder}: train.json and val.json hold {len(ids)} class id(s); at least 2 are needed",
                           path=str(folder))
    if expected is not None and len(ids) != expected:
        raise DatasetError(f"{folder}: train.json and val.json hold {len(ids)} class ids, expected {expected}",
                           path=str(folder), hint="the files look incomplete; re-extract the task")
    index = {cid: i for i, cid in enumerate(ids)}
    for split in ("test",):
        for cid, line in zip(listed[split].labels, listed[split].lines, strict=True):
            if cid not in index:
                raise ListFileError(str(lists[split]), line, f"class id {cid} is not among the training class ids",
                                    hint="every test class must appear in train.json or val.json")
    return index


def load_json_folder(
    folder: Path, *, images: str = "", num_classes: int | None = None, verify: bool = False,
    progress: PhaseProgress | None = None,
) -> SplitSource:
    """Read ``train.json`` / ``val.json`` / ``test.json`` (VPT's FGVC release) into a source.

    Args:
        folder: the task folder holding the three JSON files.
        images: the sub-folder the JSON paths are relative to (``images`` for CUB, ``Images``
            for Stanford Dogs; ``""``: the task folder itself).
        num_classes: the class count the training ids must have; ``None``: not checked.
        verify: open every image's header now.
        progress: ``callback(done, total)`` while verifying.

    Returns:
        train / val / test as given, labels the rank of each class id among the training ids,
        class names the ids as written.

    Raises:
        ListFileError: a bad entry, naming the file and entry.
        DatasetError: the files are not there, or the class count is wrong.
    """
    folder = Path(folder).expanduser()
    lists = find_json_lists(folder)
    if lists is None:
        raise DatasetError(f"no {', '.join(JSON_LISTS)} in {folder}", path=str(folder))
    base = folder / images if images else folder
    listed = {split: read_json_split(path, base) for split, path in lists.items()}
    index = _class_index(listed, lists, num_classes, folder)
    parts = {split: ImageFileDataset(base, s.paths, [index[c] for c in s.labels], s.sizes)
             for split, s in listed.items()}
    if verify:
        _verify(list(parts.values()), progress)
    return SplitSource(train=parts["train"], val=parts["val"], test=parts["test"],
                       class_names=[str(c) for c in index], protocol="given")


def _verify(parts: list[ImageFileDataset], progress: PhaseProgress | None) -> None:
    total, done = sum(len(d) for d in parts), 0
    for d in parts:
        d.verify(progress=None if progress is None else lambda i, _n, base=done: progress(base + i, total))
        done += len(d)


def load_task_folder(folder: Path, *, verify: bool = False, progress: PhaseProgress | None = None) -> SplitSource:
    """Read a task folder given by path, whichever of the three layouts it has (module docstring).

    Raises:
        ListFileError: a bad list line or JSON entry.
        DatasetError: none of the layouts, or an unusable one (naming the file or folder).
    """
    folder = Path(folder).expanduser()
    if find_lists(folder) is not None:
        return load_list_folder(folder, verify=verify, progress=progress)
    if find_json_lists(folder) is not None:
        images = next((d for d in ("images", "Images") if (folder / d).is_dir()), "")
        return load_json_folder(folder, images=images, verify=verify, progress=progress)
    if not (folder / "train").is_dir():
        raise DatasetError(f"{folder} has no split lists and no train/ folder", path=str(folder),
                           hint=f"expected {TASK_FOLDER_LAYOUTS}")
    return load_image_folder(folder, verify=verify, progress=progress)

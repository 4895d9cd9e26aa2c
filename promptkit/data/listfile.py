"""Split lists: the text files (``relative/path label``) and JSON files (``{path: class id}``) of a task folder.

Two list formats are in circulation for the benchmarks parameter-efficient tuning papers report:

- VTAB-1k as NOAH (Zhang et al., "Neural Prompt Search", arXiv 2206.04673), SSF and SPT
  distribute it: ``train800.txt``, ``val200.txt``, ``train800val200.txt`` and ``test.txt`` in
  each task folder, one ``relative/path label`` per line, the label an integer class index;
- FGVC as the VPT release (Jia et al., ECCV 2022) distributes it: ``train.json``, ``val.json``
  and ``test.json``, each an object mapping an image path to a class id.

Every problem is a :class:`~promptkit.errors.ListFileError` naming the file, the line (the
entry, for JSON) and what is wrong: a line without a label, a label that is not an integer
or is out of range, a path listed twice, a path that leaves the task folder (absolute, or
through ``..`` or a link), a missing image, an empty split. Windows line endings, a byte-order
mark, blank lines and spaces inside file names are accepted: the label is the last
whitespace-separated field and the path is everything before it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from promptkit.errors import ListFileError

__all__ = ["ListedSplit", "read_json_split", "read_list_split"]


@dataclass(frozen=True)
class ListedSplit:
    """The entries of one split list, in file order.

    Attributes:
        paths: image paths relative to the image folder, POSIX form.
        labels: integer class of each entry (JSON ids are kept as given; see :func:`read_json_split`).
        sizes: byte size of each file (for the dataset fingerprint).
        lines: line number (text lists) or entry number (JSON) of each path, for later errors.
    """

    paths: list[str]
    labels: list[int]
    sizes: list[int]
    lines: list[int]

    def append(self, path: str, label: int, size: int, line: int) -> None:
        """Add one entry."""
        self.paths.append(path)
        self.labels.append(label)
        self.sizes.append(size)
        self.lines.append(line)

    def nonempty(self, file: Path, what: str) -> ListedSplit:
        """This split; an empty one is an error naming ``file``.

        Raises:
            ListFileError: no entry was read (``what`` says what is missing).
        """
        if not self.paths:
            raise ListFileError(str(file), 0, f"the split is empty ({what})",
                                hint="the file was cut short or is the wrong file; re-extract the task")
        return self


def _parse_line(text: str, file: Path, lineno: int) -> tuple[str, str]:
    parts = text.rsplit(None, 1)
    if len(parts) != 2:
        raise ListFileError(str(file), lineno, f"expected 'relative/path label', got {text!r}",
                            hint="each line holds an image path relative to the task folder, a space and its label")
    return parts[0].strip(), parts[1]


def _checked_path(rel: str, folder: Path, resolved_folder: Path, file: Path, lineno: int) -> tuple[str, int]:
    """``(posix path, byte size)`` of a listed image that stays inside ``folder``."""
    rel = rel.replace("\\", "/")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or rel.startswith("~") or ".." in pure.parts or (len(rel) > 1 and rel[1] == ":"):
        raise ListFileError(str(file), lineno, f"path {rel!r} escapes the task folder {folder}",
                            hint="list paths relative to the task folder, without '..' or a leading '/'")
    target = folder / rel
    try:
        size = target.stat().st_size
    except OSError:
        raise ListFileError(str(file), lineno, f"image {rel!r} does not exist (looked for {target})",
                            hint="the download looks incomplete: re-extract the task's images/ folder") from None
    real = target.resolve()
    if real != resolved_folder and resolved_folder not in real.parents:
        raise ListFileError(str(file), lineno, f"path {rel!r} escapes the task folder {folder} (it leads to {real})",
                            hint="keep the images inside the task folder; links out of it are refused")
    return PurePosixPath(*pure.parts).as_posix(), size


def _label(text: str, file: Path, lineno: int, num_classes: int | None) -> int:
    try:
        label = int(text)
    except ValueError:
        raise ListFileError(str(file), lineno, f"label {text!r} is not an integer",
                            hint="each line ends with the image's class index, e.g. 'images/0001.jpg 3'") from None
    if label < 0 or (num_classes is not None and label >= num_classes):
        span = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
        raise ListFileError(str(file), lineno, f"label {label} is out of range (expected {span})",
                            hint="the list does not belong to this task, or the task's class count is wrong")
    return label


def read_list_split(
    file: Path, folder: Path, *, num_classes: int | None = None, check_files: bool = True
) -> ListedSplit:
    """Read one text split list (``train800.txt``, ``test.txt``, ...).

    Args:
        file: the list file.
        folder: the task folder the listed paths are relative to.
        num_classes: labels must lie in ``0 .. num_classes - 1``; ``None``: only ``>= 0``.
        check_files: stat every listed image (a missing one is an error naming its line).

    Raises:
        ListFileError: see the module docstring.
    """
    try:
        raw = file.read_bytes()
    except OSError as err:
        raise ListFileError(str(file), 0, f"cannot read the list: {err.strerror or err}") from err
    text = raw.decode("utf-8-sig", errors="replace")
    resolved = folder.resolve()
    out = ListedSplit([], [], [], [])
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):  # splitlines drops \r\n and \r alike
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        rel, label_text = _parse_line(line.strip(), file, lineno)
        label = _label(label_text, file, lineno, num_classes)
        if check_files:
            rel, size = _checked_path(rel, folder, resolved, file, lineno)
        else:
            size = 0
        if rel in seen:
            raise ListFileError(str(file), lineno, f"path {rel!r} is listed twice (first on line {seen[rel]})",
                                hint="remove the duplicate line; each image belongs once to a split")
        seen[rel] = lineno
        out.append(rel, label, size, lineno)
    return out.nonempty(file, "no 'path label' lines")


class _Pairs(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs in file order, so that a key given twice is seen."""


def read_json_split(file: Path, images: Path, *, check_files: bool = True) -> ListedSplit:
    """Read one JSON split (``train.json``, ``val.json``, ``test.json``: image path -> class id).

    The class ids are returned as given (VPT's files number CUB's classes from 1); the caller
    maps them to ``0 .. C-1`` over the training ids. Entry numbers count from 1 in file order.

    Raises:
        ListFileError: not a JSON object, a class id that is not an integer, a path that leaves
            ``images``, a missing image, an empty split.
    """
    try:
        data = json.loads(file.read_bytes().decode("utf-8-sig"), object_pairs_hook=_Pairs)
    except OSError as err:
        raise ListFileError(str(file), 0, f"cannot read the list: {err.strerror or err}") from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        line = getattr(err, "lineno", 0)
        raise ListFileError(str(file), line, f"not valid JSON: {getattr(err, 'msg', err)}",
                            hint="expected an object mapping image paths to class ids") from err
    if not isinstance(data, _Pairs):
        raise ListFileError(str(file), 0,
                            f"expected a JSON object of image path -> class id, got {type(data).__name__}")
    resolved = images.resolve()
    out = ListedSplit([], [], [], [])
    seen: dict[str, int] = {}
    for number, (rel, value) in enumerate(data, start=1):
        if rel in seen:
            raise ListFileError(str(file), number, f"path {rel!r} is listed twice (first as entry {seen[rel]})",
                                hint="remove the duplicate entry; each image belongs once to a split")
        seen[rel] = number
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().lstrip("-").isdigit():
            raise ListFileError(str(file), number, f"class id {value!r} of {rel!r} is not an integer")
        label = int(value)
        size = _checked_path(str(rel), images, resolved, file, number)[1] if check_files else 0
        out.append(str(rel).replace("\\", "/"), label, size, number)
    return out.nonempty(file, "no entries")


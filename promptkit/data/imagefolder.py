"""Any folder of images as a classification task.

Layout::

    <folder>/train/<class>/<image>    required, at least 2 classes
    <folder>/test/<class>/<image>     required, classes a subset of train's
    <folder>/val/<class>/<image>      optional

Class folders may nest sub-folders; hidden files and files that are not images (by suffix,
:data:`~promptkit.data.datasets.IMAGE_EXTENSIONS`) are ignored. Class indices follow the
sorted names of the train class folders. With ``val/``, the three splits are used as given;
without it, train and val are drawn from ``train/`` by the VTAB-1k rule
(:func:`~promptkit.data.splits.vtab1k_indices`).

Problems are :class:`~promptkit.errors.DatasetError` naming the file or folder: a missing
``train/`` or ``test/``, a class folder without images, an image outside a class folder,
fewer than 2 classes, test or val classes that train lacks, and (when loaded, or up front
with ``verify=True``) an unreadable image.
"""

from __future__ import annotations

import os
from pathlib import Path

from promptkit.data.datasets import IMAGE_EXTENSIONS, ImageFileDataset
from promptkit.data.splits import SplitSource
from promptkit.errors import DatasetError
from promptkit.progress import PhaseProgress

__all__ = ["FOLDER_LAYOUT", "load_image_folder", "scan_split"]

FOLDER_LAYOUT = "train/<class>/<image>, test/<class>/<image> and optionally val/<class>/<image>"
_EXTS = ", ".join(sorted(IMAGE_EXTENSIONS))


def _is_image(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _class_dirs(split_dir: Path) -> list[Path]:
    dirs, stray = [], []
    with os.scandir(split_dir) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                dirs.append(Path(entry.path))
            elif _is_image(entry.name):
                stray.append(entry.name)
    if stray:
        raise DatasetError(
            f"{split_dir} holds images outside class folders (e.g. {sorted(stray)[0]!r})",
            path=str(split_dir),
            hint=f"move each image into a folder named after its class: {FOLDER_LAYOUT}",
        )
    return sorted(dirs, key=lambda p: p.name)


def _images_in(class_dir: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # deterministic walk order
        found.extend(Path(dirpath) / f for f in sorted(filenames) if _is_image(f))
    if not found:
        raise DatasetError(
            f"class folder {class_dir} has no images (looked for {_EXTS})",
            path=str(class_dir),
            hint="add images to it or remove the empty folder",
        )
    return found


def scan_split(
    folder: Path, split: str, *, class_names: list[str] | None = None
) -> tuple[ImageFileDataset, list[str]]:
    """Read ``folder/split/<class>/...`` into a dataset (no image is decoded).

    Args:
        folder: the dataset folder; paths in the result are relative to it.
        split: sub-folder name (``train``, ``val`` or ``test``).
        class_names: the train classes, fixing the label of each class folder; ``None`` for
            train itself (the classes are then the sorted folder names).

    Returns:
        ``(dataset, class_names)``.

    Raises:
        DatasetError: see the module docstring.
    """
    split_dir = folder / split
    if not split_dir.is_dir():
        raise DatasetError(f"no {split}/ folder in {folder}", path=str(split_dir), hint=f"expected {FOLDER_LAYOUT}")
    dirs = _class_dirs(split_dir)
    if class_names is None:
        class_names = [d.name for d in dirs]
        if len(class_names) < 2:
            raise DatasetError(
                f"{split_dir} has {len(class_names)} class folder(s); a classification task needs at least 2",
                path=str(split_dir),
                hint=f"add one folder of images per class: {FOLDER_LAYOUT}",
            )
    else:
        unknown = sorted({d.name for d in dirs} - set(class_names))
        if unknown:
            raise DatasetError(
                f"{split_dir} has classes that {folder / 'train'} lacks: {', '.join(unknown)}",
                path=str(split_dir),
                hint="every class must have training images; add them under train/ or remove these folders",
            )
    index = {name: i for i, name in enumerate(class_names)}
    paths, labels, sizes = [], [], []
    for class_dir in dirs:
        for file in _images_in(class_dir):
            paths.append(file.relative_to(folder).as_posix())
            labels.append(index[class_dir.name])
            sizes.append(file.stat().st_size)
    return ImageFileDataset(folder, paths, labels, sizes), class_names


def load_image_folder(
    folder: Path, *, verify: bool = False, progress: PhaseProgress | None = None
) -> SplitSource:
    """Read an image folder (layout in the module docstring).

    Args:
        folder: the dataset folder.
        verify: also open every image's header with PIL now, instead of failing at first use.
        progress: ``callback(done, total)`` during verification.

    Raises:
        DatasetError: naming the file or folder at fault.
    """
    folder = Path(folder).expanduser().resolve()
    train, class_names = scan_split(folder, "train")
    val = scan_split(folder, "val", class_names=class_names)[0] if (folder / "val").is_dir() else None
    test = scan_split(folder, "test", class_names=class_names)[0]
    if verify:
        parts = [d for d in (train, val, test) if d is not None]
        total, done = sum(len(d) for d in parts), 0
        for d in parts:
            d.verify(progress=None if progress is None else lambda i, _n, base=done: progress(base + i, total))
            done += len(d)
    protocol = "vtab1k" if val is None else "given"
    return SplitSource(train=train, val=val, test=test, class_names=class_names, protocol=protocol)

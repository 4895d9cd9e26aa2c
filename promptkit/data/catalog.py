"""The dataset catalog: names -> loaders, and :func:`load_dataset` for a name or a folder.

Three kinds of dataset (README.md#datasets):
- real VTAB datasets by name (``dtd``, ``svhn``, ``cifar100``, ``eurosat``; see
  :mod:`promptkit.data.vtab`), read from a local root with an explicit download step;
- generated in-memory tasks (the embedded zoo) registered with :func:`register_generated`;
- VTAB-1k's 19 tasks as split lists (``vtab-1k/dtd``, ...; :mod:`promptkit.data.vtab1k`) and
  FGVC's 5 as JSON splits (``fgvc/cub``, ...; :mod:`promptkit.data.fgvc`), read where the user
  placed them under the root;
- any task folder, given as a path: split lists, JSON splits or class folders
  (:mod:`promptkit.data.taskfolder`).

A dataset that is not there is a :class:`~promptkit.errors.DatasetNotFoundError` whose hint
says how to get it; nothing is ever substituted silently.

Root of the named datasets: the ``root`` argument, else ``$PROMPTKIT_DATA``, else
``$PROMPTKIT_HOME/datasets`` (``PROMPTKIT_HOME`` defaults to ``~/.cache/promptkit``).
"""

from __future__ import annotations

import difflib
import os
import urllib.error
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from promptkit._io import promptkit_home
from promptkit.data.datasets import TensorImageDataset
from promptkit.data.splits import STAGES, Splits, SplitSource, make_splits
from promptkit.data.taskfolder import TASK_FOLDER_LAYOUTS, load_task_folder
from promptkit.errors import DatasetError, DatasetNotFoundError, UsageError
from promptkit.plugins import Registry
from promptkit.progress import PhaseProgress

__all__ = [
    "DATASETS",
    "DatasetEntry",
    "GeneratorFn",
    "LoaderFn",
    "add_dataset",
    "dataset_root",
    "download_dataset",
    "get_dataset_entry",
    "list_datasets",
    "load_dataset",
    "register_dataset",
    "register_generated",
]

# loader(root, *, seed, verify, progress) -> SplitSource; root is the catalog root, not the dataset's own folder
LoaderFn = Callable[..., SplitSource]
# generator(split, *, seed) -> (images uint8 (N, 3, H, W), labels int64 (N,))
GeneratorFn = Callable[..., tuple[Any, Any]]
DownloadFn = Callable[[Path], None]


@dataclass(frozen=True)
class DatasetEntry:
    """One name in the catalog.

    Attributes:
        name: what users type (``--dataset dtd``).
        group: VTAB group (``natural``, ``specialized``, ``structured``) or another family name.
        description: one line for ``promptkit datasets``.
        num_classes: number of classes the loaded dataset must have (``None``: not checked).
        kind: ``"disk"`` (files under a root) or ``"generated"`` (made in memory, always present).
        layout: the files expected under the root, for error hints.
        homepage: where the dataset is described.
        files: paths under the root (under the dataset's folder, with ``folders``) whose
            existence means the dataset is present.
        folders: the dataset's own folder under the root, as each release names it; the first
            that exists is used, the first of all is where a missing one is expected.
        downloadable: whether ``download_dataset`` can fetch it.
    """

    name: str
    group: str
    description: str
    num_classes: int | None
    kind: str = "disk"
    layout: str = ""
    homepage: str = ""
    files: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    loader: LoaderFn | None = field(default=None, repr=False, compare=False)
    download_fn: DownloadFn | None = field(default=None, repr=False, compare=False)

    @property
    def downloadable(self) -> bool:
        return self.download_fn is not None

    def location(self, root: Path | None = None) -> Path:
        """Where the dataset's files are (or are expected): its folder among ``folders``, else the root."""
        base = dataset_root(root)
        if not self.folders:  # the top folder of the first needed file (dtd/, svhn/), else the root itself
            return base / Path(self.files[0]).parts[0] if self.files and len(Path(self.files[0]).parts) > 1 else base
        return next((base / f for f in self.folders if (base / f).is_dir()), base / self.folders[0])

    def missing_file(self, root: Path | None = None) -> Path | None:
        """The first file the loader needs that is not there (``None``: present; generated tasks always are)."""
        if self.kind == "generated":
            return None
        where = self.location(root) if self.folders else dataset_root(root)
        return next((where / rel for rel in self.files if not (where / rel).exists()), None)

    def is_present(self, root: Path | None = None) -> bool:
        """Whether the files the loader needs are under ``root`` (generated tasks always are)."""
        return self.missing_file(root) is None

    def how_to_get(self, root: Path | None = None) -> str:
        """The hint for a missing dataset: the download command and the expected layout."""
        base = dataset_root(root)
        steps = []
        if self.downloadable:
            steps.append(f"download it with `promptkit datasets --download {self.name} --root {base}` (needs network)")
        if self.layout:
            steps.append(f"place the files under {base} as {self.layout}")
        if self.homepage:
            steps.append(f"source: {self.homepage}")
        return "; or ".join(steps[:2]) + (f" ({steps[2]})" if len(steps) > 2 else "")


def _entry_summary(entry: DatasetEntry) -> str:
    return entry.description


# name -> entry; the built-ins (VTAB loaders, the embedded zoo's tasks) are listed in promptkit/builtins.py.
DATASETS: Registry[DatasetEntry] = Registry(
    "dataset", home=__name__, listing="promptkit datasets", summarize=_entry_summary
)


def dataset_root(root: str | os.PathLike[str] | None = None) -> Path:
    """``root`` if given, else ``$PROMPTKIT_DATA``, else ``$PROMPTKIT_HOME/datasets``."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("PROMPTKIT_DATA"):
        return Path(os.environ["PROMPTKIT_DATA"]).expanduser()
    return promptkit_home() / "datasets"


def add_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Register a catalog entry under its name.

    Raises:
        ValueError: the name is taken, or would read as a path.
    """
    family, _, task = entry.name.rpartition("/")
    if not task or "/" in family or entry.name.startswith((".", "~", "/")) or family.startswith("."):
        raise ValueError(f"dataset name {entry.name!r} would read as a path; choose a plain name or family/name")
    return DATASETS.add(entry.name, entry)


def register_dataset(
    name: str,
    *,
    group: str,
    description: str,
    num_classes: int | None,
    files: Sequence[str],
    layout: str = "",
    homepage: str = "",
    download: DownloadFn | None = None,
) -> Callable[[LoaderFn], LoaderFn]:
    """Decorator: register ``loader(root, *, seed, verify, progress) -> SplitSource`` under ``name``.

    Args:
        name: catalog name.
        group: VTAB group or family.
        description: one line.
        num_classes: classes the loaded dataset must have; a different count is an error
            (it usually means an incomplete download).
        files: paths under the root that must exist for the dataset to count as present.
        layout: human description of the files under the root, for error hints.
        homepage: the dataset's page.
        download: ``download(root)`` fetching the official files (with their md5s) into ``root``.
    """

    def decorate(loader: LoaderFn) -> LoaderFn:
        add_dataset(DatasetEntry(
            name=name, group=group, description=description, num_classes=num_classes, kind="disk",
            layout=layout, homepage=homepage, files=tuple(files), loader=loader, download_fn=download,
        ))
        return loader

    return decorate


def register_generated(
    name: str,
    generator: GeneratorFn,
    *,
    group: str,
    description: str,
    num_classes: int,
    class_names: Sequence[str] | None = None,
    splits: Sequence[str] = ("train", "val", "test"),
) -> DatasetEntry:
    """Register a task generated in memory, e.g. one of the embedded zoo's tasks.

    Args:
        name: catalog name.
        generator: ``generator(split, *, seed) -> (images, labels)`` with images uint8
            ``(N, 3, H, W)`` and labels int ``(N,)``; must be deterministic in ``seed``.
        group: family name.
        description: one line.
        num_classes: labels must lie in ``0 .. num_classes - 1``.
        class_names: defaults to ``"0" .. str(num_classes - 1)``.
        splits: the splits the generator makes; without ``"val"``, train and val are drawn
            from ``"train"`` by the VTAB-1k rule, with it they are used as generated.

    Returns:
        The new entry.
    """
    if "train" not in splits or "test" not in splits:
        raise ValueError(f"a generated task needs 'train' and 'test' splits, got {tuple(splits)}")
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for {num_classes} classes")
    qualname = getattr(generator, "__qualname__", type(generator).__name__)

    def load(root: Path, *, seed: int, verify: bool = False, progress: PhaseProgress | None = None) -> SplitSource:
        made = {s: TensorImageDataset(*generator(s, seed=seed)) for s in splits}
        return SplitSource(
            train=made["train"], val=made.get("val"), test=made["test"], class_names=names,
            protocol="given" if "val" in made else "vtab1k", generator=f"{name}:{qualname}(seed={seed})",
        )

    return add_dataset(DatasetEntry(
        name=name, group=group, description=description, num_classes=num_classes, kind="generated", loader=load,
    ))


def list_datasets() -> list[DatasetEntry]:
    """Every catalog entry, sorted by group then name."""
    return sorted(DATASETS.values(), key=lambda e: (e.group, e.name))


def _looks_like_path(text: str) -> bool:
    return "/" in text or os.sep in text or text.startswith((".", "~"))


def get_dataset_entry(name: str) -> DatasetEntry:
    """The catalog entry for ``name``.

    Raises:
        DatasetNotFoundError: unknown name; the hint lists close names.
    """
    if name in DATASETS:
        return DATASETS[name]
    close = difflib.get_close_matches(name, DATASETS.names(), n=3, cutoff=0.5)
    guess = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    raise DatasetNotFoundError(
        name,
        detail="not a catalog name and not a folder",
        hint=f"{guess}run `promptkit datasets` to list known names, or pass the path of a task folder "
        f"with {TASK_FOLDER_LAYOUTS}",
    )


def download_dataset(name: str, *, root: Path | None = None) -> Path:
    """Fetch a catalog dataset's official files (verified by md5) into the root.

    Downloading is always explicit: :func:`load_dataset` only downloads with ``download=True``.

    Returns:
        The root the files were placed under.

    Raises:
        DatasetNotFoundError: unknown name, a dataset with no download, or a failed download.
    """
    entry = get_dataset_entry(name)
    base = dataset_root(root)
    if entry.kind == "generated":
        return base
    if entry.download_fn is None:
        raise DatasetNotFoundError(name, detail="no download is available", hint=entry.how_to_get(root))
    base.mkdir(parents=True, exist_ok=True)
    try:
        entry.download_fn(base)
    except (OSError, RuntimeError, urllib.error.URLError) as err:  # network errors, md5 mismatch (RuntimeError)
        raise DatasetNotFoundError(
            name, detail=f"download failed: {err}", hint=f"check the network and retry, or {entry.how_to_get(root)}"
        ) from err
    if not entry.is_present(base):
        raise DatasetError(
            f"{name}: the download finished but {', '.join(entry.files)} are not all under {base}",
            path=str(base),
            hint=entry.how_to_get(root),
        )
    return base


def load_dataset(
    name_or_path: str | os.PathLike[str],
    *,
    root: Path | None = None,
    download: bool = False,
    transform: Callable[[Any], torch.Tensor] | None = None,
    seed: int = 0,
    image_size: int | None = None,
    verify: bool = False,
    progress: PhaseProgress | None = None,
    stage: str = "select",
) -> Splits:
    """Load a target task's train / val / test splits.

    ``name_or_path`` is looked up in the catalog first; otherwise an existing folder is read as
    a task folder (split lists, JSON splits or class folders). Write ``./name`` to force a
    folder whose name is also a catalog name.

    Args:
        name_or_path: catalog name (``promptkit datasets`` lists them) or image-folder path.
        root: where named datasets live (see the module docstring); unused for folders.
        download: fetch a missing named dataset first (needs network); never implicit.
        transform: image -> float tensor ``(3, H, W)``, e.g. :func:`transform_for(model)
            <promptkit.data.transforms.transform_for>`; ``None`` gives
            :class:`~promptkit.data.datasets.DefaultTransform` (``[0, 1]``, no normalization).
        seed: seed of the VTAB-1k train / val draw (and of generated data).
        image_size: resize and centre-crop to this size; only with ``transform=None``.
        verify: open every image file's header now rather than failing mid-epoch.
        progress: ``callback(done, total)`` while verifying.
        stage: ``"select"`` (train on train, choose on val: the default) or ``"final"``
            (train on train and val together -- VTAB-1k's train800val200 -- and report on
            test, as the papers do once their choices are made).

    Raises:
        DatasetNotFoundError: unknown name, missing folder, or a named dataset not under the
            root (the hint gives the ``--download`` command and the expected layout).
        DatasetError: the data is there but unusable (the error names the file or folder).
        UsageError: ``transform`` and ``image_size`` together, a negative seed, an unknown stage.
    """
    if transform is not None and image_size is not None:
        raise UsageError(
            "image_size only applies to the default transform; got both transform and image_size",
            hint="resize inside your transform, or drop the transform",
        )
    if seed < 0:
        raise UsageError(f"seed must be >= 0, got {seed}")
    if stage not in STAGES:
        raise UsageError(f"unknown stage {stage!r}", hint=f"choose {' or '.join(STAGES)}")
    tf = transform if transform is not None else _default_transform(image_size)
    text = os.fspath(name_or_path)
    if text in DATASETS and not isinstance(name_or_path, os.PathLike):
        return _load_named(DATASETS[text], root=root, download=download, transform=tf, seed=seed, verify=verify,
                           progress=progress, stage=stage)
    folder = Path(text).expanduser()
    if folder.is_dir():
        source = load_task_folder(folder, verify=verify, progress=progress)
        return make_splits(source, name=folder.resolve().name, origin=str(folder.resolve()), seed=seed, transform=tf,
                           stage=stage)
    if _looks_like_path(text) or isinstance(name_or_path, os.PathLike):
        raise DatasetNotFoundError(
            text,
            detail=f"no folder at {folder.resolve()}" if not folder.exists() else f"{folder} is not a folder",
            hint=f"pass a task folder with {TASK_FOLDER_LAYOUTS}, or a catalog name (`promptkit datasets`)",
        )
    get_dataset_entry(text)  # raises with close names
    raise AssertionError("unreachable")


def _default_transform(image_size: int | None) -> Callable[[Any], torch.Tensor]:
    from promptkit.data.datasets import DefaultTransform

    return DefaultTransform(image_size)


def _load_named(
    entry: DatasetEntry,
    *,
    root: Path | None,
    download: bool,
    transform: Callable[[Any], torch.Tensor],
    seed: int,
    verify: bool,
    progress: PhaseProgress | None,
    stage: str = "select",
) -> Splits:
    base = dataset_root(root)
    missing = entry.missing_file(base)
    if missing is not None:
        if not download or not entry.downloadable:
            raise DatasetNotFoundError(entry.name, detail=f"{missing} does not exist", hint=entry.how_to_get(root))
        download_dataset(entry.name, root=base)
    assert entry.loader is not None
    source = entry.loader(base, seed=seed, verify=verify, progress=progress)
    _check_classes(entry, source, base)
    return make_splits(source, name=entry.name, origin=entry.name, seed=seed, transform=transform, stage=stage)


def _check_classes(entry: DatasetEntry, source: SplitSource, base: Path) -> None:
    found = len(source.class_names)
    if entry.num_classes is not None and found != entry.num_classes:
        raise DatasetError(
            f"{entry.name}: found {found} classes under {base}, expected {entry.num_classes}",
            path=str(base),
            hint=f"the files look incomplete; remove them and {entry.how_to_get(base)}",
        )
    for split, data in (("train", source.train), ("val", source.val), ("test", source.test)):
        if data is None or len(data) == 0:
            if data is not None or split != "val":
                raise DatasetError(
                    f"{entry.name}: the {split} split is empty", path=str(base), hint=entry.how_to_get(base)
                )
            continue
        lo, hi = int(data.labels.min()), int(data.labels.max())
        if lo < 0 or hi >= found:
            raise DatasetError(
                f"{entry.name}: {split} labels span {lo}..{hi}, outside 0..{found - 1}", path=str(base),
                hint="the label files do not match the class list; re-extract or re-download the dataset",
            )

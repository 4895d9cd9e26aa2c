"""FGVC: five fine-grained tasks in the layout of the VPT release, read from JSON split files.

VPT (Jia et al., "Visual Prompt Tuning", ECCV 2022) evaluates on CUB-200-2011, NABirds,
Oxford Flowers, Stanford Dogs and Stanford Cars, with its own train / val cut of each official
training set, distributed as ``train.json``, ``val.json`` and ``test.json`` (image path ->
class id) beside the images (:func:`promptkit.data.taskfolder.load_json_folder`). Labels are
the rank of each class id among the training ids, as VPT numbers them.

Root layout (``<root>`` is ``$PROMPTKIT_DATA`` or ``$PROMPTKIT_HOME/datasets``)::

    <root>/fgvc/CUB_200_2011/{train,val,test}.json and images/<path>
    <root>/fgvc/nabirds/{train,val,test}.json and images/<path>
    <root>/fgvc/OxfordFlower/{train,val,test}.json and <path>
    <root>/fgvc/Stanford-dogs/{train,val,test}.json and Images/<path>
    <root>/fgvc/Stanford-cars/{train,val,test}.json and <path>
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from promptkit.data.catalog import DatasetEntry, LoaderFn
from promptkit.data.splits import SplitSource
from promptkit.data.taskfolder import JSON_LISTS, load_json_folder
from promptkit.progress import PhaseProgress

__all__ = ["ENTRIES", "FGVC_DIR", "FGVC_TASKS", "FgvcTask"]

FGVC_DIR = "fgvc"


@dataclass(frozen=True)
class FgvcTask:
    """One FGVC task: name, class count, folder names in circulation, the images sub-folder, its column."""

    name: str  # the catalog name is fgvc/<name>
    num_classes: int
    folders: tuple[str, ...]  # the first is the VPT release's
    images: str  # sub-folder the JSON paths are relative to ("" for the task folder)
    column: str
    description: str


# In the order of VPT's FGVC table.
FGVC_TASKS: tuple[FgvcTask, ...] = (
    FgvcTask("cub", 200, ("CUB_200_2011", "cub", "CUB"), "images", "CUB-200-2011", "Caltech-UCSD Birds: 200 species"),
    FgvcTask("nabirds", 555, ("nabirds", "NABirds"), "images", "NABirds", "NABirds: 555 North American bird classes"),
    FgvcTask("oxford_flowers", 102, ("OxfordFlower", "oxford_flowers", "flowers102"), "", "Oxford Flowers",
             "Oxford Flowers: 102 species"),
    FgvcTask("stanford_dogs", 120, ("Stanford-dogs", "stanford_dogs", "StanfordDogs"), "Images", "Stanford Dogs",
             "Stanford Dogs: 120 breeds"),
    FgvcTask("stanford_cars", 196, ("Stanford-cars", "stanford_cars", "StanfordCars"), "", "Stanford Cars",
             "Stanford Cars: 196 models"),
)


def _loader(task: FgvcTask) -> LoaderFn:
    def load(root: Path, *, seed: int = 0, verify: bool = False, progress: PhaseProgress | None = None) -> SplitSource:
        base = Path(root) / FGVC_DIR
        folder = next((base / f for f in task.folders if (base / f).is_dir()), base / task.folders[0])
        return load_json_folder(folder, images=task.images, num_classes=task.num_classes, verify=verify,
                                progress=progress)

    load.__doc__ = f"FGVC {task.name}, from the JSON splits under <root>/{FGVC_DIR}/{task.folders[0]}."
    return load


# The catalog entries (fgvc/<task>), registered by promptkit/builtins.py.
ENTRIES: tuple[DatasetEntry, ...] = tuple(
    DatasetEntry(
        name=f"{FGVC_DIR}/{task.name}",
        group="fgvc",
        description=f"{task.description} (FGVC, VPT's JSON splits)",
        num_classes=task.num_classes,
        files=JSON_LISTS,
        folders=tuple(f"{FGVC_DIR}/{f}" for f in task.folders),
        layout=f"{FGVC_DIR}/{task.folders[0]}/ with {', '.join(JSON_LISTS)}"
               + (f" and {task.images}/<path>" if task.images else " and the images they list"),
        homepage="https://github.com/KMnP/vpt (the JSON splits; images from each dataset's own page)",
        loader=_loader(task),
    )
    for task in FGVC_TASKS
)

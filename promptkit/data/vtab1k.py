"""VTAB-1k's 19 tasks as the parameter-efficient tuning papers distribute them: one folder of split lists per task.

VTAB-1k (Zhai et al., arXiv 1910.04867) gives each task 800 training and 200 validation
images and the full test split. NOAH (Zhang et al., arXiv 2206.04673), SSF and SPT distribute
the tasks already cut: a folder per task holding ``images/...`` and four lists,
``train800.txt``, ``val200.txt``, ``train800val200.txt`` and ``test.txt``, one
``relative/path label`` per line (:mod:`promptkit.data.listfile`). The papers choose their
settings on train800 / val200, then train on train800val200 and report test accuracy: the
``final`` stage of :func:`promptkit.data.load_dataset`.

Root layout (``<root>`` is ``$PROMPTKIT_DATA`` or ``$PROMPTKIT_HOME/datasets``)::

    <root>/vtab-1k/<task>/{train800,val200,train800val200,test}.txt and the images they list

``<task>`` may be spelled as any release spells it (:data:`VTAB1K_TASKS`: ``cifar`` or
``cifar100``, ``retinopathy`` or ``diabetic_retinopathy``, ...). Any other folder with these
lists, or with ``train.txt`` / ``val.txt`` / ``test.txt`` of the same shape, is a target by
path (:func:`promptkit.data.taskfolder.load_list_folder`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from promptkit.data.catalog import DatasetEntry, LoaderFn
from promptkit.data.splits import SplitSource
from promptkit.data.taskfolder import VTAB1K_LISTS, load_list_folder
from promptkit.progress import PhaseProgress

__all__ = ["ENTRIES", "VTAB1K_DIR", "VTAB1K_TASKS", "Vtab1kTask", "vtab1k_task"]

VTAB1K_DIR = "vtab-1k"  # the folder under the data root, as the releases name it


@dataclass(frozen=True)
class Vtab1kTask:
    """One VTAB-1k task: its name, group, class count, the folder names in circulation and its table column."""

    name: str  # the catalog name is vtab-1k/<name>
    group: str  # natural, specialized or structured
    num_classes: int
    folders: tuple[str, ...]  # folder names used by the releases; the first is what promptkit expects
    column: str  # the column heading of the papers' tables
    description: str


# In the order of the papers' VTAB-1k tables (VPT, NOAH, SSF, SPT, HGPrompt): natural, specialized, structured.
VTAB1K_TASKS: tuple[Vtab1kTask, ...] = (
    Vtab1kTask("cifar100", "natural", 100, ("cifar", "cifar100", "cifar_100", "cifar-100"), "CIFAR-100",
               "CIFAR-100: 100 object classes"),
    Vtab1kTask("caltech101", "natural", 102, ("caltech101", "caltech_101", "caltech"), "Caltech101",
               "Caltech-101: 101 objects and background"),
    Vtab1kTask("dtd", "natural", 47, ("dtd", "dtd_47"), "DTD", "Describable Textures: 47 texture classes"),
    Vtab1kTask("oxford_flowers102", "natural", 102, ("oxford_flowers102", "flowers102", "oxford_flowers_102",
                                                      "flowers"), "Flowers102", "Oxford Flowers: 102 species"),
    Vtab1kTask("oxford_iiit_pet", "natural", 37, ("oxford_iiit_pet", "oxford_iiit_pets", "pets", "pet"), "Pets",
               "Oxford-IIIT Pet: 37 breeds"),
    Vtab1kTask("svhn", "natural", 10, ("svhn", "svhn_cropped"), "SVHN", "Street View House Numbers: 10 digits"),
    Vtab1kTask("sun397", "natural", 397, ("sun397", "sun"), "Sun397", "SUN397: 397 scene categories"),
    Vtab1kTask("patch_camelyon", "specialized", 2, ("patch_camelyon", "camelyon", "pcam"), "Camelyon",
               "PatchCamelyon: metastatic tissue or not"),
    Vtab1kTask("eurosat", "specialized", 10, ("eurosat",), "EuroSAT", "EuroSAT: 10 land-use classes"),
    Vtab1kTask("resisc45", "specialized", 45, ("resisc45", "resisc"), "Resisc45", "RESISC45: 45 scene classes"),
    Vtab1kTask("diabetic_retinopathy", "specialized", 5, ("diabetic_retinopathy", "retinopathy",
                                                          "diabetic_retinopathy_detection"), "Retinopathy",
               "Diabetic Retinopathy: 5 severity grades"),
    Vtab1kTask("clevr_count", "structured", 8, ("clevr_count", "clevr_count_all"), "Clevr-Count",
               "CLEVR: count objects (3..10)"),
    Vtab1kTask("clevr_dist", "structured", 6, ("clevr_dist", "clevr_distance", "clevr_closest_object_distance"),
               "Clevr-Dist", "CLEVR: distance to the closest object"),
    Vtab1kTask("dmlab", "structured", 6, ("dmlab",), "DMLab", "DeepMind Lab: distance to a reward"),
    Vtab1kTask("kitti", "structured", 4, ("kitti", "kitti_dist", "kitti_distance"), "KITTI-Dist",
               "KITTI: distance to the closest vehicle"),
    Vtab1kTask("dsprites_loc", "structured", 16, ("dsprites_loc", "dsprites_location", "dsprites_position"),
               "dSpr-Loc", "dSprites: x position (16 bins)"),
    Vtab1kTask("dsprites_ori", "structured", 16, ("dsprites_ori", "dsprites_orientation"), "dSpr-Ori",
               "dSprites: orientation (16 bins)"),
    Vtab1kTask("smallnorb_azi", "structured", 18, ("smallnorb_azi", "smallnorb_azimuth"), "sNORB-Azim",
               "smallNORB: azimuth (18 classes)"),
    Vtab1kTask("smallnorb_ele", "structured", 9, ("smallnorb_ele", "smallnorb_elevation"), "sNORB-Elev",
               "smallNORB: elevation (9 classes)"),
)


def vtab1k_task(name: str) -> Vtab1kTask | None:
    """The task a catalog name (``vtab-1k/dtd``), task name or release folder name (``cifar``) stands for."""
    key = name.removeprefix(f"{VTAB1K_DIR}/").strip().lower().replace("-", "_")
    return next((t for t in VTAB1K_TASKS if key == t.name or key in t.folders), None)


def _loader(task: Vtab1kTask) -> LoaderFn:
    def load(root: Path, *, seed: int = 0, verify: bool = False, progress: PhaseProgress | None = None) -> SplitSource:
        base = Path(root) / VTAB1K_DIR
        folder = next((base / f for f in task.folders if (base / f).is_dir()), base / task.folders[0])
        return load_list_folder(folder, num_classes=task.num_classes, verify=verify, progress=progress)

    load.__doc__ = f"VTAB-1k {task.name}, from the split lists under <root>/{VTAB1K_DIR}/{task.folders[0]}."
    return load


# The catalog entries (vtab-1k/<task>), registered by promptkit/builtins.py.
ENTRIES: tuple[DatasetEntry, ...] = tuple(
    DatasetEntry(
        name=f"{VTAB1K_DIR}/{task.name}",
        group=task.group,
        description=f"{task.description} (VTAB-1k {task.group}, split lists)",
        num_classes=task.num_classes,
        files=VTAB1K_LISTS,
        folders=tuple(f"{VTAB1K_DIR}/{f}" for f in task.folders),
        layout=f"{VTAB1K_DIR}/{task.folders[0]}/ with {', '.join(VTAB1K_LISTS)} and the images they list "
               f"(folder also accepted as {', '.join(task.folders[1:])})" if len(task.folders) > 1 else
               f"{VTAB1K_DIR}/{task.folders[0]}/ with {', '.join(VTAB1K_LISTS)} and the images they list",
        homepage="https://github.com/ZhangYuanhan-AI/NOAH (VTAB-1k split lists and images)",
        loader=_loader(task),
    )
    for task in VTAB1K_TASKS
)

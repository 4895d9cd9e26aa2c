"""The embedded task suite: procedurally generated 32x32 image classification tasks.

A VTAB-like family (Zhai et al., "A Large-scale Study of Representation Learning with the
Visual Task Adaptation Benchmark", 2019) drawn on the fly, so the zoo needs no files and no
network: natural-like (textures, digits, objects), specialized-like (cells, retina, land use)
and structured (count, distance, location, orientation, azimuth, elevation). Each task has
VTAB-1k splits (800 train, 200 val) and a 1,000-image test split, each drawn from its own
seed derived from ``(task, split, seed)``, so splits are disjoint and every call with the same
arguments returns identical tensors.

Tasks share factors on purpose (objects, count, location and orientation draw the same
shapes; textures and land use the same texture families; azimuth and elevation the same
renderer; cells and retina the same blob drawing) while digits shares little with the rest:
the zoo must let source prompts differ in how well they transfer.

This module imports torch only inside :func:`generate`, so listing :data:`TASKS` is cheap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from promptkit.errors import DatasetNotFoundError, UsageError
from promptkit.plugins import Registry

if TYPE_CHECKING:
    import torch

__all__ = [
    "GENERATORS", "SPLITS", "SPLIT_SIZES", "TASKS", "Generator", "TaskGenerator", "TaskSpec", "derive_seed",
    "generate", "register",
]

Group = Literal["natural", "specialized", "structured"]
# (labels, generator) -> float images in [0, 1], (N, 3, 32, 32); labels are chosen by the suite.
Generator = Callable[["torch.Tensor", "torch.Generator"], "torch.Tensor"]

SPLIT_SIZES: dict[str, int] = {"train": 800, "val": 200, "test": 1000}  # VTAB-1k (+ a fixed test size)
SPLITS: tuple[str, ...] = ("train", "val", "trainval", "test")  # trainval = train then val
_CHUNK = 500  # images drawn per generator call; fixed, because the draws depend on it


@dataclass(frozen=True)
class TaskSpec:
    """One task of the suite.

    Attributes:
        name: catalog name, ``zoo-<task>``.
        group: VTAB group the task imitates.
        num_classes: number of labels, ``0 .. num_classes - 1``.
        class_names: one name per label.
        description: one sentence: what an image shows and what the label is.
        factor: the scene factor the label is a function of (checked against the pretext).
        analogue: the VTAB task it imitates.
    """

    name: str
    group: Group
    class_names: tuple[str, ...]
    description: str
    factor: str
    analogue: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _bins(prefix: str, k: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(k))


_SPECS = (
    # natural-like
    TaskSpec(
        "zoo-textures", "natural",
        ("striped", "wavy", "zigzagged", "checkered", "dotted", "gridded", "crosshatched", "banded", "bricked",
         "blotchy", "speckled", "marbled"),
        "a two-colour periodic or stochastic pattern at random scale, phase, orientation and colours; "
        "label: the pattern family", "texture-family", "dtd",
    ),
    TaskSpec(
        "zoo-digits", "natural", tuple("0123456789"),
        "a house-number-like digit between cut-off neighbours on a cluttered background; label: the centre digit",
        "centre-digit", "svhn",
    ),
    TaskSpec(
        "zoo-objects", "natural",
        ("circle", "square", "triangle", "star", "cross", "heart", "ring", "crescent", "arrow", "half-disc"),
        "one shaded object among small clutter on a textured, gradient or noisy background; label: its shape",
        "object-shape", "cifar100",
    ),
    # specialized-like
    TaskSpec(
        "zoo-cells", "specialized", ("normal", "tumour", "inflamed", "stroma"),
        "a stained tissue patch of cell nuclei; label: the tissue type (nucleus size, shape, density, darkness)",
        "tissue-type", "patch_camelyon",
    ),
    TaskSpec(
        "zoo-retina", "specialized", ("grade0", "grade1", "grade2", "grade3", "grade4"),
        "a fundus-like disc with vessels and small dark lesions; label: the grade (binned lesion count)",
        "lesion-count", "diabetic_retinopathy",
    ),
    TaskSpec(
        "zoo-landuse", "specialized",
        ("annual-crop", "forest", "herbaceous", "highway", "industrial", "pasture", "permanent-crop",
         "residential", "river", "sea-lake"),
        "an aerial-like land patch; label: the land-use class", "land-use", "eurosat",
    ),
    # structured
    TaskSpec(
        "zoo-count", "structured", tuple(str(k) for k in range(3, 9)),
        "3 to 8 non-overlapping shapes on a plain background; label: how many", "object-count", "clevr_count",
    ),
    TaskSpec(
        "zoo-distance", "structured", _bins("depth", 6),
        "shapes standing on a ground plane seen in perspective; label: binned depth of the nearest one",
        "nearest-depth", "clevr_dist",
    ),
    TaskSpec(
        "zoo-location", "structured", _bins("x", 8),
        "one sprite (square, ellipse or heart) on black at random scale and rotation; label: binned x position",
        "sprite-x", "dsprites_loc",
    ),
    TaskSpec(
        "zoo-orientation", "structured", _bins("angle", 8),
        "one asymmetric sprite on black at random position and scale; label: binned rotation angle",
        "sprite-angle", "dsprites_ori",
    ),
    TaskSpec(
        "zoo-azimuth", "structured", _bins("azimuth", 8),
        "a shaded toy made of boxes (car, plane, chair, table, truck) seen from above; label: binned azimuth",
        "toy-azimuth", "smallnorb_azimuth",
    ),
    TaskSpec(
        "zoo-elevation", "structured", _bins("elevation", 6),
        "a shaded toy made of boxes at random azimuth; label: binned camera elevation",
        "toy-elevation", "smallnorb_elevation",
    ),
)  # fmt: skip

TASKS: dict[str, TaskSpec] = {s.name: s for s in _SPECS}

# task name -> image generator; the built-ins (promptkit/zoo/tasks/) are listed in promptkit/builtins.py.
GENERATORS: Registry[Generator] = Registry("zoo task generator", home=__name__)


def register(name: str) -> Callable[[Generator], Generator]:
    """Register the image generator of task ``name`` (a key of :data:`TASKS`)."""
    if name not in TASKS:
        raise KeyError(f"no TaskSpec for {name!r}")
    return GENERATORS.register(name)


class TaskGenerator:
    """``generate(task, split, *, seed)`` bound to one task, for the dataset catalog.

    A class rather than a closure so its qualified name, recorded in a dataset's provenance,
    is stable: ``zoo.generate[<task>]``.
    """

    def __init__(self, task: str) -> None:
        self.task = task
        self.__qualname__ = f"zoo.generate[{task}]"

    def __call__(self, split: str, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        return generate(self.task, split, seed=seed)


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts (stable across runs and platforms, unlike ``hash``)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _balanced_labels(n: int, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    import torch

    labels = torch.arange(n) % num_classes
    return labels[torch.randperm(n, generator=gen)]


def generate(task: str, split: str, *, seed: int = 0, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw a split of a task.

    Labels are balanced (each class ``n // C`` or ``n // C + 1`` times) and shuffled; the
    images of each split come from a seed derived from ``(task, split, seed)``.

    Args:
        task: a key of :data:`TASKS`.
        split: ``train`` (800), ``val`` (200), ``trainval`` (both, in that order) or ``test`` (1,000).
        seed: dataset seed; seed 0 is the canonical suite.
        n: number of images instead of the split's size (a prefix-stable size is not promised).

    Returns:
        ``(images, labels)``: uint8 ``(N, 3, 32, 32)`` and int64 ``(N,)``.

    Raises:
        DatasetNotFoundError: unknown task.
        UsageError: unknown split or a non-positive ``n``.
    """
    import torch

    from promptkit.zoo.draw import to_uint8

    if task not in TASKS:
        raise DatasetNotFoundError(task, hint=f"embedded tasks: {', '.join(TASKS)}")
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r} for {task}", hint=f"splits: {', '.join(SPLITS)}")
    if split == "trainval":
        if n is not None:
            raise UsageError("n cannot be combined with split 'trainval'", hint="ask for 'train' or 'val' with n")
        parts = [generate(task, s, seed=seed) for s in ("train", "val")]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    size = SPLIT_SIZES[split] if n is None else n
    if size <= 0:
        raise UsageError(f"n must be positive, got {size}")
    spec, fn = TASKS[task], GENERATORS.lookup(task)
    gen = torch.Generator().manual_seed(derive_seed(task, split, seed))
    labels = _balanced_labels(size, spec.num_classes, gen)
    images = [fn(labels[i : i + _CHUNK], gen) for i in range(0, size, _CHUNK)]
    return to_uint8(torch.cat(images)), labels

"""Train / val / test splits of a target task, the VTAB-1k protocol, and dataset fingerprints.

VTAB-1k (Zhai et al., "A Large-scale Study of Representation Learning with the Visual Task
Adaptation Benchmark", arXiv 1910.04867): each task gets 800 training and 200 validation
examples drawn from its official training split (from train + val where the dataset defines
a validation split), and is tested on its full official test split. We draw the 1,000 with a
fixed seed (VTAB itself takes fixed TFDS slices, which cannot be reproduced from the raw
files); the evaluation protocol (docs/method.md#evaluation) repeats every experiment over 3 seeds.

A fingerprint identifies exactly which examples a split holds and how they are turned into
tensors; it goes into every asset trained or evaluated on the split and keys the feature
cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from promptkit.data.datasets import ImageFileDataset, TensorImageDataset, describe_transform
from promptkit.errors import DatasetError

__all__ = [
    "SPLIT_NAMES",
    "STAGES",
    "VTAB1K_TRAIN",
    "VTAB1K_VAL",
    "SplitSource",
    "Splits",
    "make_splits",
    "vtab1k_indices",
]

SPLIT_NAMES = ("train", "val", "test")
VTAB1K_TRAIN = 800
VTAB1K_VAL = 200
_FINGERPRINT_VERSION = "promptkit-dataset-fingerprint-v1"
# select: tune on train, choose (epoch, probe) on val. final: tune on train + val (VTAB-1k's
# train800val200), the choices fixed beforehand, and report on test -- the papers' protocol.
STAGES = ("select", "final")

ImageDataset = ImageFileDataset | TensorImageDataset


def vtab1k_indices(
    n: int, *, seed: int, train: int = VTAB1K_TRAIN, val: int = VTAB1K_VAL
) -> tuple[list[int], list[int]]:
    """Draw disjoint train and val positions out of a pool of ``n`` examples.

    With ``n >= train + val``: ``train`` and ``val`` positions from one seeded permutation.
    With fewer (tiny datasets): the same ratio over the whole pool, so that nothing is wasted:
    ``n_val = max(1, round(n * val / (train + val)))`` and ``n_train = n - n_val`` (80/20 for
    the defaults). The draw is not stratified, as in VTAB.

    Args:
        n: pool size.
        seed: seed of the permutation (numpy PCG64); the same seed gives the same positions.
        train: training examples wanted.
        val: validation examples wanted.

    Returns:
        ``(train_positions, val_positions)``, each sorted ascending, disjoint.

    Raises:
        DatasetError: ``n < 2`` (a split needs at least one example on each side).
    """
    if train < 1 or val < 1:
        raise ValueError(f"train and val must be >= 1, got {train} and {val}")
    if n < 2:
        raise DatasetError(
            f"cannot draw train and val splits from {n} example(s); at least 2 are needed",
            hint="add training images (VTAB-1k uses 800 train + 200 val)",
        )
    if n < train + val:
        val = max(1, round(n * val / (train + val)))
        train = n - val
    perm = np.random.default_rng(seed).permutation(n)
    return sorted(perm[:train].tolist()), sorted(perm[train : train + val].tolist())


@dataclass(frozen=True)
class SplitSource:
    """What a dataset loader returns, before the protocol draws train and val and a transform is set.

    ``protocol`` says how train and val are formed: ``"vtab1k"`` pools ``train`` (+ ``val`` when
    given) and draws 800 + 200 with :func:`vtab1k_indices`; ``"given"`` keeps ``train`` and
    ``val`` as they are (an image folder with its own ``val/``, a generated task, split lists).
    ``trainval`` is the official union of train and val when the dataset ships one (VTAB-1k's
    ``train800val200.txt``), used by the ``final`` stage; ``None``: train followed by val.
    """

    train: ImageDataset
    val: ImageDataset | None
    test: ImageDataset
    class_names: list[str]
    protocol: Literal["vtab1k", "given"] = "vtab1k"
    generator: str = ""  # parameters that generated the data (name, seed); empty for data on disk
    trainval: ImageDataset | None = None


@dataclass(frozen=True)
class Splits:
    """A target task: train / val / test datasets, classes, and their fingerprints.

    Each split is a torch ``Dataset`` of ``(image (3, H, W) float, label int)`` with a
    ``labels`` tensor. Build one with :func:`promptkit.data.load_dataset`.

    Attributes:
        name: catalog name, or the folder's name for an image folder.
        source: the catalog name or the folder's absolute path.
        seed: seed of the train / val draw (and of generated data).
        protocol: ``"vtab1k"`` (train / val drawn from the pool) or ``"given"``.
        indices: positions of the train and val items in the pool they were drawn from;
            ``None`` for splits used as given (the test split always).
        stage: ``"select"`` (train on train, choose on val) or ``"final"`` (train on train +
            val, where val is then part of the training data and only reported).
    """

    name: str
    train: ImageDataset
    val: ImageDataset
    test: ImageDataset
    class_names: list[str]
    source: str = ""
    seed: int = 0
    protocol: str = "vtab1k"
    indices: dict[str, list[int] | None] = field(default_factory=dict)
    generator: str = ""
    stage: str = "select"
    _fingerprints: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def sizes(self) -> dict[str, int]:
        """Number of examples per split, e.g. ``{"train": 800, "val": 200, "test": 1880}``."""
        return {name: len(self.split(name)) for name in SPLIT_NAMES}

    @property
    def transform_description(self) -> str:
        """The transform's description, as hashed into the fingerprints."""
        return describe_transform(self.train.transform)

    def split(self, name: str) -> ImageDataset:
        """The dataset of split ``name`` (``train``, ``val`` or ``test``)."""
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLIT_NAMES)}")
        return getattr(self, name)

    def with_transform(self, transform: Callable[[Any], Any] | None) -> Splits:
        """The same examples under another transform (e.g. one from :func:`transform_for`)."""
        return replace(
            self,
            train=self.train.with_transform(transform),
            val=self.val.with_transform(transform),
            test=self.test.with_transform(transform),
        )

    def fingerprint(self, split: str | None = None) -> str:
        """sha256 hex identifying a split's examples, labels, classes, draw and transform.

        Hashed: the class names; which examples (for files: relative path, byte size and label
        -- not file contents, which would cost a full read of the dataset; for in-memory data:
        the image bytes and labels); the positions drawn from the pool; the generator's
        parameters; the transform's description. With ``split=None``, one digest over the
        three splits. The test split of a dataset on disk does not depend on the seed, so
        its fingerprint (and cached features) is shared across the seeds of an experiment.
        """
        if split is None:
            if "all" not in self._fingerprints:
                parts = "".join(f"{name}:{self.fingerprint(name)}\n" for name in SPLIT_NAMES)
                self._fingerprints["all"] = hashlib.sha256(parts.encode()).hexdigest()
            return self._fingerprints["all"]
        dataset = self.split(split)
        if split not in self._fingerprints:
            h = hashlib.sha256()
            header = {
                "version": _FINGERPRINT_VERSION,
                "split": split,
                "classes": self.class_names,
                "indices": self.indices.get(split),
                "generator": self.generator,
                "transform": describe_transform(dataset.transform),
            }
            h.update(json.dumps(header, sort_keys=True).encode() + b"\n")
            dataset.update_hash(h)
            self._fingerprints[split] = h.hexdigest()
        return self._fingerprints[split]


def make_splits(
    source: SplitSource,
    *,
    name: str,
    origin: str,
    seed: int,
    transform: Callable[[Any], Any] | None,
    stage: str = "select",
) -> Splits:
    """Apply the source's protocol (draw train / val or keep them) and set the transform on every split.

    With ``stage="final"`` the training split is train and val together (the source's
    ``trainval`` when it has one) and val stays as it was, for reporting only.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    if source.protocol == "vtab1k":
        pool = source.train if source.val is None else source.train.concat(source.val)
        train_pos, val_pos = vtab1k_indices(len(pool), seed=seed)
        if stage == "final":
            train_pos = sorted(train_pos + val_pos)
        train, val = pool.subset(train_pos), pool.subset(val_pos)
        indices: dict[str, list[int] | None] = {"train": train_pos, "val": val_pos, "test": None}
    elif source.val is not None:
        train, val = source.train, source.val
        if stage == "final":
            train = source.trainval if source.trainval is not None else source.train.concat(source.val)
        indices = {"train": None, "val": None, "test": None}
    else:
        raise ValueError("protocol 'given' needs a val split")
    return Splits(
        name=name,
        train=train.with_transform(transform),
        val=val.with_transform(transform),
        test=source.test.with_transform(transform),
        class_names=list(source.class_names),
        source=origin,
        seed=seed,
        protocol=source.protocol,
        indices=indices,
        generator=source.generator,
        stage=stage,
    )

"""Datasets for prompt tuning and transfer: a catalog of names, image folders, VTAB-1k splits.

- :func:`load_dataset` turns a catalog name (VTAB-1k's ``vtab-1k/<task>`` and FGVC's
  ``fgvc/<task>`` as released, the VTAB archives ``dtd``, ``svhn``, ``cifar100``, ``eurosat``,
  the embedded zoo's tasks) or a task-folder path (class folders, split lists, JSON splits) into
  :class:`Splits` (train / val / test with fingerprints; ``stage="final"`` trains on train and
  val together); :func:`list_datasets` lists the catalog.
- :func:`transform_for` gives a backbone's pretrained preprocessing.
- :func:`make_loader` builds a device-aware, deterministically shuffled DataLoader.
"""

from __future__ import annotations

from promptkit.data.catalog import (
    DATASETS,
    DatasetEntry,
    dataset_root,
    download_dataset,
    get_dataset_entry,
    list_datasets,
    load_dataset,
    register_dataset,
    register_generated,
)
from promptkit.data.datasets import DefaultTransform, ImageFileDataset, TensorImageDataset, describe_transform
from promptkit.data.imagefolder import load_image_folder
from promptkit.data.loader import make_loader
from promptkit.data.splits import Splits, SplitSource, vtab1k_indices
from promptkit.data.transforms import data_config_for, transform_for

__all__ = [
    "DATASETS",
    "DatasetEntry",
    "DefaultTransform",
    "ImageFileDataset",
    "SplitSource",
    "Splits",
    "TensorImageDataset",
    "data_config_for",
    "dataset_root",
    "describe_transform",
    "download_dataset",
    "get_dataset_entry",
    "list_datasets",
    "load_dataset",
    "load_image_folder",
    "make_loader",
    "register_dataset",
    "register_generated",
    "transform_for",
    "vtab1k_indices",
]

"""The two kinds of image dataset every loader produces: files on disk, and tensors in memory.

Both return ``(image, label)`` with ``image`` a float tensor ``(3, H, W)`` and ``label`` an
``int``, expose all labels at once (:attr:`labels`, without decoding images), can be
subset/concatenated (how VTAB-1k splits are drawn), and feed their items into a dataset
fingerprint (:meth:`update_hash`).

What a transform receives:
- :class:`ImageFileDataset` hands it a PIL RGB image (grey, palette and RGBA files are
  converted to RGB);
- :class:`TensorImageDataset` hands it a float tensor ``(3, H, W)`` in ``[0, 1]``.
The transforms of :func:`promptkit.data.transforms.transform_for` and :class:`DefaultTransform`
accept both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from promptkit.errors import DatasetError
from promptkit.progress import PhaseProgress

__all__ = [
    "IMAGE_EXTENSIONS",
    "DefaultTransform",
    "ImageFileDataset",
    "TensorImageDataset",
    "describe_transform",
    "open_rgb",
    "verify_image",
]

# Lower-case suffixes read as images; other files in class folders are ignored.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})

_UNREADABLE_HINT = "remove or replace the file; load with verify=True to check every file's header up front"


def _pil_errors() -> tuple[type[BaseException], ...]:
    from PIL import Image

    # UnidentifiedImageError and truncated files are OSErrors; broken headers raise SyntaxError or ValueError.
    return (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def open_rgb(path: Path) -> Any:
    """Decode an image file fully into a PIL RGB image.

    Raises:
        DatasetError: the file is missing, truncated or not an image; names the file.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.convert("RGB")  # convert() forces the full decode, so truncation is caught here
    except _pil_errors() as err:
        raise DatasetError(f"cannot read image {path}: {err}", path=str(path), hint=_UNREADABLE_HINT) from err


def verify_image(path: Path) -> None:
    """Cheap check: open the file and let PIL verify its header (no full decode).

    Catches files that are not images at all, empty or cut before the header ends; a JPEG
    truncated in its pixel data passes and is caught when the image is loaded.

    Raises:
        DatasetError: naming the file.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
    except _pil_errors() as err:
        raise DatasetError(f"cannot read image {path}: {err}", path=str(path), hint=_UNREADABLE_HINT) from err


class DefaultTransform:
    """Image -> float tensor ``(3, H, W)`` in ``[0, 1]``, optionally resized and centre-cropped.

    Used when no transform is given: no normalization, so it suits inspection and models
    that normalize inside. With ``image_size``, the shorter side is resized to ``image_size``
    (bilinear, antialiased) and the centre ``image_size x image_size`` crop is kept, so images
    of different sizes can be batched.

    Args:
        image_size: output side length; ``None`` keeps the image's own size.
    """

    def __init__(self, image_size: int | None = None) -> None:
        if image_size is not None and image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        self.image_size = image_size

    def __call__(self, image: Any) -> torch.Tensor:
        if isinstance(image, torch.Tensor):
            x = image
        else:  # PIL RGB image, (H, W, 3) uint8
            x = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).contiguous()
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        if self.image_size is not None:
            from torchvision.transforms import functional as tf  # only here: importing torchvision takes seconds

            x = tf.resize(x, self.image_size, interpolation=tf.InterpolationMode.BILINEAR, antialias=True)
            x = tf.center_crop(x, [self.image_size, self.image_size])
        return x

    def __repr__(self) -> str:
        return f"DefaultTransform(image_size={self.image_size})"


def describe_transform(transform: Callable[[Any], Any] | None) -> str:
    """A stable text description of a transform, for dataset fingerprints.

    Uses the transform's ``description`` attribute when it has one, else its ``repr`` with
    memory addresses removed (``<function f at 0x7f..>`` differs between runs). torchvision and
    timm transforms print their parameters, so two transforms with the same description
    produce the same tensors; give custom transforms a ``repr`` (or ``description``) that
    states their parameters, since a bare function is described by its name only.
    """
    if transform is None:
        return repr(DefaultTransform())
    text = getattr(transform, "description", None)
    if not isinstance(text, str):
        text = repr(transform)
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


class ImageFileDataset(Dataset):
    """Images stored as files under one root folder, with integer labels.

    Files are decoded on access (in DataLoader workers when there are any). Sizes are recorded
    when the dataset is built, for the fingerprint.

    Args:
        root: folder the relative paths start from.
        paths: relative POSIX paths of the image files.
        labels: class index of each file.
        sizes: byte size of each file.
        transform: applied to the PIL RGB image; ``None`` means :class:`DefaultTransform`.
    """

    def __init__(
        self,
        root: Path,
        paths: Sequence[str],
        labels: Sequence[int] | torch.Tensor,
        sizes: Sequence[int],
        *,
        transform: Callable[[Any], torch.Tensor] | None = None,
    ) -> None:
        if not len(paths) == len(labels) == len(sizes):
            raise ValueError(f"paths, labels and sizes differ in length: {len(paths)}, {len(labels)}, {len(sizes)}")
        self.root = Path(root)
        self.paths = list(paths)
        self._labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
        self.sizes = [int(s) for s in sizes]
        self.transform = transform if transform is not None else DefaultTransform()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = open_rgb(self.root / self.paths[index])
        return self.transform(image), int(self._labels[index])

    @property
    def labels(self) -> torch.Tensor:
        """All labels, shape ``(N,)`` int64, without decoding any image."""
        return self._labels

    def subset(self, indices: Sequence[int]) -> ImageFileDataset:
        """The items at ``indices``, in that order, with the same transform."""
        idx = [int(i) for i in indices]
        return ImageFileDataset(
            self.root, [self.paths[i] for i in idx], self._labels[idx], [self.sizes[i] for i in idx],
            transform=self.transform,
        )

    def concat(self, other: ImageFileDataset) -> ImageFileDataset:
        """This dataset's items followed by ``other``'s (both must share a root)."""
        if not isinstance(other, ImageFileDataset) or other.root != self.root:
            raise ValueError("can only concatenate image file datasets under the same root")
        return ImageFileDataset(
            self.root, self.paths + other.paths, torch.cat([self._labels, other._labels]), self.sizes + other.sizes,
            transform=self.transform,
        )

    def with_transform(self, transform: Callable[[Any], torch.Tensor] | None) -> ImageFileDataset:
        """The same items under another transform."""
        return ImageFileDataset(self.root, self.paths, self._labels, self.sizes, transform=transform)

    def verify(self, *, progress: PhaseProgress | None = None) -> None:
        """Open every file's header with PIL (:func:`verify_image`); raises on the first bad file."""
        for i, rel in enumerate(self.paths):
            verify_image(self.root / rel)
            if progress is not None:
                progress(i + 1, len(self.paths))

    def update_hash(self, h: Any) -> None:
        """Feed relative path, byte size and label of every file into ``h`` (a hashlib object).

        File contents are not hashed: reading every image of a large dataset would make the
        fingerprint cost as much as an epoch. An edit that keeps a file's name and exact size
        is therefore not detected.
        """
        h.update(b"files\n")
        for rel, size, label in zip(self.paths, self.sizes, self._labels.tolist()):
            h.update(f"{rel}\t{size}\t{label}\n".encode())


class TensorImageDataset(Dataset):
    """Images held in memory as a uint8 tensor (decoded archives, generated tasks).

    Args:
        images: uint8 tensor, shape ``(N, 3, H, W)``.
        labels: int tensor, shape ``(N,)``.
        transform: applied to the float image in ``[0, 1]``; ``None`` means :class:`DefaultTransform`.

    Shape:
        - images: ``(N, 3, H, W)`` uint8
        - labels: ``(N,)`` int64
        - item: ``((3, H', W') float, int)``
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | Sequence[int],
        *,
        transform: Callable[[Any], torch.Tensor] | None = None,
    ) -> None:
        images = torch.as_tensor(images)
        labels = torch.as_tensor(labels).to(torch.int64).reshape(-1)
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be uint8 of shape (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        self.images = images.contiguous()
        self._labels = labels
        self.transform = transform if transform is not None else DefaultTransform()

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index].float() / 255.0  # (3, H, W)
        return self.transform(image), int(self._labels[index])

    @property
    def labels(self) -> torch.Tensor:
        """All labels, shape ``(N,)`` int64."""
        return self._labels

    def subset(self, indices: Sequence[int]) -> TensorImageDataset:
        """The items at ``indices`` (copied), in that order, with the same transform."""
        idx = torch.as_tensor([int(i) for i in indices], dtype=torch.int64)
        return TensorImageDataset(self.images[idx], self._labels[idx], transform=self.transform)

    def concat(self, other: TensorImageDataset) -> TensorImageDataset:
        """This dataset's items followed by ``other``'s."""
        if not isinstance(other, TensorImageDataset):
            raise ValueError("can only concatenate a tensor dataset with another tensor dataset")
        return TensorImageDataset(
            torch.cat([self.images, other.images]), torch.cat([self._labels, other._labels]), transform=self.transform
        )

    def with_transform(self, transform: Callable[[Any], torch.Tensor] | None) -> TensorImageDataset:
        """The same items (shared, not copied) under another transform."""
        return TensorImageDataset(self.images, self._labels, transform=transform)

    def verify(self, *, progress: PhaseProgress | None = None) -> None:
        """Nothing to check: the images were decoded when the dataset was built."""

    def update_hash(self, h: Any) -> None:
        """Feed the image bytes, shape and labels into ``h``: in memory, content hashing is cheap and exact."""
        h.update(f"tensors {tuple(self.images.shape)}\n".encode())
        h.update(self.images.numpy())  # contiguous uint8 buffer, hashed without a copy
        h.update(self._labels.numpy().astype("<i8").tobytes())

"""Real VTAB datasets by name, read from their official on-disk layouts under a local root.

VTAB: Zhai et al., "A Large-scale Study of Representation Learning with the Visual Task
Adaptation Benchmark", arXiv 1910.04867. Each loader reads the files exactly as the official
archive unpacks them, so a copy obtained any other way works too. torchvision's dataset
classes are not used for reading because they re-check the md5 of whole files on every load
(slow for SVHN, and they refuse a file that was repacked); downloads still go through
``torchvision.datasets.utils`` with the official URLs and md5s (:func:`download_dataset`).
The VTAB-1k draw of train / val happens in the catalog (:mod:`promptkit.data.splits`).

Root layout (``<root>`` is ``$PROMPTKIT_DATA`` or ``$PROMPTKIT_HOME/datasets``)::

    <root>/dtd/images/<class>/<image>.jpg, <root>/dtd/labels/{train,val,test}1.txt
    <root>/svhn/{train,test}_32x32.mat
    <root>/cifar-100-binary/{train,test}.bin, fine_label_names.txt
    <root>/eurosat/2750/<class>/<image>.jpg
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from promptkit.data.catalog import DatasetEntry
from promptkit.data.datasets import ImageFileDataset, TensorImageDataset
from promptkit.data.imagefolder import scan_split
from promptkit.data.splits import SplitSource
from promptkit.errors import DatasetError
from promptkit.progress import PhaseProgress

__all__ = [
    "CIFAR100_RECORD_BYTES",
    "ENTRIES",
    "EUROSAT_SPLIT_SEED",
    "load_cifar100",
    "load_dtd",
    "load_eurosat",
    "load_svhn",
    "read_cifar100_bin",
]



def _download_archive(url: str, md5: str, into: Path) -> None:
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(url, download_root=str(into), md5=md5, remove_finished=True)


# --- DTD (Cimpoi et al., "Describing Textures in the Wild", CVPR 2014) -------------------------------------------

DTD_URL = "https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz"
DTD_MD5 = "fff73e5086ae6bdbea199a49dfb8a4c1"
DTD_PARTITION = 1  # DTD ships 10 train/val/test partitions; VTAB uses the first


def _download_dtd(root: Path) -> None:
    _download_archive(DTD_URL, DTD_MD5, root)  # unpacks to <root>/dtd/


def _read_dtd_list(data: Path, split: str, index: dict[str, int]) -> ImageFileDataset:
    list_file = data / "labels" / f"{split}{DTD_PARTITION}.txt"
    paths, labels, sizes = [], [], []
    for lineno, line in enumerate(list_file.read_text().splitlines(), start=1):
        rel = line.strip()
        if not rel:
            continue
        cls = rel.split("/", 1)[0]
        if cls not in index:
            raise DatasetError(
                f"{list_file}:{lineno} names class {cls!r}, which has no folder in {data / 'images'}",
                path=str(list_file), hint="the dataset looks incomplete; re-extract dtd-r1.0.1.tar.gz",
            )
        file = data / "images" / rel
        try:
            size = file.stat().st_size
        except FileNotFoundError as err:
            raise DatasetError(
                f"{list_file}:{lineno} lists {file}, which does not exist", path=str(file),
                hint="the dataset looks incomplete; re-extract dtd-r1.0.1.tar.gz",
            ) from err
        paths.append(f"images/{rel}")
        labels.append(index[cls])
        sizes.append(size)
    return ImageFileDataset(data, paths, labels, sizes)


def load_dtd(
    root: Path, *, seed: int = 0, verify: bool = False, progress: PhaseProgress | None = None
) -> SplitSource:
    """DTD partition 1: train and val (pooled for the VTAB-1k draw), test."""
    data = root / "dtd"
    class_names = sorted(p.name for p in (data / "images").iterdir() if p.is_dir() and not p.name.startswith("."))
    index = {c: i for i, c in enumerate(class_names)}
    train, val, test = (_read_dtd_list(data, split, index) for split in ("train", "val", "test"))
    if verify:
        _verify_all([train, val, test], progress)
    return SplitSource(train=train, val=val, test=test, class_names=class_names, protocol="vtab1k")


def _verify_all(parts: list[ImageFileDataset], progress: PhaseProgress | None) -> None:
    total, done = sum(len(p) for p in parts), 0
    for part in parts:
        part.verify(progress=None if progress is None else lambda i, _n, base=done: progress(base + i, total))
        done += len(part)


# --- SVHN (Netzer et al., NeurIPS workshop 2011), cropped digits ------------------------------------------------

SVHN_FILES = {
    "train": ("http://ufldl.stanford.edu/housenumbers/train_32x32.mat", "train_32x32.mat",
              "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat", "test_32x32.mat",
             "eb5a983be6a315427106f1b164d9cef3"),
}


def _download_svhn(root: Path) -> None:
    from torchvision.datasets.utils import download_url

    for url, filename, md5 in SVHN_FILES.values():
        download_url(url, str(root / "svhn"), filename=filename, md5=md5)


def _read_svhn_mat(file: Path) -> TensorImageDataset:
    try:
        from scipy.io import loadmat  # lazy: scipy is needed only for SVHN
        from scipy.io.matlab import MatReadError
    except ImportError as err:
        raise DatasetError(f"reading {file} needs scipy", path=str(file), hint="pip install scipy") from err
    try:
        mat = loadmat(str(file))
        x, y = mat["X"], mat["y"]
    except (OSError, ValueError, TypeError, KeyError, MatReadError) as err:
        raise DatasetError(
            f"cannot read {file}: {err}", path=str(file), hint="the file is damaged; delete it and download again"
        ) from err
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != y.size:
        raise DatasetError(
            f"{file}: expected X of shape (32, 32, 3, N) and N labels, got X {x.shape} and {y.size} labels",
            path=str(file), hint="the file is not SVHN's cropped-digits format (*_32x32.mat)",
        )
    images = torch.from_numpy(np.ascontiguousarray(np.transpose(x, (3, 2, 0, 1))))  # (32, 32, 3, N) -> (N, 3, 32, 32)
    labels = torch.from_numpy(y.astype(np.int64).reshape(-1) % 10)  # SVHN stores digit 0 as label 10
    return TensorImageDataset(images.to(torch.uint8), labels)


def load_svhn(
    root: Path, *, seed: int = 0, verify: bool = False, progress: PhaseProgress | None = None
) -> SplitSource:
    """SVHN train (73,257; the ``extra`` split is not used, as in VTAB) and test (26,032)."""
    train = _read_svhn_mat(root / "svhn" / "train_32x32.mat")
    test = _read_svhn_mat(root / "svhn" / "test_32x32.mat")
    return SplitSource(train=train, val=None, test=test, class_names=[str(d) for d in range(10)], protocol="vtab1k")


# --- CIFAR-100 (Krizhevsky, 2009), binary version ---------------------------------------------------------------

CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"
CIFAR100_MD5 = "03b5dce01913d631647c71ecec9e9cb8"
CIFAR100_RECORD_BYTES = 2 + 3 * 32 * 32  # coarse label, fine label, then R, G, B planes of 32 x 32


def _download_cifar100(root: Path) -> None:
    _download_archive(CIFAR100_URL, CIFAR100_MD5, root)  # unpacks to <root>/cifar-100-binary/


def read_cifar100_bin(file: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a CIFAR-100 binary file: records of 1 coarse + 1 fine label byte + 3,072 pixel bytes.

    Returns:
        ``(images, fine_labels)``.

    Shape:
        - images: ``(N, 3, 32, 32)`` uint8 (the record's planes are channel-major, rows in order)
        - fine_labels: ``(N,)`` int64
    """
    raw = np.fromfile(file, dtype=np.uint8)
    if raw.size == 0 or raw.size % CIFAR100_RECORD_BYTES:
        raise DatasetError(
            f"{file} has {raw.size} bytes, not a positive multiple of the {CIFAR100_RECORD_BYTES}-byte record",
            path=str(file), hint="the file is truncated; delete cifar-100-binary/ and download again",
        )
    records = raw.reshape(-1, CIFAR100_RECORD_BYTES)
    images = torch.from_numpy(np.ascontiguousarray(records[:, 2:]).reshape(-1, 3, 32, 32))
    return images, torch.from_numpy(records[:, 1].astype(np.int64))


def load_cifar100(
    root: Path, *, seed: int = 0, verify: bool = False, progress: PhaseProgress | None = None
) -> SplitSource:
    """CIFAR-100 fine labels, from the official *binary* version.

    The binary archive (``cifar-100-binary.tar.gz``) is used instead of the python one so that
    nothing is unpickled: a pickle from a downloaded archive can run arbitrary code.
    """
    data = root / "cifar-100-binary"
    names = [ln.strip() for ln in (data / "fine_label_names.txt").read_text().splitlines() if ln.strip()]
    train = TensorImageDataset(*read_cifar100_bin(data / "train.bin"))
    test = TensorImageDataset(*read_cifar100_bin(data / "test.bin"))
    return SplitSource(train=train, val=None, test=test, class_names=names, protocol="vtab1k")


# --- EuroSAT RGB (Helber et al., IEEE JSTARS 2019) ------------------------------------------------------------

EUROSAT_URL = "https://huggingface.co/datasets/torchgeo/eurosat/resolve/c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip"
EUROSAT_MD5 = "c8fa014336c82ac7804f0398fcb19387"
# EuroSAT has no official split. VTAB takes 60 / 20 / 20 % of it (train / val / test) in TFDS
# order, which the raw files cannot reproduce; we take the same fractions of one permutation
# with this fixed seed, independent of the experiment seed so that the test split never moves.
EUROSAT_SPLIT_SEED = 0
EUROSAT_FRACTIONS = (0.6, 0.2, 0.2)


def _download_eurosat(root: Path) -> None:
    _download_archive(EUROSAT_URL, EUROSAT_MD5, root / "eurosat")  # unpacks to <root>/eurosat/2750/


def load_eurosat(
    root: Path, *, seed: int = 0, verify: bool = False, progress: PhaseProgress | None = None
) -> SplitSource:
    """EuroSAT RGB with a fixed 60 / 20 / 20 % train / val / test split (``EUROSAT_SPLIT_SEED``)."""
    everything, class_names = scan_split(root / "eurosat", "2750")
    n = len(everything)
    perm = np.random.default_rng(EUROSAT_SPLIT_SEED).permutation(n)
    n_val, n_test = round(n * EUROSAT_FRACTIONS[1]), round(n * EUROSAT_FRACTIONS[2])
    n_train = n - n_val - n_test
    train, val, test = (
        everything.subset(sorted(perm[a:b].tolist()))
        for a, b in ((0, n_train), (n_train, n_train + n_val), (n_train + n_val, n))
    )
    if verify:
        _verify_all([train, val, test], progress)
    return SplitSource(train=train, val=val, test=test, class_names=class_names, protocol="vtab1k")


# The catalog entries, registered by promptkit/builtins.py.
ENTRIES: tuple[DatasetEntry, ...] = (
    DatasetEntry(
        name="dtd",
        group="natural",
        description="Describable Textures: 47 texture classes, 5,640 images (VTAB natural)",
        num_classes=47,
        files=("dtd/images", "dtd/labels/train1.txt", "dtd/labels/val1.txt", "dtd/labels/test1.txt"),
        layout="dtd/images/<class>/<image>.jpg and dtd/labels/{train,val,test}1.txt",
        homepage="https://www.robots.ox.ac.uk/~vgg/data/dtd/",
        download_fn=_download_dtd,
        kind="disk",
        loader=load_dtd,
    ),
    DatasetEntry(
        name="svhn",
        group="natural",
        description="Street View House Numbers, cropped digits: 10 classes (VTAB natural)",
        num_classes=10,
        files=("svhn/train_32x32.mat", "svhn/test_32x32.mat"),
        layout="svhn/train_32x32.mat and svhn/test_32x32.mat",
        homepage="http://ufldl.stanford.edu/housenumbers/",
        download_fn=_download_svhn,
        kind="disk",
        loader=load_svhn,
    ),
    DatasetEntry(
        name="cifar100",
        group="natural",
        description="CIFAR-100: 100 object classes, 32x32 (VTAB natural)",
        num_classes=100,
        files=("cifar-100-binary/train.bin", "cifar-100-binary/test.bin", "cifar-100-binary/fine_label_names.txt"),
        layout="cifar-100-binary/{train,test}.bin and cifar-100-binary/fine_label_names.txt (the binary version)",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        download_fn=_download_cifar100,
        kind="disk",
        loader=load_cifar100,
    ),
    DatasetEntry(
        name="eurosat",
        group="specialized",
        description="EuroSAT RGB: 10 land-use classes from Sentinel-2, 64x64 (VTAB specialized)",
        num_classes=10,
        files=("eurosat/2750",),
        layout="eurosat/2750/<class>/<image>.jpg",
        homepage="https://github.com/phelber/eurosat",
        download_fn=_download_eurosat,
        kind="disk",
        loader=load_eurosat,
    ),
)

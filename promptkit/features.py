"""Pooled features of a prompted backbone on a dataset, and an on-disk cache for them.

Ranking sources and evaluating prompts read the same features many times: one pass of a
ViT-B over a VTAB-1k task costs minutes on a CPU, a read of its cached features milliseconds.
The cache key is a SHA-256 over everything the features depend on (prompt values, backbone
weights, dataset fingerprint, split, pooling, precision), so a changed input can never hit a
stale entry. Entries are safetensors files written atomically (temp file, fsync, rename) that
carry their key and a digest of their tensors; an entry that fails to parse or to verify is
deleted and recomputed, never trusted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from promptkit import distributed
from promptkit._io import promptkit_home, write_atomic
from promptkit.device import autocast, loader_kwargs, resolve_device
from promptkit.digest import bytes_sha256, tensor_sha256
from promptkit.progress import PhaseProgress
from promptkit.prompted import PromptedViT

__all__ = ["FeatureCache", "cache_key", "default_cache_dir", "extract_features"]

_META_KEY = "promptkit.feature_cache"
_FORMAT = "promptkit-features-v2"  # v2: entries record the "content" digest


def default_cache_dir() -> Path:
    """``$PROMPTKIT_HOME/cache/features`` (``PROMPTKIT_HOME`` defaults to ``~/.cache/promptkit``)."""
    return promptkit_home() / "cache" / "features"


@torch.no_grad()
def extract_features(
    model: PromptedViT,
    dataset: Dataset,
    *,
    batch_size: int = 128,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    num_workers: int | None = None,
    use_prompt: bool = True,
    progress: PhaseProgress | None = None,
) -> tuple[Tensor, Tensor]:
    """Pooled features (prompts excluded from pooling) of every item of a dataset, in order.

    Args:
        model: the prompted backbone; moved to ``device`` when one is given.
        dataset: items ``(image (3, H, W), label int)``.
        batch_size: images per forward pass.
        device: ``auto``, ``cpu``, ``cuda[:N]``, ``mps``; ``None`` keeps the model's device.
        precision: ``fp32`` or ``bf16`` (autocast); the output is float32 either way.
        num_workers: DataLoader worker processes; ``None`` picks a default for the dataset and device.
        use_prompt: ``False`` gives the frozen backbone's features (no prompt).
        progress: ``callback(images_done, images_total)`` after each batch.

    Returns:
        ``(features, labels)`` on the CPU.

    Shape:
        - features: ``(N, d)`` float32
        - labels: ``(N,)`` int64
    """
    dev = next(model.vit.parameters()).device if device is None else resolve_device(device)
    model.to(dev)
    was_training = model.training
    model.eval()
    total = len(dataset)  # type: ignore[arg-type]
    if distributed.is_active():  # under torchrun: this process's block of batches, then all gathered
        try:
            return _extract_sharded(model, dataset, total, batch_size=batch_size, dev=dev, precision=precision,
                                    num_workers=num_workers, use_prompt=use_prompt, progress=progress)
        finally:
            model.train(was_training)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, **loader_kwargs(dev, num_workers, dataset))
    try:
        feats, labels = _pooled_batches(model, loader, dev, precision, use_prompt,
                                        None if progress is None else lambda done: progress(done, total))
    finally:
        model.train(was_training)
    if not feats:
        return torch.zeros(0, model.embed_dim), torch.zeros(0, dtype=torch.int64)
    return torch.cat(feats), torch.cat(labels)


def _pooled_batches(
    model: PromptedViT, loader: DataLoader, dev: torch.device, precision: str, use_prompt: bool,
    report: Callable[[int], None] | None,
) -> tuple[list[Tensor], list[Tensor]]:
    """Pooled features and labels of every batch of ``loader``, float32 on the CPU, in order.

    ``report(images_done)`` is called after each batch.
    """
    feats, labels, done = [], [], 0
    for images, y in loader:
        with autocast(dev, precision):
            f = model.pooled(images.to(dev, non_blocking=True), use_prompt=use_prompt)
        feats.append(f.float().cpu())
        labels.append(torch.as_tensor(y, dtype=torch.int64))
        done += images.shape[0]
        if report is not None:
            report(done)
    return feats, labels


def _extract_sharded(
    model: PromptedViT, dataset: Dataset, total: int, *, batch_size: int, dev: torch.device, precision: str,
    num_workers: int | None, use_prompt: bool, progress: PhaseProgress | None,
) -> tuple[Tensor, Tensor]:
    """:func:`extract_features` split over the processes of a torchrun run, in the single-process order.

    Each process computes one contiguous block of the single-process batches
    (:func:`promptkit.distributed.batch_block`); the blocks are gathered in rank order. Progress
    reports this process's share scaled to the whole pass, then the whole pass once gathered.
    """
    block = distributed.batch_block(total, batch_size)
    part = Subset(dataset, block)
    loader = DataLoader(part, batch_size=batch_size, shuffle=False, **loader_kwargs(dev, num_workers, dataset))
    def report(done: int) -> None:
        if progress is not None and done < len(block):
            progress(done * total // len(block), total)

    feats, labels = _pooled_batches(model, loader, dev, precision, use_prompt, report)
    feats.insert(0, torch.zeros(0, model.embed_dim))  # a process with no batch still gathers (0, d)
    labels.insert(0, torch.zeros(0, dtype=torch.int64))
    out = distributed.gather_rows(torch.cat(feats)), distributed.gather_rows(torch.cat(labels))
    if progress is not None:
        progress(total, total)
    return out


def cache_key(
    *,
    prompt_sha256: str,
    backbone_sha256: str,
    dataset_fingerprint: str,
    split: str,
    pooling: str,
    precision: str = "fp32",
) -> str:
    """SHA-256 over every input the cached features depend on."""
    parts = {
        "format": _FORMAT,
        "prompt": prompt_sha256,
        "backbone": backbone_sha256,
        "dataset": dataset_fingerprint,
        "split": split,
        "pooling": pooling,
        "precision": precision,
    }
    return bytes_sha256(json.dumps(parts, sort_keys=True).encode())


def _content_sha256(features: Tensor, labels: Tensor) -> str:
    """The digest a cache entry records: the ``"content"`` encoding of :func:`promptkit.digest.tensor_sha256`."""
    return tensor_sha256({"features": features, "labels": labels}, encoding="content")


class FeatureCache:
    """On-disk cache of ``(features, labels)`` keyed by :func:`cache_key`.

    Args:
        root: cache folder; default :func:`default_cache_dir`.

    Attributes:
        stats: counts of ``hits``, ``misses`` and ``corrupt`` entries seen by this instance.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.stats = {"hits": 0, "misses": 0, "corrupt": 0}

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.safetensors"

    def get(self, key: str) -> tuple[Tensor, Tensor] | None:
        """The entry for ``key``, or ``None`` when absent or corrupt (a corrupt file is deleted)."""
        path = self.path(key)
        if not path.is_file():
            self.stats["misses"] += 1
            return None
        entry = self._read_verified(path, key)
        if entry is None:
            self.stats["corrupt"] += 1
            self.stats["misses"] += 1
            path.unlink(missing_ok=True)
            return None
        self.stats["hits"] += 1
        return entry

    def put(self, key: str, features: Tensor, labels: Tensor, *, inputs: dict[str, Any] | None = None) -> Path:
        """Store an entry atomically; ``inputs`` (what the key was made of) is kept for inspection.

        Shape:
            - features: ``(N, d)``; labels: ``(N,)``
        """
        from safetensors.torch import save

        features = features.detach().to("cpu", torch.float32).contiguous()
        labels = labels.detach().to("cpu", torch.int64).contiguous()
        meta = {"key": key, "sha256": _content_sha256(features, labels), "inputs": inputs or {}}
        blob = save({"features": features, "labels": labels}, metadata={_META_KEY: json.dumps(meta, sort_keys=True)})
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, blob)
        return path

    def features(
        self,
        model: PromptedViT,
        dataset: Dataset,
        *,
        dataset_fingerprint: str,
        split: str,
        batch_size: int = 128,
        device: str | torch.device | None = None,
        precision: str = "fp32",
        num_workers: int | None = None,
        use_prompt: bool = True,
        progress: PhaseProgress | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Cached :func:`extract_features`: read the entry, or compute and store it.

        The key uses the model's backbone identity (a bare timm model is hashed on the spot),
        its prompt (or none when ``use_prompt`` is False), pooling and ``precision``.
        """
        parts = self.key_parts(model, dataset_fingerprint=dataset_fingerprint, split=split,
                               precision=precision, use_prompt=use_prompt)
        key = cache_key(**parts)
        # under torchrun rank 0 alone reads and writes the cache, and every process follows its hit or miss
        hit = distributed.from_writer(lambda: self.get(key))
        if hit is not None:
            return hit
        feats, labels = extract_features(model, dataset, batch_size=batch_size, device=device, precision=precision,
                                         num_workers=num_workers, use_prompt=use_prompt, progress=progress)
        if distributed.is_writer():
            self.put(key, feats, labels, inputs=parts)
        return feats, labels

    @staticmethod
    def key_parts(
        model: PromptedViT, *, dataset_fingerprint: str, split: str, precision: str = "fp32", use_prompt: bool = True
    ) -> dict[str, str]:
        """The named inputs of :func:`cache_key` for a model, dataset split and precision."""
        from promptkit.backbone import state_dict_sha256
        from promptkit.prompted import prompt_sha256

        if model.identity is not None:
            backbone = model.identity.weights_sha256
        else:
            backbone = state_dict_sha256(model.vit.state_dict())
        return {
            "prompt_sha256": model.prompt_sha256() if use_prompt else prompt_sha256(None),
            "backbone_sha256": backbone,
            "dataset_fingerprint": dataset_fingerprint,
            "split": split,
            "pooling": f"{model.vit.global_pool}:prefix={model.num_prefix_tokens}",
            "precision": precision,
        }

    @staticmethod
    def _read_verified(path: Path, key: str) -> tuple[Tensor, Tensor] | None:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as fh:
                meta = json.loads((fh.metadata() or {})[_META_KEY])
                features, labels = fh.get_tensor("features"), fh.get_tensor("labels")
        except Exception:  # truncated file, bad header, missing tensor or metadata: all mean "corrupt"
            return None
        if meta.get("key") != key or meta.get("sha256") != _content_sha256(features, labels):
            return None
        if features.ndim != 2 or labels.shape != features.shape[:1]:
            return None
        return features, labels

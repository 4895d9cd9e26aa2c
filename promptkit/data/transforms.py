"""Image transforms that match a backbone's pretrained preprocessing.

A frozen backbone only sees inputs like those it was pretrained on when the input size,
normalization (mean, std), resize interpolation and crop follow its timm pretrained config;
:func:`transform_for` resolves that config with ``timm.data.resolve_data_config`` and builds
the transform with ``timm.data.create_transform``. The default is timm's deterministic eval
transform (resize, centre crop, normalize): VPT tunes prompts on eval-style inputs, and a
deterministic transform keeps features cacheable. The transform's ``repr`` lists all its
parameters and goes into the dataset fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

import torch

__all__ = ["data_config_for", "transform_for"]


def data_config_for(model_or_pretrained_cfg: Any) -> dict[str, Any]:
    """The timm data config (input_size, interpolation, mean, std, crop_pct, crop_mode).

    Args:
        model_or_pretrained_cfg: a timm model (uses its ``pretrained_cfg``), a pretrained config
            (dict or timm ``PretrainedCfg``), or a timm model name such as
            ``"vit_base_patch16_224.augreg_in21k"`` (its config is looked up, no weights are
            loaded). A module that wraps a timm model is searched for it. For a model, the
            input size is its ``patch_embed.img_size`` (the size it was built for, e.g. 32 for
            the embedded zoo's backbone or 384 after ``img_size=384``), and the rest (mean, std,
            interpolation, crop) comes from its pretrained config; timm would otherwise assume
            224 for a model built without one.
    """
    from timm.data import resolve_data_config

    obj = model_or_pretrained_cfg
    if isinstance(obj, str):
        import timm

        cfg = timm.models.get_pretrained_cfg(obj)
        if cfg is None:
            from promptkit.errors import UsageError

            raise UsageError(
                f"timm has no pretrained config for {obj!r}", hint="check the name with timm.list_pretrained()"
            )
        return resolve_data_config(pretrained_cfg=asdict(cfg))
    if is_dataclass(obj) and not isinstance(obj, type):
        return resolve_data_config(pretrained_cfg=asdict(obj))
    if isinstance(obj, Mapping):
        return resolve_data_config(pretrained_cfg=dict(obj))
    if isinstance(obj, torch.nn.Module):
        # A wrapper (e.g. a prompted ViT) holds the timm model as a submodule: use the first module
        # that knows its input, rather than letting timm fall back to 224 silently.
        vit = next((m for m in obj.modules() if getattr(m, "pretrained_cfg", None) or hasattr(m, "patch_embed")), None)
        if vit is None:
            from promptkit.errors import UsageError

            raise UsageError(
                f"{type(obj).__name__} has no pretrained_cfg and no patch_embed to take the input size from",
                hint="pass the timm model, its pretrained_cfg, or its timm name",
            )
        pretrained = getattr(vit, "pretrained_cfg", None) or {}
        args: dict[str, Any] = {}
        img_size = getattr(getattr(vit, "patch_embed", None), "img_size", None)
        if img_size is not None:  # the size the model was built for wins over its pretraining size
            h, w = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
            args["input_size"] = (3, int(h), int(w))
        if not pretrained and not args:
            from promptkit.errors import UsageError

            raise UsageError(f"cannot tell the input size of {type(vit).__name__}", hint="pass its pretrained_cfg")
        return resolve_data_config(args=args, pretrained_cfg=dict(pretrained))
    raise TypeError(f"expected a timm model, a pretrained config or a timm model name, got {type(obj).__name__}")


def transform_for(model_or_pretrained_cfg: Any, *, train: bool = False) -> Callable[[Any], torch.Tensor]:
    """The preprocessing a backbone expects, as a torchvision transform.

    Args:
        model_or_pretrained_cfg: see :func:`data_config_for`.
        train: timm's training transform (random resized crop, flip, colour jitter) instead of
            the deterministic eval transform. Random transforms make features differ per
            epoch, so cached features and fingerprints only make sense for ``train=False``.

    Returns:
        A callable taking a PIL image or a float tensor ``(3, H, W)`` in ``[0, 1]`` and
        returning the normalized float tensor ``(3, S, S)`` at the backbone's input size.
    """
    from timm.data import create_transform

    cfg = data_config_for(model_or_pretrained_cfg)
    return create_transform(**cfg, is_training=train)

"""A frozen timm Vision Transformer and the identity that every prompt tuned on it records.

Prompts only make sense on the exact weights they were tuned on (VPT; Jia et al., ECCV 2022),
so loading a backbone also fingerprints it: :class:`~promptkit.identity.BackboneIdentity`
holds the timm name, the pretrained tag, and a SHA-256 over the weights actually loaded.

Three ways to get weights, all ending in the same frozen, eval-mode model:

- ``load_backbone("vit_base_patch16_224.augreg_in21k")``: timm's pretrained weights, read
  from the local Hugging Face cache when they are there (no network call), else downloaded;
  with neither, a :class:`~promptkit.errors.WeightsError` within seconds
  (:mod:`promptkit.hub_weights`);
- ``load_backbone("vit_base_patch16_224", weights="vit.safetensors")``: a local file
  (``.safetensors``, or ``.pth``/``.bin``/``.pt`` read with ``torch.load(weights_only=True)``);
- ``load_backbone("vit_tiny_patch16_224", pretrained=False)``: random init, for tests.

The classifier head is removed (``reset_classifier(0)``): promptkit trains its own linear head,
and leaving it out of the digest lets the same trunk match whatever head a checkpoint carried.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from promptkit.digest import tensor_sha256
from promptkit.errors import IncompatibleError, UsageError, WeightsError
from promptkit.identity import BackboneIdentity, PromptGeometry
from promptkit.plugins import Registry
from promptkit.state_dict import CHECKPOINT_SUFFIXES, read_checkpoint

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneLoader",
    "backbone_for",
    "load_backbone",
    "register_backbone",
    "state_dict_sha256",
]


def state_dict_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over a state dict, independent of insertion order and memory layout.

    Hashes, for each entry in sorted name order, its name, dtype, shape and the bytes of the
    contiguous CPU tensor, each field length-prefixed so that no two state dicts collide by
    concatenation: the ``"weights"`` encoding of :func:`promptkit.digest.tensor_sha256`.
    """
    return tensor_sha256(state_dict, encoding="weights")


@dataclass
class Backbone:
    """A frozen timm ``VisionTransformer`` with its identity.

    Attributes:
        model: the timm model, in eval mode, every parameter ``requires_grad=False``, no
            classifier head (``num_classes == 0``).
        identity: timm name, pretrained tag, digest of the loaded weights, Hub id.
        data_config: timm's data config for this model (``input_size``, ``mean``, ``std``,
            ``interpolation``, ``crop_pct``): what the dataset transforms should use.
    """

    model: nn.Module
    identity: BackboneIdentity
    data_config: dict[str, Any] = field(default_factory=dict)

    @property
    def embed_dim(self) -> int:
        return int(self.model.embed_dim)

    @property
    def depth(self) -> int:
        return len(self.model.blocks)

    def geometry(self, mode: Literal["shallow", "deep"], length: int) -> PromptGeometry:
        """The geometry of a ``mode`` prompt of ``length`` tokens per layer on this backbone."""
        return PromptGeometry.for_backbone(mode, length, width=self.embed_dim, depth=self.depth)

    @property
    def num_prefix_tokens(self) -> int:
        return int(self.model.num_prefix_tokens)

    @property
    def patch_size(self) -> tuple[int, int]:
        return tuple(self.model.patch_embed.patch_size)  # type: ignore[return-value]

    @property
    def num_patches(self) -> int:
        return int(self.model.patch_embed.num_patches)

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        *,
        timm_name: str,
        pretrained_tag: str | None = None,
        hub_id: str | None = None,
    ) -> Backbone:
        """Freeze an already-built timm ``VisionTransformer`` and fingerprint its weights.

        For models built in code (e.g. the embedded zoo's small ViT) rather than by name. The
        model is modified in place: head removed, eval mode, gradients off.
        """
        _require_vit(model, timm_name)
        if getattr(model, "num_classes", 0):
            model.reset_classifier(0)
        model.eval()
        model.requires_grad_(False)
        identity = BackboneIdentity(
            timm_name=timm_name,
            pretrained_tag=pretrained_tag,
            weights_sha256=state_dict_sha256(model.state_dict()),
            hub_id=hub_id,
        )
        return cls(model=model, identity=identity, data_config=_data_config(model))


BackboneLoader = Callable[..., Backbone]
"""``loader(*, weights, pretrained, **kwargs) -> Backbone`` for a named backbone."""

# Named backbones that are not plain timm names (e.g. the embedded zoo's small ViT and its
# shipped weights); the built-ins are listed in promptkit/builtins.py.
BACKBONES: Registry[BackboneLoader] = Registry("backbone", home=__name__, listing="promptkit plugins backbones")


def register_backbone(name: str) -> Callable[[BackboneLoader], BackboneLoader]:
    """Register a loader that :func:`load_backbone` uses for ``name`` instead of timm's factory.

    Backbones loaded this way are identified by the registered name (``identity.timm_name ==
    name``), so an asset tuned on one names what reloads it.
    """
    return BACKBONES.register(name)


def load_backbone(
    name: str,
    *,
    weights: str | os.PathLike[str] | None = None,
    pretrained: bool = True,
    **timm_kwargs: Any,
) -> Backbone:
    """Load a frozen timm Vision Transformer by name.

    Args:
        name: a name registered with :func:`register_backbone`, or a timm model name,
            optionally with a pretrained tag (``"vit_base_patch16_224.augreg_in21k"``).
        weights: a local weights file to load instead of downloading; takes precedence over
            ``pretrained``.
        pretrained: download timm's pretrained weights (ignored when ``weights`` is given);
            ``False`` gives a random init (tests only: its digest depends on the RNG).
        **timm_kwargs: passed to ``timm.create_model`` (e.g. ``img_size=64``).

    Returns:
        The frozen backbone and its identity.

    Raises:
        UsageError: unknown timm name, or a model that is not a ``VisionTransformer``.
        WeightsError: pretrained weights could not be downloaded, or the local file is missing,
            unreadable, or does not fit the architecture.
    """
    if name in BACKBONES:
        entry = BACKBONES.entry(name)
        backbone = entry.value(weights=weights, pretrained=pretrained, **timm_kwargs)
        if backbone.identity.timm_name != entry.name:  # the registered name is what reloads it: record that
            backbone.identity = backbone.identity.model_copy(update={"timm_name": entry.name})
        return backbone
    import timm

    arch, tag = timm.models.split_model_name_tag(name)
    if not timm.is_model(arch):
        raise UsageError(
            f"unknown timm model {name!r}",
            hint="pick a name from `python -c \"import timm; print(timm.list_models('vit*'))\"`",
        )
    timm_kwargs = {**timm_kwargs, "num_classes": 0}
    if weights is not None:
        model = timm.create_model(name, pretrained=False, **timm_kwargs)
        _require_vit(model, name)
        _load_local_weights(model, Path(weights), name)
        tag, hub_id = None, None
    else:
        if pretrained:  # cached weights load with no network call; none and no network fails in seconds
            from promptkit.hub_weights import pretrained_weights_file

            cached = pretrained_weights_file(name)
            if cached is not None:
                timm_kwargs["pretrained_cfg_overlay"] = {"file": str(cached), "source": ""}
        try:
            model = timm.create_model(name, pretrained=pretrained, **timm_kwargs)
        except OSError as e:  # huggingface_hub / urllib network and cache errors are all OSErrors
            from promptkit.hub_weights import how_to_get_weights

            raise WeightsError(f"could not download pretrained weights for {name!r}: {e}", model=name,
                               hint=how_to_get_weights(name)) from e
        _require_vit(model, name)
        cfg = getattr(model, "pretrained_cfg", {}) or {}
        tag = (cfg.get("tag") or tag or None) if pretrained else None
        hub_id = cfg.get("hf_hub_id") if pretrained else None
    return Backbone.from_model(model, timm_name=arch, pretrained_tag=tag, hub_id=hub_id)


def _require_vit(model: nn.Module, name: str) -> None:
    from timm.models.vision_transformer import VisionTransformer

    if not isinstance(model, VisionTransformer):
        raise UsageError(
            f"{name!r} is a {type(model).__name__}, not a timm VisionTransformer; "
            "promptkit inserts prompts into VisionTransformer token sequences only",
            hint="use a vit_*, deit_* or other timm VisionTransformer model",
        )
    if model.global_pool == "":
        raise UsageError(
            f"{name!r} has no pooling (global_pool='')",
            hint="pass global_pool='token' or 'avg' through the timm arguments",
        )


def _read_state_dict(path: Path, name: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"weights file {str(path)!r} does not exist", model=name, path=str(path),
                           hint="check the path passed to --weights")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        if path.suffix in CHECKPOINT_SUFFIXES:
            state = read_checkpoint(path)  # unwrapped: training checkpoints often nest the state dict
        else:
            raise WeightsError(
                f"cannot read weights file {str(path)!r}: unknown suffix {path.suffix!r}",
                model=name, path=str(path),
                hint="use a .safetensors file, or a .pth/.pt/.bin state dict",
            )
    except WeightsError:
        raise
    except Exception as e:  # safetensors/pickle raise many types; all mean "unreadable"
        raise WeightsError(
            f"cannot read weights file {str(path)!r}: {e}", model=name, path=str(path),
            hint="the file is corrupt or not a plain state dict (torch.load runs with weights_only=True)",
        ) from e
    if state is None or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{str(path)!r} does not hold a state dict of tensors", model=name, path=str(path))
    return state


def _load_local_weights(model: nn.Module, path: Path, name: str) -> None:
    from timm.models.vision_transformer import checkpoint_filter_fn

    state = _read_state_dict(path, name)
    try:
        # timm's own converter for pretrained checkpoints: JAX/CLIP/DINOv2 key layouts, pos-embed resampling.
        state = checkpoint_filter_fn(state, model)
    except Exception as e:
        raise WeightsError(f"{str(path)!r} does not fit {name!r}: {e}", model=name, path=str(path)) from e
    state = {k: v for k, v in state.items() if not k.startswith("head.")}  # promptkit trains its own head
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise WeightsError(f"{str(path)!r} does not fit {name!r}: {e}", model=name, path=str(path),
                           hint="pass the timm name (and img_size) these weights were trained for") from e
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(
            f"{str(path)!r} does not fit {name!r}: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}",
            model=name, path=str(path),
            hint="pass the timm name of the architecture these weights were trained for",
        )


def _data_config(model: nn.Module) -> dict[str, Any]:
    from timm.data import resolve_model_data_config

    try:
        cfg = dict(resolve_model_data_config(model))
    except Exception:  # models built in code may lack a pretrained_cfg; timm defaults are fine then
        cfg = {}
    # timm keeps the pretrained cfg's input size even when img_size=... was overridden; the
    # patch embedding's size is what a fixed-size model actually accepts.
    img_size = getattr(model.patch_embed, "img_size", None)
    if img_size is not None and not getattr(model, "dynamic_img_size", False):
        cfg["input_size"] = (3, int(img_size[0]), int(img_size[1]))
    return cfg


def backbone_for(identity: BackboneIdentity, *, weights: str | os.PathLike[str] | None = None) -> Backbone:
    """Reload the backbone a prompt was tuned on and prove it is the same one (weights digest).

    Looks up a registered backbone by name (the embedded zoo's), else timm's
    ``name.pretrained_tag`` (downloaded, or ``weights`` when given).

    Raises:
        IncompatibleError: the loaded weights' digest differs from ``identity``'s; names both.
        WeightsError: the weights cannot be obtained (no network): pass ``weights``.
    """
    name = identity.timm_name
    if name not in BACKBONES and identity.pretrained_tag and weights is None:
        name = f"{name}.{identity.pretrained_tag}"
    backbone = load_backbone(name, weights=weights)
    if backbone.identity.weights_sha256 != identity.weights_sha256:
        raise IncompatibleError(
            "backbone weights", identity.short(), backbone.identity.short(),
            hint="the prompt was tuned on other weights of this architecture; pass the right file with --weights",
        )
    if weights is not None:  # a local file proves identity by digest; keep the recorded tag and Hub id
        backbone.identity = identity
    return backbone

"""Registry operations that combine steps: add whatever the user points at."""

from __future__ import annotations

import json
from pathlib import Path

from promptkit.errors import IncompatibleError, InvalidAssetError, UsageError
from promptkit.identity import BackboneIdentity, PromptGeometry

from .files import HEAD_WEIGHT, PROMPT, read_header
from .importers import read_bare_prompt
from .layout import MANIFEST_FILE, PROMPT_FILE
from .limits import read_regular_file, regular_file_size
from .manifest import METADATA_KEY, AssetSpec, HeadInfo, Manifest
from .refs import validate_tag
from .store import Registry

__all__ = ["add_path", "check_backbone_geometry"]


def add_path(
    reg: Registry,
    path: Path,
    *,
    name: str | None = None,
    backbone: str | None = None,
    weights_sha256: str | None = None,
    like: str | None = None,
    mode: str | None = None,
    tags: dict[str, str] | None = None,
    description: str = "",
) -> Manifest:
    """Add a folder made by ``export``, a promptkit file (stored verbatim), or a bare prompt/checkpoint.

    Bare prompts carry no backbone identity: give ``backbone`` and ``weights_sha256``, or
    ``like`` (an asset whose identity to copy); their geometry is checked against the backbone's
    width and depth as the registry knows them (from ``like`` and the prompts stored for that
    backbone). Content already stored under the name (same content digest) is not added again:
    the existing version is returned (its number is not above the name's mark in
    :func:`promptkit.registry.versioning.high_water` read before the call).

    Raises:
        IncompatibleError: the prompt's width or deep layers do not fit the named backbone.
    """
    path = Path(path)
    for key, value in (tags or {}).items():
        validate_tag(key, value)  # before anything is read: a bad tag is a usage error, whatever the file
    if mode not in (None, "shallow", "deep"):
        raise UsageError(f"invalid mode {mode!r}", hint="give --mode shallow or --mode deep")
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if path.is_dir():
        return _add_folder(reg, path, name=name, tags=tags, description=description)
    regular_file_size(path)  # a FIFO or device is refused here, never opened
    if path.suffix == ".safetensors":
        _, metadata = read_header(read_regular_file(path), source=str(path))
        if METADATA_KEY in metadata:
            return reg.import_file(path, name=name, tags=_merged(None, tags), description=description or None,
                                   dedupe=True)
    tensors = read_bare_prompt(path)
    if name is None:
        raise UsageError(f"{path} carries no manifest, so it needs a name", hint="add --name NAME")
    identity = _identity(reg, backbone=backbone, weights_sha256=weights_sha256, like=like)
    layers, length, width = tensors[PROMPT].shape
    geometry = PromptGeometry(mode=mode or ("deep" if layers > 1 else "shallow"), length=length, width=width,
                              layers=layers)
    check_backbone_geometry(reg, identity, geometry, like=like)
    head = None
    if HEAD_WEIGHT in tensors:
        head = HeadInfo(num_classes=tensors[HEAD_WEIGHT].shape[0], in_features=tensors[HEAD_WEIGHT].shape[1])
    spec = AssetSpec(backbone=identity, geometry=geometry, init="imported", head=head, tags=tags or {},
                     description=description, training={"imported_from": path.name})
    return reg.add(name, {k: v.float() if v.dtype.is_floating_point else v for k, v in tensors.items()}, spec,
                   dedupe=True)


def _add_folder(
    reg: Registry, folder: Path, *, name: str | None, tags: dict[str, str] | None, description: str = ""
) -> Manifest:
    """Import an exported folder; its manifest's tags carry over, ``tags`` and ``description`` override."""
    file = folder / PROMPT_FILE
    if not file.is_file():
        raise UsageError(f"{folder} holds no {PROMPT_FILE}", hint="give a folder written by `promptkit export`")
    exported_tags = None
    record = folder / MANIFEST_FILE
    if record.is_file():
        try:
            exported = json.loads(read_regular_file(record))
        except ValueError:
            raise InvalidAssetError(f"{MANIFEST_FILE} is not valid JSON", source=str(record)) from None
        if not isinstance(exported, dict):
            raise InvalidAssetError(f"{MANIFEST_FILE} is not a JSON object", source=str(record))
        exported_tags = exported.get("tags")
        if exported_tags is not None and not (
            isinstance(exported_tags, dict) and all(isinstance(v, str) for v in exported_tags.values())
        ):
            raise InvalidAssetError(f"{MANIFEST_FILE}: 'tags' is not an object of strings", source=str(record))
    return reg.import_file(file, name=name, tags=_merged(exported_tags, tags), description=description or None,
                           dedupe=True)


def _merged(base: dict[str, str] | None, extra: dict[str, str] | None) -> dict[str, str] | None:
    if base is None and not extra:
        return None
    return {**(base or {}), **(extra or {})}


def _identity(
    reg: Registry, *, backbone: str | None, weights_sha256: str | None, like: str | None
) -> BackboneIdentity:
    if like:
        return reg.resolve(like).backbone
    if not backbone or not weights_sha256:
        raise UsageError(
            "a bare prompt needs its backbone identity",
            hint="add --backbone TIMM_NAME --weights-sha256 HEX, or --like REF to copy it from a stored prompt",
        )
    try:
        return BackboneIdentity(timm_name=backbone, weights_sha256=weights_sha256.lower())
    except ValueError:
        raise UsageError(f"--weights-sha256 {weights_sha256!r} is not 64 hexadecimal characters") from None


def check_backbone_geometry(
    reg: Registry, identity: BackboneIdentity, geometry: PromptGeometry, *, like: str | None = None
) -> None:
    """Refuse a prompt whose width, or deep layer count, differs from what the backbone takes.

    The backbone's width and depth are read from the registry: ``like`` and every prompt stored
    for the same backbone (timm name and weights digest; built-ins included). A backbone the
    registry has never seen is not checked here (its first use loads it and checks then).

    Raises:
        IncompatibleError: naming the prompt's shape, the backbone's, and where that came from.
    """
    manifests = [reg.resolve(like)] if like else []
    manifests += [e.manifest for e in reg.list(backbone=identity.timm_name, all_versions=False)
                  if e.manifest.backbone.same_backbone(identity)]
    if not manifests:
        return
    width = manifests[0].geometry.width
    deep = next((m for m in manifests if m.geometry.mode == "deep"), None)
    depth = None if deep is None else deep.geometry.layers
    seen = manifests[0].ref if like is None else like
    if geometry.width != width or (geometry.mode == "deep" and depth is not None and geometry.layers != depth):
        takes = f"width {width}" + ("" if depth is None else f", {depth} layers when deep")
        raise IncompatibleError(
            f"prompt geometry for {identity.short()} ({takes}, as {seen} shows)", takes,
            f"{geometry.short()} ({geometry.layers} layers of {geometry.length} tokens of width {geometry.width})",
            hint="this prompt was tuned on another backbone: give that backbone's --backbone and --weights-sha256, "
                 "or --like a prompt tuned on it",
        )

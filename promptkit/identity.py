"""What a prompt belongs to: the backbone it was tuned for and the shape of its tokens.

These two records travel with every prompt (in the registry manifest, in the Hub model card)
and decide compatibility: a prompt is only ever used with the backbone and geometry it was
made for (:func:`check_compatible`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from promptkit.errors import IncompatibleError

__all__ = ["BackboneIdentity", "PromptGeometry", "check_compatible"]

_HEX64 = r"^[0-9a-f]{64}$"


class BackboneIdentity(BaseModel):
    """Which frozen backbone a prompt was tuned on.

    Two identities are the same backbone when ``timm_name`` and ``weights_sha256`` agree; the
    pretrained tag and Hub id are descriptive (the digest of the weights actually loaded is
    what proves identity).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timm_name: str = Field(min_length=1, max_length=200)  # e.g. "vit_base_patch16_224"
    pretrained_tag: str | None = None  # e.g. "augreg_in21k"; None for local weights
    weights_sha256: str = Field(pattern=_HEX64)  # digest of the state dict actually loaded
    hub_id: str | None = None  # e.g. "timm/vit_base_patch16_224.augreg_in21k" (model card base_model)

    def short(self) -> str:
        """``name.tag@sha256:abcdef123456`` for messages and tables."""
        tag = f".{self.pretrained_tag}" if self.pretrained_tag else ""
        return f"{self.timm_name}{tag}@{self.weights_sha256[:12]}"

    def same_backbone(self, other: BackboneIdentity) -> bool:
        return self.timm_name == other.timm_name and self.weights_sha256 == other.weights_sha256


class PromptGeometry(BaseModel):
    """Shape of a prompt tensor: ``(layers, length, width)``.

    Shallow prompts have ``layers == 1`` (inserted once, before block 0); deep prompts have
    one set of ``length`` tokens per transformer block (VPT-deep, Jia et al. 2022).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["shallow", "deep"]
    length: int = Field(ge=1, le=4096)  # tokens per layer (m)
    width: int = Field(ge=1, le=65536)  # embedding dimension (d)
    layers: int = Field(ge=1, le=1024)  # 1 for shallow, depth L of the backbone for deep

    @model_validator(mode="after")
    def _shallow_has_one_layer(self) -> PromptGeometry:
        if self.mode == "shallow" and self.layers != 1:
            raise ValueError(f"a shallow prompt has layers=1, got layers={self.layers}")
        return self

    @classmethod
    def for_backbone(cls, mode: Literal["shallow", "deep"], length: int, *, width: int, depth: int) -> PromptGeometry:
        """The geometry a backbone of ``width`` and ``depth`` blocks takes: 1 layer shallow, ``depth`` deep.

        Prefer :meth:`promptkit.backbone.Backbone.geometry`, which reads width and depth off the model.
        """
        return cls(mode=mode, length=length, width=width, layers=1 if mode == "shallow" else depth)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.layers, self.length, self.width)

    def short(self) -> str:
        return f"{self.mode} {self.layers}x{self.length}x{self.width}"


def check_compatible(
    what: str,
    expected: tuple[BackboneIdentity, PromptGeometry],
    actual: tuple[BackboneIdentity, PromptGeometry],
    *,
    check_geometry: bool = True,
) -> None:
    """Raise :class:`IncompatibleError` naming both sides when backbone or geometry differ.

    Args:
        what: what is being checked, for the message (e.g. ``"source zoo/dtd:1"``).
        expected: the reference backbone and geometry.
        actual: the candidate's backbone and geometry.
        check_geometry: also require equal geometry (needed when prompts are combined).
    """
    eb, eg = expected
    ab, ag = actual
    if not eb.same_backbone(ab):
        raise IncompatibleError(
            f"{what}: backbone", eb.short(), ab.short(),
            hint="a prompt only works with the backbone it was tuned on; pick sources tuned on the same backbone",
        )
    if check_geometry and eg != ag:
        raise IncompatibleError(
            f"{what}: prompt geometry", eg.short(), ag.short(),
            hint="prompts can only be combined when mode, length, width and layers agree",
        )

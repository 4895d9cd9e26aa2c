"""The manifest: validated metadata of one stored prompt version (a prompt, or an ensemble of prompts).

A manifest is stored twice: as ``manifest.json`` next to the tensors (the registry's record,
where mutable tags are updated) and inside the ``.safetensors`` header's ``__metadata__`` under
:data:`METADATA_KEY` as a JSON string, so that a lone file describes itself.

:class:`AssetSpec` is what a caller provides; :class:`Manifest` adds what the registry assigns
(name, version, digest, time, promptkit version).

Schema versions: 1 knows only single prompts; 2 adds ``kind`` (``"prompt"`` or ``"ensemble"``)
and, for an ensemble, :class:`EnsembleInfo` (its members, where each started from and its weight).
Manifests of both versions load; new ones are written as version 2. A version-1 manifest is
dumped without the fields it never had, so its JSON stays what it was written as.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from promptkit.errors import InvalidAssetError
from promptkit.identity import BackboneIdentity, PromptGeometry

from .refs import validate_name, validate_tag

__all__ = [
    "ALPHA_SUM_ATOL",
    "ENSEMBLE",
    "KINDS",
    "METADATA_KEY",
    "PROMPT_KIND",
    "SCHEMA_VERSION",
    "AssetSpec",
    "DatasetInfo",
    "EnsembleInfo",
    "EnsembleMember",
    "HeadInfo",
    "Lineage",
    "LineageSource",
    "Manifest",
    "Origin",
    "parse_manifest",
]

SCHEMA_VERSION = 2  # written by this promptkit; 1 (prompts only) still loads
METADATA_KEY = "promptkit.manifest"  # key of the manifest JSON in the safetensors __metadata__
PROMPT_KIND = "prompt"  # one prompt (L, m, d)
ENSEMBLE = "ensemble"  # k member prompts (k, L, m, d) mixed in feature space
KINDS = (PROMPT_KIND, ENSEMBLE)
ALPHA_SUM_ATOL = 1e-4  # an ensemble's weights sum to 1 within this
_HEX64 = r"^[0-9a-f]{64}$"
_SCHEMA_2_FIELDS = ("kind", "ensemble")  # what a schema-1 manifest never had


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class DatasetInfo(_Model):
    """The data a prompt was tuned on (task name plus a fingerprint of files, labels, split, transform)."""

    name: str = Field(min_length=1, max_length=512)  # catalog name or folder path
    fingerprint: str = Field(pattern=_HEX64)
    num_classes: int | None = Field(default=None, ge=2)
    sizes: dict[str, int] = Field(default_factory=dict)  # split -> number of images


class HeadInfo(_Model):
    """The linear head stored with a prompt: ``head.weight`` (C, d) and ``head.bias`` (C,) on pooled features."""

    num_classes: int = Field(ge=2)
    in_features: int = Field(ge=1)
    task: str | None = None  # the dataset the head's classes belong to


class LineageSource(_Model):
    """One source of a composed prompt."""

    ref: str  # exact reference used, e.g. "zoo/textures:1"
    sha256: str = Field(pattern=_HEX64)  # content digest of that version
    weight: float | None = None  # ensemble weight alpha_i
    hub_repo: str | None = None  # where the source can be fetched, when known
    task: str | None = None


class Lineage(_Model):
    """How a prompt was derived from other prompts (ensembles, `from:` inits)."""

    method: str = Field(min_length=1)
    sources: list[LineageSource] = Field(default_factory=list)
    params: dict[str, JsonValue] = Field(default_factory=dict)  # alpha, lambda, scores, seed, ...


class Origin(_Model):
    """Where a pulled prompt came from."""

    repo_id: str
    commit_sha: str
    revision: str | None = None
    endpoint: str | None = None
    pulled_at: datetime


class EnsembleMember(_Model):
    """One member of a stored ensemble: the source version it started from and its weight.

    ``prompt_sha256`` is :func:`promptkit.prompted.prompt_sha256` of the member as stored (tuned),
    so that a changed member is named when the file is read.
    """

    ref: str = Field(min_length=1, max_length=512)  # the source version it started from, e.g. "zoo/count:2"
    sha256: str = Field(pattern=_HEX64)  # that source version's content digest
    task: str | None = None  # the source's task
    weight: float = Field(ge=0.0)  # this member's alpha
    prompt_sha256: str = Field(pattern=_HEX64)  # digest of the stored member tensor (L, m, d)


class EnsembleInfo(_Model):
    """What an ensemble asset is made of: its k members, in the order of the ``members`` tensor."""

    members: list[EnsembleMember] = Field(min_length=1)
    composition: str = Field(default=ENSEMBLE, min_length=1, max_length=200)  # how it was composed
    learned_alpha: bool = False  # whether alpha was tuned with the members
    # what the head reads: "mix", the alpha-weighted sum of the members' standardized features (d),
    # or "stack", those features side by side scaled by sqrt(alpha) (k d)
    features: Literal["mix", "stack"] = "mix"

    @model_validator(mode="after")
    def _weights_on_the_simplex(self) -> EnsembleInfo:
        total = sum(m.weight for m in self.members)
        if abs(total - 1.0) > ALPHA_SUM_ATOL:
            raise ValueError(f"the members' weights must sum to 1, they sum to {total:.6f}")
        return self

    @property
    def k(self) -> int:
        """The number of members."""
        return len(self.members)

    def head_in_features(self, width: int) -> int:
        """What the ensemble's head reads for members of ``width``: ``d`` (mix) or ``k d`` (stack)."""
        return width * (self.k if self.features == "stack" else 1)


class AssetSpec(_Model):
    """Everything about an asset that its producer knows; the registry adds identity fields.

    ``kind`` is ``"prompt"`` (tensors ``prompt`` and an optional head) or ``"ensemble"``
    (tensors ``members``, ``alpha``, ``member.mean``, ``member.std`` and a required head; then
    ``ensemble`` describes the members and ``geometry`` is each member's geometry).
    """

    backbone: BackboneIdentity
    geometry: PromptGeometry
    kind: Literal["prompt", "ensemble"] = PROMPT_KIND
    ensemble: EnsembleInfo | None = None
    init: str = "unknown"  # "random", "kmeans", "from:<ref>", "hgprompt", ...
    task: str | None = None  # source task the prompt was tuned for
    dataset: DatasetInfo | None = None
    head: HeadInfo | None = None
    training: dict[str, JsonValue] = Field(default_factory=dict)  # full training config
    seed: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)  # e.g. {"test_acc": 0.71}
    lineage: Lineage | None = None
    origin: Origin | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    description: str = Field(default="", max_length=10_000)
    license: str | None = None

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        for key, value in tags.items():
            validate_tag(key, value)
        return tags

    @model_validator(mode="after")
    def _kind_matches_ensemble(self) -> AssetSpec:
        if (self.kind == ENSEMBLE) != (self.ensemble is not None):
            raise ValueError("kind 'ensemble' and the 'ensemble' entry go together: set both or neither")
        if self.kind == ENSEMBLE and self.head is None:
            raise ValueError("an ensemble needs its head (the linear head on the mixed features)")
        return self

    @property
    def num_members(self) -> int:
        """k for an ensemble, 1 for a prompt."""
        return self.ensemble.k if self.ensemble is not None else 1


class Manifest(AssetSpec):
    """A stored version's full metadata."""

    schema_version: Literal[1, 2] = SCHEMA_VERSION
    name: str
    version: int = Field(ge=1)
    sha256: str = Field(pattern=_HEX64)  # content digest of the tensors (names, dtypes, shapes, bytes)
    created_at: datetime
    promptkit_version: str

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        return validate_name(name)

    @model_validator(mode="after")
    def _schema_knows_the_kind(self) -> Manifest:
        if self.schema_version < 2 and self.kind != PROMPT_KIND:
            raise ValueError("ensembles need schema_version 2 (schema 1 knows only single prompts)")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if self.schema_version < 2:  # as it was written: schema 1 had no kind or ensemble
            for key in _SCHEMA_2_FIELDS:
                data.pop(key, None)
        return data

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def spec(self) -> AssetSpec:
        """The producer-supplied part, e.g. to store the same content under another name."""
        return AssetSpec(**{k: getattr(self, k) for k in AssetSpec.model_fields})


def parse_manifest(data: Any, *, source: str) -> Manifest:
    """Validate a manifest from JSON text or a dict; raise :class:`InvalidAssetError` naming the fields."""
    try:
        if isinstance(data, (str, bytes)):
            return Manifest.model_validate_json(data)
        return Manifest.model_validate(data)
    except ValidationError as err:
        if _newer_schema(data):
            raise InvalidAssetError(
                "manifest was written by a newer promptkit (schema_version > "
                f"{SCHEMA_VERSION})", source=source, hint="upgrade promptkit: pip install -U promptkit",
            ) from None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in err.errors()[:5]
        )
        raise InvalidAssetError(f"manifest fails the schema ({problems})", source=source) from None


def _newer_schema(data: Any) -> bool:
    import json

    try:
        obj = json.loads(data) if isinstance(data, (str, bytes)) else data
        return isinstance(obj, dict) and isinstance(obj.get("schema_version"), int) and (
            obj["schema_version"] > SCHEMA_VERSION
        )
    except ValueError:
        return False

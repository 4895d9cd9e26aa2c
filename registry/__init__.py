"""promptkit.registry: the versioned, verifiable store of prompt assets.

>>> from promptkit.registry import Registry
>>> reg = Registry()                       # $PROMPTKIT_REGISTRY or $PROMPTKIT_HOME/registry
>>> asset = reg.load("zoo/textures")       # verified against its recorded digests
>>> asset.kind                             # "prompt" (asset.prompt) or "ensemble" (asset.members, ...)
'prompt'
"""

from .asset import Asset, Entry
from .files import content_digest, read_prompt_file
from .hub import PullResult, PushResult, pull, push
from .integrity import VerifyIssue, VerifyReport
from .manifest import (
    AssetSpec,
    DatasetInfo,
    EnsembleInfo,
    EnsembleMember,
    HeadInfo,
    Lineage,
    LineageSource,
    Manifest,
    Origin,
    parse_manifest,
)
from .refs import Reference, parse_reference, validate_name
from .store import Registry

__all__ = [
    "Asset",
    "AssetSpec",
    "DatasetInfo",
    "EnsembleInfo",
    "EnsembleMember",
    "Entry",
    "HeadInfo",
    "Lineage",
    "LineageSource",
    "Manifest",
    "Origin",
    "PullResult",
    "PushResult",
    "Reference",
    "Registry",
    "VerifyIssue",
    "VerifyReport",
    "content_digest",
    "parse_manifest",
    "parse_reference",
    "pull",
    "push",
    "read_prompt_file",
    "validate_name",
]

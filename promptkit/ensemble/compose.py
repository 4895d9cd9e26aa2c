"""Composing the target prompt from source prompts: P_t = sum_i alpha_i P_i.

HGPrompt (Zhang et al., AAAI 2026, arXiv 2504.12311) initializes the target prompt as the
alpha-weighted sum of the source prompts, then tunes it with a head on the target (optionally
keeping alpha learnable: P_t = sum_i alpha_i P_i + Delta). A weighted sum of parameters only
means something when every source was tuned for the same frozen backbone and has the same
geometry, so :func:`check_sources` refuses anything else before any work starts
(docs/method.md#hgprompt-step-5).

Note the gap that docs/method.md#composition-gap describes: alpha is learned on mixtures of
features, but applied to prompt parameters; the features under sum_i alpha_i P_i are not
sum_i alpha_i f_i.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from promptkit.errors import IncompatibleError, UsageError
from promptkit.identity import BackboneIdentity, PromptGeometry, check_compatible

__all__ = ["check_sources", "compose_prompt"]


def check_sources(
    identities: Sequence[tuple[str, BackboneIdentity, PromptGeometry]],
) -> tuple[BackboneIdentity, PromptGeometry]:
    """Check that all source prompts share one backbone and one geometry.

    Args:
        identities: ``(name, backbone, geometry)`` per source, e.g. the reference string and
            the manifest's records.

    Returns:
        The common backbone and geometry (the first source's).

    Raises:
        UsageError: no sources.
        IncompatibleError: a source's backbone or geometry differs from the first source's;
            the message names that source, the first one, and both values.
    """
    if not identities:
        raise UsageError("no source prompts given", hint="pass at least one source prompt")
    first_name, first_backbone, first_geometry = identities[0]
    for name, backbone, geometry in identities[1:]:
        check_compatible(
            f"source {name} (against source {first_name})",
            (first_backbone, first_geometry),
            (backbone, geometry),
        )
    return first_backbone, first_geometry


def compose_prompt(prompts: Sequence[Tensor] | Tensor, alpha: Tensor) -> Tensor:
    """P_t = sum_i alpha_i P_i.

    Differentiable w.r.t. both the prompts and alpha (to keep alpha learnable while tuning).
    alpha is not required to lie on the simplex.

    Args:
        prompts: the K source prompts, all of one shape.
        alpha: one weight per prompt.

    Returns:
        The composed prompt, in the prompts' dtype.

    Raises:
        UsageError: no prompts, prompts that are not 3-D, or alpha of the wrong length or
            with non-finite entries.
        IncompatibleError: prompts of different shapes (names the first one that differs).

    Shape:
        prompts: (K, L, m, d) or K tensors (L, m, d); alpha: (K,); output: (L, m, d).
    """
    items = list(prompts)
    if not items:
        raise UsageError("no source prompts to compose", hint="pass at least one source prompt")
    if items[0].ndim != 3:
        raise UsageError(f"prompts must be (layers, length, width), got shape {tuple(items[0].shape)}")
    for i, p in enumerate(items[1:], start=1):
        if p.shape != items[0].shape:
            raise IncompatibleError(
                f"prompt {i} (against prompt 0): shape", str(tuple(items[0].shape)), str(tuple(p.shape)),
                hint="prompts can only be combined when mode, length, width and layers agree",
            )
    if alpha.shape != (len(items),):
        raise UsageError(f"alpha has shape {tuple(alpha.shape)}, expected ({len(items)},), one weight per prompt")
    if not bool(torch.isfinite(alpha.detach()).all()):
        raise UsageError(f"alpha has non-finite entries: {alpha.detach().tolist()}")
    stacked = torch.stack(items)  # (K, L, m, d)
    return torch.einsum("k,klmd->lmd", alpha.to(stacked.dtype), stacked)

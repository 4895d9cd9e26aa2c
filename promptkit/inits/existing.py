"""Start from an existing prompt (``from:<ref>``).

The core receives the already-loaded prompt and what it was made for; resolving ``<ref>`` in
the registry is the caller's job (the CLI), which keeps the core free of registry imports.
"""

from __future__ import annotations

from torch import Tensor

from promptkit.errors import UsageError
from promptkit.identity import check_compatible
from promptkit.inits._registry import InitContext

__all__: list[str] = []


def from_init(ctx: InitContext) -> Tensor:
    """Copy of an existing prompt of the same backbone and geometry."""
    src = ctx.source
    if src is None:
        raise UsageError("the 'from' init needs the source prompt",
                         hint="pass source=PromptSource(prompt, backbone, geometry)")
    if ctx.identity is None:
        raise UsageError("the 'from' init needs a Backbone with an identity, not a bare timm model")
    what = f"init source {ctx.argument or 'prompt'}"
    check_compatible(what, (ctx.identity, ctx.geometry), (src.backbone, src.geometry))
    if tuple(src.prompt.shape) != ctx.geometry.shape:
        raise UsageError(f"source prompt has shape {tuple(src.prompt.shape)}, its geometry says {src.geometry.shape}")
    return src.prompt.detach().float().cpu().clone()

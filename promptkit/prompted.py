"""Visual prompts on a frozen timm Vision Transformer (VPT; Jia et al., ECCV 2022).

:class:`PromptedViT` wraps any timm ``VisionTransformer`` (vit_*, deit_*, models with register
tokens, cls or average pooling) without modifying it. It replays timm's ``forward_features``
step by step and inserts ``m`` learnable tokens into the sequence:

- where: after the prefix tokens (cls and register tokens), after the position embedding was
  added (and after ``pos_drop``, ``patch_drop`` and ``norm_pre``, exactly as timm's
  ``forward_features`` orders them), so prompts carry no position embedding and live in the
  residual stream like every other token entering block 0;
- shallow: one set of tokens, inserted once before block 0 (prompt shape ``(1, m, d)``);
- deep: before every block ``i >= 1`` the ``m`` prompt positions are *replaced* by layer
  ``i``'s tokens (prompt shape ``(L, m, d)``, ``L`` = number of blocks);
- pooling: prompt tokens are dropped after the final norm, then timm's own ``forward_head``
  pools (cls token, or an average that therefore excludes prompts) and applies ``fc_norm``.

With ``m = 0`` the wrapper runs exactly timm's operations on exactly the same tensors, so its
features equal ``vit.forward_features`` bit for bit (tested).

The backbone stays frozen and in eval mode even when the wrapper is put in training mode; only
the prompt and the linear head are trainable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from promptkit.backbone import Backbone
from promptkit.digest import tensor_sha256
from promptkit.errors import IncompatibleError, UsageError
from promptkit.identity import BackboneIdentity, PromptGeometry, check_compatible

__all__ = ["PromptedViT", "prompt_sha256", "prompted_tokens"]

Mode = Literal["shallow", "deep"]


def prompt_sha256(prompt: Tensor | None, mode: str = "shallow") -> str:
    """SHA-256 of a prompt's values, shape and mode; ``"none"`` for no prompt (``m = 0``).

    Values are hashed as float32 so that the same prompt on any device hashes the same: the
    ``"values"`` encoding of :func:`promptkit.digest.tensor_sha256` after the prefix
    ``f"{mode}:{shape}:"``.
    """
    if prompt is None or prompt.numel() == 0:
        return "none"
    return tensor_sha256([prompt], encoding="values", prefix=f"{mode}:{tuple(prompt.shape)}:")


def prompted_tokens(
    vit: nn.Module, x: Tensor, layer_tokens: Callable[[int], Tensor] | None, *, length: int, deep: bool,
    copies: int = 1,
) -> Tensor:
    """timm's ``forward_features`` with prompt tokens inserted after the prefix tokens.

    The same steps in the same order as timm's ``VisionTransformer.forward_features``; with no
    prompt, exactly timm's operations on exactly the same tensors.

    Args:
        vit: a timm ``VisionTransformer``.
        x: images.
        layer_tokens: ``layer -> tokens`` of that layer, ``(m, d)`` for every sequence alike or
            ``(copies * B, m, d)`` per sequence; ``None`` for no prompt.
        length: m.
        deep: replace the m prompt positions before every block ``i >= 1`` (VPT-deep).
        copies: run each image this many times along the batch, e.g. once per member prompt of
            an ensemble (copy j holds rows ``j * B .. (j + 1) * B - 1``); the patch embedding is
            computed once.

    Shape:
        - x: ``(B, 3, H, W)``
        - output: ``(copies * B, n_prefix + m + n_patches, d)``
    """
    x = vit.patch_embed(x)
    x = vit._pos_embed(x)  # prefix tokens + pos embed + pos_drop
    x = vit.patch_drop(x)
    x = vit.norm_pre(x)
    if copies > 1:
        x = x.repeat(copies, 1, 1)  # (copies * B, n, d), copy-major
    n = int(vit.num_prefix_tokens)
    if layer_tokens is not None and length:
        p = layer_tokens(0).to(x.dtype)
        p = p.unsqueeze(0).expand(x.shape[0], -1, -1) if p.ndim == 2 else p  # (B', m, d)
        x = torch.cat([x[:, :n], p, x[:, n:]], dim=1)
    use_ckpt = vit.grad_checkpointing and torch.is_grad_enabled()
    for i, block in enumerate(vit.blocks):
        if layer_tokens is not None and length and deep and i > 0:
            # x is the previous block's output, a residual sum autograd does not save: writing the
            # m positions in place skips copying the whole (B, n + m, d) sequence at every block
            # (measured on an H200, bf16, ViT-B/16, m = 10: 0.92 of the token-count bound with a
            # copy, 0.98 in place; BENCHMARKS.md).
            x[:, n:n + length] = layer_tokens(i).to(x.dtype)
        x = checkpoint(block, x, use_reentrant=False) if use_ckpt else block(x)
    return vit.norm(x)


class PromptedViT(nn.Module):
    """A frozen timm ``VisionTransformer`` with shallow or deep visual prompts and a linear head.

    Args:
        backbone: a :class:`~promptkit.backbone.Backbone` (its identity is kept for
            compatibility checks) or a bare timm ``VisionTransformer``.
        prompt: initial prompt tokens, ``(1, m, d)`` for shallow or ``(L, m, d)`` for deep;
            ``None`` means no prompt (``m = 0``). Copied into an ``nn.Parameter``.
        mode: ``"shallow"`` or ``"deep"``.
        num_classes: create a zero-initialized linear head with this many outputs; ``None``
            for no head (``forward`` then raises; ``pooled`` still works).

    Attributes:
        vit: the frozen timm model (shared, not copied).
        prompt: ``nn.Parameter`` of shape ``(L, m, d)``.
        head: ``nn.Module`` mapping pooled features ``(B, d)`` to logits, or ``None``.
        identity: the backbone's identity, or ``None`` for a bare timm model.

    Shape:
        - input: ``(B, 3, H, W)``
        - ``forward_features``: ``(B, n_prefix + m + n_patches, d)``
        - ``pooled``: ``(B, d)``
        - ``forward``: ``(B, C)``
    """

    def __init__(
        self,
        backbone: Backbone | nn.Module,
        prompt: Tensor | None = None,
        *,
        mode: Mode = "shallow",
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer

        vit = backbone.model if isinstance(backbone, Backbone) else backbone
        if not isinstance(vit, VisionTransformer):
            raise UsageError(f"PromptedViT wraps a timm VisionTransformer, got {type(vit).__name__}")
        if mode not in ("shallow", "deep"):
            raise UsageError(f"mode must be 'shallow' or 'deep', got {mode!r}")
        self.identity: BackboneIdentity | None = backbone.identity if isinstance(backbone, Backbone) else None
        vit.requires_grad_(False)
        vit.eval()
        self.vit = vit
        self.mode: Mode = mode
        self.num_prefix_tokens = int(vit.num_prefix_tokens)
        self.embed_dim = int(vit.embed_dim)
        self.depth = len(vit.blocks)
        ref = next(vit.parameters())
        if prompt is None:
            prompt = torch.zeros(self.expected_layers, 0, self.embed_dim)
        self._check_shape(prompt)
        self.prompt = nn.Parameter(prompt.detach().to(ref.device, ref.dtype).clone())
        self.head: nn.Module | None = None
        if num_classes is not None:
            self.head = nn.Linear(self.embed_dim, num_classes, device=ref.device, dtype=ref.dtype)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    # -- construction and compatibility ------------------------------------------------------

    @classmethod
    def from_prompt(
        cls,
        backbone: Backbone,
        prompt: Tensor,
        *,
        identity: BackboneIdentity,
        geometry: PromptGeometry,
        num_classes: int | None = None,
    ) -> PromptedViT:
        """Wrap ``backbone`` with a stored prompt, checking that it was made for this backbone.

        Raises:
            IncompatibleError: ``identity`` is not ``backbone.identity``, or ``geometry`` does
                not fit the backbone (width, depth) or the tensor's shape; the message names both.
        """
        check_compatible("prompt", (backbone.identity, geometry), (identity, geometry))
        fit = backbone.geometry(geometry.mode, geometry.length)
        if geometry != fit:
            raise IncompatibleError("prompt geometry", fit.short(), geometry.short(),
                                    hint=f"this backbone takes {geometry.mode} prompts of shape {fit.shape}")
        if tuple(prompt.shape) != geometry.shape:
            raise IncompatibleError("prompt tensor shape", str(geometry.shape), str(tuple(prompt.shape)))
        return cls(backbone, prompt, mode=geometry.mode, num_classes=num_classes)

    def load_prompt(self, prompt: Tensor, *, identity: BackboneIdentity, geometry: PromptGeometry) -> None:
        """Replace the prompt values by a stored prompt of the same backbone and geometry.

        Raises:
            IncompatibleError: backbone identity or geometry differs from this wrapper's; the
                message names both.
        """
        own_id = self.identity or identity  # a bare timm model has no identity to compare
        own_geometry = self.geometry
        if own_geometry is None:
            raise IncompatibleError("prompt geometry", "no prompt (m=0)", geometry.short(),
                                    hint="build the wrapper with PromptedViT.from_prompt(...) instead")
        check_compatible("prompt", (own_id, own_geometry), (identity, geometry))
        if tuple(prompt.shape) != own_geometry.shape:
            raise IncompatibleError("prompt tensor shape", str(own_geometry.shape), str(tuple(prompt.shape)))
        with torch.no_grad():
            self.prompt.copy_(prompt.to(self.prompt.device, self.prompt.dtype))

    @property
    def expected_layers(self) -> int:
        return PromptGeometry.for_backbone(self.mode, 1, width=self.embed_dim, depth=self.depth).layers

    @property
    def length(self) -> int:
        """Prompt tokens per layer (``m``)."""
        return int(self.prompt.shape[1])

    @property
    def geometry(self) -> PromptGeometry | None:
        """The prompt's geometry; ``None`` when ``m = 0``."""
        if self.length == 0:
            return None
        return PromptGeometry.for_backbone(self.mode, self.length, width=self.embed_dim, depth=self.depth)

    def prompt_sha256(self) -> str:
        return prompt_sha256(self.current_prompt(), self.mode)

    def tunable(self) -> dict[str, nn.Parameter]:
        """The prompt-side parameters a tuning run updates and checkpoints, by name (the head aside)."""
        return {"prompt": self.prompt}

    def prompt_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """Optimizer parameter groups for :meth:`tunable` (the training loop adds the head's)."""
        return [{"params": [self.prompt], "lr": lr, "weight_decay": weight_decay}]

    def export(self) -> dict[str, Tensor]:
        """What a tuned model stores: ``{"prompt": (L, m, d)}``, float32 on the CPU."""
        return {"prompt": self.current_prompt().detach().float().cpu().clone()}

    def set_head(self, weight: Tensor, bias: Tensor) -> None:
        """Install a plain linear head ``W x + b`` on pooled features.

        Shape:
            - weight: ``(C, d)``; bias: ``(C,)``
        """
        if weight.ndim != 2 or weight.shape[1] != self.embed_dim or bias.shape != weight.shape[:1]:
            raise IncompatibleError("head shape", f"(C, {self.embed_dim}) and (C,)",
                                    f"{tuple(weight.shape)} and {tuple(bias.shape)}")
        ref = self.prompt
        head = nn.Linear(self.embed_dim, weight.shape[0], device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            head.weight.copy_(weight)
            head.bias.copy_(bias)
        self.head = head

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The prompt (when ``m > 0``) and the head's parameters: all that an optimizer should see."""
        params = [self.prompt] if self.length else []
        if self.head is not None:
            params += [p for p in self.head.parameters() if p.requires_grad]
        return params

    def train(self, mode: bool = True) -> PromptedViT:
        """Set training mode on the head only; the backbone always stays in eval mode (VPT)."""
        super().train(mode)
        self.vit.eval()
        return self

    # -- forward -----------------------------------------------------------------------------

    def current_prompt(self) -> Tensor:
        """The prompt the forward inserts: the ``prompt`` parameter itself (subclasses may compose it).

        Shape:
            ``(L, m, d)``
        """
        return self.prompt

    def forward_features(self, x: Tensor, *, use_prompt: bool = True) -> Tensor:
        """Token features after the final norm, prompts included.

        Args:
            x: images.
            use_prompt: ``False`` runs the frozen backbone without prompts (same as timm).

        Shape:
            - x: ``(B, 3, H, W)``
            - output: ``(B, n_prefix + m + n_patches, d)`` (``m = 0`` when ``use_prompt`` is False)
        """
        prompt = self.current_prompt() if use_prompt and self.length else None
        return prompted_tokens(self.vit, x, None if prompt is None else (lambda layer: prompt[layer]),
                               length=self.length if prompt is not None else 0, deep=self.mode == "deep")

    def strip_prompts(self, tokens: Tensor, *, use_prompt: bool = True) -> Tensor:
        """Drop the prompt positions from a token sequence.

        Shape:
            - tokens: ``(B, n_prefix + m + n_patches, d)``
            - output: ``(B, n_prefix + n_patches, d)``
        """
        m = self.length if use_prompt else 0
        if not m:
            return tokens
        n = self.num_prefix_tokens
        return torch.cat([tokens[:, :n], tokens[:, n + m:]], dim=1)

    def pooled(self, x: Tensor, *, use_prompt: bool = True) -> Tensor:
        """Pooled pre-logit features (timm's ``forward_head(pre_logits=True)``), prompts excluded.

        Shape:
            - x: ``(B, 3, H, W)``
            - output: ``(B, d)``
        """
        tokens = self.strip_prompts(self.forward_features(x, use_prompt=use_prompt), use_prompt=use_prompt)
        return self.vit.forward_head(tokens, pre_logits=True)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the linear head on prompted pooled features.

        Shape:
            - x: ``(B, 3, H, W)``
            - output: ``(B, C)``
        """
        if self.head is None:
            raise UsageError("this PromptedViT has no head", hint="pass num_classes=... or call set_head(W, b)")
        return self.head(self.pooled(x))

    def _check_shape(self, prompt: Tensor) -> None:
        layers = self.expected_layers
        if prompt.ndim != 3 or prompt.shape[0] != layers or prompt.shape[2] != self.embed_dim:
            raise IncompatibleError(
                "prompt tensor shape",
                f"({layers}, m, {self.embed_dim}) for {self.mode} prompts on this backbone",
                str(tuple(prompt.shape)),
            )

    def extra_repr(self) -> str:
        return f"mode={self.mode}, prompt={tuple(self.prompt.shape)}, prefix_tokens={self.num_prefix_tokens}"

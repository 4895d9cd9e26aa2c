"""A prompt composed from source prompts with learnable weights: P = sum_i alpha_i P_i + Delta.

HGPrompt's option of keeping the ensemble weights learnable while the target prompt is tuned
(Zhang et al., AAAI 2026): alpha = softmax(w) stays on the simplex, ``w`` starts at ``log alpha``
and ``Delta`` at zero, so tuning starts exactly from the composed prompt; the sources
themselves stay fixed. The tuned result is a plain prompt, ``sum_i alpha_i P_i + Delta``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from promptkit.backbone import Backbone
from promptkit.errors import IncompatibleError
from promptkit.prompted import Mode, PromptedViT
from promptkit.prompted_ensemble import ALPHA_LR_SCALE, check_simplex

__all__ = ["ComposedPromptViT"]


class ComposedPromptViT(PromptedViT):
    """A :class:`PromptedViT` whose prompt is ``sum_i softmax(w)_i P_i + Delta``.

    Args:
        backbone: the frozen backbone.
        sources: the (possibly token-aligned) source prompts, fixed.
        alpha: their starting weights, on the simplex.
        mode: ``"shallow"`` or ``"deep"``.

    Attributes:
        prompt: ``Delta``, the learned offset (starts at zero).
        alpha_logits: ``w``.

    Shape:
        sources: ``(K, L, m, d)``; alpha: ``(K,)``; the composed prompt: ``(L, m, d)``.
    """

    def __init__(self, backbone: Backbone, sources: Tensor, alpha: Tensor, *, mode: Mode) -> None:
        if sources.ndim != 4:
            raise IncompatibleError("composed sources shape", "(K, L, m, d)", str(tuple(sources.shape)))
        super().__init__(backbone, torch.zeros_like(sources[0]), mode=mode)
        alpha = check_simplex(alpha)
        if alpha.shape != sources.shape[:1]:
            raise IncompatibleError("alpha length", str(sources.shape[0]), str(alpha.numel()))
        ref = self.prompt
        self.register_buffer("sources", sources.detach().to(ref.device, ref.dtype).clone())
        self.alpha_logits = nn.Parameter(alpha.clamp_min(1e-8).log().to(ref.device))

    @property
    def alpha(self) -> Tensor:
        """(K,) the current weights, on the simplex."""
        return torch.softmax(self.alpha_logits, dim=0)

    def current_prompt(self) -> Tensor:
        return torch.einsum("k,klmd->lmd", self.alpha.to(self.sources.dtype), self.sources) + self.prompt

    def tunable(self) -> dict[str, nn.Parameter]:
        return {"prompt": self.prompt, "alpha_logits": self.alpha_logits}

    def prompt_groups(self, lr: float, weight_decay: float) -> list[dict]:
        return [{"params": [self.prompt], "lr": lr, "weight_decay": weight_decay},
                {"params": [self.alpha_logits], "lr": lr * ALPHA_LR_SCALE, "weight_decay": 0.0}]

    def export(self) -> dict[str, Tensor]:
        """The composed prompt (a plain prompt) and the learned weights."""
        return {"prompt": self.current_prompt().detach().float().cpu().clone(),
                "alpha": self.alpha.detach().float().cpu().clone()}

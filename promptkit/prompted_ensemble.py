"""An ensemble of prompts on one frozen ViT: k member prompts, their pooled features mixed by alpha.

The feature-level composition of source prompts (docs/method.md, "Compositions"): HGPrompt's
weights alpha are learned on the mixture of the sources' standardized features (Zhang et al.,
AAAI 2026), and averaging the prompts' *parameters* loses what that mixture had. A
:class:`PromptedEnsemble` keeps the members instead and computes exactly what the weights scored:

    F(x) = sum_i alpha_i (f(x; P_i) - mu_i) / sigma_i

where ``f(x; P_i)`` are the pooled features under member prompt ``P_i`` and ``mu_i``, ``sigma_i``
the per-dimension statistics of member i's features on the target's training images (fixed
when the ensemble is built, so that the map stays the same affine standardization while the
members are tuned). A linear head reads ``F``.

With ``combine="stack"`` the standardized member features are kept side by side instead,
each scaled by ``sqrt(alpha_i)``:

    F(x) = [sqrt(alpha_1) z_1(x), ..., sqrt(alpha_k) z_k(x)],   z_i = (f(x; P_i) - mu_i) / sigma_i

and the head reads all ``k d`` of them, so it can weigh each member's dimensions on its own (the
mixture is the special case of a head whose blocks are alpha_i W). Under an L2 penalty on the
head, the scaling makes alpha the prior: member i's block costs ``||W_i||^2 / alpha_i``, so a
low-weight member is used only where the data pays for it (ridge regression with one penalty
per group, or a Gaussian prior of variance alpha_i on each block). These features are already
standardized: the head is fit on them as they are (:attr:`PromptedEnsemble.prestandardized`).

The members run in one batched forward: the image batch is embedded once, repeated k times
along the batch (copy j carries member j's tokens), and the k * B sequences go through the
blocks together, which costs about k single prompted forwards and never k sequential passes.
Outside autograd on a CPU, a pass holds at most :data:`CPU_MAX_SEQUENCES` sequences (the images
split into even chunks, each chunk running every member): on a CPU a batch wider than that
costs more per sequence (BENCHMARKS.md, "What compositions cost"), on an accelerator less.

With ``learn_alpha`` the weights are ``softmax(w)`` (on the simplex by construction), ``w``
starting at ``log alpha``, and are tuned with the members and the head.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from promptkit.backbone import Backbone
from promptkit.digest import tensor_sha256
from promptkit.errors import IncompatibleError, UsageError
from promptkit.identity import BackboneIdentity, PromptGeometry
from promptkit.prompted import prompted_tokens

__all__ = ["ALPHA_LR_SCALE", "COMBINES", "CPU_MAX_SEQUENCES", "PromptedEnsemble", "check_simplex", "stack_features"]

COMBINES = ("mix", "stack")  # how the members' standardized features become the head's input

CPU_MAX_SEQUENCES = 64
"""Sequences per backbone pass of an ensemble's inference on a CPU. Measured on the zoo backbone,
one thread: 2.1 ms per sequence at 16 to 64 sequences a pass, 2.6 ms at 128 to 256
(BENCHMARKS.md, "What compositions cost"). For a larger backbone 64 sequences already make
wide matrix products (64 x 197 rows for a ViT-B/16 at 224 px); only the zoo backbone was timed."""

ALPHA_LR_SCALE = 10.0  # alpha's logits move at 10x the prompt lr: at the prompt lr, 2 epochs barely move them


def check_simplex(alpha: Tensor, *, what: str = "alpha", atol: float = 1e-4) -> Tensor:
    """Return ``alpha`` as float32 after checking it is a finite, non-negative vector summing to 1.

    Raises:
        UsageError: naming the offending values.
    """
    a = alpha.detach().to(torch.float64)
    if a.ndim != 1 or a.numel() == 0:
        raise UsageError(f"{what} must be a non-empty vector, got shape {tuple(alpha.shape)}")
    if not bool(torch.isfinite(a).all()) or bool((a < 0).any()) or abs(float(a.sum()) - 1.0) > atol:
        raise UsageError(f"{what} must be finite, non-negative and sum to 1, got {[round(float(v), 6) for v in a]}")
    return alpha.detach().float()


def stack_features(z: Tensor, alpha: Tensor) -> Tensor:
    """The members' standardized features side by side, member j's block scaled by sqrt(alpha_j).

    Shape:
        z: ``(k, N, d)``; alpha: ``(k,)``; output: ``(N, k d)`` (member 0's d features, then member 1's, ...).
    """
    scaled = z * alpha.to(z.dtype).sqrt()[:, None, None]
    return scaled.permute(1, 0, 2).reshape(z.shape[1], -1)


class PromptedEnsemble(nn.Module):
    """k member prompts on one frozen timm ``VisionTransformer``, mixed in feature space.

    Args:
        backbone: the frozen backbone every member was tuned on.
        members: the member prompts, one geometry.
        alpha: the members' weights, on the simplex.
        mean, std: each member's per-dimension feature statistics on the target's training images
            (std > 0).
        mode: ``"shallow"`` or ``"deep"``.
        learn_alpha: make alpha trainable (as ``softmax(w)``).
        combine: ``"mix"`` (the alpha-weighted sum, what T(alpha) scores) or ``"stack"`` (the
            members' features side by side, scaled by sqrt(alpha); see the module docstring).
        max_sequences: the most sequences (images x members) one backbone pass holds outside
            autograd; ``None``: :data:`CPU_MAX_SEQUENCES` on a CPU, no cap on an accelerator.

    Shape:
        - members: ``(k, L, m, d)``; alpha: ``(k,)``; mean, std: ``(k, d)``
        - input: ``(B, 3, H, W)``; ``member_features``: ``(k, B, d)``; ``pooled``: ``(B, d)`` for
          ``mix``, ``(B, k d)`` for ``stack`` (:attr:`feature_dim`); ``forward``: ``(B, C)``
    """

    def __init__(
        self,
        backbone: Backbone,
        members: Tensor,
        alpha: Tensor,
        mean: Tensor,
        std: Tensor,
        *,
        mode: Literal["shallow", "deep"],
        learn_alpha: bool = False,
        combine: Literal["mix", "stack"] = "mix",
        max_sequences: int | None = None,
    ) -> None:
        super().__init__()
        if combine not in COMBINES:
            raise UsageError(f"combine must be one of {', '.join(COMBINES)}, got {combine!r}")
        self.combine = combine
        if max_sequences is not None and (isinstance(max_sequences, bool) or not isinstance(max_sequences, int)
                                          or max_sequences < 1):
            raise UsageError(f"max_sequences must be a positive integer or None, got {max_sequences!r}")
        self.max_sequences = max_sequences
        vit = backbone.model
        vit.requires_grad_(False)
        vit.eval()
        self.vit = vit
        self.identity: BackboneIdentity | None = backbone.identity
        self.mode = mode
        self.num_prefix_tokens = int(vit.num_prefix_tokens)
        self.embed_dim = int(vit.embed_dim)
        self.depth = len(vit.blocks)
        if mode not in ("shallow", "deep"):
            raise UsageError(f"mode must be 'shallow' or 'deep', got {mode!r}")
        layers = PromptGeometry.for_backbone(mode, 1, width=self.embed_dim, depth=self.depth).layers
        k = int(members.shape[0]) if members.ndim == 4 else 0
        if members.ndim != 4 or k < 1 or members.shape[1] != layers or members.shape[3] != self.embed_dim:
            raise IncompatibleError("ensemble members shape", f"(k, {layers}, m, {self.embed_dim}) for {mode} prompts",
                                    str(tuple(members.shape)))
        if members.shape[2] < 1:
            raise UsageError("ensemble members need at least one prompt token each (m >= 1)")
        alpha = check_simplex(alpha)
        if alpha.shape != (k,):
            raise UsageError(f"alpha has {alpha.numel()} weights for {k} members")
        for name, t in (("mean", mean), ("std", std)):
            if t.shape != (k, self.embed_dim):
                raise IncompatibleError(f"ensemble member {name} shape", f"({k}, {self.embed_dim})",
                                        str(tuple(t.shape)))
        if not bool((std > 0).all()):
            raise UsageError("ensemble member std must be > 0 everywhere")
        ref = next(vit.parameters())
        self.members = nn.Parameter(members.detach().to(ref.device, ref.dtype).clone())
        self.register_buffer("mean", mean.detach().to(ref.device, torch.float32).clone())
        self.register_buffer("std", std.detach().to(ref.device, torch.float32).clone())
        self.alpha_logits: nn.Parameter | None = None
        if learn_alpha:
            self.alpha_logits = nn.Parameter(alpha.clamp_min(1e-8).log().to(ref.device))
        else:
            self.register_buffer("fixed_alpha", alpha.to(ref.device))
        self.head: nn.Module | None = None

    # -- what it is --------------------------------------------------------------------------

    @property
    def num_members(self) -> int:
        """k."""
        return int(self.members.shape[0])

    @property
    def length(self) -> int:
        """Prompt tokens per layer of each member (``m``)."""
        return int(self.members.shape[2])

    @property
    def geometry(self) -> PromptGeometry:
        """The members' (common) geometry."""
        return PromptGeometry(mode=self.mode, length=self.length, width=self.embed_dim,
                              layers=int(self.members.shape[1]))

    @property
    def feature_dim(self) -> int:
        """What the head reads: ``d`` for ``mix``, ``k d`` for ``stack``."""
        return self.embed_dim * (self.num_members if self.combine == "stack" else 1)

    @property
    def prestandardized(self) -> bool:
        """Whether :meth:`pooled` is already on the scale its head should see (``stack``: the head's
        probe is fit without standardizing again, which would undo the sqrt(alpha) prior)."""
        return self.combine == "stack"

    @property
    def alpha(self) -> Tensor:
        """(k,) the members' weights, on the simplex."""
        if self.alpha_logits is not None:
            return torch.softmax(self.alpha_logits, dim=0)
        return self.fixed_alpha

    def prompt_sha256(self) -> str:
        """SHA-256 of everything the combined features depend on: members, alpha, statistics, mode, combine.

        The ``"values"`` encoding of :func:`promptkit.digest.tensor_sha256` of (members, alpha,
        mean, std) after the prefix ``f"ensemble:{mode}:{members shape}:"`` (``"ensemble-stack:"``
        for ``stack``).
        """
        kind = "ensemble" if self.combine == "mix" else f"ensemble-{self.combine}"
        return tensor_sha256([self.members, self.alpha, self.mean, self.std], encoding="values",
                             prefix=f"{kind}:{self.mode}:{tuple(self.members.shape)}:")

    # -- tuning ------------------------------------------------------------------------------

    def tunable(self) -> dict[str, nn.Parameter]:
        """The members, and alpha's logits when alpha is learned (the head aside)."""
        out = {"members": self.members}
        if self.alpha_logits is not None:
            out["alpha_logits"] = self.alpha_logits
        return out

    def prompt_groups(self, lr: float, weight_decay: float) -> list[dict]:
        groups = [{"params": [self.members], "lr": lr, "weight_decay": weight_decay}]
        if self.alpha_logits is not None:  # no decay: it would pull the logits, hence alpha, towards uniform
            groups.append({"params": [self.alpha_logits], "lr": lr * ALPHA_LR_SCALE, "weight_decay": 0.0})
        return groups

    def export(self) -> dict[str, Tensor]:
        """What a tuned ensemble stores: members, alpha and the member statistics, float32 CPU."""
        return {"members": self.members.detach().float().cpu().clone(),
                "alpha": self.alpha.detach().float().cpu().clone(),
                "member.mean": self.mean.detach().float().cpu().clone(),
                "member.std": self.std.detach().float().cpu().clone()}

    def train(self, mode: bool = True) -> PromptedEnsemble:
        """Training mode on the head only; the backbone always stays in eval mode."""
        super().train(mode)
        self.vit.eval()
        return self

    # -- forward -----------------------------------------------------------------------------

    def max_sequences_for(self, x: Tensor) -> int | None:
        """The most sequences one backbone pass of :meth:`member_features` holds on ``x``'s device.

        :attr:`max_sequences` when set; otherwise :data:`CPU_MAX_SEQUENCES` on a CPU and no cap
        on an accelerator (where a wider batch is the cheaper one).
        """
        if self.max_sequences is not None:
            return self.max_sequences
        return CPU_MAX_SEQUENCES if x.device.type == "cpu" else None

    def member_features(self, x: Tensor) -> Tensor:
        """Each member's pooled features, the members stacked along the batch.

        Under autograd (tuning) all ``k B`` sequences go through the backbone in one pass. Without
        it (inference, feature and teacher passes), a pass holds at most :meth:`max_sequences_for`
        sequences (one image with every member, at least): the images are split into the fewest
        even chunks that fit, and each chunk runs every member in one pass. Each sequence is
        computed on its own, so only the width of the backbone's batch changes, and with it at most
        the floating-point rounding of the matrix products (bitwise equal on the CPU measured).

        Shape:
            - x: ``(B, 3, H, W)``
            - output: ``(k, B, d)``
        """
        k, b = self.num_members, x.shape[0]
        cap = self.max_sequences_for(x)
        if not torch.is_grad_enabled() and cap is not None and k * b > cap and b > 1:
            per_pass = max(1, cap // k)  # images per pass; one at least, whatever the cap
            chunks = -(-b // per_pass)  # the fewest even chunks that fit
            return torch.cat([self._member_pass(part) for part in x.tensor_split(chunks)], dim=1)
        return self._member_pass(x)

    def _member_pass(self, x: Tensor) -> Tensor:
        """One backbone pass of every member over ``x``: ``(B, 3, H, W)`` -> ``(k, B, d)``."""
        k, b = self.num_members, x.shape[0]
        members = self.members

        def layer_tokens(layer: int) -> Tensor:
            return members[:, layer].repeat_interleave(b, dim=0)  # (k * B, m, d), member-major

        tokens = prompted_tokens(self.vit, x, layer_tokens, length=self.length, deep=self.mode == "deep", copies=k)
        n, m = self.num_prefix_tokens, self.length
        tokens = torch.cat([tokens[:, :n], tokens[:, n + m:]], dim=1)  # drop the prompt positions
        return self.vit.forward_head(tokens, pre_logits=True).view(k, b, -1)

    def pooled(self, x: Tensor, *, use_prompt: bool = True) -> Tensor:
        """The alpha-mixture of the members' standardized features, or for ``stack`` those features
        side by side scaled by sqrt(alpha) (or frozen features, no prompt).

        Shape:
            - x: ``(B, 3, H, W)``
            - output: ``(B, d)`` (``mix``, or no prompt); ``(B, k d)`` (``stack``)
        """
        if not use_prompt:
            tokens = prompted_tokens(self.vit, x, None, length=0, deep=False)
            return self.vit.forward_head(tokens, pre_logits=True)
        f = self.member_features(x).float()  # (k, B, d)
        z = (f - self.mean[:, None]) / self.std[:, None]
        if self.combine == "stack":
            return stack_features(z, self.alpha.float())
        return torch.einsum("k,kbd->bd", self.alpha.float(), z)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the head on the mixed features.

        Shape:
            - x: ``(B, 3, H, W)``
            - output: ``(B, C)``
        """
        if self.head is None:
            raise UsageError("this PromptedEnsemble has no head",
                             hint="set .head to a module mapping (B, feature_dim) to logits")
        return self.head(self.pooled(x))

    def extra_repr(self) -> str:
        return (f"mode={self.mode}, members={tuple(self.members.shape)}, combine={self.combine}, "
                f"learn_alpha={self.alpha_logits is not None}")

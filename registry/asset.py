"""What the registry hands out: a loaded, verified version (:class:`Asset`) and a listed one (:class:`Entry`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from promptkit.errors import UsageError

from .files import ALPHA, HEAD_BIAS, HEAD_WEIGHT, MEMBER_MEAN, MEMBER_STD, MEMBERS, PROMPT
from .manifest import ENSEMBLE, Manifest

if TYPE_CHECKING:
    import torch

__all__ = ["Asset", "Entry", "not_a_prompt"]


@dataclass(frozen=True)
class Asset:
    """A loaded, verified version: one prompt (``kind == "prompt"``) or an ensemble of k prompts.

    A prompt gives :attr:`prompt` and maybe :attr:`head`. An ensemble gives :attr:`members`,
    :attr:`alpha`, :attr:`member_stats` and :attr:`head` (the parts of a
    :class:`promptkit.prompted_ensemble.PromptedEnsemble`); it has no single :attr:`prompt`.

    Shape:
        - prompt: ``(L, m, d)``; head: ``(C, d)`` and ``(C,)``
        - members: ``(k, L, m, d)``; alpha: ``(k,)``; member_stats: ``(k, d)`` and ``(k, d)``
    """

    manifest: Manifest
    tensors: dict[str, torch.Tensor]
    path: Path  # the stored .safetensors file

    @property
    def kind(self) -> str:
        """``"prompt"`` or ``"ensemble"``."""
        return self.manifest.kind

    @property
    def prompt(self) -> torch.Tensor:
        """Shape: (L, m, d).

        Raises:
            UsageError: the asset is an ensemble (it has k prompts, not one).
        """
        if self.kind == ENSEMBLE:
            raise not_a_prompt(self.manifest)
        return self.tensors[PROMPT]

    @property
    def members(self) -> torch.Tensor:
        """An ensemble's member prompts, in the order of ``manifest.ensemble.members``.

        Shape: (k, L, m, d).
        """
        return self._ensemble_tensor(MEMBERS)

    @property
    def alpha(self) -> torch.Tensor:
        """An ensemble's member weights, on the simplex. Shape: (k,)."""
        return self._ensemble_tensor(ALPHA)

    @property
    def member_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """An ensemble's per-member feature ``(mean, std)`` on the target's training images.

        Shape: (k, d) each.
        """
        return self._ensemble_tensor(MEMBER_MEAN), self._ensemble_tensor(MEMBER_STD)

    def _ensemble_tensor(self, name: str) -> torch.Tensor:
        if self.kind != ENSEMBLE:
            raise UsageError(f"{self.manifest.ref} is a single prompt, not an ensemble: it has no {name!r}",
                             hint="use asset.prompt (shape (L, m, d))")
        return self.tensors[name]

    @property
    def head(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(weight (C, d), bias (C,))`` on pooled features, or None."""
        if HEAD_WEIGHT not in self.tensors:
            return None
        return self.tensors[HEAD_WEIGHT], self.tensors[HEAD_BIAS]


def not_a_prompt(manifest: Manifest, *, use: str = "") -> UsageError:
    """The error for an ensemble asked to serve as one prompt (a source, an init, ``Asset.prompt``).

    Args:
        manifest: the ensemble's manifest.
        use: what it was asked to serve as, e.g. ``"a rank source"`` [default: one prompt].
    """
    k = manifest.num_members
    refs = ", ".join(m.ref for m in manifest.ensemble.members) if manifest.ensemble else ""
    return UsageError(
        f"{manifest.ref} is an ensemble of {k} prompts, not one prompt" + (f", so it cannot serve as {use}"
                                                                            if use else ""),
        hint=f"use one of the versions its members started from ({refs}), or distill it into one prompt with "
        "`promptkit ensemble --compose distill`; in Python, Asset.members holds its member prompts",
    )


@dataclass(frozen=True)
class Entry:
    """One version as listed: its manifest, the aliases pointing at it, and whether it is built in."""

    manifest: Manifest
    aliases: tuple[str, ...] = ()
    builtin: bool = False

"""Scene helpers shared by several zoo tasks and the pretext: backgrounds, contrasting colours, blobs.

Each helper draws a batch at once from a ``torch.Generator`` (see :mod:`promptkit.zoo.draw`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from promptkit.zoo.draw import CANVAS, coords, fractal_noise, rand_colors, randint, uniform
from promptkit.zoo.textures import TEXTURES, texture_field

__all__ = ["BACKGROUNDS", "background", "blobs", "contrasting", "luminance", "mix"]


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma. Shape: ``(..., 3)`` -> ``(...)``."""
    return rgb @ torch.tensor([0.299, 0.587, 0.114])


def contrasting(gen: torch.Generator, ref: torch.Tensor, *, min_diff: float = 0.25) -> torch.Tensor:
    """Random colours whose luma differs from ``ref`` by at least about ``min_diff``.

    Shape:
        ref: ``(N, 3)``; returns ``(N, 3)``.
    """
    fg = rand_colors(gen, ref.shape[0])
    diff = luminance(fg) - luminance(ref)
    weak = diff.abs() < min_diff
    # push a too-similar colour away from the reference, towards white or black
    up = luminance(ref) < 0.5
    pushed = torch.where(up[:, None], fg + (1 - fg) * 0.7, fg * 0.3)
    return torch.where(weak[:, None], pushed, fg)


def mix(c0: torch.Tensor, c1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Per-pixel blend of two per-image colours by a field ``t`` in [0, 1].

    Shape:
        c0, c1: ``(N, 3)``; t: ``(N, 1, H, W)``; returns ``(N, 3, H, W)``.
    """
    return c0[:, :, None, None] * (1 - t) + c1[:, :, None, None] * t


BackgroundFn = Callable[[torch.Generator, int, int], torch.Tensor]
_BACKGROUNDS: dict[str, BackgroundFn] = {}


def _background(name: str) -> Callable[[BackgroundFn], BackgroundFn]:
    def deco(fn: BackgroundFn) -> BackgroundFn:
        _BACKGROUNDS[name] = fn
        return fn

    return deco


@_background("flat")
def _flat(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    return rand_colors(gen, n)[:, :, None, None].expand(n, 3, res, res).clone()


@_background("gradient")
def _gradient(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    y, x = coords(res)
    a = uniform(gen, n, 0, 2 * math.pi).view(-1, 1, 1, 1)
    t = ((x * torch.cos(a) + y * torch.sin(a)) * 0.5 + 0.5).clamp(0, 1)
    return mix(rand_colors(gen, n), rand_colors(gen, n), t)


@_background("noise")
def _noise(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    t = fractal_noise(gen, n, res=res)
    return mix(rand_colors(gen, n), rand_colors(gen, n), t)


@_background("texture")
def _texture(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    t = texture_field(gen, randint(gen, n, 0, len(TEXTURES)), res=res)
    c0 = rand_colors(gen, n)
    c1 = c0 + uniform(gen, (n, 3), -0.35, 0.35)  # low contrast: a textured surface, not the subject
    return mix(c0, c1.clamp(0, 1), t)


BACKGROUNDS: tuple[str, ...] = tuple(_BACKGROUNDS)


def background(gen: torch.Generator, n: int, *, kinds: Sequence[str] = BACKGROUNDS, res: int = CANVAS) -> torch.Tensor:
    """A background per image, of a kind drawn uniformly from ``kinds``.

    Shape:
        returns ``(n, 3, res, res)``.
    """
    kind = randint(gen, n, 0, len(kinds))
    out = torch.zeros(n, 3, res, res)
    for k, name in enumerate(kinds):
        sel = (kind == k).nonzero(as_tuple=True)[0]
        if sel.numel():
            out[sel] = _BACKGROUNDS[name](gen, int(sel.numel()), res)
    return out


def blobs(
    canvas: torch.Tensor,
    gen: torch.Generator,
    *,
    count: torch.Tensor,
    radius: torch.Tensor,
    aspect: torch.Tensor,
    color: torch.Tensor,
    angle: torch.Tensor | None = None,
    wobble: torch.Tensor | None = None,
    opacity: float = 0.9,
    margin: float = 0.0,
) -> torch.Tensor:
    """Paint up to ``max(count)`` soft ellipses per image at random positions (nuclei, lesions).

    All blobs of an image share its colour, so painting them one over another equals painting
    once with the union alpha ``1 - prod(1 - alpha_b)``; each blob is evaluated only on a
    small patch around its centre and the patches are summed (in log space) into the canvas.

    Args:
        canvas: images to paint on.
        gen: random source (positions, per-blob jitter of radius and angle).
        count: how many blobs each image gets.
        radius: ``(N, 2)`` range of the semi-minor axis in output pixels, per image.
        aspect: ``(N, 2)`` range of the major/minor axis ratio, per image.
        color: blob colour per image.
        angle: orientation per image (radians, jittered per blob); random per blob when None.
        wobble: relative amplitude of a 3-lobed boundary ripple per image (irregular shapes).
        opacity: alpha of a blob's core.
        margin: keep blob centres this far (normalized units) from the border.

    Shape:
        canvas: ``(N, 3, S, S)``; count: ``(N,)``; radius, aspect: ``(N, 2)``; color: ``(N, 3)``;
        returns ``(N, 3, S, S)``.
    """
    n, _, res, _ = canvas.shape
    b = int(count.max()) if n else 0
    if b == 0:
        return canvas
    scale = res / 32.0  # canvas pixels per output pixel
    r = (radius[:, :1] + (radius[:, 1:] - radius[:, :1]) * torch.rand(n, b, generator=gen)) * scale
    asp = aspect[:, :1] + (aspect[:, 1:] - aspect[:, :1]) * torch.rand(n, b, generator=gen)
    if angle is None:
        a = uniform(gen, (n, b), 0, math.pi)
    else:
        a = angle.view(-1, 1) + 0.15 * torch.randn(n, b, generator=gen)
    cx = (uniform(gen, (n, b), -1 + margin, 1 - margin) + 1) * res / 2  # centre, in canvas pixels
    cy = (uniform(gen, (n, b), -1 + margin, 1 - margin) + 1) * res / 2
    phase = uniform(gen, (n, b), 0, 2 * math.pi)
    half = int(math.ceil(float((r * asp).max()))) + 2
    p = 2 * half
    off = torch.arange(p, dtype=torch.float32) - half
    ox, oy = torch.floor(cx), torch.floor(cy)
    px = ox[..., None, None] + off.view(1, 1, 1, p)  # (n, b, 1, p) pixel column index
    py = oy[..., None, None] + off.view(1, 1, p, 1)  # (n, b, p, 1) pixel row index
    dx, dy = px + 0.5 - cx[..., None, None], py + 0.5 - cy[..., None, None]
    c, s = torch.cos(a)[..., None, None], torch.sin(a)[..., None, None]
    rr = r[..., None, None]
    u = (dx * c + dy * s) / (rr * asp[..., None, None])
    v = (-dx * s + dy * c) / rr
    d = torch.sqrt(u**2 + v**2 + 1e-8)
    if wobble is not None:
        d = d * (1 + wobble.view(-1, 1, 1, 1) * torch.sin(3 * torch.atan2(v, u) + phase[..., None, None]))
    alpha = ((1 - d) * rr.clamp(min=1.0) + 0.5).clamp(0, 1) * opacity  # edge about one pixel wide
    active = torch.arange(b).view(1, b) < count.view(-1, 1)
    log_clear = torch.log1p(-alpha * active[..., None, None]).expand(n, b, p, p)
    # scatter into a canvas padded by p on each side so that patches may stick out
    side = res + 2 * p
    index = ((py + p).clamp(0, side - 1) * side + (px + p).clamp(0, side - 1)).long().expand(n, b, p, p)
    acc = torch.zeros(n, side * side).scatter_add_(1, index.reshape(n, -1), log_clear.reshape(n, -1))
    acc = acc.view(n, side, side)[:, p : p + res, p : p + res]
    union = (1 - torch.exp(acc)).unsqueeze(1)
    return torch.lerp(canvas, color[:, :, None, None].expand_as(canvas), union)

"""Natural-like tasks: textures (DTD-like), digits (SVHN-like), objects (CIFAR-like)."""

from __future__ import annotations

import math

import torch

from promptkit.zoo.draw import (
    CANVAS,
    SHAPES,
    blur,
    composite,
    coords,
    field_alpha,
    finish,
    glyph_bank,
    place,
    rand_colors,
    randint,
    shape_bank,
    uniform,
)
from promptkit.zoo.font import DIGITS
from promptkit.zoo.scenes import background, contrasting, mix
from promptkit.zoo.suite import TASKS
from promptkit.zoo.textures import texture_field

__all__: list[str] = []

_OBJECTS = tuple(SHAPES.index(s) for s in TASKS["zoo-objects"].class_names)
_CLUTTER = tuple(SHAPES.index(s) for s in ("ellipse", "diamond", "tee", "ell"))


def _soften(images: torch.Tensor, gen: torch.Generator, strength: tuple[float, float]) -> torch.Tensor:
    # Per-image amount of blur (a blend with a blurred copy): focus varies as in photographs.
    w = uniform(gen, images.shape[0], *strength).view(-1, 1, 1, 1)
    return images * (1 - w) + blur(images, 2.0) * w


def _illuminate(images: torch.Tensor, gen: torch.Generator, amount: float) -> torch.Tensor:
    # A linear illumination gradient in a random direction.
    n, res = images.shape[0], images.shape[-1]
    y, x = coords(res)
    a = uniform(gen, n, 0, 2 * math.pi).view(-1, 1, 1, 1)
    g = uniform(gen, n, 0, amount).view(-1, 1, 1, 1)
    return images * (1 + g * (x * torch.cos(a) + y * torch.sin(a)))


def textures(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]
    # drawn at twice the size and box-filtered by finish(): fine periodic patterns need it
    t = texture_field(gen, labels, res=2 * CANVAS)
    c0 = rand_colors(gen, n)
    c1 = contrasting(gen, c0, min_diff=0.12)
    strength = uniform(gen, n, 0.35, 1.0).view(-1, 1, 1, 1)  # pattern contrast
    img = mix(c0, c0 + (c1 - c0) * strength.view(-1, 1), t)
    img = _illuminate(img, gen, 0.5)
    img = _soften(img, gen, (0.0, 0.6))
    return finish(img, gen, noise=(0.01, 0.08))


def digits(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]
    bank = glyph_bank("".join(DIGITS))
    bg = background(gen, n, kinds=("flat", "gradient", "noise", "texture"))
    ink = contrasting(gen, bg.mean(dim=(2, 3)), min_diff=0.22)
    scale = uniform(gen, n, 0.5, 0.8)
    aspect = uniform(gen, n, 0.75, 1.3)
    shear = uniform(gen, n, -0.3, 0.3)
    angle = uniform(gen, n, -0.2, 0.2)
    thick = uniform(gen, n, -0.06, 0.03)  # stroke weight (distance offset)
    cx, cy = uniform(gen, n, -0.1, 0.1), uniform(gen, n, -0.12, 0.12)
    # cut-off neighbours left and right, as in house-number crops
    pitch = scale * aspect * uniform(gen, n, 1.25, 1.6)
    for side in (-1.0, 1.0):
        present = (torch.rand(n, generator=gen) < 0.75).float().view(-1, 1, 1, 1)
        other = randint(gen, n, 0, 10)
        f = place(bank, other, cx=cx + side * pitch, cy=cy, scale=scale, angle=angle, aspect=aspect, shear=shear)
        bg = composite(bg, field_alpha(f, scale, offset=thick) * present, ink)
    f = place(bank, labels, cx=cx, cy=cy, scale=scale, angle=angle, aspect=aspect, shear=shear)
    img = composite(bg, field_alpha(f, scale, offset=thick), ink)
    # clutter: a few thin strokes of other colours (edges, cables, ornaments)
    for _ in range(2):
        present = (torch.rand(n, generator=gen) < 0.5).float().view(-1, 1, 1, 1)
        idx = torch.tensor(_CLUTTER)[randint(gen, n, 0, len(_CLUTTER))]
        s = uniform(gen, n, 0.2, 0.5)
        f = place(
            shape_bank(),
            idx,
            cx=uniform(gen, n, -1, 1),
            cy=uniform(gen, n, -1, 1),
            scale=s,
            angle=uniform(gen, n, 0, 2 * math.pi),
        )
        img = composite(img, field_alpha(f, s) * present * 0.7, rand_colors(gen, n))
    img = _illuminate(img, gen, 0.6)
    img = _soften(img, gen, (0.0, 0.7))
    return finish(img, gen, noise=(0.01, 0.06))


def objects(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]
    bank = shape_bank()
    img = background(gen, n)
    for _ in range(3):  # small clutter of other shapes
        present = (torch.rand(n, generator=gen) < 0.5).float().view(-1, 1, 1, 1)
        idx = torch.tensor(_CLUTTER)[randint(gen, n, 0, len(_CLUTTER))]
        s = uniform(gen, n, 0.08, 0.18)
        f = place(
            bank,
            idx,
            cx=uniform(gen, n, -0.9, 0.9),
            cy=uniform(gen, n, -0.9, 0.9),
            scale=s,
            angle=uniform(gen, n, 0, 2 * math.pi),
        )
        img = composite(img, field_alpha(f, s) * present, rand_colors(gen, n))
    idx = torch.tensor(_OBJECTS)[labels]
    scale = uniform(gen, n, 0.33, 0.6)
    cx, cy = uniform(gen, n, -0.3, 0.3), uniform(gen, n, -0.3, 0.3)
    f = place(
        bank, idx, cx=cx, cy=cy, scale=scale, angle=uniform(gen, n, 0, 2 * math.pi), aspect=uniform(gen, n, 0.8, 1.25)
    )
    alpha = field_alpha(f, scale, offset=uniform(gen, n, -0.05, 0.05))
    base = contrasting(gen, img.mean(dim=(2, 3)), min_diff=0.3)
    # shading across the object: a linear ramp in a random direction
    y, x = coords(CANVAS)
    a = uniform(gen, n, 0, 2 * math.pi).view(-1, 1, 1, 1)
    ramp = 0.85 + 0.15 * ((x - cx.view(-1, 1, 1, 1)) * torch.cos(a) + (y - cy.view(-1, 1, 1, 1)) * torch.sin(a)) / (
        scale.view(-1, 1, 1, 1)
    )
    img = composite(img, alpha, (base[:, :, None, None] * ramp).clamp(0, 1))
    img = _illuminate(img, gen, 0.3)
    img = _soften(img, gen, (0.0, 0.3))
    return finish(img, gen, noise=(0.0, 0.03))

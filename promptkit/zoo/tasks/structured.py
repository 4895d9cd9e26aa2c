"""Structured tasks: count, distance, location, orientation (CLEVR-, dSprites-like), azimuth and
elevation (smallNORB-like)."""

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
    place,
    rand_colors,
    randint,
    shape_bank,
    uniform,
)
from promptkit.zoo.render3d import TOYS, render_toys
from promptkit.zoo.scenes import background, contrasting, mix
from promptkit.zoo.suite import TASKS

__all__: list[str] = []

_SOLIDS = tuple(
    SHAPES.index(s) for s in ("circle", "square", "triangle", "star", "cross", "heart", "diamond", "half-disc")
)
_SPRITES = tuple(SHAPES.index(s) for s in ("square", "ellipse", "heart"))  # dSprites' three shapes
_ASYMMETRIC = tuple(SHAPES.index(s) for s in ("heart", "arrow", "ell", "crescent", "tee"))


def _pick(gen: torch.Generator, n: int, choices: tuple[int, ...]) -> torch.Tensor:
    return torch.tensor(choices)[randint(gen, n, 0, len(choices))]


def count(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]
    k = labels + 3
    img = background(gen, n, kinds=("flat", "gradient"))
    # distinct cells of a 4x4 grid, so objects never overlap; jitter within the cell
    cells = torch.rand(n, 16, generator=gen).argsort(dim=1)
    bg_mean = img.mean(dim=(2, 3))
    for j in range(8):
        present = (j < k).float().view(-1, 1, 1, 1)
        cell = cells[:, j]
        scale = uniform(gen, n, 0.1, 0.2)
        room = 0.25 - scale * 0.9
        cx = -0.75 + 0.5 * (cell % 4).float() + room * uniform(gen, n, -1, 1)
        cy = -0.75 + 0.5 * (cell // 4).float() + room * uniform(gen, n, -1, 1)
        f = place(shape_bank(), _pick(gen, n, _SOLIDS), cx=cx, cy=cy, scale=scale, angle=uniform(gen, n, 0, 6.3))
        img = composite(img, field_alpha(f, scale) * present, contrasting(gen, bg_mean, min_diff=0.15))
    return finish(img, gen, noise=(0.0, 0.05))


_DEPTH = (1.25, 6.0)  # nearest and farthest depth on the ground plane


def distance(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]
    bins = TASKS["zoo-distance"].num_classes
    y, x = coords(CANVAS)
    horizon = uniform(gen, n, -0.6, -0.35)
    h = horizon.view(-1, 1, 1, 1)
    wall, floor = rand_colors(gen, n, sat=(0.0, 0.3)), rand_colors(gen, n, sat=(0.0, 0.3))
    t = ((y - h) / (1 - h)).clamp(0, 1)  # 0 at the horizon, 1 at the bottom edge
    img = torch.where(y < h, wall[:, :, None, None], mix(floor * 0.7, floor, t))
    # inverse depth of the nearest object: bins are equal in 1/z (equal steps on screen)
    near_inv, far_inv = 1 / _DEPTH[0], 1 / _DEPTH[1]
    width = (near_inv - far_inv) / bins
    inv_min = far_inv + width * (labels.float() + torch.rand(n, generator=gen))
    slots = 5
    others = randint(gen, n, 1, slots)  # 1 to 4 more objects, all farther away
    inv = far_inv + (inv_min[:, None] - far_inv) * torch.rand(n, slots, generator=gen)
    inv[:, 0] = inv_min
    active = torch.arange(slots)[None] <= others[:, None]
    inv = torch.where(active, inv, torch.full_like(inv, far_inv))  # inactive slots: far, and masked below
    order = inv.argsort(dim=1)  # painter's order: far (small 1/z) first
    base_size = uniform(gen, (n, slots), 0.35, 0.5)
    sx = uniform(gen, (n, slots), -1.0, 1.0)
    shapes = torch.tensor(_SOLIDS)[randint(gen, (n, slots), 0, len(_SOLIDS))]
    colors = rand_colors(gen, n * slots).view(n, slots, 3)
    rows = torch.arange(n)
    for j in range(slots):
        s = order[:, j]
        z_inv, on = inv[rows, s], active[rows, s].float().view(-1, 1, 1, 1)
        base_y = horizon + (1 - horizon) * z_inv * _DEPTH[0]
        size = base_size[rows, s] * z_inv * _DEPTH[0] * 0.9
        cx = sx[rows, s] * (0.3 + 0.6 * z_inv * _DEPTH[0])
        shadow = place(shape_bank(), torch.full((n,), SHAPES.index("ellipse")), cx=cx, cy=base_y, scale=size)
        img = composite(img, field_alpha(shadow, size) * on * 0.5, torch.zeros(n, 3))
        f = place(shape_bank(), shapes[rows, s], cx=cx, cy=base_y - size * 0.85, scale=size)
        img = composite(img, field_alpha(f, size) * on, colors[rows, s])
    return finish(img, gen, noise=(0.0, 0.04))


def _sprite(gen: torch.Generator, shapes: torch.Tensor, cx, cy, scale, angle) -> torch.Tensor:
    n = shapes.shape[0]
    f = place(shape_bank(), shapes, cx=cx, cy=cy, scale=scale, angle=angle)
    img = field_alpha(f, scale) * uniform(gen, n, 0.7, 1.0).view(-1, 1, 1, 1)
    return finish(img.expand(n, 3, CANVAS, CANVAS), gen, noise=(0.0, 0.04))


def location(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]
    bins = TASKS["zoo-location"].num_classes
    span = 1.6  # x centres in [-0.8, 0.8]
    cx = -0.8 + span * (labels.float() + torch.rand(n, generator=gen)) / bins
    return _sprite(
        gen,
        _pick(gen, n, _SPRITES),
        cx,
        uniform(gen, n, -0.8, 0.8),
        uniform(gen, n, 0.12, 0.3),
        uniform(gen, n, 0, 2 * math.pi),
    )


def orientation(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]
    bins = TASKS["zoo-orientation"].num_classes
    angle = 2 * math.pi * (labels.float() + torch.rand(n, generator=gen)) / bins
    return _sprite(
        gen,
        _pick(gen, n, _ASYMMETRIC),
        uniform(gen, n, -0.45, 0.45),
        uniform(gen, n, -0.45, 0.45),
        uniform(gen, n, 0.25, 0.45),
        angle,
    )


def _toys(gen: torch.Generator, azimuth: torch.Tensor, elevation: torch.Tensor) -> torch.Tensor:
    n = azimuth.shape[0]
    toy = randint(gen, n, 0, len(TOYS))
    light = torch.stack([uniform(gen, n, -0.7, 0.7), uniform(gen, n, 0.3, 1.0), uniform(gen, n, -1.0, -0.4)], dim=1)
    light = light / light.norm(dim=1, keepdim=True)
    shade, cover = render_toys(
        toy,
        azimuth=azimuth,
        elevation=elevation,
        zoom=uniform(gen, n, 0.65, 0.85),
        stretch=uniform(gen, (n, 3), 0.85, 1.15),
        light=light,
    )
    paint = rand_colors(gen, n, sat=(0.0, 0.5), val=(0.6, 1.0))
    img = background(gen, n, kinds=("flat", "gradient")) * 0.6 + 0.2
    img = img * (1 - cover) + paint[:, :, None, None] * shade
    img = 0.6 * img + 0.4 * blur(img, 0.7)
    return finish(img, gen, noise=(0.0, 0.04))


def azimuth(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]
    bins = TASKS["zoo-azimuth"].num_classes
    az = 2 * math.pi * (labels.float() + torch.rand(n, generator=gen)) / bins
    return _toys(gen, az, uniform(gen, n, math.radians(5), math.radians(65)))


def elevation(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]
    bins = TASKS["zoo-elevation"].num_classes
    el = math.radians(5) + math.radians(60) * (labels.float() + torch.rand(n, generator=gen)) / bins
    return _toys(gen, uniform(gen, n, 0, 2 * math.pi), el)

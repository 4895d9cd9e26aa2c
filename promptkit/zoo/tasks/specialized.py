"""Specialized-like tasks: tissue (PatchCamelyon-like), retina (Retinopathy-like), land use (EuroSAT-like).

Class parameters overlap on purpose (a small tumour nucleus looks like a large normal one; a
grade's lesion counts border the next grade's), so the tasks have room above a frozen probe.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from promptkit.zoo.draw import CANVAS, blur, coords, finish, fractal_noise, hsv_to_rgb, randint, uniform
from promptkit.zoo.scenes import blobs, mix
from promptkit.zoo.textures import TEXTURES, texture_field

__all__: list[str] = []


def _col(h: float | torch.Tensor, s: float | torch.Tensor, v: float | torch.Tensor, n: int) -> torch.Tensor:
    as_t = lambda a: a if isinstance(a, torch.Tensor) else torch.full((n,), float(a))  # noqa: E731
    return hsv_to_rgb(as_t(h) % 1.0, as_t(s).clamp(0, 1), as_t(v).clamp(0, 1))


def _pair(gen: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    # a per-image (lo', hi') range jittered around (lo, hi), shape (n, 2)
    a = uniform(gen, n, lo * 0.85, lo * 1.15)
    b = torch.maximum(a * 1.05, uniform(gen, n, hi * 0.85, hi * 1.15))
    return torch.stack([a, b], dim=1)


# ---------------------------------------------------------------------------------------------
# tissue

# Every patch holds normal nuclei; its class is decided by a minority of distinctive nuclei
# (PatchCamelyon labels a patch by the few tumour cells in its centre). Per class: how many
# distinctive nuclei, their radius (output px), aspect and wobble ranges, and darkness factor.
_NORMAL = dict(radius=(1.2, 1.9), aspect=(1.0, 1.4))
_TISSUE = {
    0: dict(count=(0, 3), radius=(1.2, 1.9), aspect=(1.0, 1.4), wobble=0.04, dark=1.0),  # normal: just more of them
    1: dict(count=(2, 5), radius=(1.7, 2.6), aspect=(1.0, 1.6), wobble=0.12, dark=0.8),  # tumour: large, irregular
    2: dict(count=(4, 10), radius=(0.7, 1.1), aspect=(1.0, 1.3), wobble=0.04, dark=0.7),  # inflamed: small, dark
    3: dict(count=(2, 6), radius=(0.8, 1.2), aspect=(2.0, 3.2), wobble=0.04, dark=0.95),  # stroma: spindles, aligned
}


def cells(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]
    stain = uniform(gen, n, -0.04, 0.04)  # stain batch effect: shifts every hue of the slide
    hue = 0.93 + stain + uniform(gen, n, -0.03, 0.03)
    pink = _col(hue, uniform(gen, n, 0.15, 0.45), uniform(gen, n, 0.75, 0.95), n)
    pink2 = _col(0.9 + stain, uniform(gen, n, 0.3, 0.6), uniform(gen, n, 0.6, 0.85), n)
    fibres = texture_field(gen, torch.full((n,), TEXTURES.index("marbled")))
    img = mix(pink, pink2, 0.6 * fibres * uniform(gen, n, 0.3, 1.0).view(-1, 1, 1, 1))
    value = uniform(gen, n, 0.3, 0.55)
    nuclei_hue = 0.74 + stain + uniform(gen, n, -0.04, 0.04)
    sat = uniform(gen, n, 0.35, 0.75)
    ones = torch.ones(n, 1)
    img = blobs(img, gen, count=randint(gen, n, 3, 10), radius=ones * torch.tensor(_NORMAL["radius"]),
                aspect=ones * torch.tensor(_NORMAL["aspect"]), color=_col(nuclei_hue, sat, value, n),
                wobble=torch.full((n,), 0.04))  # fmt: skip
    count = torch.zeros(n, dtype=torch.long)
    radius, aspect, wobble, dark = torch.zeros(n, 2), torch.zeros(n, 2), torch.zeros(n), torch.ones(n)
    for k, p in _TISSUE.items():
        sel = (labels == k).nonzero(as_tuple=True)[0]
        m = int(sel.numel())
        if not m:
            continue
        count[sel] = randint(gen, m, p["count"][0], p["count"][1] + 1)
        radius[sel] = _pair(gen, m, *p["radius"])
        aspect[sel] = _pair(gen, m, *p["aspect"])
        wobble[sel] = p["wobble"]
        dark[sel] = p["dark"]
    color = _col(nuclei_hue, sat, value * dark, n)
    # stroma nuclei share a direction; others are oriented at random
    direction = uniform(gen, n, 0, math.pi)
    aligned = labels == 3
    img = blobs(img, gen, count=torch.where(aligned, 0, count), radius=radius, aspect=aspect, color=color,
                wobble=wobble)  # fmt: skip
    img = blobs(img, gen, count=torch.where(aligned, count, 0), radius=radius, aspect=aspect, color=color,
                angle=direction)  # fmt: skip
    w = uniform(gen, n, 0.0, 0.5).view(-1, 1, 1, 1)
    img = img * (1 - w) + blur(img, 0.8) * w
    return finish(img, gen, noise=(0.01, 0.05))


# ---------------------------------------------------------------------------------------------
# retina

_GRADES = ((0, 1), (2, 4), (5, 8), (9, 13), (14, 20))  # lesion counts per grade (inclusive)


def retina(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]
    y, x = coords(CANVAS)
    cx, cy = uniform(gen, n, -0.08, 0.08).view(-1, 1, 1, 1), uniform(gen, n, -0.08, 0.08).view(-1, 1, 1, 1)
    rad = uniform(gen, n, 0.85, 1.0).view(-1, 1, 1, 1)
    r = torch.sqrt((x - cx) ** 2 + (y - cy) ** 2) / rad
    fundus = _col(uniform(gen, n, 0.0, 0.07), uniform(gen, n, 0.6, 0.9), uniform(gen, n, 0.55, 0.9), n)
    shade = (1.0 - 0.45 * r**2).clamp(0, 1)  # vignetting towards the rim
    tex = fractal_noise(gen, n, cells=(4, 8)) * 0.2 + 0.9
    img = fundus[:, :, None, None] * shade * tex
    # optic disc on the left or right, vessels leaving it
    side = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    ox = (side * uniform(gen, n, 0.35, 0.55)).view(-1, 1, 1, 1) + cx
    oy = uniform(gen, n, -0.15, 0.15).view(-1, 1, 1, 1) + cy
    vessel = _col(0.0, 0.85, uniform(gen, n, 0.3, 0.5), n)
    for _ in range(4):
        a = (uniform(gen, n, -1.2, 1.2) + torch.where(side > 0, math.pi, 0.0)).view(-1, 1, 1, 1)
        curv = uniform(gen, n, -0.6, 0.6).view(-1, 1, 1, 1)
        t = (x - ox) * torch.cos(a) + (y - oy) * torch.sin(a)
        off = -(x - ox) * torch.sin(a) + (y - oy) * torch.cos(a) - curv * t**2
        width = 0.05 * (1.2 - t.clamp(0, 1))
        alpha = ((width - off.abs()) * 16 + 0.5).clamp(0, 1) * (t > 0) * 0.8
        img = mix(vessel, vessel, alpha) * alpha + img * (1 - alpha)
    d = torch.sqrt((x - ox) ** 2 + (y - oy) ** 2)
    disc = ((uniform(gen, n, 0.12, 0.18).view(-1, 1, 1, 1) - d) * 16 + 0.5).clamp(0, 1)
    img = img * (1 - disc) + _col(0.13, 0.4, 0.98, n)[:, :, None, None] * disc
    # lesions: small dark red dots; bright specks (reflections) are distractors
    lo = torch.tensor([g[0] for g in _GRADES])[labels]
    hi = torch.tensor([g[1] for g in _GRADES])[labels]
    count = lo + (torch.rand(n, generator=gen) * (hi - lo + 1).float()).long()
    lesion = _col(0.99, 0.9, uniform(gen, n, 0.15, 0.3), n)
    ones = torch.ones(n, 2)
    img = blobs(img, gen, count=count, radius=ones * torch.tensor([0.6, 1.1]), aspect=ones * torch.tensor([1.0, 1.3]),
                color=lesion, margin=0.35)  # fmt: skip
    specks = randint(gen, n, 0, 6)
    glint = _col(0.12, 0.3, 1.0, n)
    img = blobs(img, gen, count=specks, radius=ones * torch.tensor([0.5, 0.9]), aspect=ones, color=glint,
                opacity=0.6, margin=0.3)  # fmt: skip
    img = img * ((1.0 - r) * 20).clamp(0, 1)  # black outside the disc
    return finish(img, gen, noise=(0.01, 0.04))


# ---------------------------------------------------------------------------------------------
# land use

LandFn = Callable[[torch.Generator, int], torch.Tensor]
_LAND: dict[int, LandFn] = {}


def _land(k: int) -> Callable[[LandFn], LandFn]:
    def deco(fn: LandFn) -> LandFn:
        _LAND[k] = fn
        return fn

    return deco


def _greens(gen: torch.Generator, n: int, h: tuple[float, float], s: tuple[float, float], v: tuple[float, float]):
    return _col(uniform(gen, n, *h), uniform(gen, n, *s), uniform(gen, n, *v), n)


def _patchwork(gen: torch.Generator, n: int, cells: int, palette: torch.Tensor) -> torch.Tensor:
    """Rotated grid of fields, each a random colour of ``palette`` (K, 3) jittered; (n, 3, S, S)."""
    pick = randint(gen, (n, cells, cells), 0, palette.shape[0])
    colors = palette[pick].permute(0, 3, 1, 2) * uniform(gen, (n, 1, cells, cells), 0.85, 1.15)
    a = uniform(gen, n, 0, math.pi)
    c, s = torch.cos(a).view(-1, 1, 1), torch.sin(a).view(-1, 1, 1)
    y, x = coords(CANVAS)
    zoom = uniform(gen, n, 0.55, 0.9).view(-1, 1, 1)
    grid = torch.stack([(x * c + y * s) * zoom, (-x * s + y * c) * zoom], dim=-1)
    return F.grid_sample(colors.clamp(0, 1), grid, mode="nearest", padding_mode="border", align_corners=False)


_CROPS = torch.tensor([[0.45, 0.6, 0.25], [0.6, 0.55, 0.3], [0.3, 0.5, 0.2], [0.7, 0.65, 0.45], [0.5, 0.45, 0.35]])
_ROOFS = torch.tensor([[0.65, 0.3, 0.25], [0.55, 0.55, 0.55], [0.7, 0.45, 0.35], [0.4, 0.4, 0.42]])
_HALLS = torch.tensor([[0.75, 0.75, 0.75], [0.55, 0.57, 0.6], [0.85, 0.85, 0.82], [0.5, 0.52, 0.55]])


def _texture(gen: torch.Generator, n: int, name: str) -> torch.Tensor:
    return texture_field(gen, torch.full((n,), TEXTURES.index(name)))


@_land(0)  # annual crop: patchwork of fields with ploughing lines
def _annual(gen: torch.Generator, n: int) -> torch.Tensor:
    img = _patchwork(gen, n, 5, _CROPS)
    return img * (0.85 + 0.15 * _texture(gen, n, "striped"))


@_land(1)  # forest: dark green, crowns
def _forest(gen: torch.Generator, n: int) -> torch.Tensor:
    base = _greens(gen, n, (0.25, 0.38), (0.4, 0.8), (0.15, 0.35))
    crowns = fractal_noise(gen, n, cells=(8, 16), persistence=0.8)
    return mix(base * 0.6, base * 1.4, crowns)


@_land(2)  # herbaceous vegetation: mixed green/yellow/brown noise
def _herbaceous(gen: torch.Generator, n: int) -> torch.Tensor:
    a = _greens(gen, n, (0.14, 0.3), (0.3, 0.6), (0.35, 0.6))
    b = _greens(gen, n, (0.08, 0.18), (0.3, 0.6), (0.35, 0.6))
    return mix(a, b, fractal_noise(gen, n, cells=(4, 8, 16), persistence=0.7))


@_land(3)  # highway: a grey road across fields or vegetation
def _highway(gen: torch.Generator, n: int) -> torch.Tensor:
    img = torch.where(torch.rand(n, 1, 1, 1, generator=gen) < 0.5, _patchwork(gen, n, 4, _CROPS), _herbaceous(gen, n))
    y, x = coords(CANVAS)
    a = uniform(gen, n, 0, math.pi).view(-1, 1, 1, 1)
    off = uniform(gen, n, -0.5, 0.5).view(-1, 1, 1, 1)
    d = (x * torch.cos(a) + y * torch.sin(a) - off).abs()
    w = uniform(gen, n, 0.06, 0.14).view(-1, 1, 1, 1)
    road = ((w - d) * 16 + 0.5).clamp(0, 1)
    grey = _greens(gen, n, (0, 1), (0.0, 0.1), (0.4, 0.7))
    return img * (1 - road) + grey[:, :, None, None] * road


@_land(4)  # industrial: large light halls
def _industrial(gen: torch.Generator, n: int) -> torch.Tensor:
    img = _patchwork(gen, n, 3, _HALLS)
    return img * (0.8 + 0.2 * _texture(gen, n, "gridded"))


@_land(5)  # pasture: smooth light green
def _pasture(gen: torch.Generator, n: int) -> torch.Tensor:
    a = _greens(gen, n, (0.2, 0.3), (0.35, 0.6), (0.5, 0.75))
    return mix(a * 0.92, a * 1.08, fractal_noise(gen, n, cells=(2, 4)))


@_land(6)  # permanent crop: rows of plants (orchards, vineyards)
def _permanent(gen: torch.Generator, n: int) -> torch.Tensor:
    soil = _greens(gen, n, (0.07, 0.14), (0.3, 0.55), (0.4, 0.65))
    plant = _greens(gen, n, (0.22, 0.35), (0.4, 0.8), (0.25, 0.5))
    return mix(soil, plant, _texture(gen, n, "dotted"))


@_land(7)  # residential: small roofs along a street grid, gardens between
def _residential(gen: torch.Generator, n: int) -> torch.Tensor:
    roofs = _patchwork(gen, n, 9, _ROOFS)
    garden = _greens(gen, n, (0.2, 0.33), (0.3, 0.6), (0.3, 0.55))
    streets = _texture(gen, n, "bricked")
    return roofs * streets + garden[:, :, None, None] * (1 - streets) * 0.9


@_land(8)  # river: a winding blue band through land
def _river(gen: torch.Generator, n: int) -> torch.Tensor:
    img = _herbaceous(gen, n) if n else torch.zeros(0, 3, CANVAS, CANVAS)
    y, x = coords(CANVAS)
    a = uniform(gen, n, 0, math.pi).view(-1, 1, 1, 1)
    u = x * torch.cos(a) + y * torch.sin(a)
    v = -x * torch.sin(a) + y * torch.cos(a)
    amp, freq = uniform(gen, n, 0.1, 0.35).view(-1, 1, 1, 1), uniform(gen, n, 1.0, 3.0).view(-1, 1, 1, 1)
    d = (v - amp * torch.sin(freq * u + uniform(gen, n, 0, 6.3).view(-1, 1, 1, 1))).abs()
    w = uniform(gen, n, 0.05, 0.15).view(-1, 1, 1, 1)
    water = ((w - d) * 16 + 0.5).clamp(0, 1)
    blue = _greens(gen, n, (0.52, 0.62), (0.4, 0.8), (0.25, 0.5))
    return img * (1 - water) + blue[:, :, None, None] * water


@_land(9)  # sea or lake: blue, sometimes with a shore
def _sea(gen: torch.Generator, n: int) -> torch.Tensor:
    blue = _greens(gen, n, (0.5, 0.62), (0.4, 0.85), (0.2, 0.5))
    water = mix(blue * 0.9, blue * 1.1, fractal_noise(gen, n, cells=(2, 4)))
    y, x = coords(CANVAS)
    a = uniform(gen, n, 0, 2 * math.pi).view(-1, 1, 1, 1)
    off = uniform(gen, n, 0.6, 1.6).view(-1, 1, 1, 1)  # mostly off-image
    land = ((x * torch.cos(a) + y * torch.sin(a) - off) * 16 + 0.5).clamp(0, 1)
    return water * (1 - land) + _herbaceous(gen, n) * land


def landuse(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = labels.shape[0]

    def draw(classes: torch.Tensor) -> torch.Tensor:
        img = torch.zeros(n, 3, CANVAS, CANVAS)
        for k, fn in _LAND.items():
            sel = (classes == k).nonzero(as_tuple=True)[0]
            if sel.numel():
                img[sel] = fn(gen, int(sel.numel()))
        return img

    img = draw(labels)
    # like EuroSAT tiles, a patch may reach into a neighbouring area of another class:
    # a half-plane covering up to a third of the image (the label is the majority class)
    other = (labels + randint(gen, n, 1, len(_LAND))) % len(_LAND)
    y, x = coords(CANVAS)
    a = uniform(gen, n, 0, 2 * math.pi).view(-1, 1, 1, 1)
    edge = uniform(gen, n, 0.35, 1.5).view(-1, 1, 1, 1)  # distance of the border from the centre
    border = ((x * torch.cos(a) + y * torch.sin(a) - edge) * 12 + 0.5).clamp(0, 1)
    img = img * (1 - border) + draw(other) * border
    # atmosphere and sensor: haze, brightness and a small colour cast per image
    haze = uniform(gen, n, 0.0, 0.3).view(-1, 1, 1, 1)
    img = img * (1 - haze) + haze * 0.7
    img = img * uniform(gen, (n, 3), 0.85, 1.15)[:, :, None, None]
    w = uniform(gen, n, 0.0, 0.6).view(-1, 1, 1, 1)
    img = img * (1 - w) + blur(img, 0.8) * w
    return finish(img, gen, noise=(0.01, 0.05))

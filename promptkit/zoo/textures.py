"""Procedural texture families (DTD-like), each a random field in ``[0, 1]`` per image.

A family draws its own scale, phase, orientation and shape parameters, so two images of one
family share only the kind of pattern (as two DTD "striped" photos do). The textures task
labels the family; land-use scenes and pretext backgrounds reuse the families unlabelled.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from promptkit.zoo.draw import CANVAS, coords, fractal_noise, uniform

__all__ = ["TEXTURES", "texture_field"]

TextureFn = Callable[[torch.Generator, int, int], torch.Tensor]
_FAMILIES: dict[str, TextureFn] = {}


def _family(name: str) -> Callable[[TextureFn], TextureFn]:
    def deco(fn: TextureFn) -> TextureFn:
        _FAMILIES[name] = fn
        return fn

    return deco


def _frame(gen: torch.Generator, n: int, res: int, period: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotated, scaled, shifted coordinates ``(u, v)`` in units of one period, each ``(n, 1, res, res)``.

    ``period`` is in output (32 px) pixels.
    """
    y, x = coords(res)
    theta = uniform(gen, n, 0.0, math.pi).view(-1, 1, 1, 1)
    freq = (32.0 / 2.0) / uniform(gen, n, *period).view(-1, 1, 1, 1)  # periods per unit length
    pu, pv = uniform(gen, n, 0, 1).view(-1, 1, 1, 1), uniform(gen, n, 0, 1).view(-1, 1, 1, 1)
    c, s = torch.cos(theta), torch.sin(theta)
    u = (x * c + y * s) * freq + pu
    v = (-x * s + y * c) * freq + pv
    return u, v


def _square(s: torch.Tensor, sharp: float = 6.0) -> torch.Tensor:
    return torch.sigmoid(sharp * s)


def _lines(t: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    # 1 on thin lines at integer t, width in periods.
    d = (t - torch.round(t)).abs()
    return torch.sigmoid((width / 2 - d) * 40.0)


@_family("striped")
def _striped(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    u, _ = _frame(gen, n, res, (4.0, 10.0))
    duty = uniform(gen, n, -0.5, 0.5).view(-1, 1, 1, 1)
    return _square(torch.sin(2 * math.pi * u) + duty)


@_family("wavy")
def _wavy(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    u, v = _frame(gen, n, res, (4.0, 9.0))
    amp = uniform(gen, n, 0.25, 0.6).view(-1, 1, 1, 1)
    f2 = uniform(gen, n, 0.2, 0.45).view(-1, 1, 1, 1)
    return _square(torch.sin(2 * math.pi * (u + amp * torch.sin(2 * math.pi * f2 * v))))


@_family("zigzagged")
def _zigzag(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    u, v = _frame(gen, n, res, (4.0, 9.0))
    amp = uniform(gen, n, 0.3, 0.8).view(-1, 1, 1, 1)
    f2 = uniform(gen, n, 0.25, 0.6).view(-1, 1, 1, 1)
    tri = 2 * (f2 * v - torch.floor(f2 * v + 0.5)).abs()  # triangle wave in [0, 1]
    return _square(torch.sin(2 * math.pi * (u + amp * tri)))


@_family("checkered")
def _checkered(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    u, v = _frame(gen, n, res, (5.0, 12.0))
    return _square(torch.sin(math.pi * u) * torch.sin(math.pi * v), 10.0)


@_family("dotted")
def _dotted(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    u, v = _frame(gen, n, res, (4.0, 9.0))
    radius = uniform(gen, n, 0.16, 0.32).view(-1, 1, 1, 1)
    du, dv = u - torch.round(u), v - torch.round(v)
    return torch.sigmoid((radius - torch.sqrt(du**2 + dv**2)) * 30.0)


@_family("gridded")
def _gridded(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    u, v = _frame(gen, n, res, (5.0, 10.0))
    w = uniform(gen, n, 0.12, 0.25).view(-1, 1, 1, 1)
    return torch.maximum(_lines(u, w), _lines(v, w))


@_family("crosshatched")
def _crosshatched(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    # Two families of thin lines crossing at 25-60 degrees (a square grid would be "gridded").
    u, v = _frame(gen, n, res, (3.0, 6.0))
    a = uniform(gen, n, math.radians(25), math.radians(60)).view(-1, 1, 1, 1)
    w = uniform(gen, n, 0.15, 0.3).view(-1, 1, 1, 1)
    u2 = u * torch.cos(a) + v * torch.sin(a)
    return torch.maximum(_lines(u, w), _lines(u2, w))


@_family("banded")
def _banded(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    # Concentric rings around a centre that may lie off the image.
    y, x = coords(res)
    cx, cy = uniform(gen, n, -1.5, 1.5).view(-1, 1, 1, 1), uniform(gen, n, -1.5, 1.5).view(-1, 1, 1, 1)
    freq = (32.0 / 2.0) / uniform(gen, n, 4.0, 9.0).view(-1, 1, 1, 1)
    phase = uniform(gen, n, 0, 1).view(-1, 1, 1, 1)
    r = torch.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    return _square(torch.sin(2 * math.pi * (r * freq + phase)))


@_family("bricked")
def _bricked(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    u, v = _frame(gen, n, res, (4.0, 8.0))
    ratio = uniform(gen, n, 1.6, 2.6).view(-1, 1, 1, 1)
    w = uniform(gen, n, 0.12, 0.22).view(-1, 1, 1, 1)
    row = torch.floor(v)
    ub = (u + 0.5 * (row % 2)) / ratio  # alternate rows shifted by half a brick
    mortar = torch.maximum(_lines(v, w), _lines(ub, w / ratio))
    return 1.0 - mortar


@_family("blotchy")
def _blotchy(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    f = fractal_noise(gen, n, cells=(3, 6), persistence=0.6, res=res)
    level = uniform(gen, n, 0.35, 0.65).view(-1, 1, 1, 1)
    return torch.sigmoid((f - level) * 25.0)


@_family("speckled")
def _speckled(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    cells = res // 2
    g = torch.rand(n, 1, cells, cells, generator=gen)
    density = uniform(gen, n, 0.05, 0.18).view(-1, 1, 1, 1)
    specks = (g < density).float()
    return torch.nn.functional.interpolate(specks, size=(res, res), mode="nearest")


@_family("marbled")
def _marbled(gen: torch.Generator, n: int, res: int) -> torch.Tensor:
    u, _ = _frame(gen, n, res, (8.0, 16.0))
    turb = fractal_noise(gen, n, cells=(3, 6, 12), res=res)
    k = uniform(gen, n, 1.5, 3.0).view(-1, 1, 1, 1)
    veins = (torch.sin(2 * math.pi * (u + k * turb))).abs()
    return 1.0 - veins**0.4


TEXTURES: tuple[str, ...] = tuple(_FAMILIES)


def texture_field(gen: torch.Generator, family: torch.Tensor, *, res: int = CANVAS) -> torch.Tensor:
    """Draw one texture field per image, of the given family indices (into :data:`TEXTURES`).

    Shape:
        family: ``(N,)`` int64; returns ``(N, 1, res, res)`` in ``[0, 1]``.
    """
    n = family.shape[0]
    out = torch.zeros(n, 1, res, res)
    for k, fn in enumerate(_FAMILIES.values()):
        sel = (family == k).nonzero(as_tuple=True)[0]
        if sel.numel():
            out[sel] = fn(gen, int(sel.numel()), res)
    return out

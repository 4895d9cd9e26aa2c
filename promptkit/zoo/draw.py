"""Vectorised drawing primitives for the embedded zoo.

Every image of the zoo is drawn in batches with torch: a scene is a float canvas of shape
``(N, 3, S, S)`` in ``[0, 1]``. Objects are signed-distance fields of templates (shapes,
glyphs) placed by an affine map with ``grid_sample``; :func:`field_alpha` turns a placed field
into an anti-aliased alpha at any scale, and its offset thins or thickens strokes. All
randomness comes from one ``torch.Generator``, so a batch is a pure function of its seed.

Coordinates are normalized to ``[-1, 1]`` with ``x`` to the right and ``y`` downwards, pixel
centres at ``(i + 0.5) / S * 2 - 1`` (``align_corners=False`` in torch terms).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F

from promptkit.zoo.font import glyph_bitmap

__all__ = [
    "CANVAS",
    "OUT",
    "SHAPES",
    "TEMPLATE",
    "blur",
    "composite",
    "coords",
    "field_alpha",
    "finish",
    "fractal_noise",
    "glyph_bank",
    "hsv_to_rgb",
    "normal",
    "place",
    "polygon_mask",
    "rand_colors",
    "randint",
    "shape_bank",
    "to_uint8",
    "uniform",
]

OUT = 32  # side of the images the suite returns
CANVAS = 32  # side of the canvas scenes are drawn on (edges are anti-aliased analytically)
TEMPLATE = 64  # side of a template field


# ---------------------------------------------------------------------------------------------
# random draws (all from one generator, so batches are reproducible)


def uniform(gen: torch.Generator, n: int | Sequence[int], lo: float, hi: float) -> torch.Tensor:
    """``n`` draws from U(lo, hi) (``n`` may be a shape)."""
    shape = (n,) if isinstance(n, int) else tuple(n)
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


def normal(gen: torch.Generator, n: int | Sequence[int]) -> torch.Tensor:
    """Standard normal draws of shape ``n``."""
    shape = (n,) if isinstance(n, int) else tuple(n)
    return torch.randn(shape, generator=gen)


def randint(gen: torch.Generator, n: int | Sequence[int], lo: int, hi: int) -> torch.Tensor:
    """Integers in ``[lo, hi)``, int64."""
    shape = (n,) if isinstance(n, int) else tuple(n)
    return torch.randint(lo, hi, shape, generator=gen)


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """HSV (all in ``[0, 1]``, hue wraps) to RGB.

    Shape:
        h, s, v: ``(...)``; returns ``(..., 3)``.
    """
    k = torch.tensor([5.0, 3.0, 1.0])
    kk = (k + h[..., None] * 6.0) % 6.0
    ramp = torch.clamp(torch.minimum(kk, 4.0 - kk), 0.0, 1.0)
    return v[..., None] - v[..., None] * s[..., None] * ramp


def rand_colors(
    gen: torch.Generator,
    n: int,
    *,
    sat: tuple[float, float] = (0.2, 1.0),
    val: tuple[float, float] = (0.2, 1.0),
    hue: tuple[float, float] = (0.0, 1.0),
) -> torch.Tensor:
    """Random RGB colours, shape ``(n, 3)``."""
    return hsv_to_rgb(uniform(gen, n, *hue) % 1.0, uniform(gen, n, *sat), uniform(gen, n, *val))


# ---------------------------------------------------------------------------------------------
# fields and filters


@lru_cache(maxsize=8)
def coords(res: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates ``(y, x)`` of a ``res x res`` grid, each ``(res, res)`` in [-1, 1]."""
    t = (torch.arange(res, dtype=torch.float32) + 0.5) / res * 2.0 - 1.0
    y, x = torch.meshgrid(t, t, indexing="ij")
    return y, x


@lru_cache(maxsize=16)
def _blur_matrix(size: int, sigma: float) -> torch.Tensor:
    # Banded matrix of a 1-D Gaussian with clamped (replicate) borders: blurring is two small
    # matmuls, much faster on CPU than a depthwise convolution.
    r = max(1, int(math.ceil(2.5 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    m = torch.zeros(size, size)
    rows = torch.arange(size)
    for off, w in zip(range(-r, r + 1), k.tolist()):
        m[rows, (rows + off).clamp(0, size - 1)] += w
    return m


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with replicated borders.

    Shape:
        x: ``(..., H, W)``; returns the same shape.
    """
    if sigma <= 0:
        return x
    mh, mw = _blur_matrix(x.shape[-2], float(sigma)), _blur_matrix(x.shape[-1], float(sigma))
    return mh @ x @ mw.T


def fractal_noise(
    gen: torch.Generator,
    n: int,
    *,
    channels: int = 1,
    cells: Sequence[int] = (3, 6, 12),
    persistence: float = 0.5,
    res: int = CANVAS,
) -> torch.Tensor:
    """Smooth value noise summed over octaves, normalized to ``[0, 1]`` per image and channel.

    Shape:
        returns ``(n, channels, res, res)``.
    """
    out = torch.zeros(n, channels, res, res)
    amp = 1.0
    for c in cells:
        grid = torch.rand(n, channels, c + 1, c + 1, generator=gen)
        out += amp * F.interpolate(grid, size=(res, res), mode="bicubic", align_corners=False)
        amp *= persistence
    lo = out.amin(dim=(2, 3), keepdim=True)
    hi = out.amax(dim=(2, 3), keepdim=True)
    return (out - lo) / (hi - lo + 1e-6)


def polygon_mask(vertices: Sequence[tuple[float, float]], res: int = TEMPLATE * 2) -> torch.Tensor:
    """Inside test (even-odd rule) of a polygon given in normalized coordinates.

    Shape:
        returns a bool ``(res, res)`` mask.
    """
    y, x = coords(res)
    inside = torch.zeros(res, res, dtype=torch.bool)
    m = len(vertices)
    for i in range(m):
        x0, y0 = vertices[i]
        x1, y1 = vertices[(i + 1) % m]
        if y0 == y1:
            continue
        crosses = (y0 > y) != (y1 > y)
        xint = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < xint)
    return inside


def _star(points: int, outer: float, inner: float) -> list[tuple[float, float]]:
    verts = []
    for i in range(2 * points):
        r = outer if i % 2 == 0 else inner
        a = -math.pi / 2 + i * math.pi / points
        verts.append((r * math.cos(a), r * math.sin(a)))
    return verts


def _heart(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # The classic implicit heart (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, y up, scaled to fit [-1, 1].
    xx, yy = x * 1.25, -(y * 1.25) + 0.15
    return (xx**2 + yy**2 - 1) ** 3 - xx**2 * yy**3 <= 0


# Each shape: a function of the (y, x) grid returning a bool mask, centred, roughly within r=0.9.
_SHAPE_FNS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "circle": lambda y, x: x**2 + y**2 < 0.8**2,
    "square": lambda y, x: torch.maximum(x.abs(), y.abs()) < 0.68,
    "triangle": lambda y, x: polygon_mask([(0.0, -0.85), (0.85, 0.6), (-0.85, 0.6)], y.shape[0]),
    "star": lambda y, x: polygon_mask(_star(5, 0.95, 0.42), y.shape[0]),
    "cross": lambda y, x: ((x.abs() < 0.26) & (y.abs() < 0.85)) | ((y.abs() < 0.26) & (x.abs() < 0.85)),
    "heart": _heart,
    "ring": lambda y, x: ((x**2 + y**2) < 0.85**2) & ((x**2 + y**2) > 0.5**2),
    "crescent": lambda y, x: ((x**2 + y**2) < 0.85**2) & (((x - 0.4) ** 2 + y**2) > 0.62**2),
    "arrow": lambda y, x: polygon_mask(
        [(-0.85, -0.2), (0.15, -0.2), (0.15, -0.6), (0.85, 0.0), (0.15, 0.6), (0.15, 0.2), (-0.85, 0.2)], y.shape[0]
    ),
    "half-disc": lambda y, x: ((x**2 + (y - 0.3) ** 2) < 0.88**2) & (y < 0.3),
    "ellipse": lambda y, x: (x / 0.88) ** 2 + (y / 0.45) ** 2 < 1,
    "ell": lambda y, x: polygon_mask(
        [(-0.6, -0.85), (-0.12, -0.85), (-0.12, 0.37), (0.6, 0.37), (0.6, 0.85), (-0.6, 0.85)], y.shape[0]
    ),
    "tee": lambda y, x: ((y < -0.35) & (y > -0.85) & (x.abs() < 0.8)) | ((x.abs() < 0.24) & (y.abs() < 0.85)),
    "diamond": lambda y, x: x.abs() / 0.55 + y.abs() / 0.92 < 1,
}
SHAPES: tuple[str, ...] = tuple(_SHAPE_FNS)


def _to_field(mask: torch.Tensor) -> torch.Tensor:
    # Signed distance to the mask's boundary (template units: the template spans [-1, 1]),
    # positive inside, sampled on the TEMPLATE grid. A distance field interpolates well and
    # gives exact anti-aliasing at any scale (field_alpha), and offsets thin or thicken strokes.
    inner = mask[1:-1, 1:-1]
    edge = inner & ~(mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:])
    yb, xb = coords(mask.shape[0])
    pts = torch.stack([xb[1:-1, 1:-1][edge], yb[1:-1, 1:-1][edge]], dim=1)  # (B, 2)
    y, x = coords(TEMPLATE)
    grid = torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)  # (T*T, 2)
    dist = torch.cdist(grid, pts).amin(dim=1).view(TEMPLATE, TEMPLATE)
    step = mask.shape[0] // TEMPLATE
    inside = F.avg_pool2d(mask.float()[None, None], step)[0, 0] >= 0.5
    return torch.where(inside, dist, -dist)[None]


@lru_cache(maxsize=1)
def shape_bank() -> torch.Tensor:
    """Signed-distance fields of every shape in :data:`SHAPES`, in that order.

    Shape:
        returns ``(len(SHAPES), 1, TEMPLATE, TEMPLATE)``.
    """
    y, x = coords(TEMPLATE * 2)
    return torch.stack([_to_field(fn(y, x)) for fn in _SHAPE_FNS.values()])


def _segment_distance(points: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # Distance from each point (P, 2) to each segment a-b (S, 2): (P, S).
    ab = b - a  # (S, 2)
    ap = points[:, None, :] - a[None]  # (P, S, 2)
    t = ((ap * ab[None]).sum(-1) / (ab * ab).sum(-1).clamp(min=1e-12)).clamp(0, 1)
    return (ap - t[..., None] * ab[None]).norm(dim=-1)


@lru_cache(maxsize=4)
def glyph_bank(chars: str) -> torch.Tensor:
    """Signed-distance fields of bitmap-font glyphs drawn as strokes (0.8 of the template's height).

    Each ink cell of the 5x7 bitmap is joined to its ink neighbours by a round-capped stroke
    (diagonal neighbours only where no orthogonal path joins them), so diagonals are smooth
    lines rather than cells touching at their corners.

    Shape:
        returns ``(len(chars), 1, TEMPLATE, TEMPLATE)``.
    """
    cell = 1.6 / 7  # template units per bitmap cell
    y, x = coords(TEMPLATE)
    grid = torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)
    fields = []
    for ch in chars:
        bm = glyph_bitmap(ch)
        ink = {(r, c) for r in range(7) for c in range(5) if bm[r][c]}
        segs = []
        for r, c in sorted(ink):
            segs.append(((r, c), (r, c)))
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                if (r + dr, c + dc) not in ink:
                    continue
                if dr and dc and ((r + dr, c) in ink or (r, c + dc) in ink):
                    continue  # already joined through an orthogonal neighbour
                segs.append(((r, c), (r + dr, c + dc)))
        ends = torch.tensor([[[(c - 2) * cell, (r - 3) * cell] for r, c in seg] for seg in segs])  # (S, 2, 2)
        dist = _segment_distance(grid, ends[:, 0], ends[:, 1]).amin(dim=1).view(TEMPLATE, TEMPLATE)
        fields.append((0.42 * cell - dist)[None])  # stroke half-width: 0.42 of a cell
    return torch.stack(fields)


# ---------------------------------------------------------------------------------------------
# placing and compositing


def place(
    bank: torch.Tensor,
    idx: torch.Tensor,
    *,
    cx: torch.Tensor,
    cy: torch.Tensor,
    scale: torch.Tensor,
    angle: torch.Tensor | None = None,
    aspect: torch.Tensor | None = None,
    shear: torch.Tensor | None = None,
    res: int = CANVAS,
) -> torch.Tensor:
    """Place one template per image by an affine map: ``p_canvas = c + s R(angle) Shear diag(aspect, 1) p``.

    Args:
        bank: template fields.
        idx: which template each image gets.
        cx, cy: centre in normalized canvas coordinates.
        scale: half-size of the template's ``[-1, 1]`` square on the canvas (1 = whole canvas).
        angle: rotation in radians (clockwise on screen, as ``y`` points down).
        aspect: horizontal stretch.
        shear: horizontal shear.
        res: canvas side.

    Shape:
        bank: ``(K, 1, T, T)``; idx, cx, cy, scale, angle, aspect, shear: ``(N,)``;
        returns the placed field ``(N, 1, res, res)``.
    """
    n = idx.shape[0]
    zero = torch.zeros(n)
    angle = zero if angle is None else angle
    aspect = torch.ones(n) if aspect is None else aspect
    shear = zero if shear is None else shear
    c, s = torch.cos(angle), torch.sin(angle)
    # forward linear map M = scale * R @ [[1, shear], [0, 1]] @ diag(aspect, 1)
    m00 = scale * c * aspect
    m01 = scale * (c * shear - s)
    m10 = scale * s * aspect
    m11 = scale * (s * shear + c)
    det = m00 * m11 - m01 * m10
    i00, i01, i10, i11 = m11 / det, -m01 / det, -m10 / det, m00 / det
    # canvas coords -> template coords, written out rather than through affine_grid (faster on CPU)
    y, x = coords(res)
    dx, dy = x - cx.view(-1, 1, 1), y - cy.view(-1, 1, 1)
    gx = i00.view(-1, 1, 1) * dx + i01.view(-1, 1, 1) * dy
    gy = i10.view(-1, 1, 1) * dx + i11.view(-1, 1, 1) * dy
    grid = torch.stack([gx, gy], dim=-1)  # (N, res, res, 2)
    # outside the template the distance keeps growing; -1 is far enough to be transparent
    src = bank[idx]
    src += 1.0
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1.0


def field_alpha(
    field: torch.Tensor, scale: torch.Tensor, *, offset: torch.Tensor | float = 0.0, res: int = CANVAS
) -> torch.Tensor:
    """Anti-aliased alpha of a placed signed-distance field.

    Args:
        field: placed field (:func:`place`), signed distance in template units.
        scale: the ``scale`` it was placed with (converts template units to pixels).
        offset: distance level taken as the edge; negative thickens, positive thins strokes.
        res: canvas side.

    Shape:
        field: ``(N, 1, H, W)``; scale, offset: ``(N,)`` (offset may be a float); returns ``(N, 1, H, W)``.
    """
    if isinstance(offset, torch.Tensor):
        offset = offset.view(-1, 1, 1, 1)
    px = scale.view(-1, 1, 1, 1) * (res / 2.0)  # pixels per template unit
    return ((field - offset) * px + 0.5).clamp_(0.0, 1.0)


def composite(canvas: torch.Tensor, alpha: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
    """Paint ``color`` over ``canvas`` through ``alpha`` (``color`` may be per image or per pixel).

    Shape:
        canvas: ``(N, 3, H, W)``; alpha: ``(N, 1, H, W)``; color: ``(N, 3)`` or ``(N, 3, H, W)``.
    """
    if color.dim() == 2:
        color = color[:, :, None, None]
    return torch.lerp(canvas, color.expand_as(canvas), alpha)


def finish(
    canvas: torch.Tensor,
    gen: torch.Generator,
    *,
    noise: tuple[float, float] = (0.0, 0.0),
    out: int = OUT,
) -> torch.Tensor:
    """Box-filter a canvas down to ``out`` pixels and add per-image Gaussian pixel noise.

    Shape:
        canvas: ``(N, 3, S, S)``; returns ``(N, 3, out, out)`` in ``[0, 1]``.
    """
    if canvas.shape[-1] != out:
        canvas = F.adaptive_avg_pool2d(canvas, out)
    if noise[1] > 0:
        sigma = uniform(gen, canvas.shape[0], *noise).view(-1, 1, 1, 1)
        canvas = canvas + sigma * torch.randn(canvas.shape, generator=gen)
    return canvas.clamp(0.0, 1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """``[0, 1]`` floats to uint8 (rounded)."""
    return (images * 255.0).round().clamp(0, 255).to(torch.uint8)

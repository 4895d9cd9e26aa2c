"""A tiny orthographic ray caster for toys made of axis-aligned boxes (smallNORB-like scenes).

A toy is a list of boxes ``(centre, half-size)`` in object space (``y`` up, front towards
``+x``); a scene turns the toy by an azimuth about ``y``, tilts the camera by an elevation,
and shades the visible face of each pixel with a Lambertian light. Rays are intersected with
every box by the slab method (Kay and Kajiya, SIGGRAPH 1986), all images and pixels at once.
"""

from __future__ import annotations

import torch

from promptkit.zoo.draw import CANVAS, coords

__all__ = ["TOYS", "render_toys"]

Box = tuple[tuple[float, float, float], tuple[float, float, float]]

TOYS: dict[str, tuple[Box, ...]] = {
    "car": (((0.0, 0.3, 0.0), (0.9, 0.22, 0.42)), ((-0.25, 0.68, 0.0), (0.42, 0.18, 0.38))),
    "truck": (
        ((0.72, 0.45, 0.0), (0.22, 0.36, 0.4)),
        ((-0.25, 0.6, 0.0), (0.62, 0.48, 0.45)),
        ((0.0, 0.12, 0.0), (0.95, 0.08, 0.38)),
    ),
    "plane": (
        ((0.0, 0.5, 0.0), (0.95, 0.12, 0.13)),
        ((0.15, 0.5, 0.0), (0.22, 0.03, 0.95)),
        ((-0.82, 0.78, 0.0), (0.12, 0.22, 0.03)),
        ((-0.82, 0.52, 0.0), (0.1, 0.03, 0.35)),
    ),
    "chair": (
        ((0.0, 0.45, 0.0), (0.45, 0.06, 0.45)),
        ((-0.41, 0.95, 0.0), (0.05, 0.45, 0.45)),
        ((0.38, 0.2, 0.38), (0.05, 0.2, 0.05)),
        ((0.38, 0.2, -0.38), (0.05, 0.2, 0.05)),
        ((-0.38, 0.2, 0.38), (0.05, 0.2, 0.05)),
        ((-0.38, 0.2, -0.38), (0.05, 0.2, 0.05)),
    ),
    "animal": (
        ((0.0, 0.55, 0.0), (0.6, 0.2, 0.22)),
        ((0.72, 0.8, 0.0), (0.2, 0.16, 0.15)),
        ((0.45, 0.18, 0.15), (0.06, 0.18, 0.06)),
        ((0.45, 0.18, -0.15), (0.06, 0.18, 0.06)),
        ((-0.45, 0.18, 0.15), (0.06, 0.18, 0.06)),
        ((-0.45, 0.18, -0.15), (0.06, 0.18, 0.06)),
        ((-0.72, 0.65, 0.0), (0.15, 0.04, 0.04)),
    ),
}
_MAX_BOXES = max(len(b) for b in TOYS.values())


def _box_table() -> tuple[torch.Tensor, torch.Tensor]:
    # (toys, boxes, 3) centres and half-sizes, padded with empty boxes (half-size 0 never hits)
    centre = torch.zeros(len(TOYS), _MAX_BOXES, 3)
    half = torch.zeros(len(TOYS), _MAX_BOXES, 3)
    for i, boxes in enumerate(TOYS.values()):
        for j, (c, h) in enumerate(boxes):
            centre[i, j] = torch.tensor(c)
            half[i, j] = torch.tensor(h)
    centre[..., 1] -= 0.55  # rotate about the toy's middle, not its feet
    return centre, half


def _rotation(azimuth: torch.Tensor, elevation: torch.Tensor) -> torch.Tensor:
    # R = Rx(elevation) @ Ry(azimuth): object space -> camera space, (N, 3, 3)
    ca, sa, ce, se = torch.cos(azimuth), torch.sin(azimuth), torch.cos(elevation), torch.sin(elevation)
    zero, one = torch.zeros_like(ca), torch.ones_like(ca)
    ry = torch.stack([ca, zero, sa, zero, one, zero, -sa, zero, ca], dim=1).view(-1, 3, 3)
    rx = torch.stack([one, zero, zero, zero, ce, -se, zero, se, ce], dim=1).view(-1, 3, 3)
    return rx @ ry


def render_toys(
    toy: torch.Tensor,
    *,
    azimuth: torch.Tensor,
    elevation: torch.Tensor,
    zoom: torch.Tensor,
    stretch: torch.Tensor,
    light: torch.Tensor,
    res: int = CANVAS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render one toy per image: Lambertian shading and coverage.

    Args:
        toy: index into :data:`TOYS`.
        azimuth: turn about the vertical axis, radians.
        elevation: camera tilt above the ground, radians (the camera looks down).
        zoom: screen half-size of one object unit.
        stretch: per-axis scale of the toy (proportions vary between instances).
        light: unit light direction in camera space (towards the light).
        res: canvas side.

    Shape:
        toy, azimuth, elevation, zoom: ``(N,)``; stretch, light: ``(N, 3)``;
        returns shading ``(N, 1, res, res)`` in [0, 1] and coverage ``(N, 1, res, res)`` in {0, 1}.
    """
    n = toy.shape[0]
    centre, half = _box_table()
    centre, half = centre[toy] * stretch[:, None], half[toy] * stretch[:, None]  # (N, B, 3)
    rot = _rotation(azimuth, elevation)  # (N, 3, 3)
    y, x = coords(res)
    # ray origins in camera space (screen y points down, camera y up), direction +z
    o_cam = torch.stack([x, -y, torch.full_like(x, -10.0)], dim=-1)[None] / zoom.view(-1, 1, 1, 1)  # (N, H, W, 3)
    o_cam[..., 2] = -10.0
    o = torch.einsum("nji,nhwj->nhwi", rot, o_cam)  # R^T o: object space
    d = rot[:, 2, :]  # R^T (0, 0, 1)
    d = torch.where(d.abs() < 1e-6, torch.full_like(d, 1e-6), d)
    inv = (1.0 / d).view(n, 1, 1, 1, 3)
    lo = (centre - half).view(n, -1, 1, 1, 3)
    hi = (centre + half).view(n, -1, 1, 1, 3)
    o = o[:, None]  # (N, 1, H, W, 3)
    t1, t2 = (lo - o) * inv, (hi - o) * inv
    tmin, tmax = torch.minimum(t1, t2), torch.maximum(t1, t2)
    tnear, axis = tmin.max(dim=-1)  # (N, B, H, W): entry distance and the slab it enters through
    tfar = tmax.min(dim=-1).values
    hit = (tnear < tfar) & (half.view(n, -1, 1, 1, 3).amin(dim=-1) > 0)
    tnear = torch.where(hit, tnear, torch.full_like(tnear, float("inf")))
    best, which = tnear.min(dim=1)  # nearest box per pixel
    covered = torch.isfinite(best)
    ax = axis.gather(1, which[:, None]).squeeze(1)  # (N, H, W)
    # the entered face's normal points against the ray along that axis
    normal = torch.nn.functional.one_hot(ax, 3).float() * -torch.sign(d).view(n, 1, 1, 3)
    normal_cam = torch.einsum("nij,nhwj->nhwi", rot, normal)
    diffuse = (normal_cam * light.view(n, 1, 1, 3)).sum(-1).clamp(min=0)
    shade = (0.3 + 0.7 * diffuse) * covered
    return shade[:, None], covered[:, None].float()

"""The pretext task the zoo backbone is pretrained on: letter scenes with five heads.

The zoo's lessons (docs/zoo.md#lessons) decide its shape: a backbone learns only what its
pretext asks for (docs/zoo.md#lesson-1), so the pretext asks for many factors at once, and a
downstream factor the pretext names outright saturates (docs/zoo.md#lesson-6), so no head's
label is a function any suite task uses (as ImageNet's labels are not VTAB's). A scene is a
background (flat, gradient, noise, an unlabelled texture, or an oriented grating) with 1 to 4
capital letters (a glyph set the suite never uses; its digits task draws digits) and up to 2
small unlabelled shapes.
The heads:

- ``letter``: which of 26 letters the largest glyph is (shape, strokes);
- ``hue``: the hue of the largest glyph, 8 bins (colour);
- ``tilt``: the largest glyph's tilt, 3 bins over +-30 degrees (orientation);
- ``relation``: where the second glyph lies relative to the largest (left/right x above/below;
  relative position; ignored with one glyph);
- ``grating``: orientation (8 bins over 180 degrees) x spatial frequency (2) of a grating
  background (frequency, orientation, texture; ignored for other backgrounds);
- ``patches``: for each 4x4 patch, whether a glyph or shape covers it (objectness at every
  position, so that patch tokens keep where things are; docs/zoo.md#lesson-7).

Scenes are drawn on the fly, deterministically from ``(seed, step)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from promptkit.zoo.draw import (
    CANVAS,
    SHAPES,
    composite,
    coords,
    field_alpha,
    finish,
    glyph_bank,
    hsv_to_rgb,
    place,
    rand_colors,
    randint,
    shape_bank,
    to_uint8,
    uniform,
)
from promptkit.zoo.font import LETTERS
from promptkit.zoo.scenes import background, contrasting, mix
from promptkit.zoo.suite import derive_seed

__all__ = ["IGNORE", "PATCH", "PRETEXT_HEADS", "PretextHead", "pretext_batch"]

IGNORE = -100  # label of a head that does not apply to an image (cross_entropy's ignore_index)
PATCH = 4  # the patch grid the ``patches`` head labels (the backbone's patch size)


@dataclass(frozen=True)
class PretextHead:
    """One output head of the pretext.

    Attributes:
        name: key of the head's targets.
        num_classes: classes (``patches``: one binary output per patch).
        kind: ``global`` (one label per image, read from the pooled token) or ``patch``.
        factor: the scene function its label is (checked disjoint from every suite task's).
        class_names: one name per class.
    """

    name: str
    num_classes: int
    kind: str
    factor: str
    class_names: tuple[str, ...]


_GRATING_BINS, _GRATING_FREQS = 8, 2
PRETEXT_HEADS: dict[str, PretextHead] = {
    h.name: h
    for h in (
        PretextHead("letter", len(LETTERS), "global", "largest-letter", LETTERS),
        PretextHead("hue", 8, "global", "largest-glyph-hue", tuple(f"hue{i}" for i in range(8))),
        PretextHead("tilt", 3, "global", "largest-glyph-tilt", ("left", "upright", "right")),
        PretextHead(
            "relation", 4, "global", "second-glyph-relative-position",
            ("left-above", "right-above", "left-below", "right-below"),
        ),
        PretextHead(
            "grating", _GRATING_BINS * _GRATING_FREQS, "global", "grating-orientation-frequency",
            tuple(f"ori{o}-freq{f}" for f in range(_GRATING_FREQS) for o in range(_GRATING_BINS)),
        ),
        PretextHead("patches", 1, "patch", "patch-objectness", ("covered",)),
    )
}  # fmt: skip


def _grating(gen: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    # an oriented sine or square grating in two colours; label = orientation bin x frequency bin
    y, x = coords(CANVAS)
    ori = randint(gen, n, 0, _GRATING_BINS)
    freq = randint(gen, n, 0, _GRATING_FREQS)
    theta = (ori.float() + uniform(gen, n, 0.15, 0.85)) * (math.pi / _GRATING_BINS)
    period = torch.where(freq == 0, uniform(gen, n, 9.0, 14.0), uniform(gen, n, 3.5, 5.5))  # output pixels
    th, per = theta.view(-1, 1, 1, 1), period.view(-1, 1, 1, 1)
    u = (x * torch.cos(th) + y * torch.sin(th)) * 16.0 / per + uniform(gen, n, 0, 1).view(-1, 1, 1, 1)
    wave = torch.sin(2 * math.pi * u)
    sharp = uniform(gen, n, 1.0, 8.0).view(-1, 1, 1, 1)
    t = torch.sigmoid(sharp * wave)
    c0 = rand_colors(gen, n)
    return mix(c0, contrasting(gen, c0, min_diff=0.15), t), ori + _GRATING_BINS * freq


def pretext_batch(n: int, *, seed: int, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Draw batch ``step`` of the pretext stream ``seed``.

    Returns:
        ``(images, targets)``: uint8 images ``(n, 3, 32, 32)``, and per head of
        :data:`PRETEXT_HEADS` int64 labels ``(n,)`` (:data:`IGNORE` where a head does not
        apply), or for ``patches`` float ``(n, 64)`` in {0, 1}.
    """
    gen = torch.Generator().manual_seed(derive_seed("pretext", seed, step))
    img = background(gen, n, kinds=("flat", "gradient", "noise", "texture"))
    grating_img, grating_label = _grating(gen, n)
    is_grating = torch.rand(n, generator=gen) < 0.35
    img = torch.where(is_grating.view(-1, 1, 1, 1), grating_img, img)
    grating = torch.where(is_grating, grating_label, IGNORE)
    cover = torch.zeros(n, 1, CANVAS, CANVAS)
    bg_mean = img.mean(dim=(2, 3))

    # up to two small unlabelled shapes (any shape of the bank), then the glyphs, largest last
    for _ in range(2):
        on = (torch.rand(n, generator=gen) < 0.4).float().view(-1, 1, 1, 1)
        s = uniform(gen, n, 0.1, 0.25)
        f = place(shape_bank(), randint(gen, n, 0, len(SHAPES)), cx=uniform(gen, n, -0.8, 0.8),
                  cy=uniform(gen, n, -0.8, 0.8), scale=s, angle=uniform(gen, n, 0, 2 * math.pi))  # fmt: skip
        a = field_alpha(f, s) * on
        img = composite(img, a, contrasting(gen, bg_mean, min_diff=0.15))
        cover = torch.maximum(cover, a)

    letters = glyph_bank("".join(LETTERS))
    count = randint(gen, n, 1, 5)  # glyphs in the scene, 1..4; glyph 0 is the largest
    cx, cy = uniform(gen, (n, 4), -0.6, 0.6), uniform(gen, (n, 4), -0.6, 0.6)
    scale = torch.cat([uniform(gen, (n, 1), 0.48, 0.68), uniform(gen, (n, 3), 0.15, 0.28)], dim=1)
    tilt_deg = uniform(gen, (n, 4), -30.0, 30.0)
    which = randint(gen, (n, 4), 0, len(LETTERS))
    hue_bin = randint(gen, n, 0, 8)
    big_color = hsv_to_rgb((hue_bin.float() + uniform(gen, n, 0.2, 0.8)) / 8, uniform(gen, n, 0.55, 1.0),
                           uniform(gen, n, 0.55, 1.0))  # fmt: skip
    thick = uniform(gen, (n, 4), -0.05, 0.03)
    for j in (3, 2, 1, 0):
        on = (j < count).float().view(-1, 1, 1, 1)
        f = place(letters, which[:, j], cx=cx[:, j], cy=cy[:, j], scale=scale[:, j],
                  angle=torch.deg2rad(tilt_deg[:, j]), aspect=uniform(gen, n, 0.85, 1.2))  # fmt: skip
        a = field_alpha(f, scale[:, j], offset=thick[:, j]) * on
        color = big_color if j == 0 else rand_colors(gen, n)
        img = composite(img, a, color)
        cover = torch.maximum(cover, a)
    images = to_uint8(finish(img, gen, noise=(0.0, 0.04)))

    tilt = torch.bucketize(tilt_deg[:, 0].contiguous(), torch.tensor([-10.0, 10.0]))
    right = (cx[:, 1] > cx[:, 0]).long()
    below = (cy[:, 1] > cy[:, 0]).long()
    relation = torch.where(count >= 2, right + 2 * below, IGNORE)
    patches = (F.avg_pool2d(cover, PATCH * CANVAS // 32) > 0.3).float().flatten(1)  # (n, 64)
    targets = {
        "letter": which[:, 0],
        "hue": hue_bin,
        "tilt": tilt,
        "relation": relation,
        "grating": grating,
        "patches": patches,
    }
    return images, targets

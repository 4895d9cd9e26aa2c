"""The tooling that builds the embedded zoo; it lives in the repository, not in the installed package.

Run from the repository root (``make zoo`` does ``python -m zoobuild.build``). It may import
:mod:`promptkit`; the installed package never imports it. The runtime half of the zoo (the task
suite, its drawing code, the ``zoo-vit`` backbone and its architecture) stays in
:mod:`promptkit.zoo`.

Modules:

- :mod:`zoobuild.build`: ``python -m zoobuild.build [--stages ...]``, the restartable rebuild of the zoo;
- :mod:`zoobuild.pretext`: the letter-scene pretext (``PRETEXT_HEADS``, ``pretext_batch``);
- :mod:`zoobuild.pretrain`: ``python -m zoobuild.pretrain --out DIR --minutes 55``;
- :mod:`zoobuild.calibrate`: ``python -m zoobuild.calibrate [--weights DIR]``;
- :mod:`zoobuild.card`: the zoo's card (``promptkit/zoo/assets/CARD.md``) from the measured JSON.
"""

from __future__ import annotations

__all__: list[str] = []

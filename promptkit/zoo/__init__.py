"""The embedded zoo: a procedural task suite, its pretext, and the script that pretrains the backbone.

Modules:

- :mod:`promptkit.zoo.suite`: the 12 tasks (``TASKS``, ``generate``), VTAB-like groups and splits;
- :mod:`promptkit.zoo.pretext`: the letter-scene pretext (``PRETEXT_HEADS``, ``pretext_batch``);
- :mod:`promptkit.zoo.pretrain`: ``python -m promptkit.zoo.pretrain --out DIR --minutes 55``;
- :mod:`promptkit.zoo.calibrate`: ``python -m promptkit.zoo.calibrate [--weights DIR]``;
- :mod:`promptkit.zoo.draw`, :mod:`~promptkit.zoo.scenes`, :mod:`~promptkit.zoo.textures`,
  :mod:`~promptkit.zoo.render3d`, :mod:`~promptkit.zoo.font`: vectorised drawing.

This package stays free of torch imports so that listing the suite's tasks is cheap.
"""

from __future__ import annotations

__all__: list[str] = []

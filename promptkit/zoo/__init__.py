"""The embedded zoo at run time: a procedural task suite and the backbone it ships.

Modules:

- :mod:`promptkit.zoo.suite`: the 12 tasks (``TASKS``, ``generate``), VTAB-like groups and splits;
- :mod:`promptkit.zoo.backbone`: the ``zoo-vit`` backbone (shipped weights or a random init);
- :mod:`promptkit.zoo.arch`: its architecture, input normalization and loading;
- :mod:`promptkit.zoo.draw`, :mod:`~promptkit.zoo.scenes`, :mod:`~promptkit.zoo.textures`,
  :mod:`~promptkit.zoo.render3d`, :mod:`~promptkit.zoo.font`: vectorised drawing.

The tooling that builds the zoo (pretext, pretraining, calibration, the card) is not part of
the installed package: it lives in the repository and runs with ``make zoo``.

This package stays free of torch imports so that listing the suite's tasks is cheap.
"""

from __future__ import annotations

__all__: list[str] = []

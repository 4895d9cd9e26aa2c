"""The embedded zoo: a procedural task suite, its pretext, and the script that pretrains the backbone.

Import the submodules directly (``promptkit.zoo.suite``, ``promptkit.zoo.pretext``,
``promptkit.zoo.pretrain``); this package stays free of torch imports so that listing the
suite's tasks is cheap.
"""

from __future__ import annotations

__all__: list[str] = []

"""Image generators of the suite's tasks, listed in :data:`promptkit.zoo.suite.GENERATORS` by promptkit/builtins.py."""

from __future__ import annotations

__all__: list[str] = []

"""Image generators of the suite's tasks, registered into :mod:`promptkit.zoo.suite` on import."""

from __future__ import annotations

__all__: list[str] = []

"""Where the registry lives: ``--registry PATH``, else ``PROMPTKIT_REGISTRY``, else ``$PROMPTKIT_HOME/registry``."""

from __future__ import annotations

import os
from pathlib import Path

from promptkit._io import promptkit_home

__all__ = ["builtin_root", "default_root", "promptkit_home", "resolve_root"]


def default_root() -> Path:
    """``$PROMPTKIT_REGISTRY`` if set, else ``$PROMPTKIT_HOME/registry``."""
    env = os.environ.get("PROMPTKIT_REGISTRY")
    return Path(env).expanduser() if env else promptkit_home() / "registry"


def resolve_root(root: str | os.PathLike[str] | None) -> Path:
    """An explicit root wins over the environment."""
    return Path(root).expanduser() if root is not None else default_root()


def builtin_root() -> Path | None:
    """The read-only built-in collection shipped inside the package (the embedded zoo's prompts).

    ``PROMPTKIT_NO_BUILTIN=1`` hides it (None): a registry then shows only its own prompts.
    """
    import promptkit

    if os.environ.get("PROMPTKIT_NO_BUILTIN", "").strip() not in ("", "0"):
        return None
    return Path(promptkit.__file__).resolve().parent / "zoo" / "assets" / "registry"

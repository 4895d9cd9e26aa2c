"""Where a timm pretrained name's weights come from without waiting on a network that is not there.

timm downloads pretrained weights through ``huggingface_hub``, which, with no network, retries
for about a minute before failing. :func:`pretrained_weights_file` answers first, in
milliseconds to seconds:

- the weights are in the local Hugging Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``,
  else ``~/.cache/huggingface/hub``, in the cache's own layout
  ``models--<org>--<name>/snapshots/<revision>/model.safetensors``): that file, loaded with no
  network call at all, whether or not ``HF_HUB_OFFLINE`` is set;
- not cached and ``HF_HUB_OFFLINE`` set, or not cached and the Hub's host does not answer a TCP
  connection within a few seconds: a :class:`~promptkit.errors.WeightsError` saying how to get
  the weights (``--weights FILE``, filling the cache elsewhere and copying it, ``HF_HUB_OFFLINE``);
- not cached and the Hub reachable: ``None``, and timm downloads as usual.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from promptkit.errors import WeightsError

__all__ = [
    "HUB_CONNECT_TIMEOUT",
    "WEIGHT_FILES",
    "how_to_get_weights",
    "hub_cache_dir",
    "hub_offline",
    "pretrained_weights_file",
]

HUB_CONNECT_TIMEOUT = 3.0  # seconds to wait for the Hub's host before calling the machine offline
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm fetches from a timm/ repository, in order
_TRUE = {"1", "on", "yes", "true"}


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, read from the environment on every call."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set to a true value."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _cached(repo_id: str, filename: str, revision: str | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(hub_cache_dir()), revision=revision)
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def _reachable(timeout: float) -> bool:
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    proxy = next((os.environ[v] for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
                  if url.scheme == "https" and os.environ.get(v)), None)
    if proxy:  # behind a proxy, the proxy is what has to answer
        url = urlparse(proxy if "://" in proxy else f"http://{proxy}")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:  # refused, unreachable, no DNS, timed out
        return False


def _hub_source(name: str) -> tuple[str, str | None, list[str]] | None:
    """``(repo_id, revision, weight file names)`` of timm's pretrained ``name`` on the Hub; None if not there."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        return None
    repo_id, _, revision = repo.partition("@")
    files = [cfg.hf_hub_filename] if getattr(cfg, "hf_hub_filename", None) else list(WEIGHT_FILES)
    return repo_id, revision or None, files


def how_to_get_weights(name: str, repo_id: str | None = None) -> str:
    """The hint for pretrained weights that cannot be had: ``--weights``, a copied cache, ``HF_HUB_OFFLINE``."""
    if repo_id is None:
        source = _hub_source(name)
        repo_id = source[0] if source else None
    cache = hub_cache_dir()
    folder = f"{cache}/models--{repo_id.replace('/', '--')}" if repo_id else str(cache)
    return (f"pass a local weights file with --weights FILE (load_backbone({name!r}, weights=FILE)); or, on a "
            f"machine with network, run python -c \"import timm; timm.create_model('{name}', pretrained=True)\" "
            f"and copy the cache folder it fills to {folder} here, then run with HF_HUB_OFFLINE=1")


def pretrained_weights_file(name: str, *, timeout: float = HUB_CONNECT_TIMEOUT) -> Path | None:
    """The cached weights file of timm's pretrained ``name``, or ``None`` when timm may download them.

    Args:
        name: a timm model name, optionally with its pretrained tag.
        timeout: seconds to wait for the Hub's host when the weights are not cached.

    Raises:
        WeightsError: not cached, and offline (``HF_HUB_OFFLINE``) or the Hub does not answer;
            the hint says how to get the weights.
    """
    source = _hub_source(name)
    repo_id = source[0] if source else None
    if source:
        for filename in source[2]:
            found = _cached(repo_id, filename, source[1])  # type: ignore[arg-type]
            if found is not None:
                return found
    if hub_offline():
        raise WeightsError(f"pretrained weights for {name!r} are not in the Hugging Face cache ({hub_cache_dir()}) "
                           "and HF_HUB_OFFLINE is set", model=name, hint=how_to_get_weights(name, repo_id))
    if not _reachable(timeout):
        endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
        raise WeightsError(f"pretrained weights for {name!r} are not in the Hugging Face cache ({hub_cache_dir()}) "
                           f"and {endpoint} cannot be reached (no network?)", model=name,
                           hint=how_to_get_weights(name, repo_id))
    return None

"""Talking to huggingface_hub quietly, and turning its failures into promptkit's one-line Hub errors.

:func:`translated` is the only place where huggingface_hub and HTTP-client exceptions become
:class:`~promptkit.errors.HubError` and its subclasses, with the next step as the hint; token
values never reach a message. :func:`quiet` silences the library's progress bars (the core does
not print; the CLI renders).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from promptkit.errors import HubAuthError, HubError, HubNotFoundError, HubOfflineError, PromptkitError

__all__ = ["hub_error", "quiet", "translated"]


@contextmanager
def quiet() -> Iterator[None]:
    """Silence huggingface_hub's progress bars for the block: the library does not print (the CLI renders).

    An explicit ``HF_HUB_DISABLE_PROGRESS_BARS`` wins, as huggingface_hub documents.
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if constants.HF_HUB_DISABLE_PROGRESS_BARS is not None or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection and timeout errors of the HTTP client huggingface_hub uses (httpx2 in 2.x, requests before).

    Each client is optional: only the installed ones are imported.
    """
    found: list[type[BaseException]] = []
    try:
        import httpx2

        found.append(httpx2.TransportError)
    except ImportError:
        pass
    try:
        import httpx

        found.append(httpx.TransportError)
    except ImportError:
        pass
    try:
        import requests

        found += [requests.ConnectionError, requests.Timeout]
    except ImportError:
        pass
    return tuple(found)


def _is_timeout(err: BaseException) -> bool:
    """A client-side timeout of any HTTP client huggingface_hub may use (their classes end in 'Timeout')."""
    return isinstance(err, TimeoutError) or any(c.__name__.endswith(("Timeout", "TimeoutException"))
                                                 for c in type(err).__mro__)


def _secrets(token: str | None) -> list[str]:
    """Every token value that could appear in a server's or library's message."""
    values = [token, os.environ.get("HF_TOKEN"), os.environ.get("HUGGING_FACE_HUB_TOKEN")]
    try:
        from huggingface_hub.utils import get_token

        values.append(get_token())
    except Exception:  # a broken token store must not mask the real error
        pass
    return [v for v in values if v and len(v) >= 4]


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return " ".join(text.split())  # one line


@contextmanager
def translated(
    action: str, *, repo_id: str, revision: str, endpoint: str, token: str | None, offline: bool = False
) -> Iterator[None]:
    """Turn huggingface_hub and transport errors into promptkit's one-line Hub errors (the only place)."""
    try:
        yield
    except PromptkitError:
        raise
    except Exception as err:
        mapped = hub_error(err, action=action, repo_id=repo_id, revision=revision, endpoint=endpoint,
                            token=token, offline=offline)
        if mapped is None:
            raise
        raise mapped from None  # the library's message may quote URLs and server text; ours is one line


def hub_error(
    err: BaseException, *, action: str, repo_id: str, revision: str, endpoint: str, token: str | None, offline: bool
) -> PromptkitError | None:
    """The promptkit error for a huggingface_hub or transport error, or None for anything else."""
    from huggingface_hub import errors as hf

    # Older huggingface_hub releases have no RemoteEntryNotFoundError (their EntryNotFoundError is remote).
    remote_entry_missing = getattr(hf, "RemoteEntryNotFoundError", hf.EntryNotFoundError)

    repo_url = f"{endpoint}/{repo_id}"
    login = "log in with `hf auth login` or set HF_TOKEN to a token that can access it"
    if isinstance(err, hf.LocalEntryNotFoundError) and isinstance(err.__cause__, hf.HfHubHTTPError):
        # snapshot_download wraps an HTTP error it could not recover from with the cache: report the cause.
        return hub_error(err.__cause__, action=action, repo_id=repo_id, revision=revision, endpoint=endpoint,
                          token=token, offline=offline)
    if isinstance(err, (hf.OfflineModeIsEnabled, hf.LocalEntryNotFoundError)):
        if offline or isinstance(err, hf.OfflineModeIsEnabled) or isinstance(err.__cause__, hf.OfflineModeIsEnabled):
            return HubOfflineError(
                f"cannot {action} {repo_id}@{revision}: HF_HUB_OFFLINE is set and it is not in the Hugging Face "
                "cache", repo_id=repo_id, hint="pull it once with network access, or unset HF_HUB_OFFLINE",
            )
        return HubError(
            f"cannot {action} {repo_id}@{revision}: the Hub at {endpoint} could not be reached and it is not in "
            "the Hugging Face cache", repo_id=repo_id,
            hint="check your network connection and HF_ENDPOINT, then retry",
        )
    if isinstance(err, hf.GatedRepoError):
        return HubAuthError(
            f"cannot {action} {repo_id}: the repo is gated and this account has not been granted access",
            repo_id=repo_id, hint=f"request access at {repo_url}, then {login}",
        )
    if isinstance(err, hf.RevisionNotFoundError):
        return HubNotFoundError(
            f"revision {revision!r} not found in {repo_id}", repo_id=repo_id,
            hint=f"check the branch, tag or commit (tags are v<version>) at {repo_url}, or omit @REVISION for main",
        )
    if isinstance(err, remote_entry_missing):
        return HubNotFoundError(
            f"{repo_id}@{revision} lacks a file promptkit needs: it is not a promptkit prompt repo", repo_id=repo_id,
            hint="check the repo id; promptkit repos are made by `promptkit push`",
        )
    if isinstance(err, hf.HfHubHTTPError):
        status = err.response.status_code if getattr(err, "response", None) is not None else 0
        if status == 401:
            return HubAuthError(
                f"the Hub refused the credentials to {action} {repo_id} (401: no token, an invalid token, or a "
                "private repo)", repo_id=repo_id, hint=login,
            )
        if status == 403:
            return HubAuthError(
                f"the token may not {action} {repo_id} (403: no write access to this namespace or repo)",
                repo_id=repo_id, hint="use a token with write access to the namespace (hf auth login)",
            )
        if isinstance(err, hf.RepositoryNotFoundError) or status == 404:
            return HubNotFoundError(
                f"repository {repo_id} not found on {endpoint}", repo_id=repo_id,
                hint=f"check the repo id; if it is private, {login}",
            )
        detail = _scrub(err.server_message or "", _secrets(token))[:200]
        return HubError(
            f"the Hub answered {status} to {action} {repo_id}" + (f": {detail}" if detail else ""), repo_id=repo_id,
            hint="retry later; if it persists, check https://status.huggingface.co",
        )
    if _is_timeout(err):
        from .hub_fetch import HUB_TIMEOUT_ENV, hub_timeout

        limit = hub_timeout()
        return HubError(
            f"cannot {action} {repo_id}: the Hub at {endpoint} did not answer within {limit:g} s", repo_id=repo_id,
            hint=f"retry later, or wait longer: {HUB_TIMEOUT_ENV}=SECONDS (now {limit:g})",
        )
    if isinstance(err, _transport_errors()):
        return HubError(
            f"cannot {action} {repo_id}: the Hub at {endpoint} could not be reached ({type(err).__name__})",
            repo_id=repo_id, hint="check your network connection and HF_ENDPOINT, then retry",
        )
    return None

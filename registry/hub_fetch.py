"""Fetch a promptkit repo's two files from the Hub without trusting anything the server says.

A hostile or broken server (or a proxy answering for it) decides nothing on this side: every
value it sends is checked before it is used, and it never picks a file name.

1. The revision is resolved once to a commit (``GET /api/models/{repo}/revision/{rev}``); the
   answer must be 40 lower-case hex digits and is used for every later call.
2. The file listing at that commit (``GET /api/models/{repo}/tree/{sha}``) gives each file's size
   and object id; both are checked (sizes against the limits, ids as hex digests) before
   anything is downloaded, so an oversized file is refused without transferring it.
3. Each file is streamed from ``/{repo}/resolve/{sha}/{file}`` into a temporary file in the
   Hugging Face cache, stopped as soon as it exceeds its listed size, and kept only when its
   size and digest match the listing; an interrupted or refused download leaves nothing behind.
4. The cache entry is written under names made here: ``blobs/<checked digest>``,
   ``snapshots/<checked sha>/<our file name>`` and ``refs/<the user's revision>``.

API answers are read up to 1 MiB, must be JSON of the expected shape, and every request has a
client timeout (``PROMPTKIT_HUB_TIMEOUT`` seconds, 30 by default). Offline, only the cache is read,
with the same checks on the names it holds. HTTP goes through huggingface_hub's session, headers
and error types, so :func:`.hub_errors.translated` maps failures to promptkit's errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from promptkit._version import __version__
from promptkit.errors import HubError, HubNotFoundError, HubOfflineError, InvalidAssetError, UsageError

from .limits import MAX_PROMPT_BYTES_ENV, max_prompt_file_bytes

__all__ = ["DEFAULT_HUB_TIMEOUT", "HUB_TIMEOUT_ENV", "MAX_MANIFEST_BYTES", "RemoteFile", "client_timeout", "fetch",
           "hub_timeout"]

HUB_TIMEOUT_ENV = "PROMPTKIT_HUB_TIMEOUT"
DEFAULT_HUB_TIMEOUT = 30.0
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is a few KB
MAX_API_BYTES = 1 << 20  # a revision or tree answer for a four-file repo is well under this
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_OID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")  # git blob sha1, or an LFS sha256
_CHUNK = 1 << 16


def hub_timeout() -> float:
    """Seconds a Hub request may wait for the server: ``$PROMPTKIT_HUB_TIMEOUT`` or 30."""
    raw = os.environ.get(HUB_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_HUB_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise UsageError(
            f"{HUB_TIMEOUT_ENV}={raw!r} is not a positive number of seconds",
            hint=f"unset it for the default of {DEFAULT_HUB_TIMEOUT:g} s, or set e.g. {HUB_TIMEOUT_ENV}=120",
        )
    return value


@contextmanager
def client_timeout(seconds: float) -> Iterator[None]:
    """huggingface_hub's shared HTTP client waits at most ``seconds`` per request in the block (push's calls).

    The library's client has no timeout of its own; the previous setting is restored afterwards.
    """
    from huggingface_hub.utils import get_session

    session = get_session()
    previous = session.timeout
    session.timeout = seconds
    try:
        yield
    finally:
        session.timeout = previous


@dataclass(frozen=True)
class RemoteFile:
    """One file of the listing at a commit, as checked: its size and content digest."""

    path: str
    size: int
    oid: str  # the LFS sha256 when the file is in LFS, else the git blob sha1

    def matches(self, data: bytes) -> bool:
        if len(data) != self.size:
            return False
        if len(self.oid) == 64:
            return hashlib.sha256(data).hexdigest() == self.oid
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == self.oid


@dataclass
class _Client:
    """What every request of one fetch shares: where, who, how long to wait."""

    endpoint: str
    repo_id: str
    token: str | None
    timeout: float

    def headers(self) -> dict[str, str]:
        from huggingface_hub.utils import build_hf_headers

        return build_hf_headers(token=self.token, library_name="promptkit", library_version=__version__)

    def stream(self, url: str) -> Any:
        from huggingface_hub.utils import get_session

        return get_session().stream("GET", url, headers=self.headers(), timeout=self.timeout, follow_redirects=True)

    def get_json(self, url: str, what: str) -> Any:
        """The JSON answer to ``GET url``, read up to :data:`MAX_API_BYTES`; anything else is a one-line error."""
        with self.stream(url) as response:
            _raise_for_status(response)
            body = _read_capped(response, MAX_API_BYTES, what=f"its answer to {what}", where=self.where())
            kind = response.headers.get("Content-Type", "unknown type")
        try:
            return json.loads(body)
        except ValueError:
            start = " ".join(body[:40].decode("utf-8", "replace").split())
            raise HubError(
                f"the Hub at {self.endpoint} answered {what} for {self.repo_id} with {kind}, not JSON "
                f"(it starts {start!r})", repo_id=self.repo_id,
                hint="check HF_ENDPOINT: a proxy, captive portal or another server may be answering",
            ) from None

    def where(self) -> str:
        return f"{self.endpoint}/{self.repo_id}"


def _raise_for_status(response: Any) -> None:
    from huggingface_hub.utils import hf_raise_for_status

    if response.status_code >= 400:
        response.read()  # an error body is small; huggingface_hub reads its message from it
        hf_raise_for_status(response)


def _read_capped(response: Any, limit: int, *, what: str, where: str) -> bytes:
    chunks, total = [], 0
    for chunk in response.iter_bytes(_CHUNK):
        total += len(chunk)
        if total > limit:
            raise HubError(f"the Hub at {where} sent more than {limit} bytes as {what}; refused",
                           hint="check HF_ENDPOINT points at a Hugging Face Hub")
        chunks.append(chunk)
    return b"".join(chunks)


def resolve_commit(client: _Client, revision: str) -> str:
    """The commit a revision names, checked to be 40 lower-case hex digits."""
    url = f"{client.endpoint}/api/models/{client.repo_id}/revision/{quote(revision, safe='')}"
    info = client.get_json(url, "the revision lookup")
    sha = info.get("sha") if isinstance(info, dict) else None
    if not isinstance(sha, str) or not _COMMIT.match(sha):
        shown = repr(sha)[:60] if isinstance(sha, str) else type(sha).__name__
        raise InvalidAssetError(
            f"the Hub answered revision {revision!r} with commit {shown}, which is not 40 hexadecimal digits; refused",
            source=client.where(), hint="check HF_ENDPOINT points at a Hugging Face Hub",
        )
    return sha


def list_files(client: _Client, sha: str, wanted: dict[str, int]) -> dict[str, RemoteFile]:
    """The ``wanted`` files (name -> most bytes allowed) of the listing at ``sha``, checked, before any download."""
    listing = client.get_json(f"{client.endpoint}/api/models/{client.repo_id}/tree/{sha}", "the file listing")
    where = f"{client.repo_id}@{sha[:12]}"
    if not isinstance(listing, list) or not all(isinstance(e, dict) for e in listing):
        raise InvalidAssetError("the Hub's file listing is not a list of entries; refused", source=where)
    found: dict[str, RemoteFile] = {}
    for entry in listing:
        path = entry.get("path")
        if path not in wanted or entry.get("type", "file") != "file":
            continue  # other files (README.md, ...) are never downloaded, whatever they are called
        lfs = entry.get("lfs")
        size = entry.get("size")
        oid = lfs.get("oid") if isinstance(lfs, dict) else entry.get("oid")
        if type(size) is not int or size < 0 or not isinstance(oid, str) or not _OID.match(oid) or path in found:
            raise InvalidAssetError(f"the Hub's file listing has a malformed entry for {path}; refused", source=where,
                                    hint="the server is not a Hugging Face Hub or the repo is damaged")
        if size > wanted[path]:
            raise InvalidAssetError(
                f"{path} is {size} bytes, over the limit of {wanted[path]}; refused before downloading",
                source=where, hint=_limit_hint(path),
            )
        found[path] = RemoteFile(path=path, size=size, oid=oid)
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise HubNotFoundError(
            f"{where} has no {missing[0]}: it is not a promptkit prompt repo", repo_id=client.repo_id,
            hint="check the repo id; promptkit repos are made by `promptkit push`",
        )
    return found


def _limit_hint(path: str) -> str:
    if path.endswith(".safetensors"):
        return f"if the prompt is genuine, raise the limit: {MAX_PROMPT_BYTES_ENV}=BYTES"
    return "a promptkit manifest is a few kilobytes; the repo is not a promptkit prompt repo"


def download(client: _Client, sha: str, remote: RemoteFile, blobs: Path) -> Path:
    """Stream one file into ``blobs/<oid>``; on any failure nothing is left there. Returns the blob."""
    blob = blobs / remote.oid
    if blob.is_file() and not blob.is_symlink() and remote.matches(blob.read_bytes()):
        return blob  # already cached, and still what the listing says
    blobs.mkdir(parents=True, exist_ok=True)
    partial = blobs / f".{remote.oid}.{uuid.uuid4().hex}.incomplete"
    where = f"{client.repo_id}@{sha[:12]}/{remote.path}"
    url = f"{client.endpoint}/{client.repo_id}/resolve/{sha}/{quote(remote.path)}"
    try:
        with client.stream(url) as response, open(partial, "wb") as fh:
            _raise_for_status(response)
            commit = response.headers.get("X-Repo-Commit")
            if commit is not None and commit != sha:
                raise InvalidAssetError(f"the Hub served commit {commit[:60]!r} when asked for {sha}; refused",
                                        source=where)
            written = 0
            for chunk in response.iter_bytes(_CHUNK):
                written += len(chunk)
                if written > remote.size:
                    raise InvalidAssetError(f"the Hub sent more than the {remote.size} bytes it listed; refused",
                                            source=where)
                fh.write(chunk)
        data = partial.read_bytes()
        if not remote.matches(data):
            raise InvalidAssetError(
                f"the downloaded file ({len(data)} bytes) does not match the listing's size and digest; refused",
                source=where, hint="retry; if it persists the repo or the server is damaged",
            )
        os.replace(partial, blob)
    finally:
        partial.unlink(missing_ok=True)
    return blob


def _link(blob: Path, pointer: Path) -> None:
    """``snapshots/<sha>/<file>`` pointing at its blob (a relative symlink, else a copy), as huggingface_hub does."""
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.with_name(f".{pointer.name}.{uuid.uuid4().hex}.tmp")
    try:
        os.symlink(os.path.relpath(blob, pointer.parent), tmp)
    except OSError:
        tmp.write_bytes(blob.read_bytes())
    os.replace(tmp, pointer)


def _write_ref(storage: Path, revision: str, sha: str) -> None:
    """Remember which commit a branch or tag named (for offline pulls); a revision that is a commit needs none."""
    if revision == sha:
        return
    refs = storage / "refs"
    ref = refs / revision
    if refs.resolve() not in ref.resolve().parents:
        return  # a revision that would leave refs/ (checked when parsed; never written outside)
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp = ref.with_name(f".{ref.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(sha)
    os.replace(tmp, ref)


def _storage(cache: Path, repo_id: str) -> Path:
    return cache / ("models--" + repo_id.replace("/", "--"))


def read_cached(cache: Path, repo_id: str, revision: str, wanted: dict[str, int]) -> tuple[str, dict[str, bytes]]:
    """The commit and files of ``revision`` from the Hugging Face cache alone (``HF_HUB_OFFLINE``)."""
    storage = _storage(cache, repo_id)
    sha = revision
    if not _COMMIT.match(revision):
        try:
            sha = (storage / "refs" / revision).read_text().strip() if ".." not in revision else ""
        except OSError:
            sha = ""
    files: dict[str, bytes] = {}
    for name, limit in wanted.items():
        path = storage / "snapshots" / sha / name
        if not _COMMIT.match(sha) or not path.is_file():
            raise HubOfflineError(
                f"cannot pull {repo_id}@{revision}: HF_HUB_OFFLINE is set and it is not in the Hugging Face cache",
                repo_id=repo_id, hint="pull it once with network access, or unset HF_HUB_OFFLINE",
            )
        if path.stat().st_size > limit:
            raise InvalidAssetError(f"{name} is over the limit of {limit} bytes; refused",
                                    source=f"{repo_id}@{sha[:12]} (cached)", hint=_limit_hint(name))
        files[name] = path.read_bytes()
    return sha, files


def fetch(
    repo_id: str, revision: str, *, names: tuple[str, ...], endpoint: str, token: str | None, cache: Path,
    offline: bool,
) -> tuple[str, dict[str, bytes]]:
    """The commit ``revision`` resolves to and the bytes of ``names`` there, cached; see the module's steps."""
    wanted = {name: (max_prompt_file_bytes() if name.endswith(".safetensors") else MAX_MANIFEST_BYTES)
              for name in names}
    timeout = hub_timeout()
    if offline:
        return read_cached(cache, repo_id, revision, wanted)
    client = _Client(endpoint=endpoint, repo_id=repo_id, token=token, timeout=timeout)
    sha = resolve_commit(client, revision)
    remote = list_files(client, sha, wanted)  # every size is checked here, before any download
    storage = _storage(cache, repo_id)
    files: dict[str, bytes] = {}
    for name in names:
        blob = download(client, sha, remote[name], storage / "blobs")
        files[name] = blob.read_bytes()
        if not remote[name].matches(files[name]):  # the blob changed between the check and the read
            raise InvalidAssetError(f"{name} changed in the cache while it was read; refused",
                                    source=f"{repo_id}@{sha[:12]}", hint="retry")
        _link(blob, storage / "snapshots" / sha / name)
    _write_ref(storage, revision, sha)
    return sha, files

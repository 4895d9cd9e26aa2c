"""Push prompt versions to the Hugging Face Hub and pull them back, validated, into the registry.

A version is one prompt or an ensemble of prompts; both travel the same way, in the same files.

A pushed repo holds, in one commit: ``prompt.safetensors`` (the stored file, byte for byte, with
its embedded manifest), ``manifest.json`` (the version's record) and ``README.md`` (the model
card, :mod:`promptkit.registry.card`); the commit is tagged ``v<version>``. ``pull`` downloads a
revision into the Hugging Face cache trusting nothing the server says (:mod:`.hub_fetch`: one
checked commit, sizes checked before downloading, digests after, a client timeout), checks
everything before the registry is touched (file
structure without unpickling, schema, tensor values, content digest, agreement of
``manifest.json`` with the file) and imports the file as a new local version that records where
it came from, under ``--name`` or the repo id (never a name the repo chooses); the same content
pulled twice is stored once.

Everything goes through ``huggingface_hub``: tokens come from ``token=``, else ``HF_TOKEN``,
else the stored login (``hf auth login``), and are never put in messages. ``HF_ENDPOINT``,
``HF_HUB_OFFLINE``, ``HF_HOME`` and ``HF_HUB_CACHE`` are read when a function is called (the
library reads them once, at import). Hub failures become one-line promptkit errors with the
next step, in one place (:func:`promptkit.registry.hub_errors.translated`).

>>> from promptkit.registry import Registry
>>> from promptkit.registry.hub import pull, push
>>> push(Registry(), "dtd-hg", repo_id="me/dtd-hg")          # doctest: +SKIP
>>> pull(Registry(), "me/dtd-hg@v1").manifest.ref             # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptkit._version import __version__
from promptkit.errors import HubNotFoundError, HubOfflineError, InvalidAssetError, PromptkitError, UsageError

from .card import render_card
from .files import read_prompt_file
from .hub_errors import quiet, translated
from .hub_fetch import MAX_MANIFEST_BYTES, client_timeout, fetch, hub_timeout
from .layout import CARD_FILE, MANIFEST_FILE, PROMPT_FILE
from .limits import max_prompt_file_bytes
from .manifest import ENSEMBLE, Manifest, Origin, parse_manifest
from .refs import validate_name

if TYPE_CHECKING:
    from .store import Registry

__all__ = [
    "DEFAULT_ENDPOINT",
    "PullResult",
    "PushResult",
    "hub_cache_dir",
    "hub_endpoint",
    "hub_offline",
    "parse_repo_spec",
    "pull",
    "push",
    "validate_download",
    "validate_files",
]

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "ON", "YES", "TRUE"}
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_REVISION = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)[^\s\x00-\x1f\x7f~^:?*\[\\]+(?<!/)$")  # git's ref rules, roughly
# Fields that may differ between manifest.json (the pushed record) and the manifest embedded in
# the file: the registry assigns name and version, tags are mutable, origin is local history.
_RECORD_ONLY = frozenset({"name", "version", "tags", "origin"})


@dataclass(frozen=True)
class PushResult:
    """What a push did: the version pushed and where it landed."""

    manifest: Manifest
    repo_id: str
    endpoint: str
    revision: str  # branch committed to ("main" unless --revision)
    commit_sha: str
    commit_url: str
    pr_url: str | None  # with create_pr: the pull request opened instead of a branch commit
    tag: str | None  # "v<version>"; None for a pull request
    files: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"{self.endpoint}/{self.repo_id}"


@dataclass(frozen=True)
class PullResult:
    """What a pull did: the local version holding the downloaded prompt."""

    manifest: Manifest  # the local version (new, or the existing one with the same content)
    repo_id: str
    endpoint: str
    revision: str
    commit_sha: str
    created: bool  # False when the same content was already stored under that name
    path: Path  # the stored .safetensors


def hub_endpoint(endpoint: str | None = None) -> str:
    """``endpoint``, else ``$HF_ENDPOINT``, else ``https://huggingface.co`` (no trailing slash)."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set now, or was when huggingface_hub loaded."""
    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    if env.upper() in _TRUE:
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) and "HF_HUB_OFFLINE" not in os.environ


def hub_cache_dir() -> Path:
    """The Hugging Face cache as the environment says now: ``HF_HUB_CACHE``, else ``$HF_HOME/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("HF_HOME") or xdg / "huggingface").expanduser() / "hub"


def parse_repo_spec(spec: str) -> tuple[str, str | None]:
    """Split ``ns/name[@revision]`` into the repo id and the revision (None: the default branch)."""
    repo_id, sep, revision = (spec or "").strip().partition("@")
    _check_repo_id(repo_id)
    if sep and not _REVISION.match(revision):
        raise UsageError(
            f"invalid revision {revision!r} in {spec!r}",
            hint="give a branch, tag or commit after '@', e.g. me/dtd-hg@v3 or me/dtd-hg@main",
        )
    return repo_id, (revision if sep else None)


def _check_repo_id(repo_id: str) -> str:
    if not _REPO_ID.match(repo_id or "") or len(repo_id) > 96 or ".." in repo_id or "--" in repo_id or (
        repo_id.endswith(".git")
    ):
        raise UsageError(
            f"invalid Hub repo id {repo_id!r}",
            hint="write it as namespace/name with letters, digits, '.', '_' and '-', e.g. me/dtd-hg",
        )
    return repo_id


# -- push ---------------------------------------------------------------------------------


def push(
    registry: Registry,
    ref: str,
    *,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    message: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
) -> PushResult:
    """Publish one version to a Hub model repo in a single commit, tagged ``v<version>``.

    The version is loaded (and so verified against its recorded digests) first; the files are
    written to a temporary folder and uploaded with ``HfApi.upload_folder``.

    Args:
        registry: where the version lives.
        ref: any reference (``name``, ``name:3``, ``name@alias``, ``name@sha256:..``).
        repo_id: ``namespace/name`` on the Hub; created if missing (``private`` applies then).
        revision: branch to commit to, created from ``main`` if missing.
        create_pr: open a pull request against ``main`` instead of committing (not tagged).
        message: commit message [default: ``promptkit push <ref>``].
        token: a Hub token; None lets huggingface_hub use ``HF_TOKEN`` or the stored login.
        endpoint: the Hub URL; None reads ``HF_ENDPOINT`` now.

    Raises:
        HubAuthError: no or a refused token, or no write access (401/403).
        HubOfflineError: ``HF_HUB_OFFLINE`` is set.
        HubError: the Hub could not be reached or answered with an error.
    """
    _check_repo_id(repo_id)
    if revision is not None and not _REVISION.match(revision):
        raise UsageError(f"invalid revision {revision!r}", hint="give a branch name, e.g. --revision dev")
    if create_pr and revision not in (None, "main"):
        raise UsageError(
            "a pull request always targets main", hint="drop --revision, or drop --create-pr to commit to the branch"
        )
    endpoint = hub_endpoint(endpoint)
    if hub_offline():
        raise HubOfflineError(
            f"cannot push to {repo_id}: HF_HUB_OFFLINE is set", repo_id=repo_id,
            hint="unset HF_HUB_OFFLINE (or set it to 0) to reach the Hub",
        )
    asset = registry.load(ref)  # verifies the stored file against its record
    manifest = asset.manifest
    data = asset.path.read_bytes()
    read_prompt_file(asset.path, data=data)  # the bytes we upload are the bytes we checked
    what = ("the ensemble's tensors (members, alpha, member.mean, member.std, head)" if manifest.kind == ENSEMBLE
            else "the prompt tensors")
    files = {
        PROMPT_FILE: f"{what}, with the manifest embedded in the safetensors metadata",
        MANIFEST_FILE: "the version's manifest (backbone identity, geometry, training, metrics, lineage)",
        CARD_FILE: "this card",
    }
    card = render_card(manifest, repo_id=repo_id, source_repos=_source_repos(registry, manifest), files=files)
    branch = revision or "main"
    contents = {PROMPT_FILE: data, MANIFEST_FILE: (manifest.model_dump_json(indent=2) + "\n").encode(),
                CARD_FILE: card.encode()}
    with quiet(), client_timeout(hub_timeout()), translated("push to", repo_id=repo_id, revision=branch,
                                                            endpoint=endpoint, token=token):
        commit, tag = _upload(
            manifest, contents, repo_id=repo_id, private=private, branch=branch, create_pr=create_pr,
            message=message or f"promptkit push {manifest.ref} (sha256:{manifest.sha256[:12]})",
            token=token, endpoint=endpoint,
        )
    return PushResult(
        manifest=manifest, repo_id=repo_id, endpoint=endpoint, revision=branch, commit_sha=commit.oid,
        commit_url=commit.commit_url, pr_url=commit.pr_url, tag=tag, files=tuple(files),
    )


def _upload(
    manifest: Manifest, contents: dict[str, bytes], *, repo_id: str, private: bool, branch: str, create_pr: bool,
    message: str, token: str | None, endpoint: str,
) -> tuple[Any, str | None]:
    """Create the repo (and branch) if missing, commit ``contents`` in one commit, tag it ``v<version>``.

    Returns huggingface_hub's ``CommitInfo`` and the tag (None for a pull request).
    """
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token, library_name="promptkit", library_version=__version__)
    with tempfile.TemporaryDirectory(prefix="promptkit-push-") as tmp:
        folder = Path(tmp)
        for fname, content in contents.items():
            (folder / fname).write_bytes(content)
        # private=None keeps the namespace's default visibility for new repos.
        api.create_repo(repo_id, repo_type="model", private=True if private else None, exist_ok=True)
        if branch != "main" and not branch.startswith("refs/pr/"):
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id, folder_path=folder, repo_type="model", revision=None if create_pr else branch,
            create_pr=create_pr, commit_message=message,
            commit_description=f"{manifest.ref}: {manifest.backbone.timm_name}, {_shape(manifest)}",
        )
    if create_pr:
        return info, None
    tag = f"v{manifest.version}"
    # An existing tag is left where it is (e.g. a re-push of the same version); tags are never moved.
    api.create_tag(repo_id, tag=tag, revision=info.oid, exist_ok=True,
                   tag_message=f"{manifest.ref} sha256:{manifest.sha256}")
    return info, tag


def _shape(manifest: Manifest) -> str:
    g = manifest.geometry.short()
    return f"ensemble of {manifest.num_members} x {g}" if manifest.kind == ENSEMBLE else g


def _source_repos(registry: Registry, manifest: Manifest) -> dict[str, str]:
    """Hub repos of lineage sources and ensemble members' sources: recorded in the lineage, or the
    origin of a pulled local source."""
    out: dict[str, str] = {}
    sources: list[tuple[str, str, str | None]] = [(s.ref, s.sha256, s.hub_repo) for s in
                                                  (manifest.lineage.sources if manifest.lineage else [])]
    sources += [(e.ref, e.sha256, None) for e in (manifest.ensemble.members if manifest.ensemble else [])]
    for ref, sha256, hub_repo in sources:
        if ref in out:
            continue
        if hub_repo:
            out[ref] = hub_repo
            continue
        try:
            local = registry.resolve(ref)
        except PromptkitError:
            continue  # the card then says "local only"
        if local.sha256 == sha256 and local.origin is not None:
            out[ref] = local.origin.repo_id
    return out


# -- pull ---------------------------------------------------------------------------------


def pull(
    registry: Registry,
    spec: str,
    *,
    name: str | None = None,
    take_over: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> PullResult:
    """Download ``ns/name[@revision]``, validate it, and import it as a local version.

    Nothing the server sends is trusted (:mod:`.hub_fetch`): the revision is resolved once to a
    checked commit, sizes are checked from the file listing before downloading, and the local
    name comes from this side only. Nothing is written to the registry unless every check passes
    (:func:`validate_download`). With ``HF_HUB_OFFLINE`` set, only the Hugging Face cache is read.

    Args:
        registry: where to import.
        spec: ``namespace/name`` with an optional ``@branch``, ``@tag`` (``@v3``) or ``@commit``.
        name: local name [default: the repo id, ``namespace/name``]; never taken from the repo.
        take_over: add to a local name whose versions did not all come from this repo.
        token: a Hub token; None lets huggingface_hub use ``HF_TOKEN`` or the stored login.
        endpoint: the Hub URL; None reads ``HF_ENDPOINT`` now.
        cache_dir: the Hugging Face cache; None reads ``HF_HUB_CACHE``/``HF_HOME`` now.

    Raises:
        HubNotFoundError: no such repo, revision, or no prompt in it.
        HubAuthError: the repo is private or gated and the token does not give access.
        HubOfflineError: offline and not in the cache.
        HubError: the Hub could not be reached, timed out (``PROMPTKIT_HUB_TIMEOUT``) or did not answer as a Hub.
        InvalidAssetError: the server's answers or the downloaded content fail validation (nothing is imported).
        UsageError: the local name holds versions of other lineage and ``take_over`` is not set.
    """
    repo_id, revision = parse_repo_spec(spec)
    target = validate_name(name) if name is not None else _local_name(repo_id)
    endpoint = hub_endpoint(endpoint)
    offline = hub_offline()
    cache = Path(cache_dir).expanduser() if cache_dir is not None else hub_cache_dir()
    with quiet(), translated("pull", repo_id=repo_id, revision=revision or "main", endpoint=endpoint, token=token,
                               offline=offline):
        commit_sha, files = fetch(repo_id, revision or "main", names=(PROMPT_FILE, MANIFEST_FILE), endpoint=endpoint,
                                  token=token, cache=cache, offline=offline)
    data, record = validate_files(files, repo_id=repo_id, commit_sha=commit_sha)
    origin = Origin(repo_id=repo_id, commit_sha=commit_sha, revision=revision or "main", endpoint=endpoint,
                    pulled_at=datetime.now(timezone.utc))
    guard = None if take_over else _same_lineage(target, repo_id)
    with tempfile.TemporaryDirectory(prefix="promptkit-pull-") as tmp:
        # Import the very bytes that were validated, not the cache file (which could change meanwhile).
        staged = Path(tmp) / PROMPT_FILE
        staged.write_bytes(data)
        manifest = registry.import_file(staged, name=target, origin=origin, tags=record.tags, dedupe=True, guard=guard)
    return PullResult(
        manifest=manifest, repo_id=repo_id, endpoint=endpoint, revision=revision or "main", commit_sha=commit_sha,
        created=manifest.origin == origin, path=registry.path_of(manifest.ref),
    )


def _local_name(repo_id: str) -> str:
    """The local name a repo is pulled under by default: its id, ``namespace/name``."""
    try:
        return validate_name(repo_id)
    except UsageError:
        raise UsageError(f"repo id {repo_id!r} is not a valid local name",
                         hint="give the local name with --name NAME") from None


def _same_lineage(target: str, repo_id: str) -> Callable[[list[Manifest]], None]:
    """A guard, run under the writer lock: refuse a name whose versions did not all come from ``repo_id``."""

    def guard(stored: list[Manifest]) -> None:
        other = next((m for m in stored if m.origin is None or m.origin.repo_id != repo_id), None)
        if other is not None:
            came = f"came from {other.origin.repo_id}" if other.origin else "was made locally"
            raise UsageError(
                f"{target} already holds versions of another lineage ({other.ref} {came}); not adding {repo_id} to it",
                hint=f"pull it under another name with --name NAME, or add it to {target} with --take-over",
            )

    return guard


def validate_download(folder: Path, *, repo_id: str, commit_sha: str) -> tuple[bytes, Manifest]:
    """Check a downloaded snapshot folder; return the prompt file's bytes and the manifest.json record.

    The folder's two files are read (refused when missing or over their limits) and checked by
    :func:`validate_files`.

    Raises:
        HubNotFoundError: a file is missing (not a promptkit repo).
        InvalidAssetError: anything else, naming the repo, commit and problem.
    """
    where = f"{repo_id}@{commit_sha[:12]}"
    limits = {PROMPT_FILE: max_prompt_file_bytes(), MANIFEST_FILE: MAX_MANIFEST_BYTES}
    files: dict[str, bytes] = {}
    for fname, limit in limits.items():
        path = folder / fname
        if not path.is_file():
            raise HubNotFoundError(
                f"{where} has no {fname}: it is not a promptkit prompt repo", repo_id=repo_id,
                hint="check the repo id; promptkit repos are made by `promptkit push`",
            )
        if path.stat().st_size > limit:
            raise InvalidAssetError(f"{fname} is larger than {limit} bytes; refused", source=where)
        files[fname] = path.read_bytes()
    return validate_files(files, repo_id=repo_id, commit_sha=commit_sha)


def validate_files(files: dict[str, bytes], *, repo_id: str, commit_sha: str) -> tuple[bytes, Manifest]:
    """Check a pulled repo's files; return the prompt file's bytes and the manifest.json record.

    Checks: manifest.json passes the schema (which requires the backbone identity); the prompt
    file is a well-formed safetensors file (read without unpickling) with finite tensors matching
    its embedded manifest and content digest; and manifest.json agrees with the embedded manifest
    on everything but name, version, tags and origin.

    Raises:
        InvalidAssetError: anything wrong, naming the repo, commit and problem.
    """
    where = f"{repo_id}@{commit_sha[:12]}"
    record = parse_manifest(files[MANIFEST_FILE], source=f"{where}/{MANIFEST_FILE}")
    data = files[PROMPT_FILE]
    _, embedded = read_prompt_file(Path(f"{where}/{PROMPT_FILE}"), data=data)
    mine, theirs = record.model_dump(), embedded.model_dump()
    differ = sorted(k for k in mine if k not in _RECORD_ONLY and mine[k] != theirs.get(k))
    if differ:
        raise InvalidAssetError(
            f"{MANIFEST_FILE} disagrees with {PROMPT_FILE} on {', '.join(differ)}; refused", source=where,
            hint="the repo was edited by hand or corrupted; ask its owner to push it again with `promptkit push`",
        )
    return data, record

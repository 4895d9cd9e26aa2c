"""The registry: a folder of immutable, numbered prompt versions with aliases, tags and digests.

A version holds one prompt or an ensemble of prompts (``Manifest.kind``, :class:`~.asset.Asset`).

The folder's layout and its file names are :mod:`.layout`'s; reading a folder is
:class:`~.folder.StoreFolder`'s.

A version is written completely into ``.staging`` (file, fsync, record, fsync) and becomes
visible by one ``rename`` of its folder, so a writer killed at any moment leaves either a full
version or nothing visible. Writers hold a file lock; readers take none.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from promptkit._version import __version__
from promptkit.digest import bytes_sha256
from promptkit.errors import (
    AssetNotFoundError,
    DigestMismatchError,
    IntegrityError,
    InvalidAssetError,
    LockTimeoutError,
    ReadOnlyError,
    UsageError,
)

from . import _fs
from .asset import Asset, Entry
from .files import content_digest, read_prompt_file, serialize
from .files import validate_tensors as _validate_tensors
from .folder import StoreFolder
from .integrity import VerifyIssue, VerifyReport, check_manifest_digest, check_name, check_version, manifest_digest
from .layout import (
    ALIASES_FILE,
    FORMAT,
    HIGH_WATER_FILE,
    LOCK_FILE,
    MANIFEST_FILE,
    MARKER_FILE,
    NEXT_VERSION_FILE,
    PROMPT_FILE,
    RECORD_FILE,
    STAGING_DIR,
    TRASH_DIR,
    VERSIONS_DIR,
)
from .limits import read_regular_file
from .location import builtin_root, resolve_root
from .manifest import AssetSpec, Manifest, Origin, parse_manifest
from .refs import LATEST, Reference, parse_reference, validate_alias, validate_name, validate_tag
from .versioning import high_water, next_version, remove_stale_tmp

if TYPE_CHECKING:
    import torch

__all__ = ["Registry"]


class Registry:
    """The prompt registry: the user's writable folder plus the read-only built-in collection.

    Args:
        root: registry folder; None resolves ``PROMPTKIT_REGISTRY`` then ``$PROMPTKIT_HOME/registry``.
        builtin: include the built-in collection (a folder to use another one, e.g. in tests).
        lock_timeout: seconds to wait for another writer.
    """

    def __init__(
        self, root: str | os.PathLike[str] | None = None, *, builtin: bool | Path = True, lock_timeout: float = 120.0
    ) -> None:
        self.root = resolve_root(root)
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"registry {self.root} is not a folder", hint="give --registry a folder")
        self._user = StoreFolder(self.root, readonly=False)
        broot = builtin_root() if builtin is True else (Path(builtin) if builtin else None)
        if broot is not None and broot.resolve() == self.root.resolve():
            broot = None  # writing the built-in collection itself (`make zoo`): it is this registry
        self._builtin = StoreFolder(broot, readonly=True) if broot is not None and broot.is_dir() else None
        self.lock_timeout = lock_timeout

    # -- helpers -------------------------------------------------------------
    def _stores(self) -> list[StoreFolder]:
        return [self._user] + ([self._builtin] if self._builtin else [])

    def _store_for(self, name: str) -> StoreFolder:
        """The store that holds ``name`` (user first), or raise AssetNotFoundError."""
        for store in self._stores():
            if store.versions(name):
                return store
        raise AssetNotFoundError(name)

    def _check_writable(self, name: str) -> None:
        if self._builtin is not None and self._builtin.versions(name):
            raise ReadOnlyError(name)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / LOCK_FILE), timeout=self.lock_timeout)
        try:
            lock.acquire()
        except Timeout:
            raise LockTimeoutError(str(self.root), self.lock_timeout) from None
        try:
            # Anything left in staging (or a temp file) while we hold the lock belongs to a writer that died.
            shutil.rmtree(self.root / STAGING_DIR, ignore_errors=True)
            shutil.rmtree(self.root / TRASH_DIR, ignore_errors=True)
            remove_stale_tmp(self.root)
            marker = self.root / MARKER_FILE
            if not marker.exists():
                _fs.write_json_atomic(marker, {"format": FORMAT})
            yield
        finally:
            lock.release()

    # -- resolution ----------------------------------------------------------
    def resolve(self, ref: str | Reference) -> Manifest:
        """The manifest a reference points to, reading only that name's folder."""
        store, version = self._locate(ref)
        return store.manifest(parse_reference(str(ref)).name, version)

    def _locate(self, ref: str | Reference) -> tuple[StoreFolder, int]:
        r = parse_reference(ref) if isinstance(ref, str) else ref
        if r.version is not None:  # fast path: one stat per store, no listing
            for store in self._stores():
                if store.has_version(r.name, r.version):
                    return store, r.version
        store = self._store_for(r.name)
        versions = store.versions(r.name)
        if r.version is not None:
            if r.version not in versions:
                raise AssetNotFoundError(str(r), detail=f"versions of {r.name}: {_span(versions)}")
            return store, r.version
        if r.alias is not None:
            if r.alias == LATEST:
                return store, versions[-1]
            target = store.aliases(r.name).get(r.alias)
            if target is None or target not in versions:
                known = ", ".join(sorted(store.aliases(r.name))) or "none besides 'latest'"
                raise AssetNotFoundError(str(r), detail=f"aliases of {r.name}: {known}")
            return store, target
        matches = [v for v in versions if store.manifest(r.name, v).sha256.startswith(r.digest or "")]
        if not matches:
            raise AssetNotFoundError(str(r), detail="no version has that digest")
        if len({store.manifest(r.name, v).sha256 for v in matches}) > 1:
            raise UsageError(
                f"digest prefix {r.digest!r} matches versions {matches} of {r.name}",
                hint="give more hexadecimal characters of the digest",
            )
        return store, matches[-1]  # identical content stored more than once: the newest copy

    def path_of(self, ref: str | Reference) -> Path:
        store, version = self._locate(ref)
        return store.version_dir(parse_reference(str(ref)).name, version) / PROMPT_FILE

    def is_builtin(self, name: str) -> bool:
        return self._builtin is not None and bool(self._builtin.versions(name)) and not self._user.versions(name)

    # -- loading -------------------------------------------------------------
    def load(self, ref: str | Reference) -> Asset:
        """Load and verify one version: the file's sha256 and the tensors' content digest must match.

        Raises:
            DigestMismatchError: the stored file was modified; names the version.
        """
        store, version = self._locate(ref)
        name = parse_reference(str(ref)).name
        vref = f"{name}:{version}"
        record = store.record(name, version)
        check_manifest_digest(vref, record)
        manifest = parse_manifest(record["manifest"], source=vref)
        path = store.version_dir(name, version) / PROMPT_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise IntegrityError(f"{vref}: stored file {path} is missing", hint="run `promptkit verify`") from None
        actual = bytes_sha256(data)
        if actual != record["file_sha256"]:
            raise DigestMismatchError(vref, path=str(path), expected=record["file_sha256"], actual=actual)
        tensors, _ = read_prompt_file(path, data=data)
        return Asset(manifest=manifest, tensors=tensors, path=path)

    # -- listing -------------------------------------------------------------
    def list(
        self,
        *,
        name: str | None = None,
        backbone: str | None = None,
        tags: Mapping[str, str] | None = None,
        all_versions: bool = True,
    ) -> list[Entry]:
        """Versions matching every filter (name or namespace prefix, backbone timm name, tags)."""
        out: list[Entry] = []
        seen: set[str] = set()
        for store in self._stores():
            for n in store.names():
                if n in seen or (name and not (n == name or n.startswith(name.rstrip("/") + "/"))):
                    continue
                seen.add(n)
                versions = store.versions(n)
                aliases = store.aliases(n)
                for v in versions if all_versions else versions[-1:]:
                    m = store.manifest(n, v)
                    if backbone and backbone not in (m.backbone.timm_name, m.backbone.short()):
                        continue
                    if tags and any(m.tags.get(k) != val for k, val in tags.items()):
                        continue
                    names = tuple(sorted(a for a, t in aliases.items() if t == v))
                    if v == versions[-1]:
                        names = (LATEST, *names)
                    out.append(Entry(m, names, builtin=store.readonly))
        return out

    # -- writing -------------------------------------------------------------
    def add(
        self, name: str, tensors: Mapping[str, torch.Tensor], spec: AssetSpec, *, dedupe: bool = False
    ) -> Manifest:
        """Store ``tensors`` as the next version of ``name``; returns its manifest.

        Everything is validated before anything is written: the name, the tensors against
        ``spec`` (names, dtypes, shapes, finiteness). With ``dedupe``, an existing version of
        ``name`` with the same content digest is returned instead (decided under the writer lock).
        """
        validate_name(name)
        self._check_writable(name)
        if not isinstance(spec, AssetSpec):
            raise InvalidAssetError(f"spec must be an AssetSpec, got {type(spec).__name__}")
        _validate_tensors(tensors, spec, source=name)
        digest = content_digest(tensors)
        fields = spec.model_dump() if type(spec) is AssetSpec else spec.spec().model_dump()

        def build(version: int) -> tuple[bytes, Manifest]:
            manifest = Manifest(
                **fields, name=name, version=version, sha256=digest,
                created_at=datetime.now(timezone.utc), promptkit_version=__version__,
            )
            return serialize(tensors, manifest), manifest

        return self._commit(name, build, dedupe=digest if dedupe else None)

    def import_file(
        self, path: str | os.PathLike[str], *, name: str | None = None, origin: Origin | None = None,
        tags: Mapping[str, str] | None = None, dedupe: bool = False, description: str | None = None,
        guard: Callable[[list[Manifest]], None] | None = None,
    ) -> Manifest:
        """Store a prompt file that embeds a manifest, byte for byte, as the next version of ``name``.

        The local record takes the new name and version (and ``origin`` when given); the file
        keeps the manifest it was made with. ``tags`` replace the embedded (creation-time) tags,
        e.g. with those of an exported record; ``description``, when given, replaces the embedded
        one. With ``dedupe``, an existing version of ``name`` with the same content digest is
        returned instead of adding a duplicate (decided under the writer lock). ``guard``, when
        given, sees the name's stored versions under the same lock, before anything else, and
        raises to refuse the import (e.g. a pull that would take over a name of other lineage).
        """
        path = Path(path)
        data = read_regular_file(path)
        tensors, embedded = read_prompt_file(path, data=data)
        name = validate_name(name or embedded.name)
        self._check_writable(name)
        for key, value in (tags or {}).items():
            validate_tag(key, value)
        fields = embedded.model_dump()
        if origin is not None:
            fields["origin"] = origin.model_dump()
        if tags is not None:
            fields["tags"] = dict(tags)
        if description is not None:
            fields["description"] = description

        def build(version: int) -> tuple[bytes, Manifest]:
            fields.update(name=name, version=version)
            return data, Manifest.model_validate(fields)

        return self._commit(name, build, dedupe=embedded.sha256 if dedupe else None, guard=guard)

    def _commit(
        self, name: str, build, *, dedupe: str | None = None, guard: Callable[[list[Manifest]], None] | None = None
    ) -> Manifest:
        """Write the next version of ``name`` under the lock; ``build(version)`` gives (file bytes, manifest).

        With ``dedupe`` (a content digest), an existing version with that digest is returned instead,
        decided under the same lock, so concurrent imports of one content store it once. ``guard``
        sees the stored versions first, under the same lock, and may raise to refuse.
        """
        with self._locked():
            ndir = self._user.name_dir(name)
            remove_stale_tmp(ndir)
            if guard is not None or dedupe is not None:
                stored = [self._user.manifest(name, v) for v in self._user.versions(name)]
                if guard is not None:
                    guard(stored)
                for existing in stored if dedupe is not None else []:
                    if existing.sha256 == dedupe:
                        return existing
            version = next_version(self.root, name, ndir)
            data, manifest = build(version)
            stage = self.root / STAGING_DIR / uuid.uuid4().hex
            stage.mkdir(parents=True)
            _fs.write_atomic(stage / PROMPT_FILE, data)
            manifest_json = json.loads(manifest.model_dump_json())
            record = {"manifest": manifest_json, "manifest_sha256": manifest_digest(manifest_json),
                      "file_sha256": bytes_sha256(data), "file_size": len(data)}
            _fs.write_json_atomic(stage / RECORD_FILE, record)  # the record is written last
            target = self._user.version_dir(name, version)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(stage, target)  # the commit point: the version appears whole
            _fs.fsync_dir(target.parent)
            self._raise_high_water(name, ndir, version)
            return manifest

    def _raise_high_water(self, name: str, ndir: Path, version: int) -> None:
        """Record ``version`` as the name's last assigned number: its counter and the registry's copy."""
        _fs.write_atomic(ndir / NEXT_VERSION_FILE, f"{version + 1}\n".encode())
        marks = high_water(self.root)
        if marks.get(name, 0) < version:
            marks[name] = version
            _fs.write_json_atomic(self.root / HIGH_WATER_FILE, marks)

    def tag(self, ref: str, set_tags: Mapping[str, str] | None = None, remove: list[str] | tuple = ()) -> Manifest:
        """Set and remove ``key=value`` tags of one version (tags are the mutable part of a record)."""
        for k, v in (set_tags or {}).items():
            validate_tag(k, v)
        for k in remove:
            validate_tag(k, "")
        r = parse_reference(ref)
        self._check_writable(r.name)
        with self._locked():
            _, version = self._locate(r)
            vdir = self._user.version_dir(r.name, version)
            record = self._user.record(r.name, version)
            tags = {k: v for k, v in record["manifest"].get("tags", {}).items() if k not in remove}
            tags.update(set_tags or {})
            check_manifest_digest(f"{r.name}:{version}", record)  # never re-sign a forged record
            record["manifest"]["tags"] = tags
            manifest = parse_manifest(record["manifest"], source=f"{r.name}:{version}")
            record["manifest_sha256"] = manifest_digest(record["manifest"])
            remove_stale_tmp(vdir)
            _fs.write_json_atomic(vdir / RECORD_FILE, record)
            return manifest

    def set_alias(self, ref: str, alias: str) -> Manifest:
        """Point ``alias`` of the reference's name at its version (``latest`` is automatic)."""
        validate_alias(alias)
        if alias == LATEST:
            raise UsageError("'latest' is maintained automatically", hint="choose another alias, e.g. 'prod'")
        r = parse_reference(ref)
        self._check_writable(r.name)
        with self._locked():
            _, version = self._locate(r)
            aliases = self._user.aliases(r.name)
            aliases[alias] = version
            _fs.write_json_atomic(self._user.name_dir(r.name) / ALIASES_FILE, aliases)
            return self._user.manifest(r.name, version)

    def remove_alias(self, name: str, alias: str) -> None:
        validate_name(name)
        self._check_writable(name)
        with self._locked():
            aliases = self._user.aliases(name)
            if alias not in aliases:
                raise AssetNotFoundError(f"{name}@{alias}", detail="no such alias")
            del aliases[alias]
            _fs.write_json_atomic(self._user.name_dir(name) / ALIASES_FILE, aliases)

    def remove(self, ref: str) -> list[str]:
        """Remove one version (``name:3``, ``name@alias``, ``name@sha256:..``) or, for a bare name, all of them.

        Returns:
            The references removed. Aliases that pointed at a removed version are dropped.
            Version numbers are never reused.
        """
        r = parse_reference(ref)
        self._check_writable(r.name)
        whole = ":" not in ref and "@" not in ref
        with self._locked():
            if not self._user.versions(r.name):
                raise AssetNotFoundError(ref)
            ndir = self._user.name_dir(r.name)
            remove_stale_tmp(ndir)
            # The name's folder and counter stay, so its version numbers are never handed out again.
            self._raise_high_water(r.name, ndir, next_version(self.root, r.name, ndir) - 1)
            trash = self.root / TRASH_DIR
            if whole:
                removed = [f"{r.name}:{v}" for v in self._user.versions(r.name)]
                _fs.remove_tree(ndir / VERSIONS_DIR, trash)
                if (ndir / ALIASES_FILE).exists():
                    _fs.remove_tree(ndir / ALIASES_FILE, trash)
                return removed
            _, version = self._locate(r)
            _fs.remove_tree(self._user.version_dir(r.name, version), trash)
            aliases = {a: v for a, v in self._user.aliases(r.name).items() if v != version}
            _fs.write_json_atomic(ndir / ALIASES_FILE, aliases)
            return [f"{r.name}:{version}"]

    # -- integrity -----------------------------------------------------------
    def verify(self, ref: str | None = None, *, progress=None) -> VerifyReport:
        """Re-hash every stored version (or one reference) and check it against its record.

        Args:
            progress: optional ``callable(done, total)``.
        """
        targets: list[tuple[StoreFolder, str, int]] = []
        report = VerifyReport()
        if ref is not None:
            store, version = self._locate(ref)
            targets.append((store, parse_reference(ref).name, version))
        else:
            for store in self._stores():
                for n in store.name_folders():
                    versions = store.versions(n)
                    report.issues.extend(check_name(n, store.name_dir(n), versions))
                    targets.extend((store, n, v) for v in versions)
        for i, (store, n, v) in enumerate(targets):
            vdir = store.version_dir(n, v)
            problem = check_version(f"{n}:{v}", vdir / RECORD_FILE, vdir / PROMPT_FILE)
            report.checked += 1
            if problem:
                report.issues.append(VerifyIssue(f"{n}:{v}", problem))
            if progress:
                progress(i + 1, len(targets))
        return report

    def export(self, ref: str, out_dir: str | os.PathLike[str]) -> Path:
        """Write a folder (``prompt.safetensors`` + ``manifest.json``) that ``add`` imports again."""
        asset = self.load(ref)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for fname in (PROMPT_FILE, MANIFEST_FILE):
            if (out / fname).exists():
                raise UsageError(f"{out / fname} already exists", hint="export into an empty folder")
        _fs.write_atomic(out / PROMPT_FILE, asset.path.read_bytes())
        _fs.write_atomic(out / MANIFEST_FILE, (asset.manifest.model_dump_json(indent=2) + "\n").encode())
        return out


def _span(versions: list[int]) -> str:
    if not versions:
        return "none"
    return ", ".join(map(str, versions)) if len(versions) <= 8 else f"{versions[0]}..{versions[-1]}"

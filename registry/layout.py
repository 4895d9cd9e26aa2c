"""The names of the files and folders that registries, exported folders and Hub repos are made of.

Each name is spelled here once; :mod:`.store` and :mod:`.folder` (a registry on disk),
:mod:`.ops` (``add`` of an exported folder) and :mod:`.hub` (a pushed repo) use these constants.

A registry folder::

    <root>/MARKER_FILE                             format marker ({"format": FORMAT})
    <root>/LOCK_FILE                               writer lock
    <root>/STAGING_DIR/<uuid>/                     versions being written
    <root>/TRASH_DIR/                              removed folders on their way out
    <root>/HIGH_WATER_FILE                         {"ns/name": last version number ever assigned}
    <root>/ASSETS_DIR/<namespace or NO_NAMESPACE>/<name>/
        ALIASES_FILE                               {"prod": 3}
        NEXT_VERSION_FILE                          high-water mark of version numbers (kept when
                                                   every version is removed)
        VERSIONS_DIR/<n>/PROMPT_FILE               tensors + embedded manifest
        VERSIONS_DIR/<n>/RECORD_FILE               {"manifest", "manifest_sha256", "file_sha256", "file_size"}

An exported folder and a pushed Hub repo hold ``PROMPT_FILE`` and ``MANIFEST_FILE`` (a repo also
``CARD_FILE``).
"""

from __future__ import annotations

__all__ = [
    "ALIASES_FILE",
    "ASSETS_DIR",
    "CARD_FILE",
    "FORMAT",
    "HIGH_WATER_FILE",
    "LOCK_FILE",
    "MANIFEST_FILE",
    "MARKER_FILE",
    "NEXT_VERSION_FILE",
    "NO_NAMESPACE",
    "PROMPT_FILE",
    "RECORD_FILE",
    "STAGING_DIR",
    "TRASH_DIR",
    "VERSIONS_DIR",
]

PROMPT_FILE = "prompt.safetensors"  # one version's tensors with its manifest embedded (store, export, Hub)
MANIFEST_FILE = "manifest.json"  # one version's manifest as JSON (export folder, Hub repo)
CARD_FILE = "README.md"  # a Hub repo's model card
RECORD_FILE = "record.json"  # a stored version's authoritative manifest and file digest: written last
ALIASES_FILE = "aliases.json"  # a name's aliases -> versions
NEXT_VERSION_FILE = "next_version"  # a name's next version number (numbers are never reused)
HIGH_WATER_FILE = "high-water.json"  # every name's last assigned version, a second copy of the counters
MARKER_FILE = "promptkit-registry.json"  # marks a folder as a registry
FORMAT = 1  # the registry folder format, recorded in MARKER_FILE
LOCK_FILE = ".lock"  # the writers' file lock
STAGING_DIR = ".staging"  # versions being written
TRASH_DIR = ".trash"  # removed folders, renamed here before deletion
ASSETS_DIR = "assets"  # one folder per namespace, one per name below
VERSIONS_DIR = "versions"  # one folder per version of a name
NO_NAMESPACE = "_"  # the namespace folder of names without one

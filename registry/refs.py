"""Asset names and references: one parse function, one validation function.

Accepted reference forms (each name may carry one namespace, ``org/name``):

=============================  ==========================================
``name``                       the version the ``latest`` alias points to
``name:3``                     version 3
``name@prod``                  the version the alias ``prod`` points to
``name@sha256:<hex>``          the version whose content digest starts with ``<hex>``
=============================  ==========================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from promptkit.errors import REFERENCE_FORMS, InvalidNameError, InvalidReferenceError, UsageError

__all__ = [
    "LATEST",
    "MAX_NAME_LENGTH",
    "REFERENCE_FORMS",
    "Reference",
    "parse_reference",
    "validate_alias",
    "validate_name",
    "validate_tag",
]

MAX_NAME_LENGTH = 96
LATEST = "latest"
MIN_DIGEST_PREFIX = 6

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
_TAG_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEX = re.compile(r"^[0-9a-f]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid asset name, else raise :class:`InvalidNameError`.

    Rules: 1 to 96 characters; at most one ``/`` (namespace); each part starts with a letter
    or digit and holds only letters, digits, ``.``, ``_`` and ``-``; no ``..``; no control
    characters. Names map to folders, so these rules also keep every write inside the registry.
    """
    if not isinstance(name, str) or not name:
        raise InvalidNameError(str(name), "empty")
    if _CONTROL.search(name):
        raise InvalidNameError(name, "contains control characters")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(name, f"{len(name)} characters, at most {MAX_NAME_LENGTH} allowed")
    if "\\" in name:
        raise InvalidNameError(name, "contains a backslash")
    if ".." in name:
        raise InvalidNameError(name, "contains '..'")
    parts = name.split("/")
    if len(parts) > 2:
        raise InvalidNameError(name, "more than one '/' (only one namespace is allowed: 'org/name')")
    for part in parts:
        if not _SEGMENT.match(part):
            raise InvalidNameError(
                name, f"part {part!r} must start with a letter or digit and hold only [A-Za-z0-9._-]"
            )
    return name


def validate_alias(alias: str) -> str:
    """Return ``alias`` if valid: starts with a letter, then up to 63 of ``[A-Za-z0-9._-]``; not ``sha256``."""
    if not _ALIAS.match(alias or "") or alias == "sha256":
        raise UsageError(
            f"invalid alias {alias!r}",
            hint="aliases start with a letter and hold only letters, digits, '.', '_' and '-' (e.g. 'prod')",
        )
    return alias


def validate_tag(key: str, value: str) -> tuple[str, str]:
    """Validate one ``key=value`` tag; keys like aliases, values up to 256 printable characters."""
    if not _TAG_KEY.match(key or ""):
        raise UsageError(f"invalid tag key {key!r}", hint="tag keys hold only letters, digits, '.', '_' and '-'")
    if len(value) > 256 or _CONTROL.search(value):
        raise UsageError(f"invalid value for tag {key!r}", hint="tag values are at most 256 printable characters")
    return key, value


@dataclass(frozen=True)
class Reference:
    """A parsed reference: exactly one of ``version``, ``alias`` or ``digest`` is set."""

    name: str
    version: int | None = None
    alias: str | None = None
    digest: str | None = None  # lower-case hex prefix of the content sha256

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.digest is not None:
            return f"{self.name}@sha256:{self.digest}"
        return f"{self.name}@{self.alias}"


def parse_reference(ref: str) -> Reference:
    """Parse a reference string into a :class:`Reference`.

    Raises:
        InvalidReferenceError: with the accepted forms in its hint.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidReferenceError(str(ref), "empty")
    if _CONTROL.search(ref):
        raise InvalidReferenceError(ref, "contains control characters")
    if ref.count("@") > 1:
        raise InvalidReferenceError(ref, "more than one '@'")
    name, sep, selector = ref.partition("@")
    if sep:
        if ":" in name:
            raise InvalidReferenceError(ref, "use either ':version' or '@alias', not both")
        _checked_name(ref, name)
        if selector.startswith("sha256:"):
            digest = selector[len("sha256:"):].lower()
            if not _HEX.match(digest) or not MIN_DIGEST_PREFIX <= len(digest) <= 64:
                raise InvalidReferenceError(
                    ref, f"a digest is {MIN_DIGEST_PREFIX} to 64 hexadecimal characters after 'sha256:'"
                )
            return Reference(name, digest=digest)
        if not _ALIAS.match(selector) or selector == "sha256":
            raise InvalidReferenceError(ref, f"{selector!r} is not a valid alias")
        return Reference(name, alias=selector)
    if ":" in ref:
        name, _, version = ref.rpartition(":")
        _checked_name(ref, name)
        if not (version.isascii() and version.isdigit()) or int(version) < 1:
            raise InvalidReferenceError(ref, f"version {version!r} is not a positive integer")
        return Reference(name, version=int(version))
    return Reference(_checked_name(ref, ref), alias=LATEST)


def _checked_name(ref: str, name: str) -> str:
    try:
        return validate_name(name)
    except InvalidNameError as err:
        raise InvalidReferenceError(ref, err.reason) from None

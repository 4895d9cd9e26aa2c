"""Named plugins: the one table type behind every choice promptkit offers by name.

Backbones, prompt inits, transferability scores, ensemble weight methods, ensemble methods,
compositions, datasets and the embedded zoo's task generators are each a :class:`Registry`. A
registry holds ``name -> object`` with one set of rules:

- names are canonical: stripped, lower case, ``_`` read as ``-`` (``shrinkage_hscore`` finds
  ``shrinkage-hscore``);
- registering a taken name is a programming error (:class:`ValueError`), never a silent
  replacement;
- an unknown name is a user error naming the kind, the closest names ("did you mean") and
  every valid one;
- each entry has a one-line summary, the first line of its docstring unless given.

The built-in entries are not registered by the modules that define them: they are listed,
explicitly and in one place, by :mod:`promptkit.builtins`, and loaded into a table the first
time that table is read. Loading is wired from the package root (``promptkit/__init__.py``
calls :func:`set_builtins_loader`), so this module imports nothing of promptkit but the errors.

Third-party code registers with the table's decorator or :meth:`Registry.add`::

    from promptkit.scores import SCORES

    @SCORES.register("my-score", differentiable=True)
    def my_score(features, labels): ...
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from promptkit.errors import UsageError, format_choices

__all__ = ["Entry", "Registry", "canonical_name", "set_builtins_loader", "suggest"]

T = TypeVar("T")

_loader: Callable[[Registry[Any]], None] | None = None


def set_builtins_loader(loader: Callable[[Registry[Any]], None]) -> None:
    """Install ``loader(registry)``, called once per registry before its first read.

    The package root installs :func:`promptkit.builtins.register_builtins`; nothing else should.
    """
    global _loader
    _loader = loader


def canonical_name(name: str) -> str:
    """The form a name is stored and looked up under: stripped, lower case, ``-`` for ``_``."""
    return name.strip().lower().replace("_", "-")


def suggest(name: str, names: list[str], *, kind: str, listing: str = "") -> str:
    """The hint for an unknown ``name``: ``did you mean ...? choose ... (`listing` lists them)``.

    Args:
        name: what the user typed.
        names: the valid canonical names, sorted.
        kind: what an entry is (``"score"``), for an empty table.
        listing: the command that lists the entries, if any.
    """
    close = difflib.get_close_matches(canonical_name(name), names, n=3, cutoff=0.6)
    guess = f"did you mean {format_choices(close)}? " if close else ""
    where = f" (`{listing}` lists them)" if listing else ""
    return f"{guess}choose {format_choices(names)}{where}" if names else f"no {kind} is registered"


def _first_line(obj: object) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    lines = doc.strip().splitlines()
    return lines[0].strip() if lines else ""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered plugin: its canonical name, the object, a summary and its metadata."""

    name: str
    value: T
    summary: str
    meta: Mapping[str, Any] = field(default_factory=dict)


class Registry(MutableMapping[str, T]):
    """A table of named plugins of one kind (the pattern of timm's model registry).

    It reads as a mapping from canonical name to the registered object (``SCORES["hscore"]``
    is the function); :meth:`lookup` and :meth:`entry` are the user-facing lookups with a helpful error.

    Args:
        kind: what an entry is, for messages (``"score"``, ``"prompt init"``).
        error: the :class:`~promptkit.errors.UsageError` subclass raised for unknown names,
            built as ``error(message, hint=...)``.
        listing: the command that lists the entries, named in the error's hint.
        home: the module that defines the table (``__name__``); promptkit's built-ins are
            loaded into the tables whose home they name, and only into those.
        summarize: how to derive an entry's summary from its object when none is given
            (default: the first line of the object's docstring).
    """

    def __init__(
        self,
        kind: str,
        *,
        error: Callable[..., UsageError] = UsageError,
        listing: str = "",
        summarize: Callable[[Any], str] = _first_line,
        home: str = "",
    ) -> None:
        self.kind = kind
        self.home = home
        self._error = error
        self._listing = listing
        self._summarize = summarize
        self._entries: dict[str, Entry[T]] = {}
        self._builtins_loaded = False

    # -- registration ----------------------------------------------------------------------

    def add(self, name: str, value: T, *, summary: str | None = None, **meta: Any) -> T:
        """Register ``value`` under ``name``; returns ``value``.

        Raises:
            ValueError: the name is empty, or taken (a programming error, not a user error).
        """
        self._ensure()  # a name taken by a built-in is taken
        key = canonical_name(name)
        if not key:
            raise ValueError(f"a {self.kind} needs a non-empty name")
        if key in self._entries:
            raise ValueError(f"{self.kind} {key!r} is already registered; a name cannot be registered twice")
        text = summary if summary is not None else self._summarize(value)
        self._entries[key] = Entry(key, value, text, dict(meta))
        return value

    def register(self, name: str, *, summary: str | None = None, **meta: Any) -> Callable[[T], T]:
        """Decorator form of :meth:`add`: ``@TABLE.register("name", **meta)``."""

        def decorator(value: T) -> T:
            return self.add(name, value, summary=summary, **meta)

        return decorator

    # -- lookup ----------------------------------------------------------------------------

    def _ensure(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True  # first, so a loader reading its own table does not recurse
            if _loader is not None:
                _loader(self)

    def entry(self, name: str) -> Entry[T]:
        """The entry registered under ``name`` (any spelling :func:`canonical_name` accepts).

        Raises:
            UsageError (or the registry's subclass): unknown name; the hint gives the closest
            names and every valid one.
        """
        self._ensure()
        key = canonical_name(name)
        if key in self._entries:
            return self._entries[key]
        raise self._error(f"unknown {self.kind} {name!r}", hint=self.hint(name))

    def lookup(self, name: str) -> T:
        """The object registered under ``name``; raises like :meth:`entry` for an unknown name."""
        return self.entry(name).value

    def hint(self, name: str) -> str:
        """``did you mean ...? choose ...`` for a name that is not registered."""
        return suggest(name, self.names(), kind=self.kind, listing=self._listing)

    def names(self) -> list[str]:
        """Canonical names, sorted."""
        self._ensure()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        """Every entry, sorted by name."""
        self._ensure()
        return [self._entries[k] for k in sorted(self._entries)]

    def summary(self, name: str) -> str:
        """The one-line summary of ``name``."""
        return self.entry(name).summary

    def meta(self, name: str) -> Mapping[str, Any]:
        """The metadata ``name`` was registered with (e.g. ``differentiable``)."""
        return self.entry(name).meta

    # -- mapping protocol (canonical keys) -------------------------------------------------

    def __getitem__(self, name: str) -> T:
        self._ensure()
        return self._entries[canonical_name(name)].value

    def __setitem__(self, name: str, value: T) -> None:
        self.add(name, value)

    def __delitem__(self, name: str) -> None:
        self._ensure()
        del self._entries[canonical_name(name)]

    def __contains__(self, name: object) -> bool:
        self._ensure()
        return isinstance(name, str) and canonical_name(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        self._ensure()
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        self._ensure()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"

"""Every exception promptkit raises, in one module.

Each error subclasses :class:`PromptkitError` and the builtin it resembles (so ``except
LookupError`` keeps working for callers that do not know promptkit), carries its facts as
fields rather than only in the message, and offers a ``hint``: the next thing to type. The CLI
maps ``exit_code`` to the process exit status (documented in the README).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTEGRITY",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "AssetNotFoundError",
    "DatasetError",
    "DatasetNotFoundError",
    "DigestMismatchError",
    "DistributedError",
    "HubAuthError",
    "HubError",
    "HubNotFoundError",
    "HubOfflineError",
    "IncompatibleError",
    "IntegrityError",
    "InvalidAssetError",
    "InvalidNameError",
    "InvalidReferenceError",
    "ListFileError",
    "LockTimeoutError",
    "NotFoundError",
    "PromptkitError",
    "ReadOnlyError",
    "ScoreInputError",
    "UsageError",
    "WeightsError",
]

# Process exit codes (README, "Exit codes").
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_INTEGRITY = 4


class PromptkitError(Exception):
    """Base of every promptkit error.

    Attributes:
        hint: what the user can do next, one sentence; may be empty.
        exit_code: the CLI's exit status for this error.
    """

    exit_code: int = EXIT_ERROR

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(PromptkitError, ValueError):
    """The arguments cannot be right whatever the state of the world (bad syntax, bad combination)."""

    exit_code = EXIT_USAGE


class InvalidNameError(UsageError):
    """An asset name breaks the naming rules."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(
            f"invalid asset name {name!r}: {reason}",
            hint="names are 1-96 characters of letters, digits, '.', '_' and '-', "
            "with at most one namespace: 'name' or 'org/name'",
        )
        self.name = name
        self.reason = reason


REFERENCE_FORMS = "name, name:3, name@alias, name@sha256:<hex or unique prefix>, each optionally as org/name"


class InvalidReferenceError(UsageError):
    """A reference string does not parse."""

    def __init__(self, ref: str, reason: str) -> None:
        super().__init__(f"invalid reference {ref!r}: {reason}", hint=f"accepted forms: {REFERENCE_FORMS}")
        self.ref = ref
        self.reason = reason


class InvalidAssetError(PromptkitError, ValueError):
    """Tensors or a manifest that cannot be stored or loaded as a prompt asset."""

    def __init__(self, message: str, *, source: str = "", hint: str = "") -> None:
        super().__init__(f"{source}: {message}" if source else message, hint=hint)
        self.source = source


class NotFoundError(PromptkitError, LookupError):
    """Something that was asked for does not exist."""

    exit_code = EXIT_NOT_FOUND


class AssetNotFoundError(NotFoundError):
    """No asset matches a reference."""

    def __init__(self, ref: str, *, detail: str = "", hint: str = "") -> None:
        msg = f"no asset matches {ref!r}" + (f" ({detail})" if detail else "")
        super().__init__(msg, hint=hint or "run `promptkit list` to see what the registry holds")
        self.ref = ref


class IntegrityError(PromptkitError):
    """Stored bytes do not match what was recorded when they were written."""

    exit_code = EXIT_INTEGRITY


class DigestMismatchError(IntegrityError):
    """A file's digest differs from the recorded one: the file was modified or corrupted."""

    def __init__(self, ref: str, *, path: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{ref}: digest mismatch for {path} (recorded sha256 {expected[:12]}..., found {actual[:12]}...)",
            hint="the stored file was modified or corrupted; remove this version with `promptkit rm` "
            "and add or pull it again",
        )
        self.ref = ref
        self.path = path
        self.expected = expected
        self.actual = actual


class ReadOnlyError(PromptkitError, PermissionError):
    """An attempt to change the read-only built-in collection."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name!r} belongs to the read-only built-in collection",
            hint="choose another name, e.g. 'my-" + name.split("/")[-1] + "'",
        )
        self.name = name


class LockTimeoutError(PromptkitError, TimeoutError):
    """The registry lock could not be acquired in time."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__(
            f"could not lock the registry at {path} within {timeout:.0f} s",
            hint="another promptkit process is writing; wait for it or retry",
        )
        self.path = path
        self.timeout = timeout


class DistributedError(PromptkitError, RuntimeError):
    """Another process of a run started by torchrun stopped or could not be reached.

    Attributes:
        rank: this process's global rank.
        world_size: the number of processes of the run.
    """

    def __init__(self, rank: int, world_size: int, cause: str) -> None:
        super().__init__(
            f"another process of this {world_size}-process run stopped ({cause}); nothing was stored",
            hint="the failed process's own error line, or torchrun's report, says why; rerun when it is fixed",
        )
        self.rank = rank
        self.world_size = world_size


class IncompatibleError(PromptkitError, ValueError):
    """A prompt does not fit a backbone or another prompt (backbone identity or geometry differ)."""

    def __init__(self, what: str, expected: str, actual: str, *, hint: str = "") -> None:
        super().__init__(f"{what} mismatch: expected {expected}, got {actual}", hint=hint)
        self.what = what
        self.expected = expected
        self.actual = actual


class DatasetError(PromptkitError, ValueError):
    """A dataset exists but cannot be used as is (corrupt image, empty class, too few classes)."""

    def __init__(self, message: str, *, path: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.path = path


class ListFileError(DatasetError):
    """A split list (``train800.txt``, ``test.json``, ...) with a line that cannot be used.

    Attributes:
        file: the list file.
        line: 1-based line number (0 when the problem is the whole file, e.g. an empty split).
        problem: what is wrong with that line, without the location.
    """

    def __init__(self, file: str, line: int, problem: str, *, hint: str = "") -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {problem}", path=file, hint=hint)
        self.file = file
        self.line = line
        self.problem = problem


class DatasetNotFoundError(NotFoundError):
    """A dataset name or path that the catalog cannot find on disk."""

    def __init__(self, name: str, *, detail: str = "", hint: str = "") -> None:
        msg = f"dataset {name!r} not found" + (f" ({detail})" if detail else "")
        super().__init__(msg, hint=hint or "run `promptkit datasets` to list known names")
        self.name = name
        self.detail = detail


class ScoreInputError(PromptkitError, ValueError):
    """Features and labels that a transferability score cannot be computed from."""


class HubError(PromptkitError):
    """A Hugging Face Hub operation failed."""

    def __init__(self, message: str, *, repo_id: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.repo_id = repo_id


class HubNotFoundError(HubError, LookupError):
    """A repository, revision or file is missing on the Hub."""

    exit_code = EXIT_NOT_FOUND


class HubAuthError(HubError, PermissionError):
    """The Hub refused the credentials (401/403)."""


class HubOfflineError(HubError, ConnectionError):
    """HF_HUB_OFFLINE is set and the content is not in the local Hub cache."""


class WeightsError(PromptkitError, OSError):
    """Backbone weights that cannot be loaded: no network for a pretrained download, or a local
    weights file that is missing, unreadable or does not fit the architecture."""

    def __init__(self, message: str, *, model: str = "", path: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.model = model
        self.path = path


def format_choices(choices: Sequence[str]) -> str:
    """Return ``'a', 'b' or 'c'`` for an error message."""
    quoted = [repr(c) for c in choices]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]

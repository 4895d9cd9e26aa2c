"""Map promptkit errors to one-line messages with the next step, and to exit codes.

Every command body runs under :func:`handle_errors`; a traceback is shown only with
``PROMPTKIT_DEBUG=1``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from promptkit.errors import EXIT_ERROR, PromptkitError

__all__ = ["handle_errors"]

F = TypeVar("F", bound=Callable[..., Any])


def _debug() -> bool:
    return os.environ.get("PROMPTKIT_DEBUG", "") not in ("", "0")


def handle_errors(fn: F) -> F:
    """Run a command, turning :class:`PromptkitError` (and Ctrl-C) into a message and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from rich.markup import escape

        from ._output import err_console

        try:
            return fn(*args, **kwargs)
        except PromptkitError as err:
            if _debug():
                raise
            # escape: messages and hints quote user text and "[...]" (e.g. promptkit[plot]), not markup
            err_console().print(f"[bold red]error:[/] {escape(err.message)}", highlight=False, markup=True,
                                soft_wrap=True)
            if err.hint:
                err_console().print(f"[dim]hint:[/] {escape(err.hint)}", highlight=False, soft_wrap=True)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            err_console().print("interrupted")
            raise typer.Exit(130) from None
        except (OSError, MemoryError) as err:
            if _debug():
                raise
            err_console().print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_ERROR) from None

    return wrapper  # type: ignore[return-value]

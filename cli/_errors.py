"""Map errors to one-line messages with the next step, and to exit codes.

Every command body runs under :func:`handle_errors`; the command line itself is parsed by
:class:`OneLineErrors`, so a bad option or argument is one ``error:`` line too. A traceback is
shown only with ``PROMPTKIT_DEBUG=1``; an unexpected exception without it is one line that says
how to get the traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

from promptkit.errors import EXIT_ERROR, EXIT_USAGE, PromptkitError

__all__ = ["OneLineErrors", "handle_errors", "one_line", "print_error"]

F = TypeVar("F", bound=Callable[..., Any])


def _debug() -> bool:
    return os.environ.get("PROMPTKIT_DEBUG", "") not in ("", "0")


def _click() -> ModuleType:
    """The click exceptions typer uses (typer vendors click from 0.2x on; older releases import it)."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older typer
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks included) as one space."""
    return " ".join(str(text).split())


def print_error(message: str, hint: str = "") -> None:
    """``error: MESSAGE`` and, when given, ``hint: HINT`` on stderr, each one line, never read as markup."""
    from rich.text import Text

    from ._output import err_console

    err_console().print(Text.assemble(("error:", "bold red"), " ", one_line(message)), highlight=False,
                        soft_wrap=True)
    if hint:
        err_console().print(Text.assemble(("hint:", "dim"), " ", one_line(hint)), highlight=False, soft_wrap=True)


def handle_errors(fn: F) -> F:
    """Run a command, turning :class:`PromptkitError` (and Ctrl-C) into a message and an exit code."""
    ex = _click()

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PromptkitError as err:
            if _debug():
                raise
            print_error(err.message, err.hint)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            print_error("interrupted")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, ex.ClickException):
            raise  # typer.Exit from a command, or a bad parameter: OneLineErrors renders it
        except (OSError, MemoryError) as err:
            if _debug():
                raise
            print_error(str(err) or type(err).__name__)
            raise typer.Exit(EXIT_ERROR) from None
        except Exception as err:
            if _debug():
                raise
            print_error(f"unexpected {type(err).__name__}: {err}",
                        "this is a bug in promptkit; rerun with PROMPTKIT_DEBUG=1 for the traceback and report it")
            raise typer.Exit(EXIT_ERROR) from None

    return _with_format(fn, wrapper)  # type: ignore[return-value]


FORMATS = ("table", "json", "quiet")


def _with_format(fn: Callable[..., Any], wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command that has ``--json`` a ``--format table|json[|quiet]`` option too.

    ``--json`` and ``--quiet`` stay, as the short spellings of ``--format json`` and ``--format
    quiet``; ``quiet`` is offered only where the command has ``--quiet``. The option is added to
    the signature typer reads, and mapped onto ``json_out``/``quiet`` before the command runs.
    """
    import inspect
    from typing import Annotated, get_type_hints

    signature = inspect.signature(fn, eval_str=True)
    if "json_out" not in signature.parameters:
        return wrapper
    choices = FORMATS if "quiet" in signature.parameters else FORMATS[:2]
    option = Annotated[str | None, typer.Option(
        "--format", help=f"Output: {', '.join(choices)} [default: table]; --json"
                         + (" and --quiet are short for json and quiet." if "quiet" in choices else
                            " is short for json."))]
    fmt = inspect.Parameter("output_format", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=option)
    params = list(signature.parameters.values())
    kinds = [p for p in params if p.kind != inspect.Parameter.VAR_KEYWORD]

    @functools.wraps(wrapper)
    def formatted(*args: Any, output_format: str | None = None, **kwargs: Any) -> Any:
        if output_format is not None:
            choice = output_format.strip().lower()
            if choice not in choices:
                print_error(f"--format {output_format!r} is not one of {', '.join(choices)}",
                            f"e.g. --format {choices[1]}")
                raise typer.Exit(EXIT_USAGE)
            if choice == "json":
                kwargs["json_out"] = True
            elif choice == "quiet":
                kwargs["quiet"] = True
        return wrapper(*args, **kwargs)

    formatted.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*kinds, fmt] if all(p.kind != inspect.Parameter.VAR_POSITIONAL for p in kinds) else params)
    formatted.__annotations__ = {**get_type_hints(fn, include_extras=True), "output_format": option}
    return formatted


class OneLineErrors(TyperGroup):
    """The command group: a bad option, argument or command is one ``error:`` line (and a hint), exit 2."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        ex = _click()
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ex.NoArgsIsHelpError as err:
            err.show()  # `promptkit` alone prints the help, as before
            sys.exit(err.exit_code)
        except ex.UsageError as err:
            command = err.ctx.command_path if err.ctx is not None else "promptkit"
            print_error(err.format_message(), f"see `{command} --help`")
            sys.exit(EXIT_USAGE)
        except ex.ClickException as err:
            print_error(err.format_message())
            sys.exit(err.exit_code)
        except typer.Abort:
            print_error("aborted")
            sys.exit(EXIT_ERROR)
        sys.exit(rv if isinstance(rv, int) else 0)

"""Helpers every command module shares: the context, one-line errors, output, progress bars.

Output goes through two doors only: `echo` for human-mode text (terminal-safe, see `terminal`) and
`emit_json` / `emit_batch` for `--json` (the versioned contract, see `envelope`). Argument checks
live in `args`. These helpers live apart from app.py so that the command modules (sources, mail,
...) can import them when they load: app.py imports those modules to register their commands.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import click

from ..errors import ArgumentError, NewsletterError
from . import envelope
from .args import check_text
from .terminal import one_line, safe


class Context:
    """What every command gets: the project folder it runs on (opened lazily)."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self._catalog: Any = None

    @property
    def catalog(self) -> Any:
        if self._catalog is None:
            from ..catalog import Catalog

            self._catalog = Catalog.open(self.directory)
        return self._catalog


pass_ctx = click.make_pass_decorator(Context)


class Shell(click.Group):
    """The root command: click's own usage errors (a bad option value, a missing argument) become
    one `error:` line with exit code 2 like every other error, instead of click's three-line
    usage block; under `--json` stdout still gets one JSON document.
    """

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:  # a caller that handles click's exceptions itself
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else (prog_name or "newsletter")
            if "--json" in argv:
                name = command_name_of(exc.ctx)
                emit_json(envelope.error_document(name, exc.format_message()), header=False)
            fail(f"{exc.format_message()} (see `{command} --help`)", exc.exit_code)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            fail("aborted", 1)
        sys.exit(result if isinstance(result, int) else 0)


def echo(message: object = "", *, err: bool = False) -> None:
    """Write one human-mode line: the one place the CLI prints text, so every line is terminal-safe.

    Titles, URLs and messages that echo an input are untrusted: `terminal.safe` drops escape
    sequences, control characters and bidi overrides (JSON output has its own escaping).
    """
    click.echo(safe(message), err=err)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one error line (no traceback) and exit."""
    echo(f"error: {one_line(message)}", err=True)
    sys.exit(code)


def command_name() -> str:
    """The running command's name as typed, without the program: "add", "feeds pull"."""
    return command_name_of(click.get_current_context(silent=True))


def command_name_of(ctx: click.Context | None) -> str:
    """The name of the command `ctx` runs, without the program."""
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.command.name or ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def handles_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one clear line on stderr: exit code 2 for a bad argument, else 1.

    Under `--json` the same message also goes to stdout as a JSON document (`ok: false, error`), so
    a script always gets one document to parse.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            check_text(kwargs, _param_names(), skip=getattr(func, "per_item_params", ()))
            return func(*args, **kwargs)
        except NewsletterError as exc:
            if kwargs.get("as_json"):
                emit_json(envelope.error_document(command_name(), str(exc)), header=False)
            fail(str(exc), 2 if isinstance(exc, ArgumentError) else 1)
        except BrokenPipeError:
            # `newsletter list | head`: the reader left; say nothing (and let nothing flush into the
            # closed pipe at exit), like any Unix tool.
            with contextlib.suppress(OSError, ValueError):  # no real stdout (tests): nothing to silence
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except OSError as exc:
            # The last net: a file system that says no (a device path, a full disk, permissions)
            # is one line naming the file, never a traceback. Library code raises its own errors first.
            where = f"{exc.filename}: " if exc.filename else ""
            message = f"{where}{exc.strerror or exc}"
            if kwargs.get("as_json"):
                emit_json(envelope.error_document(command_name(), message), header=False)
            fail(message)
        except KeyboardInterrupt:
            fail("interrupted; everything reported as saved is saved", 130)

    return wrapper


def per_item(*params: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark parameters the command checks one input at a time (so one bad input fails alone).

    Put it below `@handles_errors`, which otherwise refuses the whole command when any argument is
    not UTF-8 text.
    """

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        func.per_item_params = params  # type: ignore[attr-defined]
        return func

    return mark


def _param_names() -> dict[str, str]:
    """Parameter name -> how a user types it (`--tag`, `QUERY`), for error messages."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return {}
    return {
        p.name: (p.opts[0] if isinstance(p, click.Option) else p.human_readable_name)
        for p in ctx.command.params
        if p.name
    }


def emit_json(data: dict[str, Any], *, header: bool = True) -> None:
    """Write one JSON document to stdout (and nothing else), headed by `schema` and `command`."""
    if header:
        data = envelope.document(command_name(), **data)
    click.echo(envelope.dumps(data))


def emit_batch(
    results: list[dict[str, Any]], errors: list[dict[str, Any]], totals: dict[str, int], **extra: Any
) -> None:
    """Write the batch envelope (see `envelope.batch`) for the running command."""
    click.echo(envelope.dumps(envelope.batch(command_name(), results, errors, totals, **extra)))


@contextlib.contextmanager
def progress_bar(label: str, *, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on a terminal; a no-op callback otherwise (pipes, --json, CI)."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=_stderr_console(),
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def check_similar(catalog: Any, items: list[Any], *, as_json: bool) -> dict[str, list[dict[str, Any]]]:
    """Probable duplicates of newly saved items, by item id: one sync (one batch embed), one batched check.

    A failure (no model, damaged derived state ...) is one warning line: the items are saved, only the
    advice is missing.
    """
    if not items:
        return {}
    with progress_bar("checking for near-duplicates", enabled=not as_json) as progress:
        try:
            catalog.sync_semantic(progress=progress)
            found = catalog.similar_to_many(items)
        except (NewsletterError, OSError, ImportError, RuntimeError) as exc:
            echo(f"warning: near-duplicate check skipped: {one_line(exc)}", err=True)
            return {}
    return {item.id: similar for item, similar in zip(items, found, strict=True) if similar}


def echo_similar(items: list[Any], similar: dict[str, list[dict[str, Any]]]) -> None:
    """One line per match: "ID  looks like TITLE (0.91) — featured in issue N"."""
    for item in items:
        for match in similar.get(item.id, []):
            line = f"{item.id}  looks like {one_line(match['title'])} ({match['score']:.2f})"
            if match.get("issue"):
                line += f" — featured in issue {match['issue']}"
            echo(line)

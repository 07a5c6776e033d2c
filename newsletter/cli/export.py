"""`newsletter export`: the catalog or a slice of it for other tools (registered on `newsletter.cli.main`).

The export is data, written as it is: to `--out FILE` atomically, or to stdout raw when stdout is a
pipe or a file. Only on a terminal does it go through `echo` (escape sequences dropped), because a
hostile title must not drive the terminal it is shown on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .args import issue_number, usable_tag
from .common import Context, echo, handles_errors, pass_ctx

FORMAT_CHOICES = ("json", "csv", "bibtex", "opml")
KIND_CHOICES = ("link", "paper", "podcast", "tweet", "repo", "video")


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="json", show_default=True,
              help="json (JSON Lines of items), csv (items), bibtex (papers), opml (feed subscriptions).")
@click.option("--kind", type=click.Choice(KIND_CHOICES), default=None, help="Only items of this kind.")
@click.option("--tag", default=None, help="Only items with this tag.")
@click.option("--issue", "number", type=int, default=None, help="Only the items issue N links to.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to FILE (atomically) instead of stdout.")
@pass_ctx
@handles_errors
def export(ctx: Context, fmt: str, kind: str | None, tag: str | None, number: int | None, out: Path | None) -> None:
    """Export the catalog (or a slice: filters combine) as JSON Lines, CSV, BibTeX or OPML.

    `--format bibtex` lists the papers (arXiv id, DOI, authors, year) for Zotero and other reference
    managers; `--format opml` lists the feed subscriptions for feed readers.
    """
    usable_tag(tag)
    issue_number(number, "--issue")
    text = ctx.catalog.export(fmt, kind=kind, tag=tag, issue=number)
    if out is not None:
        from ..store.files import atomic_write

        atomic_write(out, text)
        echo(f"wrote {out}", err=True)
        return
    if sys.stdout.isatty():
        echo(text.rstrip("\n"))
        return
    sys.stdout.flush()
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:  # a text-only stdout (an embedding program's)
        sys.stdout.write(text)
        return
    stream.write(text.encode("utf-8", "surrogateescape"))
    stream.flush()


def register(main: click.Group) -> None:
    """Add `export` to the CLI group."""
    main.add_command(export)

"""`newsletter figure add`: a curator's own image into an issue (registered on `newsletter.cli.main`)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import Context, echo, emit_json, handles_errors, pass_ctx


@click.group()
def figure() -> None:
    """Curators' own images (charts, slides, diagrams) in an issue."""


@figure.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--issue", "number", type=int, default=None, help="Issue number (default: the open draft, or the next).")
@click.option("--alt", default="", help="What the image shows, for readers who cannot see it (asked for when missing).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handles_errors
def figure_add(ctx: Context, file: Path, number: int | None, alt: str, as_json: bool) -> None:
    """Copy FILE into the issue's assets folder, resized and re-encoded, and print the Markdown to paste.

    The copy is at most 1200 px wide (plus a 600 px one for email and phones), WebP, without EXIF.
    """
    if not alt.strip():
        echo("warning: no --alt text; `newsletter check` will ask for it", err=True)
    result = ctx.catalog.add_figure(file, issue=number, alt=alt)
    if as_json:
        emit_json({"path": str(result.path), "markdown": result.markdown, **result.image.to_json()})
        return
    echo(f"saved {result.path} ({result.image.width}×{result.image.height}, "
               f"{result.image.size // 1000} kB)", err=True)
    echo(result.markdown)


def register(main: click.Group) -> None:
    """Add the figure commands to the CLI group."""
    main.add_command(figure)

"""`newsletter import-archive FILE --from PLATFORM`: a thin command over `Catalog.import_archive`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .common import echo, emit_batch, handles_errors, progress_bar
from .terminal import one_line

PLATFORM_CHOICES = ("buttondown", "substack", "curated", "ghost", "markdown")


@click.command("import-archive")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--from", "platform", type=click.Choice(PLATFORM_CHOICES), required=True, help="The platform the export comes from."
)
@click.option("--dry-run", is_flag=True, help="Say what would be imported; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
@handles_errors
def import_archive(ctx: Any, file: Path, platform: str, dry_run: bool, as_json: bool) -> None:
    """Import past issues from another platform (see --from).

    Each issue becomes content/issues/NNN-slug.md, and its links catalog items published in it.

    FILE is the platform's export as downloaded: Buttondown's folder or zip (emails.csv and the
    emails' Markdown), Substack's folder or zip (posts.csv and posts/*.html), Curated's issue JSON
    (a file or a folder of them), Ghost's JSON export, or a folder of Markdown files with front
    matter (title, date, number) or a date in their names.

    Issues keep the platform's numbers where it has them (Buttondown, Curated, Markdown's
    `number`), else follow the project's issues in date order. Links already in the catalog get
    the issue (no copy); unsubscribe, share, mailto and tracking links are left out. Running it
    again reports `exists` and changes nothing; an issue whose number another issue holds fails
    alone (exit 1), and nothing existing is overwritten. Nothing is fetched.
    """
    with progress_bar("importing issues", enabled=not as_json) as progress:
        report = ctx.catalog.import_archive(file, platform, dry_run=dry_run, progress=progress)
    for outcome in report.failed:
        echo(f"error: {one_line(outcome.source)}: {one_line(outcome.error)}", err=True)
    done = [o for o in report.issues if o.result != "failed"]
    totals = {
        "issues": len(report.issues),
        "imported": report.count("imported") + report.count("planned"),
        "existing": report.count("exists"),
        "skipped": report.skipped,
        "items_new": report.items_new,
        "items_linked": report.items_linked,
        "items_elsewhere": report.items_elsewhere,
    }
    if as_json:
        emit_batch(
            [o.to_json() for o in done],
            [{"input": o.source, "error": o.error} for o in report.failed],
            totals,
            file=report.file,
            platform=report.platform,
            dry_run=report.dry_run,
        )
    else:
        for o in done:
            word = {"imported": "imported", "planned": "would import", "exists": "exists"}[o.result]
            where = Path(o.path).name if o.path else f"issue {o.number}"
            echo(f"{word:<12} #{o.number!s:<4} {o.date}  {one_line(o.title)}  ({where}, {o.links} links)")
        verb = "to import" if dry_run else "imported"
        echo(
            f"{platform}: {totals['imported']} issue(s) {verb}, {totals['existing']} existing, "
            f"{len(report.failed)} failed"
            + (f", {report.skipped} unpublished (drafts, pages) skipped" if report.skipped else "")
            + f"; {report.items_new} new item(s), {report.items_linked} linked to catalog items"
            + (f", {report.items_elsewhere} already published in other issues" if report.items_elsewhere else "")
        )
    if report.failed:
        sys.exit(1)


def register(main: click.Group) -> None:
    """Add `import-archive` to the root command."""
    main.add_command(import_archive)

"""The `newsletter` command: parse options, call one library method, print text or --json.

Exit codes: 0 success, 1 some inputs failed (one line each on stderr), 2 usage error.
Heavy imports (httpx, the model) happen inside commands, so `newsletter --help` stays instant.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from ..errors import NewsletterError
from ..version import __version__

# Also imported from here by the command modules and tests: keep these names importable from cli.
from .common import Context, check_similar, echo_similar, emit_json, fail, handles_errors, pass_ctx, progress_bar

KIND_CHOICES = ("link", "paper", "podcast", "tweet", "repo", "video")
STATUS_CHOICES = ("inbox", "shortlisted", "published", "skipped")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False),
    default=None,
    help="Run on the project in DIR (default: the nearest folder with newsletter.toml).",
)
@click.version_option(__version__, prog_name="newsletter")
@click.pass_context
def main(ctx: click.Context, directory: str | None) -> None:
    """Collect, dedupe, draft and publish a technical newsletter.

    The weekly loop: `add` and `feeds pull` all week, `draft`, edit the Markdown, `publish`,
    `build` the site and send the `email`.
    """
    ctx.obj = Context(directory)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="The newsletter's name (default: from the folder name).")
@handles_errors
def init(directory: str, name: str | None) -> None:
    """Create a new, empty newsletter project in DIRECTORY."""
    from ..project import init_project

    root = init_project(Path(directory), name=name)
    click.echo(f"created a newsletter project in {root}")
    click.echo(f"next: cd {shlex.quote(str(root))} && newsletter add URL")


@main.command()
@click.argument("inputs", nargs=-1, required=True, metavar="URL...")
@click.option("--kind", type=click.Choice(KIND_CHOICES), help="Override the detected kind.")
@click.option("--tag", "tags", multiple=True, help="Tag the new items (repeatable).")
@click.option("--note", default="", help="The curator's note for the new items.")
@click.option("--no-fetch", is_flag=True, help="Do not fetch anything; use --title/--summary.")
@click.option("--title", default="", help="Title (overrides the fetched one).")
@click.option("--summary", default="", help="Summary (overrides the fetched one).")
@click.option("--no-similar", is_flag=True, help="Skip the near-duplicate check (no model load).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_ctx
@handles_errors
def add(
    ctx: Context,
    inputs: tuple[str, ...],
    kind: str | None,
    tags: tuple[str, ...],
    note: str,
    no_fetch: bool,
    title: str,
    summary: str,
    no_similar: bool,
    as_json: bool,
) -> None:
    """Add URLs, arXiv ids or DOIs to the catalog's inbox.

    Each input is fetched (pages, arXiv, Crossref, oEmbed, GitHub), canonicalized and checked
    against the catalog: an input that is already there is reported, never added twice.
    """
    from ..ingest.route import AddOptions

    if no_fetch and not title and len(inputs) == 1:
        click.echo("note: --no-fetch without --title stores the URL as the title", err=True)
    options = AddOptions(kind=kind, tags=list(tags), note=note, title=title, summary=summary, fetch=not no_fetch)
    def report_saved(result: Any) -> None:
        # Printed the moment the file is durable: what this line reports survives a crash.
        if not as_json:
            click.echo(f"added  {result.item.id}  {result.item.kind:<7} {result.item.display_title()}")
            sys.stdout.flush()
            from ..feeds import subscribe_hint

            hint = subscribe_hint(ctx.catalog, result.item)
            if hint:
                click.echo(hint, err=True)

    with progress_bar("adding", enabled=not as_json and len(inputs) > 1) as progress:
        results = ctx.catalog.add(list(inputs), options, progress=progress, on_result=report_saved)
    added = [r.item for r in results if r.status == "added"]
    similar = {} if no_similar else check_similar(ctx.catalog, added, as_json=as_json)
    for result in results:
        if result.status == "added":
            result.similar = similar.get(result.item.id, [])
    failed = [r for r in results if r.status == "failed"]
    for result in failed:
        click.echo(f"error: {result.input}: {result.error}", err=True)
    if as_json:
        emit_json(
            {
                "results": [r.to_json() for r in results],
                "added": sum(r.status == "added" for r in results),
                "existing": sum(r.status == "exists" for r in results),
                "failed": len(failed),
            }
        )
    else:
        for result in results:
            if result.status == "exists":
                click.echo(f"exists {result.item.id}  already in the catalog: {result.item.display_title()}")
        echo_similar(added, similar)
    if failed:
        sys.exit(1)


@main.command("list")
@click.option("--kind", type=click.Choice(KIND_CHOICES))
@click.option("--status", type=click.Choice(STATUS_CHOICES))
@click.option("--tag", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the items as JSON.")
@pass_ctx
@handles_errors
def list_(ctx: Context, kind: str | None, status: str | None, tag: str | None, as_json: bool) -> None:
    """List catalog items, newest first."""
    catalog = ctx.catalog
    items = catalog.list(kind=kind, status=status, tag=tag)
    for problem in catalog.snapshot().problems:
        click.echo(f"warning: {problem}", err=True)
    if as_json:
        emit_json([item.to_dict() for item in items])
        return
    out = sys.stdout
    for item in items:
        issue = f"#{item.issue}" if item.issue else ""
        title = item.display_title().replace("\n", " ")
        out.write(f"{item.id}  {item.kind:<7} {item.status:<11} {issue:<5} {item.added[:10]}  {title}\n")
    if sys.stderr.isatty():
        click.echo(f"{len(items)} item(s)", err=True)


@main.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handles_errors
def show(ctx: Context, ref: str, as_json: bool) -> None:
    """Show one item (by id, id prefix or URL)."""
    item = ctx.catalog.get(ref)
    if as_json:
        emit_json(item.to_dict())
        return
    data = item.to_dict(include_note=False)
    for key, value in data.items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            value = ", ".join(map(str, value))
        click.echo(f"{key + ':':<14} {value}")
    if item.note:
        click.echo("")
        click.echo(item.note)
    click.echo(f"\nfile: {ctx.catalog.path_of(item.id)}", err=True)


@main.command()
@click.argument("ref")
@pass_ctx
@handles_errors
def edit(ctx: Context, ref: str) -> None:
    """Edit one item in $EDITOR; the file is validated before it is saved."""
    from ..store.files import dump_item

    catalog = ctx.catalog
    item = catalog.get(ref)
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    fd, name = tempfile.mkstemp(suffix=".md", prefix=f"newsletter-{item.id}-")
    draft = Path(name)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(dump_item(item))
    keep_draft = False
    try:
        while True:
            status = subprocess.call([*shlex.split(editor), str(draft)])
            if status != 0:
                fail(f"editor exited with status {status}; nothing saved")
            text = draft.read_text(encoding="utf-8")
            if text == dump_item(item):
                click.echo("no changes")
                return
            try:
                saved = catalog.save_edited(item.id, text)
                break
            except NewsletterError as exc:
                click.echo(f"error: {exc}", err=True)
                if not sys.stdin.isatty() or not click.confirm("edit again?", default=True):
                    keep_draft = True
                    fail(f"not saved; your edit is kept in {draft}")
        click.echo(f"saved {saved.id}  {saved.display_title()}")
    finally:
        if not keep_draft:
            draft.unlink(missing_ok=True)


@main.command()
@click.argument("ref")
@click.argument("tags", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Remove these tags instead of adding them.")
@pass_ctx
@handles_errors
def tag(ctx: Context, ref: str, tags: tuple[str, ...], remove: bool) -> None:
    """Add tags to an item (or --remove them)."""
    item = ctx.catalog.tag(ref, list(tags), remove=remove)
    click.echo(f"{item.id}  tags: {', '.join(item.tags) or '(none)'}")


@main.command()
@click.argument("ref")
@pass_ctx
@handles_errors
def rm(ctx: Context, ref: str) -> None:
    """Remove an item from the catalog (its file is deleted; git keeps the history)."""
    item = ctx.catalog.remove(ref)
    click.echo(f"removed {item.id}  {item.display_title()}")


def _item_line(item: Any, score: float | None = None) -> str:
    """One result line: id, score, kind, date, title, and the issue it appeared in."""
    date = item.published or item.added[:10] or "----------"
    issue = f"  (issue {item.issue})" if item.issue else ""
    shown = f"{score:.3f} " if score is not None else ""
    return f"{item.id}  {shown}{item.kind:<7} {date:<10}  {item.display_title()}{issue}"


def _scored_json(pairs: list[tuple[Any, float]]) -> list[dict[str, Any]]:
    return [{**item.to_dict(include_note=False), "score": score} for item, score in pairs]


@main.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 500), default=10, show_default=True, help="How many results.")
@click.option("--kind", type=click.Choice(KIND_CHOICES))
@click.option("--since", default=None, metavar="YYYY-MM-DD", help="Only items published on or after this date.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handles_errors
def search(ctx: Context, query: str, k: int, kind: str | None, since: str | None, as_json: bool) -> None:
    """Search the catalog by meaning and by exact words (names like "hnswlib" too)."""
    from ..models import parse_date

    if since and parse_date(since) is None:
        fail(f"--since must be a date like 2025-01-31, got {since!r}", 2)
    found = ctx.catalog.search(query, k=k, kind=kind, since=parse_date(since) if since else None)
    if as_json:
        emit_json(_scored_json(found))
        return
    for item, _score in found:  # fused rank scores mean nothing to a reader: the order says it all
        click.echo(_item_line(item))
    if not found:
        click.echo("no results", err=True)


@main.command()
@click.argument("ref")
@click.option("-k", "k", type=click.IntRange(1, 500), default=10, show_default=True)
@click.option("--kind", type=click.Choice(KIND_CHOICES))
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handles_errors
def related(ctx: Context, ref: str, k: int, kind: str | None, as_json: bool) -> None:
    """Items closest in meaning to one item (from stored embeddings: no model load)."""
    found = ctx.catalog.related(ref, k=k, kind=kind)
    if as_json:
        emit_json(_scored_json(found))
        return
    for item, score in found:
        click.echo(_item_line(item, score))


@main.command()
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=None,
              help="Pair score needed to call two items duplicates (default: tuned on the dev set).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handles_errors
def dupes(ctx: Context, threshold: float | None, as_json: bool) -> None:
    """Groups of near-duplicate items (the same work as paper, post, tweet, episode...)."""
    catalog = ctx.catalog
    with progress_bar("embedding", enabled=not as_json) as progress:
        catalog.sync_semantic(progress=progress)
    groups = catalog.duplicate_groups(threshold=threshold)
    items = catalog.snapshot().items
    if as_json:
        emit_json([{**g, "items": [items[i].to_dict(include_note=False) for i in g["ids"]]} for g in groups])
        return
    for number, group in enumerate(groups, 1):
        click.echo(f"group {number}  (score {group['score']:.2f})")
        for item_id in group["ids"]:
            click.echo(f"  {_item_line(items[item_id])}")
    click.echo(f"{len(groups)} group(s); merge with: newsletter merge KEEP DUP", err=True)


@main.command("index")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_ctx
@handles_errors
def index_(ctx: Context, as_json: bool) -> None:
    """Bring the derived state (cache, vectors, index) up to date, healing damaged files."""
    with progress_bar("embedding", enabled=not as_json) as progress:
        summary = ctx.catalog.reindex(progress=progress)
    if as_json:
        emit_json(summary)
        return
    rate = f", {summary['texts_per_s']} texts/s" if summary["texts_per_s"] else ""
    healed = f"; rebuilt damaged {', '.join(summary['healed'])}" if summary["healed"] else ""
    click.echo(f"{summary['items']} items: {summary['embedded']} embedded, {summary['reused']} reused, "
               f"{summary['seconds']:.1f} s{rate}{healed}")


@main.command()
@click.argument("keep")
@click.argument("dup")
@pass_ctx
@handles_errors
def merge(ctx: Context, keep: str, dup: str) -> None:
    """Merge DUP into KEEP: tags and notes united, DUP's URL resolves to KEEP from now on."""
    kept, merged = ctx.catalog.merge(keep, dup)
    click.echo(f"merged {merged.id} into {kept.id}  {kept.display_title()}")


from .sources import register_commands  # noqa: E402

register_commands(main)

from . import issues as cli_issues  # noqa: E402

main.add_command(cli_issues.draft)
main.add_command(cli_issues.review)
main.add_command(cli_issues.check)
main.add_command(cli_issues.publish)

from .site import register_commands as register_site_commands  # noqa: E402

register_site_commands(main)

from .mail import email, subscribers  # noqa: E402

main.add_command(email)
main.add_command(subscribers)

__import__("newsletter.cli.server", fromlist=["register"]).register(main)

if __name__ == "__main__":  # pragma: no cover
    main()

"""`newsletter feeds ...` and `newsletter import`: thin commands over `newsletter.feeds` and `newsletter.bulk`.

Registered on the main group by `register_commands(main)` at the bottom of cli.py. Its shared helpers come
from cli_common (cli.py imports this module, so it cannot import cli.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from . import envelope
from .args import usable_tag
from .common import check_similar, echo, echo_similar, emit_batch, emit_json, fail, handles_errors, progress_bar
from .terminal import one_line

FEED_KIND_CHOICES = ("podcast", "link")
FORMAT_CHOICES = ("opml", "bookmarks", "csv", "markdown", "urls",
                  # other tools' exports (newsletter.ingest.tools)
                  "pocket", "raindrop", "instapaper", "readwise", "pinboard", "karakeep", "hoarder", "linkwarden")


def _feeds(ctx: Any) -> Any:
    from ..feeds import Feeds

    return Feeds(ctx.catalog)


_NO_SIMILAR_HELP = "Skip the near-duplicate check of the new items (no model load)."


def _subscription_entry(result: Any) -> dict[str, Any]:
    """A subscribe outcome (added / exists) as a batch result: the subscription object, not an item."""
    sub = result.subscription.to_dict() if result.subscription else None
    return {"input": result.input, "result": result.status, "subscription": sub, "entries": result.entries,
            "note": result.note or None}


def _feed_json(result: Any) -> dict[str, Any]:
    """One feed's pull, for `feeds pull --json`'s `feeds` list (its new items are in `results`)."""
    return {
        "url": result.url, "title": result.title, "status": result.status, "added": len(result.new),
        "existing": result.existing, "left_out": result.left_out, "unusable": result.unusable,
        "moved_to": result.moved_to, "error": result.error or None, "warnings": result.warnings,
    }


@click.group("feeds")
def feeds() -> None:
    """Feed subscriptions (feeds.yaml): add, list, rm, and pull their new entries into the inbox."""


@feeds.command("add")
@click.argument("url")
@click.option("--kind", type=click.Choice(FEED_KIND_CHOICES), default=None, help="Default: detected from the feed.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
@handles_errors
def feeds_add(ctx: Any, url: str, kind: str | None, as_json: bool) -> None:
    """Subscribe to a feed (a web page is searched for the feed it advertises)."""
    (result,) = _feeds(ctx).add([(url, kind, "")])
    if as_json:
        ok = result.status != "failed"
        emit_batch(
            [_subscription_entry(result)] if ok else [],
            [] if ok else [envelope.failure(url, result.error or "failed")],
            {"inputs": 1, "added": int(result.status == "added"), "existing": int(result.status == "exists")},
        )
        if not ok:
            sys.exit(1)
        return
    if result.status == "added":
        sub = result.subscription
        if result.note:
            echo(f"note: {result.note}", err=True)
        shown = one_line(sub.title or sub.url)
        echo(f"subscribed  {sub.kind:<7} {shown}  ({one_line(sub.url)}, {result.entries} entries)")
        echo("next: newsletter feeds pull")
    elif result.status == "exists":
        sub = result.subscription
        echo(f"already subscribed: {one_line(sub.title or sub.url)} ({one_line(sub.url)})")
    if result.status == "failed":
        fail(f"{url}: {result.error}")


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the subscriptions as JSON.")
@click.pass_obj
@handles_errors
def feeds_list(ctx: Any, as_json: bool) -> None:
    """List subscriptions with their last pull, status and entries seen."""
    rows = _feeds(ctx).status()
    if as_json:
        emit_json({"feeds": [
            {
                **sub.to_dict(),
                "last_pull": st.last_pull,
                "last_status": "gone" if sub.gone else st.last_status,
                "last_error": st.last_error,
                "entries_seen": st.seen,
            }
            for sub, st in rows
        ]})
        return
    for sub, st in rows:
        status = "gone" if sub.gone else (st.last_status or "never pulled")
        when = (st.last_pull or "")[:16].replace("T", " ")
        shown = f"{one_line(sub.title or '-')}  {one_line(sub.url)}"
        echo(f"{sub.kind:<7} {status:<12} {when:<16} {st.seen:>5} seen  {shown}")
    if sys.stderr.isatty():
        echo(f"{len(rows)} feed(s)", err=True)


@feeds.command("rm")
@click.argument("url")
@click.pass_obj
@handles_errors
def feeds_rm(ctx: Any, url: str) -> None:
    """Unsubscribe from a feed (items it brought in stay in the catalog)."""
    sub = _feeds(ctx).remove(url)
    echo(f"unsubscribed  {one_line(sub.title or sub.url)}  ({one_line(sub.url)})")


@feeds.command("pull")
@click.argument("urls", nargs=-1, metavar="[URL]...")
@click.option(
    "--backlog",
    type=click.IntRange(min=0),
    default=None,
    help="Entries a new subscription's first pull takes, newest first (default 20; older ones are reported).",
)
@click.option("--no-similar", is_flag=True, help=_NO_SIMILAR_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print per-feed results as JSON.")
@click.pass_obj
@handles_errors
def feeds_pull(ctx: Any, urls: tuple[str, ...], backlog: int | None, no_similar: bool, as_json: bool) -> None:
    """Fetch every subscription (or the named ones) and add their new entries to the inbox.

    Each new item is then checked against the catalog for near-duplicates (`--no-similar` skips it).
    """
    from ..feeds import DEFAULT_BACKLOG

    def report_saved(item: Any) -> None:
        if not as_json:  # printed once the file is durable
            echo(f"added  {item.id}  {item.kind:<7} {one_line(item.display_title())}")

    with progress_bar("pulling feeds", enabled=not as_json) as progress:
        results = _feeds(ctx).pull(
            list(urls),
            backlog=DEFAULT_BACKLOG if backlog is None else backlog,
            progress=progress,
            on_saved=report_saved,
        )
    new_items = [item for r in results for item in r.new]
    similar = {} if no_similar else check_similar(ctx.catalog, new_items, as_json=as_json)
    for r in results:
        r.similar = {item.id: similar[item.id] for item in r.new if item.id in similar}
    for r in results:
        name = one_line(r.title or r.url)
        if r.moved_to:
            echo(f"note: {name}: moved permanently to {r.moved_to}; subscription updated", err=True)
        if r.status == "error":
            echo(f"error: {name}: {one_line(r.error)}", err=True)
        elif r.status == "gone":
            echo(f"{'error' if r.error else 'note'}: {name}: {one_line(r.error or r.warnings[0])}", err=True)
        for warning in r.warnings if r.status != "gone" else []:
            echo(f"warning: {one_line(warning)}", err=True)
        if r.left_out:
            echo(
                f"note: {name}: first pull took the newest {len(r.new) + r.existing + r.unusable}, "
                f"left out {r.left_out} older entr{'y' if r.left_out == 1 else 'ies'} "
                "(use --backlog N on a first pull to take more)",
                err=True,
            )
    failed = [r for r in results if r.failed]
    if as_json:
        emit_batch(
            [
                envelope.entry(r.url, "added", item, similar=r.similar.get(item.id, []))
                for r in results
                for item in r.new
            ],
            [envelope.failure(r.url, r.error or r.status) for r in failed],
            {
                "feeds": len(results),
                "added": sum(len(r.new) for r in results),
                "existing": sum(r.existing for r in results),
                "not_modified": sum(r.status == "not_modified" for r in results),
                "left_out": sum(r.left_out for r in results),
            },
            feeds=[_feed_json(r) for r in results],
        )
    else:
        echo_similar(new_items, similar)
        new = sum(len(r.new) for r in results)
        unchanged = sum(r.status == "not_modified" for r in results)
        echo(
            f"{len(results)} feed(s): {new} new item(s), {sum(r.existing for r in results)} already cataloged, "
            f"{unchanged} unchanged, {len(failed)} failed"
        )
    if failed:
        sys.exit(1)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default=None, help="Default: detected.")
@click.option("--no-fetch", is_flag=True, help="Use the file's titles, summaries, tags and dates; no network.")
@click.option("--tag", "tags", multiple=True, help="Tag every imported item (repeatable).")
@click.option("--no-similar", is_flag=True, help=_NO_SIMILAR_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
@handles_errors
def import_(
    ctx: Any, file: Path, fmt: str | None, no_fetch: bool, tags: tuple[str, ...], no_similar: bool, as_json: bool
) -> None:
    """Import bookmarks, a CSV, an awesome-list, a URL list, an OPML file of feeds, or another tool's export.

    Named formats read the exports of Pocket, Raindrop, Instapaper, Readwise Reader, Pinboard,
    Karakeep (Hoarder) and Linkwarden; the JSON ones are detected by their shape. A note written
    in the other tool stays the item's note. Browser-internal entries (place:, javascript:,
    about:, chrome:) are skipped and counted, not failures.

    Running the same import twice adds nothing the second time. Lines that fail are listed on stderr
    (line number, text, reason) and the exit code is 1. The new items are checked against the catalog
    for near-duplicates (one batch; `--no-similar` skips it).
    """
    from ..ingest.pipeline import ImportOptions

    for value in tags:
        usable_tag(value)
    options = ImportOptions(format=fmt, fetch=not no_fetch, tags=list(tags))
    with progress_bar("importing", enabled=not as_json) as progress:
        report = ctx.catalog.import_file(file, options, progress=progress)
    if not no_similar:
        report.similar = check_similar(ctx.catalog, report.new, as_json=as_json)
    for failure in sorted(report.failed, key=lambda f: f.line):
        echo(f"error: {file.name}: {failure}", err=True)
    if as_json:
        emit_batch(
            [envelope.entry(item.url, "added", item, similar=report.similar.get(item.id, [])) for item in report.new],
            # a feed that could not be subscribed is one of these too (its OPML line)
            [envelope.failure(f.text, f.reason, line=f.line) for f in sorted(report.failed, key=lambda f: f.line)],
            {
                "rows": report.rows,
                "added": len(report.new),
                "existing": report.existing,
                "repeated": report.repeated,
                "skipped": report.skipped,
                "subscribed": sum(r.status == "added" for r in report.feeds),
            },
            file=report.file,
            format=report.format,
            subscriptions=[_subscription_entry(r) for r in report.feeds if r.status != "failed"],
        )
    else:
        for result in report.feeds:
            if result.status == "added":
                sub = result.subscription
                echo(f"subscribed  {sub.kind:<7} {one_line(sub.title or sub.url)}  ({one_line(sub.url)})")
        echo_similar(report.new, report.similar)
        echo(
            f"{report.format}: {len(report.new)} new, {report.duplicates} duplicate(s) "
            f"({report.existing} already in the catalog, {report.repeated} repeated in the file), "
            f"{len(report.failed)} failed"
            + (f", {report.skipped} browser-internal entr{'y' if report.skipped == 1 else 'ies'} skipped"
               if report.skipped else "")
            + (f"; {sum(r.status == 'added' for r in report.feeds)} feed(s) subscribed" if report.feeds else "")
        )
    if report.failed:
        sys.exit(1)


def register_commands(main: click.Group) -> None:
    """Add `feeds` and `import` to the main command group."""
    main.add_command(feeds)
    main.add_command(import_)

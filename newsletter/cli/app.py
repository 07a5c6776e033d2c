"""The `newsletter` command: parse options, call one library method, print text or --json.

Exit codes: 0 success, 1 some inputs failed (one line each on stderr), 2 usage error.
Heavy imports (httpx, the model) happen inside commands, so `newsletter --help` stays instant.
"""

from __future__ import annotations

import hashlib
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
from . import envelope
from .args import not_utf8, printable, query_text, undecodable, unit_interval, usable_tag
from .common import (
    Context,
    Shell,
    check_similar,
    echo,
    echo_similar,
    emit_batch,
    emit_json,
    fail,
    handles_errors,
    pass_ctx,
    per_item,
    progress_bar,
)
from .terminal import one_line

KIND_CHOICES = ("link", "paper", "podcast", "tweet", "repo", "video")
STATUS_CHOICES = ("inbox", "shortlisted", "published", "skipped")


@click.group(cls=Shell, context_settings={"help_option_names": ["-h", "--help"]})
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
    if directory is not None and undecodable(directory):
        fail(str(not_utf8("-C", directory)), 2)
    ctx.obj = Context(directory)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="The newsletter's name (default: from the folder name).")
@handles_errors
def init(directory: str, name: str | None) -> None:
    """Create a new, empty newsletter project in DIRECTORY."""
    from ..project import git_setup, init_project

    root = init_project(Path(directory), name=name)
    echo(f"created a newsletter project in {root}")
    setup = git_setup(root)
    if setup.configured:
        echo("installed the git merge driver for item files (.gitattributes + this clone's git config)")
    else:
        echo("wrote .gitattributes; after `git init`, run `newsletter git-setup` to install the merge driver")
    echo(f"next: cd {shlex.quote(str(root))} && newsletter add URL")


@main.command("git-setup")
@pass_ctx
@handles_errors
def git_setup_(ctx: Context) -> None:
    """Install the git merge driver for item files, so two editors' edits of one item merge.

    Writes `.gitattributes` (commit it) and this clone's git config. Git config is per clone:
    each editor runs `newsletter git-setup` once in their own clone.
    """
    from ..config import find_project
    from ..project import git_setup

    root = find_project(ctx.directory)
    setup = git_setup(root)
    state = "updated" if setup.attributes_changed else "already up to date"
    echo(f"{setup.attributes}: {state}")
    if not setup.configured:
        fail(f"{root} is not in a git repository: run `git init` (or clone), then `newsletter git-setup` again")
    echo(f"git config merge.newsletter-item.driver = {setup.driver}")
    echo("git config is per clone: every editor runs `newsletter git-setup` once in their own clone")


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
@per_item("inputs")
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
    from ..catalog import AddResult
    from ..ingest.route import AddOptions

    for value in tags:
        usable_tag(value)
    one_item_only = [name for name, value in (("--title", title), ("--summary", summary), ("--note", note)) if value]
    if one_item_only and len(inputs) > 1:
        # One title for several items is never what was meant (and silently gave them all one title).
        fail(f"{', '.join(one_item_only)} describes one item, but {len(inputs)} inputs were given; "
             "add them one at a time (tags with --tag apply to all)", 2)
    if no_fetch and not title and len(inputs) == 1:
        echo("note: --no-fetch without --title stores the URL as the title", err=True)
    options = AddOptions(kind=kind, tags=list(tags), note=note, title=title, summary=summary, fetch=not no_fetch)
    def report_saved(result: Any) -> None:
        # Printed the moment the file is durable: what this line reports survives a crash.
        if not as_json:
            echo(f"added  {result.item.id}  {result.item.kind:<7} {one_line(result.item.display_title())}")
            sys.stdout.flush()
            from ..feeds import subscribe_hint

            hint = subscribe_hint(ctx.catalog, result.item)
            if hint:
                echo(hint, err=True)

    # An input that is not UTF-8 (bytes from a broken script) fails alone; the others are added.
    unreadable = [AddResult(printable(raw), "failed", error="not valid UTF-8 text; check the encoding of the "
                            "terminal or script") for raw in inputs if undecodable(raw)]
    readable = [raw for raw in inputs if not undecodable(raw)]
    with progress_bar("adding", enabled=not as_json and len(readable) > 1) as progress:
        results = ctx.catalog.add(readable, options, progress=progress, on_result=report_saved) if readable else []
    results = [*results, *unreadable]
    added = [r.item for r in results if r.status == "added"]
    similar = {} if no_similar else check_similar(ctx.catalog, added, as_json=as_json)
    for result in results:
        if result.status == "added":
            result.similar = similar.get(result.item.id, [])
    failed = [r for r in results if r.status == "failed"]
    for result in failed:
        echo(f"error: {one_line(result.input)}: {one_line(result.error)}", err=True)
    if as_json:
        emit_batch(
            [envelope.entry(r.input, r.status, r.item, similar=r.similar) for r in results if r.status != "failed"],
            [envelope.failure(r.input, r.error or "failed") for r in failed],
            {
                "inputs": len(results),
                "added": sum(r.status == "added" for r in results),
                "existing": sum(r.status == "exists" for r in results),
            },
        )
    else:
        for result in results:
            if result.status == "exists":
                echo(f"exists {result.item.id}  already in the catalog: {one_line(result.item.display_title())}")
        echo_similar(added, similar)
    if failed:
        sys.exit(1)


@main.command("list")
@click.option("--kind", type=click.Choice(KIND_CHOICES))
@click.option("--status", type=click.Choice(STATUS_CHOICES))
@click.option("--tag", default=None)
@click.option("--since", default=None, metavar="YYYY-MM-DD", help="Only items added on or after this day.")
@click.option("--until", default=None, metavar="YYYY-MM-DD", help="Only items added on or before this day.")
@click.option("--sort", type=click.Choice(("added", "published", "title")), default="added", show_default=True,
              help="Order: newest addition, newest publication (undated last), or title A-Z.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Show at most this many items.")
@click.option("--json", "as_json", is_flag=True, help="Print the items as JSON.")
@pass_ctx
@handles_errors
def list_(ctx: Context, kind: str | None, status: str | None, tag: str | None, since: str | None,
          until: str | None, sort: str, limit: int | None, as_json: bool) -> None:
    """List catalog items, newest addition first (or --sort published|title)."""
    from ..listing import narrow

    usable_tag(tag)
    catalog = ctx.catalog
    items = narrow(catalog.list(kind=kind, status=status, tag=tag), since=_day(since, "--since"),
                   until=_day(until, "--until"), sort=sort, limit=limit)
    for problem in catalog.problems():
        echo(f"warning: {problem}", err=True)
    if as_json:
        emit_json({"items": [envelope.item_json(item) for item in items], "count": len(items)})
        return
    for item in items:
        issue = f"#{item.issue}" if item.issue else ""
        title = one_line(item.display_title())
        tags = f"  [{one_line(', '.join(item.tags))}]" if item.tags else ""
        echo(f"{item.id}  {item.kind:<7} {item.status:<11} {issue:<5} {one_line(item.added[:10])}  {title}{tags}")
    if sys.stderr.isatty():
        echo(f"{len(items)} item(s)", err=True)


def _day(value: str | None, option: str) -> str | None:
    """A YYYY-MM-DD option value, or a usage error (exit 2) that names the option."""
    from ..models import parse_date

    if value is None:
        return None
    day = parse_date(value)
    if day is None or not value.strip()[:4].isdigit():
        fail(f"{option} must be a date like 2025-01-31, got {one_line(value)!r}", 2)
    return day


@main.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handles_errors
def show(ctx: Context, ref: str, as_json: bool) -> None:
    """Show one item (by id, id prefix or URL)."""
    item = ctx.catalog.get(ref)
    if as_json:
        emit_json({"item": envelope.item_json(item)})
        return
    data = item.to_dict(include_note=False)
    for key, value in data.items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            value = ", ".join(map(str, value))
        echo(f"{key + ':':<14} {one_line(value)}")
    if item.note:
        echo("")
        echo(item.note)
    echo(f"\nfile: {ctx.catalog.path_of(item.id)}", err=True)


@main.command()
@click.argument("ref")
@pass_ctx
@handles_errors
def edit(ctx: Context, ref: str) -> None:
    """Edit one item in $EDITOR; the file is validated before it is saved.

    If the item's file changes while the editor is open (a `tag`, a `git pull`, the other curator),
    nothing is overwritten: your text is kept next to it as `<item>.md.edit` to merge by hand.
    """
    from ..errors import CatalogError, ItemChanged
    from ..store.files import dump_item, parse_item

    catalog = ctx.catalog
    item_id = catalog.get(ref).id
    path = catalog.path_of(item_id)
    # The hash is of the bytes the edit starts from, read once: what the editor shows is parsed
    # from exactly these bytes, so a change made a moment before opening counts as well.
    raw = path.read_bytes()
    opened_sha256 = hashlib.sha256(raw).hexdigest()
    try:
        item = parse_item(raw.decode("utf-8"), source=str(path))
    except UnicodeDecodeError:
        raise CatalogError(f"{path} is not UTF-8 text; fix the file first") from None
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
                echo("no changes")
                return
            try:
                saved = catalog.save_edited(item.id, text, expected_sha256=opened_sha256)
                break
            except ItemChanged:
                kept = _keep_edit(path, text)
                fail(
                    f"{path.name} changed on disk while you were editing it (a `tag`, a git pull or another "
                    f"editor); nothing was saved. Your text is kept in {kept}: merge it into {path} "
                    f"(e.g. `diff {shlex.quote(str(path))} {shlex.quote(str(kept))}`), then delete it"
                )
            except NewsletterError as exc:
                echo(f"error: {one_line(exc)}", err=True)
                if not sys.stdin.isatty() or not click.confirm("edit again?", default=True):
                    keep_draft = True
                    fail(f"not saved; your edit is kept in {draft}")
        echo(f"saved {saved.id}  {one_line(saved.display_title())}")
    finally:
        if not keep_draft:
            draft.unlink(missing_ok=True)


def _keep_edit(path: Path, text: str) -> Path:
    """Write the curator's text next to the item as `<item>.md.edit` (never over an earlier one).

    The catalog reads only `*.md` files, so the kept text is not an item; the curator merges it.
    """
    from ..store.files import atomic_write

    kept = path.with_name(path.name + ".edit")
    n = 1
    while kept.exists():
        n += 1
        kept = path.with_name(f"{path.name}.edit.{n}")
    atomic_write(kept, text)
    return kept


@main.command()
@click.argument("args", nargs=-1, required=True, metavar="ID... TAG...")
@click.option("--remove", is_flag=True, help="Remove these tags instead of adding them.")
@pass_ctx
@handles_errors
def tag(ctx: Context, args: tuple[str, ...], remove: bool) -> None:
    """Add tags to items (or --remove them): `tag ID TAG...`, `tag ID ID ... TAG...`.

    The first argument is an item (id, id prefix or URL); the arguments after it that are full
    ids or URLs of items are items too, and the rest are tags. Each item succeeds or fails alone.
    """
    refs, tags = _split_refs(ctx, args)
    if not tags:
        fail("give at least one tag after the item id(s): newsletter tag ID [ID...] TAG...", 2)
    for value in tags:
        usable_tag(value, "TAG")
    failed = False
    for ref in refs:
        try:
            item = ctx.catalog.tag(ref, list(tags), remove=remove)
        except NewsletterError as exc:
            echo(f"error: {one_line(ref)}: {one_line(exc)}", err=True)
            failed = True
            continue
        echo(f"{item.id}  tags: {one_line(', '.join(item.tags)) or '(none)'}")
    if failed:
        sys.exit(1)


def _split_refs(ctx: Context, args: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(item refs, the rest): the first argument, then every following full id or item URL."""
    from ..web.urls import item_id

    refs = [args[0]]
    for n, value in enumerate(args[1:], start=1):
        is_full_id = len(value) == len(item_id("https://x.org/")) and all(c in "0123456789abcdef" for c in value)
        if is_full_id or "://" in value:
            refs.append(value)
            continue
        return refs, list(args[n:])
    return refs, []


@main.command()
@click.argument("refs", nargs=-1, required=True, metavar="ID...")
@click.option("--force", is_flag=True, help="Remove items published in an issue without asking.")
@pass_ctx
@handles_errors
def rm(ctx: Context, refs: tuple[str, ...], force: bool) -> None:
    """Remove items from the catalog (their files are deleted; git keeps the history).

    An item published in an issue is what that issue links: removing it asks first (or needs --force).
    """
    failed = False
    for ref in refs:
        try:
            item = ctx.catalog.get(ref)
            if item.status == "published" and not force and not _confirm_published(item):
                echo(f"error: {item.id} is published in issue {item.issue}; kept (use --force to remove it)",
                     err=True)
                failed = True
                continue
            item = ctx.catalog.remove(item.id)
        except NewsletterError as exc:
            echo(f"error: {one_line(ref)}: {one_line(exc)}", err=True)
            failed = True
            continue
        echo(f"removed {item.id}  {one_line(item.display_title())}")
    if failed:
        sys.exit(1)


def _confirm_published(item: Any) -> bool:
    """Ask before removing a published item; without a terminal to ask, the answer is no."""
    if not sys.stdin.isatty():
        return False
    return click.confirm(f"{item.id} is published in issue {item.issue}; remove it anyway?", default=False,
                         err=True)


def _item_line(item: Any, score: float | None = None, *, keyword: bool = False) -> str:
    """One result line: id, score (and "kw" for a keyword match), kind, date, title, its issue."""
    date = item.published or item.added[:10] or "----------"
    issue = f"  (issue {item.issue})" if item.issue else ""
    shown = (f"{score:.3f} " + ("kw " if keyword else "   ")) if score is not None else ""
    return f"{item.id}  {shown}{item.kind:<7} {one_line(date):<10}  {one_line(item.display_title())}{issue}"


def _matches_json(pairs: list[tuple[Any, float]]) -> list[dict[str, Any]]:
    """Ranked items as `--json` matches: the full item object and its score, best first."""
    return [{"score": score, "item": envelope.item_json(item)} for item, score in pairs]


@main.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 500), default=10, show_default=True, help="At most this many results.")
@click.option("--kind", type=click.Choice(KIND_CHOICES))
@click.option("--since", default=None, metavar="YYYY-MM-DD", help="Only items published on or after this date.")
@click.option("--min-score", "min_score", type=click.FloatRange(-1.0, 1.0), default=None,
              help="Drop results whose meaning is further than this from the query (cosine; default 0.2; "
                   "keyword matches always stay; 0 keeps all).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handles_errors
def search(ctx: Context, query: str, k: int, kind: str | None, since: str | None, min_score: float | None,
           as_json: bool) -> None:
    """Search the catalog by meaning and by exact words (names like "hnswlib" too).

    Each result shows its score: the cosine between the query and the item (1 is the same
    meaning), and "kw" when the words themselves matched. Weak results are dropped, and the
    command says how many.
    """
    from ..models import parse_date

    query_text(query)
    if since and parse_date(since) is None:
        fail(f"--since must be a date like 2025-01-31, got {since!r}", 2)
    found, dropped = ctx.catalog.search_with_floor(query, k=k, kind=kind, since=parse_date(since) if since else None,
                                                   floor=min_score)
    if as_json:
        emit_json({"query": query, "dropped": dropped, "matches": [
            {"score": scored.cosine, "keyword": scored.keyword, "item": envelope.item_json(item)}
            for item, scored in found
        ]})
        return
    for item, scored in found:
        echo(_item_line(item, scored.cosine, keyword=scored.keyword))
    if dropped:
        from ..semantic.relevance import DEFAULT_FLOOR

        floor = f"{DEFAULT_FLOOR if min_score is None else min_score:g}"
        echo(f"{dropped} weaker result(s) below score {floor} left out (--min-score 0 shows them)", err=True)
    if not found:
        echo("no results", err=True)


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
        emit_json({"id": ctx.catalog.get(ref).id, "matches": _matches_json(found)})
        return
    for item, score in found:
        echo(_item_line(item, score))


@main.command()
@click.option("--threshold", type=float, default=None,
              help="Pair score needed to call two items duplicates (default: tuned on the dev set).")
@click.option("--explain", is_flag=True, help="Show, per pair, the signals that decided it and their weight.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handles_errors
def dupes(ctx: Context, threshold: float | None, explain: bool, as_json: bool) -> None:
    """Groups of near-duplicate items (the same work as paper, post, tweet, episode...)."""
    threshold = unit_interval(threshold, "--threshold")
    catalog = ctx.catalog
    with progress_bar("embedding", enabled=not as_json) as progress:
        catalog.sync_semantic(progress=progress)
    with progress_bar("comparing neighbours", enabled=not as_json) as progress:
        groups = catalog.duplicate_groups(threshold=threshold, explain=explain, progress=progress)
    items = catalog.snapshot().items
    if as_json:
        emit_json({"groups": [{**g, "items": [envelope.item_json(items[i]) for i in g["ids"]]} for g in groups]})
        return
    for number, group in enumerate(groups, 1):
        echo(f"group {number}  (score {group['score']:.2f})")
        for item_id in group["ids"]:
            echo(f"  {_item_line(items[item_id])}")
        if explain:
            from ..semantic.why import signal_line

            for pair in group["pairs"]:
                if "explain" in pair:
                    echo(f"    {pair['a']} ~ {pair['b']}  {pair['score']:.3f}: {signal_line(pair['explain'])}")
    echo(f"{len(groups)} group(s); merge with: newsletter merge KEEP DUP", err=True)


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
    echo(f"{summary['items']} items: {summary['embedded']} embedded, {summary['reused']} reused, "
         f"{summary['seconds']:.1f} s{rate}{healed}")


@main.command()
@click.argument("keep")
@click.argument("dup")
@pass_ctx
@handles_errors
def merge(ctx: Context, keep: str, dup: str) -> None:
    """Merge DUP into KEEP: tags and notes united, DUP's URL resolves to KEEP from now on."""
    kept, merged = ctx.catalog.merge(keep, dup)
    echo(f"merged {merged.id} into {kept.id}  {one_line(kept.display_title())}")


def _set_status_many(
    ctx: Context, refs: tuple[str, ...], status: str, as_json: bool, *, keep_published: bool = False,
) -> None:
    """Set one status on many items; each id succeeds or fails alone (exit 1 if any failed).

    `keep_published`: a published item fails instead (its issue number would be lost).
    """
    catalog = ctx.catalog
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for ref in refs:
        try:
            before = catalog.get(ref)
            if keep_published and before.status == "published":
                raise NewsletterError(f"{before.id} is published in issue {before.issue}; its status stays")
            item = catalog.set_status(ref, status)
        except NewsletterError as exc:
            errors.append(envelope.failure(ref, str(exc)))
            if not as_json:
                echo(f"error: {ref}: {exc}", err=True)
            continue
        outcome = "unchanged" if before.status == status else "changed"
        results.append(envelope.entry(ref, outcome, item))
        if not as_json:
            echo(f"{item.id}  {status:<11} {one_line(item.display_title())}")
    if as_json:
        emit_batch(results, errors, {
            "inputs": len(refs),
            "changed": sum(r["result"] == "changed" for r in results),
            "unchanged": sum(r["result"] == "unchanged" for r in results),
        })
    if errors:
        sys.exit(1)


@main.command()
@click.argument("refs", nargs=-1, required=True, metavar="ID...")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_ctx
@handles_errors
def shortlist(ctx: Context, refs: tuple[str, ...], as_json: bool) -> None:
    """Mark items as shortlisted: `draft` puts them first in their section of the next issue."""
    _set_status_many(ctx, refs, "shortlisted", as_json)


@main.command()
@click.argument("refs", nargs=-1, required=True, metavar="ID...")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_ctx
@handles_errors
def skip(ctx: Context, refs: tuple[str, ...], as_json: bool) -> None:
    """Mark items as skipped: they stay in the catalog but no draft offers them."""
    _set_status_many(ctx, refs, "skipped", as_json)


@main.command()
@click.argument("refs", nargs=-1, required=True, metavar="ID...")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_ctx
@handles_errors
def unskip(ctx: Context, refs: tuple[str, ...], as_json: bool) -> None:
    """Put skipped (or shortlisted) items back in the inbox, where the next draft can offer them."""
    _set_status_many(ctx, refs, "inbox", as_json, keep_published=True)


@main.command()
@click.option("--fix", is_flag=True, help="Reconcile what can be fixed (files that hold one id).")
@pass_ctx
@handles_errors
def doctor(ctx: Context, fix: bool) -> None:
    """Check the catalog's health: two files with one id (both editors added the same URL).

    With --fix each becomes one file, keeping both editors' tags and notes, the status by
    precedence (published > shortlisted > inbox > skipped). Exit 1 when problems remain.
    """
    report = ctx.catalog.doctor(fix=fix)
    if not report.same_id:
        echo("no problems")
        return
    for item_id, paths in report.same_id.items():
        state = "reconciled into " + paths[0] if item_id in report.fixed else "held by " + ", ".join(paths)
        echo(f"{item_id}  {len(paths)} files, one id: {state}")
    if not report.ok:
        fail("run `newsletter doctor --fix` to reconcile them")


from .sources import register_commands  # noqa: E402

register_commands(main)

from . import issues as cli_issues  # noqa: E402

main.add_command(cli_issues.draft)
main.add_command(cli_issues.review)
main.add_command(cli_issues.check)
main.add_command(cli_issues.publish)

from .site import register_commands as register_site_commands  # noqa: E402

register_site_commands(main)

from .mail import bounces, email, subscribers  # noqa: E402

main.add_command(email)
main.add_command(subscribers)
main.add_command(bounces)

__import__("newsletter.cli.server", fromlist=["register"]).register(main)
__import__("newsletter.cli.links", fromlist=["register"]).register(main)
__import__("newsletter.cli.media", fromlist=["register"]).register(main)
__import__("newsletter.cli.export", fromlist=["register"]).register(main)
__import__("newsletter.cli.inbox", fromlist=["register"]).register(main)
__import__("newsletter.cli.import_archive", fromlist=["register"]).register(main)

if __name__ == "__main__":  # pragma: no cover
    main()

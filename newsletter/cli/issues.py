"""CLI commands for issues: `draft`, `review`, `check`, `publish` (registered on `newsletter.cli.main`)."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..models import normalize_tag
from .args import issue_number, unit_interval
from .common import Context, echo, emit_json, fail, handles_errors, pass_ctx, progress_bar
from .terminal import one_line


def _date(value: str | None) -> str | None:
    from ..models import parse_date

    if value is None:
        return None
    parsed = parse_date(value)
    if parsed is None or len(value.strip()) != 10:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)")
    return parsed


def _engine(ctx: Context, *, sync: bool = False, show_progress: bool = False) -> Any:
    from ..issues import draft

    engine = draft.semantic_engine(ctx.catalog)
    if not sync:
        return engine
    # On a terminal the first sync of a big catalog embeds for minutes: show it, not a silent wait.
    with progress_bar("embedding", enabled=show_progress) as progress, ctx.catalog.store.locked():
        engine.sync(ctx.catalog.items(), progress=progress)
    return engine


@click.command()
@click.option("--issue", "number", type=int, default=None, help="Issue number (default: the open draft, or last + 1).")
@click.option("--title", default=None,
              help="The title, \"Issue #N: TITLE\" (default: \"Issue #N\"); the file name follows it until published.")
@click.option("--since", default=None, help="Only items added on or after this date (YYYY-MM-DD).")
@click.option("--max", "max_total", type=click.IntRange(min=1), default=None, help="At most N entries in all.")
@click.option("--date", default=None, help="The issue's date (default: today).")
@click.option("--update", is_flag=True, help="Add new items to an existing draft, keeping every edit.")
@click.option("-v", "--verbose", is_flag=True, help="List every item left out, with its reason.")
@click.option("--no-images", is_flag=True, help="Do not download feature items' images (none are shown).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handles_errors
def draft(
    ctx: Context, number: int | None, title: str | None, since: str | None, max_total: int | None,
    date: str | None, update: bool, verbose: bool, no_images: bool, as_json: bool,
) -> None:
    """Write the next issue's draft from the inbox and shortlist; print its path.

    A draft you have edited is never overwritten: `--update` adds the items that arrived since,
    each at the end of its section, and leaves your text as it is.
    """
    from ..issues import draft as drafting

    issue_number(number, "--issue")
    options = drafting.DraftOptions(
        issue=number, title=title, since=_date(since), max_total=max_total, date=_date(date), update=update,
        images=not no_images,
    )
    result = drafting.write_draft(ctx.catalog, options, engine=_engine(ctx))
    for problem in ctx.catalog.problems():  # an item file that cannot be read is left out: say which
        echo(f"warning: {problem}", err=True)
    for line in result.image_errors:
        echo(f"warning: image not shown: {line}", err=True)
    if as_json:
        emit_json({"issue": result.number, "path": str(result.path), "action": result.action,
                   "added": result.added, "left_out": result.left_out, "left_out_summary": result.summary,
                   "image_errors": result.image_errors})
        return
    # one line of counts by default: a long list per dropped item buries the path the curator needs
    for line in result.left_out if verbose else ():
        echo(line, err=True)
    if result.summary:
        echo(result.summary.replace(" (`newsletter draft -v` lists them)", "") if verbose else result.summary,
             err=True)
    if result.action == "unchanged":
        echo(f"no new items for issue {result.number}; {result.path} unchanged", err=True)
    elif result.action == "retitled":
        echo(f"issue {result.number} retitled; the rest of your text is as it was", err=True)
    elif result.action == "updated":
        echo(f"added {len(result.added)} item(s) to issue {result.number}", err=True)
    echo(str(result.path))


@click.command()
@click.option("--accept", is_flag=True, help="Accept every suggestion (at or above --min-confidence).")
@click.option("--reject", is_flag=True, help="Reject every suggestion (they are not offered again).")
@click.option("--tag", "only_tags", multiple=True, metavar="TAG",
              help="Only this suggested tag (repeatable): accept or reject single tags.")
@click.option("--item", "only_items", multiple=True, metavar="ID", help="Only this item's suggestions (repeatable).")
@click.option("--min-confidence", type=float, default=0.0, show_default=True)
@click.option("--stats", is_flag=True, help="How often suggestions were accepted as offered, per week and per tag.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handles_errors
def review(ctx: Context, accept: bool, reject: bool, only_tags: tuple[str, ...], only_items: tuple[str, ...],
           min_confidence: float, stats: bool, as_json: bool) -> None:
    """Review tag and section suggestions for unlabelled items (from their nearest labelled neighbours).

    On a terminal: y accepts, n rejects, p picks tag by tag, a accepts this and all the rest, q
    stops. Without a terminal, `--accept` or `--reject` decide for all (narrowed by `--tag` and
    `--item`); with neither, the suggestions are listed. Every decision is kept in the item's file,
    so a rejected value is not offered again, to either editor.
    """
    from ..issues import suggest

    if accept and reject:
        fail("--accept and --reject exclude each other", 2)
    unit_interval(min_confidence, "--min-confidence")
    catalog = ctx.catalog
    if stats:
        _review_stats(catalog.review_stats(), as_json)
        return
    # One sync, inside `suggestions` (under the semantic lock, not the writer lock).
    with progress_bar("embedding", enabled=not as_json) as progress:
        found = catalog.suggestions(min_confidence=min_confidence, engine=_engine(ctx), progress=progress)
    found = suggest.narrow(found, tags=[normalize_tag(t) for t in only_tags], items=only_items)
    decisions: list[suggest.Decision] = []
    if accept or reject:
        decisions = [suggest.Decision(s, list(s.values) if accept else []) for s in found]
    elif sys.stdin.isatty() and not as_json:
        decisions = _prompt_loop(found)
    changed = catalog.review(decisions)
    accepted = sum(1 for d in decisions if d.accepted)
    rejected = len(decisions) - accepted
    if as_json:
        emit_json({"suggestions": [s.to_json() for s in found], "accepted": accepted,
                   "rejected": rejected, "changed": changed})
        return
    if not accept and not reject and not sys.stdin.isatty():
        for s in found:
            echo(f"{s.item_id}  {s.field:<7} {', '.join(s.values):<40} {s.confidence:.2f}  {one_line(s.title)[:60]}")
        echo(f"{len(found)} suggestion(s); `newsletter review --accept` or `--reject` to decide "
             "(`--tag T` / `--item ID` for single ones)", err=True)
        return
    if not found and not accept and not reject:
        echo("no suggestions: every item has tags and a section, or nothing labelled is near it")
        return
    echo(f"accepted {accepted}, rejected {rejected}, {changed} item(s) changed")


def _review_stats(stats: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(stats)
        return
    total = stats["total"]
    if not total["decided"]:
        echo("no review decisions yet: `newsletter review` records each one in the item's file")
        return
    echo(f"{total['decided']} suggestion(s) decided: {total['as_offered']} accepted as offered, "
         f"{total['partly']} in part, {total['rejected']} rejected ({total['accepted_as_offered']:.0%} as offered)")
    echo("")
    echo(f"{'week':<10} {'decided':>7} {'as offered':>10} {'in part':>7} {'rejected':>8} {'share':>6}")
    for w in stats["weeks"]:
        echo(f"{w['week']:<10} {w['decided']:>7} {w['as_offered']:>10} {w['partly']:>7} {w['rejected']:>8} "
             f"{w['accepted_as_offered']:>6.0%}")
    if stats["tags"]:
        echo("")
        echo(f"{'tag':<30} {'offered':>7} {'accepted':>8} {'share':>6}")
        for t in stats["tags"]:
            echo(f"{one_line(t['tag'])[:30]:<30} {t['offered']:>7} {t['accepted']:>8} {t['acceptance']:>6.0%}")


def _prompt_loop(found: list[Any]) -> list[Any]:
    """Ask about each suggestion; Ctrl-D or Ctrl-C stops like `q`, keeping the answers already given."""
    from ..issues.suggest import Decision

    decisions: list[Decision] = []
    try:
        for n, s in enumerate(found):
            echo(f"\n{one_line(s.title)}\n  {s.field}: {', '.join(s.values)}  (confidence {s.confidence:.2f})")
            several = len(s.values) > 1
            answer = click.prompt(
                "  accept? [y]es [n]o " + ("[p]ick " if several else "") + "[a]ll [q]uit",
                type=click.Choice(list("ynpaq" if several else "ynaq")), show_choices=False,
            )
            if answer == "y":
                decisions.append(Decision(s, list(s.values)))
            elif answer == "n":
                decisions.append(Decision(s, []))
            elif answer == "p":
                picked = [v for v in s.values
                          if click.prompt(f"    {one_line(v)}? [y/n]", type=click.Choice(["y", "n"]),
                                          show_choices=False) == "y"]
                decisions.append(Decision(s, picked))
            elif answer == "a":
                decisions.extend(Decision(rest, list(rest.values)) for rest in found[n:])
                break
            else:
                break
    except click.Abort:  # EOF or interrupt inside the prompt: a curator's earlier answers still count
        echo("")
        echo("stopped; keeping the answers given so far", err=True)
    return decisions


@click.command()
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-semantic", is_flag=True, help="Skip the near-duplicate check (no embeddings).")
@pass_ctx
@handles_errors
def check(ctx: Context, number: int, as_json: bool, no_semantic: bool) -> None:
    """Report problems in issue NUMBER before publishing (exit 1 if there are any)."""
    from ..issues import publish as publishing

    issue_number(number, "NUMBER")
    engine = None
    if not no_semantic:
        engine = _engine(ctx, sync=True)
    problems = publishing.check(ctx.catalog, number, engine=engine)
    if as_json:
        emit_json({"issue": number, "ok": not problems, "problems": [p.to_json() for p in problems]})
    else:
        for p in problems:  # findings are the command's output (stdout), not diagnostics
            echo(f"line {p.line}: {p.kind}: {p.message}")
        if not problems:
            echo(f"issue {number}: no problems")
    if problems:
        sys.exit(1)


@click.command()
@click.argument("number", type=int)
@click.option("--date", default=None, help="The publication date (default: today).")
@click.option("--to", "platform", type=click.Choice(["listmonk", "buttondown", "ghost"]), default=None,
              help="Also hand the issue to this mail platform (credentials from the environment).")
@click.option("--draft", "as_draft", is_flag=True, help="With --to: create it there as a draft only.")
@click.option("--at", "send_at", default=None, metavar="ISO-TIME", help="With --to: schedule the send.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handles_errors
def publish(ctx: Context, number: int, date: str | None, platform: str | None, as_draft: bool,
            send_at: str | None, as_json: bool) -> None:
    """Mark every catalog item linked from issue NUMBER as published in it (idempotent).

    With --to, the issue is first created on (or, on a rerun, updated at) a mail platform; --draft
    leaves it a draft there and marks nothing here yet, --at schedules it, neither sends it now.
    """
    from ..issues import publish as publishing

    issue_number(number, "NUMBER")
    remote = None
    if platform is None and (as_draft or send_at):
        raise click.UsageError("--draft and --at go with --to PLATFORM")
    if platform is not None:
        from ..platforms.handoff import parse_at
        from .platform import hand_off

        if as_draft and send_at:
            raise click.UsageError("choose one of --draft and --at")
        at = parse_at(send_at) if send_at else None
        remote = hand_off(ctx, number, platform, as_draft, at, as_json)
        if as_draft:
            return
        if at is not None and not date:  # a scheduled issue is published on the day it goes out
            date = at.date().isoformat()
    result = publishing.publish(ctx.catalog, number, date=_date(date))
    if as_json:
        data = result.to_json()
        number = data.pop("number")  # `issue` everywhere (draft, check, email) means the issue number
        emit_json({"issue": number, **data, **({"remote": remote.to_json()} if remote else {})})
        return
    for url in result.unmatched:
        echo(f"note: not in the catalog, left as a plain link: {url}", err=True)
    if result.elsewhere:
        earlier = ", ".join(f"#{n}" for n in sorted({n for _, n in result.elsewhere}))
        echo(f"note: {len(result.elsewhere)} linked item(s) stay published in earlier issues ({earlier})",
                   err=True)
    if not result.changed:
        echo(f"issue {number} is already published; nothing changed")
        return
    echo(f"published issue {number}: {len(result.marked)} item(s) marked, {len(result.already)} already marked")

"""`newsletter links check|archive [N | --all]`: thin commands over `Catalog.check_links` / `archive_links`."""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from .common import Context, echo, emit_json, fail, handles_errors, pass_ctx, progress_bar


def _which(number: int | None, all_issues: bool) -> int | None:
    if (number is None) == (not all_issues):
        fail("give an issue NUMBER or --all (every published issue), not both", 2)
    return number


def _cell(text: str, width: int) -> str:
    # Page-controlled text (titles in reasons, redirect targets): no newlines, tabs or terminal escapes.
    text = " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", " ", str(text)).split())
    return text if len(text) <= width else text[: width - 1] + "…"


@click.group("links")
def links() -> None:
    """Link health: check the links of the issues, keep Wayback Machine snapshots of them."""


@links.command("check")
@click.argument("number", type=int, required=False)
@click.option("--all", "all_issues", is_flag=True, help="Check the links of every published issue.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_ctx
@handles_errors
def check(ctx: Context, number: int | None, all_issues: bool, as_json: bool) -> None:
    """Check every link of issue NUMBER (or --all): exit 1 when any is dead.

    HEAD first, GET where HEAD is refused; soft 404s (a "not found" page answered with 200, or a deep
    link sent to the front page) count as dead. Dead catalog items are marked (`dead_since`), so the
    site shows their snapshot and `email` refuses the issue until they are fixed or --force is given.
    """
    which = _which(number, all_issues)
    with progress_bar("checking links", enabled=not as_json) as progress:
        results = ctx.catalog.check_links(which, progress=progress)
    counts = {v: sum(r.verdict == v for r in results) for v in ("ok", "moved", "dead", "blocked", "error")}
    if as_json:
        emit_json({"issue": which, "results": [r.to_json() for r in results], "totals": counts,
                   "checked": len(results)})
    else:
        for r in results:
            shown = r.reason if r.verdict != "ok" else (f"HTTP {r.status}" if r.status else "")
            echo(f"{r.verdict:<7} {r.status or '-'!s:>3}  {_cell(r.url, 70):<70}  {_cell(shown, 80)}")
        summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no links"
        echo(f"{len(results)} link(s): {summary}", err=True)
    if counts["dead"]:
        sys.exit(1)


@links.command("archive")
@click.argument("number", type=int, required=False)
@click.option("--all", "all_issues", is_flag=True, help="Archive the links of every published issue.")
@click.option("--force", is_flag=True, help="Ask for a new snapshot even where a recent one exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_ctx
@handles_errors
def archive(ctx: Context, number: int | None, all_issues: bool, force: bool, as_json: bool) -> None:
    """Ask the Wayback Machine to snapshot the links of issue NUMBER (or --all) without a recent one.

    Save Page Now allows a few captures a minute: requests are paced ([links] archive_interval in
    newsletter.toml, seconds) and back off on 429. The snapshot URL and time go into the item.
    """
    which = _which(number, all_issues)

    def report(result: Any) -> None:
        if as_json:
            return
        if result.result in ("archived", "recent"):
            echo(f"{result.result:<9} {_cell(result.url, 70)}  {result.archived_url}")
        else:
            echo(f"{result.result:<9} {_cell(result.url, 70)}  {_cell(result.reason, 100)}", err=True)
        sys.stdout.flush()

    results = ctx.catalog.archive_links(which, force=force, on_result=report)
    counts = {k: sum(r.result == k for r in results) for k in ("archived", "recent", "failed", "not-tried")}
    if as_json:
        emit_json({"issue": which, "results": [r.to_json() for r in results], "totals": counts})
    else:
        echo(", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no links", err=True)
    if counts["failed"] or counts["not-tried"]:
        sys.exit(1)


def register(main: click.Group) -> None:
    """Add the `links` group to the root command."""
    main.add_command(links)

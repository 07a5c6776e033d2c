"""`links check` and `links archive` over a catalog: pick the links, fetch (no lock), record (under it).

The verbs the `Catalog` facade exposes. Fetching happens before the writer lock is taken; the
results go to the derived results file and, for catalog items, into the item files through
`catalog.modify_many` (re-read under the lock, so a `git pull` meanwhile is never reverted).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from ..errors import ProjectError
from ..models import Item, Progress
from . import archive as wayback
from .check import LinkResult, check_urls
from .state import LinkState
from .targets import Target, issue_targets


@dataclasses.dataclass(frozen=True)
class LinkSettings:
    """The `[links]` table of newsletter.toml."""

    archive_interval: float = wayback.Pacing.interval
    archive_backoff: float = wayback.Pacing.backoff
    archive_attempts: int = wayback.Pacing.max_attempts
    archive_max_age_days: int = 180  # a snapshot younger than this is recent enough

    @classmethod
    def from_settings(cls, settings: Any) -> LinkSettings:
        table = settings.raw.get("links", {})
        if not isinstance(table, dict):
            raise ProjectError("newsletter.toml: [links] must be a table")
        try:
            return cls(
                archive_interval=max(0.0, float(table.get("archive_interval", cls.archive_interval))),
                archive_backoff=max(0.0, float(table.get("archive_backoff", cls.archive_backoff))),
                archive_attempts=max(1, int(table.get("archive_attempts", cls.archive_attempts))),
                archive_max_age_days=max(0, int(table.get("archive_max_age_days", cls.archive_max_age_days))),
            )
        except (TypeError, ValueError) as exc:
            raise ProjectError(f"newsletter.toml: [links]: invalid value ({exc})") from None

    @property
    def pacing(self) -> wayback.Pacing:
        return wayback.Pacing(self.archive_interval, self.archive_backoff, self.archive_attempts)


def wayback_api(settings: Any) -> str:
    """The Save Page Now endpoint: NEWSLETTER_WAYBACK_API, else [endpoints] wayback_api, else the public one."""
    return str(settings.endpoint("wayback_api"))


def _targets(catalog: Any, number: int | None) -> tuple[list[Target], dict[str, Item]]:
    items = catalog.snapshot(refresh=True).items
    return issue_targets(catalog.settings, items, number), items


def check(catalog: Any, number: int | None, *, progress: Progress | None = None) -> list[LinkResult]:
    """Check every link of issue `number` (None: of every published issue) and record the verdicts."""
    targets, _items = _targets(catalog, number)
    done = [0]

    def on_done(_i: int, _r: object) -> None:
        done[0] += 1
        if progress:
            progress(done[0], len(targets))

    results = check_urls([t.url for t in targets], settings=catalog.fetch_settings(), on_done=on_done)
    for target, result in zip(targets, results, strict=True):
        result.issues, result.item = list(target.issues), target.item
    verdicts: dict[str, LinkResult] = {}
    for result in results:
        if result.item and result.verdict in ("ok", "moved", "dead"):
            # An item linked twice (two spellings) is dead only if every spelling is.
            prior = verdicts.get(result.item)
            if prior is None or (prior.dead and not result.dead):
                verdicts[result.item] = result
    today = dt.date.today().isoformat()

    def mark(item: Item) -> Item | None:
        result = verdicts.get(item.id)
        if result is None:
            return None
        if result.dead:
            if item.extra.get("dead_since") and item.extra.get("dead_reason") == result.reason:
                return None
            item.extra.setdefault("dead_since", today)
            item.extra["dead_reason"] = result.reason
            return item
        if "dead_since" not in item.extra and "dead_reason" not in item.extra:
            return None
        item.extra.pop("dead_since", None)
        item.extra.pop("dead_reason", None)
        return item

    with catalog.writing():
        LinkState(catalog.settings.derived_dir).save({r.url: _stored(r) for r in results})
        catalog.modify_many(list(verdicts), mark)
    return results


def _stored(result: LinkResult) -> dict[str, Any]:
    data = result.to_json()
    data.pop("url")
    return data


def _recent(stamp: str, max_age_days: int, now: dt.datetime) -> bool:
    try:
        when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return now - when < dt.timedelta(days=max_age_days)


def archive(catalog: Any, number: int | None, *, pacing: wayback.Pacing | None = None, force: bool = False,
            on_result: Callable[[wayback.ArchiveResult], None] | None = None) -> list[wayback.ArchiveResult]:
    """Ask Save Page Now for each link of issue `number` (None: every published issue) without a recent
    snapshot, and record `archived_url` / `archived_at` in its item (links outside the catalog: in the
    derived results file). With `force`, recent snapshots are renewed too."""
    options = LinkSettings.from_settings(catalog.settings)
    targets, items = _targets(catalog, number)
    stored = LinkState(catalog.settings.derived_dir).load()
    now = dt.datetime.now(dt.UTC)
    results: list[wayback.ArchiveResult] = []
    todo: list[Target] = []
    for target in targets:
        item = items.get(target.item) if target.item else None
        known = str((item.extra.get("archived_at") if item else None) or stored.get(target.url, {}).get("archived_at")
                    or "")
        if known and not force and _recent(known, options.archive_max_age_days, now):
            snapshot = str((item.extra.get("archived_url") if item else None)
                           or stored.get(target.url, {}).get("archived_url") or "")
            result = wayback.ArchiveResult(target.url, "recent", snapshot, known, item=target.item)
            results.append(result)
            if on_result:
                on_result(result)
        else:
            todo.append(target)
    by_url = {t.url: t for t in todo}

    def done(result: wayback.ArchiveResult) -> None:
        result.item = by_url[result.url].item
        if on_result:
            on_result(result)

    fresh = wayback.archive_urls([t.url for t in todo], api=wayback_api(catalog.settings),
                                 pacing=pacing or options.pacing, settings=catalog.fetch_settings(), on_done=done)
    snapshots = {r.item: r for r in fresh if r.result == "archived" and r.item}

    def record(item: Item) -> Item | None:
        result = snapshots.get(item.id)
        if result is None:
            return None
        item.extra["archived_url"], item.extra["archived_at"] = result.archived_url, result.archived_at
        return item

    with catalog.writing():
        LinkState(catalog.settings.derived_dir).save(
            {r.url: {"archived_url": r.archived_url, "archived_at": r.archived_at} for r in fresh
             if r.result == "archived"})
        catalog.modify_many(list(snapshots), record)
    order = {t.url: n for n, t in enumerate(targets)}
    return sorted(results + fresh, key=lambda r: order.get(r.url, 0))

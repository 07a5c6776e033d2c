"""Pure decisions of a pull: which entries of a feed to take, the Item each becomes, where a feed moved.

Entries are known by `FeedEntry.key` (GUID, else link, else a hash), never by date, so a feed that
rewrites its dates or is re-added adds nothing twice. The first pull of a subscription takes only the
newest ``backlog`` entries and reports how many older ones it left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..models import Item
from .subscriptions import Subscription

if TYPE_CHECKING:
    from ..sources.feed import FeedEntry

DEFAULT_BACKLOG = 20  # entries taken from a new subscription's back-catalogue on its first pull
PERMANENT_REDIRECTS = (301, 308)


def plan_entries(
    entries: Sequence[FeedEntry], seen: set[str], *, first_pull: bool, backlog: int
) -> tuple[list[FeedEntry], list[FeedEntry]]:
    """Split a feed's unseen entries into (to take, left out).

    Only the first pull of a subscription is capped: it takes the ``backlog`` newest entries (by date when
    entries have one, else document order, which feeds keep newest first) and leaves the rest out.
    """
    fresh: list[FeedEntry] = []
    keys: set[str] = set()
    for entry in entries:
        if entry.key in seen or entry.key in keys:
            continue
        keys.add(entry.key)
        fresh.append(entry)
    if not first_pull or len(fresh) <= backlog:
        return fresh, []
    # A stable sort, newest first; undated entries keep their document order after the dated ones.
    newest = sorted(fresh, key=lambda e: e.metadata.published or "", reverse=True)
    return newest[: max(backlog, 0)], newest[max(backlog, 0) :]


def entry_url(entry: FeedEntry) -> str:
    """The URL an entry is cataloged under: its link, else (episodes) the audio file, else a URL-ish GUID."""
    if entry.link:
        return entry.link
    audio = entry.metadata.extra.get("audio_url")
    if audio:
        return str(audio)
    if entry.key.startswith(("http://", "https://")):
        return entry.key
    return ""


def entry_item(entry: FeedEntry, sub: Subscription) -> Item:
    """A new inbox Item from a feed entry's own metadata (no fetch). Raises ValueError when it has no URL.

    Kind: what the URL says (an arXiv link is a paper, a tweet a tweet), else what the feed says
    (an audio episode is a podcast), else the subscription's kind.
    """
    from ..ingest import route as ingest

    url = entry_url(entry)
    if not url:
        raise ValueError("the entry has no link, enclosure or URL GUID")
    prepared = ingest.prepare(url)
    meta = dataclasses.replace(entry.metadata, extra=dict(entry.metadata.extra))
    kind = prepared.info.kind or meta.kind or sub.kind
    if kind == "podcast" or meta.kind == "podcast":
        meta.extra["feed_url"] = sub.url
        meta.extra.setdefault("show", sub.title or meta.site)
    else:
        meta.extra["feed_url"] = sub.url  # provenance: which subscription brought it in
    return ingest.build_item(prepared, meta, ingest.AddOptions(kind=kind))


def permanent_move(url: str, redirects: Sequence[tuple[int, str]]) -> str | None:
    """Where a feed fetched from ``url`` now lives for good, from the response's redirect chain.

    Only the leading permanent hops count: ``301 → 302 → 200`` moved the feed to the 301's target, while
    a temporary first hop means the subscription stays as it is.
    """
    moved = None
    for status, target in redirects:
        if status not in PERMANENT_REDIRECTS:
            break
        moved = target
    return moved if moved and moved != url else None

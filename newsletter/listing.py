"""Narrowing a list of items for `newsletter list`: dates, order, a limit (pure).

Kept apart from `Catalog.list` (which filters by kind, status and tag from the store) so the
query path stays as it is and this stays a plain function over the items it gets.
"""

from __future__ import annotations

from collections.abc import Sequence

from .models import Item

SORTS = ("added", "published", "title")


def narrow(
    items: Sequence[Item], *, since: str | None = None, until: str | None = None, sort: str = "added",
    limit: int | None = None,
) -> list[Item]:
    """Items added on or after `since` and on or before `until` (YYYY-MM-DD, inclusive), ordered, cut.

    `sort`: "added" (newest addition first), "published" (newest publication first, undated
    last), "title" (A to Z, case-insensitive). Ties keep the newest addition first.
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
    kept = [
        item for item in items
        if (not since or item.added[:10] >= since) and (not until or item.added[:10] <= until)
    ]
    kept.sort(key=lambda i: (i.added, i.id), reverse=True)  # the base order every sort refines
    if sort == "published":
        kept.sort(key=lambda i: i.published or "", reverse=True)  # stable: undated ("") sink last
    elif sort == "title":
        kept.sort(key=lambda i: i.display_title().casefold())
    return kept[:limit] if limit is not None else kept

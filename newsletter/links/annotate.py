"""What other stages read from link health: "(archived)" links for the site, dead links for `email`."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..config import Settings
from ..errors import NewsletterError
from ..models import Item
from ..store import identity
from .state import LinkState

_ANCHOR = re.compile(r"<a\b[^>]*?\bhref\s*=\s*(?:\"([^\"]*)\"|'([^']*)')[^>]*>.*?</a\s*>", re.I | re.S)
ARCHIVED_CLASS = "newsletter-archived"


def _safe_snapshot(url: str) -> bool:
    return url.lower().startswith(("https://", "http://")) and not any(c in url for c in "\"'<>\x00 \t\r\n")


def archived_links(items: Iterable[Item]) -> dict[str, str]:
    """identity key -> snapshot URL, for items whose last check found them dead and that have a snapshot."""
    out: dict[str, str] = {}
    for item in items:
        snapshot = str(item.extra.get("archived_url") or "")
        if item.extra.get("dead_since") and _safe_snapshot(snapshot):
            for key in identity.identity_keys(item):
                out.setdefault(key, snapshot)
    return out


def annotate_html(page: str, archived: Mapping[str, str]) -> str:
    """Add ` (archived)` after every link of `page` (sanitized HTML) whose target is in `archived`.

    The snapshot URL is checked (http(s), no quotes or spaces) and escaped before it is written.
    """
    if not archived:
        return page

    def add(match: re.Match[str]) -> str:
        href = html.unescape(match.group(1) if match.group(1) is not None else match.group(2))
        snapshot = identity.find_existing(archived, href)  # keyed like the catalog's URL identities
        if not snapshot:
            return match.group(0)
        return (f'{match.group(0)} <a class="{ARCHIVED_CLASS}" href="{html.escape(snapshot, quote=True)}" '
                f'title="Snapshot in the Internet Archive">(archived)</a>')

    return _ANCHOR.sub(add, page)


def dead_links(derived_dir: Path, link_urls: Iterable[str], items: Iterable[Item]) -> list[tuple[str, str]]:
    """(url, reason) for each of `link_urls` whose last check found it dead (the item's mark or the
    derived results file, whichever says so)."""
    items = list(items)
    index = identity.identity_index(items)
    by_id = {item.id: item for item in items}
    results = LinkState(derived_dir).results()
    out: list[tuple[str, str]] = []
    for url in dict.fromkeys(link_urls):
        found = identity.find_existing(index, url)
        item = by_id.get(found) if found else None
        if item is not None and item.extra.get("dead_since"):
            out.append((url, str(item.extra.get("dead_reason") or "dead at the last check")))
        elif url in results and results[url].dead:
            out.append((url, results[url].reason or "dead at the last check"))
    return out


class DeadLinks(NewsletterError):
    """An issue about to be mailed links pages the last check found dead."""


def refuse_dead_links(settings: Settings, number: int) -> None:
    """Raise `DeadLinks` when issue `number` links a page its last `links check` found dead.

    Mail cannot be recalled: a dead link in an archive page can be fixed tomorrow, in 10,000 inboxes
    it cannot. `email --force` skips this.
    """
    from ..issues.files import find_issue, link_urls
    from ..store import Store

    issue = find_issue(settings.issues_dir, number)
    store = Store(settings.catalog_dir, settings.derived_dir)
    try:
        items = list(store.load().items.values())
    finally:
        store.close()
    dead = dead_links(settings.derived_dir, link_urls(issue.body), items)
    if dead:
        url, reason = dead[0]
        more = f" and {len(dead) - 1} more" if len(dead) > 1 else ""
        raise DeadLinks(f"issue {number} links {len(dead)} dead page(s): {url} ({reason}){more}; fix the links and "
                        f"run `newsletter links check {number}` again, or pass --force to send anyway")

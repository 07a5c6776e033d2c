"""Exact identity: which catalog item a URL already stands for.

Every URL an item is known by (its input URL, canonical URL, the page's declared canonical,
merged duplicates' URLs in ``aliases``) maps to its id, scheme-less, so http/https, tracking
parameters, arXiv versions, x.com/twitter.com and the like never make a second item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ..models import Item
from ..web import urls


def identity_keys(item: Item) -> set[str]:
    """Every identity under which an item is known (scheme-less canonical forms)."""
    keys = set()
    for candidate in (item.canonical_url, item.url, *item.aliases):
        try:
            keys.add(urls.identity_key(urls.canonicalize(candidate)))
        except ValueError:
            continue
    return keys


def identity_index(items: Iterable[Item]) -> dict[str, str]:
    """identity key -> item id, for exact dedupe. Items merged into others resolve to the keeper."""
    index: dict[str, str] = {}
    for item in items:
        target = item.duplicate_of or item.id
        for key in identity_keys(item):
            index.setdefault(key, target)
    return index


def find_existing(index: Mapping[str, str], *candidate_urls: str) -> str | None:
    """The id of the catalog item any of these URLs already identifies, if one does."""
    for candidate in candidate_urls:
        if not candidate:
            continue
        try:
            key = urls.identity_key(urls.canonicalize(candidate))
        except ValueError:
            continue
        if key in index:
            return index[key]
    return None


def resolve_urls(items: Iterable[Item], candidate_urls: Sequence[str]) -> list[str | None]:
    """For each URL, the id of the item it identifies among `items` (None where none): one index built."""
    index = identity_index(items)
    return [find_existing(index, url) for url in candidate_urls]

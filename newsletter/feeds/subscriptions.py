"""Feed subscriptions: ``feeds.yaml`` (the shared truth) and feed autodiscovery on HTML pages. Pure.

``<project>/feeds.yaml`` says which feeds the newsletter follows (url, kind, title, added, and ``gone``
once a feed answered 410). Curators share it through git; `Feeds` writes it atomically, under the
catalog lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import yaml

from ..errors import ProjectError
from ..web import urls

FEEDS_FILE = "feeds.yaml"
FEED_KINDS = ("podcast", "link")
_HEADER = "# Feed subscriptions of this newsletter: `newsletter feeds add/rm` edit this file, `feeds pull` reads it.\n"
_FEED_LINK_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/rdf+xml")

# The C (libyaml) safe loader/dumper is ~10x faster: it matters at a few hundred subscriptions.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# --------------------------------------------------------------------------- subscriptions (feeds.yaml)


@dataclasses.dataclass
class Subscription:
    """One followed feed. ``extra`` keeps keys a curator added by hand, so they survive rewrites."""

    url: str
    kind: str = "link"
    title: str = ""
    added: str = ""
    gone: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> str:
        return feed_key(self.url)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"url": self.url, "kind": self.kind, "title": self.title, "added": self.added}
        if self.gone:
            data["gone"] = self.gone
        return {**data, **{k: v for k, v in self.extra.items() if k not in data}}


def feed_key(url: str) -> str:
    """The identity of a feed URL: every spelling (http/https, www., tracking params) gives one key."""
    try:
        return urls.identity_key(urls.canonicalize(url))
    except ValueError:
        return url.strip()


def parse_subscriptions(text: str, *, source: str = FEEDS_FILE) -> list[Subscription]:
    """Read feeds.yaml text; raises ProjectError naming the problem (the file is hand-editable)."""
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise ProjectError(f"{source} is not valid YAML ({' '.join(str(exc).split())}); fix it and retry") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise ProjectError(f"{source} must be a list of feeds (- url: ...), got {type(data).__name__}")
    subs = []
    for number, entry in enumerate(data, start=1):
        if not isinstance(entry, dict) or not str(entry.get("url") or "").strip():
            raise ProjectError(f"{source}: entry {number} has no url; every feed needs `url: https://...`")
        kind = str(entry.get("kind") or "link")
        if kind not in FEED_KINDS:
            raise ProjectError(f"{source}: entry {number} has kind {kind!r}; use podcast or link")
        known = {"url", "kind", "title", "added", "gone"}
        subs.append(
            Subscription(
                url=str(entry["url"]).strip(),
                kind=kind,
                title=str(entry.get("title") or ""),
                added=str(entry.get("added") or ""),
                gone=str(entry["gone"]) if entry.get("gone") else None,
                extra={k: v for k, v in entry.items() if k not in known},
            )
        )
    return subs


def dump_subscriptions(subs: Sequence[Subscription]) -> str:
    """feeds.yaml text, sorted by URL so two curators' additions rarely touch the same lines."""
    ordered = sorted(subs, key=lambda s: s.key)
    body = yaml.dump(
        [s.to_dict() for s in ordered], Dumper=_YAML_DUMPER, sort_keys=False, allow_unicode=True, width=110
    )
    return _HEADER + (body if ordered else "[]\n")


# --------------------------------------------------------------------------- feed autodiscovery (pure)


class _FeedLinks(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base":
            href = dict(attrs).get("href")
            if href:
                self.base = urljoin(self.base, href.strip())
        if tag not in ("link", "a"):
            return
        values = {k: (v or "").strip() for k, v in attrs}
        rels = values.get("rel", "").lower().split()
        kind = values.get("type", "").lower().split(";")[0].strip()
        href = values.get("href", "")
        if "alternate" in rels and kind in _FEED_LINK_TYPES and href:
            absolute = urljoin(self.base, href)
            if absolute not in self.links:
                self.links.append(absolute)


def discover_feed_links(html: str, base_url: str) -> list[str]:
    """Feed URLs a page advertises with ``<link rel="alternate" type="application/rss+xml" href>``, in order."""
    reader = _FeedLinks(base_url)
    with contextlib.suppress(Exception):  # html.parser is lenient; never let a hostile page crash us
        reader.feed(html[:500_000])
        reader.close()
    return [u for u in reader.links if u.startswith(("http://", "https://"))]

"""Parse a subscription feed (RSS 0.9x/1.0/2.0, Atom, JSON Feed; podcasts with iTunes tags) into entries.

Pure: bytes in, `ParsedFeed` out. XML goes through feedparser (lenient: a truncated download still
yields the entries before the cut, reported in ``warnings``); JSON Feed is read with ``json``.

Each entry gets a ``key`` that stays the same across pulls, so ``feeds pull`` can tell new entries from
seen ones even when a publisher rewrites dates: the GUID/id when there is one, else the link (lightly
normalized), else a hash of title + enclosure URL. Dates never enter the key.

An entry is a podcast episode (``Metadata.kind == "podcast"``) when it has an audio enclosure and the
feed is a podcast feed: it declares the iTunes or Podcasting 2.0 namespace, or at least half of its
entries carry audio. Other entries get ``kind=None``: ingest decides from the entry URL.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit
from xml.sax import SAXParseException

from newsletter.errors import SourceError
from newsletter.models import Metadata, parse_date
from newsletter.sources.text import clean_text, load_json, source_names, source_tags, source_url
from newsletter.text import KEY_MAX, SUMMARY_MAX, TITLE_MAX, clean_external

MAX_DURATION_S = 30 * 24 * 3600  # a longer "duration" is junk (and int() of 10k digits raises)

_PODCAST_NAMESPACES = (
    "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "https://podcastindex.org/namespace/1.0",
)
_AUDIO_EXTENSIONS = (".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wav", ".flac")
_HTML_START = re.compile(
    rb"^(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>])", re.IGNORECASE | re.DOTALL
)
_ALT_LINK = re.compile(rb"<link\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(rb"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_FEED_TYPES = (b"application/rss+xml", b"application/atom+xml", b"application/feed+json")
# A character reference to a surrogate (&#xD800;, &#55296;) is not XML; feedparser's lenient parser
# turns it into a lone surrogate and then fails encoding it. It becomes U+FFFD before parsing.
_SURROGATE_REF = re.compile(rb"&#(?:[xX]0*[dD][89a-fA-F][0-9a-fA-F]{2}|0*5[5-7][0-9]{3});")
_DURATION = re.compile(r"^(?:(\d{1,4}):)?(?:(\d{1,4}):)?(\d{1,9})(?:\.\d{0,9})?$")


@dataclass
class FeedEntry:
    """One entry of a feed: its stable key, what we learned about it, and its absolute link."""

    key: str
    metadata: Metadata
    link: str


@dataclass
class ParsedFeed:
    """A feed's own description plus its entries, in document order.

    ``warnings`` lists problems that did not stop parsing (truncated XML, a wrong declared encoding).
    """

    title: str
    site_url: str
    description: str
    image: str
    is_podcast: bool
    author: str
    entries: list[FeedEntry]
    warnings: list[str] = field(default_factory=list)


def parse_feed(data: bytes, *, url: str, content_type: str = "") -> ParsedFeed:
    """Parse feed bytes fetched from ``url`` (relative links resolve against it).

    Raises SourceError for empty bytes, an HTML page, or content that yields no feed at all.
    """
    body = _strip_leading(data)
    if not body:
        raise SourceError(f"{url} returned an empty body, not a feed: check the feed URL")
    if body[:1] in (b"{", b"[") or "json" in content_type.lower():
        return _parse_json_feed(body, url=url)
    if _HTML_START.match(body[:4096]):
        raise SourceError(_html_message(body, url))
    return _parse_xml_feed(body, url=url)


def parse_duration(value: Any) -> int | None:
    """Seconds from an itunes:duration ("1:02:03", "45:07", "3725", "1:02:03.5"); None for garbage."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value) if 0 <= value <= MAX_DURATION_S else None
    match = _DURATION.match(str(value).strip()[:40])
    if not match:
        return None
    hours_or_minutes, minutes, seconds = match.groups()
    parts = [int(p) for p in (hours_or_minutes, minutes, seconds) if p is not None]
    total = 0
    for part in parts:
        total = total * 60 + part
    return total if total <= MAX_DURATION_S else None


def entry_key(guid: str, link: str, title: str, enclosure: str) -> str:
    """The stable identity of an entry within its feed (never depends on dates).

    Cleaned like every string from outside (a lone surrogate in a GUID would make it unstorable) and
    capped at `KEY_MAX`; ordinary GUIDs and links come out unchanged.
    """
    guid = clean_external(guid, limit=KEY_MAX)
    if guid:
        return guid
    link = clean_external(link, limit=KEY_MAX)
    if link:
        return _normalize_link(link)
    raw = f"{title.strip()}\n{enclosure.strip()}"
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return f"sha256:{digest}"


# -- XML (feedparser) -------------------------------------------------------------------------------


def _parse_xml_feed(body: bytes, *, url: str) -> ParsedFeed:
    # application/xml without charset makes feedparser trust the XML declaration (RFC 3023). No
    # content-location: feedparser would then rewrite relative permalink GUIDs into URLs, and keys
    # would change whenever the feed moves. Relative URLs are resolved here (xml:base, then `url`).
    body = _SURROGATE_REF.sub(lambda m: b"&#xFFFD;" if _is_surrogate_ref(m.group()) else m.group(), body)
    import feedparser  # here, not at import: ~60 ms that commands which parse no feed never pay

    try:
        parsed = feedparser.parse(body, response_headers={"content-type": "application/xml"})
    except Exception as exc:  # a third-party parser on hostile bytes: whatever it raises, the feed is bad
        reason = f"the XML parser failed ({type(exc).__name__})"
        raise SourceError(f"{url} is not a valid RSS/Atom/JSON feed: {reason}") from None
    feed = parsed.get("feed", {})
    raw_entries = parsed.get("entries", [])
    reason = _bozo_reason(parsed)
    if not raw_entries and not feed.get("title"):
        raise SourceError(f"{url} is not a valid RSS/Atom/JSON feed: {reason or 'no feed elements found'}")
    warnings = [f"{url}: {reason}"] if reason else []
    # A truncated download can leave a last entry with nothing to identify it: drop it.
    kept = [e for e in raw_entries if any(e.get(k) for k in ("title", "link", "id", "summary", "links"))]
    if len(kept) < len(raw_entries):
        warnings.append(f"{url}: skipped {len(raw_entries) - len(kept)} empty entry(ies)")

    namespaces = set(parsed.get("namespaces", {}).values())
    audio = [_audio_enclosure(e, _base(e, url)) for e in kept]
    is_podcast = bool(namespaces.intersection(_PODCAST_NAMESPACES)) or _mostly_audio(audio)

    feed_base = _base(feed, url)
    show = _FeedInfo(
        url=url,
        title=clean_text(feed.get("title", ""), TITLE_MAX),
        image=source_url((feed.get("image") or {}).get("href", "") or feed.get("logo", ""), feed_base),
        authors=_author_names(feed),
        is_podcast=is_podcast,
    )
    return ParsedFeed(
        title=show.title,
        site_url=source_url(feed.get("link", ""), feed_base),
        description=clean_text(feed.get("subtitle", "") or feed.get("summary", ""), SUMMARY_MAX),
        image=show.image,
        is_podcast=is_podcast,
        author=", ".join(show.authors),
        entries=[_xml_entry(raw, audio_url, show) for raw, audio_url in zip(kept, audio, strict=True)],
        warnings=warnings,
    )


@dataclass
class _FeedInfo:
    """What entries inherit from their feed."""

    url: str
    title: str
    image: str
    authors: list[str]
    is_podcast: bool


def _xml_entry(raw: Any, audio_url: str, show: _FeedInfo) -> FeedEntry:
    base = _base(raw, show.url)
    link = _abs(base, raw.get("link", ""))
    guid = clean_external(raw.get("id", "") or "", limit=KEY_MAX)
    published = _struct_date(raw.get("published_parsed") or raw.get("updated_parsed"))
    if published is None:
        published = parse_date(raw.get("published") or raw.get("updated"))
    image = source_url((raw.get("image") or {}).get("href", ""), base)
    if not image:
        thumbs = raw.get("media_thumbnail") or []
        image = source_url(thumbs[0].get("url", ""), base) if thumbs else ""
    authors = _author_names(raw) or list(show.authors)
    summary = raw.get("summary", "") or _first_content(raw)
    if _ARXIV_LISTING.match(summary):
        # arXiv's listing feeds prefix every abstract with "arXiv:ID Announce Type: new Abstract:"
        # and put all authors, comma-separated, into one dc:creator.
        summary = _ARXIV_LISTING.sub("", summary, count=1)
        authors = source_names(name for joined in authors for name in joined.split(","))
    meta = Metadata(
        title=clean_text(raw.get("title", ""), TITLE_MAX),
        # feedparser files itunes:summary, description and content:encoded under "summary" (the
        # first one seen wins); "content" is the fallback for Atom entries with only <content>.
        summary=clean_text(summary, SUMMARY_MAX),
        # Atom semantics: an entry without its own author inherits the feed's (itunes:author for shows).
        authors=authors,
        published=published,
        site=show.title,
        image=image,
        suggested_tags=_tags(raw.get("tags") or []),
    )
    if show.is_podcast and audio_url:
        meta.kind = "podcast"
        meta.image = image or show.image
        duration = parse_duration(raw.get("itunes_duration"))
        meta.extra = _podcast_extra(show.title, audio_url, duration, link, guid, show.url)
    enclosure = audio_url or _any_enclosure(raw, base)
    return FeedEntry(key=entry_key(guid, link, raw.get("title", ""), enclosure), metadata=meta, link=link)


def _is_surrogate_ref(ref: bytes) -> bool:
    digits = ref[2:-1]
    value = int(digits[1:], 16) if digits[:1] in (b"x", b"X") else int(digits)
    return 0xD800 <= value <= 0xDFFF


def _bozo_reason(parsed: Any) -> str:
    if not parsed.get("bozo"):
        return ""
    exc = parsed.get("bozo_exception")
    text = " ".join(str(exc).split()) if exc is not None else "malformed feed"
    import feedparser

    if isinstance(exc, feedparser.CharacterEncodingOverride):
        return f"wrong declared encoding, decoded as {parsed.get('encoding', '?')}"
    if isinstance(exc, SAXParseException):
        return f"malformed or truncated XML at line {exc.getLineNumber()}: {exc.getMessage()}"
    return text or type(exc).__name__


def _base(obj: Any, feed_url: str) -> str:
    """The base URL in force for a feed or entry: its xml:base (itself maybe relative), else the feed URL."""
    for key in ("title_detail", "summary_detail", "subtitle_detail"):
        detail = obj.get(key) or {}
        if detail.get("base"):
            return _abs(feed_url, detail["base"])
    return feed_url


def _audio_enclosure(raw: Any, feed_url: str) -> str:
    for enc in _enclosures(raw):
        href = enc.get("href", "")
        kind = (enc.get("type") or "").lower()
        path = urlsplit(href).path.lower()
        if href and (kind.startswith("audio/") or (not kind and path.endswith(_AUDIO_EXTENSIONS))):
            return source_url(href, feed_url)
    return ""


def _any_enclosure(raw: Any, feed_url: str) -> str:
    for enc in _enclosures(raw):
        if enc.get("href"):
            return _abs(feed_url, enc["href"])
    return ""


def _enclosures(raw: Any) -> list[dict[str, str]]:
    return [link for link in raw.get("links") or [] if link.get("rel") == "enclosure"]


def _mostly_audio(audio: list[str]) -> bool:
    return bool(audio) and sum(1 for a in audio if a) * 2 >= len(audio)


def _first_content(raw: Any) -> str:
    content = raw.get("content") or []
    return content[0].get("value", "") if content else ""


_ARXIV_LISTING = re.compile(r"\s*arXiv:\S+\s+Announce Type:\s*[\w-]+\s*(?:Abstract:\s*)?", re.IGNORECASE)


def _author_names(obj: Any) -> list[str]:
    names = source_names(author.get("name", "") for author in obj.get("authors") or [] if isinstance(author, dict))
    if not names and obj.get("author"):
        names = source_names([obj["author"]])
    return names


def _tags(raw_tags: list[Any]) -> list[str]:
    terms = [tag.get("term") if isinstance(tag, dict) else tag for tag in raw_tags[:200]]
    return source_tags([str(t) for t in terms if t])


def _struct_date(value: time.struct_time | None) -> str | None:
    if not value:
        return None
    try:
        return dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC).date().isoformat()
    except (OverflowError, ValueError, OSError):
        return None


# -- JSON Feed --------------------------------------------------------------------------------------


def _parse_json_feed(body: bytes, *, url: str) -> ParsedFeed:
    doc = load_json(body, what=f"{url} is not a valid RSS/Atom/JSON feed")
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise SourceError(f"{url} is not a valid RSS/Atom/JSON feed: JSON without a jsonfeed.org version")
    raw_items = doc.get("items")
    items = [i for i in raw_items if isinstance(i, dict)] if isinstance(raw_items, list) else []
    title = clean_text(_str(doc.get("title")), TITLE_MAX)
    image = source_url(_str(doc.get("icon")) or _str(doc.get("favicon")), url)
    authors = _json_authors(doc)
    audio = [_json_audio(item, url) for item in items]
    is_podcast = _mostly_audio([a[0] for a in audio])
    entries = []
    for item, (audio_url, duration) in zip(items, audio, strict=True):
        link = _abs(url, _str(item.get("url")) or _str(item.get("external_url")))
        guid = clean_external(_str(item.get("id")), limit=KEY_MAX)
        date = parse_date(_str(item.get("date_published")) or _str(item.get("date_modified")))
        item_tags = item.get("tags")
        raw_tags = [t for t in (item_tags if isinstance(item_tags, list) else [])[:200] if isinstance(t, str)]
        meta = Metadata(
            title=clean_text(_str(item.get("title")), TITLE_MAX),
            summary=clean_text(
                _str(item.get("summary")) or _str(item.get("content_html")) or _str(item.get("content_text")),
                SUMMARY_MAX,
            ),
            authors=_json_authors(item) or authors,
            published=date,
            site=title,
            image=source_url(_str(item.get("image")) or _str(item.get("banner_image")), url),
            suggested_tags=_tags(raw_tags),
        )
        if is_podcast and audio_url:
            meta.kind = "podcast"
            meta.image = meta.image or image
            meta.extra = _podcast_extra(title, audio_url, duration, link, guid, url)
        key = entry_key(guid, link, _str(item.get("title")), audio_url)
        entries.append(FeedEntry(key=key, metadata=meta, link=link))
    return ParsedFeed(
        title=title,
        site_url=source_url(_str(doc.get("home_page_url")), url),
        description=clean_text(_str(doc.get("description")), SUMMARY_MAX),
        image=image,
        is_podcast=is_podcast,
        author=", ".join(authors),
        entries=entries,
    )


def _json_authors(obj: dict[str, Any]) -> list[str]:
    # JSON Feed 1.1 has "authors"; 1.0 had a single "author" object.
    raw = obj.get("authors")
    if not isinstance(raw, list):
        raw = [obj["author"]] if isinstance(obj.get("author"), dict) else []
    return source_names(_str(author.get("name")) for author in raw if isinstance(author, dict))


def _json_audio(item: dict[str, Any], feed_url: str) -> tuple[str, int | None]:
    for att in item.get("attachments") or []:
        if not isinstance(att, dict):
            continue
        href = _str(att.get("url"))
        kind = _str(att.get("mime_type")).lower()
        if href and (kind.startswith("audio/") or urlsplit(href).path.lower().endswith(_AUDIO_EXTENSIONS)):
            return source_url(href, feed_url), parse_duration(att.get("duration_in_seconds"))
    return "", None


# -- shared helpers ---------------------------------------------------------------------------------


def _podcast_extra(
    show: str, audio_url: str, duration: int | None, link: str, guid: str, feed_url: str
) -> dict[str, Any]:
    extra: dict[str, Any] = {"show": show, "audio_url": audio_url}  # both cleaned by the caller
    if duration is not None:
        extra["duration_s"] = duration
    if link:
        extra["episode_url"] = link
    if guid:
        extra["guid"] = guid
    extra["feed_url"] = feed_url
    return extra


def _strip_leading(data: bytes) -> bytes:
    # A BOM or blank lines before "<?xml" make expat reject the whole document.
    body = data
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    return body.lstrip(b" \t\r\n\x00")


def _html_message(body: bytes, url: str) -> str:
    for tag in _ALT_LINK.findall(body[:65536]):
        attrs = {m[0].lower(): (m[1] or m[2] or m[3]) for m in _ATTR.findall(tag)}
        if attrs.get(b"rel", b"").lower() == b"alternate" and attrs.get(b"type", b"").lower() in _FEED_TYPES:
            href = attrs.get(b"href", b"").decode("utf-8", errors="replace").strip()
            if href:
                return f"{url} is an HTML page, not a feed: its feed is at {_abs(url, href)}"
    return f"{url} is an HTML page, not a feed: use the page's RSS/Atom feed URL instead"


def _abs(base: str, href: str) -> str:
    href = (href or "").strip()
    if not href:
        return ""
    try:
        return urljoin(base, href)
    except ValueError:
        return href


def _normalize_link(link: str) -> str:
    """Lower-case scheme and host, drop the fragment and utm_* tracking so re-tagged links keep their key."""
    try:
        parts = urlsplit(link)
    except ValueError:
        return link
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.startswith("utm_")]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), ""))


def _str(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)



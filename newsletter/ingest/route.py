"""Ingest: turn what a curator typed (a URL, an arXiv id, a DOI) into a new `Item`.

Three steps, kept apart so each can be tested on its own:

1. `prepare` (pure): normalize and canonicalize the input, classify it.
2. `resolve` (I/O through the Fetcher): ask the right source (arXiv API, Crossref, oEmbed,
   GitHub API, or the page itself) and parse its answer into `Metadata`.
3. `build_item` (pure): merge metadata with the curator's options into an Item.

Exact dedupe (which URLs identify which item) lives in `newsletter.identity`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..config import Settings
from ..errors import SourceError
from ..models import IMPORTED_TAGS, KINDS, Item, Metadata, normalize_tag, now_timestamp, usable_tag
from ..sources import arxiv, crossref, feed, github, oembed, page
from ..text import (
    MAX_AUTHORS,
    NAME_MAX,
    NOTE_MAX,
    SUMMARY_MAX,
    TEXT_MAX,
    TITLE_MAX,
    URL_MAX,
    clean_external,
    replace_surrogates,
)
from ..web import public, urls

if TYPE_CHECKING:  # annotations only: the fetch layer (httpx, ~0.1 s) loads when a fetch happens
    from ..web.fetch import Fetcher, Response

log = logging.getLogger("newsletter")
MAX_LIST = 200  # entries kept in any list-valued kind-specific field (categories, links ...)

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/rdf+xml")


@dataclasses.dataclass
class AddOptions:
    """What the curator said on the command line about the inputs of one `add`."""

    kind: str | None = None
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str = ""
    title: str = ""
    summary: str = ""
    fetch: bool = True
    # The title the caller saw (a browser's document.title): used only when the page gives none or
    # cannot be fetched (X, paywalls, offline), never over what the page says.
    fallback_title: str = ""
    added_by: str = ""  # who captured it (an editor's name from `inbox serve`), kept as `added_by`
    # Tags an import file's structure gave (folders, headings): kept as `imported_tags`, see review.
    imported_tags: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        # The curator's tags are checked here, before anything is fetched: a too-long one is one
        # clear error (TagError), not the same failure repeated for every input.
        self.tags = [normalize_tag(tag) for tag in self.tags]
        self.imported_tags = [normalize_tag(tag) for tag in self.imported_tags]


@dataclasses.dataclass(frozen=True)
class Prepared:
    """An input that is a valid URL, canonicalized and classified."""

    input: str
    url: str
    info: urls.UrlInfo

    @property
    def canonical_url(self) -> str:
        return self.info.url


def prepare(raw: str) -> Prepared:
    """Normalize an input into a canonical URL; raises ValueError with a clear message."""
    text = raw.strip()
    if not text:
        raise ValueError("empty input")
    if len(text) > URL_MAX:
        raise ValueError(f"{len(text):,} characters long; at most {URL_MAX:,} are accepted")
    # Credentials never reach the catalog: the stored `url` is published (site, feeds, email).
    url = urls.strip_userinfo(urls.normalize_input(text))
    info = urls.classify(url)
    return Prepared(input=text, url=url, info=info)


async def resolve(fetcher: Fetcher, prepared: Prepared, settings: Settings, kind: str | None = None) -> Metadata:
    """Fetch and parse what the web knows about one prepared input."""
    info = prepared.info
    if info.arxiv_id:
        response = await fetcher.get(arxiv.query_url(settings.endpoint("arxiv_api"), [info.arxiv_id]))
        found = arxiv.parse_feed(response.content)
        meta = found.get(info.arxiv_id)
        if meta is None:
            raise SourceError(f"arXiv has no paper {info.arxiv_id}; check the id")
        return meta
    if info.doi:
        response = await fetcher.get(
            crossref.work_url(settings.endpoint("crossref_api"), info.doi),
            headers={"Accept": "application/json"},
        )
        return crossref.parse_work(response.content)
    special = await _resolve_special(fetcher, prepared, settings)
    if special is not None:
        return special
    response = await fetcher.get(prepared.url)
    return metadata_from_response(response, kind)


async def _resolve_special(fetcher: Fetcher, prepared: Prepared, settings: Settings) -> Metadata | None:
    """Tweets, YouTube videos and GitHub repos have APIs that know more than their pages."""
    info = prepared.info
    if info.tweet_id:
        api = oembed.tweet_oembed_url(settings.endpoint("twitter_oembed"), prepared.url)
        return oembed.parse_tweet_oembed((await fetcher.get(api)).content, status_url=prepared.url)
    if info.youtube_id:
        api = oembed.youtube_oembed_url(settings.endpoint("youtube_oembed"), info.url)
        return oembed.parse_youtube_oembed((await fetcher.get(api)).content, video_url=info.url)
    if info.github_repo:
        api = github.repo_api_url(settings.endpoint("github_api"), info.github_repo)
        response = await fetcher.get(api, headers={"Accept": "application/vnd.github+json"})
        return github.parse_repo(response.content)
    return None


def metadata_from_response(response: Response, kind: str | None = None) -> Metadata:
    """Parse a fetched page (or feed, or PDF) into Metadata."""
    ctype = response.content_type
    if ctype == "application/pdf" or response.content[:5] == b"%PDF-":
        name = PurePosixPath(urlsplit(response.final_url).path).name
        title = re.sub(r"[_-]+", " ", name.removesuffix(".pdf")).strip()
        return Metadata(kind=kind or "paper", title=title, extra={"pdf_url": response.final_url})
    head = response.content[:2048]
    looks_like_feed = ctype in ("application/xml", "text/xml") and b"<html" not in head.lower()
    if ctype in ("text/plain", "application/octet-stream"):
        # Feeds served with a generic type (static hosts, misconfigured servers): sniff the first bytes
        # for an XML feed root or a JSON Feed version, so they are not read as a page.
        start = head.removeprefix(b"\xef\xbb\xbf").lstrip()
        if start.startswith(b"<"):  # the root element, after the XML declaration, comments and doctype
            prolog = rb"(?:<\?[^>]*\?>|<!--.*?-->|<![^>]*>|\s)*"
            looks_like_feed = re.match(prolog + rb"<(?:rss|feed|rdf:RDF)[\s>]", start, re.S) is not None
        elif start.startswith(b"{"):
            looks_like_feed = re.search(rb'"version"\s*:\s*"https?://jsonfeed\.org/version/', start) is not None
    if ctype in FEED_TYPES or looks_like_feed:
        return _feed_metadata(response)
    if ctype and not (ctype.startswith("text/") or ctype in ("application/xhtml+xml", "")):
        raise SourceError(
            f"{response.final_url} is {ctype}, not a web page; add it with --no-fetch --title ... instead"
        )
    return page.parse_page(response.text, response.final_url)


def _feed_metadata(response: Response) -> Metadata:
    parsed = feed.parse_feed(response.content, url=response.final_url, content_type=response.content_type)
    extra = {"feed_url": response.final_url}
    return Metadata(
        kind="podcast" if parsed.is_podcast else "link",
        title=parsed.title,
        summary=parsed.description,
        authors=[parsed.author] if parsed.author else [],
        site=parsed.title,
        image=parsed.image,
        canonical_url=parsed.site_url if not parsed.is_podcast else "",
        extra={**extra, "show": parsed.title} if parsed.is_podcast else extra,
    )


def build_item(prepared: Prepared, meta: Metadata, options: AddOptions) -> Item:
    """Merge fetched metadata and the curator's options into a new inbox item (pure)."""
    canonical = prepared.canonical_url
    aliases: list[str] = []
    link = public.strip_tracking(prepared.url)  # what readers get: no tracking parameters
    declared = _usable_canonical(meta.canonical_url, prepared)
    if declared and declared != canonical:
        aliases.append(canonical)
        canonical = declared
    if declared:
        # the page's own word on its address wins over the URL it was fetched by
        link = urls.strip_userinfo(public.strip_tracking(meta.canonical_url.strip()))
    if prepared.url != link and prepared.url not in aliases:
        aliases.append(prepared.url)  # the URL as given stays an alias: it still finds the item
    kind = options.kind or meta.kind or prepared.info.kind or "link"
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    tags: list[str] = []
    for tag in [*options.tags, *meta.suggested_tags]:
        norm = usable_tag(replace_surrogates(tag))
        if norm and norm not in tags:
            tags.append(norm)
    # "feeds" (a page's advertised feeds) is a hint for the caller, not a property of the item
    extra = {k: v for k, v in meta.extra.items() if v not in (None, "", []) and k != "feeds"}
    if prepared.info.arxiv_id:
        extra.setdefault("arxiv_id", prepared.info.arxiv_id)
    if prepared.info.doi:
        extra.setdefault("doi", prepared.info.doi)
    if prepared.info.handle and kind == "tweet":
        extra.setdefault("handle", prepared.info.handle)
    # Sources clean what they parse; this is the last line of defence for every way in (add, import,
    # feeds): no lone surrogate reaches a file, and no URL field keeps a user:password@.
    extra = {k: _capped_extra(_without_userinfo(v)) for k, v in replace_surrogates(extra).items()}
    if options.added_by:
        extra["added_by"] = _capped(options.added_by, NAME_MAX, "added_by", prepared.url)
    imported = [t for t in dict.fromkeys(options.imported_tags) if t in tags]
    if imported:
        extra[IMPORTED_TAGS] = imported
    url = prepared.url
    image = _without_userinfo(replace_surrogates(meta.image))
    return Item(
        id=urls.item_id(canonical),
        kind=kind,
        url=link,
        canonical_url=canonical,
        title=_capped(options.title or meta.title or options.fallback_title, TITLE_MAX, "title", url),
        summary=_capped(options.summary or meta.summary, SUMMARY_MAX, "summary", url),
        authors=[_capped(a, NAME_MAX, "author", url) for a in _first(meta.authors, MAX_AUTHORS, "authors", url)],
        published=replace_surrogates(meta.published),
        site=_capped(meta.site or _site(prepared.url), TITLE_MAX, "site", url),
        image=image if isinstance(image, str) and len(image) <= URL_MAX else "",
        tags=tags,
        status="inbox",
        added=now_timestamp(),
        aliases=aliases,
        note=_capped(options.note, NOTE_MAX, "note", url, multiline=True),
        extra=extra,
    )


def _capped(value: object, limit: int, field: str, url: str, *, multiline: bool = False) -> str:
    """``value`` cleaned (`clean_external`) and at most ``limit`` characters; says so when it was cut.

    Sources cap what they parse; this catches every other way in (argv, import files, a future
    source) so no field from outside is stored uncapped, and the curator learns a value was shortened.
    """
    text = clean_external(value, limit=limit, multiline=multiline)
    raw = value if isinstance(value, str) else ("" if value is None else str(value))
    if len(raw.strip()) > limit:
        log.warning("note: %s: %s was %s characters; kept the first %s", url, field, f"{len(raw):,}", f"{limit:,}")
    return text


def _first(values: list[str], limit: int, field: str, url: str) -> list[str]:
    if len(values) > limit:
        log.warning("note: %s: kept the first %d of %d %s", url, limit, len(values), field)
    return list(values[:limit])


def _capped_extra(value: object) -> object:
    """A kind-specific value with every string at most `TEXT_MAX` and every list at most `MAX_LIST` long."""
    if isinstance(value, str):
        return value if len(value) <= TEXT_MAX else value[: TEXT_MAX - 1] + "…"
    if isinstance(value, list):
        return [_capped_extra(v) for v in value[:MAX_LIST]]
    return value


def _without_userinfo(value: Any) -> Any:
    """A URL-valued field without credentials; other values (and lists of them) unchanged."""
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return urls.strip_userinfo(value)
    if isinstance(value, list):
        return [_without_userinfo(v) for v in value]
    return value


def _usable_canonical(declared: str, prepared: Prepared) -> str | None:
    """A page's declared canonical URL, if it is trustworthy enough to be the item's identity.

    Pages often declare their home page (or another site) as canonical by mistake; accept only
    URLs on the same registrable domain that are not the bare root unless the input was the root too.
    """
    if not declared:
        return None
    try:
        canonical = urls.canonicalize(declared)
    except ValueError:
        return None
    # same registrable domain: amp./m. hosts of the site count, another site (or github.io user) does not
    if public.registrable_domain(canonical) != public.registrable_domain(prepared.canonical_url):
        return None
    if urlsplit(canonical).path in ("", "/") and urlsplit(prepared.canonical_url).path not in ("", "/"):
        return None
    return canonical


def _site(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")

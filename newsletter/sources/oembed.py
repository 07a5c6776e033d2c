"""Tweets and YouTube videos from their public oEmbed endpoints (no API keys needed).

Pure: the URL builders make the request URL, the parsers turn the JSON body into `Metadata`.

A tweet's oEmbed ``html`` is a ``<blockquote class="twitter-tweet">`` holding the text in ``<p>`` and a
trailer ``&mdash; Name (@handle) <a href=".../status/ID">March 1, 2024</a>``. We read it with
html.parser and keep only text: scripts, styles, images and attributes never come through.

Decisions:
- title is ``"<Name> on X: <first line of the text, cut at a word near 80 chars>"``.
- ``extra["links"]`` holds the http(s) links inside the tweet text except twitter.com / x.com ones
  (hashtag and mention links are navigation, not what the tweet points to); t.co links are kept as
  they are since they cannot be resolved offline; a ``pic.twitter.com`` media link is a t.co link too.
- several ``<p>`` (a conversation or thread) are all kept, in order, separated by a blank line;
  ``published`` is the last date in the markup (the tweet asked for comes last).
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urlsplit

from newsletter.errors import SourceError
from newsletter.models import Metadata
from newsletter.sources.text import clean_text, load_json, source_url
from newsletter.text import MAX_LINKS, NAME_MAX, SUMMARY_MAX, TEXT_MAX, TITLE_MAX, clean_external

TITLE_TEXT_CHARS = 80
MARKUP_MAX = 200_000  # a tweet's oEmbed html is a few KB; html.parser never sees more than this

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("january", "february", "march", "april", "may", "june", "july", "august", "september",
         "october", "november", "december"),
        start=1,
    )
}
_DATE = re.compile(r"^\s*([A-Za-z]+)\s+(\d{1,2}),\s*(\d{4})\s*$")
_HANDLE = re.compile(r"\(@(\w{1,50})\)")
# Tag-looking text (also escaped markup inside the tweet, once decoded) never reaches a catalog field.
_TAG_LIKE = re.compile(r"<[A-Za-z/!?][^>]*>")
_TWITTER_HOSTS = ("twitter.com", "x.com")


def tweet_oembed_url(api_base: str, status_url: str) -> str:
    """The oEmbed request URL for a tweet (no widget script, do-not-track)."""
    return _with_query(api_base, {"url": status_url, "omit_script": "1", "dnt": "true"})


def youtube_oembed_url(api_base: str, video_url: str) -> str:
    """The oEmbed request URL for a YouTube video, asking for JSON."""
    return _with_query(api_base, {"url": video_url, "format": "json"})


def parse_tweet_oembed(data: bytes, *, status_url: str) -> Metadata:
    """Metadata of a tweet from its oEmbed JSON (kind "tweet"). Raises SourceError on error bodies."""
    doc = _load(data, what="X (Twitter) oEmbed", url=status_url)
    markup = doc.get("html")
    if not isinstance(markup, str) or not markup.strip():
        raise SourceError(
            f"X (Twitter) oEmbed for {status_url} has no tweet HTML: the tweet may be deleted or private"
        )
    reader = _TweetReader()
    reader.feed(markup[:MARKUP_MAX])
    reader.close()

    text = _clean_block("\n\n".join(p for p in (_clean_block(p) for p in reader.paragraphs) if p), TEXT_MAX)
    trailer = " ".join(reader.trailer.split())
    name = clean_text(_str(doc.get("author_name")), NAME_MAX) or _name_from_trailer(trailer)
    handle = _handle(trailer, _str(doc.get("author_url")))
    links: list[str] = []
    for raw_href in reader.links:
        href = source_url(raw_href)  # no surrogates, no credentials, http(s) only
        if href and href not in links and _is_outbound(href) and len(links) < MAX_LINKS:
            links.append(href)

    extra: dict[str, Any] = {}
    if handle:
        extra["handle"] = handle
    extra["text"] = text
    extra["links"] = links
    return Metadata(
        kind="tweet",
        title=_tweet_title(name or (f"@{handle}" if handle else ""), text),
        summary=clean_text(text, SUMMARY_MAX),
        authors=[name] if name else [],
        published=_parse_tweet_date(reader.dates[-1]) if reader.dates else None,
        site="X (Twitter)",
        extra=extra,
    )


def parse_youtube_oembed(data: bytes, *, video_url: str) -> Metadata:
    """Metadata of a YouTube video from its oEmbed JSON (kind "video")."""
    doc = _load(data, what="YouTube oEmbed", url=video_url)
    title = clean_text(_str(doc.get("title")), TITLE_MAX)
    if not title:
        raise SourceError(f"YouTube oEmbed for {video_url} has no title: check that the video exists")
    channel = clean_text(_str(doc.get("author_name")), NAME_MAX)
    image = source_url(_str(doc.get("thumbnail_url")))
    return Metadata(
        kind="video",
        title=title,
        authors=[channel] if channel else [],
        site="YouTube",
        image=image,
        extra={"channel": channel} if channel else {},
    )


class _TweetReader(HTMLParser):
    """Collects the text of each <p>, the hrefs inside them, the trailer text and the date links."""

    _SKIP = frozenset({"script", "style", "template", "iframe", "noscript", "object", "svg"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.links: list[str] = []
        self.dates: list[str] = []
        self.trailer = ""
        self._para: list[str] | None = None
        self._skip = 0
        self._anchor: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif self._skip:
            return
        elif tag == "p":
            self._finish_paragraph()
            self._para = []
        elif tag == "br" and self._para is not None:
            self._para.append("\n")
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            if self._para is not None:
                if href.lower().startswith(("http://", "https://")):
                    self.links.append(href)
            else:
                self._anchor = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/> and other void tags: never count as opening a skipped block.
        if tag == "br" and not self._skip and self._para is not None:
            self._para.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif self._skip:
            return
        elif tag == "p":
            self._finish_paragraph()
        elif tag == "a" and self._anchor is not None:
            text = "".join(self._anchor).strip()
            if _DATE.match(text):
                self.dates.append(text)
            self._anchor = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._para is not None:
            self._para.append(data)
        elif self._anchor is not None:
            self._anchor.append(data)
        else:
            self.trailer += data

    def close(self) -> None:
        super().close()
        self._finish_paragraph()

    def _finish_paragraph(self) -> None:
        if self._para is not None:
            self.paragraphs.append("".join(self._para))
            self._para = None


def _tweet_title(name: str, text: str) -> str:
    first = " ".join(text.split("\n", 1)[0].split()) if text else ""
    if len(first) > TITLE_TEXT_CHARS:
        cut = first[:TITLE_TEXT_CHARS].rsplit(" ", 1)[0] or first[:TITLE_TEXT_CHARS]
        first = cut.rstrip(" ,;:-") + "\u2026"
    who = name or "Someone"
    return clean_text(f"{who} on X: {first}" if first else f"{who} on X", TITLE_MAX)


def _parse_tweet_date(text: str) -> str | None:
    match = _DATE.match(text)
    if not match:
        return None
    month = _MONTHS.get(match.group(1).lower())
    if month is None:
        return None
    try:
        return dt.date(int(match.group(3)), month, int(match.group(2))).isoformat()
    except ValueError:
        return None


def _handle(trailer: str, author_url: str) -> str:
    match = _HANDLE.search(trailer)
    if match:
        return match.group(1)
    path = urlsplit(author_url).path.strip("/") if author_url else ""
    return path.split("/")[0] if path and re.fullmatch(r"\w{1,50}", path.split("/")[0]) else ""


def _name_from_trailer(trailer: str) -> str:
    # "— Name (@handle)" -> "Name"
    before = trailer.split("(@", 1)[0] if "(@" in trailer else ""
    return clean_text(before.strip().lstrip("\u2014-").strip(), NAME_MAX)


def _is_outbound(href: str) -> bool:
    host = (urlsplit(href).hostname or "").lower()
    return not any(host == h or host.endswith("." + h) for h in _TWITTER_HOSTS)


def _load(data: bytes, *, what: str, url: str) -> dict[str, Any]:
    text = data.decode("utf-8", errors="replace").strip()
    try:
        doc = load_json(text, what=f"{what} for {url}")
    except SourceError:
        snippet = clean_text(text, 80) or "an empty body"
        raise SourceError(f"{what} for {url} did not return JSON (got {snippet!r}): check the URL") from None
    if not isinstance(doc, dict):
        raise SourceError(f"{what} for {url} returned unexpected JSON: expected an object")
    message = _error_message(doc)
    if message:
        raise SourceError(f"{what} for {url} failed: {message}")
    return doc


def _error_message(doc: dict[str, Any]) -> str:
    if isinstance(doc.get("errors"), list) and doc["errors"]:
        first = doc["errors"][0]
        return clean_text(_str(first.get("message") if isinstance(first, dict) else first), 300) or "error"
    if doc.get("error"):
        return clean_text(_str(doc["error"]), 300)
    if "html" not in doc and "title" not in doc and doc.get("message"):
        return clean_text(_str(doc["message"]), 300)
    return ""


def _with_query(api_base: str, params: dict[str, str]) -> str:
    sep = "&" if "?" in api_base else "?"
    return f"{api_base}{sep}{urlencode(params)}"



def _clean_block(value: str, max_len: int = TEXT_MAX) -> str:
    """Clean multi-line text: keeps line breaks (at most one blank line in a row), no tags."""
    value = clean_external(value, limit=max_len * 2 + 64, multiline=True)
    value = _TAG_LIKE.sub("", value) if "<" in value else value
    lines = [" ".join(line.split()) for line in value.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text if len(text) <= max_len else text[: max_len - 1].rstrip() + "\u2026"


def _str(value: Any) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value)

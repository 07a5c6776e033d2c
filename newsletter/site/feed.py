"""RSS 2.0 and Atom feeds of the published issues (pure: entries in, XML bytes out).

Written here rather than with mkdocs-rss-plugin: that plugin dates pages from git history (needs
GitPython and a repository, so builds in a fresh folder warn or differ), cannot tell a draft issue
from a published one, and would be one more pinned dependency on the renderer side. The feed is
~80 lines with ElementTree, which escapes every text node, so issue HTML (already escaped catalog
text inside) travels as text and can never become markup in the XML.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from email.utils import format_datetime
from urllib.parse import urljoin

ATOM_NS = "http://www.w3.org/2005/Atom"
_ATTR_URL = re.compile(r'\b(href|src)="([^"]*)"')
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclasses.dataclass(frozen=True)
class FeedEntry:
    """One issue in the feed."""

    title: str
    url: str  # absolute when the site has a site_url, else relative to the site root
    date: str | None  # YYYY-MM-DD
    html: str  # the content, links already absolute
    summary: str = ""


@dataclasses.dataclass(frozen=True)
class FeedInfo:
    """The channel: the newsletter itself."""

    title: str
    link: str
    description: str
    language: str
    self_rss: str
    self_atom: str


def absolutize(html_text: str, base: str) -> str:
    """Make relative href/src attributes absolute against `base` (the page's absolute URL)."""
    if not base:
        return html_text

    def fix(match: re.Match[str]) -> str:
        value = match.group(2)
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", value):
            return match.group(0)
        return f'{match.group(1)}="{urljoin(base, value)}"'

    return _ATTR_URL.sub(fix, html_text)


def _text(value: str) -> str:
    return _XML_INVALID.sub("", value)


def _when(date: str | None) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(date or "")
    except ValueError:
        day = dt.date(1970, 1, 1)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = _text(text)
    return element


def rss_xml(info: FeedInfo, entries: Sequence[FeedEntry]) -> bytes:
    """An RSS 2.0 document, newest entry first, with an atom:link to itself."""
    ET.register_namespace("atom", ATOM_NS)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = _sub(rss, "channel")
    _sub(channel, "title", info.title)
    _sub(channel, "link", info.link)
    _sub(channel, "description", info.description or info.title)
    _sub(channel, "language", info.language)
    if info.self_rss.startswith("http"):
        _sub(channel, f"{{{ATOM_NS}}}link", href=info.self_rss, rel="self", type="application/rss+xml")
    if entries:
        _sub(channel, "lastBuildDate", format_datetime(_when(entries[0].date)))
    for entry in entries:
        node = _sub(channel, "item")
        _sub(node, "title", entry.title)
        _sub(node, "link", entry.url)
        _sub(node, "guid", entry.url, isPermaLink="true" if entry.url.startswith("http") else "false")
        _sub(node, "pubDate", format_datetime(_when(entry.date)))
        _sub(node, "description", entry.html)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(rss, encoding="utf-8", xml_declaration=False)


def atom_xml(info: FeedInfo, entries: Sequence[FeedEntry]) -> bytes:
    """An Atom 1.0 document, newest entry first; content is type="html" (escaped text)."""
    def q(tag: str) -> str:
        return tag  # the default namespace is declared on the root as a plain attribute

    attrs = {"xmlns": ATOM_NS}
    if info.language:
        attrs["{http://www.w3.org/XML/1998/namespace}lang"] = info.language
    feed = ET.Element("feed", attrs)
    _sub(feed, q("title"), info.title)
    if info.description:
        _sub(feed, q("subtitle"), info.description)
    _sub(feed, q("link"), href=info.link, rel="alternate", type="text/html")
    _sub(feed, q("link"), href=info.self_atom, rel="self", type="application/atom+xml")
    _sub(feed, q("id"), info.self_atom)
    newest = _when(entries[0].date) if entries else _when(None)
    _sub(feed, q("updated"), newest.isoformat())
    for entry in entries:
        node = _sub(feed, q("entry"))
        _sub(node, q("title"), entry.title)
        _sub(node, q("link"), href=entry.url, rel="alternate", type="text/html")
        _sub(node, q("id"), entry.url)
        when = _when(entry.date).isoformat()
        _sub(node, q("published"), when)
        _sub(node, q("updated"), when)
        author = _sub(node, q("author"))
        _sub(author, q("name"), info.title)
        _sub(node, q("content"), entry.html, type="html")
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body

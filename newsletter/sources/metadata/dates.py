"""The publication date of a page: the first plausible date from the most reliable source that has one.

Sources, most reliable first: OpenGraph ``article:published_time``/``og:published_time``, Highwire
``citation_*`` dates, JSON-LD ``datePublished``/``uploadDate``/``dateCreated`` (on the main node, its
``mainEntity``, then any other article node of a ``@graph``), ``parsely-pub-date``, ``sailthru.date``,
Dublin Core (``dc.date.issued``, ``dcterms.created`` ...), microdata ``itemprop="datePublished"``,
``<time pubdate>`` or a ``published`` class, a date in the URL path (``/2021/10/14/``,
``2021-10-14-slug``), the first ``<time datetime>`` of the article (then of the page, outside nav,
aside, footers and comments), and finally a date written in a byline or date-classed element.
Modification dates (``dateModified``, ``article:modified_time``, "Updated ..." elements) are never
used. A date in the future (a day of slack for time zones) or before 1995 is rejected and the next
source is tried. Dates keep the day as the page wrote it (no conversion to UTC).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from newsletter.sources.metadata.markup import TimeSignal
from newsletter.sources.text import coerce_date

EARLIEST = dt.date(1995, 1, 1)

_MONTHS = {name: i + 1 for i, names in enumerate((
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
    ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
    ("october", "oct"), ("november", "nov"), ("december", "dec"))) for name in names}
_MONTH = r"(january|february|march|april|may|june|july|august|september|october|november|december|" \
         r"jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
_MDY = re.compile(_MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)", re.IGNORECASE)
_DMY = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\.?\s+" + _MONTH + r",?\s+(\d{4})(?!\d)", re.IGNORECASE)
_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_URL_DATE = re.compile(r"/((?:19|20)\d{2})[/_-](\d{1,2}|" + _MONTH[1:-4] + r")[/_-](\d{1,2})(?=[/_.-]|$)",
                       re.IGNORECASE)

META_PUBLISHED = ("article:published_time", "og:published_time", "og:article:published_time",
                  "article:published")
META_CITATION = ("citation_publication_date", "citation_date", "citation_online_date", "citation_cover_date")
META_OTHER = ("parsely-pub-date", "sailthru.date", "dc.date.issued", "dcterms.issued", "dc.date.created",
              "dcterms.created", "dc.date", "dcterms.date", "date", "pubdate", "publishdate", "publish-date",
              "datepublished", "uploaddate", "datecreated")
JSONLD_KEYS = ("datePublished", "uploadDate", "dateCreated")


def to_date(value: Any) -> str | None:
    """'YYYY-MM-DD' from an ISO/RFC string, a Unix timestamp (seconds or milliseconds) or a date; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and re.fullmatch(r"\s*\d{10}(?:\d{3})?\s*", value):
        value = int(value)
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) >= 1e11 else value
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC).date().isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    return coerce_date(value)


def text_date(text: str) -> str | None:
    """The first date written out in running text: "March 3, 2020", "3 March 2020", "Nov. 19, 2023", ISO."""
    text = text[:500]
    found: list[tuple[int, str]] = []
    for pattern, order in ((_MDY, "mdy"), (_DMY, "dmy")):
        match = pattern.search(text)
        if match:
            if order == "mdy":
                month, day, year = match.group(1), match.group(2), match.group(3)
            else:
                day, month, year = match.group(1), match.group(2), match.group(3)
            date = _ymd(int(year), _MONTHS[month.lower().rstrip(".")], int(day))
            if date:
                found.append((match.start(), date))
    match = _ISO.search(text)
    if match:
        date = _ymd(*(int(g) for g in match.groups()))
        if date:
            found.append((match.start(), date))
    return min(found)[1] if found else None


def url_date(url: str) -> str | None:
    """A full date in a URL path: /2021/10/14/, /2023/jun/28/, /2014-05-19-slug."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    match = _URL_DATE.search(path)
    if not match:
        return None
    year, month, day = match.groups()
    month_n = int(month) if month.isdigit() else _MONTHS.get(month.lower())
    return _ymd(int(year), month_n, int(day)) if month_n else None


def plausible(date: str | None, today: dt.date | None = None) -> bool:
    """True for a date between 1995-01-01 and tomorrow (time zones) — publication dates, not events."""
    if not date:
        return False
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        return False
    today = today or dt.date.today()
    return EARLIEST <= day <= today + dt.timedelta(days=1)


def pick_published(*, first: Callable[..., list[str]], jsonld_dates: Sequence[Any], url: str,
                   times: Sequence[TimeSignal], date_texts: Sequence[str], bylines: Sequence[str],
                   today: dt.date | None = None) -> str | None:
    """The publication date, trying each source of the module docstring in order.

    `first(*keys)` gives every non-empty ``<meta>`` value under those keys, in key order;
    `jsonld_dates` are JSON-LD values already ordered by `jsonld_candidates`.
    """
    def candidates() -> Iterable[str | None]:
        yield from (to_date(v) for v in first(*META_PUBLISHED))
        yield from (to_date(v) for v in first(*META_CITATION))
        yield from (to_date(v) for v in jsonld_dates)
        yield from (to_date(v) for v in first(*META_OTHER))
        usable = [t for t in times if not t.modified and not t.boilerplate]
        yield from (to_date(t.value) for t in times if t.published and not t.boilerplate)
        yield url_date(url)
        yield from (to_date(t.value) for t in usable if t.in_article)
        yield from (to_date(t.value) for t in usable)
        yield from (text_date(t) for t in date_texts)
        yield from (text_date(t) for t in bylines)

    for date in candidates():
        if plausible(date, today):
            return date
    return None


def jsonld_candidates(main: dict[str, Any] | None, others: Iterable[dict[str, Any]],
                      resolve: Callable[[Any], Any]) -> list[Any]:
    """Date values of the main JSON-LD node, then of its ``mainEntity``, then of other article nodes."""
    nodes: list[dict[str, Any]] = []
    if main is not None:
        nodes.append(main)
        entity = resolve(main.get("mainEntity"))
        if isinstance(entity, list) and entity:
            entity = resolve(entity[0])
        if isinstance(entity, dict):
            nodes.append(entity)
    nodes.extend(n for n in others if n is not main)
    values: list[Any] = []
    for node in nodes[:50]:
        for key in JSONLD_KEYS:
            value = node.get(key)
            if isinstance(value, list):
                value = value[0] if value else None
            if value not in (None, ""):
                values.append(value)
    return values


def _ymd(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None

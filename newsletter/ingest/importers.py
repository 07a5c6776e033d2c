"""Bulk import file formats: text in, `ImportRow`s and `ImportProblem`s out (pure, linear time).

Formats:
- ``opml``: feed subscriptions. Outlines with ``xmlUrl`` are feeds (``is_feed``); outlines with only
  ``htmlUrl``/``url`` are plain links; outlines with neither are folders whose names, with the
  ``category`` attribute ("/Tech/AI,News"), become tags.
- ``bookmarks``: the Netscape bookmark HTML that Firefox, Chrome, Pocket, Raindrop and Karakeep export.
  ``<A HREF ADD_DATE|TIME_ADDED TAGS>``, ``<DD>`` description -> summary, ``<H3>`` folders -> tags
  (the browser's own toolbar/menu roots and ``<H1>`` headings are not tags). Read with html.parser,
  so unclosed ``<DT>``/``<p>`` tags are fine.
- ``csv``: header-driven; see `_CSV_ALIASES`. A ``folder`` column adds a tag, except inbox-like
  system folders (Unread, Archive, Unsorted, Starred).
- ``markdown``: awesome-list style list items ``- [Name](url) - description``. The heading path
  (#, ##, ###...) becomes tags. Links in paragraphs (not list items or table rows) are ignored: they
  are usually contributing guides and licences, not entries. Badges/images are ignored, and so are
  in-document anchors (``#section``), silently.
- ``urls``: one URL per line, optionally followed by a title; blank lines and ``#`` comments skipped.

Only http(s) URLs become rows; anything else (javascript:, data:, Firefox's place:, junk) becomes an
`ImportProblem` with the 1-based line number and a reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from newsletter.models import usable_tag
from newsletter.sources.text import clean_text
from newsletter.text import MAX_TAGS, wide_csv_fields
from newsletter.web.urls import normalize_input

FORMATS = ("opml", "bookmarks", "csv", "markdown", "urls")
TITLE_MAX = 500
SUMMARY_MAX = 2000


@dataclass
class ImportRow:
    """One resource found in an import file."""

    line: int
    url: str
    title: str = ""
    summary: str = ""
    tags: list[str] = field(default_factory=list)
    # The subset of `tags` the file's structure made (folders, headings, collections), not a person:
    # kept as the item's `imported_tags`, so review does not suggest them (issue 13.7).
    folder_tags: list[str] = field(default_factory=list)
    added: str | None = None
    is_feed: bool = False
    note: str = ""  # the curator's own words from the other tool: kept as the item's note


@dataclass
class ImportProblem:
    """A line that could not become a row, and why."""

    line: int
    text: str
    reason: str
    skipped: bool = False  # a browser's own entry (place:, javascript:...): counted, not a failure


def detect_format(path_name: str, head: str) -> str:
    """Guess the format from the file name and its first few kilobytes."""
    name = path_name.lower()
    sample = head[:4096].lstrip("\ufeff \t\r\n")
    low = sample.lower()
    if "<opml" in low:
        return "opml"
    if "netscape-bookmark-file" in low:
        return "bookmarks"
    for suffixes, fmt in (
        ((".opml",), "opml"),
        ((".html", ".htm"), "bookmarks"),
        ((".csv", ".tsv"), "csv"),
        ((".md", ".markdown", ".mdown"), "markdown"),
    ):
        if name.endswith(suffixes):
            return fmt
    if low.startswith(("<!doctype html", "<html", "<dl", "<dt")) or "<a href=" in low:
        return "bookmarks"
    lines = [ln.strip() for ln in sample.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if lines and sum(1 for ln in lines if ln.lower().startswith(("http://", "https://"))) * 2 >= len(lines):
        return "urls"
    if _MD_LINK.search(sample):
        return "markdown"
    first = sample.split("\n", 1)[0].lower()
    if any(d in first for d in ",;\t|") and any(alias in _split_header(first) for alias in _CSV_ALIASES["url"]):
        return "csv"
    return "urls"


def parse_import(text: str, fmt: str) -> tuple[list[ImportRow], list[ImportProblem]]:
    """Parse ``text`` in format ``fmt`` (one of FORMATS). Raises ValueError for an unknown format."""
    text = text.lstrip("\ufeff")
    if fmt == "opml":
        return _parse_opml(text)
    if fmt == "bookmarks":
        return _parse_bookmarks(text)
    if fmt == "csv":
        return _parse_csv(text)
    if fmt == "markdown":
        return _parse_markdown(text)
    if fmt == "urls":
        return _parse_urls(text)
    raise ValueError(f"unknown import format {fmt!r} (expected one of {', '.join(FORMATS)})")


# -- shared -----------------------------------------------------------------------------------------

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# What browsers keep in a bookmarks export that is not a page anyone could read: Firefox's smart
# folders (place:), bookmarklets, the browsers' own pages and extensions. Skipped and counted.
BROWSER_SCHEMES = frozenset({
    "place", "javascript", "about", "chrome", "edge", "brave", "opera", "vivaldi", "view-source",
    "chrome-extension", "moz-extension", "safari-extension",
})


def problem(line: int, text: str, reason: str) -> ImportProblem:
    """An `ImportProblem`; a browser-internal entry is marked skipped (not a failure)."""
    return ImportProblem(line=line, text=text, reason=reason, skipped=reason.startswith("browser-internal"))


def _url_problem(url: str) -> str:
    """Why ``url`` cannot be imported, or "" when it is an http(s) URL with a host."""
    if not url:
        return "no URL"
    match = _SCHEME.match(url)
    if not match:
        return "not a URL"
    scheme = match.group(1).lower()
    if scheme in BROWSER_SCHEMES:
        return f"browser-internal entry ({scheme}:), skipped"
    if scheme not in ("http", "https"):
        return f"not an http(s) URL ({scheme}:)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "malformed URL"
    if not parts.hostname or any(c.isspace() for c in url):
        return "malformed URL"
    return ""



def _tags(values: list[str]) -> list[str]:
    """At most MAX_TAGS usable tags: a file nesting 100,000 folders must not make 100,000 tags."""
    tags: list[str] = []
    for value in values:
        tag = usable_tag(clean_text(value, 200))
        if tag and tag not in tags:
            tags.append(tag)
            if len(tags) >= MAX_TAGS:
                break
    return tags


def _outer(folders: list[str | None]) -> list[str]:
    """The outermost folder names that can become tags; O(MAX_TAGS), however deep the nesting."""
    return [f for f in folders[: MAX_TAGS * 4] if f]


def _split_tags(value: str | None) -> list[str]:
    return [t for t in re.split(r"[,;|]", value or "") if t.strip()]


def _added(value: str | None) -> str | None:
    """An epoch (s, ms or µs) or ISO-8601 date/time as a UTC timestamp "YYYY-MM-DDTHH:MM:SSZ"."""
    raw = (value or "").strip()
    if not raw:
        return None
    try:
        if re.fullmatch(r"\d{1,20}(?:\.\d+)?", raw):
            seconds = float(raw)
            while seconds > 1e11:  # milliseconds or microseconds
                seconds /= 1000
            when = dt.datetime.fromtimestamp(seconds, dt.UTC)
        else:
            when = dt.datetime.fromisoformat(raw.replace(" ", "T", 1) if len(raw) > 10 else raw)
            when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _row_or_problem(
    rows: list[ImportRow], problems: list[ImportProblem], line: int, url: str, text: str, **fields: object
) -> None:
    url = url.strip()
    reason = _url_problem(url)
    if reason:
        problems.append(problem(line, clean_text(text or url, 300), reason))
    else:
        rows.append(ImportRow(line=line, url=url, **fields))  # type: ignore[arg-type]


# -- OPML -------------------------------------------------------------------------------------------


class _OpmlReader(HTMLParser):
    """Walks <outline> elements (html.parser: tolerant of unescaped '&' and sloppy nesting)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[ImportRow] = []
        self.problems: list[ImportProblem] = []
        self._stack: list[str | None] = []  # folder name per open outline (None for non-folders)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "outline":
            self._stack.append(self._outline(attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "outline":
            self._outline(attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "outline" and self._stack:
            self._stack.pop()

    def _outline(self, attr_list: list[tuple[str, str | None]]) -> str | None:
        attrs = {k: (v or "").strip() for k, v in attr_list}
        label = attrs.get("title") or attrs.get("text") or ""
        feed_url = attrs.get("xmlurl", "")
        link = attrs.get("htmlurl", "") or attrs.get("url", "")
        if not feed_url and not link:
            return label or None  # a folder
        categories = [part for cat in _split_tags(attrs.get("category")) for part in cat.split("/")]
        folders = _outer(self._stack)
        line = self.getpos()[0]
        _row_or_problem(
            self.rows, self.problems, line, feed_url or link, label or feed_url or link,
            title=clean_text(label, TITLE_MAX),
            summary=clean_text(attrs.get("description"), SUMMARY_MAX),
            tags=_tags(folders + categories),
            folder_tags=_tags(folders),
            added=_added(attrs.get("created")) if attrs.get("created", "").isdigit() else None,
            is_feed=bool(feed_url),
        )
        return None


def _parse_opml(text: str) -> tuple[list[ImportRow], list[ImportProblem]]:
    reader = _OpmlReader()
    reader.feed(text)
    reader.close()
    if not reader.rows and not reader.problems and "<outline" not in text.lower():
        reason = "not an OPML file (no <outline>)"
        return [], [ImportProblem(line=1, text=clean_text(text[:80], 80), reason=reason)]
    return reader.rows, reader.problems


# -- Netscape bookmarks -----------------------------------------------------------------------------

_ROOT_FOLDER_ATTRS = ("personal_toolbar_folder", "unfiled_bookmarks_folder")


class _BookmarkReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[ImportRow] = []
        self.problems: list[ImportProblem] = []
        self._folders: list[str | None] = []  # one per open <DL>
        self._pending_folder: str | None = None
        self._h3: list[str] | None = None
        self._h3_is_root = False
        self._anchor: tuple[int, dict[str, str], list[str]] | None = None
        self._dd: tuple[ImportRow, list[str]] | None = None
        self._last_row: ImportRow | None = None  # the row a following <DD> describes

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("dt", "dl", "h3", "a", "li", "h1", "ul"):
            self._finish_anchor()
            self._finish_dd()
            if tag != "a":
                self._last_row = None
        if tag == "dl":
            self._folders.append(self._pending_folder)
            self._pending_folder = None
        elif tag == "h3":
            self._h3 = []
            self._h3_is_root = any(k in _ROOT_FOLDER_ATTRS for k, _ in attrs)
        elif tag == "a":
            self._anchor = (self.getpos()[0], {k: (v or "").strip() for k, v in attrs}, [])
        elif tag == "dd":
            self._dd = (self._last_row, []) if self._last_row is not None else None

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._finish_anchor()
        elif tag == "h3" and self._h3 is not None:
            name = clean_text("".join(self._h3), 200)
            self._pending_folder = None if self._h3_is_root else name or None
            self._h3 = None
        elif tag == "dl":
            self._finish_dd()
            if self._folders:
                self._folders.pop()

    def handle_data(self, data: str) -> None:
        if self._anchor is not None:
            self._anchor[2].append(data)
        elif self._h3 is not None:
            self._h3.append(data)
        elif self._dd is not None:
            self._dd[1].append(data)

    def close(self) -> None:
        super().close()
        self._finish_anchor()
        self._finish_dd()

    def _finish_anchor(self) -> None:
        if self._anchor is None:
            return
        line, attrs, parts = self._anchor
        self._anchor = None
        href = attrs.get("href", "")
        if not href:
            return
        title = clean_text("".join(parts), TITLE_MAX)
        title = "" if title == href else title  # Pocket writes the URL as the text of untitled items
        folders = _outer(self._folders)
        added = attrs.get("add_date") or attrs.get("time_added") or ""
        before = len(self.rows)
        _row_or_problem(
            self.rows, self.problems, line, href, title or href,
            title=title,
            tags=_tags(folders + _split_tags(attrs.get("tags"))),
            folder_tags=_tags(folders),
            added=_added(added),
        )
        self._last_row = self.rows[-1] if len(self.rows) > before else None

    def _finish_dd(self) -> None:
        if self._dd is None:
            return
        row, parts = self._dd
        self._dd = None
        summary = clean_text("".join(parts), SUMMARY_MAX)
        if summary and not row.summary:
            row.summary = summary


def _parse_bookmarks(text: str) -> tuple[list[ImportRow], list[ImportProblem]]:
    reader = _BookmarkReader()
    reader.feed(text)
    reader.close()
    return reader.rows, reader.problems


# -- CSV --------------------------------------------------------------------------------------------

_CSV_ALIASES: dict[str, tuple[str, ...]] = {
    "url": ("url", "link", "href", "uri", "given_url", "resolved_url"),
    "title": ("title", "name", "given_title", "resolved_title"),
    # A note column is the curator's own words: it stays the note, never the summary (and an
    # export's excerpt, the page's own blurb, is the summary, so it cannot push the note out).
    "summary": ("summary", "description", "excerpt", "selection"),
    "note": ("note", "notes", "annotation", "comment", "comments"),
    "tags": ("tags", "tag", "labels", "keywords", "categories", "document_tags"),
    "folder": ("folder", "collection"),
    "added": ("added", "time_added", "created", "created_at", "date_added", "add_date", "saved_date", "date",
              "timestamp"),
}
_SYSTEM_FOLDERS = {"unread", "archive", "unsorted", "starred"}


def sniff_delimiter(text: str) -> str:
    """The CSV's delimiter: the one of `,` `;` tab `|` that splits its header into the most columns.

    Spreadsheets in many locales write `;` (the comma is their decimal point), and "CSV" from some
    tools is tab-separated. The header decides: quoted cells there are rare and never hold these.
    """
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _split_header(line: str) -> list[str]:
    delimiter = sniff_delimiter(line)
    return [re.sub(r"[\s-]+", "_", h.strip().strip('"').lower()) for h in line.split(delimiter)]


def _parse_csv(text: str) -> tuple[list[ImportRow], list[ImportProblem]]:
    # One huge field is read (and capped by clean_text) instead of ending the file there.
    with wide_csv_fields(len(text)):
        return _parse_csv_rows(text)


def _parse_csv_rows(text: str) -> tuple[list[ImportRow], list[ImportProblem]]:
    rows: list[ImportRow] = []
    problems: list[ImportProblem] = []
    reader = csv.reader(io.StringIO(text), delimiter=sniff_delimiter(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return [], [ImportProblem(line=1, text="", reason="empty CSV file")]
    names = [re.sub(r"[\s-]+", "_", h.strip().lower()) for h in header]
    column: dict[str, int] = {}
    for key, aliases in _CSV_ALIASES.items():
        for alias in aliases:  # aliases are in priority order
            if alias in names:
                column[key] = names.index(alias)
                break
    if "url" not in column:
        reason = "no URL column (expected a header named url, link or href)"
        return [], [ImportProblem(line=1, text=clean_text(",".join(header), 300), reason=reason)]

    def cell(record: list[str], key: str) -> str:
        index = column.get(key)
        return record[index] if index is not None and index < len(record) else ""

    line = reader.line_num
    while True:
        start = line + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # that row alone fails: the reader goes on at the next line
            problems.append(ImportProblem(line=start, text="", reason=f"unreadable CSV row: {exc}"))
            line = reader.line_num
            continue
        line = reader.line_num
        if not any(c.strip() for c in record):
            continue
        folder = cell(record, "folder").strip()
        folder_tags = [folder] if folder and folder.lower() not in _SYSTEM_FOLDERS else []
        _row_or_problem(
            rows, problems, start, cell(record, "url"), ",".join(record),
            title=clean_text(cell(record, "title"), TITLE_MAX),
            summary=clean_text(cell(record, "summary"), SUMMARY_MAX),
            tags=_tags(folder_tags + _split_tags(cell(record, "tags"))),
            folder_tags=_tags(folder_tags),
            added=_added(cell(record, "added")),
            note=clean_text(cell(record, "note"), SUMMARY_MAX),
        )
    return rows, problems


# -- Markdown ---------------------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,4}[.)])\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# [text](url "optional title"); the URL may hold one level of balanced parentheses (Wikipedia).
_MD_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?((?:[^()\s<>]|\([^()\s]*\))+)>?(?:\s+\"[^\"]*\")?\s*\)")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\((?:[^()]|\([^()]*\))*\)")
_EMPTY_LINK = re.compile(r"\[\s*\]\((?:[^()]|\([^()]*\))*\)")
_AUTOLINK = re.compile(r"^<(https?://[^>\s]+)>|^(https?://\S+)")
_LEAD_SEPARATOR = re.compile(r"^[\s\-\u2013\u2014:|.,]+")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")


def _md_text(value: str) -> str:
    """Markdown inline text as plain text: images gone, links reduced to their text, emphasis dropped."""
    value = _EMPTY_LINK.sub("", _MD_IMAGE.sub("", value))
    value = _MD_LINK.sub(lambda m: m.group(1), value)
    return _EMPHASIS.sub("", value)


def _parse_markdown(text: str) -> tuple[list[ImportRow], list[ImportProblem]]:
    rows: list[ImportRow] = []
    problems: list[ImportProblem] = []
    headings: list[str] = []
    heading_tags: list[str] = []
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        heading = _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            headings = headings[: level - 1] + [""] * max(0, level - 1 - len(headings))
            headings.append(clean_text(_md_text(heading.group(2)), 200))
            heading_tags = _tags([h for h in headings if h])
            continue
        item = _LIST_ITEM.match(line)
        if item:
            body = item.group(1)
        elif line.lstrip().startswith("|"):
            body = line.strip().strip("|")  # a table row: | [Name](url) | description |
        else:
            continue  # paragraphs, blank lines, prose links: not entries
        _markdown_item(body, number, heading_tags, rows, problems)
    return rows, problems


def _markdown_item(
    body: str, number: int, tags: list[str], rows: list[ImportRow], problems: list[ImportProblem]
) -> None:
    stripped = _EMPTY_LINK.sub("", _MD_IMAGE.sub("", body)).strip()
    # Badges are often image links: [![build](badge.svg)](ci-url) leaves "[](ci-url)", removed above.
    match = _MD_LINK.search(stripped)
    if match and not stripped[: match.start()].strip(" *_"):
        title, url, rest = match.group(1), match.group(2), stripped[match.end():]
    else:
        auto = _AUTOLINK.match(stripped)
        if not auto:
            return  # a list item without a leading link: prose
        url = auto.group(1) or auto.group(2)
        title, rest = "", stripped[auto.end():]
    if url.startswith("#") or ("://" not in url and not _SCHEME.match(url)):
        return  # an in-document anchor or a relative link (e.g. to CONTRIBUTING.md): not an entry
    _row_or_problem(
        rows, problems, number, url, body,
        title=clean_text(_md_text(title), TITLE_MAX),
        summary=clean_text(_LEAD_SEPARATOR.sub("", _md_text(rest).replace("|", " ")), SUMMARY_MAX),
        tags=list(tags),
        folder_tags=list(tags),  # an awesome list's headings: its author's sections, not the curator's tags
    )


# -- plain URL lists --------------------------------------------------------------------------------


def _parse_urls(text: str) -> tuple[list[ImportRow], list[ImportProblem]]:
    rows: list[ImportRow] = []
    problems: list[ImportProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        url, *title_parts = stripped.split(None, 1)
        title = title_parts[0] if title_parts else ""
        # Whatever `add` accepts: arXiv ids ("arXiv:2305.14314"), DOIs, scheme-less hosts.
        url = normalize_input(url.strip("<>"))
        reason = _url_problem(url)
        if reason:
            problems.append(problem(number, clean_text(stripped, 300), reason))
        else:
            rows.append(ImportRow(line=number, url=url, title=clean_text(title, TITLE_MAX)))
    return rows, problems

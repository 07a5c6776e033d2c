"""Named import formats: the exports of the tools curators leave (pure, linear time).

Each name maps to the shape that tool really writes:

- ``pocket``: the CSV export (``title,url,time_added,tags,status``, tags split by ``|``) or the
  older bookmark HTML;
- ``raindrop``: CSV (``id,title,note,excerpt,url,folder,tags,created,...``);
- ``instapaper``: CSV (``URL,Title,Selection,Folder,Timestamp``);
- ``readwise``: Readwise Reader's CSV (``Title,URL,ID,Document tags,Saved date,...``);
- ``pinboard``: the JSON of ``posts/all`` (``href``, ``description`` = title, ``extended``,
  ``tags`` split by spaces, ``time``, ``toread``);
- ``karakeep`` (also ``hoarder``): ``{"bookmarks": [{createdAt, title, tags, content: {type, url},
  note}]}``;
- ``linkwarden``: the backup JSON, ``{"collections": [{name, links: [{name, url, description,
  tags: [{name}], createdAt}]}]}``; the collection name becomes a tag.

The CSV ones go through the generic CSV reader (its header aliases know these columns); the JSON
ones are read here. A note the curator wrote in the other tool stays the item's note.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from newsletter.sources.text import clean_text

from .importers import (
    SUMMARY_MAX,
    TITLE_MAX,
    ImportProblem,
    ImportRow,
    _added,
    _row_or_problem,
    _tags,
    parse_import,
)

CSV_TOOLS = ("raindrop", "instapaper", "readwise")
JSON_TOOLS = ("pinboard", "karakeep", "hoarder", "linkwarden")
TOOLS = ("pocket", *CSV_TOOLS, *JSON_TOOLS)

Parsed = tuple[list[ImportRow], list[ImportProblem]]


def parse_tool(text: str, tool: str) -> Parsed:
    """Parse one tool's export (see the module docstring); ValueError for an unknown tool."""
    text = text.lstrip("\ufeff")
    if tool == "pocket":
        head = text.lstrip()[:200].lower()
        return parse_import(text, "bookmarks" if head.startswith("<") else "csv")
    if tool in CSV_TOOLS:
        return parse_import(text, "csv")
    if tool in JSON_TOOLS:
        try:
            data = json.loads(text)
        except ValueError as exc:
            reason = f"not a {tool} JSON export: {exc}"
            return [], [ImportProblem(line=1, text=clean_text(text[:80], 80), reason=reason)]
        reader = _JSON_READERS["karakeep" if tool == "hoarder" else tool]
        return reader(data)
    raise ValueError(f"unknown import format {tool!r} (expected one of {', '.join(TOOLS)})")


def detect_tool(head: str) -> str | None:
    """The JSON tool an export's first bytes look like, or None."""
    sample = head.lstrip("\ufeff \t\r\n")[:4096]
    if sample.startswith("{") and '"bookmarks"' in sample:
        return "karakeep"
    if sample.startswith("{") and '"collections"' in sample:
        return "linkwarden"
    if sample.startswith("[") and '"href"' in sample:
        return "pinboard"
    return None


def _shape_problem(tool: str, expected: str) -> Parsed:
    return [], [ImportProblem(line=1, text="", reason=f"not a {tool} export: expected {expected}")]


def _url(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _text(value: Any, limit: int) -> str:
    return clean_text(value if isinstance(value, str) else "", limit)


def _pinboard(data: Any) -> Parsed:
    if not isinstance(data, list):
        return _shape_problem("pinboard", "a JSON list of posts")
    rows: list[ImportRow] = []
    problems: list[ImportProblem] = []
    for n, post in enumerate(data, start=1):
        if not isinstance(post, dict):
            problems.append(ImportProblem(line=n, text="", reason="not a post object"))
            continue
        href = _url(post.get("href"))
        tags = post.get("tags")
        # Pinboard's "extended" is what its user wrote about the link: their note.
        _row_or_problem(
            rows, problems, n, href, href,
            title=_text(post.get("description"), TITLE_MAX),
            note=_text(post.get("extended"), SUMMARY_MAX),
            tags=_tags(tags.split() if isinstance(tags, str) else []),
            added=_added(post.get("time") if isinstance(post.get("time"), str) else None),
        )
    return rows, problems


def _karakeep(data: Any) -> Parsed:
    bookmarks = data.get("bookmarks") if isinstance(data, dict) else None
    if not isinstance(bookmarks, list):
        return _shape_problem("karakeep", '{"bookmarks": [...]}')
    rows: list[ImportRow] = []
    problems: list[ImportProblem] = []
    for n, mark in enumerate(bookmarks, start=1):
        content = mark.get("content") if isinstance(mark, dict) else None
        if not isinstance(content, dict) or content.get("type") != "link":
            continue  # text notes and uploaded files have no URL: nothing to catalog
        url = _url(content.get("url"))
        tags = mark.get("tags") if isinstance(mark.get("tags"), list) else []
        created = mark.get("createdAt")
        _row_or_problem(
            rows, problems, n, url, url,
            title=_text(mark.get("title"), TITLE_MAX),
            summary=_text(content.get("description"), SUMMARY_MAX),
            note=_text(mark.get("note"), SUMMARY_MAX),
            tags=_tags([t for t in tags if isinstance(t, str)]),
            added=_added(str(created)) if isinstance(created, int | float | str) else None,
        )
    return rows, problems


def _linkwarden(data: Any) -> Parsed:
    collections = data.get("collections") if isinstance(data, dict) else None
    if not isinstance(collections, list):
        return _shape_problem("linkwarden", '{"collections": [...]}')
    rows: list[ImportRow] = []
    problems: list[ImportProblem] = []
    n = 0
    for collection in collections:
        if not isinstance(collection, dict) or not isinstance(collection.get("links"), list):
            continue
        folder = _text(collection.get("name"), 200)
        folder_tags = [folder] if folder and folder.lower() not in ("unorganized", "unsorted") else []
        for link in collection["links"]:
            n += 1
            if not isinstance(link, dict):
                continue
            url = _url(link.get("url"))
            names = [t.get("name") for t in link.get("tags") or [] if isinstance(t, dict)]
            _row_or_problem(
                rows, problems, n, url, url,
                title=_text(link.get("name"), TITLE_MAX),
                note=_text(link.get("description"), SUMMARY_MAX),  # what the curator typed in Linkwarden
                tags=_tags(folder_tags + [t for t in names if isinstance(t, str)]),
                folder_tags=_tags(folder_tags),
                added=_added(link.get("createdAt") if isinstance(link.get("createdAt"), str) else None),
            )
    return rows, problems


_JSON_READERS: dict[str, Callable[[Any], Parsed]] = {
    "pinboard": _pinboard,
    "karakeep": _karakeep,
    "linkwarden": _linkwarden,
}

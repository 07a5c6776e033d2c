"""Papers from the arXiv API (an Atom feed, https://info.arxiv.org/help/api/user-manual.html).

One query fetches many ids (`query_url`); `parse_feed` returns one `Metadata` per paper, keyed by
the arXiv id without its version, so "1706.03762v7" and "1706.03762" are the same paper.
"""

from __future__ import annotations

import io
import re
import urllib.parse
from typing import Any

from newsletter.errors import SourceError
from newsletter.models import Metadata
from newsletter.sources.text import (
    NAME_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    clean_inline,
    clean_text,
    coerce_date,
    source_tags,
    source_url,
)
from newsletter.text import MAX_AUTHORS, MAX_TAGS, TAG_MAX

# New-style ids (0704.0001, 2106.09685) and old-style archive ids (hep-th/9901001, math.GT/0309136).
_ID = r"(?:\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})"
_ENTRY_ID = re.compile(rf"arxiv\.org/abs/({_ID})(v\d+)?/?$", re.IGNORECASE)
# arXiv subject classes ("cs.LG", "hep-th", "physics.comp-ph"); ACM/MSC codes ("I.2.7") are not tags.
_CATEGORY = re.compile(r"^[a-z][a-z-]*(?:\.[a-z][a-z-]*)?$", re.IGNORECASE)


def query_url(api_base: str, arxiv_ids: list[str]) -> str:
    """The API URL that returns all of `arxiv_ids` in one feed (ValueError if the list is empty)."""
    ids = list(dict.fromkeys(i.strip() for i in arxiv_ids if i and i.strip()))
    if not ids:
        raise ValueError("query_url needs at least one arXiv id")
    id_list = ",".join(urllib.parse.quote(i, safe="/.") for i in ids)
    joiner = "&" if "?" in api_base else "?"
    return f"{api_base}{joiner}id_list={id_list}&max_results={len(ids)}"


def parse_feed(data: bytes) -> dict[str, Metadata]:
    """Parse an arXiv API response into {arxiv id without version: Metadata}.

    Ids the API does not know are simply absent. Raises SourceError when the API reports an
    error (bad id format ...) or the body is not an Atom feed (garbage, truncated download).
    """
    if not data or not data.strip():
        raise SourceError("arXiv API returned an empty response; try again later")
    # A stream, never bytes: feedparser treats a bytes/str argument that looks like a URL or a
    # file name as something to open.
    import feedparser  # here, not at import: ~60 ms that an `add --no-fetch` never needs

    feed = feedparser.parse(io.BytesIO(data))
    problem = feed.get("bozo_exception") if feed.get("bozo") else None
    if problem is not None and not isinstance(problem, feedparser.CharacterEncodingOverride):
        raise SourceError(f"arXiv API returned something that is not an Atom feed ({_short(problem)}); "
                          "try again later")
    if not str(feed.get("version", "")).startswith("atom"):
        raise SourceError("arXiv API returned something that is not an Atom feed; try again later")
    papers: dict[str, Metadata] = {}
    for entry in feed.entries:
        entry_id = str(entry.get("id", ""))
        is_error = entry.get("title", "").strip() == "Error" and "/abs/" not in entry_id
        if "/api/errors" in entry_id or is_error:
            message = clean_inline(entry.get("summary") or entry_id, 300, markup=False)
            raise SourceError(f"arXiv API rejected the query: {message}; check the arXiv id")
        match = _ENTRY_ID.search(entry_id.strip())
        if not match or not entry.get("title", "").strip():
            continue  # a placeholder entry for an id arXiv does not have
        papers.setdefault(match.group(1), _paper(match.group(1), entry))
    return papers


def _paper(arxiv_id: str, entry: Any) -> Metadata:
    categories = _categories(entry)
    doi = (entry.get("arxiv_doi") or "").split()
    extra: dict[str, Any] = {
        "arxiv_id": arxiv_id,
        "doi": doi[0] if doi else f"10.48550/arXiv.{arxiv_id}",
        "pdf_url": _pdf_url(entry, arxiv_id),
        "categories": categories,
    }
    venue = clean_inline(entry.get("arxiv_journal_ref"), TITLE_MAX, markup=False)
    if venue:
        extra["venue"] = venue
    authors = [clean_inline(a.get("name"), NAME_MAX, markup=False) for a in entry.get("authors", [])]
    return Metadata(
        kind="paper",
        title=clean_inline(entry.get("title"), TITLE_MAX, markup=False),
        summary=clean_text(entry.get("summary"), SUMMARY_MAX, markup=False),
        authors=[a for a in authors if a][:MAX_AUTHORS],
        published=coerce_date(entry.get("published")),
        site="arXiv",
        canonical_url=f"https://arxiv.org/abs/{arxiv_id}",
        extra=extra,
        suggested_tags=source_tags([c for c in categories if _CATEGORY.match(c)]),
    )


def _categories(entry: Any) -> list[str]:
    """Category terms, the primary one first, each once."""
    terms: list[str] = []
    primary = entry.get("arxiv_primary_category")
    if isinstance(primary, dict) and primary.get("term"):
        terms.append(str(primary["term"]).strip())
    for tag in entry.get("tags", []):
        term = str(tag.get("term") or "").strip()
        if term:
            terms.append(term)
    return list(dict.fromkeys(t for t in terms if len(t) <= TAG_MAX))[:MAX_TAGS]


def _pdf_url(entry: Any, arxiv_id: str) -> str:
    for link in entry.get("links", []):
        href = str(link.get("href") or "")
        if link.get("title") == "pdf" and source_url(href):
            return "https://" + source_url(href).split("://", 1)[1]
    return f"https://arxiv.org/pdf/{arxiv_id}"


def _short(problem: Exception) -> str:
    return " ".join(str(problem).split())[:160] or type(problem).__name__

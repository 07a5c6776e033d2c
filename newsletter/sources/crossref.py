"""Papers from the Crossref REST API (``GET {api}/works/{doi}``, https://api.crossref.org)."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
from typing import Any

from newsletter.errors import SourceError
from newsletter.models import Metadata
from newsletter.sources.text import NAME_MAX, SUMMARY_MAX, TITLE_MAX, clean_inline, clean_text, source_url
from newsletter.text import KEY_MAX, MAX_AUTHORS, clean_external

# The heading most JATS abstracts start with; structured abstracts keep their section headings.
_ABSTRACT_HEADING = re.compile(r"^\s*<jats:title>\s*abstract\s*</jats:title>", re.IGNORECASE)
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)


def work_url(api_base: str, doi: str) -> str:
    """The Crossref URL of one work; `doi` may be bare or a doi.org URL / "doi:" string."""
    bare = _DOI_PREFIX.sub("", doi.strip())
    if not bare:
        raise ValueError("work_url needs a DOI")
    return f"{api_base.rstrip('/')}/works/{urllib.parse.quote(bare, safe='/')}"


def parse_work(data: bytes) -> Metadata:
    """Parse a Crossref ``/works/{doi}`` response into a paper.

    Raises SourceError for anything that is not a Crossref work: Crossref's plain-text
    "Resource not found." for unknown DOIs, invalid JSON, another message type.
    """
    raw = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else str(data)
    text = raw.strip()
    if text.lower().startswith("resource not found"):
        raise SourceError("Crossref does not know this DOI (Resource not found.); check the DOI")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise SourceError(f"Crossref returned something that is not JSON ({_snippet(text)}); "
                          "check the DOI or try again later") from None
    if not isinstance(body, dict):
        raise SourceError("Crossref returned JSON that is not a work record; check the DOI")
    work = body.get("message")
    if body.get("status") != "ok" or body.get("message-type") != "work" or not isinstance(work, dict):
        detail = _snippet(json.dumps(work)[:300]) if work else body.get("status", "no status")
        raise SourceError(f"Crossref did not return a work ({detail}); check the DOI")
    doi = clean_external(work.get("DOI") or "", limit=KEY_MAX).lower()
    if not doi:
        raise SourceError("Crossref returned a work without a DOI; check the DOI")

    container = _first(work.get("container-title"))
    extra: dict[str, Any] = {"doi": doi}
    venue = clean_inline(container, TITLE_MAX)
    if venue:
        extra["venue"] = venue
    pdf = _pdf_url(work.get("link"))
    if pdf:
        extra["pdf_url"] = pdf
    return Metadata(
        kind="paper",
        title=clean_inline(_first(work.get("title")), TITLE_MAX),
        summary=clean_text(_ABSTRACT_HEADING.sub("", _first(work.get("abstract"))), SUMMARY_MAX),
        authors=_authors(work.get("author")),
        published=_published(work),
        site=venue or clean_inline(work.get("publisher"), NAME_MAX),
        canonical_url=f"https://doi.org/{doi}",
        extra=extra,
    )


def _first(value: Any) -> str:
    """Crossref wraps most strings in lists: the first non-empty string, or ""."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), "")
    return value if isinstance(value, str) else ""


def _authors(value: Any) -> list[str]:
    names: list[str] = []
    for person in value if isinstance(value, list) else []:
        if not isinstance(person, dict):
            continue
        parts = [_first(person.get("given")), _first(person.get("family"))]
        name = " ".join(p.strip() for p in parts if p.strip()) or _first(person.get("name"))
        name = clean_inline(name, NAME_MAX)
        if name and name not in names:
            names.append(name)
    return names[:MAX_AUTHORS]


def _published(work: dict[str, Any]) -> str | None:
    """The first date a reader could see the work: online before print, then issued, then created."""
    for key in ("published-online", "published-print", "issued", "created"):
        date = _date_parts(work.get(key))
        if date:
            return date
    return None


def _date_parts(value: Any) -> str | None:
    """{"date-parts": [[2019, 7, 25]]} -> "2019-07-25"; [[2019]] -> "2019-01-01"; [[null]] -> None."""
    if not isinstance(value, dict):
        return None
    parts = value.get("date-parts")
    if not (isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]):
        return None
    try:
        numbers = [int(p) for p in parts[0][:3]]
    except (TypeError, ValueError):
        return None
    year, month, day = [*numbers, 1, 1][:3]
    if not 1000 <= year <= 9999 or not 1 <= month <= 12 or not 1 <= day <= 31:
        return None
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _pdf_url(links: Any) -> str:
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict):
            continue
        url = source_url(link.get("URL"))
        if str(link.get("content-type", "")).lower() == "application/pdf" and url:
            return url
    return ""


def _snippet(text: str) -> str:
    return " ".join(text.split())[:80] or "empty body"

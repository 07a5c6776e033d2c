"""Authors of a page: person names from the most reliable source that names any.

Sources, most reliable first: Highwire ``citation_author``; JSON-LD ``author`` of the main node (and
of its ``mainEntity``), with ``@graph`` references resolved and Persons preferred — an author that is
only an Organization ("Wirewire Staff", "Contributors to Wikimedia projects") is not a person and is
skipped; ``article:author`` when it is a name rather than a profile URL; ``meta name=author``;
Parse.ly, Sailthru and Dublin Core creators and the New York Times' ``byl``; microdata
``itemprop="author"``; ``<a rel="author">``; and the text of byline-classed elements.

Every raw value goes through `split_names`: "By", "Posted by", "Written by" are dropped, as are
job titles after a dash or a comma ("Maria Garcia — Technology Correspondent"), Twitter handles and
profile URLs, dates written in the byline ("By Jane Smith | 3 March 2020"), and "A, B and C" is split.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from newsletter.sources.jsonld import first_str, looks_like_url
from newsletter.sources.metadata.dates import text_date
from newsletter.sources.text import NAME_MAX, clean_inline

_PREFIX = re.compile(r"^(?:(?:posted|written|published|words|reported|story|text|photos?)\s+)?"
                     r"(?:by|par|von|por|door|av|di|de)\s*[:\s]\s*", re.IGNORECASE)
_SPLIT = re.compile(r"\s*(?:,|;|\band\b|&|\bund\b|\bet\b|\by\b|\bund\b|\+)\s*", re.IGNORECASE)
_PARTS = re.compile(r"\s*(?:[|·•\n]|\s[-–—]\s)\s*")
_HANDLE = re.compile(r"\(?@[A-Za-z0-9_]{1,30}\)?")
_JOB = re.compile(r"\b(?:editor|correspondent|reporter|writer|staff|contributor|columnist|journalist|engineer|"
                  r"director|manager|analyst|ceo|cto|cfo|founder|head of|senior|lead|producer|host|"
                  r"professor|researcher|developer|intern)\b", re.IGNORECASE)
# never part of a person's name, even alone: "Wirewire Staff", "5 min read"
_NOT_A_NAME = re.compile(r"\b(?:staff|team|desk|newsroom|bureau|contributors|updated|published|"
                         r"comments?|share|follow|subscribe|min(?:ute)?s?\s+read)\b", re.IGNORECASE)
_MAX_WORDS = 5


def split_names(raw: str, *, site: str = "") -> list[str]:
    """Person names in one author string; see the module docstring for what is removed."""
    text = clean_inline(raw, 1000)
    if not text or looks_like_url(text):
        return []
    names: list[str] = []
    # parts of a byline: "Jane Smith | 3 March 2020", "Maria Garcia - Technology Correspondent"
    for index, part in enumerate(_PARTS.split(text)):
        part = _PREFIX.sub("", part.strip())
        if not part or text_date(part) or (index > 0 and _JOB.search(part)):
            continue
        if index > 0 and names and not _looks_like_names(part):
            continue
        for position, name in enumerate(_SPLIT.split(part)):
            name = _clean_name(name)
            if (name and name.casefold() != site.casefold() and _looks_like_names(name)
                    and not (position > 0 and _JOB.search(name))):
                names.append(name)
        if index == 0 and names:
            break  # what follows the first dash or bar is a title, a date or a second byline field
    return names


def pick_authors(*, first: Callable[..., list[str]], ld_authors: Sequence[Any], resolve: Callable[[Any], Any],
                 item_authors: Sequence[str], rel_authors: Sequence[str], bylines: Sequence[str],
                 site: str = "", limit: int = 50) -> list[str]:
    """Authors from the first source (module docstring order) that yields a name, without repeats."""
    def flipped(values: Iterable[str]) -> list[str]:
        return [_flip(v) for v in values]

    sources: list[list[str]] = [
        flipped(first("citation_author")),
        _jsonld_people(ld_authors, resolve),
        [v for v in first("article:author") if not looks_like_url(v)],
        first("author"),
        first("parsely-author", "sailthru.author"),
        flipped(first("dc.creator", "dcterms.creator")),
        first("byl"),
        list(item_authors),
        list(rel_authors),
        list(bylines),
    ]
    for index, values in enumerate(sources):
        names: list[str] = []
        for value in values:
            # citation and Dublin Core give one name per value (already "First Last")
            names.extend([_clean_name(value)] if index in (0, 5) else split_names(value, site=site))
        cleaned = _dedup(n for n in names if n)
        if cleaned:
            return cleaned[:limit]
    return []


def _jsonld_people(values: Sequence[Any], resolve: Callable[[Any], Any]) -> list[str]:
    """Names of JSON-LD authors that are not Organizations (strings count as names)."""
    names: list[str] = []
    for entry in values:
        entry = resolve(entry)
        if isinstance(entry, dict):
            types = entry.get("@type")
            kinds = {t.lower() for t in (types if isinstance(types, list) else [types]) if isinstance(t, str)}
            if kinds and "person" not in kinds and kinds & {"organization", "newsmediaorganization", "corporation",
                                                           "organisation", "educationalorganization"}:
                continue
            name = first_str(entry.get("name"))
        else:
            name = first_str(entry)
        if name and not looks_like_url(name):
            names.append(name)
    return names


def _clean_name(name: str) -> str:
    name = _HANDLE.sub(" ", clean_inline(name, NAME_MAX))
    name = _PREFIX.sub("", name.strip())
    return " ".join(name.split()).strip(" ,.;:-–—·|")


def _looks_like_names(text: str) -> bool:
    words = text.split()
    return 0 < len(words) <= _MAX_WORDS * 4 and not _NOT_A_NAME.search(text) and not looks_like_url(text) \
        and any(c.isalpha() for c in text)


_SUFFIX = re.compile(r"^(?:inc|ltd|llc|gmbh|jr|sr|ii|iii|iv|et al)\.?$", re.IGNORECASE)


def _flip(name: str) -> str:
    """Highwire and Dublin Core write "Vaswani, Ashish"; the catalog writes "Ashish Vaswani"."""
    parts = [p.strip() for p in name.split(",")]
    if len(parts) == 2 and all(parts) and not _SUFFIX.match(parts[1]):
        return f"{parts[1]} {parts[0]}"
    return name


def _dedup(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        if len(value.split()) > _MAX_WORDS:
            continue
        key = value.casefold()
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out

"""Cleaning helpers every source parser runs untrusted text through.

Titles, summaries and names come from pages and APIs we do not control: they may carry HTML
entities, stray markup, control or bidi-override characters and megabytes of text. Everything a
parser returns goes through `clean_text` / `clean_inline` so the catalog only ever holds short,
single-line, NFC-normalized plain text. All helpers are linear-time on any input.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import json
import re
from typing import Any
from urllib.parse import urljoin

from newsletter.errors import SourceError
from newsletter.models import parse_date, usable_tag
from newsletter.text import MAX_AUTHORS, MAX_TAGS, NAME_MAX, SUMMARY_MAX, TAG_MAX, TITLE_MAX, clean_external
from newsletter.web import urls

# The caps live in the kernel cleaner so one number governs a field everywhere; re-exported here.
__all__ = [
    "NAME_MAX", "SUMMARY_MAX", "TITLE_MAX", "clean_inline", "clean_text", "coerce_date", "load_json",
    "source_names", "source_tags", "source_url",
]

# Markup is only removed when it clearly is markup, so a technical title such as
# "The <dialog> element" survives while "<p>Hello</p>" or '<a href="x">y</a>' do not.
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:_.-]*+)(\s[^<>]*+)?(/?)>")
_CLOSER = re.compile(r"</([A-Za-z][A-Za-z0-9:_.-]*+)\s*>")
_HAS_ATTR = re.compile(r"[A-Za-z_:][-A-Za-z0-9_:.]*\s*=")
_VOID = frozenset({"br", "hr", "img", "wbr", "meta", "link", "col", "source", "area", "embed"})
# Tags that separate words: replaced by a space rather than nothing ("<p>a</p><p>b</p>" -> "a b").
_BLOCK = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure",
    "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
    "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    "jats:p", "jats:sec", "jats:title", "jats:list", "jats:list-item", "jats:label", "jats:caption",
})
# Blocks whose content is never text: dropped whole when their closer exists.
_BLOCK_OPEN = re.compile(r"<!--|<(script|style)\b", re.IGNORECASE)


def clean_text(s: Any, max_len: int = SUMMARY_MAX, *, markup: bool = True) -> str:
    """Return `s` as one clean line of at most `max_len` characters.

    Unescapes HTML entities and removes markup that slipped in (``markup=False`` skips both, for
    sources that deliver plain text such as arXiv, where ``a<b c>d`` is mathematics), removes
    control and bidi-control characters, normalizes to NFC, collapses all whitespace to single
    spaces and truncates on a word boundary with "…". None gives "".
    """
    if s is None or max_len <= 0:
        return ""
    text = s if isinstance(s, str) else str(s)
    # Cheap pre-cut: nothing past this point can survive truncation unless markup or entities
    # shrink it by 4x, and it keeps every later step bounded on multi-megabyte attributes.
    text = text[: max_len * 4 + 4096]
    if markup:
        text = html.unescape(text)
        text = _strip_markup(text)
    # The kernel cleaner does the character-level work (surrogates, controls, bidi, NFC); its own cap
    # is set past the pre-cut so the word-boundary truncation below is the one that applies.
    text = clean_external(text, limit=len(text) + 1)
    text = " ".join(text.split())
    return _truncate(text, max_len)


def clean_inline(s: Any, max_len: int = TITLE_MAX, *, markup: bool = True) -> str:
    """`clean_text` with the title cap (500 characters): for titles, names and site names."""
    return clean_text(s, max_len, markup=markup)


def source_tags(terms: Any, *, limit: int = MAX_TAGS) -> list[str]:
    """Normalized, de-duplicated tags from a source's categories or topics, at most ``limit`` of them.

    A term that is still longer than `TAG_MAX` once normalized is dropped rather than cut: half a
    category names nothing, and a 300-character tag breaks file names in the site build.
    """
    if not isinstance(terms, (list, tuple)):
        return []
    tags: list[str] = []
    for term in terms:
        if len(tags) >= limit:
            break
        if not isinstance(term, str):
            continue
        tag = usable_tag(clean_external(term, limit=TAG_MAX * 2 + 1))
        if tag and len(tag) <= TAG_MAX and tag not in tags:
            tags.append(tag)
    return tags


def source_names(names: Any, *, limit: int = MAX_AUTHORS, markup: bool = True) -> list[str]:
    """Clean, de-duplicated author names (each capped at `NAME_MAX`), at most ``limit`` of them."""
    out: list[str] = []
    for name in names or []:
        if len(out) >= limit:
            break
        cleaned = clean_inline(name, NAME_MAX, markup=markup)
        if cleaned and cleaned not in out:
            out.append(cleaned)
    return out


def source_url(value: Any, base: str = "") -> str:
    """An optional URL field from outside (image, homepage, enclosure): absolute http(s), or "".

    Resolved against ``base``; refused (empty) when it has a lone surrogate, control characters or is
    too long; any ``user:password@`` is removed, since whatever we store may be published.
    """
    if not isinstance(value, str) or not value.strip():
        return ""
    href = value.strip()
    if base:
        try:
            href = urljoin(base, href)
        except ValueError:
            return ""
    try:
        urls.check_external_url(href)
    except ValueError:
        return ""
    return urls.strip_userinfo(href)


def load_json(data: bytes | str, *, what: str) -> Any:
    """Parse a JSON answer from outside; ``SourceError("<what>: bad JSON (...)")`` when it cannot be read.

    Absurd nesting (``[[[[...`` 100k deep) exhausts the parser's recursion: that is bad JSON too.
    """
    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    try:
        return json.loads(text)
    except RecursionError:
        raise SourceError(f"{what}: bad JSON (nested too deeply to be a real answer)") from None
    except ValueError as exc:
        raise SourceError(f"{what}: bad JSON ({exc})") from None


def coerce_date(value: Any) -> str | None:
    """Turn the date spellings found in metadata into 'YYYY-MM-DD', or None.

    Accepts what `models.parse_date` accepts plus Highwire's '2017/06/12', '2017/06' and RFC 2822
    ('Mon, 12 Jun 2017 10:00:00 GMT'). A list gives its first element's date.
    """
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if isinstance(value, (dt.date, dt.datetime)):
        return parse_date(value)
    if not isinstance(value, str):
        return None
    text = value.strip()[:100]
    match = re.match(r"(\d{4})[/.](\d{1,2})(?:[/.](\d{1,2}))?(?!\d)", text)
    if match:
        text = f"{match.group(1)}-{match.group(2)}-{match.group(3) or 1}"
    result = parse_date(text)
    if result:
        return result
    try:
        return parse_date(email.utils.parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _truncate(text: str, max_len: int) -> str:
    if len(text) <= max_len:
        return text
    cut = text[: max_len - 1]
    space = cut.rfind(" ")
    if space >= max_len // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def _strip_markup(text: str) -> str:
    if "<" not in text:
        return text
    text = _drop_blocks(text)
    closers = {m.group(1).lower() for m in _CLOSER.finditer(text)}

    def replace(match: re.Match[str]) -> str:
        name = match.group(2).lower()
        is_markup = (
            bool(match.group(1))
            or name in _VOID
            or name in closers
            or bool(match.group(3) and _HAS_ATTR.search(match.group(3)))
        )
        if not is_markup:
            return match.group(0)
        return " " if name in _BLOCK else ""

    return _TAG.sub(replace, text)


def _drop_blocks(text: str) -> str:
    """Remove comments and script/style elements (with content) whose end is present."""
    lower = text.lower()
    out: list[str] = []
    pos = 0
    for match in _BLOCK_OPEN.finditer(text):
        start = match.start()
        if start < pos:
            continue  # inside a block already dropped
        if match.group(1):
            close = lower.find("</" + match.group(1).lower(), match.end())
            end = lower.find(">", close) + 1 if close >= 0 else 0
        else:
            close = text.find("-->", match.end())
            end = close + 3 if close >= 0 else 0
        if close < 0 or end <= 0:
            break  # no closer here means none later either: keep the rest as text
        out.append(text[pos:start])
        out.append(" ")
        pos = end
    out.append(text[pos:])
    return "".join(out)

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
import re
import unicodedata
from typing import Any

from newsletter.models import parse_date

TITLE_MAX = 500
SUMMARY_MAX = 2000
NAME_MAX = 200

# Characters removed outright. C0/C1 controls (whitespace among them becomes a space instead),
# bidi embeddings/overrides/isolates and marks (they can visually reorder a title: "Trojan Source"),
# zero-width space, word joiner, BOM, soft hyphen and the two non-characters. ZWJ/ZWNJ (U+200C/D)
# stay: emoji sequences and Indic/Persian scripts need them.
_DROP = (
    [c for c in range(0x20) if chr(c) not in "\t\n\r\f\v"]
    + list(range(0x7F, 0xA0))
    + [0x00AD, 0x061C, 0x200B, 0x200E, 0x200F, 0x2060, 0xFEFF, 0xFFFE, 0xFFFF]
    + list(range(0x202A, 0x202F))
    + list(range(0x2066, 0x206A))
)
_TRANSLATE: dict[int, str | None] = {c: None for c in _DROP}
_TRANSLATE[0x85] = " "  # NEL is a line break
_SURROGATES = re.compile(r"[\ud800-\udfff]")

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
    text = text.translate(_TRANSLATE)
    text = _SURROGATES.sub("", text)
    text = unicodedata.normalize("NFC", text)
    text = " ".join(text.split())
    return _truncate(text, max_len)


def clean_inline(s: Any, max_len: int = TITLE_MAX, *, markup: bool = True) -> str:
    """`clean_text` with the title cap (500 characters): for titles, names and site names."""
    return clean_text(s, max_len, markup=markup)


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

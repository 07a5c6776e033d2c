"""The one cleaner for strings that come from outside: pages, feeds, API answers, import files, argv.

Text we do not control can hold lone surrogates (JSON's ``"\\ud800"``, ``surrogateescape``-decoded
argv), which no UTF-8 writer accepts and which crash YAML, SQLite and the terminal far away from where
they came in; control characters (terminal escapes, NUL); bidi overrides and invisible characters that
make a title read differently than it is; and any amount of it. `clean_external` turns such a value
into text every later stage can store and print, capped at a named limit.

The limits below are the project's caps on fields from outside; sources import them from here so one
number governs a field everywhere.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

__all__ = [
    "AUTHOR_MAX",
    "KEY_MAX",
    "LICENSE_MAX",
    "MAX_AUTHORS",
    "MAX_LINKS",
    "MAX_TAGS",
    "NAME_MAX",
    "NOTE_MAX",
    "REPLACEMENT",
    "SHORT_MAX",
    "SUMMARY_MAX",
    "TAG_LIMIT",
    "TAG_MAX",
    "TEXT_MAX",
    "TITLE_MAX",
    "URL_MAX",
    "clean_external",
    "csv_rows",
    "has_lone_surrogate",
    "replace_surrogates",
    "unicode_encoding",
    "wide_csv_fields",
]

# -- named limits (characters, or entries for lists) ------------------------------------------------
TITLE_MAX = 500  # a title, a site or show name
SUMMARY_MAX = 2000  # a summary, an abstract, a feed description
TEXT_MAX = 10_000  # a tweet's full text (multi-line)
NAME_MAX = 200  # one person's or organisation's name
AUTHOR_MAX = NAME_MAX
MAX_AUTHORS = 200  # names kept per item (a 3,000-author physics paper keeps its first 200)
TAG_MAX = 50  # one suggested tag (a feed category, a GitHub topic); longer ones are dropped, not cut
TAG_LIMIT = 100  # any tag at all (typed by a curator, read from a file); longer is an error (TagError)
URL_MAX = 4096  # a URL from outside; longer ones are refused (no browser or server handles them reliably)
NOTE_MAX = 100_000  # a curator's note given on the command line or by an import
MAX_TAGS = 20  # suggested tags kept per item
LICENSE_MAX = 100  # a licence identifier (SPDX ids are short)
SHORT_MAX = 100  # other one-word fields: a programming language, a handle
KEY_MAX = 2000  # a feed entry's identity (GUID or link)
MAX_LINKS = 50  # outbound links kept from a tweet

REPLACEMENT = "\ufffd"

# Characters removed outright: C0/C1 controls (line breaks and tabs become spaces on one line), bidi
# embeddings/overrides/isolates and marks (they visually reorder a title: "Trojan Source"), zero-width
# space, word joiner, BOM, soft hyphen and the non-characters U+FFFE/U+FFFF. ZWJ/ZWNJ (U+200C/D) stay:
# emoji sequences and Indic/Persian scripts need them.
_DROP = (
    [c for c in range(0x20) if chr(c) not in "\t\n\r"]
    + list(range(0x7F, 0xA0))
    + [0x00AD, 0x061C, 0x200B, 0x200E, 0x200F, 0x2060, 0xFEFF, 0xFFFE, 0xFFFF]
    + list(range(0x202A, 0x202F))
    + list(range(0x2066, 0x206A))
)
_INLINE: dict[int, str | None] = {c: None for c in _DROP}
_INLINE.update({c: " " for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029)})
_MULTILINE: dict[int, str | None] = {c: None for c in _DROP}
_MULTILINE.update({c: "\n" for c in (0x0B, 0x0C, 0x85, 0x2028, 0x2029)})
_SURROGATE = re.compile(r"[\ud800-\udfff]")

# Whole terminal escape sequences go, not just their ESC: the payload of an OSC 8 link
# ("8;;http://evil") would otherwise be kept (and printed) as text. An unterminated string sequence
# runs to the end, as a terminal would swallow it. Only the 7-bit (ESC) forms: a lone C1 byte in
# stored text is more likely mis-decoded cp1252 ("ž" read as U+009E) than an escape, and is dropped
# on its own below; the terminal printer adds the 8-bit forms (cli/terminal.py).
ESCAPE_SEQUENCES = re.compile(
    r"""
      \x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?   # OSC ... BEL or ST (window title, hyperlinks)
    | \x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?       # DCS, SOS, PM, APC ... ST
    | \x1b\[[0-?]*[ -/]*[@-~]?                     # CSI (colours, cursor moves, clear screen)
    | \x1b[ -/]*[0-~]?                             # any other ESC sequence (charset, keypad ...)
    """,
    re.VERBOSE,
)


def clean_external(value: Any, *, limit: int, multiline: bool = False) -> str:
    """``value`` as storable, printable text of at most ``limit`` characters.

    Lone surrogates become U+FFFD; terminal escape sequences (ESC [ ..., OSC 8 links) are removed
    whole; control, bidi-control and invisible characters are removed (a line break, CR or tab
    becomes a space, or is kept as a line break / tab when ``multiline``; CR LF becomes
    LF); the result is NFC-normalized, stripped, and cut to ``limit`` with a final "…" when longer.
    None gives "". Linear in the input, and it never looks further than a small multiple of ``limit``.
    """
    if value is None or limit <= 0:
        return ""
    text = value if isinstance(value, str) else str(value)
    # Only a bounded prefix can survive the cap; NFC composes at most a few code points into one.
    text = text[: limit * 4 + 64]
    text = _SURROGATE.sub(REPLACEMENT, text)
    text = ESCAPE_SEQUENCES.sub("", text)
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_MULTILINE)
    else:
        text = text.translate(_INLINE)
    text = unicodedata.normalize("NFC", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def has_lone_surrogate(value: str) -> bool:
    """True when ``value`` holds a surrogate code point, which no UTF-8 encoder accepts."""
    return _SURROGATE.search(value) is not None


def replace_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (also inside lists and dicts) made U+FFFD.

    The last line of defence before something is stored: it changes nothing else.
    """
    if isinstance(value, str):
        return _SURROGATE.sub(REPLACEMENT, value) if has_lone_surrogate(value) else value
    if isinstance(value, list):
        return [replace_surrogates(v) for v in value]
    if isinstance(value, tuple):
        return tuple(replace_surrogates(v) for v in value)
    if isinstance(value, dict):
        return {replace_surrogates(k): replace_surrogates(v) for k, v in value.items()}
    return value


@contextlib.contextmanager
def wide_csv_fields(size: int) -> Iterator[None]:
    """Let csv read fields of up to ``size`` characters inside the block (give the text's length).

    csv's field limit (128 KB) turns one huge cell into an error that ends the whole file; our
    readers cap every cell they keep, so they lift the limit while reading. It is process-wide
    state, restored on leaving the block.
    """
    previous = csv.field_size_limit(max(csv.field_size_limit(), size + 1))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def csv_rows(text: str, **dialect: Any) -> list[list[str]]:
    """Every row of CSV ``text`` (CR, LF and CRLF end a row), whatever the length of a field."""
    with wide_csv_fields(len(text)):
        return list(csv.reader(io.StringIO(text, newline=None), **dialect))


def unicode_encoding(data: bytes) -> str | None:
    """The Unicode encoding a file's bytes announce: a BOM, or UTF-16's NUL pattern of ASCII text.

    "utf-8-sig", "utf-32", "utf-16", "utf-16-le", "utf-16-be", or None when nothing says so (then
    the caller decides: UTF-8, or a legacy 8-bit guess). Spreadsheets save "Unicode text" as
    UTF-16 LE, with a BOM or without one; decoding that as UTF-8 or cp1252 gives NULs and garbage.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if len(data) >= 4 and data[1:4:2] == b"\x00\x00" and data[0:4:2] != b"\x00\x00":
        return "utf-16-le"
    if len(data) >= 4 and data[0:4:2] == b"\x00\x00" and data[1:4:2] != b"\x00\x00":
        return "utf-16-be"
    return None


_WS = re.compile(r"\s+")


def one_line(text: str, max_len: int | None = None) -> str:
    """One line of plain text: control, format and bidi characters removed, whitespace collapsed, capped."""
    text = str(text or "")
    if not (text.isascii() and text.isprintable()):  # the common case needs no per-character pass
        text = "".join(
            " " if ch in "\r\n\t\u2028\u2029\x85" else ch
            for ch in text
            if ch in "\r\n\t\u2028\u2029\x85" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
        )
    text = _WS.sub(" ", text).strip()
    if max_len is not None and len(text) > max_len:
        cut = text[: max_len - 1]
        text = (cut.rsplit(" ", 1)[0] if " " in cut[max_len // 2 :] else cut).rstrip(" ,;:") + "…"
    return text


# json.dumps escapes C0 controls, but with ensure_ascii=False it writes DEL, C1 controls (0x9b is
# CSI on some terminals), bidi controls and line/paragraph separators raw. They can only occur
# inside JSON strings, so re-escaping them keeps the document identical for a parser, one line for
# readers that split on every Unicode line break, and harmless in a terminal.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape_unsafe_json(text: str) -> str:
    """JSON text with the characters above written as \\uXXXX escapes (the same value when parsed)."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)

"""Decoding HTTP bodies to text: byte-order marks, declared charsets, and the fallbacks browsers use.

Pure functions over bytes and header values; `newsletter.fetch` uses them for `Response.text`.
"""

from __future__ import annotations

import codecs
import re

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32", "utf-32"),  # before UTF-16 LE: same first two bytes
    (codecs.BOM_UTF32_BE, "utf-32", "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16", "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "utf-16"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:\-]+)["']""")
# Labels browsers read as windows-1252; decoding them as real latin-1 would turn curly quotes into C1 junk.
_CP1252_ALIASES = frozenset({"latin_1", "iso8859_1", "ascii", "cp1252"})
_SNIFF_BYTES = 4096


def _codec(label: str | None) -> str | None:
    """Map a charset label to a usable text codec name, or None when unknown or unsafe."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name == "utf-7":
        return None  # base64/rot13 are not text encodings; utf-7 is an XSS vector
    return "cp1252" if info.name.replace("-", "_") in _CP1252_ALIASES else info.name


def _try_decode(content: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        return content.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def header_charset(content_type_header: str) -> str | None:
    """The ``charset`` parameter of a Content-Type header value, if any."""
    for param in content_type_header.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def sniff_charset(content: bytes) -> str | None:
    """The charset declared inside the document (``<meta>`` or XML declaration) in its first 4 KB."""
    head = content[:_SNIFF_BYTES]
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    return match.group(1).decode("ascii") if match else None


def decode_body(content: bytes, content_type_header: str = "") -> tuple[str, str]:
    """Decode a body to ``(text, codec name)``; never raises.

    Order: byte-order mark (it is unambiguous, so it beats a header that is often wrong) → header
    charset → ``<meta charset>`` / ``http-equiv`` / XML ``encoding=`` in the first 4 KB → strict
    UTF-8 → windows-1252. A declared charset is only used if the bytes decode cleanly with it, which
    rescues cp1252 pages served as ``charset=utf-8``.
    """
    for bom, codec, name in _BOMS:
        if content.startswith(bom):
            text = _try_decode(content, codec)
            if text is not None:
                return text, name
    declared = _codec(header_charset(content_type_header))
    sniffed = _codec(sniff_charset(content))
    if sniffed and sniffed.startswith(("utf-16", "utf-32")):
        sniffed = None  # a declaration readable as ASCII cannot be UTF-16/32 (WHATWG rule)
    for candidate in (declared, sniffed, "utf-8", "cp1252"):
        if candidate is None:
            continue
        text = _try_decode(content, candidate)
        if text is not None:
            return text, candidate
    # cp1252 leaves five bytes undefined; map them like latin-1 rather than fail.
    return content.decode("latin-1"), "cp1252"


def mime_type(content_type_header: str) -> str:
    """``"Text/HTML; charset=x"`` → ``"text/html"``."""
    return content_type_header.split(";", 1)[0].strip().lower()

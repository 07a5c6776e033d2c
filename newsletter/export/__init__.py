"""`newsletter export`: the catalog (or a slice of it) in the formats other tools read. Pure.

- **JSON Lines** (`json`): one item per line, the same object as `show --json`'s `item`.
- **CSV** (`csv`): a header row, then one item per row; every cell neutralized against spreadsheet
  formulas exactly like the subscribers CSV (`mail.subscribers.neutralize_cell`).
- **BibTeX** (`bibtex`): the papers, with `eprint`/`archivePrefix` for arXiv ids, `doi`, authors
  joined with " and ", year, title and URL — what Zotero and other reference managers import.
  Citation keys (`vaswani2017attention`) are stable: made from the first author, year and first
  significant title word, collisions told apart by a letter given in order of addition over the
  whole catalog, so filtering an export never renames a key.
- **OPML 2.0** (`opml`): the feed subscriptions (`feeds.yaml`), for feed readers.

Every function takes values and returns text; the `Catalog` facade reads the items and feeds, the
CLI writes the text.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import string
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..feeds.subscriptions import Subscription
from ..mail.subscribers import neutralize_cell
from ..models import CORE_FIELDS, KIND_FIELDS, Item
from ..text import escape_unsafe_json

FORMATS = ("json", "csv", "bibtex", "opml")

# --------------------------------------------------------------------------- JSON Lines


def item_record(item: Item) -> dict[str, Any]:
    """The exported object of an item: its front matter fields plus `note` (as `show --json`)."""
    return item.to_dict(include_note=True)


def to_jsonl(items: Iterable[Item]) -> str:
    """One JSON object per line, in the given order (empty text for no items)."""
    lines = []
    for item in items:
        text = json.dumps(item_record(item), ensure_ascii=False, default=str)
        lines.append(escape_unsafe_json(text) + "\n")
    return "".join(lines)


# --------------------------------------------------------------------------- CSV

LIST_SEPARATOR = "; "


def csv_columns(items: Sequence[Item]) -> list[str]:
    """Core fields, then every kind-specific field (model order), then other keys seen, then `note`."""
    columns = list(CORE_FIELDS)
    for fields in KIND_FIELDS.values():
        columns.extend(f for f in fields if f not in columns)
    extra = sorted({key for item in items for key in item.extra if key not in columns and key != "note"})
    return [*columns, *extra, "note"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        if all(isinstance(v, str | int | float) for v in value):
            return LIST_SEPARATOR.join(str(v) for v in value)
        return json.dumps(list(value), ensure_ascii=False, default=str)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def to_csv(items: Sequence[Item]) -> str:
    """A header row and one row per item; lists joined with "; ", every cell formula-neutralized."""
    columns = csv_columns(items)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for item in items:
        record = item_record(item)
        writer.writerow([neutralize_cell(_cell(record.get(column))) for column in columns])
    return buffer.getvalue()


# --------------------------------------------------------------------------- BibTeX

_BIB_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
}
_BIB_SPECIAL_RE = re.compile(r"[\\{}&%$#_^~]")
# Control characters (and bidi controls) mean nothing in a .bib file and can break its parsers.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_STOP_WORDS = frozenset({
    "a", "an", "the", "on", "of", "in", "for", "to", "and", "or", "with", "from", "by", "at", "as", "is",
    "are", "be", "its", "into", "via", "towards", "toward",
})


def _flat(text: str) -> str:
    """One line of text: whitespace runs (newlines included) become one space, controls go."""
    return " ".join(_CONTROLS.sub(" ", text).split())


def bib_escape(text: str) -> str:
    """Text for a braced BibTeX field: LaTeX's special characters escaped, one line."""
    return _BIB_SPECIAL_RE.sub(lambda m: _BIB_SPECIAL[m.group()], _flat(text))


def bib_verbatim(text: str) -> str:
    """A URL-like field (url, doi, eprint): kept as typed, but braces, backslashes and spaces
    percent-encoded so the field's braces always balance."""
    value = _flat(text)
    return value.replace("%", "%25").replace("\\", "%5C").replace("{", "%7B").replace("}", "%7D").replace(" ", "%20")


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum())


def _family_name(author: str) -> str:
    name = author.strip()
    if "," in name:  # "Vaswani, Ashish"
        return name.split(",", 1)[0]
    parts = name.split()
    return parts[-1] if parts else ""


def year_of(item: Item) -> str:
    published = item.published or ""
    return published[:4] if re.fullmatch(r"\d{4}", published[:4]) else ""


def base_key(item: Item) -> str:
    """`vaswani2017attention`: first author's family name, year, first significant title word."""
    author = _ascii_word(_family_name(item.authors[0])) if item.authors else ""
    words = [_ascii_word(w) for w in re.split(r"[\s\-–—:/]+", item.title)]
    words = [w for w in words if w]
    significant = next((w for w in words if w not in _STOP_WORDS), words[0] if words else "")
    key = f"{author or 'anon'}{year_of(item)}{significant[:20]}"
    return key or f"item{item.id}"


def citation_keys(papers: Iterable[Item]) -> dict[str, str]:
    """Item id -> a unique citation key. Items sharing a base key are told apart by a letter
    (`…attention`, `…attentiona`, `…attentionb`) in order of addition, so keys do not depend on
    which slice is exported: give this every paper of the catalog."""
    groups: dict[str, list[Item]] = {}
    for item in sorted(papers, key=lambda i: (i.added, i.id)):
        groups.setdefault(base_key(item), []).append(item)
    keys: dict[str, str] = {}
    taken = set(groups)
    for base, members in groups.items():
        keys[members[0].id] = base
        suffixes = _suffixes()
        for item in members[1:]:
            candidate = base + next(suffixes)
            while candidate in taken:
                candidate = base + next(suffixes)
            taken.add(candidate)
            keys[item.id] = candidate
    return keys


def _suffixes() -> Iterator[str]:
    for length in itertools.count(1):
        for letters in itertools.product(string.ascii_lowercase, repeat=length):
            yield "".join(letters)


def _bib_author(name: str) -> str:
    escaped = bib_escape(name)
    # A name that itself contains " and " would be split into two people: brace it whole.
    return "{" + escaped + "}" if re.search(r"\sand\s", escaped, re.IGNORECASE) else escaped


def bib_entry(item: Item, key: str) -> str:
    """One BibTeX entry: @article when the paper has a DOI, else @misc (a preprint)."""
    extra = item.extra
    arxiv_id = str(extra.get("arxiv_id") or "")
    doi = str(extra.get("doi") or "")
    fields: list[tuple[str, str]] = [("title", "{" + bib_escape(item.display_title()) + "}")]
    if item.authors:
        fields.append(("author", " and ".join(_bib_author(a) for a in item.authors if a.strip())))
    year = year_of(item)
    if year:
        fields.append(("year", year))
        if item.published and len(item.published) >= 7:
            fields.append(("month", str(int(item.published[5:7]))))
    if extra.get("venue"):
        fields.append(("journal" if doi else "howpublished", bib_escape(str(extra["venue"]))))
    if doi:
        fields.append(("doi", bib_verbatim(doi)))
    if arxiv_id:
        fields.append(("eprint", bib_verbatim(arxiv_id)))
        fields.append(("archivePrefix", "arXiv"))
        categories = extra.get("categories")
        if isinstance(categories, list) and categories:
            fields.append(("primaryClass", bib_verbatim(str(categories[0]))))
    fields.append(("url", bib_verbatim(item.canonical_url or item.url)))
    if item.summary:
        fields.append(("abstract", bib_escape(item.summary)))
    if item.tags:
        fields.append(("keywords", bib_escape(", ".join(item.tags))))
    kind = "article" if doi else "misc"
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{key},\n{body}\n}}\n"


def to_bibtex(papers: Sequence[Item], keys: Mapping[str, str] | None = None) -> str:
    """BibTeX entries for the papers (other kinds are left out), blank line between entries.

    `keys` maps item id -> citation key (see `citation_keys`, computed over the whole catalog);
    by default the keys are made from `papers` alone.
    """
    chosen = [item for item in papers if item.kind == "paper"]
    keys = keys if keys is not None else citation_keys(chosen)
    return "\n".join(bib_entry(item, keys.get(item.id) or base_key(item)) for item in chosen)


# --------------------------------------------------------------------------- OPML

# Characters XML 1.0 cannot hold at all, even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_attr(text: str) -> str:
    """Text for a double-quoted XML attribute: markup characters and line breaks as references."""
    value = _NOT_XML.sub("", text)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return value.replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_opml(subscriptions: Iterable[Subscription], *, title: str) -> str:
    """An OPML 2.0 subscription list: one `<outline type="rss">` per followed feed.

    Feeds marked `gone` (they answered 410) are no longer followed and are left out.
    """
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{xml_text(title)}</title>",
        "  </head>",
        "  <body>",
    ]
    for sub in subscriptions:
        if sub.gone:
            continue
        label = sub.title or sub.url
        attrs = [("type", "rss"), ("text", label), ("title", label), ("xmlUrl", sub.url)]
        site = sub.extra.get("site") or sub.extra.get("html_url")
        if isinstance(site, str) and site:
            attrs.append(("htmlUrl", site))
        if sub.kind == "podcast":
            attrs.append(("category", "podcast"))
        rendered = " ".join(f'{name}="{xml_attr(value)}"' for name, value in attrs)
        lines.append(f"    <outline {rendered}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


__all__ = [
    "FORMATS",
    "base_key",
    "bib_entry",
    "bib_escape",
    "citation_keys",
    "csv_columns",
    "item_record",
    "to_bibtex",
    "to_csv",
    "to_jsonl",
    "to_opml",
]

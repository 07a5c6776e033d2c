"""Ghost posts without `html`: their Lexical or Mobiledoc JSON as (kind, text) parts (pure).

Recent exports carry each post's `html` and the converter takes that (`platforms.ghost`); older or
partial ones carry only the editor's document. Both formats are walked into plain HTML pieces
(text escaped here, links as `<a href>`) and Markdown cards' own Markdown, so the rest of the way is
the same safe path as any HTML post: `html.html_to_markdown` and `body.clean_markdown`.
Lexical: `root.children` of paragraph / heading / list / quote / link / text nodes, `markdown` and
`html` cards. Mobiledoc 0.3: `sections` of markup (1), image (2), list (3) and card (10) sections over
`markers` whose opening `markups` (`["a", ["href", url]]`) close after a count.
"""

from __future__ import annotations

import html
import json
from typing import Any

from .html import HEADING

Part = tuple[str, str]  # ("html" | "markdown", text)
MAX_NODES = 200_000  # a hostile document is walked this far, no further
_LEXICAL_BLOCKS = {"paragraph": "p", "quote": "blockquote", "listitem": "li"}
# fmt: off
_MOBILEDOC_TAGS = frozenset({"p", *HEADING, "blockquote", "ul", "ol", "pre", "aside", "strong", "b", "em", "i",
                             "code", "a", "u", "s", "sub", "sup"})
# fmt: on


def as_list(value: Any) -> list[Any]:
    """`value` when it is a list, else [] (untrusted JSON says what it likes)."""
    return value if isinstance(value, list) else []


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def lexical_parts(document: Any) -> list[Part]:
    """A Lexical document (the JSON text or its object) as parts; [] when it is not one."""
    data = _json(document)
    root = data.get("root") if isinstance(data, dict) else None
    if not isinstance(root, dict):
        return []
    parts: list[Part] = []
    budget = [MAX_NODES]

    def walk(node: Any) -> str:
        budget[0] -= 1
        if budget[0] < 0 or not isinstance(node, dict):
            return ""
        kind = str(node.get("type") or "")
        children = as_list(node.get("children"))
        inner = "".join(walk(child) for child in children)
        if kind == "text":
            return html.escape(str(node.get("text") or ""))
        if kind == "linebreak":
            return "<br>"
        if kind in ("link", "autolink"):
            return f'<a href="{html.escape(str(node.get("url") or ""))}">{inner}</a>'
        if kind == "heading":
            tag = str(node.get("tag") or "h2")
            tag = tag if tag in HEADING else "h2"
            return f"<{tag}>{inner}</{tag}>"
        if kind == "list":
            tag = "ol" if node.get("listType") == "number" else "ul"
            return f"<{tag}>{inner}</{tag}>"
        if kind in _LEXICAL_BLOCKS:
            tag = _LEXICAL_BLOCKS[kind]
            return f"<{tag}>{inner}</{tag}>"
        return inner

    for child in as_list(root.get("children")):
        if isinstance(child, dict) and child.get("type") == "markdown":
            parts.append(("markdown", str(child.get("markdown") or "")))
        elif isinstance(child, dict) and child.get("type") == "html":
            parts.append(("html", str(child.get("html") or "")))
        else:
            parts.append(("html", walk(child)))
    return parts


def mobiledoc_parts(document: Any) -> list[Part]:
    """A Mobiledoc document (the JSON text or its object) as parts; [] when it is not one."""
    data = _json(document)
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        return []
    markups = [m for m in as_list(data.get("markups")) if isinstance(m, list)]
    cards = as_list(data.get("cards"))
    parts: list[Part] = []

    def open_tag(index: Any) -> tuple[str, str]:
        if not isinstance(index, int) or not 0 <= index < len(markups) or not markups[index]:
            return "", ""
        tag = str(markups[index][0]).lower()
        if tag not in _MOBILEDOC_TAGS:
            return "", ""
        attrs = markups[index][1] if len(markups[index]) > 1 and isinstance(markups[index][1], list) else []
        href = next((str(attrs[i + 1]) for i in range(0, len(attrs) - 1, 2) if attrs[i] == "href"), "")
        return (f'<a href="{html.escape(href)}">' if tag == "a" else f"<{tag}>"), f"</{tag}>"

    def markers(items: Any) -> str:
        out: list[str] = []
        closing: list[str] = []
        for marker in items if isinstance(items, list) else []:
            if not isinstance(marker, list) or len(marker) < 4:
                continue
            for index in marker[1] if isinstance(marker[1], list) else []:
                start, end = open_tag(index)
                out.append(start)
                closing.append(end)
            out.append(html.escape(str(marker[3])) if marker[0] == 0 else "")
            for _ in range(marker[2] if isinstance(marker[2], int) and marker[2] > 0 else 0):
                if closing:
                    out.append(closing.pop())
        return "".join(out) + "".join(reversed(closing))

    for section in data["sections"][:MAX_NODES]:
        if not isinstance(section, list) or not section:
            continue
        kind = section[0]
        tag = str(section[1]).lower() if len(section) > 1 else "p"
        tag = tag if tag in _MOBILEDOC_TAGS else "p"
        if kind == 1 and len(section) > 2:
            parts.append(("html", f"<{tag}>{markers(section[2])}</{tag}>"))
        elif kind == 3 and len(section) > 2 and isinstance(section[2], list):
            items = "".join(f"<li>{markers(item)}</li>" for item in section[2][:MAX_NODES])
            parts.append(("html", f"<{tag}>{items}</{tag}>"))
        elif kind == 10 and len(section) > 1 and isinstance(section[1], int) and 0 <= section[1] < len(cards):
            card = cards[section[1]]
            if isinstance(card, list) and len(card) > 1 and isinstance(card[1], dict):
                if card[0] == "markdown":
                    parts.append(("markdown", str(card[1].get("markdown") or "")))
                elif card[0] == "html":
                    parts.append(("html", str(card[1].get("html") or "")))
    return parts

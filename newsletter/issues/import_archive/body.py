"""An imported issue's Markdown body made safe, and the links in it that are worth a catalog item (pure).

Markdown from a platform (Buttondown's bodies, a folder of `.md` files) is the curator's own text and
stays as written, except what never belongs in an issue: control and bidi characters, HTML comments,
and raw HTML (its `<` and `>` become entities, so nothing renders as a tag; `<https://…>` autolinks
stay). HTML posts arrive here already rebuilt as Markdown (`html.html_to_markdown`).

Then every inline link goes through the one boilerplate filter (`web.boilerplate`, the one `inbox
pull` uses): a click-tracking redirect is replaced by its target when the target is in the query,
and unsubscribe / preferences / share / mailto / image links and the platforms' opaque trackers
lose their link (their text stays). What remains are the issue's links: each becomes (or finds) a
catalog item.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import urlsplit

from ...web.boilerplate import is_boilerplate, is_platform_redirect, resolve_redirect
from .. import files
from ..draft import md_url

_FENCE = re.compile(r"^\s*(```|~~~)")
_AUTOLINK = re.compile(r"<(https?://[^\s<>]+)>")
_KEEP = "\t\n"


@dataclasses.dataclass(frozen=True)
class BodyLink:
    """A link of an issue's body that stands for a resource: its URL and the text it was given."""

    url: str
    text: str


def without_controls(text: str) -> str:
    """Text minus control, format and bidi characters (tabs and newlines kept; CRLF and CR become LF)."""
    return "".join(
        ch
        for ch in text.replace("\r\n", "\n").replace("\r", "\n")
        if ch in _KEEP or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )


def clean_markdown(text: str) -> str:
    """Markdown as written, minus control/bidi characters, HTML comments and raw HTML (see above)."""
    text = without_controls(text)
    text = re.sub(r"<!--.*?(-->|\Z)", "", text, flags=re.S)
    out, inside = [], False
    for line in text.split("\n"):
        if _FENCE.match(line):
            inside = not inside
            out.append(line)
            continue
        if inside:
            out.append(line)
            continue
        out.append(_outside_code_spans(line, _inert_html))
    return "\n".join(out).strip() + "\n"


# A code span as CommonMark reads it: a run of backticks not escaped, closed by a run of the same length.
_CODE_SPAN = re.compile(r"(?<![\\`])(`+)(?!`).*?(?<!`)\1(?!`)")


def _outside_code_spans(line: str, change: Callable[[str], str]) -> str:
    """`change` applied to the parts of a line outside its code spans (which show < > literally)."""
    out, at = [], 0
    for match in _CODE_SPAN.finditer(line):
        out += [change(line[at : match.start()]), match.group(0)]
        at = match.end()
    return "".join([*out, change(line[at:])])


def _inert_html(text: str) -> str:
    spans: list[str] = []

    def keep(match: re.Match[str]) -> str:
        spans.append(f"[{match.group(1)}]({md_url(match.group(1))})" if md_url(match.group(1)) else "")
        return f"\x00{len(spans) - 1}\x00"

    text = _AUTOLINK.sub(keep, text)
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], text)


def usable_link(url: str, *, own_hosts: frozenset[str] = frozenset()) -> str | None:
    """The URL a body link should point at; None to keep just its text; "" to drop it, text and all.

    Furniture (unsubscribe, preferences, share buttons, images) goes with its words ("Share on X",
    "Unsubscribe"); a mailto:, an opaque tracker or the newsletter's own page keeps its words, which
    may be part of a sentence.
    """
    if not url.lower().startswith(("http://", "https://")):
        return None
    target = resolve_redirect(url)
    if is_boilerplate(url) or is_boilerplate(target):
        return ""
    safe = md_url(target)
    if is_platform_redirect(target) or not safe:
        return None
    try:
        host = (urlsplit(safe).hostname or "").lower().removeprefix("www.")
    except ValueError:
        return None
    if host in own_hosts:
        return None  # the newsletter's own archive pages (the previous issue, the signup page)
    return safe


def _tidy(line: str) -> str:
    """A line some furniture was dropped from, without the separators it leaves behind."""
    line = re.sub(r"(?:[ \t]*[·•][ \t]*){2,}", " · ", line)
    return re.sub(r"^[ \t]*[·•][ \t]*|[ \t]*[·•][ \t]*$", "", line)


def filter_links(body: str, *, own_hosts: frozenset[str] = frozenset()) -> tuple[str, list[BodyLink]]:
    """The body with furniture unlinked and redirects resolved, and its links in order, once each."""
    before = body.split("\n")
    after = files.map_links(body, lambda url, _text: usable_link(url, own_hosts=own_hosts)).split("\n")
    # what is left of a "Share · Write to us · Unsubscribe" footer line: its dots
    body = "\n".join(_tidy(line) if line != was else line for line, was in zip(after, before, strict=True))
    seen: set[str] = set()
    links: list[BodyLink] = []
    for link in files.extract_links(body):
        if link.url in seen:
            continue
        seen.add(link.url)
        text = link.text.strip()
        links.append(BodyLink(link.url, "" if text == link.url else text))
    return body, links

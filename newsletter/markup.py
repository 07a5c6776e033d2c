"""The one HTML sanitizer of the package: curator text (notes, summaries, titles) → inert HTML.

Issue bodies are Markdown written by a person, but notes also arrive from imports, the capture
inbox and other editors, and mkdocs.yml enables `attr_list`, so the rendered HTML can carry event
attributes (`{: onerror=… }`), `javascript:` links or raw tags. Rather than hand-written rules, the
rendered HTML goes through nh3 (the Rust `ammonia` sanitizer, which parses the HTML the way a browser
does, entities and all) with the allow-list below. The site (issue pages, home page excerpts,
table of contents), the RSS/Atom feeds and the email body all call `sanitize_html`; titles that
templates print raw go through `title_html`.

The allow-list is what the project's own Markdown produces: the issue template's headings, links,
emphasis and lists, plus what the enabled extensions write (tables, footnotes, admonitions,
highlighted code). Attributes that `attr_list` would let anyone add (classes, styles, event
handlers, data-*) are kept only where an extension itself writes them, with the extension's values.
"""

from __future__ import annotations

import html
import re

import nh3

#: Link and image schemes that survive; everything else (javascript:, data:, vbscript:, file: …) is dropped.
SAFE_LINK_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})

#: Tags the rendered Markdown of an issue may contain (anything else is unwrapped to its text).
ALLOWED_TAGS: frozenset[str] = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre",
    "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "ul",
})

#: Tags removed together with their content (their text is code or markup, never prose).
DROPPED_WITH_CONTENT: frozenset[str] = frozenset({"script", "style", "template", "noscript", "textarea", "title"})

_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")

#: Attributes per tag. `id` only where the toc and footnotes extensions write anchors; `style` only on
#: table cells (column alignment from the tables extension), its properties limited below.
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "abbr": frozenset({"title"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "ol": frozenset({"start"}),
    "td": frozenset({"colspan", "rowspan", "style"}),
    "th": frozenset({"colspan", "rowspan", "style"}),
    "sup": frozenset({"id"}),
    "li": frozenset({"id"}),
    **{h: frozenset({"id"}) for h in _HEADINGS},
}

#: CSS properties a kept `style` attribute may set (the tables extension's column alignment).
ALLOWED_STYLE_PROPERTIES: frozenset[str] = frozenset({"text-align"})

#: Email only: the renderer sizes images for the 600px column with these (see mail/render.py).
EMAIL_IMAGE_STYLE_PROPERTIES: frozenset[str] = frozenset({"width", "max-width", "height"})

_ADMONITION_TYPES = frozenset({
    "note", "abstract", "summary", "tldr", "info", "todo", "tip", "hint", "important", "success", "check",
    "done", "question", "help", "faq", "warning", "caution", "attention", "failure", "fail", "missing",
    "danger", "error", "bug", "example", "quote", "cite",
})


def _pygments_classes() -> frozenset[str]:
    try:
        from pygments.token import STANDARD_TYPES  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - pymdownx.highlight needs pygments, so it is there
        return frozenset()
    return frozenset(name for name in STANDARD_TYPES.values() if name)


#: Classes per tag: exactly the ones the enabled Markdown extensions write (admonition, footnotes,
#: toc anchors, pymdownx.highlight). A class added through `attr_list` (`{: .md-button }`) is dropped.
ALLOWED_CLASSES: dict[str, frozenset[str]] = {
    "div": frozenset({"admonition", "footnote", "highlight", *_ADMONITION_TYPES}),
    "p": frozenset({"admonition-title"}),
    "a": frozenset({"footnote-ref", "footnote-backref", "headerlink", "toclink"}),
    "span": _pygments_classes() | {"filename"},
    "code": frozenset({"highlight"}),
    "pre": frozenset({"highlight"}),
}

# What a browser ignores around and inside a URL before it looks for the scheme (WHATWG URL parser).
_URL_EDGE = "".join(chr(c) for c in range(0x21))
_URL_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Markdown punctuation a title must not feed to Python-Markdown (links, images, emphasis, code,
# attribute lists, escapes); written as numeric character references, which render as the character.
_MARKDOWN_PUNCTUATION = re.compile(r"[\\`*_\[\]{}!|~]")


def link_scheme(url: str) -> str | None:
    """The scheme a browser would see in `url` (lower case), or None for a relative URL.

    Mirrors the WHATWG parser: leading/trailing spaces and control characters are ignored and tabs
    and newlines inside are removed, so `"  Java\\tScript:…"` is a `javascript` URL.
    """
    value = _URL_TAB_NEWLINE.sub("", str(url).strip(_URL_EDGE))
    match = _SCHEME.match(value)
    return match.group(1).lower() if match else None


def is_safe_link(url: str, *, relative: bool = False) -> bool:
    """True when `url` may be an href/src: an http, https or mailto URL (relative ones if `relative`).

    `url` is the value as the browser sees it (character references already decoded). Control
    characters anywhere make it unsafe: browsers and mail clients disagree on what they mean.
    """
    value = str(url or "").strip(" ")
    if not value or _CONTROL.search(value):
        return False
    scheme = link_scheme(value)
    if scheme is None:
        return relative
    return scheme in SAFE_LINK_SCHEMES


def _filter_attribute(tag: str, name: str, value: str) -> str | None:
    # nh3 already limited the schemes; this repeats the check with the browser's view of the URL
    # (one rule for the whole package) and refuses protocol-relative tricks with control characters.
    if name in ("href", "src") and not is_safe_link(value, relative=True):
        return None
    return value


def sanitize_html(fragment: str, *, email: bool = False) -> str:
    """`fragment` with only the allow-listed tags, attributes, classes and URL schemes left.

    Disallowed tags are unwrapped (their text stays, escaped), scripts and styles vanish with their
    content, comments are dropped, event attributes and `javascript:`/`data:`/`vbscript:` URLs never
    survive. `email=True` also keeps the image sizing styles the email renderer writes.
    """
    attributes = {tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()}
    styles = set(ALLOWED_STYLE_PROPERTIES)
    if email:
        attributes["img"] = attributes["img"] | {"style"}
        styles |= EMAIL_IMAGE_STYLE_PROPERTIES
    return nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes=attributes,
        attribute_filter=_filter_attribute,
        strip_comments=True,
        link_rel=None,  # leave links as written (no target= survives, so no opener to protect)
        url_schemes=set(SAFE_LINK_SCHEMES),
        allowed_classes={tag: set(names) for tag, names in ALLOWED_CLASSES.items()},
        filter_style_properties=styles,
    )


def text_only(fragment: str) -> str:
    """An HTML fragment reduced to its text, still HTML-escaped (for table-of-contents entries)."""
    return nh3.clean(fragment, tags=set(), clean_content_tags=set(DROPPED_WITH_CONTENT), attributes={})


def title_html(text: str) -> str:
    """A plain-text title as HTML text that is inert in templates *and* as Markdown.

    Theme templates print page titles without escaping, and the blog plugin feeds the title to
    Python-Markdown (`# {title}`) for the home page; so `& < > " '` are escaped and Markdown
    punctuation becomes numeric character references (shown as the same characters).
    """
    escaped = html.escape(" ".join(str(text or "").split()), quote=True)
    return _MARKDOWN_PUNCTUATION.sub(lambda m: f"&#{ord(m.group(0))};", escaped)

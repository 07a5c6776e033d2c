"""An issue's Markdown → email-safe HTML (table layout, inlined CSS) and a plain-text alternative.

Pure: text in, text out (templates are read through a Jinja loader, nothing else is touched).

The body is rendered with Python-Markdown and the extensions the site's default config uses
(tables, fenced code, attribute lists), with three email-specific rules applied to the element tree:

- raw HTML in the Markdown is shown as text, never passed through (a title copied from a web page
  into a draft cannot smuggle markup or scripts into thousands of inboxes);
- links keep only http(s) and mailto targets (relative ones are made absolute against the site URL;
  anything else, `javascript:` included, loses its href and stays as plain text);
- images get an alt text and an explicit width that fits the 600px column.

Then the fragment goes through the package's one sanitizer (`newsletter.markup.sanitize_html`, the
allow-list the site and the feeds use), so an attribute list in a note (`{: onerror=… }`,
`{: style=… }`) or anything the rules above missed never reaches an inbox.

CSS is inlined with css-inline (see `inline_css`); the one `<style>` block keeps only its @media
rules (phones, dark mode) for the clients that honour them. The HTML and text are rendered once per
issue with placeholder markers where the per-subscriber unsubscribe link and address go;
`RenderedEmail.personalize` swaps them in with a string replace (cheap for 10k subscribers).
"""

from __future__ import annotations

import dataclasses
import html
import re
import textwrap
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import markdown
from markdown.treeprocessors import Treeprocessor

from ..markup import is_safe_link, sanitize_html

# Placeholders substituted per subscriber. Plain alphanumerics: HTML escaping, CSS inlining and
# Jinja autoescape leave them untouched, and they cannot occur in real text by accident.
UNSUBSCRIBE_MARKER = "xNLxUNSUBSCRIBExURLx"
RECIPIENT_MARKER = "xNLxRECIPIENTx"

CONTENT_WIDTH = 552  # the 600px column minus 2 × 24px padding
TEXT_WIDTH = 72
MORE_MARKER = re.compile(r"<!--\s*more\s*-->", re.I)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)


@dataclasses.dataclass
class RenderedEmail:
    """One issue rendered for email, with markers where per-subscriber values go."""

    number: int
    subject: str
    html: str
    text: str
    web_url: str = ""

    def personalize(self, *, unsubscribe_url: str, recipient: str) -> tuple[str, str]:
        """(html, text) for one subscriber: the markers replaced by their link and address."""
        page = self.html.replace(UNSUBSCRIBE_MARKER, html.escape(unsubscribe_url, quote=True))
        page = page.replace(RECIPIENT_MARKER, html.escape(recipient, quote=True))
        text = self.text.replace(UNSUBSCRIBE_MARKER, unsubscribe_url).replace(RECIPIENT_MARKER, recipient)
        return page, text


# -- Markdown → HTML fragment ---------------------------------------------------------------------


def safe_url(url: str, base_url: str = "") -> str | None:
    """`url` if it is http(s) or mailto (relative ones resolved against `base_url`), else None.

    Character references are decoded first: Python-Markdown keeps `&colon;` or `&#9;` in an href
    as written, and mail clients decode them (`javascript&colon;…` is a javascript: link there).
    """
    url = html.unescape(url).strip()
    if not is_safe_link(url, relative=True):
        return None
    if not urlsplit(url).scheme:
        if not base_url or url.startswith("#"):
            return None
        url = urljoin(base_url, url)
    return url if is_safe_link(url) else None


class _EmailTree(Treeprocessor):
    """Makes the rendered tree safe and email-friendly: link schemes, image alt and width."""

    def __init__(self, md: markdown.Markdown, base_url: str) -> None:
        super().__init__(md)
        self.base_url = base_url

    def run(self, root: ET.Element) -> None:
        for parent in root.iter():
            for child in list(parent):
                if child.tag == "a":
                    self._link(child)
                elif child.tag == "img" and not self._image(child):
                    self._drop_image(parent, child)

    def _link(self, element: ET.Element) -> None:
        href = safe_url(element.get("href", ""), self.base_url)
        if href is None:
            element.tag = "span"
            element.attrib.clear()
        else:
            element.set("href", href)

    def _image(self, element: ET.Element) -> bool:
        src = safe_url(element.get("src", ""), self.base_url)
        if src is None or src.startswith("mailto:"):
            return False
        element.set("src", src)
        alt = (element.get("alt") or element.get("title") or "").strip()
        element.set("alt", alt or "Image")
        try:
            given = int(element.get("width", ""))
            width = min(given, CONTENT_WIDTH)
        except ValueError:
            given = width = CONTENT_WIDTH
        element.set("width", str(width))  # what Outlook uses; it ignores max-width
        try:
            # A height known from the file, scaled with the width, keeps the box when images are blocked.
            element.set("height", str(max(1, round(int(element.get("height", "")) * width / max(given, 1)))))
        except ValueError:
            element.attrib.pop("height", None)  # unknown: the width scales it; a guess would distort it
        # A percentage width lets a table cell shrink below the image on phones; max-width keeps
        # small images small.
        element.set("style", f"width: 100%; max-width: {width}px; height: auto;")
        return True

    def _drop_image(self, parent: ET.Element, element: ET.Element) -> None:
        # An image we will not load still says what it was.
        index = list(parent).index(element)
        tail = element.tail or ""
        parent.remove(element)
        alt = f"[Image: {element.get('alt') or 'no description'}]"
        if index == 0:
            parent.text = (parent.text or "") + alt + tail
        else:
            previous = parent[index - 1]
            previous.tail = (previous.tail or "") + alt + tail


def markdown_to_html(body: str, *, base_url: str = "") -> str:
    """An issue body as an HTML fragment for email (see the module docstring for the rules)."""
    body = HTML_COMMENT.sub("", MORE_MARKER.sub("", body))
    # attr_list as on the site, so `{: … }` in a note is consumed (and its attributes sanitized away)
    # instead of showing up as literal text in both parts.
    md = markdown.Markdown(extensions=["tables", "fenced_code", "sane_lists", "attr_list"], output_format="html")
    # Raw HTML is escaped, not interpreted: drop the parsers that would pass it through.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    md.treeprocessors.register(_EmailTree(md, base_url), "email", 0)
    return sanitize_html(md.convert(body), email=True)


def first_paragraph_text(body: str, limit: int = 140) -> str:
    """The opening paragraph as plain text, for the inbox preview line (preheader)."""
    intro = MORE_MARKER.split(body, 1)[0]
    for block in re.split(r"\n\s*\n", intro.strip()):
        if block.strip() and not block.lstrip().startswith(("#", "<!--")):
            text = html_to_text(markdown_to_html(block)).split("\n\n")[0]  # without the link list
            text = re.sub(r"\s+", " ", re.sub(r"\s*\[\d+\]", "", text)).strip()
            return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
    return ""


# -- HTML fragment → plain text ---------------------------------------------------------------


class _TextWriter(HTMLParser):
    """Turns the Markdown's HTML back into readable plain text.

    Links become numbered references (`text [3]`), listed under each `## ` section and at the end,
    so the reader sees where a link goes without long URLs breaking every paragraph.
    """

    BLOCKS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "pre", "blockquote", "tr", "hr", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.inline: list[str] = []
        self.lists: list[list[Any]] = []  # [tag, counter]
        self.quote = 0
        self.pre = 0
        self.heading = ""
        self.numbers: dict[str, int] = {}
        self.pending: list[int] = []
        self.anchors: list[tuple[str | None, int]] = []
        self.table = 0

    # block handling
    def _flush(self) -> None:
        text = "".join(self.inline)
        self.inline = []
        if self.pre:
            return
        text = re.sub(r"[ \t\r\f\v]+", " ", text).strip()
        if not text:
            return
        if self.heading:
            level = int(self.heading[1])
            if level == 1:
                self._block(f"{text}\n{'=' * min(len(text), TEXT_WIDTH)}")
            elif level == 2:
                self._block(f"{text}\n{'-' * min(len(text), TEXT_WIDTH)}")
            else:
                self._block(self._wrap(text, "", ""))
            return
        if self.table:
            self._block(self._wrap(text, "", "  "), tight=True)
            return
        if self.lists:
            tag, count = self.lists[-1]
            bullet = f"{count}. " if tag == "ol" else "- "
            indent = "  " * (len(self.lists) - 1)
            self._block(self._wrap(text, indent + bullet, indent + " " * len(bullet)), tight=True)
            return
        self._block(self._wrap(text, "", ""))

    def _wrap(self, text: str, first: str, rest: str) -> str:
        prefix = "> " * self.quote
        lines: list[str] = []
        for piece in text.split("\n"):
            wrapped = textwrap.wrap(
                piece.strip(),
                width=TEXT_WIDTH,
                initial_indent=prefix + (first if not lines else rest),
                subsequent_indent=prefix + rest,
                break_long_words=False,
                break_on_hyphens=False,
            )
            lines.extend(wrapped or [prefix.rstrip()])
        return "\n".join(lines)

    def _block(self, text: str, *, tight: bool = False) -> None:
        if tight and self.out and self.out[-1].startswith("\x00tight"):
            self.out[-1] += "\n" + text
        else:
            self.out.append(("\x00tight" if tight else "") + text)

    def _links_block(self) -> None:
        if self.pending:
            urls = {n: u for u, n in self.numbers.items()}
            self._block("\n".join(f"[{n}] {urls[n].removeprefix('mailto:')}" for n in self.pending))
            self.pending = []

    # parser callbacks
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag in self.BLOCKS or tag in ("ul", "ol"):
            self._flush()
        if tag == "h2":
            self._links_block()
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.heading = tag
        elif tag in ("ul", "ol"):
            self.lists.append([tag, 0])
        elif tag == "li" and self.lists:
            self.lists[-1][1] += 1
        elif tag == "blockquote":
            self.quote += 1
        elif tag == "table":
            self.table += 1
        elif tag == "pre":
            self.pre += 1
        elif tag == "br":
            self.inline.append("\n")
        elif tag == "hr":
            self._block("* * *")
        elif tag == "a":
            self.anchors.append((attr.get("href"), len(self.inline)))
        elif tag == "img":
            self.inline.append(f"[Image: {attr.get('alt') or 'no description'}]")
        elif tag in ("td", "th") and "".join(self.inline).strip():
            self.inline.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.anchors:
            href, start = self.anchors.pop()
            label = "".join(self.inline[start:]).strip()
            if href:
                target = href[7:] if href.startswith("mailto:") else href
                if label.rstrip("/") in (href.rstrip("/"), target):
                    self.inline[start:] = [target]
                else:
                    number = self.numbers.setdefault(href, len(self.numbers) + 1)
                    if number not in self.pending:
                        self.pending.append(number)
                    self.inline.append(f" [{number}]")
            return
        if tag == "pre":
            code = "".join(self.inline).strip("\n")
            self.inline = []
            self.pre -= 1
            self._block("\n".join(("> " * self.quote) + "    " + line for line in code.split("\n")))
            return
        if tag in self.BLOCKS:
            self._flush()
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.heading = ""
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            self.out.append("")  # ends a tight list
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
        elif tag == "table":
            self.table = max(0, self.table - 1)
            self.out.append("")  # ends the tight rows

    def handle_data(self, data: str) -> None:
        self.inline.append(data if self.pre else data.replace("\n", " "))

    def result(self) -> str:
        self._flush()
        self._links_block()
        blocks = [b.removeprefix("\x00tight") for b in self.out if b]
        return "\n\n".join(blocks).strip() + "\n"


def html_to_text(fragment: str) -> str:
    """Readable plain text from an HTML fragment: wrapped at 72 columns, links as [n] references."""
    writer = _TextWriter()
    writer.feed(fragment)
    writer.close()
    return writer.result()


# -- the whole email ----------------------------------------------------------------------------


def inline_css(page: str) -> str:
    """Inline the page's CSS into style attributes; @media rules stay in one <style> block.

    css-inline (a Rust library) over MJML: the layout is a plain Jinja template a curator can
    override and read, rendering needs no Node toolchain, and inlining an issue takes milliseconds.
    """
    import css_inline

    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    return inliner.inline(page)


def template_environment(templates_dir: Path | None) -> Any:
    """Jinja environment: the project's `templates/` first, the packaged defaults second."""
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None and templates_dir.is_dir():
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(jinja2.PackageLoader("newsletter", "templates"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html")),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def clean_line(text: str, limit: int = 300) -> str:
    """One line of text: control characters (CR, LF, tabs ...) become spaces, runs collapse, capped."""
    text = re.sub(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+", " ", str(text))
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit]


def render_issue(
    *,
    number: int,
    title: str,
    date: str,
    body: str,
    newsletter: dict[str, str],
    templates_dir: Path | None = None,
    web_url: str = "",
) -> RenderedEmail:
    """Render one issue with the email templates.

    `newsletter` holds name, description, site_url, language, sender_email, subscribe_url.
    The result carries markers for the per-subscriber values; see `RenderedEmail.personalize`.
    """
    title = clean_line(title) or f"Issue {number}"
    defaults = dict.fromkeys(("name", "description", "site_url", "sender_email", "subscribe_url"), "")
    newsletter = {**defaults, "language": "en", **newsletter}
    site_url = newsletter["site_url"]
    content_html = markdown_to_html(body, base_url=site_url)
    content_text = html_to_text(content_html)
    env = template_environment(templates_dir)
    import markupsafe

    context = {
        "newsletter": newsletter,
        "issue": {"number": number, "title": title, "date": clean_line(date), "web_url": web_url},
        "content_html": markupsafe.Markup(content_html),
        "content_text": content_text,
        "preheader": first_paragraph_text(body),
        "unsubscribe_url": UNSUBSCRIBE_MARKER,
        "recipient": RECIPIENT_MARKER,
    }
    page = env.get_template("email.html.j2").render(context)
    text = env.get_template("email.txt.j2").render(context)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return RenderedEmail(number=number, subject=title, html=inline_css(page), text=text, web_url=web_url)

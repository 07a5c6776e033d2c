"""A platform's HTML post → issue Markdown: text and links kept, everything else made inert (pure).

Substack and Ghost export posts as HTML written by their editors (and by whoever pasted into them),
so the HTML is untrusted. It is parsed with html.parser (no network, no entity expansion beyond
HTML's own) and rebuilt as Markdown from scratch: text goes through `md_inline` (every Markdown
marker escaped, `< > &` as entities), links become `[text](url)` only when the URL is http(s)
(`md_url`); scripts, styles, forms, iframes and the platforms' own widgets (subscribe boxes, share
buttons) are dropped with their content; images are left out (they live on the platform's CDN).
What comes out is Markdown no one has to trust: no raw HTML survives.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from ..draft import md_inline, md_line_start, md_url
from .body import without_controls

# fmt: off
DROPPED = frozenset({"script", "style", "template", "noscript", "textarea", "title", "head", "iframe", "object",
                     "form", "button", "select", "svg", "video", "audio", "figcaption"})
VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "source", "wbr", "col", "area", "base", "embed"})
BLOCKS = frozenset({"p", "div", "section", "article", "header", "footer", "figure", "table", "tr", "ul", "ol",
                    "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "dl", "dt", "dd"})
# fmt: on
# Class names of the platforms' furniture: Substack's subscribe and share widgets, Ghost's signup cards.
WIDGET_CLASSES = (
    "subscription-widget",
    "subscribe-widget",
    "button-wrapper",
    "share-dialog",
    "kg-signup-card",
    "kg-cta-card",
    "footer",
)
HEADING = {"h1": "##", "h2": "##", "h3": "###", "h4": "####", "h5": "####", "h6": "####"}
MAX_DEPTH = 200  # nesting kept track of; deeper markup is flattened (a hostile file nests 100,000 divs)


class _Writer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.inline: list[str] = []
        self.stack: list[str] = []
        self.skip = 0  # inside a dropped element (its depth in `stack` + 1), else 0
        self.lists: list[list[int | str]] = []  # [tag, counter]
        self.quote = 0
        self.pre: list[str] | None = None
        self.heading = ""
        self.anchor: tuple[str, int] | None = None  # (href, position in inline) of the open <a>

    # -- blocks ------------------------------------------------------------------------------

    def flush(self) -> None:
        text = re.sub(r"[ \t\r\n\f\v]+", " ", "".join(self.inline)).strip()
        self.inline = []
        self.anchor = None
        if not text:
            return
        text = md_line_start(text)
        if self.heading:
            text = f"{HEADING[self.heading]} {text}"
        elif self.lists:
            tag, count = self.lists[-1]
            bullet = f"{count}." if tag == "ol" else "-"
            text = "    " * (len(self.lists) - 1) + f"{bullet} {text}"
        self.emit(text, tight=bool(self.lists) and not self.heading)

    def emit(self, text: str, *, tight: bool = False) -> None:
        prefix = "> " * self.quote
        text = "\n".join(prefix + line if line else prefix.rstrip() for line in text.split("\n"))
        if tight and self.blocks and self.blocks[-1].startswith("\x00"):
            self.blocks[-1] += "\n" + text
        else:
            self.blocks.append(("\x00" if tight else "") + text)

    # -- parser callbacks --------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            self.handle_startendtag(tag, attrs)
            return
        if len(self.stack) < MAX_DEPTH:
            self.stack.append(tag)
        if self.skip:
            return
        classes = (dict(attrs).get("class") or "").lower()
        if tag in DROPPED or any(widget in classes for widget in WIDGET_CLASSES):
            self.skip = len(self.stack)
            return
        if self.pre is not None:
            return
        if tag in BLOCKS:
            self.flush()
        if tag in HEADING:
            self.heading = tag
        elif tag in ("ul", "ol"):
            self.lists.append([tag, 0])
        elif tag == "li" and self.lists:
            self.lists[-1][1] = int(self.lists[-1][1]) + 1
        elif tag == "blockquote":
            self.quote += 1
        elif tag == "pre":
            self.pre = []
        elif tag in ("strong", "b"):
            self.inline.append("**")
        elif tag in ("em", "i"):
            self.inline.append("*")
        elif tag == "code":
            self.inline.append("\x01")  # a code span: closed in handle_endtag
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            self.anchor = (href, len(self.inline))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip or self.pre is not None:
            if tag == "br" and self.pre is not None and not self.skip:
                self.pre.append("\n")
            return
        if tag == "br":
            self.inline.append(" ")
        elif tag == "hr":
            self.flush()
            self.emit("---")

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if tag in self.stack:  # close up to the matching open tag (browsers forgive unclosed <p>)
            while self.stack and self.stack.pop() != tag:
                pass
        if self.skip:
            if len(self.stack) < self.skip:
                self.skip = 0
            return
        if self.pre is not None:
            if tag == "pre":
                code = "".join(self.pre).strip("\n")
                self.pre = None
                if code.strip():
                    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", code)), default=0))
                    lines = [_clean_code(line) for line in code.split("\n")]
                    self.emit("\n".join([fence, *lines, fence]))
            return
        if tag in ("strong", "b"):
            self._close_mark("**")
        elif tag in ("em", "i"):
            self._close_mark("*")
        elif tag == "code":
            self._close_code()
        elif tag == "a":
            self._close_anchor()
        if tag in BLOCKS:
            self.flush()
        if tag in HEADING:
            self.heading = ""
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        elif tag == "blockquote" and self.quote:
            self.quote -= 1

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre is not None:
            self.pre.append(data)
            return
        self.inline.append(md_inline(data))

    # -- inline marks ------------------------------------------------------------------------

    def _close_mark(self, mark: str) -> None:
        """Close ** or *; an empty or whitespace-only span loses its marks (`** **` is not bold)."""
        for i in range(len(self.inline) - 1, -1, -1):
            if self.inline[i] == mark:
                inner = "".join(self.inline[i + 1 :])
                if inner.strip():
                    self.inline[i:] = [
                        " " if inner[:1].isspace() else "",
                        mark,
                        inner.strip(),
                        mark,
                        " " if inner[-1:].isspace() else "",
                    ]
                else:
                    self.inline[i:] = [inner]
                return

    def _close_code(self) -> None:
        for i in range(len(self.inline) - 1, -1, -1):
            if self.inline[i] == "\x01":
                # the escapes md_inline added are literal inside a code span: undo them there
                raw = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|~])", r"\1", "".join(self.inline[i + 1 :]))
                raw = re.sub(r"\s+", " ", raw).strip()
                ticks = "`" * (1 + max((len(m) for m in re.findall(r"`+", raw)), default=0))
                self.inline[i:] = (
                    [f"{ticks} {raw} {ticks}" if raw.startswith("`") or raw.endswith("`") else f"{ticks}{raw}{ticks}"]
                    if raw
                    else []
                )
                return

    def _close_anchor(self) -> None:
        if self.anchor is None:
            return
        href, start = self.anchor
        self.anchor = None
        text = re.sub(r"\s+", " ", "".join(self.inline[start:])).strip()
        url = md_url(href)
        if url and text:
            self.inline[start:] = [f"[{text}]({url})"]
        elif url:
            self.inline[start:] = [f"[{md_inline(url)}]({url})"]


def _clean_code(line: str) -> str:
    """A line of a code block: control and bidi characters removed, spacing kept."""
    return without_controls(line.replace("\t", "    ")).replace("\n", " ")


def html_to_markdown(html: str) -> str:
    """Safe issue Markdown for an HTML post (see the module docstring); "" for nothing readable."""
    writer = _Writer()
    try:
        writer.feed(html)
        writer.close()
    except (AssertionError, ValueError):  # html.parser on hostile markup: keep what it read
        pass
    writer.pre = None
    writer.flush()
    blocks = [b.lstrip("\x00") for b in writer.blocks]
    text = "\n\n".join(b for b in blocks if b.strip())
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n" if text.strip() else ""

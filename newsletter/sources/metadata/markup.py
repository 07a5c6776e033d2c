"""Markup signals for dates and bylines, collected while the page tokenizer walks the document once.

The collector never builds a tree: it keeps a few open *scopes* (an element whose class says
"byline", "date", "updated", "comment", or microdata ``itemprop="author"``), each closed by the
matching end tag of the same name, and bounded text buffers. Every tag and text run costs O(1)
amortised work, so hostile nesting or millions of tags stay linear.
"""

from __future__ import annotations

import dataclasses
import re

_MAX_SCOPES = 16
_MAX_ITEMS = 40  # per signal list
_TEXT_MAX = 400
_VOID = frozenset({"meta", "link", "br", "hr", "img", "input", "source", "wbr", "area", "base", "col",
                   "embed", "param", "track"})
_SEPARATING = frozenset({"p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "br", "time",
                         "section", "header", "footer", "table", "tr", "td", "dd", "dt", "address"})
_TIME_TAGS = frozenset({"time", "local-time", "relative-time"})

_BYLINE_CLASS = re.compile(r"byline|author|writer|contributor|byl$")
_NOT_BYLINE = re.compile(r"bio|avatar|im(?:g|age)|photo|pic|desc|about|follow|social|comment|date|time|box$|"
                         r"card|more|other|archive|posts|profile-link|title|role|job|position")
_DATE_CLASS = re.compile(r"date|timestamp|posted|published|pubdate")
_MODIFIED_CLASS = re.compile(r"updat|modif|edited|revis")
_COMMENT_CLASS = re.compile(r"comment|reply|replies|discussion")


@dataclasses.dataclass(frozen=True)
class TimeSignal:
    """One ``<time datetime>`` (or GitHub's ``<local-time>``/``<relative-time>``) and where it stood."""

    value: str
    published: bool  # pubdate attribute, or a "published" class on it or around it
    modified: bool  # inside or marked as an update/modification
    in_article: bool
    boilerplate: bool  # in nav, aside, footer, a site header, or a comment


@dataclasses.dataclass
class _Scope:
    kind: str  # byline, date, modified, comment, author_scope, author_text
    tag: str
    nest: int = 1
    buf: list[str] = dataclasses.field(default_factory=list)
    size: int = 0


class MarkupSignals:
    """Collects times, byline texts, date texts and microdata/rel authors; see the module docstring."""

    def __init__(self) -> None:
        self.times: list[TimeSignal] = []
        self.bylines: list[str] = []
        self.date_texts: list[str] = []
        self.item_authors: list[str] = []  # itemprop=author (text or its itemprop=name)
        self.rel_authors: list[str] = []  # <a rel="author">
        self._scopes: list[_Scope] = []

    # -- events from the tokenizer --

    def start(self, name: str, attrs: dict[str, str], *, in_article: bool, boilerplate: bool) -> None:
        """A start tag; `boilerplate` is true inside nav/aside/footer or a header outside any article."""
        if name in _SEPARATING:
            self._add(" · ")
        classes = attrs.get("class", "").lower().split()[:20]
        itemprop = attrs.get("itemprop", "").lower().split()
        in_comment = self._open("comment")
        if name in _TIME_TAGS and attrs.get("datetime") and len(self.times) < _MAX_ITEMS:
            published = ("pubdate" in attrs or "datepublished" in itemprop
                         or any("publish" in c for c in classes))
            modified = not published and (any(_MODIFIED_CLASS.search(c) for c in classes)
                                          or "datemodified" in itemprop or self._open("modified"))
            self.times.append(TimeSignal(attrs["datetime"], published, modified, in_article,
                                         boilerplate or in_comment))
        if self._scopes:
            for scope in self._scopes:
                if scope.tag == name:
                    scope.nest += 1
        if name in _VOID or len(self._scopes) >= _MAX_SCOPES:
            if name in ("meta", "link") and self._open("author_scope") and "name" in itemprop:
                self._keep(self.item_authors, attrs.get("content", ""))
            return
        if classes and any(_COMMENT_CLASS.search(c) for c in classes) and not in_comment:
            self._scopes.append(_Scope("comment", name))
            return
        if in_comment or boilerplate:
            return
        if "author" in itemprop:
            kind = "author_scope" if "itemscope" in attrs else "author_text"
            self._scopes.append(_Scope(kind, name))
        elif "name" in itemprop and self._open("author_scope") and not self._open("author_text"):
            self._scopes.append(_Scope("author_text", name))
        elif name == "a" and "author" in attrs.get("rel", "").lower().split():
            self._scopes.append(_Scope("rel_author", name))
        if any(_MODIFIED_CLASS.search(c) for c in classes):
            if not self._open("modified"):
                self._scopes.append(_Scope("modified", name))
        elif any(_DATE_CLASS.search(c) for c in classes) and name not in _TIME_TAGS:
            if not self._open("date"):
                self._scopes.append(_Scope("date", name))
        elif (any(_BYLINE_CLASS.search(c) and not _NOT_BYLINE.search(c) for c in classes)
              and not self._open("byline")):
            self._scopes.append(_Scope("byline", name))

    def end(self, name: str) -> None:
        """An end tag: closes the innermost scopes it matches."""
        if name in _SEPARATING:
            self._add(" · ")
        if not self._scopes:
            return
        kept: list[_Scope] = []
        for scope in self._scopes:
            if scope.tag == name:
                scope.nest -= 1
                if scope.nest <= 0:
                    self._finish(scope)
                    continue
            kept.append(scope)
        self._scopes = kept

    def data(self, text: str) -> None:
        """Text between tags (entities still encoded)."""
        self._add(text)

    def close(self) -> None:
        """End of document: unclosed scopes keep what they collected."""
        for scope in self._scopes:
            self._finish(scope)
        self._scopes = []

    # -- internals --

    def _open(self, kind: str) -> bool:
        return any(s.kind == kind for s in self._scopes)

    def _add(self, text: str) -> None:
        for scope in self._scopes:
            if scope.kind in ("comment", "modified", "author_scope") or scope.size >= _TEXT_MAX:
                continue
            piece = text[: _TEXT_MAX - scope.size]
            scope.buf.append(piece)
            scope.size += len(piece)

    def _finish(self, scope: _Scope) -> None:
        text = "".join(scope.buf)
        target = {"byline": self.bylines, "date": self.date_texts, "author_text": self.item_authors,
                  "rel_author": self.rel_authors}.get(scope.kind)
        if target is not None:
            self._keep(target, text)

    @staticmethod
    def _keep(target: list[str], text: str) -> None:
        if text.strip() and len(target) < _MAX_ITEMS:
            target.append(text)

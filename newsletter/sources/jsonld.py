"""JSON-LD (schema.org) blocks of a page: pick the node that describes the page's main work.

Pages carry several blocks and `@graph` arrays (the site, the organization, breadcrumbs, the
article); `JsonLd` resolves `@id` references and prefers article-like nodes, then other creative
works, then a WebPage — never an Organization or WebSite for the title.
"""

from __future__ import annotations

import json
import re
from typing import Any

_MAX_JSONLD_NODES = 5000
_ARTICLE_TYPES = frozenset({
    "article", "newsarticle", "blogposting", "techarticle", "scholarlyarticle", "report",
    "socialmediaposting", "liveblogposting", "analysisnewsarticle", "opinionnewsarticle",
    "reportagenewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "discussionforumposting",
    "medicalscholarlyarticle", "advertisercontentarticle", "satiricalarticle",
})
_WORK_TYPES = frozenset({
    "videoobject", "podcastepisode", "creativework", "dataset", "softwaresourcecode", "book",
    "course", "event", "movie", "recipe", "howto", "softwareapplication",
})
_PAGE_TYPES = frozenset({"webpage", "itempage", "aboutpage", "collectionpage", "profilepage", "qapage",
                         "faqpage"})



class JsonLd:
    """The JSON-LD nodes of a page, with @id references resolvable and the main node chosen."""

    def __init__(self, blocks: list[str]) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        for block in blocks:
            self._collect(load_json(block))
        self.main = self._pick_main()

    def _collect(self, root: Any) -> None:
        stack = [(root, 0)]
        while stack and len(self.nodes) < _MAX_JSONLD_NODES:
            value, depth = stack.pop()
            if depth > 12:
                continue
            if isinstance(value, list):
                stack.extend((v, depth + 1) for v in reversed(value[:1000]))
            elif isinstance(value, dict):
                self.nodes.append(value)
                node_id = value.get("@id")
                if isinstance(node_id, str) and len(value) > 1:
                    self.by_id.setdefault(node_id, value)
                children = [v for k, v in value.items() if isinstance(v, (dict, list))]
                stack.extend((v, depth + 1) for v in reversed(children))

    def _pick_main(self) -> dict[str, Any] | None:
        for wanted in (_ARTICLE_TYPES, _WORK_TYPES, _PAGE_TYPES):
            for node in self.nodes:
                if _types(node) & wanted:
                    return node
        return None

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and set(value) <= {"@id", "@type"}:
            return self.by_id.get(str(value.get("@id")), value)
        return value

    def get(self, key: str) -> Any:
        return self.resolve(self.main.get(key)) if self.main else None

    def title(self) -> str:
        return first_str(self.get("headline")) or first_str(self.get("name"))

    def entity(self) -> dict[str, Any] | None:
        """The main node's ``mainEntity`` (a QAPage's Question, a WebPage's Article), if it is a node."""
        value = self.get("mainEntity")
        if isinstance(value, list) and value:
            value = self.resolve(value[0])
        return value if isinstance(value, dict) else None

    def author_values(self) -> list[Any]:
        """Raw ``author`` entries of the main node, else of its ``mainEntity``, references unresolved."""
        for node in (self.main, self.entity()):
            value = node.get("author") if node else None
            if value:
                return list(value) if isinstance(value, list) else [value]
        return []

    def works(self) -> list[dict[str, Any]]:
        """Every article-like or creative-work node, in page order."""
        wanted = _ARTICLE_TYPES | _WORK_TYPES
        return [node for node in self.nodes if _types(node) & wanted]

    def website_name(self) -> str:
        """The name of a ``WebSite`` node."""
        for node in self.nodes:
            if "website" in _types(node) and first_str(node.get("name")):
                return first_str(node.get("name"))
        return ""

    def publisher_name(self) -> str:
        """The main node's ``publisher.name`` (a podcast episode's series name when it has no publisher)."""
        for key in ("publisher", "partOfSeries"):
            value = self.get(key)
            if isinstance(value, list) and value:
                value = self.resolve(value[0])
            if isinstance(value, dict) and first_str(value.get("name")):
                return first_str(value.get("name"))
        return ""

    def image(self) -> str:
        value = self.get("image") or self.get("thumbnailUrl")
        for entry in value if isinstance(value, list) else [value]:
            entry = self.resolve(entry)
            url = entry.get("url") or entry.get("contentUrl") if isinstance(entry, dict) else entry
            if isinstance(url, str) and url.strip():
                return url
        return ""


def load_json(block: str) -> Any:
    text = block.strip()
    # some CMSs wrap the block in an HTML comment or a CDATA section
    for prefix, suffix in (("<!--", "-->"), ("//<![CDATA[", "//]]>"), ("<![CDATA[", "]]>")):
        if text.startswith(prefix) and text.endswith(suffix):
            text = text[len(prefix): -len(suffix)].strip()
    for strict in (True, False):
        try:
            return json.loads(text, strict=strict)
        except (ValueError, RecursionError):
            continue
    return None


def _types(node: dict[str, Any]) -> set[str]:
    value = node.get("@type")
    values = value if isinstance(value, list) else [value]
    return {v.rsplit("/", 1)[-1].lower() for v in values if isinstance(v, str)}


def first_str(value: Any) -> str:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), "")
    return value.strip() if isinstance(value, str) else ""


def looks_like_url(value: str) -> bool:
    """An author "name" that is really a profile link."""
    return bool(re.match(r"\s*(?:https?:)?//", value, re.IGNORECASE))

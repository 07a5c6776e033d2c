"""Sections of an issue: the `[[sections]]` rules of newsletter.toml and which section an item goes in.

Pure decisions over items, shared by `draft` (where entries go) and `suggest` (which items need a
section suggestion), so neither imports the other for them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ProjectError
from ..models import KINDS, Item

CANDIDATE_STATUSES = ("shortlisted", "inbox")  # the statuses a draft picks from


@dataclasses.dataclass(frozen=True)
class SectionRule:
    """One `[[sections]]` table: which items go in, in what order of sections, how many at most."""

    title: str
    kinds: tuple[str, ...] = ()  # empty: any kind
    tags: tuple[str, ...] = ()  # empty: any tags; else at least one of them
    status: str | None = None  # e.g. "shortlisted": only items with that status
    note: bool = False  # only items with a curator's note
    max: int = 10
    style: str = "list"  # "feature" (### heading + byline + paragraph) or "list" (bold bullets)

    def matches(self, item: Item) -> bool:
        return (
            (not self.kinds or item.kind in self.kinds)
            and (not self.tags or any(t in self.tags for t in item.tags))
            and (self.status is None or item.status == self.status)
            and (not self.note or bool(item.note.strip()))
        )


# The house style of technical newsletters: feature stories, papers, further reading, tools,
# podcasts and video, social media. The first matching rule wins.
DEFAULT_SECTIONS = (
    SectionRule("Feature stories", kinds=("link", "paper"), status="shortlisted", note=True, max=3, style="feature"),
    SectionRule("Papers", kinds=("paper",), max=8),
    SectionRule("Further reading", kinds=("link",), max=6),
    SectionRule("New tools and repos", kinds=("repo",), max=8),
    SectionRule("Podcasts and video", kinds=("podcast", "video"), max=6),
    SectionRule("From social media", kinds=("tweet",), max=5),
)


def section_rules(raw: Mapping[str, Any]) -> list[SectionRule]:
    """The `[[sections]]` of newsletter.toml (Settings.raw), or the defaults; ProjectError when malformed."""
    tables = raw.get("sections")
    if tables is None:
        return list(DEFAULT_SECTIONS)
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ProjectError("newsletter.toml: sections must be [[sections]] tables")
    rules = []
    for n, table in enumerate(tables, 1):
        title = str(table.get("title") or "").strip()
        if not title:
            raise ProjectError(f"newsletter.toml: [[sections]] number {n} has no title")
        kinds = tuple(str(k) for k in table.get("kinds") or ())
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ProjectError(f"newsletter.toml: section {title!r}: unknown kind(s) {', '.join(bad)}")
        style = str(table.get("style") or "list")
        if style not in ("list", "feature"):
            raise ProjectError(f"newsletter.toml: section {title!r}: style must be 'list' or 'feature'")
        try:
            limit = int(table.get("max", 10))
        except (TypeError, ValueError):
            raise ProjectError(f"newsletter.toml: section {title!r}: max must be a number") from None
        status = table.get("status")
        rules.append(SectionRule(
            title, kinds, tuple(str(t) for t in table.get("tags") or ()),
            str(status) if status else None, bool(table.get("note", False)), limit, style,
        ))
    return rules


def assign_section(item: Item, rules: Sequence[SectionRule]) -> SectionRule | None:
    """The section an item goes in: its own `section` field when it names one, else the first matching rule."""
    wanted = str((item.extra or {}).get("section") or "").strip().lower()
    if wanted:
        for rule in rules:
            if rule.title.lower() == wanted:
                return rule
    return next((rule for rule in rules if rule.matches(item)), None)

"""What subscribing and pulling report, per URL and per feed (also their ``--json`` form)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..models import Item
from .subscriptions import Subscription


@dataclasses.dataclass
class SubscribeResult:
    """Outcome of subscribing to one URL: ``added``, ``exists`` or ``failed``."""

    input: str
    status: str
    subscription: Subscription | None = None
    note: str = ""  # e.g. "found the feed on the page ..."
    error: str = ""
    entries: int = 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"input": self.input, "status": self.status}
        if self.subscription:
            data.update(self.subscription.to_dict())
        if self.note:
            data["note"] = self.note
        if self.error:
            data["error"] = self.error
        return data


@dataclasses.dataclass
class FeedResult:
    """What one feed's pull did. ``status``: ok, not_modified, error, gone (skipped)."""

    url: str
    title: str
    status: str
    new: list[Item] = dataclasses.field(default_factory=list)
    existing: int = 0
    left_out: int = 0
    unusable: int = 0  # entries with no usable URL
    moved_to: str | None = None
    error: str = ""
    warnings: list[str] = dataclasses.field(default_factory=list)
    # new item id -> probable duplicates already in the catalog [{id, score, title, issue}]
    similar: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == "error" or (self.status == "gone" and bool(self.error))

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "status": self.status,
            "new": len(self.new),
            "existing": self.existing,
            "not_modified": self.status == "not_modified",
            "left_out": self.left_out,
            "unusable": self.unusable,
            "moved_to": self.moved_to,
            "error": self.error or None,
            "warnings": self.warnings,
            "items": [
                {"id": i.id, "kind": i.kind, "title": i.title, "url": i.url, "similar": self.similar.get(i.id, [])}
                for i in self.new
            ],
        }

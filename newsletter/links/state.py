"""The last check and archive results, per URL: `.newsletter/links.json` (derived, git-ignored).

Why here and not in the items: a weekly check of every link would rewrite every item file each week
for nothing but a timestamp, and links that are not catalog items (mentions, sponsor links) have no
file at all. The items carry only what changes rarely and matters to everyone sharing the repository
through git: `dead_since` / `dead_reason` while their link is dead and `archived_url` / `archived_at`
once a snapshot exists (so the site built anywhere, CI included, shows "(archived)"). Deleting this
file loses the detail of the last run, nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..store.files import atomic_write
from .check import LinkResult

FILE_NAME = "links.json"
VERSION = 1


class LinkState:
    """Read and update the results file (call `save` under the catalog's writer lock)."""

    def __init__(self, derived_dir: Path) -> None:
        self.path = derived_dir / FILE_NAME

    def load(self) -> dict[str, dict[str, Any]]:
        """url -> stored record; a missing or damaged file is an empty state (it is derived)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        links = data.get("links") if isinstance(data, dict) else None
        return {str(k): v for k, v in links.items() if isinstance(v, dict)} if isinstance(links, dict) else {}

    def results(self) -> dict[str, LinkResult]:
        """The last check of every URL that has one."""
        return {url: LinkResult.from_json({**rec, "url": url}) for url, rec in self.load().items()
                if rec.get("verdict")}

    def save(self, updates: dict[str, dict[str, Any]]) -> None:
        """Merge `updates` (url -> fields) into the file, atomically."""
        data = self.load()
        for url, fields in updates.items():
            data[url] = {**data.get(url, {}), **fields}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps({"version": VERSION, "links": data}, indent=1, sort_keys=True,
                                           ensure_ascii=False) + "\n")

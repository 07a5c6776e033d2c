"""Related resources for issue pages, read from the semantic index if one was built.

Only `SemanticEngine`'s public API is used, and only on stored vectors: `related` never loads the
embedding model. No index yet (a fresh checkout, CI), another model, or any error at all means
"no related block", never a failed build.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.plugins.newsletter")


class RelatedFinder:
    """Nearest published resources to the resources an issue featured."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.broken = False

    def related(self, item_ids: Iterable[str], allowed: Collection[str], k: int) -> list[tuple[str, float]]:
        """Up to k ids from `allowed`, best first, by their best cosine to any of `item_ids`."""
        if self.broken or k <= 0 or not allowed:
            return []
        from ..errors import ItemNotFound

        pool = set(allowed)
        best: dict[str, float] = {}
        for item_id in item_ids:
            try:
                found = self.engine.related(item_id, k=k * 2, allowed=pool)
            except ItemNotFound:
                continue  # not embedded yet (added after the last sync)
            except Exception as exc:  # a damaged index must not break the site build
                log.warning("newsletter: related items skipped (%s)", exc)
                self.broken = True
                return []
            for other, score in found:
                if score > best.get(other, -2.0):
                    best[other] = score
        return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def open_finder(derived_dir: Path, model: str, backend: str) -> RelatedFinder | None:
    """A finder over `<derived_dir>/semantic`, or None when there is no index there to read."""
    folder = Path(derived_dir) / "semantic"
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    try:
        from ..semantic import SemanticEngine

        engine = SemanticEngine(folder, model=model, backend=backend)
    except Exception as exc:  # model setting unusable here, numpy/hnswlib missing ...
        log.info("newsletter: no related items (%s)", exc)
        return None
    return RelatedFinder(engine)

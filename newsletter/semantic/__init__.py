"""The semantic layer: embeddings, a versioned embedding store, a vector index, near-duplicates,
related items and hybrid search.

Import cost is numpy + stdlib: torch / sentence-transformers load only when a text is embedded.

    engine = SemanticEngine(project / ".newsletter" / "semantic", model="default", backend="auto")
    engine.sync(all_items)                       # embed what is new, keep the index in step
    engine.similar(new_item, items_by_id)        # [(id, score)] probable duplicates
    engine.duplicate_groups(all_items)           # [DuplicateGroup(ids, pairs)]
    engine.related(item_id, k=10)                # [(id, cosine)] from stored vectors only
    engine.search("query", keyword_ids=fts_ids)  # [(id, rrf score)] hybrid
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.semantic.dupes import DEFAULT_THRESHOLD, DuplicateGroup
    from newsletter.semantic.embedders import Embedder, HashingEmbedder
    from newsletter.semantic.engine import SemanticEngine, SyncStats

__all__ = ["DEFAULT_THRESHOLD", "DuplicateGroup", "Embedder", "HashingEmbedder", "SemanticEngine", "SyncStats"]

# Loaded on first use, so `newsletter.semantic.text` (which the catalog cache needs for every
# command) does not import numpy and the engine.
_EXPORTS = {
    "DEFAULT_THRESHOLD": "dupes", "DuplicateGroup": "dupes", "Embedder": "embedders",
    "HashingEmbedder": "embedders", "SemanticEngine": "engine", "SyncStats": "engine",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'newsletter.semantic' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"newsletter.semantic.{module}"), name)
    globals()[name] = value
    return value

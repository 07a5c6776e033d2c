"""How relevant each search result is, apart from its fused rank (for `search`'s scores and floor).

Fused RRF scores only order results: a catalog with nothing about the query still fills every
slot. A reader needs an absolute measure, so each result gets the cosine between the query and
its stored vector; results the keyword index matched keep their place whatever the cosine (an
exact name like "hnswlib" is relevant even when the embedding barely knows it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .engine import SemanticEngine

DEFAULT_FLOOR = 0.2  # all-MiniLM-L6-v2: unrelated texts sit near 0.0-0.15, on-topic ones above 0.3


@dataclasses.dataclass
class Scored:
    """One result: its id, the query-to-item cosine, and whether the words matched (BM25)."""

    id: str
    cosine: float
    keyword: bool


def query_cosines(engine: SemanticEngine, query: str, ids: Sequence[str]) -> dict[str, float]:
    """Cosine of the query with each id's stored vector (ids without one are left out)."""
    held = [i for i in ids if i in engine.index.by_id]
    if not held or not query.strip():
        return {}
    vector = np.asarray(engine.query_embedder().encode([query]), dtype=np.float32)[0]
    matrix = np.asarray(engine.index.vectors(held), dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(vector) or 1.0)
    cosines = matrix @ vector / np.where(norms == 0, 1.0, norms)
    return {item_id: round(float(c), 4) for item_id, c in zip(held, cosines, strict=True)}


def apply_floor(ids: Sequence[str], cosines: dict[str, float], keyword_ids: Collection[str],
                floor: float) -> tuple[list[Scored], int]:
    """(results kept, how many were dropped): a result stays if the words matched or its cosine ≥ floor."""
    kept: list[Scored] = []
    dropped = 0
    for item_id in ids:
        cosine = cosines.get(item_id, 0.0)
        keyword = item_id in keyword_ids
        if keyword or cosine >= floor:
            kept.append(Scored(item_id, cosine, keyword))
        else:
            dropped += 1
    return kept, dropped

"""Hybrid search: fuse a keyword ranking with a semantic ranking (pure functions).

Reciprocal rank fusion only looks at ranks, so BM25 scores and cosines never need calibrating
against each other: an exact name that BM25 ranks first and a paraphrase that only the embedding
finds both make the fused top-k.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

RRF_K = 60  # the usual constant: damps the head so one list cannot drown the other


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], *, k: int = RRF_K, weights: Sequence[float] | None = None,
) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = Σ weight / (k + rank), rank from 1; best first.

    Ties keep the order of first appearance across the rankings (stable and deterministic).
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    scores: dict[str, float] = {}
    first: dict[str, int] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[str] = set()
        for rank, item_id in enumerate(ranking, start=1):
            if item_id in seen:
                continue
            seen.add(item_id)
            scores[item_id] = scores.get(item_id, 0.0) + weight / (k + rank)
            first.setdefault(item_id, len(first))
    return sorted(scores.items(), key=lambda kv: (-kv[1], first[kv[0]]))


_TOKEN_RE = re.compile(r"[a-z0-9]+")


def keyword_ranking(query: str, docs: Mapping[str, str], *, limit: int = 50) -> list[str]:
    """A small BM25 ranking of `docs` (id → text) for `query`.

    The product gets its keyword ranking from the catalog's SQLite FTS5; this exists for library
    use without that index and for tests.
    """
    terms = _TOKEN_RE.findall(query.lower())
    if not terms or not docs:
        return []
    tokenized = {i: Counter(_TOKEN_RE.findall(t.lower())) for i, t in docs.items()}
    n = len(tokenized)
    avg = sum(sum(c.values()) for c in tokenized.values()) / n or 1.0
    df = Counter(t for c in tokenized.values() for t in set(c) if t in terms)
    scores: dict[str, float] = {}
    for item_id, counts in tokenized.items():
        length = sum(counts.values())
        score = 0.0
        for term in terms:
            tf = counts.get(term, 0)
            if tf:
                idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / avg))
        if score > 0:
            scores[item_id] = score
    return [i for i, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))][:limit]


def filter_ranking(ranking: Iterable[str], allowed: set[str] | None) -> list[str]:
    """The ranking without ids outside `allowed` (None: all), duplicates dropped."""
    seen: set[str] = set()
    out = []
    for item_id in ranking:
        if item_id not in seen and (allowed is None or item_id in allowed):
            seen.add(item_id)
            out.append(item_id)
    return out

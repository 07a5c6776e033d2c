"""What a draft picks first, which candidates are the same work, and how to say what it left out.

Pure decisions (the semantic answers come in through the engine's public API), shared by `draft`
and `check` so the two never disagree about what counts as "the same work twice".

Ranking (`rank_key`), in order, and why each signal is there:

1. **Shortlisted first.** The curator said so; nothing the tool infers outranks that.
2. **A curator's note.** Someone spent time writing why it matters: the strongest sign of intent.
3. **Something to show readers.** A summary (the entry has more than a bare link) beats none:
   feed noise and failed fetches are the items without one.
4. **Publication date, newest first.** A weekly issue is news; when the work came out matters, not
   when it reached the catalog (imported bookmarks carry their old bookmark time as ``added``, and a
   feed pull stamps fresh junk "now"). Undated items come after dated ones.
5. The id, so the order is stable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ..models import Item

CROSS_KIND_THRESHOLD = 0.6  # a paper and its repo score 0.99 with MiniLM; see same_work_pairs
CROSS_KIND_COSINE = 0.5

# left-out reasons, in the order the summary line names them
REASONS = {
    "full": "section full",
    "issue-full": "issue full (--max)",
    "published": "already published or drafted",
    "no-section": "no section takes them",
}


def rank_key(item: Item) -> tuple[bool, bool, bool, bool, str, str]:
    """Sort key (ascending = best first): shortlisted, note, summary, newest publication date, id."""
    published = item.published or ""
    inverted = "".join(chr(0x10FFFF - ord(c)) for c in published)  # descending date in an ascending sort
    return (
        item.status != "shortlisted",
        not item.note.strip(),
        not item.summary.strip(),
        not published,
        inverted,
        item.id,
    )


def same_work_pairs(
    engine: Any, items: Sequence[Item], *, threshold: float | None, cosine_floor: float,
    among: set[str] | None, cross_threshold: float = CROSS_KIND_THRESHOLD,
    cross_cosine: float = CROSS_KIND_COSINE, ask: set[str] | None = None,
) -> list[tuple[str, str]]:
    """Pairs of items that are the same work, for the draft to fold and `check` to report.

    Same kind: the dupes score ≥ `threshold` with cosine ≥ `cosine_floor` (as before). Across kinds
    (a paper and its repo, a talk and its slides), which land in *different sections* and so were
    never compared: a stricter score, ≥ max(threshold, `cross_threshold`), with its own cosine floor,
    and only between two items of `among` (both in this issue): one published earlier stays a backlink.
    `ask` (default: `among`) are the ids whose pairs are looked up: the draft asks only for the
    items that can land in the issue, while `among` stays the whole candidate pool.
    Uses `SemanticEngine.duplicate_pairs` as it is; the engine must be synced.
    """
    kinds = {it.id: it.kind for it in items}
    ask = among if ask is None else ask
    out = [
        (a, b) for a, b, _ in engine.duplicate_pairs(items, among=ask, threshold=threshold, min_cosine=cosine_floor)
        if kinds.get(a) == kinds.get(b)
    ]
    strict = max(threshold if threshold is not None else 0.0, cross_threshold)
    out.extend(
        (a, b) for a, b, _ in engine.duplicate_pairs(items, among=ask, threshold=strict, min_cosine=cross_cosine)
        # both in this issue: a repo whose paper ran earlier keeps its entry (with a "Previously" backlink)
        if kinds.get(a) != kinds.get(b) and (among is None or (a in among and b in among))
    )
    return out


def left_out_summary(reasons: Sequence[str], *, folded: int = 0) -> str:
    """One line for the terminal: "left out 23 items: 15 section full, 6 already published ...".

    Empty when nothing was left out or folded.
    """
    counts = Counter(reasons)
    parts = [f"{counts[key]} {label}" for key, label in REASONS.items() if counts.get(key)]
    parts.extend(f"{n} {key}" for key, n in sorted(counts.items()) if key not in REASONS)
    lines = []
    total = sum(counts.values())
    if total:
        lines.append(f"left out {total} item{'s' if total != 1 else ''}: {', '.join(parts)}")
    if folded:
        lines.append(f"{folded} folded under another entry as the same work (\"Also:\")")
    if not lines:
        return ""
    return "; ".join(lines) + " (`newsletter draft -v` lists them)"


def folded_count(also: Mapping[str, Sequence[Item]]) -> int:
    """How many candidates went under another entry's "Also"."""
    return sum(len(v) for v in also.values())

"""kNN over the semantic index: tag and section suggestions, and the draft's backlinks and repeats.

An item without tags gets the tags its neighbours carry, weighted by similarity; an item no section
rule places gets the section its neighbours appeared under in past issues. Suggestions only ever use
labels that already exist and that a curator chose by hand (a tag only an import's folders or
headings gave, `imported_tags`, is not offered: no tag sprawl), each with a confidence: the
similarity-weighted share of neighbours that carry the label. `newsletter review` lets the curator
accept or reject them, whole or tag by tag. Every decision is kept in the item's file (`reviews`:
the day, the field, what was offered and what was accepted), so both editors see it through git,
a rejected value is never offered again, and `review --stats` can say how often suggestions are
accepted as offered. Rejections kept by older versions in `.newsletter/suggestions.json` still count.

`backlink_scorer` and `draft_dupe_pairs` are the semantic answers `newsletter draft` needs
("Previously covered" links; near-duplicates to collapse or leave out).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..models import REVIEWS, Item, mark_hand_tags
from .sections import CANDIDATE_STATUSES, assign_section

K = 7  # neighbours that vote (leave-one-out on the sample: see bench/bench_draft.py)
MAX_TAGS = 3
MIN_SHARE = 0.3  # a tag below this share of the vote is not suggested (the top one always is)
DUPE_COSINE = 0.75  # see draft_dupe_pairs
RELATED_CANDIDATES = 8  # published neighbours rescored per entry
RARE_NAME_DF = 5  # see backlink_scorer
RARE_NAME_BONUS = 0.25
MAX_REVIEWS = 50  # decisions kept per item (the oldest go first)


@dataclasses.dataclass
class Suggestion:
    """Labels proposed for one item's field (`tags` or `section`)."""

    item_id: str
    title: str
    field: str
    values: list[str]
    confidence: float  # the top value's vote share, 0..1
    neighbours: list[str]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def vote(neighbours: Sequence[tuple[str, float]], labels: Mapping[str, Sequence[str]]) -> list[tuple[str, float]]:
    """(label, share) by similarity-weighted vote of the labelled neighbours, best first (pure)."""
    weights: dict[str, float] = defaultdict(float)
    total = 0.0
    for other, score in neighbours:
        found = labels.get(other)
        if not found:
            continue
        weight = max(float(score), 0.0)
        total += weight
        for label in dict.fromkeys(found):
            weights[label] += weight
    if total <= 0:
        return []
    return sorted(((label, round(w / total, 4)) for label, w in weights.items()), key=lambda p: (-p[1], p[0]))


def pick(ranked: Sequence[tuple[str, float]], *, max_values: int, min_share: float) -> list[str]:
    """The top label, plus the next ones whose share reaches `min_share` (at most `max_values`)."""
    if not ranked:
        return []
    return [ranked[0][0], *[label for label, share in ranked[1:max_values] if share >= min_share]]


@dataclasses.dataclass
class Decision:
    """A curator's answer to one suggestion: the values accepted (the rest of `offered` are rejected)."""

    suggestion: Suggestion
    accepted: list[str]

    @property
    def rejected(self) -> list[str]:
        return [v for v in self.suggestion.values if v not in self.accepted]

    def record(self, on: str) -> dict[str, Any]:
        return {"on": on, "field": self.suggestion.field, "offered": list(self.suggestion.values),
                "accepted": list(self.accepted)}


def reviews_of(item: Item) -> list[dict[str, Any]]:
    """The well-formed review records in an item's file (a hand-edited bad one is ignored)."""
    found = item.extra.get(REVIEWS)
    if not isinstance(found, list):
        return []
    out = []
    for rec in found:
        if (isinstance(rec, dict) and rec.get("field") in ("tags", "section")
                and isinstance(rec.get("offered"), list) and isinstance(rec.get("accepted"), list)):
            out.append({"on": str(rec.get("on") or ""), "field": rec["field"],
                        "offered": [str(v) for v in rec["offered"]], "accepted": [str(v) for v in rec["accepted"]]})
    return out


def rejections(items: Sequence[Item], legacy: Mapping[str, Mapping[str, Sequence[str]]] | None = None
               ) -> dict[str, dict[str, list[str]]]:
    """item id -> field -> values rejected in any review (from the item files, plus the legacy file)."""
    out: dict[str, dict[str, list[str]]] = {}
    for item_id, fields in (legacy or {}).items():
        for field, values in fields.items():
            out.setdefault(item_id, {}).setdefault(field, []).extend(str(v) for v in values)
    for item in items:
        for rec in reviews_of(item):
            turned_down = [v for v in rec["offered"] if v not in rec["accepted"]]
            if turned_down:
                known = out.setdefault(item.id, {}).setdefault(rec["field"], [])
                known.extend(v for v in turned_down if v not in known)
    return out


class Rejections:
    """Rejections older versions kept in `.newsletter/suggestions.json` (read, never written now)."""

    def __init__(self, derived_dir: Path) -> None:
        self.path = derived_dir / "suggestions.json"

    def load(self) -> dict[str, dict[str, list[str]]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        found = data.get("rejected", {}) if isinstance(data, dict) else {}
        return found if isinstance(found, dict) else {}


def section_labels(items: Sequence[Item], issues_dir: Path) -> dict[str, list[str]]:
    """item id -> [section] from where items appeared in past issues, and from `section:` fields."""
    from ..store import identity
    from . import files as issues

    index = identity.identity_index(items)
    labels: dict[str, list[str]] = {}
    for issue in issues.list_issues(issues_dir):
        for link in issues.extract_links(issue.body):
            if link.entry and link.section:
                found = identity.find_existing(index, link.url)
                if found:
                    labels.setdefault(found, [link.section])
    for item in items:
        section = str((item.extra or {}).get("section") or "").strip()
        if section:
            labels[item.id] = [section]
    return labels


def suggest(
    engine: Any, items: Sequence[Item], *, issues_dir: Path | None = None, rules: Sequence[Any] = (),
    rejected: Mapping[str, Mapping[str, Sequence[str]]] | None = None, k: int = K,
) -> list[Suggestion]:
    """Suggestions for every item without tags, and every draftable item no section rule places.

    The engine must be synced with `items` (the CLI syncs first). Rejected values are never offered.
    """

    live = [it for it in items if not it.duplicate_of]
    rejected = rejections(live, rejected)
    out: list[Suggestion] = []
    # Only tags a curator chose vote: a tag that exists because an import's folder gave it is not
    # a label anyone decided on.
    tag_labels = {it.id: hand for it in live if (hand := it.hand_tags())}
    if tag_labels:
        allowed = set(tag_labels)
        for item in live:
            if item.tags or item.status == "skipped":
                continue
            neighbours = engine.related(item.id, k=k, allowed=allowed)
            turned_down = rejected.get(item.id, {}).get("tags", [])
            ranked = [p for p in vote(neighbours, tag_labels) if p[0] not in turned_down]
            if turned_down:
                # After a "no", only a label with a real share of the vote is worth asking about:
                # otherwise each review offers the next-best tag at ever lower confidence.
                ranked = [p for p in ranked if p[1] >= MIN_SHARE]
            values = pick(ranked, max_values=MAX_TAGS, min_share=MIN_SHARE)
            if values:
                out.append(Suggestion(item.id, item.display_title(), "tags", values, ranked[0][1],
                                      [i for i, _ in neighbours]))
    if issues_dir is not None and rules:
        labels = section_labels(live, issues_dir)
        titles = {r.title for r in rules}
        labels = {i: v for i, v in labels.items() if v[0] in titles}
        if labels:
            for item in live:
                if item.status not in CANDIDATE_STATUSES or item.id in labels or assign_section(item, rules):
                    continue
                neighbours = engine.related(item.id, k=k, allowed=set(labels))
                turned_down = rejected.get(item.id, {}).get("section", [])
                ranked = [p for p in vote(neighbours, labels) if p[0] not in turned_down]
                if turned_down:
                    ranked = [p for p in ranked if p[1] >= MIN_SHARE]
                if ranked:
                    out.append(Suggestion(item.id, item.display_title(), "section", [ranked[0][0]], ranked[0][1],
                                          [i for i, _ in neighbours]))
    return sorted(out, key=lambda s: (-s.confidence, s.item_id, s.field))


def narrow(found: Sequence[Suggestion], *, tags: Sequence[str] = (), items: Sequence[str] = ()) -> list[Suggestion]:
    """Only the suggestions of these items (ids or prefixes) and, with `tags`, only those tag values.

    With `tags`, a suggestion of three tags becomes one of the named ones (section suggestions drop
    out): that is how a script accepts or rejects a single tag.
    """
    prefixes = [p.strip().lower() for p in items if p.strip()]
    wanted = [t for t in tags if t]
    out = []
    for s in found:
        if prefixes and not any(s.item_id.startswith(p) for p in prefixes):
            continue
        if wanted:
            values = [v for v in s.values if v in wanted] if s.field == "tags" else []
            if not values:
                continue
            s = dataclasses.replace(s, values=values)
        out.append(s)
    return out


def apply(catalog: Any, accepted: Sequence[Suggestion]) -> int:
    """Accept suggestions whole (see `record`); returns the items changed."""
    return record(catalog, [Decision(s, list(s.values)) for s in accepted])


def record(catalog: Any, decisions: Sequence[Decision], *, on: str | None = None) -> int:
    """Write decisions into the item files under one lock: accepted values, and a review record each.

    Returns the items whose tags or section changed. Lives here rather than on `Catalog` because it
    is one bulk write of three fields (tags, section, reviews).
    """
    if not decisions:
        return 0
    day = on or dt.date.today().isoformat()
    by_item: dict[str, list[Decision]] = {}
    for d in decisions:
        by_item.setdefault(d.suggestion.item_id, []).append(d)
    labelled: set[str] = set()

    def decide(item: Item) -> Item:
        history = [*reviews_of(item)]
        for d in by_item[item.id]:
            if d.suggestion.field == "tags" and d.accepted:
                item.tags = item.tags + [t for t in d.accepted if t not in item.tags]
                mark_hand_tags(item, d.accepted)
                labelled.add(item.id)
            elif d.suggestion.field == "section" and d.accepted:
                item.extra["section"] = d.accepted[0]
                labelled.add(item.id)
            history.append(d.record(day))
        item.extra[REVIEWS] = history[-MAX_REVIEWS:]
        return item

    catalog.modify_many(list(by_item), decide)
    return len(labelled)


def review_stats(items: Sequence[Item]) -> dict[str, Any]:
    """How suggestions fared: per ISO week and per tag, the share accepted exactly as offered.

    A suggestion accepted as offered is work the curator did not have to do (the "workload
    reduction" of human-in-the-loop labelling); a partly accepted one saved some of it.
    """
    weeks: dict[str, Counter[str]] = defaultdict(Counter)
    tags: dict[str, Counter[str]] = defaultdict(Counter)
    total: Counter[str] = Counter()
    for item in items:
        for rec in reviews_of(item):
            offered, accepted = rec["offered"], rec["accepted"]
            outcome = ("as_offered" if set(accepted) == set(offered)
                       else "partly" if accepted else "rejected")
            week = _iso_week(rec["on"])
            for bucket in (weeks[week], total):
                bucket["decided"] += 1
                bucket[outcome] += 1
            if rec["field"] == "tags":
                for tag in offered:
                    tags[tag]["offered"] += 1
                    tags[tag]["accepted"] += tag in accepted

    def share(part: int, whole: int) -> float:
        return round(part / whole, 3) if whole else 0.0

    def summary(c: Counter[str]) -> dict[str, Any]:
        return {"decided": c["decided"], "as_offered": c["as_offered"], "partly": c["partly"],
                "rejected": c["rejected"], "accepted_as_offered": share(c["as_offered"], c["decided"])}

    return {
        "total": summary(total),
        "weeks": [{"week": w, **summary(c)} for w, c in sorted(weeks.items())],
        "tags": [{"tag": t, "offered": c["offered"], "accepted": c["accepted"],
                  "acceptance": share(c["accepted"], c["offered"])}
                 for t, c in sorted(tags.items(), key=lambda p: (-p[1]["offered"], p[0]))],
    }


def _iso_week(day: str) -> str:
    try:
        year, week, _ = dt.date.fromisoformat(day[:10]).isocalendar()
    except ValueError:
        return "unknown"
    return f"{year}-W{week:02d}"


# -- measurement -----------------------------------------------------------------------------------


def leave_one_out(
    neighbours_of: Mapping[str, Sequence[tuple[str, float]]], labels: Mapping[str, Sequence[str]],
    thresholds: Sequence[float] = (0.0, 0.3, 0.5, 0.7),
) -> dict[str, Any]:
    """How often the top suggestion is right when each labelled item's own label is hidden.

    `neighbours_of[item]` must exclude the item itself (and, for tags, be computed from its text
    without tags). Returns accuracy of the top value and, per confidence threshold, the share of
    items that get a suggestion (coverage) and how often it is right (precision).
    """
    results = []
    for item_id, neighbours in neighbours_of.items():
        truth = set(labels.get(item_id) or ())
        if not truth:
            continue
        ranked = vote([(o, s) for o, s in neighbours if o != item_id], labels)
        top, share = (ranked[0] if ranked else (None, 0.0))
        results.append((top in truth, share))
    n = len(results)
    table = []
    for t in thresholds:
        kept = [ok for ok, share in results if share >= t]
        table.append({"min_confidence": t, "coverage": round(len(kept) / n, 3) if n else 0.0,
                      "precision": round(sum(kept) / len(kept), 3) if kept else 0.0})
    return {"n": n, "top1": round(sum(ok for ok, _ in results) / n, 3) if n else 0.0, "by_confidence": table}


# -- for the draft ----------------------------------------------------------------------------------


_ACRONYM = re.compile(r"\b(?:[A-Z][A-Z0-9]{2,}|[a-z]+[A-Z][A-Za-z0-9]*|[A-Z][a-z]+[A-Z][A-Za-z0-9]*)\b")


def acronyms(item: Item) -> frozenset[str]:
    """Distinctive names in an item's title and summary: HNSW, vLLM, QLoRA, MTEB (lower-cased)."""
    return frozenset(m.lower() for m in _ACRONYM.findall(f"{item.title} {item.summary}"))


def backlink_scorer(engine: Any, items: Sequence[Item], published: set[str]) -> Callable[[str], list]:
    """`item id -> [(published id, relatedness)]`: embedding cosine, plus a bonus for a shared rare acronym.

    Why the bonus: MiniLM does not know that "hnswlib" implements "Hierarchical Navigable Small
    World graphs" (cosine 0.38 on the sample), but both summaries say "HNSW", which only a handful
    of items do. Plain capitalized words ("Llama", "Inference") are too common to count.
    """
    if not published:
        return lambda _item_id: []
    by_id = {it.id: it for it in items}
    names = {it.id: acronyms(it) for it in items if it.id in published or it.status in ('shortlisted', 'inbox')}
    df: Counter[str] = Counter(n for found in names.values() for n in found)

    def related_for(item_id: str) -> list[tuple[str, float]]:
        out = []
        mine = names.get(item_id) or acronyms(by_id[item_id])
        for other, cosine in engine.related(item_id, k=RELATED_CANDIDATES, allowed=published):
            rare = any(df[n] <= RARE_NAME_DF for n in mine & names.get(other, frozenset()))
            out.append((other, round(cosine + (RARE_NAME_BONUS if rare else 0.0), 4)))
        return sorted(out, key=lambda p: (-p[1], p[0]))

    return related_for


def draft_dupe_pairs(
    engine: Any, items: Sequence[Item], threshold: float | None, cosine_floor: float,
    among: set[str] | None = None,
) -> list[tuple[str, str]]:
    """Near-duplicate pairs the draft acts on: same-resource score ≥ threshold, same kind, cosine ≥ floor.

    `SemanticEngine.duplicate_pairs` for the items in `among` (the draft's candidates): the whole
    catalog's groups cost ~1 ms per item (100 s at 100k), the candidates' a fraction of a second.
    The engine must be synced.
    Why stricter than `newsletter dupes`: leaving an item out of an issue is a silent loss, and a repo
    and the paper it implements (or a talk and its slides) are two resources worth two entries; the
    one covered earlier becomes a "Previously covered" link instead. The cosine floor guards against
    pairs whose score rests on shared title words alone (measured on the sample catalog).
    """
    kinds = {it.id: it.kind for it in items}
    pairs = engine.duplicate_pairs(items, among=among, threshold=threshold, min_cosine=cosine_floor)
    return [(a, b) for a, b, _score in pairs if kinds[a] == kinds[b]]

"""The near-duplicate development set (tests/data/dupes_dev/): items, train/test split, labelled pairs.

``items.jsonl`` holds one text per line, each with where it came from (``provenance``: which public
list, file, commit and section). ``work`` says which tool (or episode) a text describes; texts of one
work written in different lists are the positives. ``pairs.jsonl`` is derived from the items by
`make_pairs` (run ``python -m bench.dupes_data`` after editing the items) and committed, so every run
scores the same pairs:

- the split is by work: a work's texts are all in ``train`` or all in ``test`` (sha1 of the work), and
  a pair is only made inside one split, so nothing about a test work is seen while fitting;
- ``same``: two differently worded texts of one work (identical texts are left out: copies, not
  independent descriptions);
- ``same_text``: two works whose texts are (nearly) identical ("Approximate nearest neighbor search."
  for faiss, annoy and pysparnn) — the hardest negatives, all of them;
- ``same_author``: two works of one owner (huggingface's TGI and TEI; Nixtla's mlforecast and
  neuralforecast), sampled 1 per positive;
- ``same_show``: two episodes of one show (one feed, distinct GUIDs), all of them;
- ``same_category``: two works of one section (two vector databases), sampled 2 per positive;
- ``other``: two works of different sections, sampled 1 per positive.

URLs are opaque (``https://dev.invalid/<id>``): only the texts can match two items. The names-hidden
variant (`hide_names`) titles each item by the first sentence of its own description.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from newsletter.models import Item

ROOT = Path(__file__).resolve().parent.parent
DEV_DIR = ROOT / "tests" / "data" / "dupes_dev"
ITEMS = DEV_DIR / "items.jsonl"
PAIRS = DEV_DIR / "pairs.jsonl"
TEST_SHARE = 3  # of 10: works whose sha1 ends in 0-2 (mod 10) are the unseen test split
HARD_PER_POSITIVE = 2
EASY_PER_POSITIVE = 1
AUTHOR_PER_POSITIVE = 1
SEED = 14
NEAR_SAME_TEXT = 0.8  # word Jaccard at which two texts count as copies of one another

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def split_of(work: str) -> str:
    """``train`` or ``test`` for a work, fixed by its name (every third episode of the show is a test one)."""
    number = re.fullmatch(r"episode-aitw-(\d+)", work)
    if number:
        return "test" if int(number.group(1)) % 3 == 0 else "train"
    return "test" if int(hashlib.sha1(work.encode()).hexdigest(), 16) % 10 < TEST_SHARE else "train"


def load_rows(path: Path = ITEMS) -> list[dict]:
    """The raw item rows of items.jsonl."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def to_item(row: dict, *, names_hidden: bool = False) -> Item:
    """A catalog Item for a dev-set row; with `names_hidden`, titled by its description's first sentence."""
    title = row["title"]
    if names_hidden:
        title = first_sentence(row["text"])
    extra: dict = {}
    if row.get("feed_url"):
        extra = {"feed_url": row["feed_url"], "guid": row.get("guid", ""), "show": row.get("show", "")}
    url = f"https://dev.invalid/{hashlib.sha1(row['id'].encode()).hexdigest()[:12]}"
    return Item(id=row["id"], kind=row["kind"], url=url, canonical_url=url, title=title, summary=row["text"],
                authors=list(row.get("authors") or []), published=row.get("published"), extra=extra)


def first_sentence(text: str) -> str:
    """The first sentence of a description (what a names-hidden item is titled by)."""
    head = re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0]
    return head.rstrip(".") or text


@dataclass
class Pair:
    """One labelled pair of dev-set items."""

    a: str
    b: str
    same: int
    type: str
    split: str


def make_pairs(rows: list[dict], *, seed: int = SEED) -> list[Pair]:
    """Every labelled pair of the dev set (see the module docstring), deterministic for a seed."""
    rng = random.Random(seed)
    out: list[Pair] = []
    for split in ("train", "test"):
        mine = [r for r in rows if split_of(r["work"]) == split]
        words = {r["id"]: _words(r["text"]) for r in mine}
        positives = []
        special: dict[tuple[str, str], str] = {}
        same_category = []
        other = []
        for x, y in itertools.combinations(mine, 2):
            key = (x["id"], y["id"])
            near_copy = _jaccard(words[x["id"]], words[y["id"]]) >= NEAR_SAME_TEXT
            if x["work"] == y["work"]:
                if " ".join(sorted(words[x["id"]])) != " ".join(sorted(words[y["id"]])):
                    positives.append(key)
                continue
            if near_copy:
                special[key] = "same_text"
            elif x.get("show") and x.get("show") == y.get("show"):
                special[key] = "same_show"
            elif x.get("repo_owner") and x.get("repo_owner") == y.get("repo_owner"):
                special[key] = "same_author"
            elif x["category"] == y["category"]:
                same_category.append(key)
            else:
                other.append(key)
        out += [Pair(a, b, 1, "same", split) for a, b in positives]
        authored = sorted(k for k, v in special.items() if v == "same_author")
        keep = set(rng.sample(authored, min(len(authored), AUTHOR_PER_POSITIVE * len(positives))))
        out += [Pair(a, b, 0, kind, split) for (a, b), kind in special.items()
                if kind != "same_author" or (a, b) in keep]
        hard = rng.sample(same_category, min(len(same_category), HARD_PER_POSITIVE * len(positives)))
        easy = rng.sample(other, min(len(other), EASY_PER_POSITIVE * len(positives)))
        out += [Pair(a, b, 0, "same_category", split) for a, b in sorted(hard)]
        out += [Pair(a, b, 0, "other", split) for a, b in sorted(easy)]
    return out


def write_pairs(rows: list[dict], path: Path = PAIRS) -> list[Pair]:
    """Write pairs.jsonl: each pair with both texts and their provenance, so the file reads on its own."""
    by_id = {r["id"]: r for r in rows}
    pairs = make_pairs(rows)

    def side(row: dict) -> dict:
        keep = ("id", "work", "kind", "title", "text", "published", "provenance")
        return {k: row.get(k) for k in keep}

    with path.open("w", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps({"same": p.same, "type": p.type, "split": p.split,
                                 "a": side(by_id[p.a]), "b": side(by_id[p.b])}, ensure_ascii=False) + "\n")
    return pairs


def load_pairs(path: Path = PAIRS) -> list[Pair]:
    """The committed pairs."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(Pair(d["a"]["id"], d["b"]["id"], int(d["same"]), d["type"], d["split"]))
    return out


@dataclass
class DevSplit:
    """One split of the dev set as a catalog: its items (full or names hidden) and labelled pairs."""

    name: str
    items: list[Item]
    pairs: list[tuple[int, int, int]]
    types: list[str]
    works: list[str]  # per item


def load_split(split: str, *, names_hidden: bool = False, rows: list[dict] | None = None,
               pairs: list[Pair] | None = None) -> DevSplit:
    """The items of one split and its pairs as index triples (i, j, same)."""
    rows = rows if rows is not None else load_rows()
    pairs = pairs if pairs is not None else load_pairs()
    mine = [r for r in rows if split_of(r["work"]) == split]
    index = {r["id"]: k for k, r in enumerate(mine)}
    chosen = [p for p in pairs if p.split == split]
    label = f"dev-{split}" + ("-names-hidden" if names_hidden else "")
    return DevSplit(label, [to_item(r, names_hidden=names_hidden) for r in mine],
                    [(index[p.a], index[p.b], p.same) for p in chosen], [p.type for p in chosen],
                    [r["work"] for r in mine])


def summary(pairs: list[Pair]) -> dict[str, dict[str, int]]:
    """Pair counts per split and type."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in pairs:
        out[p.split][p.type] += 1
    return {k: dict(v) for k, v in out.items()}


if __name__ == "__main__":
    written = write_pairs(load_rows())
    print(json.dumps(summary(written), indent=1))

"""`newsletter draft` and suggestions: `.venv/bin/python -m bench.bench_draft [--quick]`.

Prints:
1. model load (all-MiniLM-L6-v2, real) — reported apart from everything else;
2. `draft` wall time on the sample (real model): cold (derived folder deleted: embeds 123 items)
   and warm (vectors stored, the model is not even loaded);
3. `draft` on a generated catalog of 100k items with 300 past issues (10k with --quick). Embedding
   100k texts with the real model takes ~15 min, so this catalog uses the engine with the
   HashingEmbedder (feature hashing, 384 dims): index, dupes, backlinks and rendering are the real
   code, only the vectors are synthetic;
4. suggestion acceptance by leave-one-out on the sample (real model): how often the top suggested
   tag is one of the item's real tags (its own tags hidden, also from its embedded text), and how
   often the top suggested section is the one it appeared under in its issue, vs simple baselines.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.bench_catalog import WORDS
from bench.common import print_table
from newsletter.catalog import Catalog
from newsletter.issues import draft, suggest
from newsletter.models import Item
from newsletter.semantic import HashingEmbedder, SemanticEngine
from newsletter.semantic.text import embedding_text
from newsletter.store import files

ROOT = Path(__file__).resolve().parent.parent
DATE = "2025-03-07"


def copy_sample(target: Path) -> Path:
    for part in ("newsletter.toml", "catalog", "content"):
        source = ROOT / part
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target / part)
    return target


def model_load() -> float:
    from newsletter.semantic.ovembedder import make_embedder

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-model-") as derived:  # the export is copied from the machine's
        make_embedder("default", "auto", derived_dir=Path(derived)).encode(["warm up"])
    return time.perf_counter() - started


def timed_draft(root: Path, engine: object | None = None) -> tuple[float, draft.DraftResult]:
    catalog = Catalog.open(root)
    started = time.perf_counter()
    result = draft.write_draft(catalog, draft.DraftOptions(date=DATE), engine=engine)
    elapsed = time.perf_counter() - started
    catalog.close()
    return elapsed, result


def sample_rows(runs: int) -> list[list[object]]:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_sample(Path(tmp))
        cold, result = timed_draft(root)
        rows.append(["sample (123 items), cold: embeds all (model load: see above)", "MiniLM", round(cold, 2),
                     len(result.added)])
        warm = []
        for _ in range(runs):
            seconds, result = timed_draft(root)  # the draft is unedited: regenerated in place
            warm.append(seconds)
        rows.append(["sample, warm (vectors stored, no model)", "MiniLM", round(statistics.median(warm), 3),
                     len(result.added)])
    return rows


def generate(root: Path, n: int, issues: int, per_issue: int = 14, inbox: int = 300, seed: int = 11) -> None:
    """n item files; the first issues*per_issue published in issues 1..issues (with issue files), then an inbox."""
    rng = random.Random(seed)
    (root / "newsletter.toml").write_text('[newsletter]\nname = "Bench"\n')
    issues_dir = root / "content" / "issues"
    issues_dir.mkdir(parents=True)
    kinds = ("paper", "link", "repo", "podcast", "video", "tweet")
    published = issues * per_issue
    links: dict[int, list[str]] = {}
    for i in range(n):
        if i < published:
            status, issue = "published", i // per_issue + 1
        elif i >= n - inbox:
            status, issue = rng.choice(("inbox", "inbox", "shortlisted")), None
        else:
            status, issue = "skipped", None
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))).capitalize()
        item = Item(
            id=f"{i:012x}", kind=rng.choice(kinds), url=f"https://site{i % 500}.example.com/posts/{i}",
            canonical_url=f"https://site{i % 500}.example.com/posts/{i}", title=title,
            summary=" ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 45))),
            authors=[f"Author {rng.randint(1, 3000)}"], tags=rng.sample(WORDS, 2), status=status, issue=issue,
            added=f"{2019 + i * 6 // n}-{1 + i % 12:02d}-{rng.randint(1, 28):02d}T10:00:00Z",
            note="A note from the editors." if status == "shortlisted" else "",
        )
        if issue:
            links.setdefault(issue, []).append(f"- **[{title}]({item.url})** — x.")
        path = root / "catalog" / files.relative_path_for(item)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files.dump_item(item), encoding="utf-8")
    for number, lines in links.items():
        body = "\n".join(["## Papers", *lines])
        (issues_dir / f"{number:03d}-issue.md").write_text(
            f'---\nnumber: {number}\ntitle: "Issue #{number}: Things"\ndate: 2024-01-01\nstatus: published\n---\n'
            f"Intro.\n\n{body}\n"
        )


def large_rows(n: int, issues: int) -> list[list[object]]:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        generate(root, n, issues)
        print(f"generated {n:,} items and {issues} issues in {time.perf_counter() - started:.1f} s")
        catalog = Catalog.open(root)
        engine = SemanticEngine(catalog.settings.derived_dir / "semantic", embedder=HashingEmbedder(384))
        started = time.perf_counter()
        items = catalog.items()
        load = time.perf_counter() - started
        started = time.perf_counter()
        engine.sync(items)
        sync = time.perf_counter() - started
        catalog.close()
        label = f"{n // 1000}k items, {issues} issues"
        rows.append([f"{label}: catalog load (cold cache)", "hashing", round(load, 2), ""])
        rows.append([f"{label}: first sync (embed all + build index)", "hashing", round(sync, 2), ""])
        engine = SemanticEngine(root / ".newsletter" / "semantic", embedder=HashingEmbedder(384))
        seconds, result = timed_draft(root, engine)
        rows.append([f"{label}: draft (synced catalog, new engine object)", "hashing", round(seconds, 2),
                     len(result.added)])
        engine = SemanticEngine(root / ".newsletter" / "semantic", embedder=HashingEmbedder(384))
        catalog = Catalog.open(root)
        items = catalog.items()
        engine.sync(items)
        started = time.perf_counter()
        engine.duplicate_groups(items)
        groups_seconds = round(time.perf_counter() - started, 2)
        rows.append([f"{label}: whole-catalog duplicate_groups (draft avoids it)", "hashing", groups_seconds, ""])
        catalog.close()
    return rows


def loo_rows() -> list[list[object]]:
    """Leave-one-out on the sample with the real model."""
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_sample(Path(tmp))
        catalog = Catalog.open(root)
        items = catalog.items()
        engine = draft.semantic_engine(catalog)
        engine.sync(items)
        labelled = [it for it in items if it.tags]
        tags = {it.id: it.tags for it in labelled}
        # The query is the item's text *without* its tags (the embedded text includes tags).
        texts = [embedding_text(dataclasses.replace(it, tags=[])) for it in labelled]
        vectors = engine.embedder.encode(texts)
        rows_nn = engine.index.query(vectors, suggest.K, allowed=set(tags), exclude=[it.id for it in labelled])
        result = suggest.leave_one_out(dict(zip(tags, rows_nn, strict=True)), tags)
        common = Counter(t for ts in tags.values() for t in ts).most_common(1)[0][0]
        baseline = sum(common in ts for ts in tags.values()) / len(tags)
        rows.append(["tags: top-1 suggestion is a real tag", result["n"], round(result["top1"], 3),
                     f"baseline (always '{common}'): {baseline:.3f}"])
        for band in result["by_confidence"]:
            rows.append([f"tags, confidence ≥ {band['min_confidence']}", result["n"], band["precision"],
                         f"coverage {band['coverage']:.2f}"])
        sections = suggest.section_labels(items, catalog.settings.issues_dir)
        neighbours = {i: engine.related(i, k=suggest.K, allowed=set(sections) - {i}) for i in sections}
        sec = suggest.leave_one_out(neighbours, sections)
        rules = sections.section_rules(catalog.settings.raw)
        by_id = {it.id: it for it in items}
        # Rule baseline: the default rules on the item as it was before publishing (shortlisted if it had a note).
        rule_hits = 0
        for item_id, (truth,) in sections.items():
            before = dataclasses.replace(by_id[item_id], status="shortlisted" if by_id[item_id].note else "inbox")
            rule = sections.assign_section(before, rules)
            rule_hits += rule is not None and rule.title == truth
        rows.append(["sections: top-1 suggestion is the real section", sec["n"], round(sec["top1"], 3),
                     f"default rules: {rule_hits / len(sections):.3f}"])
        catalog.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k items instead of 100k; fewer repeats")
    args = parser.parse_args()
    load = model_load()
    print_table("Model load (all-MiniLM-L6-v2, real; import + load + first encode)", ["what", "seconds"],
                [["model load", round(load, 2)]])
    rows = sample_rows(runs=3 if args.quick else 5)
    rows += large_rows(10_000 if args.quick else 100_000, 300)
    print_table("newsletter draft: wall time (library call; hashing rows use synthetic vectors, see docstring)",
                ["case", "embedder", "seconds", "entries"], rows)
    print_table(f"Suggestions: leave-one-out on the sample (real model, k={suggest.K})",
                ["measure", "items", "rate", "note"], loo_rows())


if __name__ == "__main__":
    main()

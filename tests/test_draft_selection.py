"""Draft selection (issue 13, item 3): what a curator means comes first, one summary line of what was
left out, and the same work twice across sections found by both `draft` and `check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.issues import draft
from newsletter.issues.selection import left_out_summary, rank_key
from newsletter.models import Item
from newsletter.project import init_project
from newsletter.semantic import HashingEmbedder, SemanticEngine
from newsletter.store import files

PAPER = Item(
    id="ad62c5e01d8c", kind="paper", url="https://arxiv.org/abs/2004.12832", canonical_url="https://arxiv.org/abs/2004.12832",
    title="ColBERT: Efficient and Effective Passage Search via Contextualized Late Interaction over BERT",
    summary='Encodes queries and documents separately into per-token embeddings, scored by cheap "late interaction".',
    authors=["Omar Khattab", "Matei Zaharia"], published="2020-04-27", site="arXiv", added="2025-03-05T09:00:00Z",
    extra={"arxiv_id": "2004.12832"},
)
REPO = Item(
    id="0a1b2c3d4e5f", kind="repo", url="https://github.com/stanford-futuredata/ColBERT",
    canonical_url="https://github.com/stanford-futuredata/colbert", title="stanford-futuredata/ColBERT",
    summary="ColBERT: state-of-the-art neural search (SIGIR'20, TACL'21, NeurIPS'21, NAACL'22)",
    authors=["stanford-futuredata"], site="GitHub", added="2025-03-05T09:00:00Z",
    extra={"stars": 3100, "language": "Python", "homepage": "https://arxiv.org/abs/2004.12832"},
)


def hashing_engine(catalog: Catalog) -> SemanticEngine:
    return SemanticEngine(catalog.settings.derived_dir / "semantic", embedder=HashingEmbedder(256))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = init_project(tmp_path / "proj", name="Test Weekly")
    monkeypatch.setattr(draft, "semantic_engine", hashing_engine)
    return root


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def write(project: Path, item: Item) -> None:
    path = project / "catalog" / files.relative_path_for(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(files.dump_item(item), encoding="utf-8")


def link(ident: str, title: str, **fields: object) -> Item:
    url = f"https://blog{ident}.example.org/post"
    return Item(id=ident, kind="link", url=url, canonical_url=url, title=title, **fields)  # type: ignore[arg-type]


def test_rank_uses_publication_date_not_import_time() -> None:
    old_bookmark = link("a" * 12, "Old bookmark", summary="worth it", published="2025-03-01",
                        added="2019-01-01T00:00:00Z")
    fresh_junk = link("b" * 12, "Fresh junk", published="2025-01-01", added="2025-03-06T00:00:00Z")
    undated = link("c" * 12, "Undated", summary="s", added="2025-03-06T00:00:00Z")
    shortlisted = link("d" * 12, "Chosen", status="shortlisted", published="2020-01-01")
    noted = link("e" * 12, "With a note", note="Read this.", published="2021-01-01")
    ranked = sorted([fresh_junk, undated, old_bookmark, noted, shortlisted], key=rank_key)
    assert [i.title for i in ranked] == ["Chosen", "With a note", "Old bookmark", "Undated", "Fresh junk"]


def test_draft_prints_one_summary_line_and_details_with_verbose(project: Path) -> None:
    with open(project / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write('\n[[sections]]\ntitle = "Further reading"\nkinds = ["link"]\nmax = 2\n')
    for n in range(7):
        write(project, link(f"{n:012x}", f"Post {n}", summary=f"about topic {n}", published=f"2025-03-0{n + 1}",
                            added="2025-03-05T09:00:00Z"))
    code, out, err = run(project, "draft")
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["left out 5 items: 5 section full (`newsletter draft -v` lists them)"]
    text = Path(out.strip()).read_text(encoding="utf-8")
    assert "Post 6" in text and "Post 5" in text and "Post 0" not in text  # newest publication dates win
    Path(out.strip()).unlink()
    code, out, err = run(project, "draft", "-v")
    assert sum(line.startswith("left out 00000000000") for line in err.splitlines()) == 5
    Path(out.strip()).unlink()
    code, out, err = run(project, "draft", "--json")
    doc = json.loads(out)
    assert len(doc["left_out"]) == 5 and doc["left_out_summary"].startswith("left out 5 items")


def test_the_same_work_in_two_sections_is_folded_by_draft_and_reported_by_check(project: Path) -> None:
    # the hashing embedder's cosines mean nothing; the dupes score (a repo whose homepage is the
    # paper, the shared name) is what decides here
    with open(project / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write("\n[draft]\ncross_kind_cosine = 0.0\n")
    write(project, PAPER)
    write(project, REPO)
    topics = [("Sourdough at home", "flour water salt"), ("Rust borrow checker tales", "lifetimes explained"),
              ("Kubernetes cost audits", "cluster spend"), ("Postgres vacuum tuning", "autovacuum knobs"),
              ("Birdwatching in spring", "warblers migrate"), ("Typography for slides", "kerning matters")]
    for n, (title, summary) in enumerate(topics):  # a catalog around them: the shared name is rare, so it counts
        write(project, link(f"{n:012x}", title, summary=summary, published="2025-03-01", added="2025-03-05T09:00:00Z"))
    code, out, err = run(project, "draft")
    assert code == 0, err
    path = Path(out.strip())
    text = path.read_text(encoding="utf-8")
    assert text.count("ColBERT") >= 2 and "Also" in text
    assert "## New tools and repos" not in text  # the repo went under the paper, not a section of its own
    assert "1 folded under another entry" in err
    # the curator puts the repo back as an entry of its own: check finds the same work twice
    repo_entry = "\n## New tools and repos\n- **[stanford-futuredata/ColBERT](https://github.com/stanford-futuredata/ColBERT)**\n"
    body = text.replace("Until next week", repo_entry + "\nUntil next week")
    path.write_text(body, encoding="utf-8")
    code, out, err = run(project, "check", "1")
    assert code == 1
    assert "duplicate" in out and "near-duplicate" in out  # findings on stdout
    code, out, _ = run(project, "check", "1", "--json")
    kinds = [p["kind"] for p in json.loads(out)["problems"]]
    assert "duplicate" in kinds


def test_left_out_summary_counts_reasons() -> None:
    assert left_out_summary([]) == ""
    line = left_out_summary(["full", "published", "full", "no-section"])
    assert line.startswith("left out 4 items: 2 section full, 1 already published or drafted, 1 no section takes them")
    assert left_out_summary(["full"]).startswith("left out 1 item: ")


def test_settled_plan_matches_the_plan_over_every_pair_while_asking_only_for_what_lands() -> None:
    from newsletter.issues.sections import SectionRule

    rules = [SectionRule("Further reading", kinds=("link",), max=3)]
    # Ranked by publication date: p9 first. p9 repeats an earlier issue's item, p8 and p7 are one
    # work (p7 folds under p8), so the plan has to reach down to p5 for its third entry.
    items = [link(f"p{n:011d}", f"Post {n}", published=f"2025-03-{n + 10:02d}") for n in range(10)]
    old = link("o" * 12, "Published earlier", status="published", issue=1, published="2025-01-01")
    items.append(old)
    every_pair = [(items[9].id, old.id), (items[7].id, items[8].id), (items[1].id, items[2].id)]
    asked: list[set[str]] = []

    def find_pairs(ask: set[str] | None) -> list[tuple[str, str]]:
        asked.append(set() if ask is None else set(ask))
        return [p for p in every_pair if ask is None or p[0] in ask or p[1] in ask]

    settled = draft.settled_plan(items, rules, find_pairs=find_pairs)
    full = draft.plan_draft(items, rules, dupe_pairs=every_pair)
    assert [e.item.id for e in settled.entries] == [e.item.id for e in full.entries]
    assert [[o.id for o in e.also] for e in settled.entries] == [[o.id for o in e.also] for e in full.entries]
    assert [e.item.title for e in settled.entries] == ["Post 8", "Post 6", "Post 5"]
    looked_up = set().union(*asked)
    assert items[1].id not in looked_up and items[2].id not in looked_up  # far below the cut: never asked
    assert len(settled.left_out) == len(settled.reasons)  # the final plan explains every item it left out

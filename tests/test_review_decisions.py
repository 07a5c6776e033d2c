"""Review decisions live in the item files: rejections per item and tag, single tags, hand-made
tags only, and the acceptance statistics (issue 13, point 7)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from newsletter.catalog import Catalog
from newsletter.issues import suggest
from newsletter.models import Item
from newsletter.store.files import parse_item
from newsletter.store.gitmerge import merge_fields
from tests.test_bulk import run as run_main
from tests.test_draft import add_item, make_project, run


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_project(tmp_path, monkeypatch)


class FixedNeighbours:
    """An engine whose neighbours are given: the vote, not the embedding, is under test."""

    def __init__(self, neighbours: dict[str, list[tuple[str, float]]]) -> None:
        self.neighbours = neighbours

    def related(self, item_id: str, k: int, allowed: set[str]) -> list[tuple[str, float]]:
        return [(o, s) for o, s in self.neighbours.get(item_id, []) if o in allowed][:k]


def item(ident: str, tags: list[str], **extra: object) -> Item:
    return Item(id=ident, kind="link", url=f"https://example.org/{ident}", canonical_url=f"https://example.org/{ident}",
                title=f"Item {ident}", tags=tags, status="inbox", added="2026-11-30T09:00:00Z", extra=dict(extra))


def test_a_tag_only_an_import_folder_gave_is_never_suggested() -> None:
    labelled = [item("a1", ["awesome-mlops", "serving"], imported_tags=["awesome-mlops"]),
                item("a2", ["awesome-mlops"], imported_tags=["awesome-mlops"]),
                item("a3", ["serving"])]
    target = item("t1", [])
    engine = FixedNeighbours({"t1": [("a1", 0.9), ("a2", 0.9), ("a3", 0.5)]})
    found = suggest.suggest(engine, [*labelled, target])
    assert [s.values for s in found if s.item_id == "t1"] == [["serving"]]
    # once a curator uses the tag by hand on any item, it is a label like any other
    labelled[1].extra.pop("imported_tags")
    found = suggest.suggest(engine, [*labelled, target])
    assert "awesome-mlops" in next(s for s in found if s.item_id == "t1").values


def test_after_a_rejection_the_next_review_does_not_scrape_the_bottom_of_the_vote() -> None:
    labelled = [item("a1", ["ml-reading"]), item("a2", ["ml-reading"]), item("a3", ["llm-ops"]), item("a4", ["froma"])]
    target = item("t1", [])
    engine = FixedNeighbours({"t1": [("a1", 0.5), ("a2", 0.4), ("a3", 0.5), ("a4", 0.3)]})
    first = next(s for s in suggest.suggest(engine, [*labelled, target]) if s.item_id == "t1")
    assert first.values[0] == "ml-reading"
    target.extra["reviews"] = [suggest.Decision(first, []).record("2026-11-30")]
    again = [s for s in suggest.suggest(engine, [*labelled, target]) if s.item_id == "t1"]
    # llm-ops has 0.29 of the vote and froma 0.17: neither is offered after the "no"
    assert again == []


def test_rejections_are_kept_in_the_item_file_and_survive_a_new_derived_folder(project: Path) -> None:
    a = add_item(project, "Quantization of LLM weights to 4 bits", kind="link", tags=[],
                 summary="GPTQ-style 4-bit weight quantization.")
    code, out, err = run(project, "review", "--json")
    assert code == 0, err
    offered = next(s for s in json.loads(out)["suggestions"] if s["item_id"] == a.id and s["field"] == "tags")
    code, out, err = run(project, "review", "--reject", "--item", a.id)
    assert code == 0 and "rejected 1" in out, err
    text = (project / "catalog").rglob(f"*{a.id}*")
    saved = parse_item(next(iter(text)).read_text(encoding="utf-8"))
    record = saved.extra["reviews"][0]
    assert record["field"] == "tags" and record["offered"] == offered["values"] and record["accepted"] == []
    shutil.rmtree(project / ".newsletter")  # another clone: nothing derived, only the files
    code, out, err = run(project, "review", "--json")
    assert code == 0, err
    again = [s for s in json.loads(out)["suggestions"] if s["item_id"] == a.id and s["field"] == "tags"]
    assert not again or not set(again[0]["values"]) & set(offered["values"])


def test_single_tags_are_accepted_and_rejected_with_tag(project: Path) -> None:
    a = add_item(project, "Serving LLMs with paged attention and continuous batching", kind="link", tags=[],
                 summary="vLLM serving throughput with PagedAttention.")
    code, out, err = run(project, "review", "--json", "--item", a.id)
    assert code == 0, err
    values = next(s for s in json.loads(out)["suggestions"] if s["field"] == "tags")["values"]
    keep = values[0]
    code, out, err = run(project, "review", "--accept", "--item", a.id, "--tag", keep)
    assert code == 0 and "accepted 1" in out, err
    catalog = Catalog.open(project)
    assert catalog.get(a.id).tags == [keep], "only the named tag was accepted"
    records = suggest.reviews_of(catalog.get(a.id))
    assert records[-1]["offered"] == [keep] and records[-1]["accepted"] == [keep]
    code, out, err = run(project, "review", "--reject", "--tag", "no-such-tag")
    assert code == 0 and "rejected 0" in out, "a tag nobody suggested decides nothing"


def test_an_imported_folder_tag_becomes_the_curators_when_tagged_by_hand(project: Path, tmp_path: Path) -> None:
    bookmarks = tmp_path / "bookmarks.html"
    bookmarks.write_text(
        "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><H3>Awesome MLOps</H3>\n<DL><p>\n"
        '<DT><A HREF="https://example.com/feature-store" TAGS="features">Feature stores</A>\n'
        "</DL><p>\n</DL><p>\n", encoding="utf-8")
    code, _out, err = run_main(project, "import", "--no-fetch", "--no-similar", str(bookmarks))
    assert code == 0, err
    catalog = Catalog.open(project)
    new = next(i for i in catalog.items() if i.url == "https://example.com/feature-store")
    assert set(new.tags) == {"awesome-mlops", "features"}
    assert new.imported_tags() == ["awesome-mlops"] and new.hand_tags() == ["features"]
    code, _out, err = run_main(project, "tag", new.id, "awesome-mlops")
    assert code == 0, err
    again = Catalog.open(project).get(new.id)
    assert again.imported_tags() == [] and "imported_tags" not in again.extra


def test_review_stats_give_the_share_accepted_as_offered_per_week_and_per_tag() -> None:
    def decided(ident: str, on: str, offered: list[str], accepted: list[str]) -> Item:
        s = suggest.Suggestion(ident, ident, "tags", offered, 0.5, [])
        return item(ident, accepted, reviews=[suggest.Decision(s, accepted).record(on)])

    items = [decided("a", "2026-11-23", ["rag", "eval"], ["rag", "eval"]),
             decided("b", "2026-11-24", ["rag"], []),
             decided("c", "2026-11-30", ["rag", "gpu"], ["gpu"]),
             decided("d", "2026-12-01", ["eval"], ["eval"])]
    stats = suggest.review_stats(items)
    assert stats["total"] == {"decided": 4, "as_offered": 2, "partly": 1, "rejected": 1, "accepted_as_offered": 0.5}
    assert [(w["week"], w["decided"], w["accepted_as_offered"]) for w in stats["weeks"]] == [
        ("2026-W48", 2, 0.5), ("2026-W49", 2, 0.5)]
    by_tag = {t["tag"]: (t["offered"], t["accepted"]) for t in stats["tags"]}
    assert by_tag == {"rag": (3, 1), "eval": (2, 2), "gpu": (1, 1)}


def test_review_stats_on_the_command_line(project: Path) -> None:
    code, out, err = run(project, "review", "--stats")
    assert code == 0 and "no review decisions yet" in out, err
    a = add_item(project, "Quantization of LLM weights to 4 bits", kind="link", tags=[],
                 summary="GPTQ-style 4-bit weight quantization.")
    code, out, err = run(project, "review", "--accept", "--item", a.id)
    assert code == 0, err
    code, out, err = run(project, "review", "--stats", "--json")
    assert code == 0, err
    stats = json.loads(out)
    assert stats["total"]["decided"] == 1 and stats["total"]["as_offered"] == 1
    code, out, err = run(project, "review", "--stats")
    assert code == 0 and "1 suggestion(s) decided: 1 accepted as offered" in out


def test_both_editors_rejections_survive_a_git_merge() -> None:
    base = {"id": "x", "tags": [], "reviews": []}
    ours = {"id": "x", "tags": [],
            "reviews": [{"on": "2026-12-01", "field": "tags", "offered": ["rag"], "accepted": []}]}
    theirs = {"id": "x", "tags": [],
              "reviews": [{"on": "2026-12-02", "field": "tags", "offered": ["eval"], "accepted": []}]}
    merged = merge_fields(base, ours, theirs)
    assert [r["offered"] for r in merged["reviews"]] == [["rag"], ["eval"]]

"""Tag and section suggestions by kNN: votes, vocabulary reuse, review in bulk, leave-one-out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.catalog import Catalog
from newsletter.issues import suggest
from newsletter.issues.sections import DEFAULT_SECTIONS, SectionRule
from newsletter.semantic import HashingEmbedder, SemanticEngine
from tests.test_draft import add_item, make_project, run


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_project(tmp_path, monkeypatch)


def test_vote_weights_by_similarity_and_ignores_unlabelled() -> None:
    labels = {"a": ["rag", "eval"], "b": ["rag"], "c": ["gpu"], "d": []}
    ranked = suggest.vote([("a", 0.9), ("b", 0.6), ("c", 0.5), ("d", 0.99), ("x", 0.8)], labels)
    assert ranked[0] == ("rag", round(1.5 / 2.0, 4))
    assert [label for label, _ in ranked] == ["rag", "eval", "gpu"]
    assert suggest.vote([("d", 1.0)], labels) == []
    assert suggest.pick(ranked, max_values=3, min_share=0.3) == ["rag", "eval"]


def test_leave_one_out_counts_top1_and_coverage() -> None:
    labels = {"a": ["x"], "b": ["x"], "c": ["y"]}
    neighbours = {"a": [("b", 0.9), ("c", 0.1)], "b": [("a", 0.9)], "c": [("a", 0.8), ("b", 0.7)]}
    result = suggest.leave_one_out(neighbours, labels, thresholds=(0.0, 0.95))
    assert result["n"] == 3 and result["top1"] == round(2 / 3, 3)
    assert result["by_confidence"][1] == {"min_confidence": 0.95, "coverage": round(2 / 3, 3), "precision": 0.5}


def untagged(root: Path, title: str, **fields: object):
    return add_item(root, title, kind="link", tags=[], **fields)


def engine_for(catalog: Catalog) -> SemanticEngine:
    engine = SemanticEngine(catalog.settings.derived_dir / "semantic", embedder=HashingEmbedder(256))
    engine.sync(catalog.items())
    return engine


def test_untagged_items_get_tags_from_the_existing_vocabulary(project: Path) -> None:
    new = untagged(project, "Speculative decoding with draft models for faster LLM inference",
                   summary="Speculative decoding: a draft model proposes tokens, the large model verifies them.")
    catalog = Catalog.open(project)
    found = suggest.suggest(engine_for(catalog), catalog.items())
    mine = [s for s in found if s.item_id == new.id]
    assert len(mine) == 1 and mine[0].field == "tags"
    vocabulary = {t for it in catalog.items() for t in it.tags}
    assert set(mine[0].values) <= vocabulary
    assert 0 < mine[0].confidence <= 1 and len(mine[0].values) <= suggest.MAX_TAGS


def test_section_suggestion_for_items_no_rule_places(project: Path) -> None:
    rules = [r for r in DEFAULT_SECTIONS if r.title != "Podcasts and video"] + [
        SectionRule("Podcasts and video", kinds=("video",))]
    catalog = Catalog.open(project)
    found = suggest.suggest(engine_for(catalog), catalog.items(), issues_dir=project / "content" / "issues",
                            rules=rules)
    sections = [s for s in found if s.field == "section"]
    podcasts = {i.id for i in catalog.items() if i.kind == "podcast" and i.status in ("inbox", "shortlisted")}
    assert {s.item_id for s in sections} == podcasts
    assert all(s.values[0] in {r.title for r in rules} for s in sections)


def test_review_accept_writes_tags_and_reject_is_remembered(project: Path) -> None:
    a = untagged(project, "Quantization of LLM weights to 4 bits", summary="GPTQ-style 4-bit weight quantization.")
    b = untagged(project, "Vector search with HNSW graphs", summary="Approximate nearest neighbour search index.")
    code, out, _e = run(project, "review", "--json")
    assert code == 0 and a.id in out and b.id in out
    code, out, _e = run(project, "review", "--reject", "--item", a.id, "--min-confidence", "0")
    assert code == 0 and "rejected 1" in out
    code, out, _e = run(project, "review", "--json")
    offered = {s["item_id"]: s for s in json.loads(out)["suggestions"] if s["field"] == "tags"}
    turned_down = set(suggest.rejections(Catalog.open(project).items())[a.id]["tags"])
    assert b.id in offered and turned_down
    assert not set(offered.get(a.id, {}).get("values", [])) & turned_down, "a rejected tag is not offered again"
    code, out, _e = run(project, "review", "--accept", "--item", b.id)
    assert code == 0 and "1 item(s) changed" in out
    catalog = Catalog.open(project)
    assert catalog.get(b.id).tags and not catalog.get(a.id).tags
    code, out, _e = run(project, "review", "--accept", "--item", b.id)
    assert "0 item(s) changed" in out


def test_review_flags_exclude_each_other(project: Path) -> None:
    code, _out, err = run(project, "review", "--accept", "--reject")
    assert code == 2 and "exclude" in err

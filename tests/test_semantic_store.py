"""Plumbing of the semantic layer with the model-free HashingEmbedder: store, index, crash safety."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from newsletter.models import Item
from newsletter.semantic import HashingEmbedder, SemanticEngine
from newsletter.semantic.index import VectorIndex
from newsletter.semantic.store import EmbeddingStore, encode_segment
from newsletter.semantic.text import embedding_text, text_hash

TOPICS = ["vector search", "llm serving", "fine tuning", "attention kernels", "quantization", "retrieval"]


def make_items(n: int, start: int = 0) -> list[Item]:
    """Deterministic items with distinct texts (so every item has its own vector)."""
    items = []
    for i in range(start, start + n):
        topic = TOPICS[i % len(TOPICS)]
        items.append(Item(
            id=f"id{i:05d}", kind="link" if i % 3 else "paper", url=f"https://example.com/{i}",
            canonical_url=f"https://example.com/{i}", title=f"Item {i} about {topic}",
            summary=f"Notes number {i} on {topic} with detail {i * 7 % 13} and word{i}.",
            published=f"2024-01-{i % 28 + 1:02d}",
        ))
    return items


def exact_scores(engine: SemanticEngine, items: list[Item], item_id: str) -> dict[str, float]:
    """Ground truth: cosine of every other item, from freshly embedded texts."""
    emb = HashingEmbedder(engine.dim)
    ids = [it.id for it in items]
    vectors = emb.encode([embedding_text(it) for it in items])
    scores = vectors @ vectors[ids.index(item_id)]
    return {i: round(float(s), 4) for i, s in zip(ids, scores, strict=True) if i != item_id}


def assert_is_top_k(got: list[tuple[str, float]], truth: dict[str, float], k: int) -> None:
    """`got` holds true scores and they are the k best (ties may pick either item)."""
    assert len(got) == k
    for item_id, score in got:
        assert truth[item_id] == pytest.approx(score, abs=1e-3)
    assert sorted((round(s, 3) for _, s in got), reverse=True) == sorted(
        (round(s, 3) for s in truth.values()), reverse=True)[:k]


@pytest.fixture
def derived(tmp_path: Path) -> Path:
    return tmp_path / ".newsletter" / "semantic"


def test_unchanged_items_are_never_embedded_twice(derived: Path) -> None:
    emb = HashingEmbedder()
    items = make_items(30)
    stats = SemanticEngine(derived, embedder=emb).sync(items)
    assert (stats.embedded, emb.encoded) == (30, 30)
    again = SemanticEngine(derived, embedder=emb).sync(items)  # a new process: reads from disk
    assert (again.embedded, again.reused, emb.encoded) == (0, 30, 30)


def test_editing_one_item_re_embeds_exactly_that_item(derived: Path) -> None:
    emb = HashingEmbedder()
    items = make_items(20)
    engine = SemanticEngine(derived, embedder=emb)
    engine.sync(items)
    items[4].summary = "A completely rewritten summary."
    items[7].status = "published"  # not part of the embedded text: costs nothing
    items[7].issue = 3
    stats = engine.sync(items)
    assert stats.embedded == 1 and emb.encoded == 21
    assert engine.index.entries["id00004"].hash == text_hash(embedding_text(items[4]))


def test_model_switch_builds_a_new_version_and_switching_back_is_free(derived: Path) -> None:
    a, b = HashingEmbedder(32, name="alpha"), HashingEmbedder(48, name="beta")
    items = make_items(25)
    SemanticEngine(derived, embedder=a).sync(items)
    engine_b = SemanticEngine(derived, embedder=b)
    stats_b = engine_b.sync(items)
    assert stats_b.embedded == 25 and len(EmbeddingStore.versions(derived)) == 2
    assert engine_b.related("id00003", k=3)  # the new version answers with its own vectors
    back = SemanticEngine(derived, embedder=a).sync(items)
    assert back.embedded == 0 and a.encoded == 25
    assert not back.rebuilt or back.embedded == 0  # the index may be rebuilt, but from stored vectors


def test_deleting_the_derived_folder_rebuilds_everything(derived: Path) -> None:
    items = make_items(15)
    engine = SemanticEngine(derived, embedder=HashingEmbedder())
    engine.sync(items)
    before = engine.related("id00002", k=5)
    shutil.rmtree(derived)
    fresh = SemanticEngine(derived, embedder=HashingEmbedder())
    stats = fresh.sync(items)
    assert stats.embedded == 15 and stats.rebuilt
    assert fresh.related("id00002", k=5) == before


@pytest.mark.parametrize("exact_below", [0, 10_000], ids=["hnsw", "exact"])
def test_index_follows_add_edit_remove_and_merge(derived: Path, exact_below: int) -> None:
    items = make_items(60)
    engine = SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=exact_below)
    engine.sync(items)
    assert engine.index.mode == ("hnsw" if exact_below == 0 else "exact")
    items += make_items(5, start=60)  # add
    items[10].title = "Entirely new title about gardening"  # edit
    del items[20]  # rm id00020
    engine.sync(items)
    engine.remove(["id00030"])  # merge: the duplicate leaves the index
    items = [it for it in items if it.id != "id00030"]
    reopened = SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=exact_below)
    reopened._load()
    assert set(reopened.index.by_id) == {it.id for it in items}
    for probe in ("id00010", "id00062", "id00001"):
        got = reopened.related(probe, k=5)
        assert_is_top_k(got, exact_scores(reopened, items, probe), 5)
    # A re-sync with the same catalog is a no-op: nothing embedded, nothing rebuilt.
    stats = reopened.sync(items)
    assert (stats.embedded, stats.rebuilt, stats.index_added) == (0, False, 0)


def test_hnsw_grows_past_its_capacity_and_rebuilds_after_many_deletions(derived: Path) -> None:
    engine = SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=0)
    items = make_items(40)
    engine.sync(items)
    cap = engine.index._hnsw.get_max_elements()
    items += make_items(100, start=40)
    stats = engine.sync(items)
    assert not stats.rebuilt and engine.index._hnsw.get_max_elements() > cap
    stats = engine.sync(items[:60])  # 80 of 140 gone: rebuild instead of a graph of tombstones
    assert stats.rebuilt and len(engine.index.labels) == 60


def test_kind_filter_and_allowed_set_restrict_related(derived: Path) -> None:
    items = make_items(40)
    engine = SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=0)
    engine.sync(items)
    papers = {it.id for it in items if it.kind == "paper"}
    got = engine.related("id00001", k=5, kind="paper")
    assert got and {i for i, _ in got} <= papers
    assert {i for i, _ in engine.related("id00001", k=5, allowed={"id00002", "id00005"})} == {"id00002", "id00005"}


@pytest.mark.parametrize("other", [HashingEmbedder(64, name="other"), HashingEmbedder(32)], ids=["model", "dim"])
def test_stamp_of_another_model_or_dim_is_rebuilt_not_misread(derived: Path, other: HashingEmbedder) -> None:
    items = make_items(30)
    mine = SemanticEngine(derived, embedder=HashingEmbedder(64), exact_below=0)
    mine.sync(items)
    other_engine = SemanticEngine(derived, embedder=other, exact_below=0)
    other_engine.sync(items)
    # Make "mine"'s stamp claim to be the other model's (a crafted mismatch).
    stamp = json.loads(mine.index.stamp_path.read_text())
    stamp["model_id"], stamp["dim"] = other.model_id, other.dim
    other_engine.index.stamp_path.write_text(json.dumps(stamp))
    index = VectorIndex(derived, other_engine.store, exact_below=0)
    assert not index.load() and index.rejected
    stats = SemanticEngine(derived, embedder=other, exact_below=0).sync(items)
    assert stats.rebuilt and stats.embedded == 0


def _graph_file(engine: SemanticEngine) -> Path:
    return engine.index.dir / json.loads(engine.index.stamp_path.read_text())["graph"]["name"]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "stamp_points_elsewhere", "stamp_garbage"])
def test_damaged_index_files_lead_to_a_rebuild_never_a_wrong_answer(derived: Path, damage: str) -> None:
    items = make_items(50)
    engine = SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=0)
    engine.sync(items)
    truth = engine.related("id00007", k=5)
    graph = _graph_file(engine)
    if damage == "truncated":
        graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    elif damage == "garbage":
        graph.write_bytes(b"\x00garbage" * 1000)
    elif damage == "stamp_points_elsewhere":
        # A crash after a new graph was written but before its stamp: the stamp names the old
        # file, which is gone; a leftover temp file lies around too.
        (graph.parent / f".{graph.name}.999.tmp").write_bytes(b"partial")
        graph.rename(graph.with_name("other.hnsw"))
    else:
        engine.index.stamp_path.write_text('{"format": 1, "model_id"')
    fresh = SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=0)
    assert not fresh.index.load()
    stats = fresh.sync(items)
    assert stats.rebuilt and stats.embedded == 0
    assert fresh.related("id00007", k=5) == truth


def test_corrupt_or_foreign_store_segments_are_dropped_and_recomputed(derived: Path) -> None:
    emb = HashingEmbedder()
    items = make_items(10)
    engine = SemanticEngine(derived, embedder=emb)
    engine.sync(items)
    (seg,) = engine.store.dir.glob("seg-*.vec")
    seg.write_bytes(seg.read_bytes()[:-7])  # torn write
    foreign = encode_segment("someone-else@hash", ["ab" * 16], np.ones((1, 64), dtype=np.float32))
    (engine.store.dir / "seg-00000000000000000001-1.vec").write_bytes(foreign)
    shutil.rmtree(derived / "index")
    fresh = SemanticEngine(derived, embedder=emb)
    stats = fresh.sync(items)
    assert stats.embedded == 10 and fresh.store.dropped_segments == 2


def test_store_compacts_many_segments_into_one(derived: Path) -> None:
    emb = HashingEmbedder()
    store = EmbeddingStore(derived, emb.model_id, emb.dim)
    texts = [f"text {i}" for i in range(40)]
    for i in range(0, 40, 4):  # ten small writes
        store.add([text_hash(t) for t in texts[i:i + 4]], emb.encode(texts[i:i + 4]))
    assert len(list(store.dir.glob("seg-*.vec"))) <= 8
    reread = EmbeddingStore(derived, emb.model_id, emb.dim)
    assert len(reread) == 40
    np.testing.assert_allclose(reread.get([text_hash(texts[13])])[0], emb.encode([texts[13]])[0])


def test_search_fuses_keyword_ids_with_semantic_neighbours(derived: Path) -> None:
    items = make_items(30)
    engine = SemanticEngine(derived, embedder=HashingEmbedder())
    engine.sync(items)
    got = engine.search("quantization", k=5, keyword_ids=["id00029", "id00004"])
    ids = [i for i, _ in got]
    assert ids[0] in {"id00029", "id00004"} and "id00004" in ids  # in both lists: ranked high
    assert all(score > 0 for _, score in got)
    papers = engine.search("quantization", k=5, kind="paper", keyword_ids=["id00029", "id00003"])
    assert {i for i, _ in papers} <= {it.id for it in items if it.kind == "paper"}


def test_related_of_an_unknown_item_raises_item_not_found(derived: Path) -> None:
    from newsletter.errors import ItemNotFound

    engine = SemanticEngine(derived, embedder=HashingEmbedder())
    engine.sync(make_items(3))
    with pytest.raises(ItemNotFound):
        engine.related("nope")


def test_duplicate_pairs_score_the_pairs_of_the_ids_asked_for(derived: Path) -> None:
    import dataclasses

    items = make_items(12)
    repost = dataclasses.replace(items[1], id="dup0001", url="https://mirror.example/1",
                                 canonical_url="https://mirror.example/1")
    merged = dataclasses.replace(items[1], id="gone001", url="https://old.example/1",
                                 canonical_url="https://old.example/1", duplicate_of="id00001")
    items += [repost, merged]
    engine = SemanticEngine(derived, embedder=HashingEmbedder())
    engine.sync(items)
    everything = engine.duplicate_pairs(items)
    assert ("dup0001", "id00001") in {(a, b) for a, b, _ in everything}
    assert all(a < b and "gone001" not in (a, b) for a, b, _ in everything)
    assert [s for *_, s in everything] == sorted((s for *_, s in everything), reverse=True)
    mine = engine.duplicate_pairs(items, among={"dup0001"})
    assert mine and all("dup0001" in (a, b) for a, b, _ in mine)
    assert engine.duplicate_pairs(items, among=set()) == []
    assert engine.duplicate_pairs(items, among={"dup0001"}, min_cosine=1.01) == []
    groups = engine.duplicate_groups(items)
    assert any({"dup0001", "id00001"} <= set(g.ids) for g in groups)


def test_duplicate_pairs_in_chunks_report_progress_and_find_the_same_pairs(
    derived: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsletter.semantic import engine as engine_module

    items = make_items(40)
    engine = SemanticEngine(derived, embedder=HashingEmbedder())
    engine.sync(items)
    whole = engine.duplicate_pairs(items, threshold=0.0)
    monkeypatch.setattr(engine_module, "PAIR_CHUNK", 7)
    heard: list[tuple[int, int]] = []
    chunked = engine.duplicate_pairs(items, threshold=0.0, progress=lambda done, total: heard.append((done, total)))
    # The same pairs; a score may differ in its 4th decimal (BLAS rounds a 7-row product differently).
    assert [(a, b) for a, b, _ in sorted(chunked)] == [(a, b) for a, b, _ in sorted(whole)] and whole
    assert max(abs(x[2] - y[2]) for x, y in zip(sorted(chunked), sorted(whole), strict=True)) < 1e-3
    queries = [h for h in heard if h[1] == len(items)]
    assert queries[0] == (7, 40) and queries[-1] == (40, 40)  # neighbour queries, 7 items at a time
    assert heard[-1][0] == heard[-1][1] > 0 and heard == sorted(heard, key=lambda h: (h[1] != 40, h[0]))

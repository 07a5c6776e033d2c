"""The memory-mapped graph file: exact single queries without loading the hnswlib graph."""

from __future__ import annotations

import json
from pathlib import Path

import hnswlib
import numpy as np
import pytest

from newsletter.semantic import HashingEmbedder, SemanticEngine
from newsletter.semantic import index as index_module
from newsletter.semantic.graphfile import GraphFile, GraphFileError, label_rows
from tests.test_semantic_store import assert_is_top_k, exact_scores, make_items


@pytest.fixture
def derived(tmp_path: Path) -> Path:
    return tmp_path / ".newsletter" / "semantic"


def saved_graph(tmp_path: Path, count: int = 50, dim: int = 16) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((count, dim)).astype(np.float32)
    graph = hnswlib.Index(space="ip", dim=dim)
    graph.init_index(max_elements=count * 2, M=8, ef_construction=50, random_seed=1)
    order = rng.permutation(count)  # rows in another order than labels, as threaded inserts leave them
    graph.add_items(vectors[order], order, num_threads=1)
    path = tmp_path / "g.hnsw"
    graph.save_index(str(path))
    return path, vectors


def test_mapped_vectors_are_the_ones_hnswlib_saved(tmp_path: Path) -> None:
    path, vectors = saved_graph(tmp_path)
    view = GraphFile(path, 16, 50, rows=label_rows(path, 16, 50))
    assert np.array_equal(view.vectors([0, 17, 49]), vectors[[0, 17, 49]])
    assert np.allclose(view.scores(vectors[:2]), vectors[:2] @ vectors.T, atol=1e-5)


def test_a_scan_in_steps_equals_one_product(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from newsletter.semantic import graphfile

    path, vectors = saved_graph(tmp_path, count=50)
    monkeypatch.setattr(graphfile, "SCAN_ROWS", 7)  # steps that do not divide the count (or a page)
    view = GraphFile(path, 16, 50, rows=label_rows(path, 16, 50))
    assert np.allclose(view.scores(vectors[:3]), vectors[:3] @ vectors.T, atol=1e-5)
    assert np.array_equal(view.vectors([3, 4]), vectors[[3, 4]])  # released pages read back


@pytest.mark.parametrize(("dim", "count", "cut"), [(8, 50, 0), (16, 49, 0), (16, 50, 5000)],
                         ids=["other dim", "other count", "truncated"])
def test_a_graph_of_another_shape_is_refused(tmp_path: Path, dim: int, count: int, cut: int) -> None:
    path, _ = saved_graph(tmp_path)
    if cut:
        path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(GraphFileError):
        label_rows(path, dim, count)


def reopened(derived: Path) -> SemanticEngine:
    engine = SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=0)
    engine._load()
    return engine


def test_a_reopened_index_answers_exactly_without_loading_the_graph(derived: Path) -> None:
    items = make_items(80)
    SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=0).sync(items)
    engine = reopened(derived)
    for probe in ("id00003", "id00041"):
        assert_is_top_k(engine.related(probe, k=6), exact_scores(engine, items, probe), 6)
    papers = {it.id for it in items if it.kind == "paper"}
    got = engine.related("id00003", k=5, kind="paper")
    assert len(got) == 5 and {i for i, _ in got} <= papers
    assert engine.index._hnsw is None  # the graph itself was never loaded


def test_removed_and_pending_items_are_respected_by_the_scan(derived: Path) -> None:
    items = make_items(80)
    SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=0).sync(items)
    engine = reopened(derived)
    items = [it for it in items if it.id != "id00009"] + make_items(3, start=80)
    engine.sync(items)  # one dead label, three pending: the graph file is not rewritten
    engine = reopened(derived)
    got = engine.related("id00003", k=79)
    ids = {i for i, _ in got}
    assert "id00009" not in ids and {"id00080", "id00081", "id00082"} <= ids
    assert_is_top_k(got, exact_scores(engine, items, "id00003"), 79)
    assert engine.index._hnsw is None


def test_many_queries_at_once_use_the_graph_and_agree(derived: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = make_items(60)
    SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=0).sync(items)
    flat = reopened(derived)
    probes = flat.index.vectors(["id00001", "id00002"])
    by_scan = flat.index.query(probes, 5, exclude=["id00001", "id00002"])
    monkeypatch.setattr(index_module, "FLAT_SCAN_BUDGET", 10)
    graph = reopened(derived)
    by_graph = graph.index.query(probes, 5, exclude=["id00001", "id00002"])
    assert graph.index._hnsw is not None
    for scan_row, graph_row in zip(by_scan, by_graph, strict=True):  # same scores: the same answer up to ties
        assert [round(s, 4) for _, s in graph_row] == [round(s, 4) for _, s in scan_row]


def test_the_graph_loads_from_the_mapped_file_after_another_writer_replaced_it(derived: Path) -> None:
    items = make_items(60)
    SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=0).sync(items)
    engine = reopened(derived)
    stamp_path = engine.index.stamp_path
    old_graph = engine.index.dir / json.loads(stamp_path.read_text())["graph"]["name"]
    # Another process rebuilds the index: new file names, the old graph file deleted.
    other = SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=0)
    other.sync(items[:40])
    assert not old_graph.exists()
    graph = engine.index._graph_index()  # what adding items in this process would do
    assert graph.get_current_count() == 60


def test_the_row_map_is_stored_with_the_labels_and_older_files_still_load(derived: Path) -> None:
    import marshal
    import zlib

    items = make_items(60)
    SemanticEngine(derived, embedder=HashingEmbedder(), exact_below=0).sync(items)
    engine = reopened(derived)
    stamp = json.loads(engine.index.stamp_path.read_text())
    labels_path = engine.index.dir / stamp["labels"]["name"]
    body = marshal.loads(labels_path.read_bytes())
    assert len(body["rows"]) == 4 * 60  # one int32 per label: loading never reads the graph's labels
    del body["rows"]  # a labels file written before the map was stored
    data = marshal.dumps(body)
    labels_path.write_bytes(data)
    stamp["labels"].update(size=len(data), crc32=zlib.crc32(data))
    engine.index.stamp_path.write_text(json.dumps(stamp))
    older = reopened(derived)
    assert older.index.rejected is None and older.index.mode == "hnsw"
    assert_is_top_k(older.related("id00005", k=5), exact_scores(older, items, "id00005"), 5)


def test_a_copied_project_keeps_its_graph_and_a_same_size_corruption_does_not(tmp_path: Path) -> None:
    import shutil

    items = make_items(60)
    original = tmp_path / "one" / "semantic"
    SemanticEngine(original, embedder=HashingEmbedder(), exact_below=0).sync(items)
    copy = tmp_path / "two" / "semantic"
    shutil.copytree(original, copy)  # new inodes and times, as `cp -r` or a restored backup
    engine = reopened(copy)
    assert engine.index.rejected is None and engine.index.mode == "hnsw"
    assert engine.related("id00004", k=5) == reopened(original).related("id00004", k=5)
    graph = next(engine.index.dir.glob("*.hnsw"))
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    graph.write_bytes(bytes(data))
    damaged = SemanticEngine(copy, embedder=HashingEmbedder(), exact_below=0)
    assert not damaged.index.load() and damaged.index.rejected == "graph file does not match its stamp"

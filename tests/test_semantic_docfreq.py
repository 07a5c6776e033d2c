"""Document frequencies (semantic/docfreq.py): the streamed full build and the incremental path agree."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.models import Item
from newsletter.semantic import HashingEmbedder, SemanticEngine, docfreq, dupes
from newsletter.semantic.text import TEXT_VERSION, item_text_hash
from newsletter.store import Store

ROOT = Path(__file__).resolve().parent.parent


def counts(df: docfreq.DocFreq) -> tuple[dict[str, int], str, list[tuple[str, str]]]:
    """Everything the file holds but the sync mark: per-term counts, the item count, (id, term) rows."""
    conn = df.conn
    return (
        dict(conn.execute("SELECT term, count FROM df").fetchall()),
        conn.execute("SELECT value FROM meta WHERE key='n'").fetchone()[0],
        sorted(conn.execute("SELECT id, term FROM terms").fetchall()),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The repository's sample catalog (123 real items), one item merged into another, as a Store."""
    shutil.copytree(ROOT / "catalog", tmp_path / "catalog")
    store = Store(tmp_path / "catalog", tmp_path / ".newsletter")
    store.text_key, store.text_version = item_text_hash, TEXT_VERSION  # as the Catalog facade sets them
    snap = store.load()
    first, second = sorted(snap.items)[:2]
    store.save(dataclasses.replace(snap.items[second], duplicate_of=first), snap.paths[second])
    yield store
    store.close()


def test_winning_items_are_the_items_a_full_load_gives(store: Store) -> None:
    """Streamed in small chunks, with an id held by two files (the earlier addition wins, as in `load`)."""
    snap = store.load()
    some_id = sorted(snap.items)[5]
    twin = dataclasses.replace(snap.items[some_id], title="A later copy of the same id", added="2099-01-01")
    store.save(twin, "2099/01/later-copy-of-the-same-id.md")
    loaded = store.load().items
    streamed = list(store.winning_items(chunk=4))
    assert [it.id for it in streamed] == sorted(loaded)
    assert {it.id: it for it in streamed} == loaded
    assert next(it for it in streamed if it.id == some_id).title != twin.title


def test_full_build_counts_what_the_incremental_path_counts(store: Store, tmp_path: Path) -> None:
    items = store.load().items
    assert any(it.duplicate_of for it in items.values())  # merged items count for nothing on both paths
    incremental = docfreq.open_docfreq(tmp_path / "incremental.sqlite")
    incremental.update(dict(items), dupes.item_signals, "e:1")
    built = docfreq.open_docfreq(tmp_path / "built.sqlite")
    built.rebuild(store.winning_items(), dupes.item_signals, "e:1")
    assert counts(built) == counts(incremental)
    assert int(counts(built)[1]) == sum(1 for it in items.values() if not it.duplicate_of)
    terms = sorted(set().union(*(docfreq.item_terms(dupes.item_signals(it)) for it in items.values())))
    assert built.idf(terms).df == incremental.idf(terms).df
    assert built.synced() == "e:1"


def test_full_build_in_tiny_chunks_gives_the_same_counts(store: Store, tmp_path: Path) -> None:
    """Rows written 5 at a time, counts flushed every 3 distinct terms, items read 2 at a time."""
    whole = docfreq.open_docfreq(tmp_path / "whole.sqlite")
    whole.rebuild(store.winning_items(), dupes.item_signals, "e:1")
    chunked = docfreq.open_docfreq(tmp_path / "chunked.sqlite")
    chunked.rebuild(store.winning_items(chunk=2), dupes.item_signals, "e:1", batch=5, flush_terms=3)
    assert counts(chunked) == counts(whole)


def test_a_full_build_that_fails_midway_keeps_the_previous_counts(store: Store, tmp_path: Path) -> None:
    df = docfreq.open_docfreq(tmp_path / "df.sqlite")
    df.rebuild(store.winning_items(), dupes.item_signals, "e:1")
    before = counts(df)

    def failing() -> Iterator[Item]:
        for n, item in enumerate(store.winning_items()):
            if n == 50:
                raise OSError("disk gone")
            yield item

    with pytest.raises(OSError):
        df.rebuild(failing(), dupes.item_signals, "e:2", batch=5, flush_terms=3)
    assert counts(df) == before and df.synced() == "e:1"


def test_the_engine_builds_the_counts_once_then_follows_edits(store: Store, tmp_path: Path) -> None:
    """sync_store: the first sync builds from the cache, the next applies one edit and one removal."""
    engine = SemanticEngine(tmp_path / ".newsletter" / "semantic", embedder=HashingEmbedder())
    engine.sync_store(store)
    assert engine.docfreq is not None
    fresh = docfreq.open_docfreq(tmp_path / "fresh.sqlite")
    fresh.update(dict(store.load().items), dupes.item_signals, "e:1")
    assert counts(engine.docfreq) == counts(fresh)

    snap = store.load()
    edited_id, removed_id = sorted(snap.items)[10:12]
    edited = dataclasses.replace(snap.items[edited_id], title="Zyxwvut: a title no other item shares")
    store.save(edited, snap.paths[edited_id])
    (store.catalog_dir / snap.paths[removed_id]).unlink()
    store.freshen()
    engine.sync_store(store)
    rebuilt = docfreq.open_docfreq(tmp_path / "rebuilt.sqlite")
    rebuilt.rebuild(store.winning_items(), dupes.item_signals, "e:2")
    assert counts(engine.docfreq) == counts(rebuilt)
    assert "zyxwvut" in counts(engine.docfreq)[0]
    assert removed_id not in {i for i, _ in counts(engine.docfreq)[2]}


def test_a_change_of_a_fifth_of_the_catalog_rebuilds_instead_of_updating(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh clone or a copied project re-parses every file: `update` would hold all of them at once."""
    engine = SemanticEngine(tmp_path / ".newsletter" / "semantic", embedder=HashingEmbedder())
    engine.sync_store(store)
    monkeypatch.setattr(docfreq, "REBUILD_ABOVE", 10)
    calls: list[str] = []
    real_rebuild, real_update = docfreq.DocFreq.rebuild, docfreq.DocFreq.update

    def rebuild(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("rebuild")
        return real_rebuild(self, *args, **kwargs)

    def update(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("update")
        return real_update(self, *args, **kwargs)

    monkeypatch.setattr(docfreq.DocFreq, "rebuild", rebuild)
    monkeypatch.setattr(docfreq.DocFreq, "update", update)

    def edit(ids: list[str], word: str) -> None:
        snap = store.load()
        for i in ids:
            store.save(dataclasses.replace(snap.items[i], title=f"{snap.items[i].title} {word}"), snap.paths[i])
        store.freshen()
        engine.sync_store(store)

    live = sorted(store.load().items)
    edit(live[2:5], "qwertyfew")  # 3 of 123: applied one by one
    edit(live[5:45], "qwertymany")  # 40 of 123, past a fifth and past the (lowered) floor
    assert calls == ["update", "rebuild"]
    fresh = docfreq.open_docfreq(tmp_path / "fresh.sqlite")
    real_rebuild(fresh, store.winning_items(), dupes.item_signals, "e:1")
    assert engine.docfreq is not None and counts(engine.docfreq) == counts(fresh)
    assert counts(fresh)[0]["qwertymany"] == 40 and counts(fresh)[0]["qwertyfew"] == 3

"""The catalog store: file format round trip, atomic writes, the derived cache noticing changes."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from newsletter.errors import CatalogError
from newsletter.models import Item
from newsletter.store import Store, files


def make_item(n: int, **changes: object) -> Item:
    base = Item(
        id=f"{n:012x}",
        kind="link",
        url=f"https://example.com/post/{n}",
        canonical_url=f"https://example.com/post/{n}",
        title=f"Post number {n}",
        summary="A summary.",
        tags=["mlops"],
        added="2025-03-04T09:12:00Z",
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "catalog", tmp_path / ".newsletter")
    yield s
    s.close()


def test_round_trip_keeps_every_field() -> None:
    item = make_item(
        1,
        kind="paper",
        authors=["Ada Lovelace", "Alan Turing"],
        published="2021-06-17",
        note="Our take: read section 4.\n\nSecond paragraph.",
        extra={"arxiv_id": "2106.09685", "categories": ["cs.CL", "cs.LG"]},
        status="published",
        issue=3,
    )
    again = files.parse_item(files.dump_item(item))
    assert again == item


def test_hostile_text_round_trips_as_data() -> None:
    title = '---\n"><script>alert(1)</script> title: injected\n\u202eevil'
    item = make_item(2, title=title, summary="key: value\n---\nnot front matter", note="---\nfake: front")
    again = files.parse_item(files.dump_item(item))
    assert again.title == item.title.strip()
    assert again.summary == item.summary
    assert again.note == item.note


def test_file_name_is_readable_and_under_month_folder() -> None:
    item = make_item(3, title="LoRA: Low-Rank Adaptation of Large Language Models", added="2025-02-01T00:00:00Z")
    rel = files.relative_path_for(item)
    assert rel == f"2025/02/lora-low-rank-adaptation-of-large-language-models-{item.id}.md"


def test_slug_never_escapes_the_folder() -> None:
    assert "/" not in files.slugify("../../etc/passwd")
    assert files.slugify("..") == "item"
    assert files.slugify("") == "item"
    assert len(files.slugify("word " * 100)) <= 60


def test_save_then_load(store: Store) -> None:
    item = make_item(4)
    with store.locked():
        rel = store.save(item)
    snap = store.load()
    assert snap.items[item.id] == item
    assert snap.paths[item.id] == rel


def test_cache_notices_hand_edits_and_deletions(store: Store) -> None:
    a, b = make_item(5), make_item(6)
    with store.locked():
        rel_a = store.save(a)
        rel_b = store.save(b)
    assert set(store.load().items) == {a.id, b.id}
    path = store.catalog_dir / rel_a
    time.sleep(0.01)
    path.write_text(path.read_text().replace("Post number 5", "Edited by hand"))
    (store.catalog_dir / rel_b).unlink()
    snap = store.load()
    assert snap.items[a.id].title == "Edited by hand"
    assert b.id not in snap.items


def test_cache_is_used_when_nothing_changed(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with store.locked():
        for n in range(20):
            store.save(make_item(100 + n))
    store.load()
    calls = []
    monkeypatch.setattr(files, "read_item", lambda p: calls.append(p))
    snap = store.load()
    assert len(snap.items) == 20
    assert calls == []


def test_new_file_from_git_pull_is_picked_up(store: Store, tmp_path: Path) -> None:
    store.load()
    item = make_item(7)
    target = store.catalog_dir / "2025" / "03" / f"pulled-{item.id}.md"
    target.parent.mkdir(parents=True)
    target.write_text(files.dump_item(item))
    assert item.id in store.load().items


def test_broken_file_is_reported_and_others_load(store: Store) -> None:
    good = make_item(8)
    with store.locked():
        store.save(good)
    bad = store.catalog_dir / "2025" / "03" / "broken.md"
    bad.write_text("---\ntitle: [unclosed\n---\n")
    snap = store.load()
    assert good.id in snap.items
    assert len(snap.problems) == 1 and "broken.md" in snap.problems[0]
    assert "invalid YAML" in snap.problems[0]


def test_missing_field_is_a_clear_problem(store: Store) -> None:
    path = store.catalog_dir / "x.md"
    path.parent.mkdir(parents=True)
    path.write_text("---\nkind: link\nurl: https://a.example/\n---\n")
    (problem,) = store.load().problems
    assert "missing required field 'id'" in problem


def test_corrupt_cache_is_rebuilt(store: Store) -> None:
    item = make_item(9)
    with store.locked():
        store.save(item)
    store.close()
    db = store.derived_dir / "catalog.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    fresh = Store(store.catalog_dir, store.derived_dir)
    assert item.id in fresh.load().items
    fresh.close()


def test_deleting_derived_folder_loses_nothing(store: Store) -> None:
    import shutil

    items = [make_item(200 + n) for n in range(5)]
    with store.locked():
        for item in items:
            store.save(item)
    store.close()
    shutil.rmtree(store.derived_dir)
    fresh = Store(store.catalog_dir, store.derived_dir)
    assert set(fresh.load().items) == {i.id for i in items}
    fresh.close()


def test_same_id_in_two_files_keeps_the_earlier_addition(store: Store) -> None:
    early = make_item(10, added="2025-01-01T00:00:00Z", title="early")
    late = make_item(10, added="2025-02-01T00:00:00Z", title="late")
    with store.locked():
        store.save(early)
        store.save(late)
    snap = store.load()
    assert snap.items[early.id].title == "early"
    assert len(snap.shadowed[early.id]) == 1


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.md"
    files.atomic_write(target, "old")

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        files.atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.md"]


def test_stale_temp_files_are_ignored_and_cleaned(store: Store) -> None:
    folder = store.catalog_dir / "2025" / "03"
    folder.mkdir(parents=True)
    (folder / f"{files.TEMP_PREFIX}999999999-abc.md").write_text("---\nhalf")
    assert store.load().problems == []
    with store.locked():
        pass
    assert list(folder.iterdir()) == []


def test_keyword_search_ranks_title_matches(store: Store) -> None:
    with store.locked():
        store.save(make_item(11, title="hnswlib: fast approximate nearest neighbours"))
        store.save(make_item(12, title="Other", summary="we compared against hnswlib once"))
        store.save(make_item(13, title="Unrelated"))
    store.load()
    paths = [p for p, _ in store.keyword_search("hnswlib")]
    assert len(paths) == 2
    assert paths[0].endswith(f"{11:012x}.md")


def test_lock_serializes_writers(store: Store) -> None:
    import threading

    order: list[str] = []

    def hold() -> None:
        with store.locked():
            order.append("a-start")
            time.sleep(0.2)
            order.append("a-end")

    thread = threading.Thread(target=hold)
    thread.start()
    time.sleep(0.05)
    other = Store(store.catalog_dir, store.derived_dir)
    with other.locked():
        order.append("b")
    thread.join()
    assert order == ["a-start", "a-end", "b"]


def test_invalid_kind_is_rejected() -> None:
    text = "---\nid: abc\nkind: blogpost\nurl: https://x.example/\n---\n"
    with pytest.raises(CatalogError, match="unknown kind 'blogpost'"):
        files.parse_item(text)


def test_cache_schema_mismatch_rebuilds(store: Store) -> None:
    item = make_item(14)
    with store.locked():
        store.save(item)
    store.close()
    conn = sqlite3.connect(store.derived_dir / "catalog.sqlite")
    conn.execute("UPDATE meta SET value='0' WHERE key='schema'")
    conn.commit()
    conn.close()
    fresh = Store(store.catalog_dir, store.derived_dir)
    assert item.id in fresh.load().items
    fresh.close()


def test_save_many_then_load_across_folders_and_chunks(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    months = ["2024-11-02T00:00:00Z", "2025-01-15T00:00:00Z", "2025-03-04T09:12:00Z"]
    items = [make_item(200 + n, added=months[n % 3]) for n in range(10)]
    with store.locked():
        kept = store.save(make_item(300))
    edited = make_item(300, title="Edited in a batch")
    reported: list[tuple[str, str]] = []
    with store.locked():
        paths = store.save_many([(i, None) for i in items] + [(edited, kept)], chunk=4,
                                on_saved=lambda item, path: reported.append((item.id, path)))
    assert paths == [files.relative_path_for(i) for i in items] + [kept]
    assert reported == [(i.id, p) for i, p in zip([*items, edited], paths, strict=True)]
    folders = sorted(p.relative_to(store.catalog_dir).as_posix() for p in store.catalog_dir.glob("*/*"))
    assert folders == ["2024/11", "2025/01", "2025/03"]
    assert not list(store.catalog_dir.rglob(f"{files.TEMP_PREFIX}*"))
    # The cache was updated with the files: loading parses nothing again.
    calls: list[Path] = []
    monkeypatch.setattr(files, "read_item", lambda p: calls.append(p))
    snap = store.load()
    assert calls == []
    assert {i.id: i for i in [*items, edited]} == snap.items
    assert snap.paths[edited.id] == kept
    monkeypatch.undo()
    # A fresh store (no cache) reads the same items from the files.
    fresh = Store(store.catalog_dir, store.derived_dir / "other")
    try:
        again = fresh.load()
    finally:
        fresh.close()
    assert again.items == snap.items and again.paths == snap.paths


def test_select_decodes_only_matching_rows_and_still_sees_in_place_edits(store: Store) -> None:
    paper, link, skipped = make_item(20, kind="paper"), make_item(21), make_item(22, kind="paper", status="skipped")
    with store.locked():
        rel = store.save(paper)
        store.save(link)
        store.save(skipped)
    (store.catalog_dir / "2025" / "03" / "broken.md").write_text("---\nnot: [valid\n", encoding="utf-8")
    assert set(store.select(kinds=["paper"], statuses=["inbox"]).items) == {paper.id}
    time.sleep(0.01)
    path = store.catalog_dir / rel
    path.write_text(path.read_text().replace("kind: paper", "kind: link"))  # in place: the folder is unchanged
    snap = store.select(kinds=["paper"])
    assert set(snap.items) == {skipped.id}
    assert set(store.select(kinds=["link"]).items) == {paper.id, link.id}
    assert any("broken.md" in p for p in snap.problems)


def test_select_picks_the_same_winner_of_a_shared_id_as_a_full_load(store: Store) -> None:
    early = make_item(30, added="2025-01-01T00:00:00Z", title="early", kind="paper")
    late = make_item(30, added="2025-02-01T00:00:00Z", title="late", kind="link")
    with store.locked():
        store.save(early)
        store.save(late)
    assert store.select(kinds=["link"]).items == {}  # the link file loses to the earlier paper file
    snap = store.select(kinds=["paper"])
    assert snap.items[early.id].title == "early" and len(snap.shadowed[early.id]) == 1


def test_a_cache_opened_by_several_processes_at_once_always_has_its_write_counter(tmp_path: Path) -> None:
    """Eight `add`s on a new project once found an epoch without its seq (two commits): no seq to bump."""
    from newsletter.store.cache import CatalogCache

    path = tmp_path / "catalog.sqlite"
    first = CatalogCache(path)
    first.conn.execute("DELETE FROM meta WHERE key='seq'")  # the state a racing opener could see
    second = CatalogCache(path)  # opening again completes the pair
    assert second.epoch_seq()[1] == 0 and second.epoch_seq()[0] == first.epoch_seq()[0]
    second.conn.execute("DELETE FROM meta WHERE key='seq'")
    second.apply([], [])  # and a writer that finds none starts the count instead of crashing
    assert second.epoch_seq()[1] == 1
    first.close()
    second.close()

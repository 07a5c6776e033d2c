"""`Catalog` as the one owner of the writer lock and of snapshot coherence (library callers, no CLI)."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from newsletter.catalog import Catalog
from newsletter.errors import CatalogError, ProjectError
from newsletter.ingest.route import AddOptions
from newsletter.issues import draft, publish
from newsletter.project import init_project
from newsletter.semantic import HashingEmbedder, SemanticEngine
from newsletter.store import files
from newsletter.store.lock import LOCK_FILE, write_lock

ROOT = Path(__file__).resolve().parent.parent
NO_FETCH = AddOptions(fetch=False)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    init_project(tmp_path / "p", name="Test")
    cat = Catalog.open(tmp_path / "p")
    yield cat
    cat.close()


def writer_lock_is_free(derived_dir: Path) -> bool:
    """What another process would see: can a new open file description take the lock right now?"""
    fd = os.open(derived_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


# -- snapshot coherence ---------------------------------------------------------------------------


def test_get_after_tag_sees_the_new_tags(catalog: Catalog) -> None:
    [added] = catalog.add(["https://example.org/a"], NO_FETCH)
    assert added.item is not None
    catalog.get(added.item.id)  # warm the cached snapshot
    catalog.tag(added.item.id, ["Vector DB"])
    assert "vector-db" in catalog.get(added.item.id).tags
    catalog.tag(added.item.id, ["vector-db"], remove=True)
    assert "vector-db" not in catalog.get(added.item.id).tags


def test_list_after_set_status_sees_the_new_status(catalog: Catalog) -> None:
    [added] = catalog.add(["https://example.org/b"], NO_FETCH)
    assert added.item is not None
    assert [i.id for i in catalog.list(status="inbox")] == [added.item.id]
    catalog.set_status(added.item.id, "shortlisted")
    assert catalog.get(added.item.id).status == "shortlisted"
    assert [i.id for i in catalog.list(status="shortlisted")] == [added.item.id]
    assert catalog.list(status="inbox") == []


def test_remove_forgets_the_item_and_its_path(catalog: Catalog) -> None:
    [added] = catalog.add(["https://example.org/c"], NO_FETCH)
    assert added.item is not None
    catalog.remove(added.item.id)
    assert added.item.id not in catalog.snapshot().items
    assert added.item.id not in catalog.snapshot().paths


# -- the writer lock: reentrant, never held while embedding ----------------------------------------


def test_nested_lock_passes_through_instead_of_timing_out(catalog: Catalog) -> None:
    derived = catalog.settings.derived_dir
    with write_lock(derived, timeout=1), write_lock(derived, timeout=1):
        assert not writer_lock_is_free(derived)
    assert writer_lock_is_free(derived)


def test_two_catalogs_of_one_project_in_one_process_can_nest(catalog: Catalog) -> None:
    other = Catalog.open(catalog.settings.root)
    try:
        with catalog.writing():
            [added] = other.add(["https://example.org/d"], NO_FETCH)
        assert added.status == "added"
    finally:
        other.close()


def test_on_result_callback_may_write_to_the_catalog(catalog: Catalog) -> None:
    def tag_it(result: Any) -> None:
        catalog.tag(result.item.id, ["seen"])

    [added] = catalog.add(["https://example.org/e"], NO_FETCH, on_result=tag_it)
    assert added.item is not None
    assert catalog.get(added.item.id).tags == ["seen"]


def test_lock_file_that_is_a_directory_is_one_clear_error(catalog: Catalog) -> None:
    (catalog.settings.derived_dir / LOCK_FILE).mkdir(parents=True)
    with pytest.raises(CatalogError, match="is a directory; remove it"):
        catalog.tag("https://example.org/none", ["x"])


class RecordingEngine(SemanticEngine):
    """A hashing engine that records, at each sync, whether another process could write meanwhile."""

    def __init__(self, folder: Path, derived_dir: Path) -> None:
        super().__init__(folder, embedder=HashingEmbedder(64))
        self.derived_dir = derived_dir
        self.lock_free_during_sync: list[bool] = []

    def sync(self, items: Any, progress: Any = None) -> Any:
        self.lock_free_during_sync.append(writer_lock_is_free(self.derived_dir))
        return super().sync(items, progress=progress)

    def sync_store(self, store: Any, progress: Any = None) -> Any:
        self.lock_free_during_sync.append(writer_lock_is_free(self.derived_dir))
        return super().sync_store(store, progress=progress)


def test_embedding_runs_with_the_writer_lock_free(catalog: Catalog) -> None:
    engine = RecordingEngine(catalog.settings.derived_dir / "semantic", catalog.settings.derived_dir)
    catalog._semantic = engine
    catalog.add(["https://example.org/f", "https://example.org/g"], NO_FETCH, similar=True)
    catalog.sync_semantic()
    assert engine.lock_free_during_sync and all(engine.lock_free_during_sync)


def test_library_add_reports_near_duplicates_like_the_cli(catalog: Catalog) -> None:
    catalog._semantic = SemanticEngine(catalog.settings.derived_dir / "semantic", embedder=HashingEmbedder(256))
    title = "LoRA: Low-Rank Adaptation of Large Language Models"
    catalog.add(["https://example.org/lora"], AddOptions(fetch=False, title=title))
    [again] = catalog.add(["https://mirror.example.net/lora-paper"], AddOptions(fetch=False, title=title),
                          similar=True)
    assert again.status == "added"
    assert again.item is not None and again.similar
    assert again.similar[0]["title"] == title


# -- read-modify-write never reverts what another program wrote -------------------------------------


def replace_file_with_title(path: Path, title: str) -> None:
    """What `git pull` does to one item file: a new version renamed over the old one."""
    item = files.read_item(path)
    item.title = title
    tmp = path.with_name(".incoming")
    tmp.write_text(files.dump_item(item), encoding="utf-8")
    os.replace(tmp, path)


def test_modify_reapplies_its_change_when_the_file_is_replaced_meanwhile(catalog: Catalog) -> None:
    [added] = catalog.add(["https://example.org/h"], AddOptions(fetch=False, title="Old title"))
    assert added.item is not None
    path = catalog.path_of(added.item.id)
    calls = []

    def change(item: Any) -> Any:
        calls.append(item.title)
        if len(calls) == 1:  # a pull lands between our read and our write
            replace_file_with_title(path, "Pulled title")
        item.status = "shortlisted"
        return item

    saved = catalog.modify(added.item.id, change)
    on_disk = files.read_item(path)
    assert calls == ["Old title", "Pulled title"]
    assert (on_disk.title, on_disk.status) == ("Pulled title", "shortlisted")
    assert saved.title == "Pulled title" and catalog.get(added.item.id).title == "Pulled title"


def sample_project(tmp_path: Path) -> Path:
    for part in ("newsletter.toml", "catalog", "content"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, tmp_path / part)
        else:
            shutil.copy2(source, tmp_path / part)
    return tmp_path


def test_publish_keeps_titles_pulled_while_it_marks_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = sample_project(tmp_path)
    monkeypatch.setattr(draft, "semantic_engine", lambda c: SemanticEngine(
        c.settings.derived_dir / "semantic", embedder=HashingEmbedder(64)))
    cat = Catalog.open(project)
    result = draft.write_draft(cat, draft.DraftOptions(date="2025-03-07"))
    linked = draft_ids = result.added
    assert linked
    paths = {i: cat.path_of(i) for i in draft_ids}
    real_rewrite = cat.store.rewrite
    pulled: list[str] = []

    def rewrite_during_a_pull(path: str, change: Any, **kw: Any) -> Any:
        target = cat.settings.catalog_dir / path
        if not pulled:  # the pull replaces every linked file after publish has read the catalog
            for item_id, p in paths.items():
                replace_file_with_title(p, f"pulled {item_id}")
                pulled.append(item_id)
        assert target.exists()
        return real_rewrite(path, change, **kw)

    monkeypatch.setattr(cat.store, "rewrite", rewrite_during_a_pull)
    out = publish.publish(cat, result.number, date="2025-03-08")
    assert sorted(out.marked) == sorted(draft_ids)
    for item_id, p in paths.items():
        item = files.read_item(p)
        assert (item.title, item.status, item.issue) == (f"pulled {item_id}", "published", result.number)
    cat.close()


class PublishingEngine(SemanticEngine):
    """An engine whose sync (the slow part of `draft --update`) lets a `publish` land meanwhile."""

    def __init__(self, catalog: Catalog, number: int) -> None:
        super().__init__(catalog.settings.derived_dir / "semantic", embedder=HashingEmbedder(64))
        self.project, self.number = catalog.settings.root, number

    def sync(self, items: Any, progress: Any = None) -> Any:
        other = Catalog.open(self.project)
        try:
            publish.publish(other, self.number, date="2025-03-08")
        finally:
            other.close()
        return super().sync(items, progress=progress)


def test_draft_update_does_not_revert_a_publish_made_while_it_ranked(tmp_path: Path) -> None:
    project = sample_project(tmp_path)
    cat = Catalog.open(project)
    engine = SemanticEngine(cat.settings.derived_dir / "semantic", embedder=HashingEmbedder(64))
    first = draft.write_draft(cat, draft.DraftOptions(date="2025-03-07", max_total=3), engine=engine)
    with first.path.open("a", encoding="utf-8") as handle:
        handle.write("\nA curator's closing line.\n")
    with pytest.raises(ProjectError, match="published meanwhile"):
        draft.write_draft(cat, draft.DraftOptions(issue=first.number, update=True),
                          engine=PublishingEngine(cat, first.number))
    text = first.path.read_text(encoding="utf-8")
    assert "status: published" in text and "A curator's closing line." in text
    cat.close()


# -- the facade offers every verb the CLI has -------------------------------------------------------

IMPORTS = Path(__file__).parent / "data" / "imports"
FEEDS = Path(__file__).parent / "data" / "feeds"


def test_import_file_through_the_facade_subscribes_opml_feeds(catalog: Catalog) -> None:
    from newsletter.ingest.pipeline import ImportOptions

    report = catalog.import_file(IMPORTS / "subscriptions.opml", ImportOptions(fetch=False))
    assert sum(r.status == "added" for r in report.feeds) == 4
    assert {s.url for s in catalog.feeds.subscriptions()} >= {"https://radio.example.org/feed.xml"}
    assert [item.url for item in report.new] == ["https://site.example.com/"]
    assert catalog.get("https://site.example.com/").id == report.new[0].id


def test_pull_through_the_facade_saves_entries_and_reports_near_duplicates(catalog: Catalog, http_server: Any) -> None:
    catalog._semantic = SemanticEngine(catalog.settings.derived_dir / "semantic", embedder=HashingEmbedder(256))
    http_server.add("/atom.xml", (FEEDS / "atom_blog.xml").read_bytes(), content_type="application/atom+xml")
    feed_url = http_server.url("/atom.xml")
    [known] = catalog.add(["https://mirror.example.net/regalloc"],
                          AddOptions(fetch=False, title="Register allocation, gently"))
    catalog.feeds.add([(feed_url, None, "Blog")], fetch=False)
    [first] = catalog.pull(similar=True)
    assert first.status == "ok" and first.new
    for item in first.new:
        assert catalog.get(item.id).url == item.url
    [post] = [i for i in first.new if i.title.startswith("Register allocation")]
    assert known.item is not None
    assert [m["id"] for m in first.similar[post.id]] == [known.item.id]

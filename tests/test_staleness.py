"""The cheap staleness check (folder mtimes + a stat of touched files) sees every kind of change.

Each case opens a fresh `Catalog` per "command", like separate processes, after the folders and
files were back-dated past the racy window, so the folder-mtime shortcut is really exercised.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from newsletter.catalog import Catalog
from newsletter.errors import ItemNotFound
from newsletter.models import Item
from newsletter.project import init_project
from newsletter.store import files


def make_item(n: int, title: str | None = None) -> Item:
    return Item(
        id=f"{n:012x}", kind="link", url=f"https://example.com/post/{n}",
        canonical_url=f"https://example.com/post/{n}", title=title or f"Post number {n}",
        summary="A summary.", tags=["mlops"], added="2025-03-04T09:12:00Z",
    )


def backdate(root: Path, seconds: float = 100.0) -> None:
    """Make every folder and file look old (past the racy window), as after a day of work."""
    old = time.time() - seconds
    for folder, _dirs, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), (old, old))
        os.utime(folder, (old, old))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = init_project(tmp_path / "proj", name="Stale Weekly")
    catalog = Catalog.open(root)
    with catalog.writing():
        catalog.store.save_many([(make_item(n), None) for n in range(1, 6)])
    catalog.close()
    backdate(root / "catalog")
    first = Catalog.open(root)  # the command that records the folder stamps
    assert first.get(f"{1:012x}").title == "Post number 1"
    first.close()
    return root


def command(root: Path) -> Catalog:
    return Catalog.open(root)


def item_path(root: Path, n: int) -> Path:
    (path,) = (root / "catalog").rglob(f"*-{n:012x}.md")
    return path


def test_cache_is_used_without_reparsing_when_nothing_changed(project: Path) -> None:
    catalog = command(project)
    assert catalog.store.freshen() == 0
    assert catalog.get(f"{3:012x}").title == "Post number 3"


def test_in_place_edit_is_seen_by_the_next_command(project: Path) -> None:
    path = item_path(project, 2)
    text = path.read_text().replace("Post number 2", "Edited in place")
    with open(path, "r+", encoding="utf-8") as handle:  # same inode, folder listing untouched
        handle.write(text)
        handle.truncate()
    catalog = command(project)
    assert catalog.get(f"{2:012x}").title == "Edited in place"
    assert catalog.path_of(f"{2:012x}") == path


def test_atomic_save_is_seen_by_the_next_command_and_by_keyword_search(project: Path) -> None:
    path = item_path(project, 3)
    tmp = path.with_name(".editor-swap")
    tmp.write_text(path.read_text().replace("Post number 3", "Quokka atomic rename"))
    os.replace(tmp, path)
    catalog = command(project)
    assert catalog.get(f"{3:012x}").title == "Quokka atomic rename"
    catalog.store.freshen()
    assert catalog.store.keyword_ids("quokka") == [f"{3:012x}"]


def test_deletion_is_seen_by_the_next_command(project: Path) -> None:
    item_path(project, 4).unlink()
    catalog = command(project)
    with pytest.raises(ItemNotFound):
        catalog.get(f"{4:012x}")
    assert catalog.store.find_url("https://example.com/post/4") is None


def test_a_new_file_added_by_hand_is_seen_by_the_next_command(project: Path) -> None:
    folder = project / "catalog" / "2026" / "01"
    folder.mkdir(parents=True)
    (folder / f"by-hand-{99:012x}.md").write_text(files.dump_item(make_item(99, "Written by hand")))
    catalog = command(project)
    assert catalog.get(f"{99:012x}").title == "Written by hand"
    assert catalog.store.find_url("http://example.com/post/99") == f"{99:012x}"


def test_git_checkout_of_another_revision_is_seen_by_the_next_command(project: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
                       cwd=project, check=True, capture_output=True)

    git("init", "-q")
    git("add", "catalog")
    git("commit", "-q", "-m", "one")
    path = item_path(project, 5)
    path.write_text(path.read_text().replace("Post number 5", "Second revision"))
    new_folder = project / "catalog" / "2026" / "02"
    new_folder.mkdir(parents=True)
    (new_folder / f"later-{77:012x}.md").write_text(files.dump_item(make_item(77, "Only in rev two")))
    git("add", "catalog")
    git("commit", "-q", "-m", "two")
    backdate(project / "catalog")
    catalog = command(project)
    assert catalog.get(f"{5:012x}").title == "Second revision"
    assert catalog.get(f"{77:012x}").title == "Only in rev two"
    catalog.close()
    backdate(project / "catalog")
    git("checkout", "-q", "HEAD~1")
    catalog = command(project)
    assert catalog.get(f"{5:012x}").title == "Post number 5"
    with pytest.raises(ItemNotFound):
        catalog.get(f"{77:012x}")
    # The full sweep agrees with the query path.
    assert set(catalog.snapshot(refresh=True).items) == {f"{n:012x}" for n in range(1, 6)}


def test_a_change_within_the_racy_window_is_not_missed(project: Path) -> None:
    # A folder stamped right after a change is stored as "look again": a second change in the same
    # timestamp tick (here: the same mtime, forced) is still seen.
    catalog = command(project)
    folder = item_path(project, 1).parent
    (folder / f"racy-{55:012x}.md").write_text(files.dump_item(make_item(55, "First racy")))
    assert catalog.get(f"{55:012x}").title == "First racy"
    stamp = os.stat(folder).st_mtime_ns
    (folder / f"racy-{56:012x}.md").write_text(files.dump_item(make_item(56, "Second racy")))
    os.utime(folder, ns=(stamp, stamp))
    assert command(project).get(f"{56:012x}").title == "Second racy"


def swept(root: Path) -> Catalog:
    """A command that needs every item (`list`, `draft`): the full sweep, which stores the marks."""
    catalog = command(root)
    catalog.snapshot(refresh=True)
    return catalog


def test_a_full_sweep_marks_quiet_folders_and_still_sees_an_in_place_edit(project: Path) -> None:
    swept(project).close()
    folder = item_path(project, 2).parent.relative_to(project / "catalog").as_posix()
    assert folder in command(project).store.cache.sweep_marks()
    path = item_path(project, 2)
    text = path.read_text().replace("Post number 2", "Same sizeedit")
    assert len(text) == len(path.read_text())
    old = os.stat(path).st_mtime_ns
    with open(path, "r+", encoding="utf-8") as handle:  # in place: inode, size and folder unchanged
        handle.write(text)
    os.utime(path, ns=(old + 1_000, old + 1_000))  # a microsecond later, still long ago
    catalog = swept(project)
    assert catalog.snapshot().items[f"{2:012x}"].title == "Same sizeedit"


def test_a_full_sweep_sees_a_rename_that_keeps_every_stamp(project: Path) -> None:
    swept(project).close()
    path = item_path(project, 4)
    renamed = path.with_name(f"renamed-{4:012x}.md")
    os.rename(path, renamed)  # same inode, mtime and size: only the name differs
    backdate(project / "catalog")
    catalog = swept(project)
    assert catalog.snapshot().paths[f"{4:012x}"].endswith(renamed.name)


def test_no_mark_while_a_file_is_racy_and_a_write_drops_its_folders_mark(project: Path) -> None:
    swept(project).close()
    catalog = command(project)
    folder = item_path(project, 1).parent
    rel = folder.relative_to(project / "catalog").as_posix()
    (folder / f"fresh-{66:012x}.md").write_text(files.dump_item(make_item(66, "Just written")))
    catalog = swept(project)
    assert rel not in catalog.store.cache.sweep_marks()  # a racy stamp: compared file by file next time
    backdate(project / "catalog")
    catalog = swept(project)
    assert rel in catalog.store.cache.sweep_marks()
    catalog.tag(f"{1:012x}", ["kept"])  # our own write of a file in that folder
    assert rel not in catalog.store.cache.sweep_marks()
    assert "kept" in swept(project).snapshot().items[f"{1:012x}"].tags


def test_a_full_reparse_writes_in_batches_and_ends_as_one_write_would(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A copied project (new inodes: every file re-parsed) once held every parsed row until the end.
    from newsletter.store import staleness

    catalog = Catalog.open(project)
    with catalog.writing():
        catalog.store.save_many([(make_item(n), None) for n in range(6, 40)])
    catalog.close()
    backdate(project / "catalog")
    whole = swept(project)
    expected = {i: (it.title, whole.snapshot().paths[i]) for i, it in whole.snapshot().items.items()}
    marks = whole.store.cache.sweep_marks()
    whole.close()
    assert len(expected) == 39 and marks

    (project / ".newsletter" / "catalog.sqlite").unlink()  # every file is new to the cache
    monkeypatch.setattr(staleness, "FLUSH_EVERY", 4)
    writes: list[int] = []
    real_apply = staleness.CatalogCache.apply

    def counting_apply(self, upserts, removed, **kw):  # type: ignore[no-untyped-def]
        writes.append(len(list(upserts := list(upserts))))
        return real_apply(self, upserts, removed, **kw)

    monkeypatch.setattr(staleness.CatalogCache, "apply", counting_apply)
    batched = swept(project)
    got = {i: (it.title, batched.snapshot().paths[i]) for i, it in batched.snapshot().items.items()}
    assert got == expected
    assert batched.store.cache.sweep_marks() == marks  # set by the last write, after every batch
    assert len(writes) > 5 and max(writes) <= 4 and sum(writes) == 39

"""The catalog store: item files (truth) + a derived cache (speed), behind one small class.

`Store` owns all file-system I/O of the catalog. It does not decide anything about items
(dedupe, status changes): it loads, saves and deletes them, atomically and under the lock.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..errors import CatalogError
from ..models import Item
from ..web import urls
from . import files, staleness
from .cache import CacheDamaged, CachedEntry, CatalogCache, IndexRow
from .lock import write_lock

_T = TypeVar("_T")
log = logging.getLogger("newsletter")

__all__ = ["IndexRow", "Snapshot", "Store", "files", "write_lock"]

SAVE_CHUNK = 256  # items made durable together by `save_many` (open temp files at once: well under fd limits)
FSYNC_THREADS = 8


@dataclasses.dataclass
class Snapshot:
    """The catalog as loaded: items by id, where each lives, and files that could not be read."""

    items: dict[str, Item]
    paths: dict[str, str]
    problems: list[str]
    shadowed: dict[str, list[str]]  # id -> other files that hold the same id (e.g. a git merge)


class Store:
    """Load and save item files under `catalog_dir`, with the cache in `derived_dir`."""

    def __init__(self, catalog_dir: Path, derived_dir: Path) -> None:
        self.catalog_dir = catalog_dir
        self.derived_dir = derived_dir
        self._cache: CatalogCache | None = None
        self._told = False
        self.text_key: Callable[[Item], str] | None = None  # set by the facade: the embedding-text hash
        self.text_version = ""

    @property
    def cache(self) -> CatalogCache:
        if self._cache is None:
            self._cache = CatalogCache(
                self.derived_dir / "catalog.sqlite", text_key=self.text_key, text_version=self.text_version
            )
        return self._cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize writers; cleans up temp files of writers that died."""
        with write_lock(self.derived_dir):
            files.remove_stale_temp_files(self.catalog_dir)
            yield

    def load(self) -> Snapshot:
        """Read the whole catalog: a stat of every file, re-parsing only those whose stamp changed.

        The full sweep, for commands that need every item (list, draft, build); commands about a few
        items use `freshen` and the lookups below instead.
        """
        return self._healing(self._load)

    def _load(self) -> Snapshot:
        staleness.freshen(self.catalog_dir, self.cache, full=True)
        return _snapshot(self.cache.entries())

    def select(self, *, kinds: Sequence[str] | None = None, statuses: Sequence[str] | None = None) -> Snapshot:
        """The part of the catalog of these kinds and statuses, as `load` would give it: the same
        full stat sweep (an in-place edit is seen), but only the matching rows are decoded, so a
        command that needs a sixth of a 100k catalog pays for a sixth. `problems` lists every
        unreadable file; `shadowed` the duplicated ids among the rows returned."""
        def work() -> Snapshot:
            staleness.freshen(self.catalog_dir, self.cache, full=True)
            snap = _snapshot([*self.cache.entries_where(kinds=kinds, statuses=statuses), *self.cache.unreadable()])
            keep = {i for i, it in snap.items.items()
                    if (kinds is None or it.kind in kinds) and (statuses is None or it.status in statuses)}
            return Snapshot({i: snap.items[i] for i in keep}, {i: snap.paths[i] for i in keep}, snap.problems,
                            {i: p for i, p in snap.shadowed.items() if i in keep})
        return self._healing(work)

    def unreadable(self) -> list[CachedEntry]:
        """The cached rows of files that are not readable items (after the cheap folder check)."""
        return self._healing(lambda: (staleness.freshen(self.catalog_dir, self.cache), self.cache.unreadable())[1])

    # -- reading by query (no whole-catalog work) --------------------------------------------------
    def _healing(self, work: Callable[[], _T]) -> _T:
        """Run a cache read; on damage delete the cache, say so once, rebuild from the files, retry."""
        try:
            result = work()
        except CacheDamaged as exc:
            self._heal(str(exc))
            result = work()
        self._report_rebuild()
        return result

    def _heal(self, why: str) -> None:
        self.cache.heal(why)
        staleness.freshen(self.catalog_dir, self.cache)

    def _report_rebuild(self) -> None:
        cache = self.cache
        if cache.rebuilt and not self._told and "another version" not in cache.damage:
            self._told = True
            log.warning("the derived catalog cache was damaged (%s); rebuilt it from the item files",
                        cache.damage or "unreadable")

    def verify_cache(self) -> bool:
        """Run SQLite's integrity check on the cache; False (and the cache rebuilt) when it failed."""
        try:
            rows = self.cache.conn.execute("PRAGMA integrity_check").fetchall()
            ok = rows == [("ok",)]
            why = "; ".join(str(r[0]) for r in rows[:3])
        except sqlite3.DatabaseError as exc:
            ok, why = False, str(exc)
        if not ok:
            self._heal(why)
            self._report_rebuild()
        return ok

    def freshen(self) -> int:
        """The cheap staleness check: folder mtimes, re-reading only folders whose listing changed.

        Sees new, deleted and renamed files (an atomic save, `git checkout`, `git pull`) at the cost
        of one stat per folder. An in-place edit that keeps the folder's listing is seen by the
        stat of each file a command touches (`entry`), and by every full `load`.
        """
        return self._healing(lambda: staleness.freshen(self.catalog_dir, self.cache))

    def entry(self, item_id: str) -> tuple[Item, str] | None:
        """The item with this id and its path, from the cache; its file is stat'ed and re-read if changed."""
        def work() -> tuple[Item, str] | None:
            reread: set[str] = set()  # files parsed by this call (a racy stamp is stored as -1: trust this read)
            for _ in range(3):
                rows = self.cache.by_id(item_id)
                if not rows:
                    return None
                stale = [r.path for r in rows if r.path not in reread
                         and staleness.stamp_of(self.catalog_dir / r.path) != (r.mtime_ns, r.size, r.ino)]
                if not stale:
                    winner = next((r for r in rows if r.item is not None), None)
                    return (winner.item, winner.path) if winner and winner.item else None
                self.cache.apply(*staleness.reparse(self.catalog_dir, stale))
                reread.update(stale)
            return None
        return self._healing(work)

    def find_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        """Ids starting with `prefix` (up to `limit`)."""
        return self._healing(lambda: self.cache.ids_with_prefix(prefix, limit))

    def find_url(self, *candidate_urls: str) -> str | None:
        """The id any of these URLs stands for (merged items resolve to the item they were merged into)."""
        keys = []
        for candidate in candidate_urls:
            if not candidate:
                continue
            try:
                keys.append(urls.identity_key(urls.canonicalize(candidate)))
            except ValueError:
                continue
        if not keys:
            return None
        rows = self._healing(lambda: self.cache.ids_for_keys(keys))
        for key in keys:  # the first URL that is known wins, like identity.find_existing
            for row_key, item_id, merged_into in rows:
                if row_key == key:
                    return merged_into or item_id
        return None

    def epoch_seq(self) -> tuple[str, int]:
        """The cache's identity and write counter (see `CatalogCache.changed_ids`)."""
        return self._healing(self.cache.epoch_seq)

    def changed_ids(self, epoch: str, seq: int) -> set[str] | None:
        """Ids changed since (epoch, seq); None when that was another cache (diff everything)."""
        return self._healing(lambda: self.cache.changed_ids(epoch, seq))

    def index_rows(self, ids: Iterable[str] | None = None) -> dict[str, IndexRow]:
        """What the vector index needs per item (all items when `ids` is None)."""
        wanted = None if ids is None else list(ids)
        return self._healing(lambda: self.cache.index_rows(wanted))

    def items_for_hashes(self, hashes: Iterable[str]) -> dict[str, Item]:
        """One item per embedding-text hash (for embedding what has no vector)."""
        wanted = list(hashes)
        return self._healing(lambda: self.cache.items_for_hashes(wanted))

    def winning_items(self, chunk: int = 1000) -> Iterator[Item]:
        """Every item as the cache holds it now (no stat sweep), by id, read `chunk` rows at a time.

        For a whole-catalog pass in bounded memory (`load` builds the whole snapshot). A cache found
        damaged midway is rebuilt from the files and the pass goes on after the last id it gave.
        """
        after = ""
        for attempt in range(3):
            try:
                for item in self.cache.winners(after, chunk):
                    yield item
                    after = item.id
                return
            except CacheDamaged as exc:
                if attempt == 2:
                    raise
                self._heal(str(exc))
                self._report_rebuild()

    def merged_ids(self) -> set[str]:
        """Ids of the items merged into others."""
        return self._healing(self.cache.merged_ids)

    def has_id(self, item_id: str) -> bool:
        return self._healing(lambda: self.cache.has_id(item_id))

    def merged_into(self, item_id: str) -> list[str]:
        """Ids of the items merged into `item_id`."""
        return self._healing(lambda: self.cache.merged_into(item_id))

    def _target(self, rel: str) -> Path:
        """catalog_dir / rel, refused (CatalogError) when a symlink on the way leads out of the catalog.

        A month folder linked elsewhere (`catalog/2026/12 -> /tmp/x`) would put new items where
        `list` never looks, so the next `add` adds them again (issue 16, finding 22).
        """
        target = self.catalog_dir / rel
        root = self.catalog_dir.resolve()
        folder = target.parent
        while not folder.exists() and folder != self.catalog_dir:
            folder = folder.parent  # a folder still to be created cannot be a link
        if not folder.resolve().is_relative_to(root) or target.is_symlink():
            raise CatalogError(
                f"{target}: refusing to write through a symbolic link that leaves the catalog "
                f"({self.catalog_dir}); replace the link with a real folder"
            )
        return target

    def save(self, item: Item, path: str | None = None) -> str:
        """Write one item atomically (call under `locked()`); returns its relative path."""
        rel = path or files.relative_path_for(item)
        target = self._target(rel)
        files.atomic_write(target, files.dump_item(item))
        self._record([_written(rel, target, item)])
        return rel

    def save_many(
        self,
        items_with_paths: Sequence[tuple[Item, str | None]],
        *,
        chunk: int = SAVE_CHUNK,
        on_saved: Callable[[Item, str], None] | None = None,
    ) -> list[str]:
        """Write many items (call under `locked()`); returns their relative paths, in order.

        ``items_with_paths`` pairs each item with its path (None: a new item's `files.relative_path_for`).
        Crash-safe like `save` (temp file, fsync, rename, folder fsync), but batched: a chunk's temp files
        are fsynced concurrently (ext4 folds concurrent fsyncs into one journal commit: measured 5-7x
        faster than one after another), each touched folder once per chunk, and the cache is updated in
        one transaction per chunk. ``on_saved(item, path)`` runs only once the item's chunk is durable,
        so whatever it reports survives a crash.
        """
        saved: list[str] = []
        known_dirs: set[Path] = set()
        with ThreadPoolExecutor(max_workers=FSYNC_THREADS) as pool:
            for start in range(0, len(items_with_paths), max(chunk, 1)):
                part = items_with_paths[start : start + max(chunk, 1)]
                dirty: set[Path] = set()
                pending: list[tuple[int, str, Path, str]] = []  # (fd, temp path, target, relative path)
                try:
                    for item, path in part:
                        rel = path or files.relative_path_for(item)
                        target = self._target(rel)
                        _ensure_dir(target.parent, known_dirs, dirty)
                        fd, tmp = tempfile.mkstemp(prefix=f"{files.TEMP_PREFIX}{os.getpid()}-", dir=target.parent)
                        pending.append((fd, tmp, target, rel))
                        os.write(fd, files.dump_item(item).encode("utf-8"))
                    list(pool.map(os.fsync, [fd for fd, _, _, _ in pending]))
                except BaseException:
                    for fd, tmp, _, _ in pending:
                        with contextlib.suppress(OSError):
                            os.close(fd)
                        Path(tmp).unlink(missing_ok=True)
                    raise
                entries = []
                for (item, _), (fd, tmp, target, rel) in zip(part, pending, strict=True):
                    os.close(fd)
                    os.replace(tmp, target)
                    dirty.add(target.parent)
                    entries.append(_written(rel, target, item))
                # Deepest folders first, so a new month folder's own entry is synced after its files.
                for folder in sorted(dirty, key=lambda p: len(p.parts), reverse=True):
                    files.fsync_dir(folder)
                self._record(entries)
                saved.extend(entry.path for entry in entries)
                if on_saved:
                    for (item, _), entry in zip(part, entries, strict=True):
                        on_saved(item, entry.path)
        return saved

    def rewrite(self, path: str, change: Callable[[Item], Item | None], *, attempts: int = 5) -> Item | None:
        """Read-modify-write one item file (call under `locked()`); returns the saved item, or None if unchanged.

        The file is read right before the change and written only if it is still the file that was
        read: `git pull`, an editor or a sync tool do not take our lock, and writing a copy read
        seconds earlier would silently revert what they wrote. On a mismatch the change is applied
        again to the new contents.
        """
        target = self._target(path)
        for _ in range(attempts):
            before = _stamp(target)
            current = files.read_item(target)
            changed = change(copy.deepcopy(current))
            if changed is None or changed == current:
                return None
            text = files.dump_item(changed)
            if _stamp(target) != before:
                continue
            files.atomic_write(target, text)
            self._record([_written(path, target, changed)])
            return changed
        raise CatalogError(f"{target} keeps changing while being saved (another program writing it?); retry")

    def delete(self, path: str) -> None:
        """Remove one item file (call under `locked()`)."""
        target = self.catalog_dir / path
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
            files.fsync_dir(target.parent)
        self._record([], [path])

    def _record(self, upserts: Sequence[CachedEntry], removed: Sequence[str] = ()) -> None:
        """Put what was just written into the cache; a damaged cache is rebuilt from the files instead."""
        try:
            self.cache.apply(upserts, removed)
        except CacheDamaged as exc:
            self._heal(str(exc))  # the rebuild reads the files just written
            self._report_rebuild()

    def keyword_search(self, query: str, limit: int = 50) -> list[tuple[str, float]]:
        """(path, score) from the full-text index; call after `load()` so it is current."""
        return self._healing(lambda: self.cache.keyword_search(query, limit))

    def keyword_ids(self, query: str, limit: int = 50) -> list[str]:
        """Ids of the best keyword matches (BM25 order); call after `freshen()`."""
        return self._healing(lambda: self.cache.keyword_ids(query, limit))


def _written(rel: str, target: Path, item: Item) -> CachedEntry:
    """The cache row of a file this process just wrote (its stamp taken right after the rename)."""
    mtime, size, ino = staleness.stamp_of(target)
    return CachedEntry(rel, mtime, size, item, None, ino)


def _stamp(path: Path) -> tuple[int, int, int]:
    """What tells one version of a file from the next: inode (atomic renames), mtime and size."""
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns, st.st_size


def _ensure_dir(folder: Path, known: set[Path], dirty: set[Path]) -> None:
    """Create ``folder`` (and parents) once; the parents whose listing changed go into ``dirty``."""
    if folder in known:
        return
    missing = []
    current = folder
    while not current.is_dir():
        missing.append(current)
        current = current.parent
    folder.mkdir(parents=True, exist_ok=True)
    for created in missing:
        dirty.add(created.parent)  # the new folder's name lives in its parent
    known.add(folder)


def _snapshot(entries: Iterable[CachedEntry]) -> Snapshot:
    items: dict[str, Item] = {}
    paths: dict[str, str] = {}
    problems: list[str] = []
    shadowed: dict[str, list[str]] = {}
    # Sorted so that which file wins a duplicated id never depends on scan order.
    for entry in sorted(entries, key=lambda e: e.path):
        if entry.item is None:
            problems.append(entry.error or f"{entry.path}: unreadable")
            continue
        item = entry.item
        current = items.get(item.id)
        if current is None:
            items[item.id], paths[item.id] = item, entry.path
            continue
        # Two files, one id (two curators added the same URL): the earlier addition wins.
        if (item.added or "~") < (current.added or "~"):
            shadowed.setdefault(item.id, []).append(paths[item.id])
            items[item.id], paths[item.id] = item, entry.path
        else:
            shadowed.setdefault(item.id, []).append(entry.path)
    return Snapshot(items, paths, problems, shadowed)

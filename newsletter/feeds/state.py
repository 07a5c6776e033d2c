"""Pull state: ``<project>/.newsletter/feeds.sqlite``, derived and disposable.

It keeps ETag / Last-Modified for conditional GETs, the last pull time and status, and the entry keys
seen per feed. Deleting it loses nothing: the next pull re-fetches every feed, and exact dedupe by URL
keeps already-cataloged entries out. A damaged file (random bytes inside, not only a bad header) is
found when it is opened and rebuilt, with one notice on stderr.

What a reset does to the entries a first pull left out (decided, not an accident): the pull after a
reset is a first pull again and takes the ``backlog`` newest entries of the feed. The entries left out
the first time are older than every entry taken then (the cut is by date, newest first), so with the
same backlog they are left out again; nothing comes back. Only a larger ``--backlog`` on the pull after
a reset reaches further back, which is what that option asks for. Keeping the left-out keys in the
tracked feeds.yaml instead would grow it by one line per skipped entry for every feed, in a file
curators edit and merge by hand, to protect against a case that needs a deliberate option.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..models import now_timestamp
from ..store.disposable import open_disposable

STATE_FILE = "feeds.sqlite"
_SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (
    key TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, last_pull TEXT, last_ok TEXT,
    last_status TEXT, last_error TEXT
);
CREATE TABLE IF NOT EXISTS seen (
    feed TEXT NOT NULL, entry TEXT NOT NULL, item_id TEXT, first_seen TEXT,
    PRIMARY KEY (feed, entry)
) WITHOUT ROWID;
"""


@dataclasses.dataclass
class FeedState:
    """What the last pulls of one feed left behind."""

    etag: str | None = None
    last_modified: str | None = None
    last_pull: str | None = None
    last_ok: str | None = None
    last_status: str | None = None
    last_error: str | None = None
    seen: int = 0


class PullState:
    """The derived feeds.sqlite; any damage (or another schema) and it is rebuilt empty."""

    def __init__(self, path: Path) -> None:
        self.path = path
        problem = _damage(path)
        if problem:
            self._discard(problem)
        self.conn = open_disposable(path, _SCHEMA, _SCHEMA_VERSION)

    def close(self) -> None:
        self.conn.close()

    def _discard(self, problem: str) -> None:
        """Delete the damaged file (and its WAL) and say so once; the caller opens a fresh one."""
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        # Said here, below the CLI, because any command that opens the state may be the one to find
        # the damage; it happens once, since the rebuilt file is healthy.
        print(
            f"note: the feeds' pull state {self.path} was damaged ({problem}); rebuilt it empty: every feed is "
            "fetched in full once, and entries already in the catalog are not added again",
            file=sys.stderr,
        )

    def _reopen(self, exc: sqlite3.DatabaseError) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        self._discard(_one_line(exc))
        self.conn = open_disposable(self.path, _SCHEMA, _SCHEMA_VERSION)

    def get(self, key: str) -> FeedState:
        try:
            row = self.conn.execute(
                "SELECT etag, last_modified, last_pull, last_ok, last_status, last_error FROM feeds WHERE key=?",
                (key,),
            ).fetchone()
            seen = self.conn.execute("SELECT count(*) FROM seen WHERE feed=?", (key,)).fetchone()[0]
        except sqlite3.DatabaseError as exc:  # damage the check at open could not see
            self._reopen(exc)
            return FeedState()
        if not row:
            return FeedState(seen=seen)
        etag, last_modified, last_pull, last_ok, last_status, last_error = row
        return FeedState(etag, last_modified, last_pull, last_ok, last_status, last_error, seen)

    def seen_keys(self, key: str) -> set[str]:
        try:
            return {r[0] for r in self.conn.execute("SELECT entry FROM seen WHERE feed=?", (key,))}
        except sqlite3.DatabaseError as exc:
            self._reopen(exc)
            return set()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def record(
        self, conn: sqlite3.Connection, key: str, state: FeedState, entries: Iterable[tuple[str, str | None]]
    ) -> None:
        """Store a feed's pull outcome and the entry keys it saw (entry key, item id or None)."""
        conn.execute(
            "INSERT OR REPLACE INTO feeds VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, state.etag, state.last_modified, state.last_pull, state.last_ok, state.last_status, state.last_error),
        )
        now = now_timestamp()
        conn.executemany(
            "INSERT OR IGNORE INTO seen VALUES (?, ?, ?, ?)", [(key, entry, item, now) for entry, item in entries]
        )

    def rename(self, conn: sqlite3.Connection, old: str, new: str) -> None:
        """A feed moved: its state follows it (entries already seen stay seen)."""
        if old == new:
            return
        conn.execute(
            "INSERT OR IGNORE INTO seen SELECT ?, entry, item_id, first_seen FROM seen WHERE feed=?", (new, old)
        )
        self.forget(conn, old)

    def forget(self, conn: sqlite3.Connection, key: str) -> None:
        conn.execute("DELETE FROM seen WHERE feed=?", (key,))
        conn.execute("DELETE FROM feeds WHERE key=?", (key,))


def _damage(path: Path) -> str | None:
    """Why the existing file at ``path`` cannot be trusted (an integrity check fails), or None."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(path, timeout=60)
    except sqlite3.DatabaseError as exc:
        return _one_line(exc)
    try:
        # quick_check reads every page: the file is small, and random bytes inside a table are found
        # only when that page is read, which would otherwise be in the middle of a pull.
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return _one_line(exc)
    finally:
        conn.close()
    if rows and rows[0][0] == "ok":
        return None
    return _one_line(rows[0][0] if rows else "integrity check failed")


def _one_line(problem: object) -> str:
    return " ".join(str(problem).split())[:200]

"""Pull state: ``<project>/.newsletter/feeds.sqlite``, derived and disposable.

It keeps ETag / Last-Modified for conditional GETs, the last pull time and status, and the entry keys
seen per feed. Deleting it loses nothing: the next pull re-fetches every feed, and exact dedupe by URL
keeps already-cataloged entries out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
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
        self.conn = open_disposable(path, _SCHEMA, _SCHEMA_VERSION)

    def close(self) -> None:
        self.conn.close()

    def get(self, key: str) -> FeedState:
        row = self.conn.execute(
            "SELECT etag, last_modified, last_pull, last_ok, last_status, last_error FROM feeds WHERE key=?", (key,)
        ).fetchone()
        seen = self.conn.execute("SELECT count(*) FROM seen WHERE feed=?", (key,)).fetchone()[0]
        return FeedState(*row, seen=seen) if row else FeedState(seen=seen)

    def seen_keys(self, key: str) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT entry FROM seen WHERE feed=?", (key,))}

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

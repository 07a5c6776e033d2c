"""The derived SQLite index of the catalog files: fast loads and full-text search.

It remembers, per item file, the (mtime_ns, size) it was parsed at and the parsed item as JSON.
Loading stats every file (cheap) and re-parses only files that changed since, so edits by hand,
`git pull` and other processes are noticed. The cache is disposable: any sign of damage (a schema
from another version, a corrupt database) and it is deleted and rebuilt from the files.
"""

from __future__ import annotations

import dataclasses
import marshal
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..models import Item
from .disposable import open_disposable

# marshal's format is tied to the Python version, so the version is part of the schema stamp.
SCHEMA_VERSION = f"3-py{sys.version_info.major}.{sys.version_info.minor}"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    rowid INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    id TEXT,
    data BLOB,
    error TEXT
);
-- rowid = entries.rowid, so updates and deletes are O(log n), not a scan of the FTS table
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    title, summary, body, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""


@dataclasses.dataclass
class CachedEntry:
    """One row of the cache: a file's stat stamp and either its item or its parse error."""

    path: str
    mtime_ns: int
    size: int
    item: Item | None
    error: str | None


def item_to_blob(item: Item) -> bytes:
    """Serialize every field (including note and extra) for a lossless, validation-free reload.

    marshal, not JSON: a warm load of 100k items is dominated by decoding, and marshal decodes
    plain dicts/lists/strings several times faster. It cannot run code, and the cache is local,
    derived and rebuilt whenever the stamp changes.
    """
    return marshal.dumps(dataclasses.asdict(item))


def item_from_blob(blob: bytes) -> Item:
    """Inverse of item_to_blob; trusted input (written by item_to_blob), so no re-validation."""
    return Item(**marshal.loads(blob))


def search_text(item: Item) -> tuple[str, str, str]:
    """The (title, summary, body) columns indexed for keyword search."""
    body_parts = [item.note, " ".join(item.authors), " ".join(item.tags), item.site, item.url]
    for key in ("text", "show", "handle", "language", "arxiv_id", "doi", "channel", "topics"):
        value = item.extra.get(key)
        if isinstance(value, list):
            body_parts.append(" ".join(map(str, value)))
        elif value:
            body_parts.append(str(value))
    return item.title, item.summary, " ".join(p for p in body_parts if p)


class CatalogCache:
    """A connection to the derived SQLite file, rebuilt from scratch when damaged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = open_disposable(
            path, _SCHEMA, SCHEMA_VERSION, pragmas=("journal_mode=WAL", "synchronous=NORMAL")
        )

    def close(self) -> None:
        self.conn.close()

    def entries(self) -> Iterator[CachedEntry]:
        """Every cached row, items decoded."""
        for path, mtime_ns, size, data, error in self.conn.execute(
            "SELECT path, mtime_ns, size, data, error FROM entries"
        ):
            yield CachedEntry(path, mtime_ns, size, item_from_blob(data) if data else None, error)

    def stamps(self) -> dict[str, tuple[int, int]]:
        """path -> (mtime_ns, size) for every cached file."""
        return {p: (m, s) for p, m, s in self.conn.execute("SELECT path, mtime_ns, size FROM entries")}

    def apply(self, upserts: Iterable[CachedEntry], removed: Iterable[str]) -> None:
        """Record re-parsed files and forget deleted ones, in one transaction."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for path in removed:
                row = conn.execute("SELECT rowid FROM entries WHERE path=?", (path,)).fetchone()
                if row:
                    conn.execute("DELETE FROM fts WHERE rowid=?", row)
                    conn.execute("DELETE FROM entries WHERE rowid=?", row)
            for entry in upserts:
                data = item_to_blob(entry.item) if entry.item else None
                item_id = entry.item.id if entry.item else None
                row = conn.execute("SELECT rowid FROM entries WHERE path=?", (entry.path,)).fetchone()
                if row:
                    rowid = row[0]
                    conn.execute("DELETE FROM fts WHERE rowid=?", (rowid,))
                    conn.execute(
                        "UPDATE entries SET mtime_ns=?, size=?, id=?, data=?, error=? WHERE rowid=?",
                        (entry.mtime_ns, entry.size, item_id, data, entry.error, rowid),
                    )
                else:
                    cursor = conn.execute(
                        "INSERT INTO entries (path, mtime_ns, size, id, data, error) VALUES (?, ?, ?, ?, ?, ?)",
                        (entry.path, entry.mtime_ns, entry.size, item_id, data, entry.error),
                    )
                    rowid = cursor.lastrowid
                if entry.item:
                    conn.execute(
                        "INSERT INTO fts (rowid, title, summary, body) VALUES (?, ?, ?, ?)",
                        (rowid, *search_text(entry.item)),
                    )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def keyword_search(self, query: str, limit: int = 50) -> list[tuple[str, float]]:
        """(path, bm25 score) best first; every word of the query may match (OR), titles weigh most."""
        terms = re.findall(r"\w+", query.lower())
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in terms)
        rows: list[Any] = self.conn.execute(
            "SELECT entries.path, bm25(fts, 5.0, 2.0, 1.0) AS score FROM fts "
            "JOIN entries ON entries.rowid = fts.rowid WHERE fts MATCH ? ORDER BY score LIMIT ?",
            (match, limit),
        ).fetchall()
        return [(path, -score) for path, score in rows]

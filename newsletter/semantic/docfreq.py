"""Document frequencies of the near-duplicate signals' words and names, kept current incrementally.

`dupes.Idf` needs, for the few terms of a pair, how many catalog items contain them. Computing that
over the whole catalog per `add` cost O(catalog) (seconds at 100k), so the counts live in a derived
SQLite file beside the vectors: `terms(id, term)` remembers what each item contributed, `df(term,
count)` the totals. A sync applies only the items that changed; a query reads only the terms asked
for. Like every derived file it is rebuilt from the catalog when missing, damaged or of another
version.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from newsletter.models import Item
from newsletter.semantic import dupes
from newsletter.store.disposable import open_disposable

VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS terms (id TEXT NOT NULL, term TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS terms_id ON terms(id);
CREATE TABLE IF NOT EXISTS df (term TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
"""


def item_terms(signals: dupes.Signals) -> set[str]:
    """The terms an item counts once for: its words and its names (as `dupes.Idf.from_signals`)."""
    return set(signals.words) | {"name:" + name for name in signals.names}


class DocFreq:
    """Persisted document frequencies; `update` with changed items, `idf(terms)` for a query."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = open_disposable(path, _SCHEMA, VERSION, pragmas=("journal_mode=WAL", "synchronous=NORMAL"))

    def close(self) -> None:
        self.conn.close()

    def synced(self) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key='synced'").fetchone()
        return row[0] if row else None

    def reset(self) -> None:
        """Forget everything (before a full rebuild)."""
        with self.conn:
            self.conn.execute("DELETE FROM terms")
            self.conn.execute("DELETE FROM df")
            self.conn.execute("DELETE FROM meta WHERE key IN ('synced', 'n')")

    def update(
        self, changed: Mapping[str, Item | None], signals: Callable[[Item], dupes.Signals], synced: str
    ) -> None:
        """Replace the contributions of changed items (None: removed), then record `synced`."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            n_row = conn.execute("SELECT value FROM meta WHERE key='n'").fetchone()
            n = int(n_row[0]) if n_row else 0
            for item_id, item in changed.items():
                old = [r[0] for r in conn.execute("SELECT term FROM terms WHERE id=?", (item_id,))]
                if old:
                    n -= 1
                    conn.executemany("UPDATE df SET count = count - 1 WHERE term=?", [(t,) for t in old])
                    conn.execute("DELETE FROM terms WHERE id=?", (item_id,))
                if item is None or item.duplicate_of:
                    continue
                new = sorted(item_terms(signals(item)))
                n += 1
                conn.executemany("INSERT INTO terms (id, term) VALUES (?, ?)", [(item_id, t) for t in new])
                conn.executemany(
                    "INSERT INTO df (term, count) VALUES (?, 1) ON CONFLICT(term) DO UPDATE SET count = count + 1",
                    [(t,) for t in new],
                )
            conn.execute("DELETE FROM df WHERE count <= 0")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('n', ?)", (str(max(n, 0)),))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('synced', ?)", (synced,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def idf(self, terms: Iterable[str], extra_docs: Iterable[dupes.Signals] = ()) -> dupes.Idf:
        """An `Idf` over the catalog for these terms (plus documents not in the catalog yet)."""
        wanted = sorted(set(terms))
        df: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            marks = ",".join("?" * len(part))
            df.update(self.conn.execute(f"SELECT term, count FROM df WHERE term IN ({marks})", part).fetchall())
        n_row = self.conn.execute("SELECT value FROM meta WHERE key='n'").fetchone()
        n = int(n_row[0]) if n_row else 0
        for sig in extra_docs:
            n += 1
            for term in item_terms(sig):
                df[term] = df.get(term, 0) + 1
        return dupes.Idf(df, n)


def open_docfreq(path: Path) -> DocFreq:
    """Open (or rebuild when damaged) the document-frequency file."""
    try:
        return DocFreq(path)
    except sqlite3.DatabaseError:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return DocFreq(path)

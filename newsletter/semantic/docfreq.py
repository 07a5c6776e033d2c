"""Document frequencies of the near-duplicate signals' words and names, kept current incrementally.

`dupes.Idf` needs, for the few terms of a pair, how many catalog items contain them. Computing that
over the whole catalog per `add` cost O(catalog) (seconds at 100k), so the counts live in a derived
SQLite file beside the vectors: `terms(id, term)` remembers what each item contributed, `df(term,
count)` the totals. A sync applies only the items that changed; a query reads only the terms asked
for. Like every derived file it is rebuilt from the catalog when missing, damaged or of another
version: `rebuild` streams the catalog once, writing the rows in batches and counting in a dict it
flushes when it grows, so its memory does not grow with the catalog (1M items: the whole catalog
and every item's signals in memory at once had passed 10 GB).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from newsletter.models import Item
from newsletter.semantic import dupes
from newsletter.store.disposable import open_disposable

VERSION = "1"
BATCH_ROWS = 50_000  # (id, term) rows written per executemany in `rebuild`
FLUSH_TERMS = 100_000  # distinct terms counted in memory before `rebuild` adds them to the table
REBUILD_ABOVE = 5_000  # changed items past which (and past a fifth of the catalog) a sync rebuilds instead
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

    def counted(self) -> int:
        """How many items the counts are over."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='n'").fetchone()
        return int(row[0]) if row else 0

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (a second syncing process waits): committed, or rolled back."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _mark(self, n: int, synced: str) -> None:
        """Record the item count and the cache state the counts match (inside `_writing`)."""
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('n', ?), ('synced', ?)", (str(n), synced))

    def rebuild(
        self,
        items: Iterable[Item],
        signals: Callable[[Item], dupes.Signals],
        synced: str,
        *,
        batch: int = BATCH_ROWS,
        flush_terms: int = FLUSH_TERMS,
    ) -> None:
        """Replace everything with the counts of `items` (the whole catalog, read lazily), then record `synced`.

        The same counts as `update` from empty with every item, in one transaction (a failure keeps
        the previous state), holding at most `batch` rows and `flush_terms` counts at once.
        """
        with self._writing() as conn:
            conn.execute("DELETE FROM terms")
            conn.execute("DELETE FROM df")
            n = 0
            rows: list[tuple[str, str]] = []
            counts: Counter[str] = Counter()
            for item in items:
                if item.duplicate_of:
                    continue
                n += 1
                new = item_terms(signals(item))
                rows.extend((item.id, t) for t in sorted(new))
                counts.update(new)
                if len(rows) >= batch:
                    conn.executemany("INSERT INTO terms (id, term) VALUES (?, ?)", rows)
                    rows.clear()
                if len(counts) >= flush_terms:
                    self._add_counts(counts)
                    counts.clear()
            conn.executemany("INSERT INTO terms (id, term) VALUES (?, ?)", rows)
            self._add_counts(counts)
            self._mark(n, synced)

    def _add_counts(self, counts: Mapping[str, int]) -> None:
        self.conn.executemany(
            "INSERT INTO df (term, count) VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET count = count + excluded.count",
            counts.items(),
        )

    def update(self, changed: Mapping[str, Item | None], signals: Callable[[Item], dupes.Signals], synced: str) -> None:
        """Replace the contributions of changed items (None: removed), then record `synced`."""
        with self._writing() as conn:
            n = self.counted()
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
            self._mark(max(n, 0), synced)

    def idf(self, terms: Iterable[str], extra_docs: Iterable[dupes.Signals] = ()) -> dupes.Idf:
        """An `Idf` over the catalog for these terms (plus documents not in the catalog yet)."""
        wanted = sorted(set(terms))
        df: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            df.update(self.conn.execute(f"SELECT term, count FROM df WHERE term IN ({marks})", part).fetchall())
        n = self.counted()
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

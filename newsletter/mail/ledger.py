"""The send ledger: `.newsletter/sends/issue-N.sqlite`, one row per subscriber of a real send.

Every SMTP send is bracketed by two durable writes: `sending` before the transaction starts, its
outcome after the server answers. SQLite in WAL mode with `synchronous=FULL` makes each commit
durable (fsync) before we go on, so after any crash the ledger tells, for every address:

    sent       the server accepted the message (250 after DATA)         never sent again
    failed     the server refused it permanently (5xx)                  reported, not retried
    deferred   temporary failures (4xx) outlasted the retries            retried by --resume
    pending    we know it was not accepted (e.g. the connection broke    retried by --resume
               before the end of DATA)
    sending    the process died, or the connection dropped while the server was answering DATA:
               the server may or may not have accepted it ("in doubt")

Only one message is in flight at a time, so one interruption leaves at most one row `sending`.
To keep one fsync per message, the outcome of message i and the `sending` of message i+1 are one
transaction (`advance`).

The derived folder is git-ignored like the rest of `.newsletter/`, but unlike the caches this file
is not rebuildable: deleting it forgets who already got an issue.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from ..models import now_timestamp

SENT, FAILED, DEFERRED, PENDING, SENDING = "sent", "failed", "deferred", "pending", "sending"
STATES = (SENT, FAILED, DEFERRED, PENDING, SENDING)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    key TEXT PRIMARY KEY,          -- the address, lower-cased (see subscribers.email_key)
    email TEXT NOT NULL,
    state TEXT NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '',
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclasses.dataclass
class Entry:
    """One address's row."""

    key: str
    email: str
    state: str
    message_id: str
    attempts: int
    detail: str
    updated: str


def ledger_path(derived_dir: Path, issue: int) -> Path:
    """Where the ledger of issue N lives."""
    return derived_dir / "sends" / f"issue-{issue}.sqlite"


class Ledger:
    """Durable per-address send states of one issue."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------

    def entries(self) -> dict[str, Entry]:
        """Every row, by key."""
        rows = self._db.execute("SELECT key, email, state, message_id, attempts, detail, updated FROM sends")
        return {row[0]: Entry(*row) for row in rows}

    def counts(self) -> dict[str, int]:
        """How many rows are in each state."""
        counts = dict.fromkeys(STATES, 0)
        for state, count in self._db.execute("SELECT state, count(*) FROM sends GROUP BY state"):
            counts[state] = count
        return counts

    def get_meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_meta(self, name: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    # -- writing (each call is one durable transaction) --------------------------------------------

    def begin(self, key: str, email: str, message_id: str) -> None:
        """Record that a message is about to be handed to the server."""
        with self._transaction():
            self._sending(key, email, message_id)

    def finish(self, key: str, state: str, detail: str = "") -> None:
        """Record the outcome of the message in flight."""
        with self._transaction():
            self._outcome(key, state, detail)

    def advance(self, key: str, state: str, detail: str, next_key: str, next_email: str, next_id: str) -> None:
        """`finish` this message and `begin` the next in one commit (one fsync instead of two)."""
        with self._transaction():
            self._outcome(key, state, detail)
            self._sending(next_key, next_email, next_id)

    def _sending(self, key: str, email: str, message_id: str) -> None:
        self._db.execute(
            "INSERT INTO sends (key, email, state, message_id, attempts, updated) VALUES (?, ?, ?, ?, 1, ?) "
            "ON CONFLICT(key) DO UPDATE SET state = excluded.state, message_id = excluded.message_id, "
            "attempts = attempts + 1, updated = excluded.updated",
            (key, email, SENDING, message_id, now_timestamp()),
        )

    def _outcome(self, key: str, state: str, detail: str) -> None:
        if state not in STATES:
            raise ValueError(f"unknown ledger state {state!r}")
        self._db.execute(
            "UPDATE sends SET state = ?, detail = ?, updated = ? WHERE key = ?",
            (state, detail[:500], now_timestamp(), key),
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")

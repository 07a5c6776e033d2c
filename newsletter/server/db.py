"""Subscribers and their event log in SQLite (WAL mode), with SQL kept portable to PostgreSQL.

Portable means: plain types (TEXT, INTEGER), ISO-8601 UTC timestamps as TEXT, no SQLite-only
functions or `INSERT OR ...` forms (upserts are `INSERT ... ON CONFLICT`), and every query goes
through `_sql`, the one place a driver's placeholder style would be swapped in. PostgreSQL itself is
not wired up: see docs/deploy.md for why.

Each thread gets its own connection (Starlette runs sync endpoints in a thread pool); WAL lets
readers run while one writer commits, and `busy_timeout` makes writers wait instead of failing.
"""

from __future__ import annotations

import dataclasses
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

STATUSES = ("unconfirmed", "active", "unsubscribed", "bounced", "complained")
# A suppressed address is never made active again by an import, only by the person confirming.
SUPPRESSED = frozenset({"unsubscribed", "bounced", "complained"})

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS subscribers (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS subscribers_status ON subscribers (status)",
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        subscriber_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX IF NOT EXISTS events_at ON events (at)",
)


def now() -> str:
    """The current UTC time as ISO 8601 with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def normalize_email(value: str) -> str:
    """The form addresses are stored and compared in: trimmed, lower-cased."""
    return value.strip().lower()


def _sql(query: str) -> str:
    # SQLite's DB-API style is `?`; a PostgreSQL driver would want `%s` here.
    return query


@dataclasses.dataclass(frozen=True)
class Subscriber:
    """One row of the list."""

    id: str
    email: str
    name: str
    status: str
    created_at: str
    updated_at: str

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


class Database:
    """The subscriber store; safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # Outside any transaction: SQLite cannot switch journal mode inside one.
        self._conn().execute("PRAGMA journal_mode=WAL")
        with self._tx() as conn:
            for statement in SCHEMA:
                conn.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode up to the last checkpoint
            self._local.conn = conn
        return conn

    def _tx(self) -> _Transaction:
        return _Transaction(self._conn())

    # -- reads -------------------------------------------------------------------------------

    def get(self, subscriber_id: str) -> Subscriber | None:
        row = self._conn().execute(_sql("SELECT * FROM subscribers WHERE id = ?"), (subscriber_id,)).fetchone()
        return Subscriber(*row) if row else None

    def by_email(self, email: str) -> Subscriber | None:
        row = self._conn().execute(
            _sql("SELECT * FROM subscribers WHERE email = ?"), (normalize_email(email),)).fetchone()
        return Subscriber(*row) if row else None

    def subscribers(self, status: str | None = None) -> list[Subscriber]:
        if status is None:
            rows = self._conn().execute(_sql("SELECT * FROM subscribers ORDER BY created_at, id")).fetchall()
        else:
            rows = self._conn().execute(
                _sql("SELECT * FROM subscribers WHERE status = ? ORDER BY created_at, id"), (status,)).fetchall()
        return [Subscriber(*row) for row in rows]

    def events_since(self, since: str = "") -> list[dict[str, object]]:
        rows = self._conn().execute(
            _sql("SELECT seq, at, subscriber_id, kind, detail FROM events WHERE at > ? ORDER BY seq"), (since,)
        ).fetchall()
        keys = ("seq", "at", "subscriber_id", "kind", "detail")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # -- writes ------------------------------------------------------------------------------

    def add_unconfirmed(self, email: str, name: str = "") -> tuple[Subscriber, bool]:
        """The subscriber for `email`, created as `unconfirmed` when new; (row, needs a confirmation mail).

        A new or still unconfirmed address gets a (new) confirmation mail; so does one that had
        unsubscribed (coming back needs a fresh confirmation). Active, bounced and complained ones
        get nothing: the answer to the visitor is the same either way.
        """
        email = normalize_email(email)
        with self._tx() as conn:
            row = conn.execute(_sql("SELECT * FROM subscribers WHERE email = ?"), (email,)).fetchone()
            if row is None:
                stamp = now()
                sub = Subscriber(new_id(), email, name.strip(), "unconfirmed", stamp, stamp)
                conn.execute(_sql("INSERT INTO subscribers VALUES (?, ?, ?, ?, ?, ?)"), dataclasses.astuple(sub))
                _event(conn, sub.id, "subscribed")
                return sub, True
            sub = Subscriber(*row)
            if sub.status == "unsubscribed":
                _set_status(conn, sub.id, "unconfirmed", "resubscribe requested")
                return dataclasses.replace(sub, status="unconfirmed"), True
            return sub, sub.status == "unconfirmed"

    def confirm(self, subscriber_id: str) -> bool:
        """unconfirmed → active (a confirmed signup); True when the subscriber is active afterwards.

        An old confirm link never undoes an unsubscribe, bounce or complaint.
        """
        with self._tx() as conn:
            row = conn.execute(_sql("SELECT status FROM subscribers WHERE id = ?"), (subscriber_id,)).fetchone()
            if row is None:
                return False
            if row[0] == "unconfirmed":
                _set_status(conn, subscriber_id, "active", "confirmed")
            return row[0] in ("unconfirmed", "active")

    def unsubscribe(self, subscriber_id: str, how: str = "link") -> bool:
        """Any non-suppressed status → unsubscribed (idempotent); True when the subscriber exists."""
        with self._tx() as conn:
            row = conn.execute(_sql("SELECT status FROM subscribers WHERE id = ?"), (subscriber_id,)).fetchone()
            if row is None:
                return False
            if row[0] not in SUPPRESSED:
                _set_status(conn, subscriber_id, "unsubscribed", how)
            return True

    def suppress(self, subscriber_id: str, status: str, detail: str = "") -> str | None:
        """Mark a subscriber bounced, complained or unsubscribed; the status before (None: no such subscriber).

        A complaint outranks a bounce, and both outrank an unsubscribe (they say more about whether
        mail may ever go there again); a weaker status never replaces a stronger one.
        """
        if status not in SUPPRESSED:
            raise ValueError(f"not a suppressed status: {status!r}")
        rank = {"unsubscribed": 1, "bounced": 2, "complained": 3}
        with self._tx() as conn:
            row = conn.execute(_sql("SELECT status FROM subscribers WHERE id = ?"), (subscriber_id,)).fetchone()
            if row is None:
                return None
            if rank.get(row[0], 0) < rank[status]:
                _set_status(conn, subscriber_id, status, detail)
            return str(row[0])

    def import_rows(self, rows: Iterable[dict[str, str]]) -> dict[str, int]:
        """Add or update rows (`email`, optional `name`, `status`); suppressed rows are never resurrected."""
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        with self._tx() as conn:
            for item in rows:
                email = normalize_email(item["email"])
                status = item.get("status", "active")
                if status not in STATUSES:
                    raise ValueError(f"unknown status {status!r}")
                row = conn.execute(_sql("SELECT * FROM subscribers WHERE email = ?"), (email,)).fetchone()
                if row is None:
                    stamp = now()
                    sub = Subscriber(new_id(), email, str(item.get("name", "")).strip(), status, stamp, stamp)
                    conn.execute(_sql("INSERT INTO subscribers VALUES (?, ?, ?, ?, ?, ?)"), dataclasses.astuple(sub))
                    _event(conn, sub.id, "imported", status)
                    counts["added"] += 1
                    continue
                current = Subscriber(*row)
                keep = current.status in SUPPRESSED or current.status == status
                if keep or (current.status == "active" and status == "unconfirmed"):
                    counts["unchanged"] += 1
                else:
                    _set_status(conn, current.id, status, "import")
                    counts["updated"] += 1
        return counts

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _Transaction:
    """`with db._tx() as conn:` — BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def new_id() -> str:
    """A pseudonymous subscriber id: 16 random URL-safe characters, unrelated to the address."""
    return secrets.token_urlsafe(12)


def _event(conn: sqlite3.Connection, subscriber_id: str, kind: str, detail: str = "") -> None:
    conn.execute(_sql("INSERT INTO events (at, subscriber_id, kind, detail) VALUES (?, ?, ?, ?)"),
                 (now(), subscriber_id, kind, detail))


def _set_status(conn: sqlite3.Connection, subscriber_id: str, status: str, detail: str) -> None:
    conn.execute(_sql("UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?"),
                 (status, now(), subscriber_id))
    _event(conn, subscriber_id, status, detail)



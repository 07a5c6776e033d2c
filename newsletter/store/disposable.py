"""Derived SQLite files that rebuild themselves: the catalog cache, the feeds' pull state.

Such a file holds nothing that cannot be recomputed, so any sign of damage (a corrupt file, a
schema written by another version) is answered by deleting it and starting empty, never by an
error the curator has to deal with. Each schema keeps its version in a `meta(key, value)` table.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path


def open_disposable(
    path: Path, schema: str, version: str, *, pragmas: Sequence[str] = ("journal_mode=WAL",),
    on_reset: Callable[[str], None] | None = None,
) -> sqlite3.Connection:
    """Connect to `path` with `schema` at `version`, deleting and recreating the file when it isn't.

    ``on_reset(reason)`` is called when an existing file was thrown away (damaged, other version),
    so the owner can tell the curator once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _connect(path, schema, version, pragmas)
    except sqlite3.DatabaseError as exc:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        if on_reset is not None:
            on_reset(str(exc))
        return _connect(path, schema, version, pragmas)


def _connect(path: Path, schema: str, version: str, pragmas: Sequence[str]) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        for pragma in pragmas:
            conn.execute(f"PRAGMA {pragma}")
        # The version first: another version's tables may lack what this schema's indexes name.
        has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone() if has_meta else None
        if row is not None and row[0] != version:
            raise sqlite3.DatabaseError(f"{path.name} was written by another version")
        conn.executescript(schema)
        if row is None:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (version,))
    except sqlite3.DatabaseError:
        with contextlib.suppress(sqlite3.Error):
            conn.close()
        raise
    return conn

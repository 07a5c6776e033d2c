"""The send ledger: `.newsletter/sends/issue-N.sqlite`, one row per subscriber of a real send.

Every SMTP send is bracketed by three writes: the row (`pending`, the Message-ID) before MAIL FROM;
`sending`, fsynced (SQLite WAL mode, `synchronous=FULL`), once the whole body is on the wire but
before the final dot that makes the server accept it; and `sent` as the very next thing after the
server's 250 (`Ledger.answered`: one prepared statement on a connection of its own, committed to the
WAL without waiting for the disk, fsynced by the next `sending`). So after any crash the ledger
tells, for every address:

    sent       the server accepted the message (250 after DATA)         never sent again
    failed     the server refused it permanently (5xx)                  reported, not retried
    deferred   temporary failures (4xx) outlasted the retries            retried by --resume
    pending    we know it was not accepted (the process or the          retried by --resume
               connection died before the final dot of DATA)
    sending    the final dot may have reached the server, whose answer  resent by --resume with
               was never recorded: accepted or not, only the server's   the same Message-ID, and
               log knows ("in doubt")                                   named in the report

Only one message is in flight at a time, so one interruption leaves at most one row `sending`.
Why `sending` comes after the body and right before the dot, not before MAIL FROM: a process killed
before the dot leaves the server an unterminated DATA, which it discards, so that row is *known*
not accepted and is retried quietly; and the server receives (and parses) the body while the
`sending` mark is fsynced, so once the dot goes out it has little left to do before its 250. The
window in which a kill leaves an accepted message in doubt (and so sent twice by `--resume`) is
the server's work after the dot (it stores the message before it answers), its answer, and our one
small commit of that answer. `bench/bench_send_kill.py --profile` times each part: on aiosmtpd the
server's part is most of it, so no client can close the window; see docs/email-safety.md.

The derived folder is git-ignored like the rest of `.newsletter/` (the ledger holds addresses,
which never go into git), but unlike the caches this file is not rebuildable: deleting it forgets
who already got an issue. Two guards make that loud instead of silent:

- The *send record* `sends/issue-N.json` in the project (tracked by git, no addresses in it) is
  written right after the first message of a send is recorded as `sending`, before it goes out,
  and updated with the counts at the end of every run. It names the ledger's `send_id`. So
  "a message may have gone out" implies "the record exists". When the record exists but the ledger
  is missing (another machine, a deleted `.newsletter/`), empty (truncated file, dropped table),
  from another send (a different `send_id`) or has fewer `sent` rows than the record counted, the
  send stops with a message saying what to do (`check_record`). Why a separate tracked file: it
  survives exactly what destroys the ledger (deleting the derived folder, cloning the repository
  on another machine), and it carries nothing private.
- `SendLock`: an OS lock (flock) on `issue-N.lock` next to the ledger, held for the whole run, so
  two sends (or a send and a `--resume`) of one issue can never run at once; the kernel drops it
  when the process dies, so a crash never leaves it stuck.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import NewsletterError
from ..models import now_timestamp
from ..store.files import atomic_write

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
# The write inside the in-doubt window (see `Ledger.answered`); kept as one constant so SQLite's
# statement cache prepares it once, before the first message goes out.
_ANSWER = "UPDATE sends SET state = ?, detail = ?, updated = ? WHERE key = ?"


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


RECORD_DIR = "sends"


class LedgerError(NewsletterError):
    """The send ledger cannot be read, or no longer matches the send record: nothing is sent."""


class SendInProgress(NewsletterError):
    """Another process is sending (or resuming) the same issue right now."""


def ledger_path(derived_dir: Path, issue: int) -> Path:
    """Where the ledger of issue N lives."""
    return derived_dir / "sends" / f"issue-{issue}.sqlite"


def record_path(root: Path, issue: int) -> Path:
    """Where the tracked send record of issue N lives (`sends/issue-N.json` in the project)."""
    return root / RECORD_DIR / f"issue-{issue}.json"


def new_send_id() -> str:
    """A random id tying a ledger to its send record."""
    return secrets.token_hex(8)


class Ledger:
    """Durable per-address send states of one issue.

    `sending=True` (a real send) also opens the connection `answered` writes with, so that nothing
    is left to open or prepare when the server's 250 arrives.
    """

    def __init__(self, path: Path, *, sending: bool = False) -> None:
        self.path = path
        self._answers: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot open the send ledger {path}: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.execute("SELECT count(*) FROM sends").fetchone()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise damaged(path, str(exc)) from None
        if sending:
            self._answers = self._open_answers()

    def _open_answers(self) -> sqlite3.Connection:
        """The connection for `answered`: WAL commits that do not wait for the disk, and never checkpoint.

        synchronous=NORMAL in WAL mode: a commit is written to the WAL file (the page cache), which
        is all a SIGKILL needs, and never fsynced by itself. Chosen over OFF deliberately: NORMAL
        keeps the database consistent after a power loss (OFF may not), and the next `in_doubt`
        (synchronous=FULL, on the other connection) fsyncs the whole WAL, this commit included,
        before the next message can be accepted; `sync` does it at the end of a run. So a power
        loss can take back at most the last `sent` (that message is then sent again: a duplicate,
        never a miss). wal_autocheckpoint=0: a checkpoint (two fsyncs) must never run inside the
        window; the main connection's commits, all outside it, keep checkpointing as usual.
        """
        try:
            answers = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            answers.execute("PRAGMA synchronous=NORMAL")
            answers.execute("PRAGMA wal_autocheckpoint=0")
            answers.execute(_ANSWER, (SENT, "", "", ""))  # prepares and caches it; no row has the key ''
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise damaged(self.path, str(exc)) from None
        return answers

    def close(self) -> None:
        if self._answers is not None:
            self._answers.close()  # first: the main connection's close then checkpoints the WAL
            self._answers = None
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------

    def entries(self) -> dict[str, Entry]:
        """Every row, by key; LedgerError when the file is damaged."""
        try:
            rows = self._db.execute("SELECT key, email, state, message_id, attempts, detail, updated FROM sends")
            return {row[0]: Entry(*row) for row in rows}
        except sqlite3.DatabaseError as exc:
            raise damaged(self.path, str(exc)) from None

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
        """Record that a message is about to be handed to the server (`pending`: not accepted yet).

        Not fsynced: until `in_doubt` nothing can have been accepted, so losing this row to a power
        cut only forgets an attempt.
        """
        with self._transaction(durable=False):
            self._attempt(key, email, message_id)

    def in_doubt(self, key: str) -> None:
        """Record (durably: fsync) that the final dot of DATA is about to go out: from here, in doubt."""
        with self._transaction():
            self._outcome(key, SENDING, "")

    def finish(self, key: str, state: str, detail: str = "") -> None:
        """Record the outcome of the message in flight (durable: fsync)."""
        with self._transaction():
            self._outcome(key, state, detail)

    def answered(self, key: str, state: str, detail: str = "") -> None:
        """Record the server's answer at once: the one small commit that closes the in-doubt window.

        Nothing else happens between the 250 and this write (see campaign's send loop). On a ledger
        opened with `sending=True` it is one execution of a prepared statement on the connection
        described in `_open_answers`; otherwise (a library caller) the same commit, also without fsync.
        """
        if state not in STATES:
            raise ValueError(f"unknown ledger state {state!r}")
        args = (state, detail[:500], now_timestamp(), key)
        if self._answers is not None:
            self._answers.execute(_ANSWER, args)  # autocommit: its own transaction
            return
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._db.execute(_ANSWER, args)
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    def sync(self) -> None:
        """Make every commit durable (checkpoint: fsync of the WAL and the database)."""
        self._db.execute("PRAGMA wal_checkpoint(FULL)")

    def _attempt(self, key: str, email: str, message_id: str) -> None:
        self._db.execute(
            "INSERT INTO sends (key, email, state, message_id, attempts, updated) VALUES (?, ?, ?, ?, 1, ?) "
            "ON CONFLICT(key) DO UPDATE SET state = excluded.state, message_id = excluded.message_id, "
            "attempts = attempts + 1, updated = excluded.updated",
            (key, email, PENDING, message_id, now_timestamp()),
        )

    def _outcome(self, key: str, state: str, detail: str) -> None:
        if state not in STATES:
            raise ValueError(f"unknown ledger state {state!r}")
        self._db.execute(_ANSWER, (state, detail[:500], now_timestamp(), key))

    def _transaction(self, *, durable: bool = True) -> _Transaction:
        return _Transaction(self._db, durable)


class _Transaction:
    """One transaction; `durable=False` commits to the WAL without the fsync (synchronous=NORMAL)."""

    def __init__(self, db: sqlite3.Connection, durable: bool) -> None:
        self.db = db
        self.durable = durable

    def __enter__(self) -> None:
        if not self.durable:
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            if not self.durable:
                self.db.execute("PRAGMA synchronous=FULL")


def damaged(path: Path, reason: str) -> LedgerError:
    """The error for a ledger SQLite cannot read: say so, and what to do, in one line."""
    return LedgerError(
        f"the send ledger {path} is damaged ({reason}), so who already got this issue is unknown; "
        "nothing was sent. Restore the file from a backup and run again with --resume"
    )


# -- the tracked send record ------------------------------------------------------------------------


def read_record(path: Path) -> dict[str, Any] | None:
    """The send record at `path`, or None when there is none; LedgerError when it is unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LedgerError(
            f"the send record {path} cannot be read ({exc}); restore it from git (`git checkout -- {path.name}`)"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("send_id"), str):
        raise LedgerError(f"the send record {path} is not a record of this tool; restore it from git")
    return data


def write_record(path: Path, data: dict[str, Any]) -> None:
    """Write the send record atomically (temp file, fsync, rename)."""
    try:
        atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise LedgerError(f"cannot write the send record {path}: {exc.strerror or exc}") from None


def check_record(
    record: dict[str, Any] | None, entries: dict[str, Entry] | None, send_id: str | None,
    *, issue: int, ledger_file: Path, record_file: Path,
) -> None:
    """Stop (LedgerError) when the record says issue N went out but the ledger cannot say to whom.

    `entries` is None when the ledger file does not exist; `send_id` is the ledger's own.
    """
    if record is None:
        return
    recorded_sent = int(record.get("sent", 0) or 0)
    if entries is None:
        problem = "does not exist (deleted, or the issue was sent from another machine)"
    elif not entries:
        problem = "is empty (truncated or its table dropped)"
    elif send_id != record.get("send_id"):
        problem = "belongs to another send (it was replaced)"
    elif sum(e.state == SENT for e in entries.values()) < recorded_sent:
        problem = f"has lost rows (the record counted {recorded_sent} delivered)"
    else:
        return
    when = str(record.get("started", "?"))
    raise LedgerError(
        f"issue {issue} was already sent (record {record_file}, started {when}, {recorded_sent} delivered "
        f"at the last count), but its ledger {ledger_file} {problem}, so who got it is unknown; nothing was "
        "sent. Restore the ledger from a backup or from the machine that sent it, then run with --resume. "
        f"Only to send the whole issue again to everyone on purpose: delete {record_file} and the ledger"
    )


# -- one send per issue at a time ------------------------------------------------------------------------


class SendLock:
    """An exclusive, non-blocking OS lock on `issue-N.lock` next to the ledger, held for a whole run.

    flock is tied to the open file: the kernel releases it when the process exits or is killed, so
    it never goes stale. The file is never deleted (a second process could lock a fresh inode while
    the first still holds the old one); it holds the pid of the holder, for the message.
    """

    def __init__(self, path: Path, issue: int) -> None:
        self.path = path
        self.issue = issue
        self._fd: int | None = None

    def __enter__(self) -> SendLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            raise LedgerError(f"cannot open the send lock {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = f" (pid {holder})" if holder else ""
                raise SendInProgress(
                    f"issue {self.issue} is being sent right now by another process{who}; nothing was sent. "
                    "Wait until it ends, then run with --resume if it reports anything left"
                ) from None
            raise LedgerError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""

"""The subscriber list: `subscribers.csv` in the project (email, name, status, subscribed_at).

A CSV because curators open it in a spreadsheet and review it in git. Writes are atomic and hold the
project's writer lock. Problems (an invalid address, a duplicate, an unknown status) are reported one
line each and never stop the rest of the file from loading.

Addresses are compared case-insensitively on the whole address, local part included: RFC 5321 lets
a server treat `Ann@` and `ann@` as different mailboxes, but no mainstream provider does, and
mailing the same person twice (or failing to unsubscribe them because they typed `Ann@`) is the
real risk. The address is stored as first given, with the domain lower-cased.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import NewsletterError
from ..models import now_timestamp
from ..store.files import atomic_write
from ..store.lock import write_lock
from ..text import csv_rows, unicode_encoding

FIELDS = ("email", "name", "status", "subscribed_at")
STATUSES = ("active", "unconfirmed", "unsubscribed", "bounced", "complained")
# Never mailed, and never made active again by an import (only by the person signing up again).
SUPPRESSED = frozenset({"unsubscribed", "bounced", "complained"})
# How strong a status is: a suppression only ever moves up this order (imports, bounces, complaints).
STATUS_RANK = {status: rank for rank, status in enumerate(STATUSES)}
FILE_NAME = "subscribers.csv"

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class SubscriberError(NewsletterError):
    """The subscriber list cannot be read or changed."""


def normalize_email(raw: str) -> str:
    """A valid address with a lower-case (IDNA-encoded) domain; ValueError says what is wrong.

    Accepts `Name <addr>` too. Quoted local parts and non-ASCII local parts are refused: they need
    SMTPUTF8 or quoting that many servers get wrong, and real subscribers practically never have them.
    """
    text = (raw or "").strip()
    match = re.fullmatch(r"[^<>]*<([^<>]+)>", text)
    if match:
        text = match.group(1).strip()
    if not text:
        raise ValueError("empty address")
    if any(c.isspace() or ord(c) < 32 for c in text):
        raise ValueError("contains whitespace or control characters")
    if text.count("@") != 1:
        raise ValueError("must contain exactly one @")
    local, domain = text.split("@")
    if not local or len(local) > 64 or not _LOCAL.match(local):
        raise ValueError("invalid local part (before the @)")
    try:
        domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError("invalid domain") from None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValueError("invalid domain (after the @)")
    address = f"{local}@{domain}"
    if len(address) > 254:
        raise ValueError("longer than 254 characters")
    return address


def email_key(address: str) -> str:
    """The identity of an address for duplicate checks and the send ledger."""
    return address.strip().lower()


def masked(address: str) -> str:
    """An address as reports show it: enough to recognise it, not enough to copy it (``r…7@example.org``).

    Reports are read in terminals, CI logs and pasted into chats; the full address stays in the list
    (`newsletter subscribers list --status bounced` shows it to whoever may see it).
    """
    local, at, domain = address.rpartition("@")
    if not at:
        return "…"
    return f"{local[:1]}…{local[-1:] if len(local) > 2 else ''}@{domain}"


def clean_name(name: str) -> str:
    """A display name as one safe line: no control characters (CR/LF would be header injection)."""
    text = re.sub(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+", " ", name or "")
    return re.sub(r"\s+", " ", text).strip()[:200]


@dataclasses.dataclass
class Subscriber:
    """One row of the list."""

    email: str
    name: str = ""
    status: str = "active"
    subscribed_at: str = ""
    # From the list server only: this person's signed one-click link (never written to the CSV).
    unsubscribe_url: str = dataclasses.field(default="", repr=False, compare=False)
    # From the list server only: its pseudonymous id (the VERP tag of the return path).
    subscriber_id: str = dataclasses.field(default="", repr=False, compare=False)

    @property
    def key(self) -> str:
        return email_key(self.email)

    @property
    def active(self) -> bool:
        return self.status == "active"

    def to_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FIELDS}


@dataclasses.dataclass
class LoadResult:
    """Subscribers read from a CSV, plus one message per row that was skipped."""

    subscribers: list[Subscriber]
    problems: list[str]


def parse_csv(text: str, *, source: str = "subscribers.csv") -> LoadResult:
    """Parse subscriber CSV text. A header row naming an `email` column is optional.

    Without a header the columns are email, name, status, subscribed_at. Rows with an invalid
    address, an unknown status or an address seen before are reported (line number and reason)
    and skipped; for a duplicate the first row wins.
    """
    text = text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    # Excel's "Unicode Text" export is tab-separated UTF-16: take tabs when the header has no comma.
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    # newline=None: CR, LF and CRLF all end a row, as when the file is opened in text mode.
    rows = csv_rows(text, delimiter=delimiter)
    columns = list(FIELDS)
    start = 0
    if rows and any(cell.strip().lower() in ("email", "e-mail", "email address") for cell in rows[0]):
        columns = [_column_name(cell) for cell in rows[0]]
        start = 1
    result = LoadResult([], [])
    seen: dict[str, int] = {}
    for index in range(start, len(rows)):
        row = rows[index]
        line = index + 1
        if not any(cell.strip() for cell in row):
            continue
        data = {name: (restore_cell(row[i].strip()) if i < len(row) else "") for i, name in enumerate(columns)}
        raw_email = data.get("email", "")
        try:
            address = normalize_email(raw_email)
        except ValueError as exc:
            result.problems.append(f"{source}:{line}: invalid address {clean_name(raw_email)[:80]!r}: {exc}")
            continue
        status = (data.get("status") or "active").lower()
        if status not in STATUSES:
            result.problems.append(
                f"{source}:{line}: {address}: unknown status {clean_name(status)[:40]!r} "
                f"(use one of {', '.join(STATUSES)})"
            )
            continue
        key = email_key(address)
        if key in seen:
            result.problems.append(f"{source}:{line}: {address}: duplicate of line {seen[key]}, skipped")
            continue
        seen[key] = line
        result.subscribers.append(
            Subscriber(address, clean_name(data.get("name", "")), status, clean_name(data.get("subscribed_at", "")))
        )
    return result


def _column_name(cell: str) -> str:
    name = cell.strip().lower().replace(" ", "_").replace("-", "_")
    return {"e_mail": "email", "email_address": "email", "subscribed": "subscribed_at"}.get(name, name)


# A spreadsheet evaluates a cell that starts with one of these (=HYPERLINK(...), @SUM(...), +cmd|...).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading `'` before a formula start (OWASP's advice).

    A cell that already starts with `'` gets one more, so `restore_cell` gives back exactly the text.
    """
    return "'" + value if value.startswith(FORMULA_START) or value.startswith("'") else value


def restore_cell(value: str) -> str:
    """The text `neutralize_cell` protected: one leading `'` dropped when a formula start or `'` follows."""
    if value.startswith("'") and value[1:].startswith((*FORMULA_START, "'")):
        return value[1:]
    return value


def dump_csv(subscribers: Iterable[Subscriber]) -> str:
    """The CSV text of a list (header first, rows in the given order), every cell neutralized."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for sub in subscribers:
        writer.writerow([neutralize_cell(cell) for cell in (sub.email, sub.name, sub.status, sub.subscribed_at)])
    return buffer.getvalue()


@dataclasses.dataclass
class ImportReport:
    """What `import` did: new rows, rows left alone, and one line per problem."""

    added: list[Subscriber]
    unchanged: int
    problems: list[str]
    suppressed: list[Subscriber] = dataclasses.field(default_factory=list)
    failed_rows: int = 0


_warned_tracked: set[Path] = set()


def tracked_by_git(path: Path) -> bool:
    """True when `path` is in a git repository's index (committed or staged); False without git."""
    try:
        done = subprocess.run(
            ["git", "-C", str(path.parent), "ls-files", "--error-unmatch", "--", path.name],
            capture_output=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def tracked_warning(path: Path) -> list[str]:
    """One warning (the first time per process) when the subscriber file is tracked by git.

    Addresses in git stay in every clone and in the history forever, even after the file is removed.
    """
    resolved = path.resolve()
    if resolved in _warned_tracked or not path.is_file() or not tracked_by_git(path):
        return []
    _warned_tracked.add(resolved)
    return [f"{path.name} is tracked by git: subscriber addresses are personal data and stay in every clone "
            f"and the history; run `git rm --cached {path.name}` and add it to .gitignore "
            "(or move the list to a `newsletter server` with [list] server)"]


class SubscriberList:
    """The project's subscriber CSV: read it, import into it, unsubscribe from it."""

    def __init__(self, path: Path, derived_dir: Path) -> None:
        self.path = path
        self.derived_dir = derived_dir

    def warnings(self) -> list[str]:
        """Warnings about the file itself (tracked by git), each given once per process."""
        return tracked_warning(self.path)

    def load(self) -> LoadResult:
        """Every row of the file (empty when the file does not exist yet)."""
        return load_file(self.path)

    def active(self) -> tuple[list[Subscriber], list[str]]:
        """The subscribers to mail (status active) and the file's problems."""
        loaded = self.load()
        return [s for s in loaded.subscribers if s.active], loaded.problems

    def import_rows(self, incoming: LoadResult) -> ImportReport:
        """Merge parsed rows (any export format) into the list, under the writer lock.

        New addresses are added with their status. For a known address only a suppression is taken
        over (an active subscriber the old platform had as unsubscribed or bounced stops being mailed);
        a suppressed one is never made active or unconfirmed again (that is reported instead).
        """
        with write_lock(self.derived_dir):
            current = self.load()
            known = {s.key: s for s in current.subscribers}
            report = ImportReport([], 0, list(incoming.problems), failed_rows=len(incoming.problems))
            for sub in incoming.subscribers:
                existing = known.get(sub.key)
                if existing is None:
                    sub.subscribed_at = sub.subscribed_at or now_timestamp()
                    known[sub.key] = sub
                    report.added.append(sub)
                elif existing.status in SUPPRESSED and sub.status not in SUPPRESSED:
                    report.problems.append(
                        f"{sub.email}: {existing.status} on the list; not resubscribed by an import"
                    )
                elif sub.status in SUPPRESSED and existing.status not in SUPPRESSED:
                    existing.status = sub.status
                    report.suppressed.append(existing)
                else:
                    report.unchanged += 1
            if report.added or report.suppressed:
                atomic_write(self.path, dump_csv([*current.subscribers, *report.added]))
        return report

    def set_status(self, address: str, status: str) -> Subscriber:
        """Change one subscriber's status (unsubscribe, mark bounced); SubscriberError if absent."""
        if status not in STATUSES:
            raise SubscriberError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        try:
            key = email_key(normalize_email(address))
        except ValueError as exc:
            raise SubscriberError(f"{clean_name(address)[:80]!r} is not a valid address: {exc}") from None
        with write_lock(self.derived_dir):
            current = self.load()
            for sub in current.subscribers:
                if sub.key == key:
                    if sub.status != status:
                        sub.status = status
                        atomic_write(self.path, dump_csv(current.subscribers))
                    return sub
        raise SubscriberError(f"{address} is not on the list ({self.path.name}); `newsletter subscribers list`")

    def suppress(self, address: str, status: str) -> bool | None:
        """Make a subscriber's status stronger (unsubscribed < bounced < complained), never weaker.

        True when it changed, False when an equal or stronger status was there, None when the
        address is not on the list.
        """
        return self.suppress_many([(address, status)])[0]

    def suppress_many(self, changes: Sequence[tuple[str, str]]) -> list[bool | None]:
        """`suppress` for each (address, status) in turn, with one read and at most one write of the file.

        `bounces pull` finds hundreds of addresses in one mailbox; rewriting the CSV once per
        finding made that quadratic. Results are `suppress`'s, in order (a repeated address sees
        the status an earlier change gave it).
        """
        results: list[bool | None] = []
        with write_lock(self.derived_dir):
            current = self.load()
            by_key = {sub.key: sub for sub in current.subscribers}
            for address, status in changes:
                try:
                    sub = by_key.get(email_key(normalize_email(address)))
                except ValueError:
                    sub = None
                if sub is None:
                    results.append(None)
                elif STATUS_RANK.get(sub.status, 0) < STATUS_RANK[status]:
                    sub.status = status
                    results.append(True)
                else:
                    results.append(False)
            if any(results):
                atomic_write(self.path, dump_csv(current.subscribers))
        return results

    def counts(self) -> dict[str, int]:
        """How many subscribers have each status, plus `total`."""
        subs = self.load().subscribers
        counts = {status: sum(s.status == status for s in subs) for status in STATUSES}
        counts["total"] = len(subs)
        return counts


MAX_FILE_BYTES = 50_000_000


def load_file(path: Path) -> LoadResult:
    """Read a subscriber CSV; a missing file is an empty list, an unreadable one SubscriberError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return LoadResult([], [])
    except OSError as exc:
        raise SubscriberError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise SubscriberError(f"{path}: larger than {MAX_FILE_BYTES // 1_000_000} MB; not a subscriber list")
    text = decode_csv_bytes(data, path)
    if "\x00" in text:
        raise SubscriberError(f"{path}: contains NUL characters; not a text CSV (save it as UTF-8 CSV)")
    try:
        return parse_csv(text, source=path.name)
    except csv.Error as exc:
        raise SubscriberError(f"{path}: not valid CSV ({exc})") from None


def decode_csv_bytes(data: bytes, path: Path) -> str:
    """The text of a CSV file: UTF-8 (with or without BOM) or UTF-16 (BOM, or the NUL pattern of ASCII).

    Nothing else is guessed: a legacy 8-bit file (cp1252 ...) would decode to plausible garbage in
    names, so it is refused with what to do instead.
    """
    encoding = unicode_encoding(data) or "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SubscriberError(
            f"{path}: not valid {encoding.upper()} (byte {exc.start}); save it as UTF-8 CSV "
            "(in a spreadsheet: CSV UTF-8)"
        ) from None

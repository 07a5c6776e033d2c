"""Subscriber exports of other platforms → our rows (`subscribers import FILE --from FORMAT`). Pure.

Known shapes (see ../shared/research/mail-platforms-and-capture.md): Mailchimp (a zip of
`subscribed_*`, `unsubscribed_*`, `cleaned_*` CSVs, or one of them), Substack, Buttondown, Ghost,
listmonk, beehiiv, Kit, and our own CSV. With `auto` the format is recognised from the header.

The one rule that matters: a suppressed person (unsubscribed, bounced, complained, removed,
blocklisted) is never made active by a migration. Every row's status is mapped explicitly; an
unknown status is a problem line, never a guess of "active". When an address appears twice (say in
Mailchimp's subscribed and cleaned files), the stronger suppression wins.

CSV dialects are sniffed: a UTF-8 or UTF-16 BOM, a `sep=;` first line (Excel), `;` or tab
separators. Each bad row is one line naming the file and the line number.
"""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..text import csv_rows
from .subscribers import (
    MAX_FILE_BYTES,
    STATUS_RANK,
    LoadResult,
    Subscriber,
    SubscriberError,
    clean_name,
    decode_csv_bytes,
    normalize_email,
    parse_csv,
    restore_cell,
)

FORMATS = ("auto", "csv", "mailchimp", "substack", "buttondown", "ghost", "listmonk", "beehiiv", "kit")

Row = dict[str, str]


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "yes", "1", "t", "y")


def _first(row: Row, *names: str) -> str:
    return next((row[n] for n in names if row.get(n, "").strip()), "")


def _name(row: Row) -> str:
    full = _first(row, "name", "full name", "full_name")
    if full:
        return full
    first = _first(row, "first name", "first_name", "fname")
    last = _first(row, "last name", "last_name", "lname")
    return f"{first} {last}".strip()


# Each mapper: a row (lower-cased column names) -> our status, or None for an unknown value.
def _listmonk(row: Row) -> str | None:
    return {"enabled": "active", "disabled": "unsubscribed", "blocklisted": "unsubscribed"}.get(
        row.get("status", "").strip().lower())


def _buttondown(row: Row) -> str | None:
    kind = row.get("subscriber_type", "").strip().lower()
    if kind in ("regular", "premium", "gifted", "trialed", "paid", "churning", "past_due", "comped"):
        return "active"
    return {"unactivated": "unconfirmed", "unpaid": "unconfirmed", "unsubscribed": "unsubscribed",
            "undeliverable": "bounced", "complained": "complained", "removed": "unsubscribed",
            "blocked": "unsubscribed", "spammy": "complained"}.get(kind)


def _substack(row: Row) -> str | None:
    if _truthy(row.get("email_disabled", "")):
        return "unsubscribed"
    return "active"


def _ghost(row: Row) -> str | None:
    if row.get("deleted_at", "").strip():
        return "unsubscribed"
    value = row.get("subscribed_to_emails", "").strip().lower()
    if value in ("true", "false", ""):
        return "active" if value == "true" else "unsubscribed"
    return None


def _beehiiv(row: Row) -> str | None:
    if row.get("unsubscribed_at", "").strip():
        return "unsubscribed"
    return {"active": "active", "inactive": "unsubscribed", "pending": "unconfirmed",
            "validating": "unconfirmed", "invalid": "bounced"}.get(row.get("status", "").strip().lower())


def _kit(row: Row) -> str | None:
    return {"active": "active", "cancelled": "unsubscribed", "canceled": "unsubscribed", "bounced": "bounced",
            "complained": "complained", "inactive": "unsubscribed"}.get(row.get("state", "").strip().lower())


def _mailchimp(row: Row) -> str | None:
    if row.get("clean_time", "").strip():
        return "bounced"
    if row.get("unsub_time", "").strip():
        return "unsubscribed"
    return row.get("__status__") or "active"


MAPPERS: dict[str, Callable[[Row], str | None]] = {
    "listmonk": _listmonk, "buttondown": _buttondown, "substack": _substack, "ghost": _ghost,
    "beehiiv": _beehiiv, "kit": _kit, "mailchimp": _mailchimp,
}
STATUS_COLUMN = {"listmonk": "status", "buttondown": "subscriber_type", "ghost": "subscribed_to_emails",
                 "beehiiv": "status", "kit": "state", "substack": "email_disabled", "mailchimp": "status"}
EMAIL_COLUMNS = ("email", "email_address", "email address", "e-mail")
TIME_COLUMNS = ("confirm_time", "optin_time", "subscription_date", "creation_date", "created_at")


def detect(columns: set[str]) -> str:
    """The export format a header row belongs to (`csv` when it is none of the platforms')."""
    if "email address" in columns or "leid" in columns:
        return "mailchimp"
    if "subscriber_type" in columns:
        return "buttondown"
    if "email_disabled" in columns or "active_subscription" in columns:
        return "substack"
    if "subscribed_to_emails" in columns:
        return "ghost"
    if "uuid" in columns and "status" in columns:
        return "listmonk"
    if "email_address" in columns and "state" in columns:
        return "kit"
    if "status" in columns and ("unsubscribed_at" in columns or "tier" in columns):
        return "beehiiv"
    return "csv"


def read_export(path: Path, fmt: str = "auto") -> tuple[LoadResult, str]:
    """Rows of an export file and the format used; SubscriberError when the file cannot be read."""
    if fmt not in FORMATS:
        raise SubscriberError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as exc:
        raise SubscriberError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if is_zip:
        if fmt not in ("auto", "mailchimp"):
            raise SubscriberError(f"{path} is a zip file; only Mailchimp exports come as a zip (--from mailchimp)")
        return _mailchimp_zip(path), "mailchimp"
    try:
        data = path.read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise SubscriberError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise SubscriberError(f"{path}: larger than {MAX_FILE_BYTES // 1_000_000} MB; not a subscriber export")
    return parse_export(decode_csv_bytes(data, path), fmt, source=path.name)


def _mailchimp_zip(path: Path) -> LoadResult:
    merged = LoadResult([], [])
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            base = Path(info.filename).name.lower()
            if info.is_dir() or not base.endswith(".csv"):
                continue
            status = next((s for prefix, s in (("subscribed", "active"), ("unsubscribed", "unsubscribed"),
                                               ("cleaned", "bounced")) if base.startswith(prefix)), None)
            if status is None:
                merged.problems.append(f"{info.filename}: not a Mailchimp list file (subscribed_, unsubscribed_, "
                                       "cleaned_); skipped")
                continue
            if info.file_size > MAX_FILE_BYTES:
                raise SubscriberError(f"{path}: {info.filename} is larger than {MAX_FILE_BYTES // 1_000_000} MB")
            text = decode_csv_bytes(archive.read(info), Path(info.filename))
            part, _ = parse_export(text, "mailchimp", source=Path(info.filename).name, default_status=status)
            merged.subscribers.extend(part.subscribers)
            merged.problems.extend(part.problems)
    return _dedupe(merged, path.name)


def _dialect(text: str) -> tuple[str, str, int]:
    """(text without a `sep=` line, delimiter, lines skipped)."""
    first, _, rest = text.partition("\n")
    if first.strip().lower().startswith("sep=") and len(first.strip()) == 5:
        return rest, first.strip()[4], 1
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    return text, delimiter, 0


def parse_export(text: str, fmt: str = "auto", *, source: str = "export.csv",
                 default_status: str = "") -> tuple[LoadResult, str]:
    """Parse export text; the header decides the format when `fmt` is `auto`."""
    text = text.lstrip("\ufeff")
    body, delimiter, skipped = _dialect(text)
    rows = csv_rows(body, delimiter=delimiter)
    if not rows:
        return LoadResult([], []), fmt if fmt != "auto" else "csv"
    columns = [cell.strip().lower() for cell in rows[0]]
    found = detect(set(columns)) if fmt == "auto" else fmt
    if found == "csv":
        # Our own shape (or a plain list of addresses): the established parser, same delimiter.
        if delimiter in (",", "\t"):
            return parse_csv(body, source=source), "csv"
        normalized = "\n".join(",".join(_quote(c) for c in row) for row in rows)
        return parse_csv(normalized, source=source), "csv"
    email_column = next((c for c in EMAIL_COLUMNS if c in columns), None)
    if email_column is None:
        raise SubscriberError(f"{source}: no email column in the header (looked for {', '.join(EMAIL_COLUMNS)})")
    mapper = MAPPERS[found]
    result = LoadResult([], [])
    for index, cells in enumerate(rows[1:], start=2 + skipped):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(columns):
            result.problems.append(f"{source}:{index}: {len(cells)} cells for {len(columns)} columns; skipped")
            continue
        row = {name: restore_cell(cells[i].strip()) if i < len(cells) else "" for i, name in enumerate(columns)}
        if default_status:
            row["__status__"] = default_status
        raw = row.get(email_column, "").strip()
        raw = raw[7:] if raw.lower().startswith("mailto:") else raw
        try:
            address = normalize_email(raw)
        except ValueError as exc:
            result.problems.append(f"{source}:{index}: invalid address {clean_name(raw)[:80]!r}: {exc}")
            continue
        if found == "substack" and address.endswith("@deletion-request.substack.com"):
            continue  # Substack's placeholder for a deleted account: nobody to mail
        status = mapper(row)
        if status is None:
            column = STATUS_COLUMN[found]
            result.problems.append(f"{source}:{index}: unknown {found} {column} "
                                   f"{clean_name(row.get(column, ''))[:40]!r}; skipped (never guessed active)")
            continue
        stamp = clean_name(_first(row, *TIME_COLUMNS))
        result.subscribers.append(Subscriber(address, clean_name(_name(row)), status, stamp))
    return _dedupe(result, source), found


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n\r') else cell


def _dedupe(result: LoadResult, source: str = "") -> LoadResult:
    """One row per address; a repeated address keeps its strongest suppression."""
    by_key: dict[str, Subscriber] = {}
    order: list[str] = []
    for sub in result.subscribers:
        seen = by_key.get(sub.key)
        if seen is None:
            by_key[sub.key] = sub
            order.append(sub.key)
        elif STATUS_RANK.get(sub.status, 0) > STATUS_RANK.get(seen.status, 0):
            by_key[sub.key] = dataclasses.replace(sub, name=sub.name or seen.name)
    # Not a problem line: Mailchimp lists a person in several files as a matter of course.
    return LoadResult([by_key[k] for k in order], list(result.problems))

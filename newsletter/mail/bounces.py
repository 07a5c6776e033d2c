"""`newsletter bounces pull --mbox FILE`: read what came back and suppress those addresses.

Three kinds of message are understood; everything else is counted as ignored:

* Delivery-status notifications (RFC 3464, `multipart/report; report-type=delivery-status`): each
  recipient block with `Action: failed` and a `5.x.x` status marks its `Final-Recipient` bounced.
  Delays and 4.x.x statuses change nothing (the next send retries).
* Feedback reports (ARF, RFC 5965, `report-type=feedback-report`): the complained-about recipient
  (`Original-Rcpt-To`, else the `To` of the returned message or headers) is marked complained.
* Unsubscribe requests sent to the List-Unsubscribe `mailto:` (subject starting "unsubscribe"): the
  *sender* of the request is unsubscribed (never an address named in the text, which anyone could
  write). Auto-replies (`Auto-Submitted` other than `no`) are ignored.

A status is only ever made stronger: complained > bounced > unsubscribed. Pure parsing here; the
CLI applies the findings to the CSV or the list server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email
import email.policy
import mailbox
import re
from collections.abc import Iterable
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import imaplib

from .subscribers import STATUS_RANK, SubscriberError, normalize_email

_STATUS = re.compile(r"^\s*([245])\.\d{1,3}\.\d{1,3}")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One address to suppress, and why (`dsn 5.1.1`, `arf abuse`, `mailto`, `verp`).

    A bounce known only by its VERP return path has no `email` but the subscriber's `tag`.
    """

    email: str
    status: str
    reason: str
    tag: str = ""


@dataclasses.dataclass
class Scan:
    """What an mbox held."""

    messages: int = 0
    findings: list[Finding] = dataclasses.field(default_factory=list)
    temporary: int = 0
    ignored: int = 0


def _address(value: str | None) -> str | None:
    """The address in a header value like `rfc822; ann@example.org` or `Ann <ann@example.org>`."""
    if not value:
        return None
    text = str(value).split(";", 1)[1] if ";" in str(value) else str(value)
    _name, addr = parseaddr(text.strip())
    try:
        return normalize_email(addr)
    except ValueError:
        return None


def _report_type(msg: Message) -> str:
    if msg.get_content_type() != "multipart/report":
        return ""
    return str(msg.get_param("report-type", "") or "").lower()


def _dsn(msg: Message) -> tuple[list[Finding], int]:
    findings: list[Finding] = []
    temporary = 0
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks: Any = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks[1:]:  # the first block is about the message, the rest one per recipient
            action = str(block.get("Action", "")).strip().lower()
            status = _STATUS.match(str(block.get("Status", "")))
            addr = _address(block.get("Final-Recipient")) or _address(block.get("Original-Recipient"))
            if addr is None:
                continue
            if action == "failed" and status and status.group(1) == "5":
                findings.append(Finding(addr, "bounced", f"dsn {str(block.get('Status')).strip()[:20]}"))
            elif action in ("failed", "delayed"):
                temporary += 1
    return findings, temporary


def _arf(msg: Message) -> list[Finding]:
    kind = "abuse"
    recipient: str | None = None
    returned: str | None = None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/feedback-report":
            payload: Any = part.get_payload()
            fields: Any = payload[0] if isinstance(payload, list) and payload else None
            if fields is None:
                fields = HeaderParser().parsestr(str(payload))
            kind = str(fields.get("Feedback-Type", "abuse")).strip().lower() or "abuse"
            recipient = _address(fields.get("Original-Rcpt-To"))
        elif ctype == "message/rfc822":
            inner: Any = part.get_payload()
            if isinstance(inner, list) and inner:
                returned = _address(inner[0].get("To"))
        elif ctype == "text/rfc822-headers":
            raw: Any = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            returned = _address(HeaderParser().parsestr(text).get("To"))
    addr = recipient or returned
    if addr is None or kind not in ("abuse", "fraud", "other"):
        return []
    return [Finding(addr, "complained", f"arf {kind}")]


def _mailto_unsubscribe(msg: Message) -> list[Finding]:
    subject = str(msg.get("Subject", "")).strip().lower()
    auto = str(msg.get("Auto-Submitted", "no")).strip().lower()
    if not subject.startswith("unsubscribe") or auto != "no":
        return []
    senders = getaddresses([str(msg.get("From", ""))])
    if len(senders) != 1:
        return []
    addr = _address(senders[0][1])
    return [Finding(addr, "unsubscribed", "mailto")] if addr else []


_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(r"undeliver|delivery (status|failure|has failed)|returned mail|failure notice|"
                             r"could not be delivered", re.IGNORECASE)


def verp_tag(msg: Message, verp_local: str) -> str:
    """The subscriber tag of a `<verp_local>+<tag>@…` address the message was delivered to ('' if none)."""
    if not verp_local:
        return ""
    pattern = re.compile(rf"^{re.escape(verp_local)}\+([A-Za-z0-9_-]{{8,64}})@", re.IGNORECASE)
    for header in ("X-Original-To", "Delivered-To", "Envelope-To", "To"):
        for _name, addr in getaddresses([str(v) for v in msg.get_all(header, [])]):
            match = pattern.match(addr.strip())
            if match:
                return match.group(1)
    return ""


def classify(msg: Message, verp_local: str = "") -> tuple[list[Finding], int]:
    """Findings in one message and how many temporary failures it reported.

    With `verp_local` (the local part of `[email] bounce_address`), a bounce delivered to
    `<local>+<tag>@…` that names no recipient we can read (a DSN without usable fields, or a
    plain-text "undeliverable" notice) is a finding for that tag.
    """
    kind = _report_type(msg)
    if kind == "delivery-status":
        found, temporary = _dsn(msg)
        if not found and not temporary and (tag := verp_tag(msg, verp_local)):
            return [Finding("", "bounced", "verp dsn", tag)], 0
        return found, temporary
    if kind == "feedback-report":
        return _arf(msg), 0
    tag = verp_tag(msg, verp_local)
    if tag:
        _name, sender = parseaddr(str(msg.get("From", "")))
        if _BOUNCE_SENDER.match(sender) or _BOUNCE_SUBJECT.search(str(msg.get("Subject", ""))):
            return [Finding("", "bounced", "verp", tag)], 0
    return _mailto_unsubscribe(msg), 0


def scan_messages(messages: Iterable[Message], verp_local: str = "") -> Scan:
    """Classify every message; repeated findings for one address keep the strongest status."""
    scan = Scan()
    best: dict[str, Finding] = {}
    for msg in messages:
        scan.messages += 1
        found, temporary = classify(msg, verp_local)
        scan.temporary += temporary
        if not found and not temporary:
            scan.ignored += 1
        for finding in found:
            key = finding.email.lower() or f"tag:{finding.tag}"
            seen = best.get(key)
            if seen is None or STATUS_RANK[finding.status] > STATUS_RANK[seen.status]:
                best[key] = finding
    scan.findings = list(best.values())
    return scan


def scan_mbox(path: Path, verp_local: str = "") -> Scan:
    """Read an mbox file (SubscriberError when it is missing or not a regular file)."""
    if not path.is_file():
        raise SubscriberError(f"{path}: no such mbox file")
    box = mailbox.mbox(str(path), create=False)  # mboxMessage: a compat32 Message
    try:
        return scan_messages(box, verp_local)
    finally:
        box.close()


IMAP_USER_ENV = "NEWSLETTER_IMAP_USER"
IMAP_PASSWORD_ENV = "NEWSLETTER_IMAP_PASSWORD"
MAX_IMAP_MESSAGES = 50_000
MAX_IMAP_MESSAGE_BYTES = 10_000_000


def fetch_imap(hostport: str, *, user: str, password: str, folder: str = "INBOX",
               timeout: float = 30.0) -> list[Message]:
    """Every message of `folder`, read-only (EXAMINE: nothing is deleted, moved or marked seen).

    `host` alone or `host:993` is IMAP over TLS; any other port is plain IMAP that upgrades with
    STARTTLS when offered, and the password is only sent in clear text to a loopback address.
    SubscriberError with one line for every failure (the password is never part of it).
    """
    import imaplib

    from .deliver import parse_hostport

    host, port = parse_hostport(hostport)
    if not re.search(r":\d+$", hostport.strip()):
        port = 993  # IMAP over TLS unless a port is given
    where = f"IMAP {host}:{port}"
    conn = open_imap(host, port, security="ssl" if port == 993 else "starttls", user=user, password=password,
                     timeout=timeout)
    try:
        status, _ = conn.select(quote_folder(folder), readonly=True)
        if status != "OK":
            raise SubscriberError(f"{where}: no folder {folder!r}")
        status, data = conn.uid("SEARCH", "ALL")
        uids: list[bytes] = (data[0] or b"").split() if status == "OK" and data else []
        if len(uids) > MAX_IMAP_MESSAGES:
            raise SubscriberError(f"{where}: {len(uids)} messages in {folder!r}; more than {MAX_IMAP_MESSAGES}, "
                                  "archive some first")
        messages: list[Message] = []
        for uid in uids:
            status, parts = conn.uid("FETCH", uid.decode("ascii"), "(BODY.PEEK[])")
            raw = next((p[1] for p in parts or [] if isinstance(p, tuple) and isinstance(p[1], bytes)), None)
            if status != "OK" or raw is None or len(raw) > MAX_IMAP_MESSAGE_BYTES:
                continue
            messages.append(email.message_from_bytes(raw, policy=email.policy.compat32))
        return messages
    except (OSError, imaplib.IMAP4.error) as exc:
        raise SubscriberError(f"{where}: {type(exc).__name__}: {exc}") from None
    finally:
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def open_imap(host: str, port: int, *, security: str, user: str, password: str,
              timeout: float = 30.0) -> imaplib.IMAP4:
    """A logged-in IMAP connection. `security` is "ssl" (IMAP over TLS, port 993) or "starttls" (plain
    IMAP that upgrades when the server offers STARTTLS; the password goes in clear text only to a
    loopback address). SubscriberError with one line for every failure (never the password).
    """
    import imaplib
    import ssl

    from .deliver import is_loopback

    where = f"IMAP {host}:{port}"
    try:
        if security == "ssl":
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(),
                                                   timeout=timeout)
        else:
            conn = imaplib.IMAP4(host, port, timeout=timeout)
            if "STARTTLS" in conn.capabilities:
                conn.starttls(ssl.create_default_context())
            elif not is_loopback(host):
                conn.shutdown()
                raise SubscriberError(f"refusing to send the IMAP password in clear text to {host}: it offers no "
                                      "STARTTLS; use port 993")
    except (OSError, imaplib.IMAP4.error) as exc:
        raise SubscriberError(f"{where}: cannot connect ({type(exc).__name__}: {exc})") from None
    try:
        conn.login(user, password)
    except (OSError, imaplib.IMAP4.error):
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            conn.logout()
        raise SubscriberError(f"{where}: login refused for {user!r} (check {IMAP_PASSWORD_ENV})") from None
    return conn


def quote_folder(folder: str) -> str:
    """An IMAP folder name as a quoted string (SubscriberError for a line break or NUL in it)."""
    if any(c in folder for c in '\r\n\x00'):
        raise SubscriberError("the IMAP folder name contains a line break or NUL")
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'

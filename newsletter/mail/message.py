"""MIME messages: multipart/alternative (text, then HTML) with list headers. Pure.

Built with `email.message.EmailMessage` and `email.policy.SMTP`, which encodes non-ASCII subjects
and display names (RFC 2047) and writes CRLF line ends. Every header value passes `header_text`
first: CR, LF and other control characters become spaces, so a title like
"Hi\\r\\nBcc: victim@example.com" stays inside the Subject and can never start a header of its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import secrets
from email import policy
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")


class _UrlListHeader:
    """List-Unsubscribe: `<uri>, <uri>` written verbatim, folded only after its commas.

    The stock policy treats it as unstructured text and, finding a URL longer than a line, turns
    it into RFC 2047 encoded words, which no mail client would recognise as a link.
    """

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        kwds["decoded"] = header_text(value)
        kwds["parse_tree"] = None

    def fold(self, *, policy: Any) -> str:
        parts = str(self).split(", ")
        return f"{self.name}: " + ("," + policy.linesep + " ").join(parts) + policy.linesep  # type: ignore[attr-defined]


_REGISTRY = HeaderRegistry()
_REGISTRY.map_to_type("list-unsubscribe", _UrlListHeader)
POLICY = policy.SMTP.clone(header_factory=_REGISTRY)


def header_text(value: str, limit: int = 998) -> str:
    """A header value as one line: control characters (CR/LF included) to spaces, runs collapsed."""
    return re.sub(r"\s+", " ", _CONTROL.sub(" ", str(value))).strip()[:limit]


def address(name: str, email: str) -> Address:
    """A header address; the display name is cleaned and, when non-ASCII, encoded by the policy."""
    local, _, domain = email.strip().rpartition("@")
    if not local or not domain or _CONTROL.search(email):
        raise ValueError(f"not an address: {header_text(email)[:80]!r}")
    return Address(display_name=header_text(name, 200), username=local, domain=domain)


def message_id(issue: int, list_id: str, email: str, domain: str, *, unique: bool = False) -> str:
    """A Message-ID that is the same every time issue N goes to the same address.

    Stable on purpose: if a resumed send has to repeat a message whose fate was unknown, the copy
    carries the same Message-ID and most mail clients (Gmail among them) show it once.
    `unique` adds randomness, for test sends that should not collapse into each other.
    """
    digest = hashlib.sha256(f"{list_id}\x00{email.lower()}".encode()).hexdigest()[:20]
    extra = "." + secrets.token_hex(6) if unique else ""
    return f"<issue-{issue}.{digest}{extra}@{domain}>"


def list_id_header(name: str, list_id: str) -> str:
    """`List-Id: The Gazette <gazette.example.org>` (RFC 2919)."""
    label = header_text(name, 100).replace("<", "").replace(">", "").replace('"', "")
    return f"{label} <{list_id}>" if label else f"<{list_id}>"


def unsubscribe_header(https_url: str, mailto: str, email: str) -> str:
    """`List-Unsubscribe: <mailto:…?subject=unsubscribe…>, <https://…>` (RFC 2369, RFC 8058)."""
    parts = []
    if mailto:
        subject = quote(f"unsubscribe {email}", safe="@")
        parts.append(f"<mailto:{mailto}?subject={subject}>")
    if https_url:
        parts.append(f"<{https_url}>")
    return ", ".join(parts)


@dataclasses.dataclass(frozen=True)
class Envelope:
    """What stays the same for every message of one issue."""

    issue: int
    subject: str
    sender_name: str
    sender_email: str
    list_name: str
    list_id: str
    unsubscribe_mailto: str = ""


def build_message(
    envelope: Envelope,
    *,
    to_email: str,
    to_name: str,
    text: str,
    html: str,
    unsubscribe_url: str,
    date: dt.datetime | None = None,
    msg_id: str | None = None,
) -> EmailMessage:
    """One subscriber's message: multipart/alternative (plain text first, HTML preferred)."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = address(envelope.sender_name, envelope.sender_email)
    msg["To"] = address(to_name, to_email)
    msg["Subject"] = header_text(envelope.subject)
    msg["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    domain = envelope.sender_email.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = msg_id or message_id(envelope.issue, envelope.list_id, to_email, domain)
    msg["List-Id"] = list_id_header(envelope.list_name, envelope.list_id)
    unsubscribe = unsubscribe_header(unsubscribe_url, envelope.unsubscribe_mailto, to_email)
    if unsubscribe:
        msg["List-Unsubscribe"] = unsubscribe
    if unsubscribe_url:
        # RFC 8058: a POST to the https link unsubscribes without a confirmation page.
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-Newsletter-Issue"] = str(envelope.issue)
    # quoted-printable keeps both parts 7-bit (no 8BITMIME needed) and still readable raw.
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    """The message as sent on the wire (CRLF line ends)."""
    return msg.as_bytes(policy=POLICY)

"""Links out of forwarded mail, for `newsletter inbox pull` (pure decisions; the CLI does the I/O).

A message is parsed with email.policy.default; every text/plain and text/html part is decoded with
get_content (so quoted-printable soft breaks and base64 are undone before any URL is looked for).
HTML gives its `<a href>` targets, plain text its URLs. Boilerplate is dropped: unsubscribe /
preferences / view-in-browser links, mailto:, social share and bare profile links, image and
tracking-pixel links, the List-Unsubscribe URLs, and the sender's own homepage root. Click-tracking
redirects are resolved offline when the target is in the query (`?url=`, `?u=`, Google `/url?q=`…):
nothing is fetched at pull time, because a tracker's redirect is a GET that records a click and
costs one round trip per link; a tracker whose target is opaque is kept as it is and the normal
fetch of `add` follows its redirect.

The note is "From <display name> (<domain>) — <subject>": the sender's full address is left out
because the item files go into git and the sender may be a colleague; the domain is enough to say
which newsletter it came from.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import mailbox as stdlib_mailbox
import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import parseaddr
from html.parser import HTMLParser
from pathlib import Path

from ..text import clean_external
from ..web.boilerplate import is_boilerplate, resolve_redirect

NOTE_MAX = 300
URL_RE = re.compile(r"https?://[^\s<>\"'()\[\]{}]+", re.IGNORECASE)
TRAILING = ".,;:!?*_'\">)]}"


@dataclasses.dataclass(frozen=True)
class MailLinks:
    """What one message gives: its links (deduped, in order), and the note for each item."""

    subject: str
    sender: str
    note: str
    links: list[str]


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            for name, value in attrs:
                if name == "href" and value:
                    self.hrefs.append(value.strip())


def parse_message(data: bytes) -> EmailMessage:
    """A message from its bytes (email.policy.default)."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _unsubscribe_urls(msg: EmailMessage) -> frozenset[str]:
    value = str(msg.get("List-Unsubscribe", "") or "")
    return frozenset(u.strip() for u in re.findall(r"<([^>]+)>", value))


def _texts(msg: EmailMessage) -> Iterator[tuple[str, str]]:
    for part in msg.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError, AssertionError):
            payload = part.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        if isinstance(content, str):
            yield ctype, content


def raw_links(msg: EmailMessage) -> list[str]:
    """Every link in the message's text parts, HTML anchors first, in order (not yet filtered)."""
    found: list[str] = []
    for ctype, text in _texts(msg):
        if ctype == "text/html":
            parser = _Anchors()
            try:
                parser.feed(text)
                parser.close()
            except Exception:  # html.parser on hostile markup: keep what it found
                pass
            found.extend(parser.hrefs)
    for ctype, text in _texts(msg):
        if ctype == "text/plain":
            # A multipart/alternative's text part repeats the HTML's links: deduping drops the copies.
            found.extend(m.group(0).rstrip(TRAILING) for m in URL_RE.finditer(text))
    return found


def sender_of(msg: EmailMessage) -> tuple[str, str]:
    """(display name, domain) of the From: header; the local part of the address is not kept."""
    name, addr = parseaddr(str(msg.get("From", "") or ""))
    domain = addr.rpartition("@")[2].lower() if "@" in addr else ""
    return clean_external(name, limit=80), clean_external(domain, limit=80)


def note_for(msg: EmailMessage) -> tuple[str, str, str]:
    """(subject, sender, note) for a message's items, all cleaned of control characters."""
    subject = clean_external(str(msg.get("Subject", "") or ""), limit=200)
    name, domain = sender_of(msg)
    sender = f"{name} ({domain})" if name and domain else (name or domain or "unknown sender")
    note = clean_external(f"From {sender} — {subject}" if subject else f"From {sender}", limit=NOTE_MAX)
    return subject, sender, note


def links_of(msg: EmailMessage) -> MailLinks:
    """The links worth an inbox item in one message, deduped, with the note for each."""
    subject, sender, note = note_for(msg)
    _, domain = sender_of(msg)
    unsubscribe = _unsubscribe_urls(msg)
    seen: set[str] = set()
    links: list[str] = []
    for href in raw_links(msg):
        if href in unsubscribe or is_boilerplate(href, unsubscribe=unsubscribe):
            continue
        url = resolve_redirect(href)
        if is_boilerplate(url, sender_domain=domain, unsubscribe=unsubscribe):
            continue
        key = url.rstrip("/")
        if key in seen:
            continue
        seen.add(key)
        links.append(url)
    return MailLinks(subject=subject, sender=sender, note=note, links=links)


def read_mbox(path: Path) -> Iterator[tuple[str, bytes]]:
    """(key, bytes) for each message of an mbox file."""
    box = stdlib_mailbox.mbox(str(path), create=False)
    try:
        for key in box.iterkeys():
            yield str(key), box.get_bytes(key)
    finally:
        box.close()


class ImapInbox:
    """Unread messages of one IMAP folder: read with BODY.PEEK[] (nothing marked at fetch), marked
    \\Seen one by one with `mark_seen` once the caller has saved that message's items.

    The connection and login are bounces' `open_imap` (TLS on 993, STARTTLS otherwise, no clear-text
    password to a host that is not loopback). Errors are SubscriberError with one line, never the
    password.
    """

    def __init__(self, hostport: str, *, user: str, password: str, folder: str = "INBOX",
                 timeout: float = 30.0) -> None:
        from ..mail.bounces import open_imap, quote_folder
        from ..mail.deliver import parse_hostport
        from ..mail.subscribers import SubscriberError

        host, port = parse_hostport(hostport)
        if not re.search(r":\d+$", hostport.strip()):
            port = 993
        self.where = f"IMAP {host}:{port}"
        self._error = SubscriberError
        self.conn = open_imap(host, port, security="ssl" if port == 993 else "starttls", user=user,
                              password=password, timeout=timeout)
        status, _ = self.conn.select(quote_folder(folder))
        if status != "OK":
            self.close()
            raise SubscriberError(f"{self.where}: no folder {folder!r}")

    def unseen(self) -> Iterator[tuple[str, bytes]]:
        """(uid, bytes) of each unread message, without marking it read."""
        status, data = self.conn.uid("SEARCH", "UNSEEN")
        if status != "OK":
            raise self._error(f"{self.where}: SEARCH UNSEEN failed")
        uids = (data[0] or b"").split() if data else []
        for uid in uids:
            status, parts = self.conn.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
            if status != "OK":
                raise self._error(f"{self.where}: cannot fetch message {uid.decode()}")
            for part in parts:
                if isinstance(part, tuple) and len(part) == 2:
                    yield uid.decode(), part[1]
                    break

    def mark_seen(self, uid: str) -> None:
        status, _ = self.conn.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        if status != "OK":
            raise self._error(f"{self.where}: cannot mark message {uid} read")

    def close(self) -> None:
        import contextlib
        import imaplib

        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            self.conn.logout()

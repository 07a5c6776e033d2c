"""MIME messages: multipart/alternative (text, then HTML) with list headers. Pure.

Headers are written by this module, not by the email package's header classes. Reason: the stdlib
header parser *decodes* RFC 2047 encoded words found in a value (`=?utf-8?b?...?=`) and its folder
then writes the decoded CR/LF out raw, so a subscriber named `=?utf-8?b?DQpSZXBseS1Ubzog...?=` or
an issue titled like that could add headers or replace the body. Here every header value is plain
text, never pre-encoded words:

1. `header_text` turns CR, LF, U+2028 and every other control or line-break character into a space.
2. A value that is printable ASCII without `=?` is written as it is (display names quoted when
   they hold specials); anything else (non-ASCII, or text that merely *looks* like an encoded word)
   is encoded by us as UTF-8 base64 encoded words, so the reader sees exactly the text given.
3. The result is one line of printable ASCII, folded only at spaces, and stored in the message as
   a `_Verbatim` header that the email package writes out unchanged (never re-parsed).

Addresses are validated with the subscriber rules and built with `email.headerregistry.Address`
(its `addr_spec`); only the display name goes through step 2.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

# Everything str.splitlines() breaks at, plus the other C0/C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPECIALS = frozenset('()<>[]:;@\\,."')
# Characters a URL may keep inside `<...>` of List-Unsubscribe (RFC 3986 reserved + unreserved + %).
_URL_SAFE = ":/?#[]@!$&'()*+,;=-._~%"
_LIST_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
_FOLD_AT = 78
# A word "=?utf-8?b?" + base64 + "?=" stays within RFC 2047's 75 characters with 45 bytes of text.
_WORD_BYTES = 45

POLICY = policy.SMTP


class _Verbatim(str):
    """A header value this module has already encoded: the email package writes it unchanged.

    `EmailPolicy` stores a value that has a matching `name` attribute as is and folds it by calling
    its `fold`, so the stdlib parser (which would decode encoded words) never sees it.
    """

    name: str

    def __new__(cls, name: str, value: str) -> _Verbatim:
        if not all(" " <= char <= "~" for char in value) or "  " in value:
            raise ValueError(f"{name}: header value must be printable ASCII with single spaces")
        self = super().__new__(cls, value)
        self.name = name
        return self

    def fold(self, *, policy: Any) -> str:
        """`Name: value`, folded before a space wherever a line would pass 78 characters."""
        lines: list[str] = []
        line = f"{self.name}:"
        for word in str(self).split(" "):
            if len(line) + 1 + len(word) > _FOLD_AT and line.strip() and not line.endswith(":"):
                lines.append(line)
                line = ""
            line += " " + word
        lines.append(line)
        return str(policy.linesep).join(lines) + str(policy.linesep)


def header_text(value: str, limit: int = 900) -> str:
    """A header value as one line: control characters (CR/LF included) to spaces, runs collapsed.

    Lone surrogates (undecodable bytes smuggled into a str) become U+FFFD so the text always
    encodes. The default limit keeps `Name: value` within SMTP's 998-character line limit.
    """
    text = str(value).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    text = re.sub(r"\s+", " ", _CONTROL.sub(" ", text)).strip()
    return text[:limit].rstrip()


def _is_plain(text: str) -> bool:
    """True when `text` can go into a header as it is: printable ASCII that no reader would decode."""
    return all(" " <= char <= "~" for char in text) and "=?" not in text


def encoded_words(text: str) -> str:
    """`text` as RFC 2047 encoded words (UTF-8, base64), each at most 75 characters, space-separated.

    A reader drops the spaces between adjacent encoded words, so the text's own spaces are encoded
    inside the words and nothing is lost; a multi-byte character is never split across two words.
    """
    words: list[str] = []
    chunk = b""
    for char in text:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > _WORD_BYTES:
            words.append(chunk)  # type: ignore[arg-type]
            chunk = b""
        chunk += data
    if chunk:
        words.append(chunk)  # type: ignore[arg-type]
    return " ".join(f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words)  # type: ignore[arg-type]


def _encode_runs(text: str, plain: Callable[[str], bool]) -> str:
    """Words of `text` that `plain` accepts stay readable; every run of other words is encoded.

    Consecutive words needing encoding go into one run, their spaces encoded inside it, because a
    reader drops the white space between two adjacent encoded words (RFC 2047 section 6.2).
    """
    out: list[str] = []
    run: list[str] = []
    for word in text.split(" "):
        if plain(word):
            if run:
                out.append(encoded_words(" ".join(run)))
                run = []
            out.append(word)
        else:
            run.append(word)
    if run:
        out.append(encoded_words(" ".join(run)))
    return " ".join(out)


def unstructured(text: str, limit: int = 900) -> str:
    """An unstructured header value (Subject): the cleaned text, words encoded only where needed."""
    return _encode_runs(header_text(text, limit), _is_plain)


def phrase(text: str, limit: int = 200) -> str:
    """A display name as an RFC 5322 phrase: atoms, a quoted string, or atoms and encoded words."""
    clean = header_text(text, limit)
    if not clean or not _is_plain(clean):
        return _encode_runs(clean, lambda word: _is_plain(word) and _SPECIALS.isdisjoint(word))
    if not _SPECIALS.isdisjoint(clean):
        return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return clean


def address(name: str, email: str) -> Address:
    """A validated address (the subscriber rules); ValueError names what is wrong."""
    from .subscribers import normalize_email

    text = str(email or "")
    if _CONTROL.search(text) or "<" in text:
        raise ValueError(f"not an address: {header_text(text)[:80]!r}")
    addr_spec = normalize_email(text)
    local, _, domain = addr_spec.rpartition("@")
    return Address(display_name=header_text(name, 200), username=local, domain=domain)


def address_value(name: str, email: str) -> str:
    """`Display Name <user@example.org>` ready for a header (the name encoded when needed)."""
    addr = address(name, email)
    display = phrase(name)
    return f"{display} <{addr.addr_spec}>" if display else addr.addr_spec


def message_id(issue: int, list_id: str, email: str, domain: str, *, unique: bool = False) -> str:
    """A Message-ID that is the same every time issue N goes to the same address.

    Stable on purpose: if a resumed send has to repeat a message whose fate was unknown, the copy
    carries the same Message-ID and most mail clients (Gmail among them) show it once.
    `unique` adds randomness, for test sends that should not collapse into each other.
    """
    digest = hashlib.sha256(f"{list_id}\x00{email.lower()}".encode()).hexdigest()[:20]
    extra = "." + secrets.token_hex(6) if unique else ""
    return f"<issue-{int(issue)}.{digest}{extra}@{domain}>"


def check_list_id(list_id: str) -> str:
    """The list id (RFC 2919: dot-atom like `gazette.example.org`); ValueError otherwise."""
    if len(list_id) > 200 or not _LIST_ID.fullmatch(list_id):
        raise ValueError(f"list id {header_text(list_id)[:80]!r} must look like name.example.org "
                         "(letters, digits, dashes and dots)")
    return list_id


def list_id_header(name: str, list_id: str) -> str:
    """`List-Id: The Gazette <gazette.example.org>` (RFC 2919)."""
    label = phrase(name, 100)
    check_list_id(list_id)
    return f"{label} <{list_id}>" if label else f"<{list_id}>"


def header_url(url: str) -> str:
    """A URL fit for `<...>` in a header: every other character percent-encoded, `=?` broken up."""
    text = quote(str(url).encode("utf-8", "surrogatepass"), safe=_URL_SAFE)
    return text.replace("=?", "=%3F")


def unsubscribe_header(https_url: str, mailto: str, email: str) -> str:
    """`List-Unsubscribe: <mailto:…?subject=unsubscribe…>, <https://…>` (RFC 2369, RFC 8058)."""
    parts = []
    if mailto:
        target = address("", mailto).addr_spec
        subject = quote(f"unsubscribe {email}", safe="@")
        parts.append(f"<mailto:{target}?subject={subject}>")
    if https_url:
        parts.append(f"<{header_url(https_url)}>")
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
    """One subscriber's message: multipart/alternative (plain text first, HTML preferred).

    Every header is set through `_Verbatim` (see the module docstring); ValueError when an address
    or the list id is invalid.
    """
    sender = address(envelope.sender_name, envelope.sender_email)
    domain = sender.domain or "localhost"
    headers = {
        "From": address_value(envelope.sender_name, envelope.sender_email),
        "To": address_value(to_name, to_email),
        "Subject": unstructured(envelope.subject),
        "Date": format_datetime(date or dt.datetime.now(dt.UTC)),
        "Message-ID": msg_id or message_id(envelope.issue, envelope.list_id, to_email, domain),
        "List-Id": list_id_header(envelope.list_name, envelope.list_id),
    }
    unsubscribe = unsubscribe_header(unsubscribe_url, envelope.unsubscribe_mailto, to_email)
    if unsubscribe:
        headers["List-Unsubscribe"] = unsubscribe
    if unsubscribe_url:
        # RFC 8058: a POST to the https link unsubscribes without a confirmation page.
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    headers["X-Newsletter-Issue"] = str(int(envelope.issue))
    msg = EmailMessage(policy=POLICY)
    for name, value in headers.items():
        msg[name] = _Verbatim(name, value)
    # quoted-printable keeps both parts 7-bit (no 8BITMIME needed) and still readable raw.
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    """The message as sent on the wire (CRLF line ends)."""
    return msg.as_bytes(policy=POLICY)

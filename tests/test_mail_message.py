"""MIME messages (headers, encodings, header injection) and unsubscribe tokens."""

from __future__ import annotations

import email
import email.policy
from urllib.parse import parse_qs, urlsplit

import pytest

from newsletter.mail import message, tokens

SECRET = "s3cr3t-value-for-tests-0123456789"
ENVELOPE = message.Envelope(
    issue=7,
    subject="Issue #7: Ünïcode — “quotes” and emoji 🚀",
    sender_name="Zoë at The Gazette",
    sender_email="editors@gazette.example.org",
    list_name="The Gazette",
    list_id="the-gazette.gazette.example.org",
    unsubscribe_mailto="editors@gazette.example.org",
)


def build(**overrides: object) -> email.message.EmailMessage:
    signer = tokens.Signer(ENVELOPE.list_id, "https://gazette.example.org/unsubscribe", SECRET)
    to = str(overrides.pop("to_email", "ann@example.org"))
    envelope = overrides.pop("envelope", ENVELOPE)
    kwargs = {"to_email": to, "to_name": "Ann Ëxample", "text": "Héllo\n\nplain text",
              "html": "<p>Héllo</p>", "unsubscribe_url": signer.url(to), **overrides}
    raw = message.to_bytes(message.build_message(envelope, **kwargs))  # type: ignore[arg-type]
    assert b"\r\n" in raw and all(byte < 128 for byte in raw), "7-bit wire format"
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_headers_and_both_parts_round_trip() -> None:
    msg = build()
    assert msg["Subject"] == ENVELOPE.subject
    assert msg["From"].addresses[0].display_name == "Zoë at The Gazette"
    assert msg["From"].addresses[0].addr_spec == "editors@gazette.example.org"
    assert msg["To"].addresses[0].display_name == "Ann Ëxample"
    assert msg["Date"] and msg["Message-ID"].endswith("@gazette.example.org>")
    assert msg["List-Id"] == "The Gazette <the-gazette.gazette.example.org>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert plain.get_content().replace("\r\n", "\n") == "Héllo\n\nplain text\n"
    assert html.get_content_type() == "text/html" and html.get_content().strip() == "<p>Héllo</p>"


def test_list_unsubscribe_has_mailto_and_a_verifiable_https_link() -> None:
    msg = build()
    value = str(msg["List-Unsubscribe"])
    assert "=?" not in value, "must not be RFC 2047 encoded"
    mailto, https = (part.strip().strip("<>") for part in value.split(","))
    assert mailto.startswith("mailto:editors@gazette.example.org?subject=unsubscribe")
    query = parse_qs(urlsplit(https).query)
    assert https.startswith("https://gazette.example.org/unsubscribe?")
    assert query["email"] == ["ann@example.org"] and query["list"] == [ENVELOPE.list_id]
    assert tokens.verify_token(SECRET, ENVELOPE.list_id, "ann@example.org", query["token"][0])
    assert tokens.verify_token(SECRET, ENVELOPE.list_id, "ANN@Example.org", query["token"][0])
    assert not tokens.verify_token(SECRET, ENVELOPE.list_id, "bob@example.org", query["token"][0])
    assert not tokens.verify_token("another-secret-0123456789", ENVELOPE.list_id, "ann@example.org",
                                   query["token"][0])


@pytest.mark.parametrize("evil", ["Hello\r\nBcc: victim@example.com", "Hello\nBcc: victim@example.com",
                                  "Hello\rBcc: victim@example.com", "Hello\u2028Bcc: victim@example.com"])
def test_crlf_in_title_or_name_cannot_inject_headers(evil: str) -> None:
    envelope = message.Envelope(**{**ENVELOPE.__dict__, "subject": evil, "sender_name": evil})
    msg = build(envelope=envelope, to_name=evil)
    assert msg.get_all("Bcc") is None
    assert msg["Subject"] == "Hello Bcc: victim@example.com"
    assert msg["To"].addresses[0].addr_spec == "ann@example.org"
    assert [a.addr_spec for a in msg["To"].addresses] == ["ann@example.org"]
    assert [a.addr_spec for a in msg["From"].addresses] == ["editors@gazette.example.org"]


def test_message_id_is_stable_per_issue_and_address() -> None:
    first = message.message_id(7, "l.example.org", "Ann@example.org", "example.org")
    assert first == message.message_id(7, "l.example.org", "ann@example.org", "example.org")
    assert first != message.message_id(8, "l.example.org", "ann@example.org", "example.org")
    assert first != message.message_id(7, "l.example.org", "bob@example.org", "example.org")
    unique = message.message_id(7, "l.example.org", "ann@example.org", "example.org", unique=True)
    assert unique != first


def test_dev_tokens_are_marked_and_never_verify() -> None:
    signer = tokens.Signer("l.example.org", "https://x.example/unsub", None)
    token = signer.token("ann@example.org")
    assert signer.is_dev and token.startswith(tokens.DEV_PREFIX)
    assert not tokens.verify_token(SECRET, "l.example.org", "ann@example.org", token)
    assert SECRET not in repr(tokens.Signer("l", "u", SECRET))


def test_missing_or_short_secret_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tokens.SECRET_ENV, raising=False)
    assert tokens.load_secret(required=False) is None
    with pytest.raises(tokens.MissingSecret, match="NEWSLETTER_SECRET is not set"):
        tokens.load_secret(required=True)
    monkeypatch.setenv(tokens.SECRET_ENV, "short")
    with pytest.raises(tokens.MissingSecret, match="too short") as info:
        tokens.load_secret(required=True)
    assert "short" not in str(info.value).replace("too short", "")

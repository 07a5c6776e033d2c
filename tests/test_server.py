"""The subscriber service end to end: uvicorn on 127.0.0.1, httpx as the client, aiosmtpd as the mail server."""

from __future__ import annotations

import base64
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_server_support import LIST_TOKEN, Service, run_service

ADDRESS = "Ann.Example@example.org"


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[Service]:
    yield from run_service(tmp_path)


def status_of(service: Service, email: str) -> str | None:
    with sqlite3.connect(service.db_path) as conn:
        row = conn.execute("SELECT status FROM subscribers WHERE email = ?", (email.lower(),)).fetchone()
    return row[0] if row else None


def subscriber_id(service: Service, email: str) -> str:
    with sqlite3.connect(service.db_path) as conn:
        return conn.execute("SELECT id FROM subscribers WHERE email = ?", (email.lower(),)).fetchone()[0]


def confirm_link(service: Service, count: int = 1) -> str:
    messages = service.inbox.wait_for(count)
    assert len(messages) >= count
    body = messages[count - 1].get_payload(decode=True).decode()
    match = re.search(r"(http://\S+/confirm/\S+)", body)
    assert match, body
    return match.group(1)


def encodings(address: str) -> list[str]:
    """The address, and the ways it could hide in a token."""
    out = []
    for form in (address, address.lower()):
        raw = form.encode()
        out += [form, raw.hex(), base64.b64encode(raw).decode().rstrip("="),
                base64.urlsafe_b64encode(raw).decode().rstrip("="), base64.b32encode(raw).decode().rstrip("=")]
    return out


def test_signup_confirm_unsubscribe_round_trip(service: Service) -> None:
    with httpx.Client(base_url=service.url) as client:
        answer = client.post("/subscribe", data={"email": ADDRESS, "name": "Ann"})
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        link = confirm_link(service)
        assert service.inbox.messages[0]["To"] == ADDRESS.lower()
        assert status_of(service, ADDRESS) == "unconfirmed"

        assert client.get(link).status_code == 200  # a mail scanner prefetching the link ...
        assert client.head(link).status_code in (200, 405)
        assert status_of(service, ADDRESS) == "unconfirmed"  # ... changes nothing
        page = client.get(link).text
        assert '<form method="post"' in page and "<script" not in page
        assert client.post(link).status_code == 200
        assert status_of(service, ADDRESS) == "active"

    unsubscribe = f"{service.url}/unsubscribe/{service.keyring.sign('unsubscribe', subscriber_id(service, ADDRESS))}"
    token = link.rsplit("/", 1)[1]
    for tok in (token, unsubscribe.rsplit("/", 1)[1]):
        for hidden in encodings(ADDRESS):
            assert hidden not in tok

    # A mailbox provider's one-click POST: a fresh client, no cookies, the RFC 8058 form body.
    with httpx.Client() as provider:
        assert provider.get(unsubscribe).status_code == 200
        assert status_of(service, ADDRESS) == "active"
        answer = provider.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200 and not answer.is_redirect and "set-cookie" not in answer.headers
        assert status_of(service, ADDRESS) == "unsubscribed"
        again = provider.post(unsubscribe, content=b"")  # a person's browser, empty body: idempotent
        assert again.status_code == 200
        assert status_of(service, ADDRESS) == "unsubscribed"
        # A confirm link from the old mail does not resubscribe an unsubscribed address.
        stale = provider.post(link)
        assert stale.status_code == 400 and "Subscribed" not in stale.text
        assert status_of(service, ADDRESS) == "unsubscribed"


def test_tampered_and_foreign_purpose_tokens_change_nothing(service: Service) -> None:
    with httpx.Client(base_url=service.url) as client:
        client.post("/subscribe", data={"email": ADDRESS})
        link = confirm_link(service)
        token = link.rsplit("/", 1)[1]
        kid, sid, mac = token.split(".")
        tampered = f"{kid}.{sid}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}"
        unknown_subscriber = service.keyring.sign("confirm", "NoSuchSubscriber")
        answers = []
        for bad in (tampered, f"{kid}.{sid}", "garbage", unknown_subscriber):
            answers.append(client.post(f"/confirm/{bad}"))
            answers.append(client.post(f"/unsubscribe/{bad}", content=b"List-Unsubscribe=One-Click"))
        # A confirm token used to unsubscribe (and the reverse) does nothing.
        answers.append(client.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click"))
        assert status_of(service, ADDRESS) == "unconfirmed"
        client.post(link)
        answers.append(client.post(f"/confirm/{service.keyring.sign('unsubscribe', sid)}"))
        assert status_of(service, ADDRESS) == "active"
        # Unknown subscriber and forged token get the same page: nothing tells whether anyone exists.
        assert len({(a.status_code, a.text) for a in answers}) <= 2  # the confirm and the unsubscribe wording
        assert all(a.status_code == 400 for a in answers)


def test_known_and_unknown_addresses_get_identical_answers(service: Service) -> None:
    with httpx.Client(base_url=service.url) as client:
        first = client.post("/subscribe", data={"email": ADDRESS})
        confirm_link(service)
        client.post(confirm_link(service))
        known = client.post("/subscribe", data={"email": ADDRESS})  # already active
        unknown = client.post("/subscribe", data={"email": "nobody@example.net"})
        invalid = client.post("/subscribe", data={"email": "not an address"})
    assert first.text == known.text == unknown.text == invalid.text
    assert first.status_code == known.status_code == unknown.status_code == 200
    assert first.headers.get("content-length") == known.headers.get("content-length")
    service.inbox.wait_for(2)
    # Active Ann got no second mail; only the new address did.
    assert [m["To"] for m in service.inbox.messages] == [ADDRESS.lower(), "nobody@example.net"]


def test_honeypot_stores_and_sends_nothing(service: Service) -> None:
    with httpx.Client(base_url=service.url) as client:
        trap = client.post("/subscribe", data={"email": "bot@example.org", "website": "http://spam.example"})
        real = client.post("/subscribe", data={"email": "person@example.org"})
    assert trap.text == real.text
    service.inbox.wait_for(1)
    assert status_of(service, "bot@example.org") is None
    assert [m["To"] for m in service.inbox.messages] == ["person@example.org"]


def test_rate_limit_per_ip(tmp_path: Path) -> None:
    for svc in run_service(tmp_path, rate_limit=3):
        with httpx.Client(base_url=svc.url) as client:
            codes = [client.post("/subscribe", data={"email": f"p{i}@example.org"}).status_code for i in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        assert status_of(svc, "p3@example.org") is None


def test_api_needs_the_bearer_token(service: Service) -> None:
    good = {"Authorization": f"Bearer {LIST_TOKEN}"}
    with httpx.Client(base_url=service.url) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": LIST_TOKEN},
                        {"Authorization": f"Basic {LIST_TOKEN}"}):
            assert client.get("/api/subscribers", headers=headers).status_code == 401
            assert client.post("/api/subscribers", headers=headers, json={"rows": []}).status_code == 401
            assert client.get("/api/events", headers=headers).status_code == 401
        rows = [{"email": "a@example.org", "status": "active"}, {"email": "b@example.org", "status": "bounced"}]
        assert client.post("/api/subscribers", headers=good, json={"rows": rows}).json()["added"] == 2
        # An import never resurrects a suppressed address.
        again = client.post("/api/subscribers", headers=good,
                            json={"rows": [{"email": "B@example.org", "status": "active"}]}).json()
        assert again == {"added": 0, "updated": 0, "unchanged": 1}
        active = client.get("/api/subscribers", params={"status": "active"}, headers=good).json()["subscribers"]
        assert [s["email"] for s in active] == ["a@example.org"]
        assert client.post("/api/unsubscribe", headers=good, json={"email": "a@example.org"}).json()["status"] \
            == "unsubscribed"
        events = client.get("/api/events", headers=good, params={"since": ""}).json()["events"]
        assert [e["kind"] for e in events] == ["imported", "imported", "unsubscribed"]
        assert all("@" not in str(e) for e in events)  # the log names pseudonymous ids only
        later = client.get("/api/events", headers=good, params={"since": events[-1]["at"]}).json()["events"]
        assert later == []
        assert client.get("/healthz").text == "ok"


def test_pages_escape_the_list_name(service: Service) -> None:
    with httpx.Client(base_url=service.url) as client:
        page = client.get("/subscribe").text
    assert "Test &lt;Weekly&gt;" in page and "<Weekly>" not in page
    assert 'name="website"' in page and "<script" not in page


def test_cli_serves_and_reads_server_section(tmp_path: Path) -> None:
    """`python -m newsletter server` as a subprocess: [server] settings apply, --port overrides, no secret = exit 2."""
    import os
    import subprocess
    import sys
    import time

    from tests.test_server_support import SECRET, free_port

    (tmp_path / "newsletter.toml").write_text(
        '[newsletter]\nname = "CLI List"\n[server]\nport = 1\ndb = "data/list.sqlite3"\nrate_limit = 2\n')
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("NEWSLETTER_SECRET", None)
    cmd = [sys.executable, "-m", "newsletter", "-C", str(tmp_path), "server"]
    missing = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "NEWSLETTER_SECRET" in missing.stderr

    port = free_port()
    proc = subprocess.Popen([*cmd, "--port", str(port)], env={**env, "NEWSLETTER_SECRET": SECRET},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/subscribe")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert "CLI List" in answer.text
        codes = [httpx.post(f"http://127.0.0.1:{port}/subscribe", data={"email": f"x{i}@example.org"}).status_code
                 for i in range(3)]
        assert codes == [200, 200, 429]
        assert (tmp_path / "data" / "list.sqlite3").exists()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "x0@example.org" not in err and "/subscribe" not in err  # no addresses, no access log


def test_database_reopens_in_wal_mode(tmp_path: Path) -> None:
    from newsletter.server.db import Database

    path = tmp_path / "list.sqlite3"
    Database(path).import_rows([{"email": "a@example.org"}])
    again = Database(path)  # a second start over an existing file
    assert [s.email for s in again.subscribers("active")] == ["a@example.org"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_confirmation_mail_is_limited_per_address(service: Service) -> None:
    """Signups for one victim's address (as if from many IPs) send at most 2 confirmations an hour."""
    with httpx.Client(base_url=service.url) as client:
        answers = {client.post("/subscribe", data={"email": "victim@example.org"}).text for _ in range(5)}
        client.post("/subscribe", data={"email": "marker@example.org"})
    assert len(answers) == 1
    service.inbox.wait_for(3)
    assert [m["To"] for m in service.inbox.messages].count("victim@example.org") == 2

"""The CLI with `[list] server`: subscribers and email go through the running service's API.

Real parts: the service under uvicorn on 127.0.0.1, aiosmtpd receiving the issue, httpx posting the
one-click unsubscribe as a mailbox provider would, and Debian's chromium opening the body's link.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from newsletter.cli.app import main
from tests.test_mail_smtp import DATA, Collector, free_port
from tests.test_server_support import LIST_TOKEN, Service, run_service

CHROMIUM = Path("/usr/bin/chromium")
PEOPLE = [f"person{i}@example.org" for i in range(5)]


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[Service]:
    yield from run_service(tmp_path / "service")


@pytest.fixture()
def smtp() -> Iterator[tuple[Collector, str]]:
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, f"127.0.0.1:{controller.port}"
    finally:
        controller.stop()


def make_project(tmp_path: Path, server_url: str) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(DATA / "project", root)
    with open(root / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write(f'\n[list]\nserver = "{server_url}"\n')
    return root


@pytest.fixture()
def project(tmp_path: Path, service: Service, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEWSLETTER_LIST_TOKEN", LIST_TOKEN)
    monkeypatch.delenv("NEWSLETTER_SECRET", raising=False)  # the links come signed from the server
    root = make_project(tmp_path, service.url)
    rows = ["email,name,status", *(f"{a},Person {i},active" for i, a in enumerate(PEOPLE)),
            "left@example.org,L,unsubscribed"]
    (tmp_path / "import.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = cli(root, "subscribers", "import", str(tmp_path / "import.csv"))
    assert result.exit_code == 0, result.output
    assert "imported 6 new subscriber(s)" in result.stdout
    return root


def cli(project: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)


def status_of(service: Service, address: str) -> str | None:
    with sqlite3.connect(service.db_path) as conn:
        row = conn.execute("SELECT status FROM subscribers WHERE email = ?", (address,)).fetchone()
    return row[0] if row else None


def https_link(msg: email.message.EmailMessage) -> str:
    parts = [p.strip(" <>") for p in str(msg["List-Unsubscribe"]).split(",")]
    return next(p for p in parts if p.startswith("http"))


def test_subscribers_commands_read_and_write_the_server(project: Path, service: Service) -> None:
    assert cli(project, "subscribers", "count").stdout.strip() == "5"
    listed = json.loads(cli(project, "subscribers", "list", "--json").stdout)["subscribers"]
    assert {r["email"]: r["status"] for r in listed}["left@example.org"] == "unsubscribed"
    result = cli(project, "subscribers", "unsubscribe", "person1@example.org")
    assert result.exit_code == 0 and "person1@example.org" not in result.output
    assert status_of(service, "person1@example.org") == "unsubscribed"
    counts = json.loads(cli(project, "subscribers", "count", "--json").stdout)
    assert counts["active"] == 4 and counts["unsubscribed"] == 2 and counts["total"] == 6
    # No local file was written: the server is the list.
    assert not (project / "subscribers.csv").read_text().count("person")


def test_email_goes_to_the_servers_active_list_and_one_click_unsubscribes(
    project: Path, service: Service, smtp: tuple[Collector, str]
) -> None:
    server, hostport = smtp
    result = cli(project, "email", "5", "--smtp", hostport, "--yes", "--force")
    assert result.exit_code == 0, result.output
    assert sorted(server.recipients()) == PEOPLE, "the server's active list, not the local CSV"
    assert "static site cannot answer" not in result.stderr
    received = {rcpts[0]: email.message_from_bytes(raw, policy=email.policy.default)
                for _f, rcpts, raw in server.messages}
    msg = received["person2@example.org"]
    link = https_link(msg)
    assert link.startswith(f"{service.url}/unsubscribe/")
    assert "person2" not in link and "%40" not in link and "@" not in link.split("//", 1)[1]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, html = msg.iter_parts()
    assert link in plain.get_content() and link in html.get_content()
    assert len({https_link(m) for m in received.values()}) == len(PEOPLE), "one link per person"

    # What a mailbox provider does with RFC 8058: POST the header's URL, form body, no cookies.
    with httpx.Client() as provider:
        answer = provider.post(link, content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200 and not answer.is_redirect
    assert status_of(service, "person2@example.org") == "unsubscribed"

    # The next export asks the server again: the person who left is not in it.
    out = project.parent / "next.mbox"
    assert cli(project, "email", "5", "--mbox", str(out)).exit_code == 0
    mbox_text = out.read_text(encoding="utf-8", errors="replace")
    assert "<person3@example.org>" in mbox_text and "person2@example.org" not in mbox_text


def test_a_5xx_marks_the_subscriber_bounced_on_the_server_and_the_batch_goes_on(
    project: Path, service: Service, smtp: tuple[Collector, str]
) -> None:
    server, hostport = smtp
    server.rcpt_codes = {"person1@example.org": [550]}
    result = cli(project, "email", "5", "--smtp", hostport, "--yes", "--force")
    assert result.exit_code == 1
    assert "marked 1 permanently refused address(es) bounced" in result.stdout
    assert "bounce rate 20.00% (1 of 5), ABOVE the 0.1% line" in result.stdout
    assert status_of(service, "person1@example.org") == "bounced"
    assert sorted(server.recipients()) == [a for a in PEOPLE if a != "person1@example.org"]


def test_unreachable_or_refusing_server_fails_closed(
    tmp_path: Path, service: Service, smtp: tuple[Collector, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, hostport = smtp
    monkeypatch.setenv("NEWSLETTER_LIST_TOKEN", LIST_TOKEN)
    dead = make_project(tmp_path / "dead", f"http://127.0.0.1:{free_port()}")
    # A stale local list with people on it must not be used instead.
    (dead / "subscribers.csv").write_text("email\nstale@example.org\n", encoding="utf-8")
    result = cli(dead, "email", "5", "--smtp", hostport, "--yes", "--force")
    assert result.exit_code == 1 and server.messages == []
    lines = result.stderr.strip().splitlines()
    assert len([line for line in lines if line.startswith("error:")]) == 1
    assert "unreachable" in result.stderr and "nothing was changed or sent" in result.stderr
    assert "Traceback" not in result.output and "stale@" not in result.output
    assert cli(dead, "subscribers", "count").exit_code == 1

    live = make_project(tmp_path / "live", service.url)
    monkeypatch.setenv("NEWSLETTER_LIST_TOKEN", "wrong-token-0123456789")
    refused = cli(live, "email", "5", "--smtp", hostport, "--yes", "--force")
    assert refused.exit_code == 1 and "refused the token (401)" in refused.stderr and server.messages == []
    monkeypatch.delenv("NEWSLETTER_LIST_TOKEN")
    missing = cli(live, "subscribers", "list")
    assert missing.exit_code == 1 and "NEWSLETTER_LIST_TOKEN is not" in missing.stderr
    assert cli(live, "email", "5", "--mbox", str(tmp_path / "x.mbox")).exit_code == 1


def test_the_token_is_never_read_from_the_file(tmp_path: Path, service: Service) -> None:
    root = make_project(tmp_path, service.url)
    with open(root / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write(f'token = "{LIST_TOKEN}"\n')
    result = cli(root, "subscribers", "count")
    assert result.exit_code == 1 and "must not be in the file" in result.stderr and LIST_TOKEN not in result.output


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_the_link_in_the_body_opens_a_confirmation_page_in_chromium(
    project: Path, service: Service, smtp: tuple[Collector, str]
) -> None:
    from playwright.sync_api import sync_playwright

    server, hostport = smtp
    assert cli(project, "email", "5", "--smtp", hostport, "--yes", "--force").exit_code == 0
    raw = next(raw for _f, rcpts, raw in server.messages if rcpts == ["person4@example.org"])
    plain, _html = email.message_from_bytes(raw, policy=email.policy.default).iter_parts()
    link = re.search(r"Unsubscribe: (\S+)", plain.get_content()).group(1)  # type: ignore[union-attr]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = chromium.new_page()
            page.goto(link)
            assert "Press the button to stop receiving" in page.content()
            assert status_of(service, "person4@example.org") == "active", "opening the link changes nothing"
            page.click("button[type=submit]")
            assert "You will not receive" in page.content()
        finally:
            chromium.close()
    assert status_of(service, "person4@example.org") == "unsubscribed"


@pytest.mark.parametrize("answer, expected", [
    ('{"subscribers": [{"id": "abcdefgh12", "email": "a@example.org", "name": "A",'
     ' "unsubscribe_url": "javascript:alert(1)"}]}', "without a usable unsubscribe link"),
    ('{"subscribers": [{"id": "abcdefgh12", "email": "a@example.org", "name": "A",'
     ' "unsubscribe_url": "https://x.example/u/<b>"}]}', "without a usable unsubscribe link"),
    ("<html>a captive portal</html>", "answered 200"),
    ('{"subscribers": "nope"}', "sent no subscriber list"),
    ('{"subscribers": []}', "no active subscribers"),
])
def test_a_hostile_or_broken_list_server_sends_nothing(
    tmp_path: Path, http_server: Any, smtp: tuple[Collector, str], monkeypatch: pytest.MonkeyPatch,
    answer: str, expected: str,
) -> None:
    server, hostport = smtp
    monkeypatch.setenv("NEWSLETTER_LIST_TOKEN", LIST_TOKEN)
    http_server.add("/api/subscribers", answer, content_type="application/json")
    root = make_project(tmp_path, http_server.url("/").rstrip("/"))
    result = cli(root, "email", "5", "--smtp", hostport, "--yes", "--force")
    assert result.exit_code == 1 and expected in result.stderr, result.output
    assert server.messages == [] and "Traceback" not in result.output


def test_names_from_the_list_server_cannot_inject_headers(
    tmp_path: Path, http_server: Any, smtp: tuple[Collector, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, hostport = smtp
    monkeypatch.setenv("NEWSLETTER_LIST_TOKEN", LIST_TOKEN)
    row = {"id": "abcdefgh12", "email": "a@example.org", "name": "Ann\r\nBcc: victim@example.com",
           "unsubscribe_url": "https://list.example.org/unsubscribe/k.abcdefgh12.mac"}
    http_server.add("/api/subscribers", json.dumps({"subscribers": [row]}), content_type="application/json")
    root = make_project(tmp_path, http_server.url("/").rstrip("/"))
    result = cli(root, "email", "5", "--smtp", hostport, "--yes", "--force")
    assert result.exit_code == 0, result.output
    (_from, rcpts, raw), = server.messages
    assert rcpts == ["a@example.org"]
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and b"victim" in head  # the name is text in To:, not a header
    assert http_server.request_headers("/api/subscribers")[0].get("authorization") == f"Bearer {LIST_TOKEN}"


def test_a_big_import_goes_in_chunks(tmp_path: Path, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_LIST_TOKEN", LIST_TOKEN)
    root = make_project(tmp_path, service.url)
    big = tmp_path / "big.csv"
    big.write_text("email\n" + "".join(f"bulk{i:04d}@example.org\n" for i in range(2500)), encoding="utf-8")
    result = cli(root, "subscribers", "import", str(big))
    assert result.exit_code == 0 and "imported 2500 new subscriber(s)" in result.stdout, result.output
    assert cli(root, "subscribers", "count").stdout.strip() == "2500"

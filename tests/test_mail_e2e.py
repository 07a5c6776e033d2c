"""The whole subscriber journey against real parts on 127.0.0.1, in the order a new list lives it.

Chromium fills in the subscribe form of the built site; the service (uvicorn) mails a confirmation
(aiosmtpd); a GET of the link changes nothing, the button confirms; `email N --smtp --yes` reaches
confirmed subscribers only; the received List-Unsubscribe URL, POSTed as a mailbox provider does,
unsubscribes; the next issue skips that person.
"""

from __future__ import annotations

import email
import email.policy
import functools
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from newsletter.cli.app import main
from tests.test_mail_smtp import Collector, free_port
from tests.test_server_support import LIST_TOKEN, Service, run_service
from tests.test_site import build_site

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


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


def cli(root: Path, *args: str) -> object:
    return CliRunner().invoke(main, ["-C", str(root), *args], catch_exceptions=False)


def project(tmp_path: Path, server_url: str) -> Path:
    root = tmp_path / "proj"
    assert CliRunner().invoke(main, ["init", str(root), "--name", "Journey Weekly"]).exit_code == 0
    toml = root / "newsletter.toml"
    toml.write_text(toml.read_text().replace('site_url = ""', 'site_url = "https://journey.example.org/"')
                    .replace('email = ""', 'email = "editors@journey.example.org"')
                    .replace('server = ""', f'server = "{server_url}"'))
    for number in (1, 2):
        (root / "content" / "issues" / f"00{number}-n.md").write_text(
            f"---\nnumber: {number}\ntitle: Issue {number}\ndate: 2025-01-0{number}\nstatus: published\n---\n"
            "Hello readers.\n", encoding="utf-8")
    return root


def test_signup_confirm_send_unsubscribe_and_the_next_send(
    tmp_path: Path, service: Service, smtp: tuple[Collector, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("NEWSLETTER_LIST_TOKEN", LIST_TOKEN)
    monkeypatch.delenv("NEWSLETTER_SECRET", raising=False)
    root = project(tmp_path, service.url)
    site = build_site(root, tmp_path / "site")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    people = ["ada@example.org", "bob@example.org", "cy@example.org"]
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = chromium.new_page()
                for address in people:
                    page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/")
                    page.fill("#nl-email", address)
                    page.click(".nl-subscribe-form button[type=submit]")
                    assert "Check your inbox" in page.content()
                confirmations = service.inbox.wait_for(3)
                assert sorted(m["To"] for m in confirmations) == people
                # ada and cy confirm in the browser; bob never does.
                for message in confirmations:
                    if message["To"] == "bob@example.org":
                        continue
                    link = re.search(r"(http://\S+/confirm/\S+)", message.get_payload(decode=True).decode()).group(1)  # type: ignore[union-attr]
                    page.goto(link)  # a GET: the page with a button, nothing changed yet
                    assert cli(root, "subscribers", "count").stdout.strip() in ("0", "1")  # type: ignore[attr-defined]
                    page.click("button[type=submit]")
                    assert "Subscribed" in page.content()
            finally:
                chromium.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert cli(root, "subscribers", "count").stdout.strip() == "2"  # type: ignore[attr-defined]

    server, hostport = smtp
    sent = cli(root, "email", "1", "--smtp", hostport, "--yes")
    assert sent.exit_code == 0, sent.output  # type: ignore[attr-defined]
    assert sorted(server.recipients()) == ["ada@example.org", "cy@example.org"], "confirmed subscribers only"
    raw = next(raw for _f, rcpts, raw in server.messages if rcpts == ["ada@example.org"])
    header = str(email.message_from_bytes(raw, policy=email.policy.default)["List-Unsubscribe"])
    one_click = next(p.strip(" <>") for p in header.split(",") if p.strip(" <").startswith("http"))
    with httpx.Client() as provider:  # no cookies, the RFC 8058 body
        answer = provider.post(one_click, content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200

    server.messages.clear()
    again = cli(root, "email", "2", "--smtp", hostport, "--yes")
    assert again.exit_code == 0, again.output  # type: ignore[attr-defined]
    assert sorted(server.recipients()) == ["cy@example.org"], "the next issue skips who left"

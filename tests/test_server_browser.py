"""The service's pages in Debian's chromium: fill in the subscribe form, press the unsubscribe button.

Screenshots of the subscribe, confirm and unsubscribe pages are written to docs/screenshots/.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_server import confirm_link, status_of, subscriber_id
from tests.test_server_support import Service, run_service

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[Service]:
    yield from run_service(tmp_path)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_subscribe_form_confirm_and_unsubscribe_in_chromium(service: Service, browser: object) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 720, "height": 560})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{service.url}/subscribe")
    page.fill("#email", "browser@example.org")
    page.fill("#name", "Bea")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "server-subscribe.png"))
    page.click("button[type=submit]")
    assert "Check your inbox" in page.content()
    link = confirm_link(service)

    page.goto(link)
    assert status_of(service, "browser@example.org") == "unconfirmed"
    page.screenshot(path=str(SHOTS / "server-confirm.png"))
    page.click("button[type=submit]")
    assert "Subscribed" in page.content()
    assert status_of(service, "browser@example.org") == "active"

    token = service.keyring.sign("unsubscribe", subscriber_id(service, "browser@example.org"))
    page.goto(f"{service.url}/unsubscribe/{token}")
    assert status_of(service, "browser@example.org") == "active"
    page.screenshot(path=str(SHOTS / "server-unsubscribe.png"))
    page.click("button[type=submit]")
    assert "Unsubscribed" in page.content()
    assert status_of(service, "browser@example.org") == "unsubscribed"
    with sqlite3.connect(service.db_path) as conn:
        kinds = [row[0] for row in conn.execute("SELECT kind FROM events ORDER BY seq")]
    assert kinds == ["subscribed", "active", "unsubscribed"]
    context.close()

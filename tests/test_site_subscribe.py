"""The site's subscribe box: a form posting to the list server when `[list] server` is set, no form without.

A new project is built with mkdocs; the site is served from 127.0.0.1; Debian's chromium fills in
the form; the subscriber service (uvicorn) answers and aiosmtpd receives the confirmation mail.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli.app import main
from tests.test_server_support import Service, run_service
from tests.test_site import build_site

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts"


class Forms(html.parser.HTMLParser):
    """Every <form> with its attributes and the names of its inputs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[dict[str, str | None], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.forms.append((dict(attrs), []))
        elif tag == "input" and self.forms:
            self.forms[-1][1].append(dict(attrs).get("name") or "")


def forms_of(page: Path) -> list[tuple[dict[str, str | None], list[str]]]:
    parser = Forms()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.forms


def new_project(tmp_path: Path, server: str | None, name: str = "Form Weekly") -> Path:
    root = tmp_path / "proj"
    assert CliRunner().invoke(main, ["init", str(root), "--name", name]).exit_code == 0
    toml = root / "newsletter.toml"
    text = toml.read_text().replace('site_url = ""', 'site_url = "https://news.example.org/"')
    if server is not None:
        text = text.replace('server = ""', f'server = "{server}"')
    toml.write_text(text)
    (root / "content" / "issues" / "001-first.md").write_text(
        "---\nnumber: 1\ntitle: First <issue>\ndate: 2025-01-03\nstatus: published\n---\nHello readers.\n",
        encoding="utf-8")
    return root


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[Service]:
    yield from run_service(tmp_path / "service")


def test_without_a_server_there_is_no_form(tmp_path: Path) -> None:
    site = build_site(new_project(tmp_path, None), tmp_path / "site")
    for page in (site / "index.html", next(site.glob("issues/001-*/index.html"))):
        text = page.read_text(encoding="utf-8")
        assert "nl-subscribe" in text and "RSS feed" in text
        assert forms_of(page) == [] or all("subscribe" not in str(attrs.get("action")) for attrs, _ in forms_of(page))


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_the_form_on_the_built_site_signs_up_through_the_server(tmp_path: Path, service: Service) -> None:
    from playwright.sync_api import sync_playwright

    site = build_site(new_project(tmp_path, service.url), tmp_path / "site")
    issue_page = next(site.glob("issues/001-*/index.html"))
    for page in (site / "index.html", issue_page):
        ours = [(a, names) for a, names in forms_of(page) if a.get("action") == f"{service.url}/subscribe"]
        assert len(ours) == 1, page
        attrs, names = ours[0]
        assert attrs.get("method") == "post" and {"email", "name", "website"} <= set(names)

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    relative = issue_page.parent.relative_to(site).as_posix()
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = chromium.new_page(viewport={"width": 900, "height": 700})
                page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/{relative}/")
                page.fill("#nl-email", "reader@example.org")
                page.fill("#nl-name", "Rea")
                SHOTS.mkdir(exist_ok=True)
                page.locator(".nl-subscribe").screenshot(path=str(SHOTS / "site-subscribe-form.png"))
                box = page.locator(".nl-hp").bounding_box()
                assert box is not None and box["x"] + box["width"] < 0, "the honeypot is off screen for people"
                page.click(".nl-subscribe-form button[type=submit]")
                page.wait_for_load_state()
                assert page.url == f"{service.url}/subscribe"
                assert "Check your inbox" in page.content()
            finally:
                chromium.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    messages = service.inbox.wait_for(1)
    assert len(messages) == 1 and messages[0]["To"] == "reader@example.org"
    with sqlite3.connect(service.db_path) as conn:
        row = conn.execute("SELECT name, status FROM subscribers WHERE email = ?", ("reader@example.org",)).fetchone()
    assert row == ("Rea", "unconfirmed")


def test_a_project_template_overrides_the_form(tmp_path: Path) -> None:
    root = new_project(tmp_path, "https://list.example.org")
    (root / "templates" / "subscribe.html.j2").write_text(
        '<aside class="nl-subscribe mine"><form method="post" action="{{ action }}">'
        '<input name="email" type="email"><button>Join {{ name }}</button></form></aside>', encoding="utf-8")
    root.joinpath("newsletter.toml").write_text(
        root.joinpath("newsletter.toml").read_text().replace('name = "Form Weekly"', 'name = "Form <b>Weekly</b>"', 1))
    site = build_site(root, tmp_path / "site")
    text = (site / "index.html").read_text(encoding="utf-8")
    assert 'class="nl-subscribe mine"' in text and 'action="https://list.example.org/subscribe"' in text
    assert "Join Form &lt;b&gt;Weekly&lt;/b&gt;" in text, "the name is escaped"

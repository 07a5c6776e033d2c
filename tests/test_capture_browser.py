"""The bookmarklet in Debian's chromium: on a page served from loopback it opens the capture form
prefilled, the submit adds the item, a second submit reports `exists`, and the inbox's buttons work.

Screenshots of the form and of the inbox go to docs/screenshots/capture-form.png and capture-inbox.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsletter.capture.tokens import bookmarklet
from newsletter.project import init_project
from tests.browser import CHROMIUM, chromium
from tests.capture_support import ANN, catalog_files, running_capture
from tests.httpserver import LoopbackServer

DATA = Path(__file__).parent / "data" / "capture"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def run_bookmarklet(page: Any, javascript_url: str) -> None:
    """Follow the bookmarklet the way the browser runs a `javascript:` URL (a link to it, clicked)."""
    with page.expect_navigation():
        page.evaluate("""(href) => { const a = document.createElement('a'); a.href = href;
                         document.body.appendChild(a); a.click(); }""", javascript_url)


def select_text(page: Any, selector: str) -> str:
    return str(page.evaluate("""(sel) => { const range = document.createRange();
        range.selectNodeContents(document.querySelector(sel)); const s = getSelection();
        s.removeAllRanges(); s.addRange(range); return s.toString(); }""", selector))


def test_bookmarklet_opens_the_form_submit_adds_and_a_second_submit_reports_exists(
        tmp_path: Path, browser: Any, http_server: LoopbackServer) -> None:
    project = init_project(tmp_path / "proj", name="Capture Weekly")
    http_server.add("/articles/sharding-hnsw", body=(DATA / "article.html").read_bytes())
    http_server.add("/articles/quantized", body=(DATA / "second.html").read_bytes())
    article = http_server.url("/articles/sharding-hnsw")
    with running_capture(project) as base:
        context = browser.new_context(viewport={"width": 820, "height": 640})
        page = context.new_page()
        page.goto(article)
        selected = select_text(page, "#lede")
        run_bookmarklet(page, bookmarklet(base, ANN))

        assert page.url.startswith(f"{base}/add?")
        assert page.input_value("#url") == article
        assert page.input_value("#title") == "Sharding an HNSW index without tears"
        assert page.input_value("#selection") == selected.strip() and "recall stays" in selected
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "capture-form.png"))
        assert catalog_files(project) == {}  # opening the form saved nothing

        page.click("button[type=submit]")
        assert "added" in page.inner_text("main")
        (item,) = catalog_files(project).values()
        assert item.url == article and item.status == "inbox" and item.extra["added_by"] == "ann"
        assert item.note == selected.strip()
        assert item.summary == "A walk through splitting a vector index across machines."

        page.go_back()
        page.click("button[type=submit]")  # the same form again
        assert "exists" in page.inner_text("main")
        assert page.get_attribute(f"a[href^='/item/{item.id}']", "href") is not None
        assert len(catalog_files(project)) == 1

        page.goto(http_server.url("/articles/quantized"))
        run_bookmarklet(page, bookmarklet(base, ANN))
        page.click("button[type=submit]")
        assert "added" in page.inner_text("main")

        page.goto(f"{base}/inbox?token={ANN}")
        assert page.locator("ul.items li").count() == 2
        page.screenshot(path=str(SHOTS / "capture-inbox.png"), full_page=True)
        page.click(f"#item-{item.id} button[value=shortlisted]")
        assert "shortlisted" in page.inner_text("[role=status]")
        second = next(i for i in catalog_files(project).values() if i.id != item.id)
        page.click(f"#item-{second.id} button[value=skipped]")
        status = {i.id: i.status for i in catalog_files(project).values()}
        assert status == {item.id: "shortlisted", second.id: "skipped"}
        assert page.locator("ul.items li").count() == 0
        context.close()


def test_the_start_page_link_is_the_bookmarklet_and_a_framing_page_cannot_show_the_form(
        tmp_path: Path, browser: Any, http_server: LoopbackServer) -> None:
    project = init_project(tmp_path / "proj", name="Capture Weekly")
    with running_capture(project) as base:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{base}/")
        page.fill("#token", ANN)
        page.click("button[type=submit]")
        assert page.get_attribute("a.bookmarklet", "href") == bookmarklet(base, ANN)
        # A hostile page framing the form (to trick a click on its button) gets a blank frame.
        http_server.add("/frame", body=f"<iframe id=f src='{base}/add?token={ANN}&url=https://x.example/'></iframe>")
        page.goto(http_server.url("/frame"))
        frame = page.frame_locator("#f")
        assert frame.locator("button[type=submit]").count() == 0
        assert catalog_files(project) == {}
        context.close()

"""The built archive site in a real browser (Debian's chromium driven by playwright).

The site (sample + planted hostile items, see tests/data/site_xss/) is served from 127.0.0.1 by
http.server in a thread. Every request the browser makes is recorded: all must go to that server
and succeed, no page may log a console error, and no planted payload may open a dialog. Screenshots
land in test-artifacts/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser import CHROMIUM, chromium, serve_folder
from tests.test_site import build_xss_site

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")

ISSUE_1 = "issues/001-serving-llms-without-melting-your-gpus/"
PAGES = {
    "home": "",
    "issue": ISSUE_1,
    "catalog": "catalog/",
    "papers": "catalog/papers/",
    "tag": "catalog/tags/xss/",
}


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("browser")
    with serve_folder(build_xss_site(root, root / "site")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as instance:
        yield instance


@dataclass
class Recorder:
    """Everything a page did that a test may object to."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def page(browser: object) -> Iterator[tuple[object, Recorder]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    seen = Recorder()
    tab.on("request", lambda r: seen.requests.append(r.url))
    tab.on("requestfailed", lambda r: seen.failed.append(f"{r.url} {r.failure}"))
    tab.on("response", lambda r: r.status >= 400 and seen.failed.append(f"{r.url} HTTP {r.status}"))
    tab.on("console", lambda m: m.type == "error" and seen.errors.append(m.text))
    tab.on("pageerror", lambda e: seen.errors.append(str(e)))

    def on_dialog(dialog: object) -> None:
        seen.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    tab.on("dialog", on_dialog)
    try:
        yield tab, seen
    finally:
        context.close()


def _visit(tab: object, url: str) -> None:
    tab.goto(url, wait_until="networkidle")  # type: ignore[attr-defined]
    tab.wait_for_timeout(300)  # type: ignore[attr-defined]  # let late handlers (onerror, ontoggle) fire


def _screenshot(tab: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"site-{name}.png"), full_page=False)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", list(PAGES))
def test_page_loads_cleanly_and_only_from_localhost(name: str, site_url: str, page: tuple[object, Recorder]) -> None:
    tab, seen = page
    _visit(tab, site_url + PAGES[name])
    _screenshot(tab, name)
    assert seen.requests, "the browser made no request at all"
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in seen.requests), [
        u for u in seen.requests if urlsplit(u).hostname != "127.0.0.1"
    ]
    assert not seen.failed, seen.failed
    assert not seen.errors, seen.errors
    assert not seen.dialogs, seen.dialogs
    assert tab.locator("h1").first.is_visible()  # type: ignore[attr-defined]


def test_search_finds_a_catalog_item_by_a_summary_word(site_url: str, page: tuple[object, Recorder]) -> None:
    tab, seen = page
    _visit(tab, site_url)
    tab.click(".md-search__input")  # type: ignore[attr-defined]
    # typed key by key: Material searches on keyboard events; "calculator" sits in "(calculator," in the text
    tab.locator(".md-search__input").press_sequentially("calculator", delay=30)  # type: ignore[attr-defined]
    # Material's search runs in a web worker: wait for its results to be rendered.
    hit = tab.locator(".md-search-result__item a[href*='item-0ef0f6f97f9d']")  # type: ignore[attr-defined]
    hit.first.wait_for(state="attached", timeout=15000)
    assert "Toolformer" in hit.first.inner_text()
    _screenshot(tab, "search")
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in seen.requests)
    assert not seen.errors, seen.errors


@pytest.mark.parametrize("where", ["catalog/posts/", "catalog/tags/xss/", "catalog/months/2025-02/", ISSUE_1])
def test_planted_payloads_are_inert_text(where: str, site_url: str, page: tuple[object, Recorder]) -> None:
    tab, seen = page
    _visit(tab, site_url + where)
    item = tab.locator("#item-aaaaaaaaaaa1")  # type: ignore[attr-defined]
    if item.count() == 0:  # paginated listing: follow the pager until the item shows up
        for _ in range(10):
            older = tab.locator(".nl-pager a", has_text="Older").first  # type: ignore[attr-defined]
            if older.count() == 0:
                break
            older.click()
            tab.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
            if item.count():
                break
    assert item.count() == 1, f"planted item not found on {where}"
    assert item.inner_text() == "<script>alert(1)</script> Script in the title"
    article = item.locator("xpath=ancestor::article[1]")
    assert '"><img src=x onerror=alert(1)>' in article.inner_text()
    assert article.locator("img, iframe, script, svg").count() == 0
    assert item.locator("a").count() == 0  # its javascript: URL was dropped, not linked
    tab.wait_for_timeout(300)  # type: ignore[attr-defined]
    assert not seen.dialogs, seen.dialogs
    assert not seen.errors, seen.errors
    _screenshot(tab, "xss-" + where.strip("/").replace("/", "-"))

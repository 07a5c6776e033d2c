"""The email HTML in a real browser (Debian's Chromium through Playwright) at desktop and phone widths.

No horizontal overflow at 600px and 375px, light and dark; screenshots are kept under
test-artifacts/mail/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsletter.config import load_settings
from newsletter.mail import campaign

ROOT = Path(__file__).resolve().parents[1]
PROJECT = Path(__file__).parent / "data" / "mail" / "project"
ARTIFACTS = ROOT / "test-artifacts" / "mail"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} is not installed (apt install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def preview(root: Path, number: int, tmp_path: Path) -> Path:
    # Layout only: the sample's figures need not be on a built site (test_media_browser loads them).
    prepared = campaign.prepare(load_settings(root), number, secret_value=None, images_built=False)
    page, _text = prepared.rendered.personalize(
        unsubscribe_url=prepared.signer.url("reader@example.org"), recipient="reader@example.org"
    )
    path = tmp_path / f"issue-{number}.html"
    path.write_text(page, encoding="utf-8")
    return path


@pytest.fixture
def edge_project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(PROJECT, root)
    return root


@pytest.mark.parametrize("width", [600, 375])
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("which", ["sample-issue-1", "edge-cases"])
def test_no_horizontal_overflow(browser: Any, tmp_path: Path, edge_project: Path, width: int, scheme: str,
                                which: str) -> None:
    path = preview(ROOT, 1, tmp_path) if which == "sample-issue-1" else preview(edge_project, 5, tmp_path)
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    try:
        # Offline: a remote image must not be fetched (and must not hang the test).
        page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else
                   route.continue_())
        page.goto(path.as_uri())
        scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll_width <= inner_width, f"{which} overflows at {width}px: {scroll_width} > {inner_width}"
        content_width = page.evaluate("document.querySelector('td.content').getBoundingClientRect().width")
        assert content_width <= min(width, 600)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{which}-{width}-{scheme}.png"), full_page=True)
    finally:
        page.close()


def test_dark_mode_changes_the_background(browser: Any, tmp_path: Path) -> None:
    path = preview(ROOT, 1, tmp_path)
    colours = {}
    for scheme in ("light", "dark"):
        page = browser.new_page(viewport={"width": 600, "height": 600}, color_scheme=scheme)
        page.goto(path.as_uri())
        colours[scheme] = page.evaluate(
            "[getComputedStyle(document.querySelector('table.container')).backgroundColor,"
            " getComputedStyle(document.querySelector('td.content p')).color]"
        )
        page.close()
    assert colours["light"][0] == "rgb(255, 255, 255)"
    assert colours["dark"][0] != colours["light"][0] and colours["dark"][1] != colours["light"][1]

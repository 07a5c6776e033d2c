"""An image-rich issue in a real browser (Debian's chromium through playwright): the sample's issue 1
with its figure, on the built site at 1280 and 375 px, and as email with images on and blocked.

The site is served from 127.0.0.1 and the email's site_url points there, so every image request
can be seen: all go to that server, none fails, and the layout never overflows. Screenshots land in
test-artifacts/images/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from newsletter.config import load_settings
from newsletter.mail import campaign
from tests.browser import CHROMIUM, chromium, serve_folder
from tests.test_site import build_site, copy_sample

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "images"
ISSUE_1 = "issues/001-serving-llms-without-melting-your-gpus/"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """(project, base URL): the sample built into project/site and served over HTTP on loopback."""
    root = copy_sample(tmp_path_factory.mktemp("images") / "gazette")
    site = root / "site"
    site.mkdir()
    with serve_folder(site) as base:
        # The email's images come from site_url: point it at the loopback copy of the site.
        toml = root / "newsletter.toml"
        toml.write_text(toml.read_text(encoding="utf-8").replace('site_url = "https://gazette.example.org/"',
                                                                 f'site_url = "{base}"'), encoding="utf-8")
        build_site(root, site)
        yield root, base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


def open_page(browser: Any, url: str, width: int, *, block_images: bool = False) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    requests: list[str] = []
    failed: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.url} HTTP {r.status}"))
    if block_images:
        page.route("**/*", lambda route: route.abort() if route.request.resource_type == "image" else route.continue_())
    page.goto(url, wait_until="networkidle")
    return page, requests, failed


def no_overflow(page: Any) -> bool:
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return bool(scroll <= inner)


def figure_state(page: Any) -> dict[str, Any]:
    """The figure as the browser has it: loaded?, which file, laid-out and reserved size."""
    return page.evaluate("""() => {
        const img = [...document.querySelectorAll('img')].find(i => i.alt.startsWith('Diagram: with static'));
        img.scrollIntoView();
        const box = img.getBoundingClientRect();
        return {complete: img.complete, natural: img.naturalWidth, current: img.currentSrc,
                width: box.width, height: box.height, alt: img.alt};
    }""")


@pytest.mark.parametrize("width", [1280, 375])
def test_site_issue_shows_its_figure_from_the_site_itself(browser: Any, served: tuple[Path, str], width: int) -> None:
    _root, base = served
    page, requests, failed = open_page(browser, base + ISSUE_1, width)
    try:
        page.wait_for_function("[...document.images].every(i => i.complete)")
        state = figure_state(page)
        assert state["natural"] > 0, "the figure did not load"
        assert not failed, failed
        assert all(urlsplit(u).hostname == "127.0.0.1" for u in requests)
        assert no_overflow(page), f"the issue page overflows at {width}px"
        assert state["width"] <= width and abs(state["height"] - state["width"] * 675 / 1200) < 2  # aspect kept
        # A phone gets the 600 px copy; a desktop the full one.
        assert state["current"].endswith("-600.webp") == (width == 375)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"site-issue-1-{width}.png"), full_page=False)
    finally:
        page.close()


def email_file(root: Path, tmp_path: Path) -> Path:
    prepared = campaign.prepare(load_settings(root), 1, secret_value=None)  # the built site has the images
    html, _text = prepared.rendered.personalize(unsubscribe_url="https://example.org/u", recipient="r@example.org")
    path = tmp_path / "issue-1.html"
    path.write_text(html, encoding="utf-8")
    return path


@pytest.mark.parametrize("width", [600, 375])
def test_email_loads_the_figure_from_the_site(browser: Any, served: tuple[Path, str], tmp_path: Path,
                                               width: int) -> None:
    root, _base = served
    page, requests, failed = open_page(browser, email_file(root, tmp_path).as_uri(), width)
    try:
        state = figure_state(page)
        assert state["natural"] > 0 and state["current"].endswith("continuous-batching-600.webp")
        assert not failed, failed
        assert all(u.startswith("file:") or urlsplit(u).hostname == "127.0.0.1" for u in requests)
        assert no_overflow(page), f"the email overflows at {width}px"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"email-issue-1-{width}.png"), full_page=True)
    finally:
        page.close()


def test_email_with_images_blocked_still_reads_well(browser: Any, served: tuple[Path, str], tmp_path: Path) -> None:
    root, _base = served
    page, _requests, _failed = open_page(browser, email_file(root, tmp_path).as_uri(), 375, block_images=True)
    try:
        state = figure_state(page)
        assert state["natural"] == 0  # blocked, as many mail clients do by default
        assert state["alt"].startswith("Diagram: with static batching")
        assert state["height"] > 0  # the box keeps its place (width/height attributes), the text flows on
        assert no_overflow(page)
        assert "PagedAttention" in page.inner_text("body")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "email-issue-1-images-off.png"), full_page=True)
    finally:
        page.close()

"""Hostile web pages: what a page we `add` can put in its markup, parsed and added end to end on loopback.

Lone surrogates (``&#xD800;`` references), terminal escapes and bidi overrides in the title,
credentials in og:url and og:image, line breaks in one-line fields, script URLs, a 100,000-character
title, pathological and non-HTML bodies. The rule under test: the page becomes a clean, capped item
or fails alone with one clear line; the other URLs of the same `add` are saved; nothing secret,
unprintable or unstorable reaches the catalog. (Parsing rules that are not about attacks live in
tests/test_sources_page.py; hostile *servers*, bombs and slow redirects, in tests/test_hostile_web.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.errors import SourceError
from newsletter.models import Metadata
from newsletter.project import init_project
from newsletter.sources.page import parse_page
from newsletter.text import TITLE_MAX
from tests.httpserver import LoopbackServer

PAGES = Path(__file__).parent / "data" / "pages"
DATA = Path(__file__).parent / "data" / "hostile_page"


def page(name: str, url: str) -> Metadata:
    return parse_page((PAGES / name).read_text(encoding="utf-8"), url)


# --------------------------------------------------------------------------- the parser alone


@pytest.mark.timeout(60)
def test_hostile_page_gives_clean_safe_metadata() -> None:
    meta = page("hostile.html", "https://www.hostile.example/page")
    assert meta == Metadata(
        # script inside <title> dropped, bidi marks removed, "Cre\u0300me" composed to NFC
        title="Café & Crème Notes",
        # 20k nested divs deep; the paragraphs in the stylesheet, script and comment are not text
        summary="Déjà vu: this paragraph sits twenty thousand divs deep & still counts as the first real "
        "paragraph.[31m",
        authors=["Mallory"],
        site="hostile.example",
        image="",  # javascript: og:image and data: twitter:image refused
        canonical_url="https://www.hostile.example/hostile?x=1&y=2",  # javascript: canonical refused
        extra={"feeds": ["https://feeds.hostile.example/atom"]},
    )


@pytest.mark.parametrize(
    "content",
    [
        "",
        "   \n\t ",
        "just some plain text, no markup",
        '{"json": true}',
        "%PDF-1.7\n<</Type/Catalog>>",
        "GIF89a\x00\x00<p>",
    ],
)
def test_content_that_is_not_html_raises_source_error(content: str) -> None:
    with pytest.raises(SourceError):
        parse_page(content, "https://example.com/x")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "unit",
    [
        "<a",
        "<a b='",
        '<a b="',
        "<!--",
        "<!",
        "<?",
        "</",
        "</a",
        "<![CDATA[",
        "<div>",
        "<p>",
        "<title>",
        "<script>",
        "&#",
        "<meta content='x'",
        "<h1><p>",
    ],
)
def test_pathological_markup_is_parsed_in_linear_time(unit: str) -> None:
    # html.parser needs minutes for 400 KB of "<a"; each of these is ~1 MB and must just work.
    doc = "<html><head><title>Survivor</title></head><body>" + unit * (1_000_000 // len(unit))
    assert parse_page(doc, "https://example.com/").title == "Survivor"


@pytest.mark.timeout(60)
def test_five_megabyte_page_and_huge_attribute() -> None:
    row = "<div class='row'><p>Some text &amp; more text.</p><span>x</span></div>\n"
    doc = (
        '<html><head><meta name="description" content="' + "y" * 2_000_000 + '"><title>Big</title>'
        "</head><body>" + row * (3_000_000 // len(row)) + "</body></html>"
    )
    meta = parse_page(doc, "https://example.com/")
    assert meta.title == "Big"
    assert len(meta.summary) == 2000 and meta.summary.endswith("…")


def test_unclosed_title_keeps_its_first_line() -> None:
    assert parse_page("<html><title>Half a title\n<body><p>x</p>", "https://e.com/").title == "Half a title"


# --------------------------------------------------------------------------- end to end through `add`


@pytest.fixture
def pages(http_server: LoopbackServer) -> LoopbackServer:
    http_server.add("/attack", body=(DATA / "attack.html").read_bytes())
    http_server.add("/good", body=(DATA / "good.html").read_bytes())
    huge = "<!doctype html><html><head><title>" + "Long " * 20_000 + "</title></head><body><p>x</p></body></html>"
    http_server.add("/huge-title", body=huge)
    http_server.add("/not-html", body=b"GIF89a\x01\x00\x01\x00\x00\xff\x00,\x00\x00\x00\x00")
    return http_server


def test_add_of_hostile_pages_saves_clean_capped_items_and_the_good_one(tmp_path: Path, pages: LoopbackServer) -> None:
    project = init_project(tmp_path / "proj", name="Page Weekly")
    urls = [pages.url(p) for p in ("/attack", "/huge-title", "/not-html", "/good")]
    result = CliRunner().invoke(
        main, ["-C", str(project), "add", "--json", "--no-similar", *urls], catch_exceptions=False
    )
    err = result.stderr
    assert "Traceback" not in err and "this is a bug" not in err
    assert "\x1b" not in err and "\x1b" not in result.stdout
    doc = json.loads(result.stdout)
    saved = {r["input"]: r["item"] for r in doc["results"] if r.get("item")}
    assert pages.url("/good") in saved and pages.url("/attack") in saved and pages.url("/huge-title") in saved

    catalog = Catalog.open(project)
    try:
        items = {i.url: i for i in catalog.items()}
    finally:
        catalog.close()
    attack = next(i for i in items.values() if "surrogate" in i.title)
    # The surrogate is U+FFFD; ESC, BEL and the bidi override are gone (what is left of the sequences is
    # inert text: nothing can reach a terminal, a header or the site as a control character).
    assert attack.title.startswith("Lone \ufffd surrogate ") and attack.title.endswith("here")
    assert not [c for c in attack.title if c in "\x1b\x07\u202e" or ord(c) < 32]
    assert "\n" not in attack.summary and "\r" not in attack.summary and "\u2028" not in attack.summary
    assert "X-Injected: yes" in attack.summary  # kept as words on the one line
    for link in (attack.url, attack.canonical_url, attack.image):  # no credentials in any stored link
        assert "hunter2" not in link and "editor@" not in link
    assert all("\x1b" not in a and a != "\ufffd" for a in attack.authors)
    big = items[pages.url("/huge-title")]
    assert len(big.title) <= TITLE_MAX and big.title.startswith("Long Long")
    assert items[pages.url("/good")].title == "A quiet, well-made page"

    for path in (project / "catalog").rglob("*.md"):
        text = path.read_bytes().decode("utf-8")  # valid UTF-8: no lone surrogate reached the disk
        assert "hunter2" not in text and "\x1b" not in text and "javascript:" not in text
    assert b"hunter2" not in result.stdout.encode() and "hunter2" not in err

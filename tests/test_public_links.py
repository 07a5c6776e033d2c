"""Readers get clean links: no tracking parameters in drafts, the site, feeds or email (issue 13, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.ingest import route
from newsletter.mail.render import markdown_to_html
from newsletter.models import Item, Metadata
from newsletter.project import init_project
from newsletter.store import files
from newsletter.web.public import clean_hrefs, public_url, registrable_domain, strip_tracking
from tests.httpserver import LoopbackServer

PAGE = """<!doctype html><html><head><title>Clean Post</title>
<link rel="canonical" href="{canonical}">
<meta name="description" content="A post that declares its own address.">
</head><body><p>Hello.</p></body></html>"""


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "proj", name="Test Weekly")


def test_strip_tracking_keeps_everything_else() -> None:
    assert strip_tracking("https://www.youtube.com/watch?v=abc&utm_source=foo&si=x") == "https://www.youtube.com/watch?v=abc"
    assert strip_tracking("https://Example.com/A/?id=3&ref=foo#part") == "https://Example.com/A/?id=3#part"
    assert strip_tracking("https://example.com/a#:~:text=hello") == "https://example.com/a"
    assert strip_tracking("mailto:someone@example.com?utm_source=x") == "mailto:someone@example.com?utm_source=x"


def test_registrable_domain_uses_the_public_suffix_list_offline() -> None:
    assert registrable_domain("amp.theguardian.com") == registrable_domain("https://www.theguardian.com/x")
    assert registrable_domain("m.example.co.uk") == "example.co.uk"
    # private suffixes: two people's github.io pages are two sites
    assert registrable_domain("alice.github.io") != registrable_domain("bob.github.io")
    assert registrable_domain("127.0.0.1") == "127.0.0.1"


def test_amp_host_canonical_is_trusted_and_wins_over_the_fetched_url() -> None:
    prepared = route.prepare("https://amp.example.co.uk/news/story-1?utm_source=hn&ref=foo")
    meta = Metadata(kind="link", title="Story", canonical_url="https://www.example.co.uk/news/story-1?utm_medium=x")
    item = route.build_item(prepared, meta, route.AddOptions())
    assert item.url == "https://www.example.co.uk/news/story-1"
    assert item.canonical_url == "https://example.co.uk/news/story-1"
    assert prepared.url in item.aliases  # the URL as given stays an alias
    # another registrable domain is not trusted as the page's identity
    evil = Metadata(canonical_url="https://evil.example.com/news/story-1")
    other = route.build_item(prepared, evil, route.AddOptions())
    assert other.canonical_url == "https://amp.example.co.uk/news/story-1"
    assert other.url == "https://amp.example.co.uk/news/story-1"


def test_add_stores_the_clean_url_and_keeps_the_given_one_as_alias(project: Path, http_server: LoopbackServer) -> None:
    http_server.add("/post", body=PAGE.format(canonical=http_server.url("/post")))
    given = http_server.url("/post?utm_source=hn&ref=foo")
    code, out, err = run(project, "add", "--json", given)
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result["item"]["url"] == http_server.url("/post")
    assert given in result["item"]["aliases"]
    text = (project / "catalog").rglob("*.md").__next__().read_text(encoding="utf-8")
    assert "utm_source" not in text.split("aliases:")[0]  # only the alias remembers it
    # the given URL still finds the item
    code, out, _ = run(project, "add", "--json", given)
    assert json.loads(out)["results"][0]["result"] == "exists"


def _write(project: Path, item: Item) -> None:
    path = project / "catalog" / files.relative_path_for(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(files.dump_item(item), encoding="utf-8")


def test_draft_links_the_clean_canonical_url_even_for_old_items(project: Path) -> None:
    # an item saved before this fix: its url still carries the feed's tracking
    _write(project, Item(
        id="0123456789ab", kind="video", title="Talk",
        url="https://www.youtube.com/watch?v=dQw4w9WgXcQ&utm_source=foo",
        canonical_url="https://youtube.com/watch?v=dQw4w9WgXcQ", added="2025-03-05T09:00:00Z",
    ))
    _write(project, Item(
        id="0123456789ac", kind="paper", title="Blog",
        url="https://www.blog.example.com/post/?utm_source=rss",
        canonical_url="https://blog.example.com/post", added="2025-03-05T09:00:00Z",
    ))
    code, out, err = run(project, "draft")
    assert code == 0, err
    text = Path(out.strip()).read_text(encoding="utf-8")
    assert "utm_source" not in text
    assert "(https://www.youtube.com/watch?v=dQw4w9WgXcQ)" in text
    assert "(https://www.blog.example.com/post/)" in text  # as the curator saw it, minus tracking
    item = Catalog.open(project).get("0123456789ac")
    assert public_url(item) == "https://www.blog.example.com/post/"


def test_email_and_site_html_drop_tracking_from_hand_pasted_links() -> None:
    body = "See [this](https://example.com/a?utm_source=rss&id=7) and <a href=\"https://example.com/b?fbclid=1\">b</a>."
    html = markdown_to_html(body)
    assert "utm_source" not in html and "fbclid" not in html
    assert "https://example.com/a?id=7" in html
    assert clean_hrefs('<a href="https://x.example/?utm_medium=a&amp;q=1">x</a>') == '<a href="https://x.example/?q=1">x</a>'

"""`newsletter inbox serve` end to end: the capture app under uvicorn on 127.0.0.1, httpx as the browser.

The pages it fetches are served by the loopback HTTP server; what was saved is read from the item
files under catalog/ (the truth), never from the app's answers alone.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner

from newsletter.capture.tokens import SELECTION_MAX, bookmarklet, find_editor, parse_tokens
from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.ingest.route import AddOptions
from newsletter.project import init_project
from newsletter.text import TITLE_MAX
from tests.capture_support import ANN, BOB, catalog_files, running_capture
from tests.httpserver import LoopbackServer
from tests.test_server_support import free_port

PAGE = (b"<html><head><title>Fetched: Vector search at scale</title>"
        b"<meta name='description' content='How to shard an index.'></head><body><p>text</p></body></html>")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "proj", name="Capture Weekly")


@pytest.fixture
def capture(project: Path) -> Iterator[str]:
    with running_capture(project) as base:
        yield base


@pytest.fixture
def client(capture: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=capture, timeout=30) as c:
        yield c


def add(client: httpx.Client, url: str, *, token: str = ANN, title: str = "Browser title",
        selection: str = "") -> httpx.Response:
    return client.post("/add", data={"url": url, "title": title, "selection": selection, "token": token})


def test_get_add_shows_the_prefilled_form_with_strict_headers_and_saves_nothing(
        client: httpx.Client, project: Path) -> None:
    answer = client.get("/add", params={"url": "https://example.org/post", "title": "A post",
                                        "selection": "the quoted part", "token": ANN})
    assert answer.status_code == 200
    text = answer.text
    assert '<form method="post" action="/add">' in text
    assert 'value="https://example.org/post"' in text and 'value="A post"' in text
    assert ">the quoted part</textarea>" in text and f'name="token" value="{ANN}"' in text
    assert "<script" not in text
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert "no-store" in answer.headers["cache-control"]
    assert catalog_files(project) == {}


def test_post_adds_through_the_pipeline_and_a_second_submit_reports_exists(
        client: httpx.Client, project: Path, http_server: LoopbackServer) -> None:
    http_server.add("/posts/vector-search", body=PAGE)
    url = http_server.url("/posts/vector-search")
    answer = add(client, url, selection="Sharding notes\nworth a look")
    assert answer.status_code == 200 and "added" in answer.text
    files = catalog_files(project)
    assert len(files) == 1
    item = next(iter(files.values()))
    assert item.status == "inbox" and item.url == url
    assert item.title == "Fetched: Vector search at scale"  # the page's word wins over the browser's
    assert item.summary == "How to shard an index."
    assert item.note == "Sharding notes\nworth a look"
    assert item.extra["added_by"] == "ann"
    assert http_server.hits["/posts/vector-search"] == 1

    again = add(client, url, token=BOB)
    assert again.status_code == 200 and "exists" in again.text
    assert f'href="/item/{item.id}?token={BOB}"' in again.text
    assert len(catalog_files(project)) == 1
    assert next(iter(catalog_files(project).values())).extra["added_by"] == "ann"  # not rewritten
    shown = client.get(f"/item/{item.id}", params={"token": BOB})
    assert shown.status_code == 200 and "ann" in shown.text and "inbox" in shown.text


def test_a_page_that_cannot_be_fetched_keeps_the_title_the_browser_sent(
        client: httpx.Client, project: Path, http_server: LoopbackServer) -> None:
    http_server.add("/paywalled", status=403, body=b"subscribe to read")
    answer = add(client, http_server.url("/paywalled"), title="The paywalled story", token=BOB)
    assert answer.status_code == 200 and "could not be fetched" in answer.text
    (item,) = catalog_files(project).values()
    assert item.title == "The paywalled story" and item.extra["added_by"] == "bob" and item.status == "inbox"


def test_missing_or_wrong_token_is_403_and_saves_nothing(
        client: httpx.Client, project: Path, http_server: LoopbackServer) -> None:
    http_server.add("/p", body=PAGE)
    url = http_server.url("/p")
    for token in ("", "wrong-token-0123456789abcdef", ANN[:-1], ANN + "x", ANN.upper()):
        assert add(client, url, token=token).status_code == 403
        assert client.get("/add", params={"url": url, "token": token}).status_code == 403
        assert client.post("/status", data={"id": "x", "status": "skipped", "token": token}).status_code == 403
        assert client.post("/inbox", data={"token": token}).status_code == 403
    assert client.post("/add", data={"url": url, "title": "t"}).status_code == 403
    assert client.get("/add", params={"url": url}).status_code == 403
    assert client.get("/inbox", params={"token": "nope-nope-nope-nope"}).status_code == 403
    assert catalog_files(project) == {}
    assert http_server.hits.get("/p", 0) == 0  # refused before anything was fetched


def test_get_never_changes_state(client: httpx.Client, project: Path, http_server: LoopbackServer) -> None:
    http_server.add("/p", body=PAGE)
    url = http_server.url("/p")
    params = {"url": url, "title": "t", "selection": "s", "token": ANN, "id": "x", "status": "skipped"}
    for path in ("/add", "/", "/inbox", "/status"):
        client.get(path, params=params)
        client.head(path, params=params)
    assert client.get("/status", params=params).status_code == 405
    assert catalog_files(project) == {}
    add(client, url)
    (path, item), = catalog_files(project).items()
    before = Path(path).read_bytes()
    for _ in range(2):
        client.get("/status", params={**params, "id": item.id})
        client.get("/inbox", params={"token": ANN, "id": item.id, "status": "skipped"})
    assert Path(path).read_bytes() == before


def test_a_post_from_another_site_or_another_host_name_is_refused(
        client: httpx.Client, project: Path, capture: str, http_server: LoopbackServer) -> None:
    http_server.add("/p", body=PAGE)
    data = {"url": http_server.url("/p"), "title": "t", "token": ANN}
    assert client.post("/add", data=data, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/add", data=data, headers={"Origin": "null"}).status_code == 403
    # DNS rebinding: a page on evil.example resolved to 127.0.0.1 names its own host
    assert client.post("/add", data=data, headers={"Host": "evil.example"}).status_code == 400
    assert catalog_files(project) == {}
    assert client.post("/add", data=data, headers={"Origin": capture}).status_code == 200
    assert len(catalog_files(project)) == 1


HOSTILE_TITLE = '"><script>alert(1)</script>\r\nSet-Cookie: x=1\r\n<img src=x onerror=alert(2)>'
HOSTILE_SELECTION = "</textarea><script>alert(3)</script>'\"&\x00\x1b[31m"


def test_hostile_title_and_selection_are_escaped_and_capped(
        client: httpx.Client, project: Path, http_server: LoopbackServer) -> None:
    form = client.get("/add", params={"url": "https://example.org/x", "title": HOSTILE_TITLE,
                                      "selection": HOSTILE_SELECTION * 300, "token": ANN})
    assert form.status_code == 200
    assert "<script" not in form.text and "<img" not in form.text and "\x1b" not in form.text
    assert "&lt;/textarea&gt;&lt;script&gt;" in form.text and "&quot;&gt;&lt;script&gt;" in form.text
    shown = re.search(r"<textarea[^>]*>(.*?)</textarea>", form.text, re.S)
    assert shown and len(shown.group(1)) < SELECTION_MAX * 8  # capped (escaping makes it longer)
    assert "set-cookie" not in {k.lower() for k in form.headers}

    http_server.add("/no-title", status=404, body=b"gone")  # so the browser's title is the one kept
    huge = add(client, http_server.url("/no-title"), title="x" * 200_000)
    assert huge.status_code == 413 and catalog_files(project) == {}
    answer = add(client, http_server.url("/no-title"), title=HOSTILE_TITLE + "x" * 20_000,
                 selection=HOSTILE_SELECTION + "y" * 20_000)
    assert answer.status_code == 200
    assert "<script" not in answer.text and "<img" not in answer.text
    (item,) = catalog_files(project).values()
    assert len(item.title) <= TITLE_MAX and "\r" not in item.title and "\n" not in item.title
    assert len(item.note) <= SELECTION_MAX and "\x00" not in item.note and "\x1b" not in item.note
    assert item.title.startswith('"><script>alert(1)</script>')  # stored as text; escaped where shown
    page = client.get("/inbox", params={"token": ANN}).text
    assert "<script" not in page and "&lt;script&gt;alert(1)" in page


def test_the_inbox_lists_the_week_and_its_buttons_shortlist_and_skip(
        client: httpx.Client, project: Path, http_server: LoopbackServer) -> None:
    for path in ("/one", "/two", "/three"):
        http_server.add(path, body=PAGE.replace(b"Vector search at scale", path[1:].encode()))
        assert add(client, http_server.url(path)).status_code == 200
    catalog = Catalog.open(project)
    old = catalog.add(["https://old.example/post"], AddOptions(fetch=False, title="Old news"))[0].item
    assert old is not None

    def age(item):  # type: ignore[no-untyped-def]
        item.added = "2020-01-01T00:00:00Z"
        return item

    catalog.modify(old.id, age)
    catalog.close()
    ids = {item.title.removeprefix("Fetched: "): item.id for item in catalog_files(project).values()}

    page = client.get("/inbox", params={"token": ANN})
    assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    for name in ("one", "two", "three"):
        assert f'id="item-{ids[name]}"' in page.text
    assert ids["Old news"] not in page.text and "1 older inbox item" in page.text
    assert page.text.count('action="/status"') == 6 and 'value="shortlisted"' in page.text

    assert client.post("/status", data={"id": ids["one"], "status": "shortlisted", "token": BOB}).status_code == 200
    answer = client.post("/status", data={"id": ids["two"], "status": "skipped", "token": ANN})
    assert answer.status_code == 200 and "two: skipped" in answer.text
    status = {item.id: item.status for item in catalog_files(project).values()}
    assert status[ids["one"]] == "shortlisted" and status[ids["two"]] == "skipped"
    assert status[ids["three"]] == "inbox"
    assert f'id="item-{ids["one"]}"' not in answer.text and f'id="item-{ids["three"]}"' in answer.text
    refused = client.post("/status", data={"id": ids["three"], "status": "published", "token": ANN})
    assert refused.status_code == 400
    assert client.post("/status", data={"id": "zzzzzzzz", "status": "skipped", "token": ANN}).status_code == 404
    assert {item.id: item.status for item in catalog_files(project).values()}[ids["three"]] == "inbox"


def test_the_start_page_gives_each_editor_their_bookmarklet(client: httpx.Client, capture: str) -> None:
    anonymous = client.get("/")
    assert anonymous.status_code == 200 and "javascript:" not in anonymous.text and 'type="password"' in anonymous.text
    for token in (ANN, BOB):
        for answer in (client.get("/", params={"token": token}), client.post("/", data={"token": token})):
            assert answer.status_code == 200
            href = re.search(r'<a class="bookmarklet" href="([^"]+)"', answer.text)
            assert href and href.group(1).startswith("javascript:")
            assert html.unescape(href.group(1)) == bookmarklet(capture, token)
    js = bookmarklet(capture, ANN)
    assert f"location.href='{capture}/add?token={ANN}&url='" in js and "fetch(" not in js
    assert "e(document.title)" in js and "getSelection" in js


def test_tokens_are_parsed_named_and_matched_exactly() -> None:
    editors = parse_tokens(f" ann:{ANN} , {BOB}")
    assert [e.name for e in editors] == ["ann", "editor2"]
    assert parse_tokens(ANN)[0].name == "editor"
    assert find_editor(editors, BOB) is editors[1] and find_editor(editors, ANN + " ") is None
    assert find_editor(editors, None) is None and find_editor(editors, "\udcff") is None
    assert ANN not in repr(editors)
    for bad in ("", " , ", "short", f"ann:{ANN},bob:{ANN}", f"ann:{ANN},ann:{BOB}", f"bad name:{ANN}",
                "ann:" + "x" * 15, f"ann:{ANN}'", f"ann:{quote('a b' * 8)}"):
        with pytest.raises(ValueError):
            parse_tokens(bad)


def test_inbox_serve_refuses_to_start_without_a_usable_token(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.delenv("NEWSLETTER_INBOX_TOKEN", raising=False)
    result = runner.invoke(main, ["-C", str(project), "inbox", "serve"])
    assert result.exit_code == 2 and "NEWSLETTER_INBOX_TOKEN is not set" in result.output
    assert len(result.output.strip().splitlines()) == 1
    monkeypatch.setenv("NEWSLETTER_INBOX_TOKEN", "ann:short")
    result = runner.invoke(main, ["-C", str(project), "inbox", "serve"])
    assert result.exit_code == 2 and "token 1 must be" in result.output
    assert "ann:short" not in result.output  # the value is a secret: never echoed


def test_inbox_serve_prints_the_bookmarklets_and_serves_them(project: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "NEWSLETTER_INBOX_TOKEN": f"ann:{ANN},bob:{BOB}",
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = (tmp_path / "out.txt").open("w+")
    process = subprocess.Popen([sys.executable, "-m", "newsletter", "-C", str(project), "inbox", "serve",
                                "--port", str(port)], stdout=out, stderr=subprocess.PIPE, env=env, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        lines = Path(out.name).read_text().splitlines()
        assert lines == [f"bookmarklet for {name}: {bookmarklet(base, token)}" for name, token in
                         (("ann", ANN), ("bob", BOB))]
        start = httpx.get(f"{base}/", params={"token": BOB})
        shown = re.search(r'class="bookmarklet" href="([^"]+)"', start.text)
        assert shown and html.unescape(shown.group(1)) == bookmarklet(base, BOB)
        assert httpx.get(f"{base}/", headers={"Host": "rebound.example"}).status_code == 400
        assert httpx.get(f"http://localhost:{port}/healthz").status_code == 200
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
        out.close()
    assert ANN not in err and BOB not in err  # uvicorn's access log is off: tokens ride in URLs

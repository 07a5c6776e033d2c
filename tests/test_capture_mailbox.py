"""`newsletter inbox pull`: links of forwarded mail become inbox items (real files, a real IMAP server on
loopback, a real HTTP server for the fetch)."""

from __future__ import annotations

import json
import mailbox as mailbox_module
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.capture.mailbox import is_boilerplate, links_of, parse_message, resolve_redirect
from newsletter.cli.app import main
from newsletter.project import init_project
from tests.httpserver import LoopbackServer
from tests.imapserver import Mailbox, imap_server

DATA = Path(__file__).parent / "data"
MAIL = DATA / "mailbox"
PASSWORD = "imap-pass-Zr9-never-printed"
NEWSLETTER_LINKS = [
    "https://lwn.net/Articles/1001/",
    "https://example.org/articles/a-very-long-path-that-wraps?ref=newsletter",
    "https://github.com/example/project",
    "https://blog.example.com/post/7",
    "https://arxiv.org/abs/2401.00001",
    "https://news.example.com/story/1",
    "https://docs.example.io/guide",
    "https://podcast.example.fm/episodes/12",
    "https://video.example.tv/watch/99",
    "https://research.example.edu/papers/fast-things",
]


def message(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def test_whole_newsletter_gives_one_link_each_without_boilerplate() -> None:
    found = links_of(parse_message(message("newsletter.eml")))
    assert found.links == NEWSLETTER_LINKS  # deduped across the text and HTML parts, QP soft breaks undone
    joined = " ".join(found.links)
    for furniture in ("unsub", "view-in-browser", "preferences", "twitter", "facebook", "linkedin", "mailto",
                      "open.gif", "links.weekly.dev", "google.com"):
        assert furniture not in joined
    assert "https://weekly.dev/" not in found.links  # the sender's homepage
    assert found.note == "From Weekly Dev News (weekly.dev) — Fwd: Weekly Dev News #42"
    assert "hello@" not in found.note


def test_single_forward_html_only_and_no_links() -> None:
    single = links_of(parse_message(message("single.eml")))
    assert single.links == ["https://blog.example.com/one-link"]  # the sentence's full stop is not the URL's
    assert single.note == "From Ann Colleague (corp.example) — look at this"
    html = links_of(parse_message(message("htmlonly.eml")))
    assert html.links == ["https://site.example/a", "https://site.example/b"]  # base64 HTML, homepage dropped
    assert links_of(parse_message(message("nolinks.eml"))).links == []


def test_hostile_subject_and_sender_are_cleaned() -> None:
    found = links_of(parse_message(message("hostile.eml")))
    assert found.links == ["https://evil.example.org/page"]
    assert not any(ord(c) < 32 or ord(c) == 127 for c in found.note), repr(found.note)
    assert "été" in found.note and "\n" not in found.note and "\r" not in found.note


@pytest.mark.parametrize(("url", "target"), [
    ("https://www.google.com/url?q=https://a.example/x&sa=D", "https://a.example/x"),
    ("https://links.n.example/c?url=https%3A%2F%2Fb.example%2Fy", "https://b.example/y"),
    ("https://t.example/r?u=https%3A%2F%2Fc.example%2F&x=1", "https://c.example/"),
    ("https://t.example/r?target=https://d.example/z", "https://d.example/z"),
    ("https://list-manage.example/track/click?u=abc123&id=9", "https://list-manage.example/track/click?u=abc123&id=9"),
])
def test_redirects_resolved_offline(url: str, target: str) -> None:
    assert resolve_redirect(url) == target


@pytest.mark.parametrize("url", [
    "mailto:a@b.example", "https://twitter.com/intent/tweet?text=x", "https://x.com/intent/post",
    "https://www.facebook.com/sharer/sharer.php?u=x", "https://www.linkedin.com/shareArticle?url=x",
    "https://twitter.com/ournews", "https://n.example/unsubscribe?id=1", "https://n.example/open.gif",
])
def test_boilerplate(url: str) -> None:
    assert is_boilerplate(url)
    assert not is_boilerplate("https://twitter.com/someone/status/123")


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "proj", name="Mail Weekly")


def cli(project: Path, *args: str) -> object:
    return CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)


def items(project: Path) -> dict[str, str]:
    """url -> file text of every catalog item."""
    out = {}
    for path in (project / "catalog").rglob("*.md"):
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if line.startswith("url:"):
                out[line.split(":", 1)[1].strip().strip("'\"")] = text
    return out


def test_mbox_pull_creates_items_with_notes_and_rerun_is_exists(project: Path, tmp_path: Path) -> None:
    path = tmp_path / "forwarded.mbox"
    box = mailbox_module.mbox(str(path))
    for name in ("newsletter.eml", "single.eml", "nolinks.eml", "hostile.eml"):
        box.add(message(name))
    box.close()
    result = cli(project, "inbox", "pull", "--mbox", str(path), "--no-fetch", "--json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    doc = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert doc["ok"] is True and doc["totals"]["added"] == 12 and doc["totals"]["messages"] == 4
    saved = items(project)
    for url in NEWSLETTER_LINKS:
        url = url.split("?")[0]  # canonical URLs lose tracking parameters such as ?ref=
        assert url in saved and "Weekly Dev News (weekly.dev)" in saved[url]
    assert "\x1b" not in saved["https://evil.example.org/page"]
    again = cli(project, "inbox", "pull", "--mbox", str(path), "--no-fetch", "--json")
    doc = json.loads(again.stdout)  # type: ignore[attr-defined]
    assert doc["totals"]["added"] == 0 and doc["totals"]["existing"] == 12
    assert len(items(project)) == len(saved)


def test_imap_pull_marks_read_only_after_save(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LoopbackServer() as web:
        web.add("/good", "<html><head><title>A good page</title></head><body>hi</body></html>",
                headers={"Content-Type": "text/html"})
        web.add("/gone", "missing", status=404)
        good = (b"From: Ann <ann@corp.example>\r\nSubject: good one\r\nContent-Type: text/plain\r\n\r\n"
                + web.url("/good").encode() + b"\r\n")
        bad = (b"From: Ann <ann@corp.example>\r\nSubject: bad one\r\nContent-Type: text/plain\r\n\r\n"
               + web.url("/gone").encode() + b"\r\n")
        box = Mailbox("inbox@example.org", PASSWORD, {"INBOX": [good, bad, message("nolinks.eml")]})
        monkeypatch.setenv("NEWSLETTER_IMAP_PASSWORD", PASSWORD)
        with imap_server(box) as hostport:
            result = cli(project, "inbox", "pull", "--imap", hostport, "--user", box.user)
            output = result.output  # type: ignore[attr-defined]
            assert PASSWORD not in output
            assert result.exit_code == 1, output  # type: ignore[attr-defined]
            assert output.count("error:") == 1
            assert box.seen["INBOX"] == {1, 3}, box.commands  # the failed message stays unread
            fetches = [c for c in box.commands if "FETCH" in c]
            assert fetches and all("PEEK" in c for c in fetches)
            stores = [i for i, c in enumerate(box.commands) if "STORE" in c]
            assert stores
            saved = items(project)
            assert web.url("/good") in saved and "From Ann (corp.example) — good one" in saved[web.url("/good")]
            # the next pull reads only the message still unread
            box.commands.clear()
            cli(project, "inbox", "pull", "--imap", hostport, "--user", box.user)
            assert [c for c in box.commands if "FETCH" in c] == ["UID FETCH 2 (BODY.PEEK[])"]


def test_usage_errors(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli(project, "inbox", "pull").exit_code == 2  # type: ignore[attr-defined]
    monkeypatch.delenv("NEWSLETTER_IMAP_PASSWORD", raising=False)
    assert cli(project, "inbox", "pull", "--imap", "127.0.0.1:1", "--user", "u").exit_code == 2  # type: ignore[attr-defined]

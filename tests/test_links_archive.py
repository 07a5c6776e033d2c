"""`newsletter links archive`: Save Page Now on loopback, snapshot locations, 429 backoff, recorded items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.catalog import Catalog
from newsletter.links.archive import Pacing, snapshot_from
from tests.httpserver import LoopbackServer
from tests.linkproject import add_item, make_project, page, run, write_issue

FAST = '[links]\narchive_interval = 0\narchive_backoff = 0\n'
STAMP = "20261203074901"


class Wayback:
    """Answers /save/<url> like Save Page Now: a redirect to /web/<timestamp>/<url>, or Content-Location."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.queue: list[int] = []  # statuses to answer before succeeding (429 ...)
        self.style = "redirect"
        self.saved: list[str] = []
        server.add_prefix("/save/", self.save)

    def save(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        target = path[len("/save/"):]
        if self.queue:
            status = self.queue.pop(0)
            return status, {"Retry-After": "0", "Content-Type": "text/html"}, b"<h1>Too Many Requests</h1>"
        self.saved.append(target)
        snapshot = f"/web/{STAMP}/{target}"
        if self.style == "redirect":
            return 302, {"Location": f"{self.server.url('')}{snapshot.lstrip('/')}"}, b""
        if self.style == "content-location":
            return 200, {"Content-Location": snapshot}, b"<html>saved</html>"
        return 200, {}, b"<html>no idea where it went</html>"


@pytest.fixture
def wayback(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wayback]:
    with LoopbackServer() as server:
        monkeypatch.setenv("NEWSLETTER_WAYBACK_API", server.url("").rstrip("/"))
        yield Wayback(server)


def test_archive_records_snapshot_in_the_item_and_skips_recent_ones(
    tmp_path: Path, http_server: LoopbackServer, wayback: Wayback
) -> None:
    http_server.add("/article", page("article.html"))
    root = make_project(tmp_path, FAST)
    item = add_item(root, http_server.url("/article"), "Serving LLMs")
    mention = "http://other.example/mention"
    write_issue(root, 1, [("Serving", item.url), ("Mention", mention)])
    code, out, err = run(root, "links", "archive", "1")
    assert code == 0, err
    assert wayback.saved == [item.url, mention]
    saved = Catalog.open(root).get(item.id)
    assert saved.extra["archived_url"] == f"{wayback.server.url('')}web/{STAMP}/{item.url}"
    assert str(saved.extra["archived_at"]).startswith("2026-12-03")
    assert "archived" in out
    # The mention is not a catalog item: its snapshot is kept in the derived results file.
    stored = json.loads((root / ".newsletter" / "links.json").read_text())["links"]
    assert stored[mention]["archived_url"].endswith(f"/web/{STAMP}/{mention}")
    # A second run finds recent snapshots and asks for nothing; --force asks again.
    code, out, _err = run(root, "links", "archive", "1", "--json")
    assert code == 0 and {r["result"] for r in json.loads(out)["results"]} == {"recent"}
    assert len(wayback.saved) == 2
    run(root, "links", "archive", "1", "--force")
    assert len(wayback.saved) == 4


def test_content_location_and_429_backoff(tmp_path: Path, wayback: Wayback) -> None:
    root = make_project(tmp_path, FAST)
    write_issue(root, 1, [("a", "http://a.example/one")])
    wayback.style = "content-location"
    wayback.queue = [429, 429]  # refused twice, then saved: the same URL is asked again each time
    (result,) = Catalog.open(root).archive_links(1)
    assert result.result == "archived" and result.archived_url.endswith(f"/web/{STAMP}/http://a.example/one")
    assert result.archived_at == "2026-12-03T07:49:01Z"
    assert wayback.server.hits["/save/http://a.example/one"] == 3


def test_persistent_429_stops_the_run_and_leaves_the_rest(tmp_path: Path, wayback: Wayback) -> None:
    root = make_project(tmp_path, FAST)
    write_issue(root, 1, [("a", "http://a.example/one"), ("b", "http://b.example/two")])
    wayback.queue = [429] * 10
    code, out, _err = run(root, "links", "archive", "1", "--json")
    assert code == 1
    results = json.loads(out)["results"]
    assert [r["result"] for r in results] == ["failed", "not-tried"]
    assert "429" in results[0]["reason"]
    assert wayback.saved == [] and len(wayback.queue) == 7  # three tries, then it stopped asking
    assert not (root / ".newsletter" / "links.json").exists() or "archived_url" not in (
        root / ".newsletter" / "links.json").read_text()


def test_an_answer_without_a_snapshot_location_is_a_failure(tmp_path: Path, wayback: Wayback) -> None:
    root = make_project(tmp_path, FAST)
    write_issue(root, 1, [("a", "http://a.example/one")])
    wayback.style = "nothing"
    code, _out, err = run(root, "links", "archive", "1")
    assert code == 1 and "no snapshot location" in err


def test_snapshot_locations_and_pacing_setting(tmp_path: Path) -> None:
    api = "https://web.archive.org"
    assert snapshot_from(f"/web/{STAMP}/https://x.example/a?b=1", api) == (
        f"{api}/web/{STAMP}/https://x.example/a?b=1", "2026-12-03T07:49:01Z")
    assert snapshot_from(f"/web/{STAMP}id_/https://x.example/", api) is not None
    assert snapshot_from("/save/_error", api) is None
    root = make_project(tmp_path, "[links]\narchive_interval = 7\narchive_attempts = 5\n")
    from newsletter.links.health import LinkSettings

    assert LinkSettings.from_settings(Catalog.open(root).settings).pacing == Pacing(7.0, 60.0, 5)
    bad = make_project(tmp_path / "bad", "[links]\narchive_interval = \"soon\"\n")
    code, _out, err = run(bad, "links", "archive", "--all")
    assert code == 1 and "[links]" in err


def test_dead_link_gets_archived_link_on_the_site_and_blocks_email(
    tmp_path: Path, http_server: LoopbackServer, wayback: Wayback
) -> None:
    """check (dead) → archive (snapshot) → build shows "(archived)" beside it only → email refuses, --force sends."""
    from tests.test_site import build_site

    http_server.add("/article", page("article.html"))
    http_server.add("/gone", b"gone", status=404, content_type="text/plain")
    root = make_project(tmp_path, FAST)
    alive = add_item(root, http_server.url("/article"), "Serving LLMs")
    dead = add_item(root, http_server.url("/gone"), "A post that went away")
    write_issue(root, 1, [("Serving LLMs", alive.url), ("Gone post", dead.url)])
    assert run(root, "links", "check", "1")[0] == 1
    assert run(root, "links", "archive", "1")[0] == 0
    site = build_site(root, tmp_path / "site")
    (issue_page,) = [p for p in site.rglob("index.html") if "001-issue" in str(p)]
    html = issue_page.read_text(encoding="utf-8")
    snapshot = Catalog.open(root).get(dead.id).extra["archived_url"]
    assert html.count("(archived)</a>") == 1
    assert f'href="{snapshot}"' in html
    gone_at = html.index(f'href="{dead.url}"')
    assert gone_at < html.index("(archived)") < gone_at + 400 + len(snapshot)  # beside the dead link
    (root / "subscribers.csv").write_text("email,name,status\nreader@example.net,Reader,active\n")
    code, _out, err = run(root, "email", "1", "--out", str(tmp_path / "mail"))
    assert code == 1 and "dead page" in err and dead.url in err and "--force" in err
    assert not (tmp_path / "mail").exists()
    code, _out, err = run(root, "email", "1", "--out", str(tmp_path / "mail"), "--force")
    assert code == 0, err
    assert list((tmp_path / "mail").glob("*.eml"))

"""Hostile feeds, pulled end to end from a loopback server: what a feed we do not control can send.

Lone surrogates (JSON ``\\ud800`` escapes, XML ``&#xD800;`` references), links carrying credentials,
absurd categories, and a damaged pull state. The rule under test: one bad entry fails alone, with one
clear line; every other entry of that feed and of the other feeds is saved; nothing secret or
unstorable reaches the catalog.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from newsletter.text import MAX_TAGS, TAG_MAX
from tests.httpserver import LoopbackServer
from tests.test_feeds import FeedSite, catalog_items, pull_json, run

DATA = Path(__file__).parent / "data" / "hostile_feed"
JSON_FEED = "application/feed+json"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    from newsletter.project import init_project

    return init_project(tmp_path / "proj", name="Hostile Weekly")


@pytest.fixture
def site(http_server: LoopbackServer) -> FeedSite:
    return FeedSite(http_server)


def subscribe(project: Path, *urls: str) -> None:
    for url in urls:
        code, _, err = run(project, "feeds", "add", url)
        assert code == 0, err


def warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def all_project_bytes(project: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(project.rglob("*")) if p.is_file())


def test_surrogates_fail_one_entry_alone_across_two_feeds(project: Path, site: FeedSite) -> None:
    hostile_json = site.put_file("/hostile.json", "surrogates.json", JSON_FEED, folder=DATA)
    hostile_rss = site.put_file("/hostile.xml", "surrogates.xml", folder=DATA)
    good = site.put_file("/good.xml", "good.xml", folder=DATA)
    subscribe(project, hostile_json, hostile_rss, good)

    code, doc, err = pull_json(project)
    assert "Traceback" not in err and "this is a bug" not in err
    by_url = {f["url"]: f for f in doc["feeds"]}
    assert by_url[good]["status"] == "ok" and by_url[good]["added"] == 2
    # The JSON Feed: j1's link holds a lone surrogate, so j1 alone is skipped; j2 and j3 are saved.
    assert by_url[hostile_json]["status"] == "ok" and by_url[hostile_json]["added"] == 2
    assert by_url[hostile_json]["unusable"] == 1
    # The RSS feed: r2's link is a surrogate reference; r1 (a surrogate in title and GUID) is saved.
    assert by_url[hostile_rss]["status"] == "ok" and by_url[hostile_rss]["added"] == 1
    assert by_url[hostile_rss]["unusable"] == 1
    assert code == 0
    bad_lines = [line for line in warning_lines(err) if "lone surrogate" in line]
    assert len(bad_lines) == 2
    assert any("/j1" in line for line in bad_lines) and any("/r2" in line for line in bad_lines)

    items = {i.canonical_url: i for i in catalog_items(project)}
    assert set(items) == {
        "https://good.example.org/g1", "https://good.example.org/g2",
        "https://json.example.net/j2", "https://json.example.net/j3", "https://rss.example.net/r1",
    }
    j2 = items["https://json.example.net/j2"]
    assert j2.title == "Good \ufffd title" and j2.authors == ["Ann \ufffd Author"]
    assert j2.image == ""  # an image URL with a surrogate is dropped, not mangled
    assert "rust" in j2.tags
    assert "\ufffd" in items["https://rss.example.net/r1"].title
    item_files = list((project / "catalog").rglob("*.md"))
    assert item_files
    for path in item_files:  # every item file is valid UTF-8 text
        path.read_bytes().decode("utf-8")

    # The next pull neither crashes nor repeats itself: the bad entries were seen and stay skipped.
    code, doc, err = pull_json(project)
    assert code == 0 and doc["totals"]["added"] == 0 and "Traceback" not in err
    assert not [line for line in warning_lines(err) if "lone surrogate" in line]


def test_credentials_in_feed_links_never_reach_the_catalog(project: Path, site: FeedSite) -> None:
    show = site.put_file("/private.xml", "userinfo.xml", folder=DATA)
    subscribe(project, show)
    code, doc, err = pull_json(project)
    assert code == 0, err
    assert doc["totals"]["added"] == 1
    item = catalog_items(project)[0]
    assert item.url == "https://example.com/private"
    assert item.extra["audio_url"] == "https://cdn.example.com/ep1.mp3"
    assert item.image == "https://example.com/cover.jpg"
    assert b"hunter2" not in all_project_bytes(project)
    assert "hunter2" not in json.dumps(doc)


def test_add_of_a_url_with_credentials_stores_it_without_them(project: Path) -> None:
    code, _, err = run(project, "add", "--no-fetch", "--title", "Secret", "https://user:hunter2@example.com/private")
    assert code == 0, err
    item = catalog_items(project)[0]
    assert item.url == "https://example.com/private"
    assert b"hunter2" not in all_project_bytes(project)


def test_absurd_categories_are_dropped_or_capped(project: Path, site: FeedSite) -> None:
    feed = site.put_file("/tags.xml", "categories.xml", folder=DATA)
    subscribe(project, feed)
    code, _, err = pull_json(project)
    assert code == 0, err
    items = {i.canonical_url: i for i in catalog_items(project)}
    assert items["https://tags.example.org/t1"].tags == ["databases"]  # the 300-character one is dropped
    flood = items["https://tags.example.org/t2"].tags
    assert len(flood) == MAX_TAGS and flood[0] == "topic-0"
    assert all(len(tag) <= TAG_MAX for item in items.values() for tag in item.tags)


def test_absurd_categories_then_draft_publish_and_build(project: Path, site: FeedSite, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 15 past ingest: the pulled items go through `draft` (tags copied into the front matter),
    `publish` and `build` (one page per tag); before the cap, the 300-character category ended the
    build in `OSError: File name too long`."""
    from newsletter.cli import app as cli_app
    from newsletter.cli import site as cli_site
    from newsletter.issues import draft
    from tests.test_draft import hashing_engine

    if "build" not in cli_app.main.commands:
        cli_site.register_commands(cli_app.main)
    monkeypatch.setattr(draft, "semantic_engine", hashing_engine)
    subscribe(project, site.put_file("/tags.xml", "categories.xml", folder=DATA))
    assert pull_json(project)[0] == 0
    code, out, err = run(project, "draft", "--date", "2026-11-06", "--no-images")
    assert code == 0, err
    issue_file = Path(out.strip())
    text = issue_file.read_text(encoding="utf-8")
    front = text.split("---\n")[1]
    tags_line = next(line for line in front.splitlines() if line.startswith("tags:"))
    tags = [t.strip() for t in tags_line.removeprefix("tags:").strip(" []").split(",") if t.strip()]
    assert tags and all(len(tag) <= TAG_MAX for tag in tags)
    assert "xxxxxxxxxx" not in text
    code, _, err = run(project, "publish", "1")
    assert code == 0, err
    out_dir = tmp_path / "site"
    code, _, err = run(project, "build", "-d", str(out_dir))
    assert code == 0, err
    assert "Traceback" not in err and "File name too long" not in err
    names = [p.name for p in out_dir.rglob("*")]
    assert max(len(name.encode()) for name in names) < 255 and not [n for n in names if "xxxxxxxxxx" in n]
    assert (out_dir / "catalog" / "tags" / "databases" / "index.html").is_file()


def corrupt(path: Path, *, seed: int) -> None:
    """Random bytes over the last page only: header and schema stay readable, the damage shows only when
    the entries are read (before the fix: ``sqlite3.DatabaseError: database disk image is malformed``)."""
    data = bytearray(path.read_bytes())
    assert len(data) > 8192, "the state should span several pages"
    rng = random.Random(seed)
    for i in range(len(data) - 4096, len(data)):
        data[i] = rng.randrange(256)
    path.write_bytes(bytes(data))


def test_damaged_pull_state_is_rebuilt_with_one_notice(project: Path, site: FeedSite) -> None:
    subscribe(project, site.put_file("/good.xml", "good.xml", folder=DATA),
              site.put_file("/tags.xml", "categories.xml", folder=DATA))
    assert pull_json(project)[1]["totals"]["added"] == 4
    state = project / ".newsletter" / "feeds.sqlite"
    assert not Path(f"{state}-wal").exists() or Path(f"{state}-wal").stat().st_size == 0
    corrupt(state, seed=16)

    code, doc, err = pull_json(project)
    assert "Traceback" not in err
    assert code == 0, err
    notices = [line for line in err.splitlines() if "feeds.sqlite" in line]
    assert len(notices) == 1 and notices[0].startswith("note:") and "damaged" in notices[0]
    assert doc["totals"]["added"] == 0 and doc["totals"]["existing"] == 4  # everything re-fetched, nothing added twice
    assert len(catalog_items(project)) == 4

    code, _, err = run(project, "feeds", "list")
    assert code == 0 and "feeds.sqlite" not in err  # rebuilt once, healthy since


def test_reset_state_does_not_bring_back_entries_the_first_pull_left_out(project: Path, site: FeedSite) -> None:
    """The decision documented in newsletter/feeds/state.py: same backlog after a reset, nothing returns."""
    entries = "".join(
        f"<item><title>Post {n}</title><link>https://backlog.example.org/p{n}</link><guid>p{n}</guid>"
        f"<pubDate>{n:02d} Nov 2026 10:00:00 GMT</pubDate></item>"
        for n in range(1, 6)
    )
    feed = site.put("/backlog.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>Backlog</title>'
                                    f"<link>https://backlog.example.org/</link>{entries}</channel></rss>")
    subscribe(project, feed)
    code, doc, _ = pull_json(project, "--backlog", "2")
    assert code == 0 and doc["totals"]["added"] == 2 and doc["feeds"][0]["left_out"] == 3
    (project / ".newsletter" / "feeds.sqlite").unlink()
    code, doc, _ = pull_json(project, "--backlog", "2")
    assert code == 0 and doc["totals"]["added"] == 0 and doc["totals"]["existing"] == 2
    assert sorted(i.canonical_url for i in catalog_items(project)) == [
        "https://backlog.example.org/p4", "https://backlog.example.org/p5",
    ]

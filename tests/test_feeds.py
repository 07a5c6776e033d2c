"""Feed subscriptions and pulls, end to end against real feeds served on 127.0.0.1.

The loopback server answers conditional GETs like a real feed host (ETag / If-None-Match -> 304), and
misbehaves on purpose: truncated XML, wrong encodings, HTML, 301, 410, connection resets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.cli.sources import register_commands
from newsletter.errors import ProjectError
from newsletter.feeds import (
    Feeds,
    Subscription,
    discover_feed_links,
    dump_subscriptions,
    feed_key,
    parse_subscriptions,
    permanent_move,
    plan_entries,
    subscribe_hint,
)
from newsletter.models import Metadata
from newsletter.project import init_project
from newsletter.sources.feed import FeedEntry
from tests.httpserver import LoopbackServer

FEEDS = Path(__file__).parent / "data" / "feeds"
E2E = Path(__file__).parent / "data" / "feeds_e2e"
RSS = "application/rss+xml"

if "feeds" not in main.commands:  # until cli.py registers them
    register_commands(main)


class FeedSite:
    """Feeds on a loopback server with honest conditional GET: an ETag per body, 304 when it matches."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.bodies: dict[str, tuple[bytes, str]] = {}

    def put(self, path: str, body: bytes | str, content_type: str = RSS) -> str:
        data = body.encode() if isinstance(body, str) else body
        first = path not in self.bodies
        self.bodies[path] = (data, content_type)
        if first:
            self.server.add_prefix(path, self._answer)
        return self.server.url(path)

    def put_file(self, path: str, name: str, content_type: str = RSS, folder: Path = FEEDS) -> str:
        return self.put(path, (folder / name).read_bytes(), content_type)

    def _answer(self, full_path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        path = urlsplit(full_path).path
        if path not in self.bodies:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        body, ctype = self.bodies[path]
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if headers.get("if-none-match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": ctype, "ETag": etag, "Last-Modified": "Mon, 06 May 2024 08:00:00 GMT"}, body


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "proj", name="Feed Weekly")


@pytest.fixture
def site(http_server: LoopbackServer) -> FeedSite:
    return FeedSite(http_server)


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def pull_json(project: Path, *args: str, similar: bool = False) -> tuple[int, dict, str]:
    """`feeds pull --json`; without the near-duplicate check (no model load) unless `similar`."""
    code, out, err = run(project, "feeds", "pull", "--json", *args, *(() if similar else ("--no-similar",)))
    return code, json.loads(out), err


def catalog_items(project: Path) -> list:
    catalog = Catalog.open(project)
    try:
        return catalog.items()
    finally:
        catalog.close()


def subscribe_unchecked(project: Path, *urls: str) -> None:
    """Subscribe without the validating fetch (for feeds that are broken on purpose)."""
    catalog = Catalog.open(project)
    try:
        Feeds(catalog).add([(u, None, "") for u in urls], fetch=False)
    finally:
        catalog.close()


# --------------------------------------------------------------------------- pure parts


def test_subscriptions_round_trip_through_yaml_sorted_and_keeping_unknown_keys() -> None:
    subs = [
        Subscription("https://b.example.com/feed", "link", "B", "2024-01-01T00:00:00Z", extra={"note": "mine"}),
        Subscription(
            "https://a.example.com/pod.xml", "podcast", "A: the show", "2024-01-02T00:00:00Z", gone="2024-03-01"
        ),
    ]
    text = dump_subscriptions(subs)
    assert text.startswith("# ")
    back = parse_subscriptions(text)
    assert [s.url for s in back] == ["https://a.example.com/pod.xml", "https://b.example.com/feed"]
    assert back[0].gone == "2024-03-01" and back[0].title == "A: the show"
    assert back[1].extra == {"note": "mine"}
    assert parse_subscriptions(dump_subscriptions([])) == []


@pytest.mark.parametrize("text", ["url: [unclosed", "just a string", "- title: no url here", "- url: x\n  kind: video"])
def test_invalid_feeds_yaml_is_a_clear_project_error(text: str) -> None:
    with pytest.raises(ProjectError, match=r"feeds\.yaml"):
        parse_subscriptions(text)


def test_feed_key_is_the_same_for_every_spelling_of_a_feed_url() -> None:
    assert feed_key("http://www.Example.com/feed/?utm_source=x") == feed_key("https://example.com/feed")


def test_discover_feed_links_resolves_relative_hrefs_and_ignores_other_links() -> None:
    html = (FEEDS / "html_page.html").read_text()
    assert discover_feed_links(html, "https://blog.example.dev/about") == ["https://blog.example.dev/feed.xml"]
    assert discover_feed_links("<html><link rel='stylesheet' href='/x.css'></html>", "https://a.example/") == []
    multi = '<link rel="alternate feed" type="application/atom+xml" href="https://a.example/atom">'
    assert discover_feed_links(multi, "https://a.example/") == ["https://a.example/atom"]


def _entry(key: str, published: str | None) -> FeedEntry:
    return FeedEntry(key=key, metadata=Metadata(title=key, published=published), link=f"https://e.example/{key}")


def test_plan_entries_caps_only_the_first_pull_newest_first() -> None:
    entries = [_entry(f"e{i}", f"2024-01-{i + 1:02d}") for i in range(10)]  # oldest first in the document
    take, left = plan_entries(entries, set(), first_pull=True, backlog=3)
    assert [e.key for e in take] == ["e9", "e8", "e7"]
    assert len(left) == 7
    take, left = plan_entries(entries, {"e0", "e1"}, first_pull=False, backlog=3)
    assert len(take) == 8 and left == []


def test_plan_entries_without_dates_keeps_document_order_and_skips_repeated_keys() -> None:
    entries = [_entry("a", None), _entry("b", None), _entry("a", None), _entry("c", None)]
    take, left = plan_entries(entries, set(), first_pull=True, backlog=2)
    assert [e.key for e in take] == ["a", "b"]
    assert [e.key for e in left] == ["c"]


def test_permanent_move_follows_only_the_leading_permanent_redirects() -> None:
    a, b, c = "https://a.example/feed", "https://b.example/feed", "https://c.example/feed"
    assert permanent_move(a, []) is None
    assert permanent_move(a, [(301, b)]) == b
    assert permanent_move(a, [(301, b), (308, c)]) == c
    assert permanent_move(a, [(301, b), (302, c)]) == b  # the temporary hop after the move is not the home
    assert permanent_move(a, [(302, b), (301, c)]) is None  # the subscribed URL itself only moved for now
    assert permanent_move(a, [(301, b), (301, a)]) is None  # moved back to where it was


# --------------------------------------------------------------------------- feeds add / list / rm


def test_feeds_add_validates_the_feed_and_reads_its_title_and_kind(project: Path, site: FeedSite) -> None:
    pod = site.put_file("/pod.xml", "podcast_itunes.xml")
    blog = site.put_file("/blog.xml", "blog_v1.xml", folder=E2E)
    code, out, err = run(project, "feeds", "add", pod)
    assert code == 0, err
    assert "Latent Space Radio" in out and "podcast" in out
    code, out, err = run(project, "feeds", "add", blog)
    assert code == 0, err
    subs = yaml.safe_load((project / "feeds.yaml").read_text())
    by_url = {s["url"]: s for s in subs}
    assert by_url[pod]["kind"] == "podcast" and by_url[pod]["title"] == "Latent Space Radio"
    assert by_url[blog]["kind"] == "link" and by_url[blog]["title"] == "Systems Notes"
    assert by_url[blog]["added"]
    assert catalog_items(project) == []  # subscribing adds nothing; pull does


def test_feeds_add_kind_option_overrides_detection(project: Path, site: FeedSite) -> None:
    blog = site.put_file("/blog.xml", "blog_v1.xml", folder=E2E)
    assert run(project, "feeds", "add", "--kind", "podcast", blog)[0] == 0
    assert yaml.safe_load((project / "feeds.yaml").read_text())[0]["kind"] == "podcast"


def test_feeds_add_html_page_subscribes_to_the_feed_it_advertises(project: Path, site: FeedSite) -> None:
    page = site.put_file("/home", "html_page.html", content_type="text/html; charset=utf-8")
    feed = site.put_file("/feed.xml", "blog_v1.xml", folder=E2E)
    code, out, err = run(project, "feeds", "add", page)
    assert code == 0, err
    assert f"subscribed to the feed it advertises, {feed}" in err
    assert [s["url"] for s in yaml.safe_load((project / "feeds.yaml").read_text())] == [feed]
    # The page again, or the feed spelled differently: already subscribed.
    code, out, _ = run(project, "feeds", "add", page)
    assert code == 0 and "already subscribed" in out
    code, out, _ = run(project, "feeds", "add", feed + "?utm_source=newsletter")
    assert code == 0 and "already subscribed" in out
    assert len(yaml.safe_load((project / "feeds.yaml").read_text())) == 1


@pytest.mark.parametrize(
    ("name", "ctype", "message"),
    [
        ("html_no_feed_link.html", "text/html", "advertises none"),
        ("garbage.txt", "text/plain", "not a valid RSS/Atom/JSON feed"),
    ],
)
def test_feeds_add_refuses_what_is_not_a_feed(
    project: Path, site: FeedSite, name: str, ctype: str, message: str
) -> None:
    url = site.put_file("/x", name, content_type=ctype)
    code, _, err = run(project, "feeds", "add", url)
    assert code == 1
    assert message in err and "Traceback" not in err
    assert not (project / "feeds.yaml").exists()


def test_feeds_list_and_rm(project: Path, site: FeedSite) -> None:
    blog = site.put_file("/blog.xml", "blog_v1.xml", folder=E2E)
    run(project, "feeds", "add", blog)
    code, out, _ = run(project, "feeds", "list", "--json")
    (row,) = json.loads(out)["feeds"]
    assert row["url"] == blog and row["last_pull"] is None and row["entries_seen"] == 0
    assert run(project, "feeds", "pull", "--no-similar")[0] == 0
    (row,) = json.loads(run(project, "feeds", "list", "--json")[1])["feeds"]
    assert row["last_status"] == "ok" and row["entries_seen"] == 3 and row["last_pull"]
    code, out, _ = run(project, "feeds", "list")
    assert "Systems Notes" in out and "ok" in out
    code, out, _ = run(project, "feeds", "rm", blog.replace("http://", "https://"))
    assert code == 0 and "unsubscribed" in out
    assert json.loads(run(project, "feeds", "list", "--json")[1])["feeds"] == []
    assert len(catalog_items(project)) == 3  # items stay
    code, _, err = run(project, "feeds", "rm", blog)
    assert code == 1 and "not subscribed" in err


# --------------------------------------------------------------------------- pull


def test_pull_adds_entries_from_the_feeds_metadata_without_fetching_pages(project: Path, site: FeedSite) -> None:
    blog = site.put_file("/blog.xml", "blog_v1.xml", folder=E2E)
    run(project, "feeds", "add", blog)
    code, doc, err = pull_json(project)
    assert code == 0, err
    (feed,) = doc["feeds"]
    assert (feed["status"], feed["added"], feed["existing"]) == ("ok", 3, 0)
    assert {r["item"]["title"] for r in doc["results"]} >= {"Why your p99 lies", "Reading: LoRA"}
    assert all(r["input"] == blog and r["result"] == "added" for r in doc["results"])
    items = {i.title: i for i in catalog_items(project)}
    post = items["Why your p99 lies"]
    assert post.kind == "link" and post.canonical_url == "https://notes.example.dev/posts/p99"
    assert post.summary == "Tail latency explained." and post.published == "2024-05-06"
    assert post.site == "Systems Notes" and "performance" in post.tags and post.status == "inbox"
    assert post.extra["feed_url"] == blog
    paper = items["Reading: LoRA"]
    assert paper.kind == "paper" and paper.extra["arxiv_id"] == "2106.09685"
    assert paper.canonical_url == "https://arxiv.org/abs/2106.09685"
    # Only the feed was requested: entry pages were never fetched.
    assert set(site.server.hits) == {"/blog.xml"}


def test_second_pull_is_a_conditional_get_answered_304_and_adds_nothing(project: Path, site: FeedSite) -> None:
    blog = site.put_file("/blog.xml", "blog_v1.xml", folder=E2E)
    run(project, "feeds", "add", blog)
    assert pull_json(project)[1]["totals"]["added"] == 3
    code, doc, _ = pull_json(project)
    assert code == 0
    assert doc["totals"]["added"] == 0 and doc["totals"]["not_modified"] == 1
    assert doc["feeds"][0]["status"] == "not_modified"
    last = site.server.request_headers("/blog.xml")[-1]
    assert last["if-none-match"].startswith('"')
    assert last["if-modified-since"] == "Mon, 06 May 2024 08:00:00 GMT"
    assert len(catalog_items(project)) == 3


def test_feed_that_rewrites_its_dates_adds_nothing_new_and_a_new_entry_is_picked_up(
    project: Path, site: FeedSite
) -> None:
    blog = site.put_file("/blog.xml", "blog_v1.xml", folder=E2E)
    run(project, "feeds", "add", blog)
    pull_json(project)
    site.put_file("/blog.xml", "blog_v2_redated.xml", folder=E2E)
    code, doc, _ = pull_json(project)
    assert code == 0 and doc["feeds"][0]["status"] == "ok" and doc["totals"]["added"] == 0
    site.put_file("/blog.xml", "blog_v3.xml", folder=E2E)
    doc = pull_json(project)[1]
    assert doc["totals"]["added"] == 1 and doc["results"][0]["item"]["title"] == "Backpressure, finally"
    assert len(catalog_items(project)) == 4


def test_feed_without_guids_or_dates_still_dedupes(project: Path, site: FeedSite) -> None:
    url = site.put_file("/keyless.xml", "no_guid_no_date.xml")
    run(project, "feeds", "add", url)
    first = pull_json(project)[1]["feeds"][0]
    # The link entry becomes an item; a PDF-enclosure-only and a title-only entry have no usable URL
    # (the parser exposes only audio enclosures), are counted, and are remembered as seen.
    assert (first["added"], first["unusable"]) == (1, 2)
    site.put("/keyless.xml", (FEEDS / "no_guid_no_date.xml").read_bytes() + b"\n<!-- new etag -->")
    again = pull_json(project)[1]["feeds"][0]
    assert again["status"] == "ok" and again["added"] == 0 and again["unusable"] == 0
    urls = [i.canonical_url for i in catalog_items(project)]
    assert "https://keyless.example.org/posts/one?id=7" in urls
    assert len(urls) == len(set(urls)) == first["added"]


def test_deleted_pull_state_refetches_everything_without_duplicates(project: Path, site: FeedSite) -> None:
    blog = site.put_file("/blog.xml", "blog_v1.xml", folder=E2E)
    pod = site.put_file("/pod.xml", "podcast_itunes.xml")
    run(project, "feeds", "add", blog)
    run(project, "feeds", "add", pod)
    assert pull_json(project)[1]["totals"]["added"] == 8
    (project / ".newsletter" / "feeds.sqlite").unlink()
    hits = site.server.hits["/blog.xml"]
    code, doc, _ = pull_json(project)
    assert code == 0
    assert doc["totals"]["added"] == 0 and doc["totals"]["existing"] == 8 and doc["totals"]["not_modified"] == 0
    assert site.server.hits["/blog.xml"] == hits + 1
    assert "if-none-match" not in site.server.request_headers("/blog.xml")[-1]  # a full re-fetch
    assert len(catalog_items(project)) == 8


def test_first_pull_takes_the_newest_entries_and_reports_the_rest(project: Path, site: FeedSite) -> None:
    items = "".join(
        f"<item><title>Post {i}</title><link>https://big.example.com/p/{i}</link><guid>big-{i}</guid>"
        f"<pubDate>{i + 1:02d} Jan 2024 10:00:00 GMT</pubDate></item>"
        for i in range(30)
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{items}</channel></rss>'
    url = site.put("/big.xml", body)
    subscribe_unchecked(project, url)
    code, doc, err = pull_json(project)
    assert code == 0
    feed = doc["feeds"][0]
    assert feed["added"] == 20 and feed["left_out"] == 10
    assert {r["item"]["title"] for r in doc["results"]} == {f"Post {i}" for i in range(10, 30)}
    assert "left out 10 older entries" in err
    site.put("/big.xml", body.replace("<title>Big</title>", "<title>Big!</title>"))
    again = pull_json(project)[1]["feeds"][0]
    assert again["added"] == 0 and again["left_out"] == 0  # left-out entries stay out


def test_backlog_option_on_first_pull(project: Path, site: FeedSite) -> None:
    pod = site.put_file("/pod.xml", "podcast_itunes.xml")
    run(project, "feeds", "add", pod)
    doc = pull_json(project, "--backlog", "2")[1]
    assert doc["totals"]["added"] == 2 and doc["totals"]["left_out"] == 3
    assert {r["item"]["title"] for r in doc["results"]} == {"Ep. 42 – Retrieval at Scale", "Ep. 41 – Tokenizers"}


def test_podcast_episodes_land_with_audio_duration_and_show(project: Path, site: FeedSite) -> None:
    pod = site.put_file("/pod.xml", "podcast_itunes.xml")
    plain = site.put_file("/plain.xml", "podcast_plain.xml")
    rel = site.put_file("/rel.xml", "xml_base.xml")
    for url in (pod, plain, rel):
        assert run(project, "feeds", "add", url)[0] == 0
    code, _, err = pull_json(project)
    assert code == 0, err
    items = {i.title: i for i in catalog_items(project)}
    ep42 = items["Ep. 42 – Retrieval at Scale"]
    assert ep42.kind == "podcast" and ep42.url == "https://radio.example.org/episodes/42"
    assert ep42.extra["audio_url"] == "https://cdn.example.org/audio/lsr-042.mp3"
    assert ep42.extra["show"] == "Latent Space Radio" and ep42.extra["feed_url"] == pod
    assert ep42.published == "2024-03-05" and ep42.authors == ["Ada Host"]
    assert items["Ep. 41 – Tokenizers"].extra["duration_s"] == 45 * 60 + 7
    # No episode link: the enclosure is the item's URL.
    ep40 = items["Ep. 40 – Seconds Only"]
    assert ep40.url == "https://cdn.example.org/audio/lsr-040.mp3" and ep40.extra["duration_s"] == 3725
    assert "duration_s" not in items["Ep. 39 – Garbage Duration"].extra
    assert items["Ep. 38 – Fractional"].extra["duration_s"] == 3723
    # A show without iTunes tags is still a podcast; relative URLs resolve against xml:base.
    assert items["Episode 1: Hello"].kind == "podcast"
    assert items["Episode 1: Hello"].extra["audio_url"] == "https://garage.example.net/media/ep1.ogg"
    assert items["Relative Two"].extra["audio_url"] == "https://cdn.example.com/relpod/two.mp3"
    assert items["Relative One"].url == "https://media.example.com/shows/relpod/episodes/1.html"


def test_same_link_in_two_feeds_is_one_item(project: Path, site: FeedSite) -> None:
    blog = site.put_file("/blog.xml", "blog_v1.xml", folder=E2E)
    roundup = site.put_file("/roundup.xml", "mixed_links.xml", folder=E2E)
    subscribe_unchecked(project, blog, roundup)
    doc = pull_json(project)[1]
    assert doc["totals"]["added"] == 7 and doc["totals"]["existing"] == 1  # "Queues everywhere" via http://www.../queues/
    queues = [i for i in catalog_items(project) if i.canonical_url == "https://notes.example.dev/posts/queues"]
    assert len(queues) == 1


def test_broken_feeds_are_reported_and_skipped_while_the_others_are_pulled(project: Path, site: FeedSite) -> None:
    server = site.server
    good = site.put_file("/good.xml", "blog_v1.xml", folder=E2E)
    truncated = site.put_file("/truncated.xml", "truncated.xml")
    garbage = site.put_file("/garbage.xml", "garbage.txt", content_type="text/plain")
    html = site.put_file("/html.xml", "html_no_feed_link.html", content_type="text/html")
    server.add("/reset.xml", behaviour="reset")
    server.add("/error.xml", status=404, body=b"nope")
    subscribe_unchecked(project, good, truncated, garbage, html, server.url("/reset.xml"), server.url("/error.xml"))
    code, doc, err = pull_json(project)
    assert code == 1
    by_url = {f["url"]: f for f in doc["feeds"]}
    assert by_url[good]["status"] == "ok" and by_url[good]["added"] == 3
    # A truncated download still yields the complete entries, with a warning.
    assert by_url[truncated]["status"] == "ok" and by_url[truncated]["added"] == 2
    assert by_url[truncated]["warnings"]
    for bad in (garbage, html, server.url("/reset.xml"), server.url("/error.xml")):
        assert by_url[bad]["status"] == "error" and by_url[bad]["error"]
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 4
    assert "Traceback" not in err
    # A truncated download's validators are not kept: the next pull fetches it in full.
    run(project, "feeds", "pull", "--no-similar", truncated)
    assert "if-none-match" not in server.request_headers("/truncated.xml")[-1]


def test_feeds_with_wrong_declared_encodings_are_decoded(project: Path, site: FeedSite) -> None:
    cp = site.put_file("/cp.xml", "cp1252_declared_utf8.xml")
    latin = site.put_file("/latin.xml", "latin1_declared.xml")
    ws = site.put_file("/ws.xml", "whitespace_decl.xml")
    subscribe_unchecked(project, cp, latin, ws)
    code, _, err = pull_json(project)
    assert code == 0, err
    titles = {i.title for i in catalog_items(project)}
    assert "Über Cafés" in titles and "First post" in titles
    assert any(t.startswith("\u201cHello\u201d from the caf") for t in titles)


def test_moved_feed_updates_the_subscription(project: Path, site: FeedSite) -> None:
    new = site.put_file("/new.xml", "blog_v1.xml", folder=E2E)
    site.server.add("/old.xml", status=301, redirect_to="/new.xml")
    site.server.add("/temp.xml", status=302, redirect_to="/new.xml")
    old = site.server.url("/old.xml")
    subscribe_unchecked(project, old)
    code, doc, err = pull_json(project)
    assert code == 0
    assert doc["feeds"][0]["moved_to"] == new and doc["totals"]["added"] == 3
    assert f"moved permanently to {new}" in err
    assert [s["url"] for s in yaml.safe_load((project / "feeds.yaml").read_text())] == [new]
    # Its state moved along: the next pull is a conditional GET of the new URL.
    doc = pull_json(project)[1]
    assert doc["feeds"][0]["status"] == "not_modified" and doc["feeds"][0]["url"] == new
    # A temporary redirect does not change the subscription.
    temp = site.server.url("/temp.xml")
    subscribe_unchecked(project, temp)
    assert pull_json(project, temp)[1]["feeds"][0]["moved_to"] is None
    assert temp in [s["url"] for s in yaml.safe_load((project / "feeds.yaml").read_text())]


def test_gone_feed_is_marked_and_no_longer_pulled(project: Path, site: FeedSite) -> None:
    site.server.add("/gone.xml", status=410, body=b"gone")
    good = site.put_file("/good.xml", "blog_v1.xml", folder=E2E)
    gone = site.server.url("/gone.xml")
    subscribe_unchecked(project, gone, good)
    code, doc, err = pull_json(project)
    assert code == 1
    by_url = {f["url"]: f for f in doc["feeds"]}
    assert by_url[gone]["status"] == "gone" and "410" in by_url[gone]["error"]
    assert by_url[good]["added"] == 3
    assert "gone (HTTP 410)" in err
    (sub,) = [s for s in yaml.safe_load((project / "feeds.yaml").read_text()) if s["url"] == gone]
    assert sub["gone"]
    hits = site.server.hits["/gone.xml"]
    code, doc, err = pull_json(project)
    assert code == 0  # known to be gone: a note, not a failure
    assert site.server.hits["/gone.xml"] == hits
    assert {f["url"]: f["status"] for f in doc["feeds"]}[gone] == "gone"


def test_pull_named_feeds_only_and_unknown_names_fail(project: Path, site: FeedSite) -> None:
    a = site.put_file("/a.xml", "blog_v1.xml", folder=E2E)
    b = site.put_file("/b.xml", "podcast_plain.xml")
    subscribe_unchecked(project, a, b)
    doc = pull_json(project, b)[1]
    assert [f["url"] for f in doc["feeds"]] == [b]
    assert site.server.hits["/a.xml"] == 0
    code, _, err = run(project, "feeds", "pull", "https://not-subscribed.example.com/feed")
    assert code == 1 and "not subscribed" in err


def test_text_output_lists_added_items_and_a_summary(project: Path, site: FeedSite) -> None:
    blog = site.put_file("/blog.xml", "blog_v1.xml", folder=E2E)
    subscribe_unchecked(project, blog)
    code, out, _ = run(project, "feeds", "pull", "--no-similar")
    assert code == 0
    assert out.count("added  ") == 3
    assert "1 feed(s): 3 new item(s)" in out


def test_subscribe_hint_for_a_show_added_with_add(project: Path, site: FeedSite) -> None:
    pod = site.put_file("/pod.xml", "podcast_itunes.xml")
    catalog = Catalog.open(project)
    try:
        (result,) = catalog.add([pod])
        assert result.status == "added" and result.item.kind == "podcast"
        assert subscribe_hint(catalog, result.item) == f"subscribe with: newsletter feeds add {pod}"
        Feeds(catalog).add([(pod, None, "")])
        assert subscribe_hint(catalog, result.item) is None
    finally:
        catalog.close()


@pytest.mark.parametrize(
    ("name", "folder", "prefix", "content_type", "kind", "title"),
    [
        ("podcast_itunes.xml", FEEDS, b"", "text/plain; charset=utf-8", "podcast", "Latent Space Radio"),
        ("blog_v1.xml", E2E, b"\xef\xbb\xbf \r\n\t", "application/octet-stream", "link", "Systems Notes"),
        ("jsonfeed.json", FEEDS, b"", "text/plain", "link", "Tiny JSON Blog"),
        ("jsonfeed.json", FEEDS, b"\n", "application/octet-stream", "link", "Tiny JSON Blog"),
    ],
)
def test_add_of_a_feed_served_as_plain_text_or_octet_stream_is_read_as_a_feed(
    project: Path, site: FeedSite, name: str, folder: Path, prefix: bytes, content_type: str, kind: str, title: str
) -> None:
    url = site.put(f"/{name}", prefix + (folder / name).read_bytes(), content_type)
    catalog = Catalog.open(project)
    try:
        (result,) = catalog.add([url])
    finally:
        catalog.close()
    assert result.status == "added", result
    assert result.item.kind == kind and result.item.title == title
    assert result.item.extra["feed_url"] == url


def test_plain_text_that_is_not_a_feed_is_still_read_as_a_page(project: Path, site: FeedSite) -> None:
    url = site.put("/notes.txt", b"<?xml-ish notes: remember to <rsvp> and to <feed> the cat\n", "text/plain")
    catalog = Catalog.open(project)
    try:
        (result,) = catalog.add([url])
    finally:
        catalog.close()
    assert result.status == "added", result
    assert "feed_url" not in result.item.extra


# --------------------------------------------------------------------------- near-duplicates of new entries

QLORA_TITLE = "QLoRA: Efficient Finetuning of Quantized LLMs"


def add_featured_paper(project: Path, issue: int = 12) -> str:
    """Catalog the QLoRA paper (no fetch) as published in `issue`, among a few others; returns its id.

    The others matter: a name two items of a three-item catalog share is not rare, so not evidence.
    """
    others = [f"https://notes.example.dev/posts/{slug}" for slug in ("p99", "queues", "littles-law", "backpressure")]
    assert run(project, "add", "--no-fetch", "--no-similar", *others)[0] == 0
    code, _, err = run(
        project, "add", "--no-fetch", "--no-similar", "--title", QLORA_TITLE,
        "--summary", "QLoRA finetunes a 65B parameter model on a single 48GB GPU: 4-bit NormalFloat, "
        "double quantization and paged optimizers; the Guanaco models.",
        "https://arxiv.org/abs/2305.14314",
    )
    assert code == 0, err
    catalog = Catalog.open(project)
    try:
        return catalog.set_status("https://arxiv.org/abs/2305.14314", "published", issue=issue).id
    finally:
        catalog.close()


SAME_WORK_FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>ML Digest</title>
<item><title>QLoRA: finetune a 65B model on a single 48GB GPU</title>
<link>https://digest.example.dev/posts/qlora</link><guid>digest-qlora</guid>
<pubDate>Tue, 07 May 2024 08:00:00 GMT</pubDate>
<description>A walk through QLoRA (Dettmers et al.): 4-bit NormalFloat quantization plus LoRA adapters,
and the Guanaco models.</description></item>
<item><title>Rewriting our log parser in Rust</title>
<link>https://digest.example.dev/posts/rust-parser</link><guid>digest-rust</guid>
<pubDate>Mon, 06 May 2024 08:00:00 GMT</pubDate>
<description>What a week of profiling taught us about allocation.</description></item>
</channel></rss>
"""


@pytest.mark.model
def test_pulled_entry_that_is_the_same_work_as_a_catalog_item_names_it(project: Path, site: FeedSite) -> None:
    paper_id = add_featured_paper(project)
    subscribe_unchecked(project, site.put("/digest.xml", SAME_WORK_FEED))
    code, doc, err = pull_json(project, similar=True)
    assert code == 0, err
    items = {r["item"]["title"]: r for r in doc["results"]}
    (match,) = items["QLoRA: finetune a 65B model on a single 48GB GPU"]["similar"]
    assert match["id"] == paper_id and match["title"] == QLORA_TITLE and match["issue"] == 12
    assert 0.5 <= match["score"] <= 1.0
    assert items["Rewriting our log parser in Rust"]["similar"] == []


def test_pull_no_similar_skips_the_model(project: Path, site: FeedSite) -> None:
    add_featured_paper(project)
    subscribe_unchecked(project, site.put("/digest.xml", SAME_WORK_FEED))
    code, doc, err = pull_json(project)  # --no-similar
    assert code == 0, err
    assert doc["totals"]["added"] == 2 and all(r["similar"] == [] for r in doc["results"])
    assert not (project / ".newsletter" / "semantic").exists()  # no engine, no embedding, no model

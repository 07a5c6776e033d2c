"""Every source kind lands in the catalog through `add`, `feeds pull` and `import`, against loopback services.

One loopback server plays the web: the X (Twitter) and YouTube oEmbed endpoints, the GitHub API, the
arXiv API, a blog post, a podcast feed and a link-roundup feed. The NEWSLETTER_* endpoint variables
point the tool at it.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.cli.sources import register_commands
from newsletter.feeds import Feeds, subscribe_hint
from newsletter.models import Item
from newsletter.project import init_project
from tests.httpserver import LoopbackServer
from tests.test_feeds import FeedSite

DATA = Path(__file__).parent / "data"
TWEET = "https://twitter.com/karpathy_fake/status/1763600000000000001?s=20"
VIDEO = "https://youtu.be/dQw4w9WgXcQ"
REPO = "https://github.com/Vector-Labs/TinyVec"
PAPER = "arXiv:2106.09685"
JSON = "application/json"

if "feeds" not in main.commands:  # until cli.py registers them
    register_commands(main)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "proj", name="Sources Weekly")


@pytest.fixture
def web(http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> LoopbackServer:
    server = http_server
    server.add("/oembed/twitter", body=(DATA / "oembed" / "tweet_single.json").read_bytes(), content_type=JSON)
    server.add("/oembed/youtube", body=(DATA / "oembed" / "youtube.json").read_bytes(), content_type=JSON)
    repo = (DATA / "github" / "repo.json").read_bytes()
    server.add("/github/repos/vector-labs/tinyvec", body=repo, content_type=JSON)
    server.add("/github/repos/nobody/nothing", status=404, body=(DATA / "github" / "not_found.json").read_bytes(),
               content_type=JSON)
    arxiv = (DATA / "site" / "arxiv_lora.xml").read_bytes()
    server.add("/api/query", body=arxiv, content_type="application/atom+xml")
    server.add("/writing/llm-patterns/", body=(DATA / "site" / "blog_post.html").read_bytes())
    site = FeedSite(server)
    site.put_file("/pod.xml", "podcast_itunes.xml")
    site.put_file("/roundup.xml", "mixed_links.xml", folder=DATA / "feeds_e2e")
    monkeypatch.setenv("NEWSLETTER_TWITTER_OEMBED", server.url("/oembed/twitter"))
    monkeypatch.setenv("NEWSLETTER_YOUTUBE_OEMBED", server.url("/oembed/youtube"))
    monkeypatch.setenv("NEWSLETTER_GITHUB_API", server.url("/github"))
    monkeypatch.setenv("NEWSLETTER_ARXIV_API", server.url("/api/query"))
    return server


@pytest.fixture
def catalog(project: Path) -> Catalog:
    cat = Catalog.open(project)
    yield cat
    cat.close()


def add_one(catalog: Catalog, url: str) -> Item:
    (result,) = catalog.add([url])
    assert result.status == "added", result.error
    assert result.item is not None
    return result.item


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


# --------------------------------------------------------------------------- add


def test_tweet_through_add_uses_the_oembed_endpoint(catalog: Catalog, web: LoopbackServer) -> None:
    item = add_one(catalog, TWEET)
    assert item.kind == "tweet"
    assert item.canonical_url == "https://x.com/i/status/1763600000000000001"
    assert item.extra["handle"] == "karpathy_fake"
    assert item.title.startswith("Andrea K. Example on X: New post")
    assert item.published == "2024-03-01" and item.site == "X (Twitter)"
    assert item.extra["links"] == ["https://t.co/AbC123xyz", "https://t.co/PiC987qwe"]
    (request,) = [p for p, _ in web.requests if p.startswith("/oembed/twitter")]
    assert parse_qs(urlsplit(request).query)["url"] == [TWEET]
    (again,) = catalog.add(["https://x.com/karpathy_fake/status/1763600000000000001"])
    assert again.status == "exists"


def test_youtube_video_through_add(catalog: Catalog, web: LoopbackServer) -> None:
    item = add_one(catalog, VIDEO)
    assert item.kind == "video"
    assert item.canonical_url == "https://youtube.com/watch?v=dQw4w9WgXcQ"
    assert item.title == "Attention Is All You Need — paper walkthrough"
    assert item.extra["channel"] == "ML Paper Club" and item.image.startswith("https://i.ytimg.com/")
    assert catalog.add(["https://www.youtube.com/watch?v=dQw4w9WgXcQ&feature=share"])[0].status == "exists"


def test_github_repo_through_add(catalog: Catalog, web: LoopbackServer) -> None:
    item = add_one(catalog, REPO)
    assert item.kind == "repo" and item.title == "Vector-Labs/TinyVec"
    assert item.canonical_url == "https://github.com/vector-labs/tinyvec"
    assert item.extra["stars"] == 4321 and item.extra["language"] == "Rust"
    assert {"vector-search", "hnsw"} <= set(item.tags)
    assert web.request_headers("/github/repos/vector-labs/tinyvec")[0]["accept"] == "application/vnd.github+json"


def test_unknown_repo_and_deleted_tweet_fail_with_one_clear_line(
    catalog: Catalog, web: LoopbackServer
) -> None:
    web.add("/oembed/twitter", status=404, body=(DATA / "oembed" / "tweet_error.json").read_bytes(), content_type=JSON)
    results = catalog.add(["https://github.com/nobody/nothing", "https://x.com/someone/status/42"])
    assert [r.status for r in results] == ["failed", "failed"]
    assert all(r.error and "\n" not in r.error for r in results)
    assert "404" in results[0].error


def test_podcast_show_through_add_and_the_subscribe_hint(catalog: Catalog, web: LoopbackServer) -> None:
    url = web.url("/pod.xml")
    item = add_one(catalog, url)
    assert item.kind == "podcast" and item.title == "Latent Space Radio"
    assert item.extra["show"] == "Latent Space Radio" and item.extra["feed_url"] == url
    assert item.authors == ["Ada Host & Bo Cohost"]
    assert subscribe_hint(catalog, item) == f"subscribe with: newsletter feeds add {url}"


def test_paper_and_page_through_add(catalog: Catalog, web: LoopbackServer) -> None:
    paper = add_one(catalog, PAPER)
    assert paper.kind == "paper" and paper.extra["arxiv_id"] == "2106.09685"
    assert paper.title == "LoRA: Low-Rank Adaptation of Large Language Models"
    link = add_one(catalog, web.url("/writing/llm-patterns/"))
    assert link.kind == "link" and link.title == "Patterns for Building LLM-based Systems & Products"


# --------------------------------------------------------------------------- feeds pull


def test_every_kind_through_feeds_pull_from_the_feeds_own_metadata(project: Path, web: LoopbackServer) -> None:
    catalog = Catalog.open(project)
    try:
        results = Feeds(catalog).add([(web.url("/roundup.xml"), None, ""), (web.url("/pod.xml"), None, "")])
        assert [r.status for r in results] == ["added", "added"]
    finally:
        catalog.close()
    code, _, err = run(project, "feeds", "pull", "--no-similar", "--json")
    assert code == 0, err
    catalog = Catalog.open(project)
    try:
        items = catalog.items()
    finally:
        catalog.close()
    kinds = {i.kind for i in items}
    assert kinds == {"tweet", "video", "repo", "paper", "link", "podcast"}
    by_kind = {i.kind: i for i in items if i.kind != "podcast"}
    assert by_kind["tweet"].canonical_url == "https://x.com/i/status/1763600000000000001"
    assert by_kind["tweet"].extra["handle"] == "karpathy_fake" and by_kind["tweet"].title == "A thread on tokenizers"
    assert by_kind["video"].canonical_url == "https://youtube.com/watch?v=dQw4w9WgXcQ"
    assert by_kind["repo"].canonical_url == "https://github.com/vector-labs/tinyvec"
    assert by_kind["paper"].extra["arxiv_id"] == "1706.03762"
    assert by_kind["link"].canonical_url == "http://notes.example.dev/posts/queues"
    assert all(i.extra["feed_url"] for i in items)
    # The feed says enough: no API or page was asked about any entry.
    assert not [p for p, _ in web.requests if not p.startswith(("/roundup.xml", "/pod.xml"))]


# --------------------------------------------------------------------------- import


def test_every_kind_through_import_with_fetch(project: Path, tmp_path: Path, web: LoopbackServer) -> None:
    listing = tmp_path / "week.txt"
    listing.write_text(
        "\n".join([TWEET, VIDEO, REPO, "https://arxiv.org/abs/2106.09685", web.url("/writing/llm-patterns/"),
                   web.url("/pod.xml") + " My favourite show"])
        + "\n"
    )
    code, out, err = run(project, "import", "--no-similar", "--json", str(listing))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["totals"]["added"] == 6 and {r["item"]["kind"] for r in doc["results"]} >= {"tweet", "repo"}
    catalog = Catalog.open(project)
    try:
        by_kind = {i.kind: i for i in catalog.items()}
    finally:
        catalog.close()
    assert set(by_kind) == {"tweet", "video", "repo", "paper", "link", "podcast"}
    assert by_kind["repo"].extra["stars"] == 4321
    assert by_kind["video"].extra["channel"] == "ML Paper Club"
    assert by_kind["paper"].title == "LoRA: Low-Rank Adaptation of Large Language Models"
    assert by_kind["podcast"].title == "My favourite show"  # the file's title wins
    assert by_kind["podcast"].extra["show"] == "Latent Space Radio"
    assert json.loads(run(project, "import", "--no-similar", "--json", str(listing))[1])["totals"]["added"] == 0


def test_every_url_kind_through_import_without_fetching(project: Path, tmp_path: Path, web: LoopbackServer) -> None:
    listing = tmp_path / "week.txt"
    listing.write_text("\n".join([TWEET, VIDEO, REPO, "https://arxiv.org/pdf/2106.09685v1", "https://example.com/x"]))
    code, _, err = run(project, "import", "--no-fetch", "--no-similar", "--json", str(listing))
    assert code == 0, err
    assert not web.requests  # no network at all
    catalog = Catalog.open(project)
    try:
        by_kind = {i.kind: i for i in catalog.items()}
    finally:
        catalog.close()
    assert set(by_kind) == {"tweet", "video", "repo", "paper", "link"}
    assert by_kind["tweet"].extra["handle"] == "karpathy_fake"
    assert by_kind["paper"].extra["arxiv_id"] == "2106.09685"

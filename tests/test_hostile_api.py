"""Hostile API answers (GitHub REST, X and YouTube oEmbed), parsed and added end to end against loopback.

Lone surrogates, a 100,000-character topic, a 1 MB licence, JSON nested 100,000 deep, credentials in
links. Each answer either becomes a clean, capped item or fails alone with one clear line; the rest of
the batch is added.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.errors import SourceError
from newsletter.models import Metadata
from newsletter.project import init_project
from newsletter.sources.github import parse_repo
from newsletter.sources.oembed import parse_tweet_oembed, parse_youtube_oembed
from newsletter.text import LICENSE_MAX, MAX_TAGS, TAG_MAX
from tests.httpserver import LoopbackServer

DATA = Path(__file__).parent / "data"
HOSTILE = DATA / "hostile_api"
JSON = "application/json"
NESTED = b"[" * 100_000 + b"]" * 100_000
TWEET = "https://twitter.com/evil_fake/status/1763600000000000002"


def good_repo(**changes: object) -> bytes:
    doc = json.loads((DATA / "github" / "repo.json").read_text(encoding="utf-8"))
    doc.update(changes)
    return json.dumps(doc).encode()


def storable(meta: Metadata) -> str:
    """The metadata as UTF-8 JSON: raises UnicodeEncodeError if any string still holds a surrogate."""
    text = json.dumps(dataclasses.asdict(meta), ensure_ascii=False)
    text.encode("utf-8")
    return text


# --------------------------------------------------------------------------- the parsers


def test_github_answer_with_surrogates_is_cleaned() -> None:
    meta = parse_repo((HOSTILE / "repo_surrogates.json").read_bytes())
    text = storable(meta)
    assert "hunter2" not in text
    assert meta.title == "evil-org/surro\ufffdgate" and meta.authors == ["evil\ufffd-org"]
    assert "homepage" not in meta.extra and meta.image == ""  # URLs holding a surrogate are dropped
    assert meta.canonical_url == ""  # not an owner/repo name, so not an identity either
    assert "ok-topic" in meta.suggested_tags


def test_github_giant_topic_and_licence_are_left_out() -> None:
    topics = ["t" * 100_000, "vector-search", *(f"topic-{i}" for i in range(100))]
    meta = parse_repo(good_repo(topics=topics, license={"spdx_id": "L" * 1_000_000}))
    assert "license" not in meta.extra
    assert meta.suggested_tags[0] == "vector-search" and len(meta.suggested_tags) == MAX_TAGS
    assert len(meta.extra["topics"]) == MAX_TAGS
    assert all(len(t) <= TAG_MAX for t in [*meta.suggested_tags, *meta.extra["topics"]])
    assert len(storable(meta)) < 20_000


def test_github_description_loses_whole_escape_sequences_not_only_their_esc() -> None:
    # JSON carries a raw ESC (unlike HTML, whose &#x1b; the unescaper drops): the OSC 8 link's target
    # and the clear-screen sequence must not survive as text in the stored summary.
    description = "Fast \x1b]8;;http://evil.example/\x07vectors\x1b]8;;\x07 \x1b[2Jfor \x1b[31mall\x1b[0m"
    meta = parse_repo(good_repo(description=description))
    assert meta.summary == "Fast vectors for all"


def test_github_short_licence_is_kept() -> None:
    assert parse_repo(good_repo(license={"spdx_id": "X" * LICENSE_MAX})).extra["license"] == "X" * LICENSE_MAX


@pytest.mark.parametrize("parse", [
    parse_repo,
    lambda data: parse_tweet_oembed(data, status_url=TWEET),
    lambda data: parse_youtube_oembed(data, video_url="https://youtube.com/watch?v=dQw4w9WgXcQ"),
])
def test_json_nested_100k_deep_is_a_source_error(parse: object) -> None:
    for body in (NESTED, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        with pytest.raises(SourceError) as info:
            parse(body)  # type: ignore[operator]
        assert "\n" not in str(info.value)


def test_tweet_oembed_with_surrogates_and_credentials_is_cleaned() -> None:
    meta = parse_tweet_oembed((HOSTILE / "tweet_surrogates.json").read_bytes(), status_url=TWEET)
    text = storable(meta)
    assert "hunter2" not in text
    assert meta.authors == ["Evil \ufffd Example"] and "Hello \ufffd world" in meta.extra["text"]
    assert meta.extra["links"] == ["https://example.org/secret", "https://good.example.org/post"]


def test_youtube_oembed_with_surrogates_is_cleaned() -> None:
    meta = parse_youtube_oembed((HOSTILE / "youtube_surrogates.json").read_bytes(),
                                video_url="https://youtube.com/watch?v=dQw4w9WgXcQ")
    storable(meta)
    assert meta.title == "A video \ufffd title" and meta.image == ""


# --------------------------------------------------------------------------- end to end through `add`


@pytest.fixture
def api(http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> LoopbackServer:
    server = http_server
    server.add("/github/repos/evil-org/surrogate", body=(HOSTILE / "repo_surrogates.json").read_bytes(),
               content_type=JSON)
    server.add("/github/repos/evil-org/topics", content_type=JSON,
               body=good_repo(full_name="evil-org/topics", topics=["t" * 100_000, "ok"]))
    server.add("/github/repos/evil-org/licence", content_type=JSON,
               body=good_repo(full_name="evil-org/licence", license={"spdx_id": "L" * 1_000_000}))
    server.add("/github/repos/evil-org/nested", body=NESTED, content_type=JSON)
    server.add("/github/repos/vector-labs/tinyvec", body=good_repo(), content_type=JSON)
    server.add("/oembed/twitter", body=(HOSTILE / "tweet_surrogates.json").read_bytes(), content_type=JSON)
    monkeypatch.setenv("NEWSLETTER_GITHUB_API", server.url("/github"))
    monkeypatch.setenv("NEWSLETTER_TWITTER_OEMBED", server.url("/oembed/twitter"))
    return server


def test_add_batch_of_hostile_answers_saves_the_good_ones(tmp_path: Path, api: LoopbackServer) -> None:
    project = init_project(tmp_path / "proj", name="API Weekly")
    urls = [f"https://github.com/evil-org/{name}" for name in ("surrogate", "topics", "licence", "nested")]
    urls += [TWEET, "https://github.com/Vector-Labs/TinyVec"]
    result = CliRunner().invoke(main, ["-C", str(project), "add", "--no-similar", *urls], catch_exceptions=False)
    err = result.stderr
    assert "Traceback" not in err and "bug" not in err
    assert result.exit_code == 1  # the nested answer failed
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "nested" in errors[0] and "evil-org/nested" in errors[0]

    catalog = Catalog.open(project)
    try:
        items = {i.canonical_url: i for i in catalog.items()}
    finally:
        catalog.close()
    assert set(items) == {
        "https://github.com/evil-org/surrogate", "https://github.com/evil-org/topics",
        "https://github.com/evil-org/licence", "https://x.com/i/status/1763600000000000002",
        "https://github.com/vector-labs/tinyvec",
    }
    assert items["https://github.com/evil-org/topics"].tags == ["ok"]
    assert "license" not in items["https://github.com/evil-org/licence"].extra
    files = list((project / "catalog").rglob("*.md"))
    assert len(files) == 5
    for path in files:
        text = path.read_bytes().decode("utf-8")  # valid UTF-8, so no surrogate made it to disk
        assert "hunter2" not in text and len(text) < 20_000

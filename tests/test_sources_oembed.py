"""Tests for newsletter.sources.oembed: tweet and YouTube oEmbed parsing on fixture files."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from newsletter.errors import SourceError
from newsletter.sources.oembed import (
    parse_tweet_oembed,
    parse_youtube_oembed,
    tweet_oembed_url,
    youtube_oembed_url,
)

DATA = Path(__file__).parent / "data" / "oembed"
STATUS = "https://twitter.com/karpathy_fake/status/1763600000000000001"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_tweet_oembed_url_has_url_omit_script_and_dnt() -> None:
    url = tweet_oembed_url("https://publish.twitter.com/oembed", STATUS)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://publish.twitter.com/oembed"
    assert parse_qs(parts.query) == {"url": [STATUS], "omit_script": ["1"], "dnt": ["true"]}


def test_youtube_oembed_url_appends_to_an_existing_query() -> None:
    url = youtube_oembed_url("http://127.0.0.1:8123/oembed?key=1", "https://www.youtube.com/watch?v=abc&t=5")
    parts = urlsplit(url)
    assert parts.path == "/oembed"
    assert parse_qs(parts.query) == {
        "key": ["1"], "url": ["https://www.youtube.com/watch?v=abc&t=5"], "format": ["json"]
    }


def test_single_tweet_fields() -> None:
    meta = parse_tweet_oembed(load("tweet_single.json"), status_url=STATUS)
    text = 'New post: "Tokenizers & you" — why BPE still matters.\n\n' \
        "Paper: https://t.co/AbC123xyz by @someone #NLP pic.twitter.com/PiC987qwe"
    assert meta.kind == "tweet"
    assert meta.site == "X (Twitter)"
    assert meta.authors == ["Andrea K. Example"]
    assert meta.published == "2024-03-01"
    assert meta.title == 'Andrea K. Example on X: New post: "Tokenizers & you" — why BPE still matters.'
    assert meta.extra == {
        "handle": "karpathy_fake",
        "text": text,
        "links": ["https://t.co/AbC123xyz", "https://t.co/PiC987qwe"],
    }
    assert meta.summary == " ".join(text.split())


def test_thread_keeps_all_paragraphs_in_order() -> None:
    meta = parse_tweet_oembed(load("tweet_thread.json"), status_url="https://twitter.com/threader/status/2")
    assert meta.extra["text"] == (
        "1/ A short thread on vector databases ↓\n\n"
        "2/ HNSW trades memory for recall. Details: https://t.co/Thr3ad0002"
    )
    assert meta.extra["handle"] == "threader"
    assert meta.extra["links"] == ["https://t.co/Thr3ad0002"]
    assert meta.published == "2024-01-25"
    assert meta.title == "Thread Writer on X: 1/ A short thread on vector databases ↓"


def test_hostile_tweet_html_yields_text_only() -> None:
    meta = parse_tweet_oembed(load("tweet_hostile.json"), status_url="https://x.com/evil/status/3")
    fields = [meta.title, meta.summary, meta.extra["text"], *meta.authors, *meta.extra["links"]]
    for value in fields:
        lowered = value.lower()
        assert "<" not in value and ">" not in value
        assert "script" not in lowered and "alert" not in lowered and "onerror" not in lowered
        assert "\x00" not in value and "\x07" not in value
    assert meta.extra["text"] == "Click here not a tag now"
    assert meta.extra["links"] == []  # javascript: hrefs are not links
    assert meta.authors == ["Evil Bot"]
    assert meta.extra["handle"] == "evil"
    assert meta.published == "2023-07-04"


def test_long_tweet_title_is_cut_at_a_word() -> None:
    words = " ".join(f"word{i}" for i in range(40))
    body = (
        '{"author_name": "Long Writer", "author_url": "https://twitter.com/longw", "html": '
        f'"<blockquote class=\\"twitter-tweet\\"><p>{words}</p>&mdash; Long Writer (@longw) '
        '<a href=\\"https://twitter.com/longw/status/9\\">May 5, 2023</a></blockquote>"}'
    ).encode()
    meta = parse_tweet_oembed(body, status_url="https://twitter.com/longw/status/9")
    prefix = "Long Writer on X: "
    assert meta.title.startswith(prefix)
    assert meta.title.endswith("…")
    tail = meta.title[len(prefix):-1]
    assert len(tail) <= 80 and words.startswith(tail) and words[len(tail)] == " "
    assert meta.extra["text"] == words


def test_handle_falls_back_to_author_url() -> None:
    body = (b'{"author_name": "No Trailer", "author_url": "https://twitter.com/fallback_h", '
            b'"html": "<blockquote><p>hi</p></blockquote>"}')
    meta = parse_tweet_oembed(body, status_url="https://twitter.com/fallback_h/status/1")
    assert meta.extra["handle"] == "fallback_h"
    assert meta.published is None
    assert meta.title == "No Trailer on X: hi"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (None, "Sorry, that page does not exist."),
        (b"", "did not return JSON"),
        (b"<html><body>Rate limited</body></html>", "did not return JSON"),
        (b"[1, 2]", "unexpected JSON"),
        (b'{"author_name": "x"}', "has no tweet HTML"),
        (b'{"error": "Tweet is private"}', "Tweet is private"),
    ],
)
def test_tweet_error_bodies_raise_source_error(data: bytes | None, fragment: str) -> None:
    body = load("tweet_error.json") if data is None else data
    with pytest.raises(SourceError, match=fragment) as excinfo:
        parse_tweet_oembed(body, status_url=STATUS)
    assert STATUS in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_truncated_tweet_json_raises_source_error() -> None:
    with pytest.raises(SourceError, match="did not return JSON"):
        parse_tweet_oembed(load("truncated.json"), status_url=STATUS)


def test_youtube_fields() -> None:
    meta = parse_youtube_oembed(load("youtube.json"), video_url="https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert meta.kind == "video"
    assert meta.title == "Attention Is All You Need — paper walkthrough"
    assert meta.authors == ["ML Paper Club"]
    assert meta.extra == {"channel": "ML Paper Club"}
    assert meta.image == "https://i.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg"
    assert meta.site == "YouTube"
    assert meta.summary == ""


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (None, "did not return JSON \\(got 'Not Found'\\)"),
        (b"Unauthorized", "did not return JSON"),
        (b'{"type": "video"}', "has no title"),
        (b"\xff\xfe\x00garbage", "did not return JSON"),
    ],
)
def test_youtube_error_bodies_raise_source_error(data: bytes | None, fragment: str) -> None:
    body = load("youtube_not_found.txt") if data is None else data
    with pytest.raises(SourceError, match=fragment):
        parse_youtube_oembed(body, video_url="https://youtu.be/missing")

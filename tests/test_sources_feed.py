"""Tests for newsletter.sources.feed: RSS/Atom/JSON Feed and podcast parsing on fixture files."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.errors import SourceError
from newsletter.sources.feed import parse_duration, parse_feed

DATA = Path(__file__).parent / "data" / "feeds"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_podcast_feed_with_itunes_tags_extracts_show_and_episode_fields() -> None:
    feed = parse_feed(load("podcast_itunes.xml"), url="https://radio.example.org/feed.xml")
    assert feed.is_podcast
    assert feed.title == "Latent Space Radio"
    assert feed.site_url == "https://radio.example.org/"
    assert feed.description == "Conversations about machine learning systems."
    assert feed.image == "https://radio.example.org/art/show-3000.jpg"
    assert feed.author == "Ada Host & Bo Cohost"
    assert feed.warnings == []
    assert len(feed.entries) == 5
    first = feed.entries[0]
    assert first.key == "lsr-ep-42"
    assert first.link == "https://radio.example.org/episodes/42"
    meta = first.metadata
    assert meta.kind == "podcast"
    assert meta.title == "Ep. 42 – Retrieval at Scale"
    assert meta.summary == "We talk vector indexes, HNSW and recall & latency trade-offs."
    assert meta.authors == ["Ada Host"]
    assert meta.published == "2024-03-05"
    assert meta.site == "Latent Space Radio"
    assert meta.image == "https://radio.example.org/art/ep42.jpg"
    assert meta.suggested_tags == ["vector-search"]
    assert meta.extra == {
        "show": "Latent Space Radio",
        "audio_url": "https://cdn.example.org/audio/lsr-042.mp3",
        "duration_s": 3723,
        "episode_url": "https://radio.example.org/episodes/42",
        "guid": "lsr-ep-42",
        "feed_url": "https://radio.example.org/feed.xml",
    }


def test_podcast_episode_falls_back_to_show_image_and_author_and_strips_html() -> None:
    feed = parse_feed(load("podcast_itunes.xml"), url="https://radio.example.org/feed.xml")
    second = feed.entries[1].metadata
    assert second.image == "https://radio.example.org/art/show-3000.jpg"
    assert second.authors == ["Ada Host & Bo Cohost"]
    assert second.summary == "Byte-pair encoding, explained."
    assert "alert" not in second.summary
    third = feed.entries[2].metadata
    assert third.summary == "Only content:encoded here."
    assert "episode_url" not in third.extra
    assert feed.entries[2].link == ""


def test_podcast_durations_in_every_shape_and_garbage_omitted() -> None:
    feed = parse_feed(load("podcast_itunes.xml"), url="https://radio.example.org/feed.xml")
    durations = [e.metadata.extra.get("duration_s") for e in feed.entries]
    assert durations == [3723, 2707, 3725, None, 3723]
    assert "duration_s" not in feed.entries[3].metadata.extra


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("1:02:03", 3723), ("45:07", 2707), ("3725", 3725), ("1:02:03.5", 3723), (" 07 ", 7), (90, 90),
     ("garbage", None), ("", None), ("1:2:3:4", None), ("-5", None), (None, None)],
)
def test_parse_duration(raw: object, seconds: int | None) -> None:
    assert parse_duration(raw) == seconds


def test_podcast_without_itunes_tags_is_detected_from_audio_enclosures() -> None:
    feed = parse_feed(load("podcast_plain.xml"), url="https://garage.example.net/rss")
    assert feed.is_podcast
    assert feed.image == "https://garage.example.net/logo.png"
    kinds = [e.metadata.kind for e in feed.entries]
    assert kinds == ["podcast", "podcast"]
    first, second = (e.metadata for e in feed.entries)
    assert first.authors == ["Cy Host"]
    assert first.extra["audio_url"] == "https://garage.example.net/media/ep2.mp3"
    # An enclosure with an empty type is audio when its extension says so.
    assert second.extra["audio_url"] == "https://garage.example.net/media/ep1.ogg"
    assert "duration_s" not in second.extra


def test_relative_urls_resolve_against_xml_base_and_feed_url() -> None:
    feed = parse_feed(load("xml_base.xml"), url="https://feeds.example.org/relpod.xml")
    assert feed.site_url == "https://media.example.com/shows/relpod/index.html"
    assert feed.image == "https://media.example.com/shows/relpod/art/cover.jpg"
    one, two = feed.entries
    assert one.link == "https://media.example.com/shows/relpod/episodes/1.html"
    assert one.metadata.extra["audio_url"] == "https://media.example.com/shows/relpod/audio/one.mp3"
    assert two.link == "https://cdn.example.com/shows/relpod/episodes/2.html"
    assert two.metadata.extra["audio_url"] == "https://cdn.example.com/relpod/two.mp3"
    assert one.metadata.image == "https://media.example.com/shows/relpod/art/cover.jpg"


def test_whitespace_before_xml_declaration_still_parses() -> None:
    data = load("whitespace_decl.xml")
    assert data.startswith(b"\n\n")
    feed = parse_feed(data, url="https://ws.example.com/feed")
    assert feed.title == "Leading Whitespace Blog"
    assert [e.key for e in feed.entries] == ["ws-1"]
    assert feed.entries[0].metadata.published == "2024-01-10"
    assert feed.warnings == []


def test_bom_before_xml_declaration_still_parses() -> None:
    feed = parse_feed(b"\xef\xbb\xbf  " + load("whitespace_decl.xml"), url="https://ws.example.com/feed")
    assert feed.title == "Leading Whitespace Blog"


def test_atom_blog_feed() -> None:
    feed = parse_feed(load("atom_blog.xml"), url="https://blog.example.dev/atom.xml")
    assert not feed.is_podcast
    assert feed.title == "Compilers & Coffee"
    assert feed.description == "Notes on compilers."
    assert feed.site_url == "https://blog.example.dev/"
    assert feed.author == "Dana Writer"
    first, second = feed.entries
    assert first.key == "tag:blog.example.dev,2024:regalloc"
    assert first.link == "https://blog.example.dev/posts/regalloc/"
    assert first.metadata.kind is None
    assert first.metadata.title == "Register allocation, gently"
    assert first.metadata.summary == "Graph colouring without tears."
    assert first.metadata.published == "2024-05-01"
    assert first.metadata.authors == ["Dana Writer"]  # inherited from the feed
    assert first.metadata.suggested_tags == ["compilers", "register-allocation"]
    assert first.metadata.extra == {}
    assert second.metadata.published == "2024-04-20"  # <updated> when there is no <published>
    assert second.metadata.authors == ["Guest Author"]
    assert second.metadata.summary == "XHTML content only."


def test_rss10_rdf_feed() -> None:
    feed = parse_feed(load("rss10.rdf"), url="https://news.example.org/rss")
    assert feed.title == "Example Science News"
    assert [e.link for e in feed.entries] == ["https://news.example.org/a/1", "https://news.example.org/a/2"]
    first = feed.entries[0].metadata
    assert first.title == "Sparse attention revisited"
    assert first.authors == ["Eve Reporter"]
    assert first.published == "2024-02-14"
    assert first.suggested_tags == ["attention"]
    assert feed.entries[1].metadata.published == "2024-02-13"


def test_rss091_feed_with_latin1_declaration() -> None:
    feed = parse_feed(load("rss091.xml"), url="http://oldschool.example.com/rss")
    assert feed.title == "Old School Links"
    first, second = feed.entries
    assert first.metadata.title == "Café hacking notes"
    assert first.metadata.summary == "Notes from the café."
    assert first.key == "http://oldschool.example.com/cafe.html"
    assert second.metadata.summary == ""
    assert first.metadata.published is None


def test_json_feed_11() -> None:
    feed = parse_feed(load("jsonfeed.json"), url="https://json.example.com/feed.json",
                      content_type="application/feed+json")
    assert feed.title == "Tiny JSON Blog"
    assert feed.site_url == "https://json.example.com/"
    assert feed.description == "A blog that only speaks JSON Feed."
    assert feed.image == "https://json.example.com/icon-512.png"
    assert feed.author == "Jay Son"
    assert not feed.is_podcast  # one audio item out of three
    first, second, third = feed.entries
    assert first.key == "2024-06-01-evals"
    assert first.link == "https://json.example.com/2024/06/01/evals.html"
    assert first.metadata.title == "Evals are hard"
    assert first.metadata.summary == "Why evaluation is hard."
    assert first.metadata.published == "2024-06-01"
    assert first.metadata.suggested_tags == ["evaluation", "llm"]
    assert first.metadata.image == "https://json.example.com/img/evals.png"
    assert first.metadata.authors == ["Jay Son"]
    assert second.key == "1234"  # numeric ids become strings
    assert second.metadata.title == ""
    assert second.metadata.summary == "A note without a title. Second line."
    assert second.metadata.published == "2024-05-21"
    assert second.metadata.authors == ["Guest Poster"]
    assert third.metadata.kind is None


def test_json_feed_podcast_uses_attachments() -> None:
    data = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "JSON Pod", "items": ['
        b'{"id": "e1", "title": "One", "url": "https://pod.example/1",'
        b' "date_published": "2024-01-02T00:00:00Z",'
        b' "attachments": [{"url": "/a/1.mp3", "mime_type": "audio/mpeg", "duration_in_seconds": 61}]}]}'
    )
    feed = parse_feed(data, url="https://pod.example/feed.json")
    assert feed.is_podcast
    meta = feed.entries[0].metadata
    assert meta.kind == "podcast"
    assert meta.extra == {
        "show": "JSON Pod",
        "audio_url": "https://pod.example/a/1.mp3",
        "duration_s": 61,
        "episode_url": "https://pod.example/1",
        "guid": "e1",
        "feed_url": "https://pod.example/feed.json",
    }


def test_entries_without_guid_or_date_get_link_or_hash_keys() -> None:
    feed = parse_feed(load("no_guid_no_date.xml"), url="https://keyless.example.org/rss")
    keys = [e.key for e in feed.entries]
    # Link key: scheme/host lower-cased, fragment and utm_* dropped, other query kept.
    assert keys[0] == "https://keyless.example.org/posts/one?id=7"
    assert keys[1].startswith("sha256:") and keys[2].startswith("sha256:")
    assert len(set(keys)) == 3
    assert all(e.metadata.published is None for e in feed.entries)


def test_keys_are_stable_across_parses_and_date_rewrites() -> None:
    for name in ("no_guid_no_date.xml", "podcast_itunes.xml", "atom_blog.xml", "rss091.xml"):
        data = load(name)
        first = [e.key for e in parse_feed(data, url="https://feeds.example.org/a").entries]
        again = [e.key for e in parse_feed(data, url="https://feeds.example.org/a").entries]
        assert first == again
    original = load("podcast_itunes.xml")
    rewritten = original.replace(b"2024 09:00:00 +0000", b"2025 11:30:00 +0000").replace(b"Tue,", b"Wed,")
    assert rewritten != original
    before = parse_feed(original, url="https://radio.example.org/feed.xml")
    after = parse_feed(rewritten, url="https://radio.example.org/feed.xml")
    assert [e.key for e in before.entries] == [e.key for e in after.entries]
    assert before.entries[0].metadata.published != after.entries[0].metadata.published
    # Hash keys ignore dates too: add a date to the key-less entries.
    keyless = load("no_guid_no_date.xml")
    date = b"<pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate>"
    dated = keyless.replace(b"</title>\n    </item>", b"</title>" + date + b"</item>")
    assert dated != keyless
    assert [e.key for e in parse_feed(keyless, url="https://k/").entries] == [
        e.key for e in parse_feed(dated, url="https://k/").entries
    ]


def test_relative_permalink_guid_key_does_not_depend_on_feed_url() -> None:
    data = load("whitespace_decl.xml")
    assert parse_feed(data, url="https://a.example/feed").entries[0].key == "ws-1"
    assert parse_feed(data, url="http://b.example/other").entries[0].key == "ws-1"


def test_truncated_xml_returns_complete_entries_with_warnings() -> None:
    feed = parse_feed(load("truncated.xml"), url="https://cut.example.com/rss")
    assert feed.title == "Cut Short"
    assert [e.key for e in feed.entries] == ["cut-1", "cut-2"]
    assert feed.entries[0].metadata.summary == "All here."
    assert feed.warnings
    assert any("truncated XML" in w for w in feed.warnings)


def test_html_page_instead_of_feed_names_the_feed_url() -> None:
    with pytest.raises(SourceError) as excinfo:
        parse_feed(load("html_page.html"), url="https://blog.example.dev/", content_type="text/html")
    message = str(excinfo.value)
    assert "is an HTML page" in message
    assert "https://blog.example.dev/feed.xml" in message
    assert "\n" not in message


def test_html_page_without_feed_link_says_so() -> None:
    with pytest.raises(SourceError, match="is an HTML page, not a feed"):
        parse_feed(load("html_no_feed_link.html"), url="https://x.example/")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"this is not xml at all { just some words", "not a valid RSS/Atom/JSON feed"),
        (b"", "empty body"),
        (b"   \n\t ", "empty body"),
        (b"<?xml version='1.0'?><root><child/></root>", "not a valid RSS/Atom/JSON feed"),
        (b'{"not": "a feed"}', "not a valid RSS/Atom/JSON feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "bad JSON"),
        (b"\x00\x01\x02\xff\xfe garbage", "not a valid RSS/Atom/JSON feed"),
    ],
)
def test_garbage_raises_source_error(data: bytes, fragment: str) -> None:
    with pytest.raises(SourceError, match=fragment):
        parse_feed(data, url="https://bad.example/feed")


def test_garbage_file_message_names_url_and_reason() -> None:
    with pytest.raises(SourceError) as excinfo:
        parse_feed(load("garbage.txt"), url="https://bad.example/feed")
    assert str(excinfo.value).startswith("https://bad.example/feed is not a valid RSS/Atom/JSON feed: ")


def test_cp1252_bytes_declared_utf8_decode_without_crashing() -> None:
    feed = parse_feed(load("cp1252_declared_utf8.xml"), url="https://cp.example.com/rss")
    assert feed.title == "Café “Quotes” Weekly"
    entry = feed.entries[0].metadata
    assert entry.title == "“Hello” from the café"
    assert entry.summary == "Naïve — text."
    assert any("encoding" in w for w in feed.warnings)


def test_latin1_feed_with_encoding_declaration() -> None:
    feed = parse_feed(load("latin1_declared.xml"), url="https://latin.example.de/rss")
    assert feed.title == "Grüße aus München"
    assert feed.description == "Ärger mit Umlauten"
    assert feed.entries[0].metadata.title == "Über Cafés"
    assert feed.warnings == []


def test_untrusted_text_is_capped() -> None:
    long_title = "T" * 3000
    long_desc = "word " * 1000
    data = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
        f"<item><title>{long_title}</title><guid>g</guid><description>{long_desc}\x01</description></item>"
        f"</channel></rss>"
    ).encode()
    meta = parse_feed(data, url="https://cap.example/rss").entries[0].metadata
    assert len(meta.title) == 500
    assert len(meta.summary) <= 2000
    assert "\x01" not in meta.summary


def test_arxiv_listing_feed_drops_the_announce_prefix_and_splits_authors() -> None:
    parsed = parse_feed((DATA / "arxiv_listing.rss").read_bytes(), url="https://rss.arxiv.org/rss/cs.LG")
    mamba = next(e.metadata for e in parsed.entries if e.link == "https://arxiv.org/abs/2312.00752")
    assert mamba.summary.startswith("A state space model whose parameters depend on the input")
    assert mamba.authors == ["Albert Gu", "Tri Dao"]
    assert mamba.published == "2023-12-01"

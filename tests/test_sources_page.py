"""HTML page metadata (newsletter.sources.page) and the shared text cleaning (newsletter.sources.text).

Hostile pages (script URLs, surrogates, pathological and non-HTML markup) are in tests/test_hostile_page.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.models import Metadata
from newsletter.sources.page import parse_page
from newsletter.sources.text import clean_inline, clean_text, coerce_date

DATA = Path(__file__).parent / "data" / "pages"


def page(name: str, url: str) -> Metadata:
    return parse_page((DATA / name).read_text(encoding="utf-8"), url)


def html(head: str = "", body: str = "", url: str = "https://blog.example.net/post") -> Metadata:
    return parse_page(f"<!doctype html><html><head>{head}</head><body>{body}</body></html>", url)


# --- fixtures ------------------------------------------------------------------------------------


def test_blog_post_with_opengraph_and_jsonld_graph() -> None:
    meta = page("blog_og_jsonld.html", "https://engineering.example.com/posts/vector-index/")
    assert meta == Metadata(
        kind=None,
        title="Shipping a vector index in 200 lines",
        summary="How we replaced a hosted vector database with HNSW, SQLite & a few hundred lines "
        "of Python — and what it cost us.",
        authors=["Jane Doe", "Ravi Kumar"],
        published="2024-03-05",
        site="Example Engineering",
        image="https://engineering.example.com/wp-content/uploads/2024/03/hnsw-layers.png",
        canonical_url="https://engineering.example.com/posts/vector-index/",
        extra={"feeds": ["https://engineering.example.com/feed/", "https://engineering.example.com/feed/atom/"]},
    )


def test_page_with_only_title_and_paragraphs_falls_back_to_them() -> None:
    meta = page("plain_title_p.html", "https://www.ada.example.org/btrees.html")
    assert meta == Metadata(
        title="Notes on B-trees",
        summary="A B-tree keeps its nodes wide and its height small, which is exactly what you want "
        "when every node visit costs a disk seek. These notes collect what I learned implementing one.",
        site="ada.example.org",
    )


def test_highwire_conference_paper_is_a_paper_with_doi_pdf_and_venue() -> None:
    meta = page("highwire_paper.html",
                "https://proceedings.neurips.cc/paper/2017/hash/3f5ee243547dee91fbd053c1c4a845aa-Abstract.html")
    assert meta.kind == "paper"
    assert meta.title == "Attention is All you Need"
    # "Last, First" flipped, the repeated first author listed once
    assert meta.authors == ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar", "Jakob Uszkoreit", "Llion Jones",
                            "Aidan N Gomez", "Łukasz Kaiser", "Illia Polosukhin"]
    assert meta.published == "2017-12-04"
    assert meta.summary == ("The dominant sequence transduction models are based on complex recurrent or "
                            "convolutional neural networks. We propose the Transformer, based solely on "
                            "attention mechanisms.")
    assert meta.site == "proceedings.neurips.cc"
    assert meta.extra == {
        "doi": "10.5555/3295222.3295349",
        "pdf_url": "https://proceedings.neurips.cc/paper_files/paper/2017/file/"
        "3f5ee243547dee91fbd053c1c4a845aa-Paper.pdf",
        "arxiv_id": "1706.03762",
        "venue": "Advances in Neural Information Processing Systems",
    }


def test_video_page_is_a_video_with_duration_and_microdata_date() -> None:
    meta = page("video.html", "https://www.youtube.com/watch?v=kCc8FmEb1nY")
    assert meta == Metadata(
        kind="video",
        title="Let's build GPT: from scratch, in code, spelled out.",
        summary='We build a Generatively Pretrained Transformer (GPT), following the paper "Attention is '
        "All You Need\" and OpenAI's GPT-2 / GPT-3.",
        published="2023-01-17",
        site="YouTube",
        image="https://i.ytimg.com/vi/kCc8FmEb1nY/maxresdefault.jpg",
        canonical_url="https://www.youtube.com/watch?v=kCc8FmEb1nY",
        extra={"duration_s": 6980,
               "feeds": ["https://www.youtube.com/feeds/videos.xml?channel_id=UCXUPKJO5MZQN11PqgIvyuvQ"]},
    )


# --- precedence and fallbacks --------------------------------------------------------------------


def test_title_precedence_og_then_twitter_then_citation_then_jsonld_then_title_then_h1() -> None:
    ld = '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "LD"}</script>'
    tags = ['<meta property="og:title" content="OG">', '<meta name="twitter:title" content="TW">',
            '<meta name="citation_title" content="CIT">', ld, "<title>TITLE</title>"]
    expected = ["OG", "TW", "CIT", "LD", "TITLE"]
    for i, want in enumerate(expected):
        assert html("".join(tags[i:]), "<h1>H1</h1>").title == want
    assert html("", "<h1>Heading <em>one</em></h1>").title == "Heading one"


def test_page_without_metadata_has_empty_title() -> None:
    meta = html()
    assert meta == Metadata(site="blog.example.net")


@pytest.mark.parametrize(
    ("title", "site", "expected"),
    [
        ("Post | Example Blog", "Example Blog", "Post"),
        ("Post - example blog", "Example Blog", "Post"),
        ("Example Blog — Post", "Example Blog", "Post"),
        ("Split - the - title | Example Blog", "Example Blog", "Split - the - title"),
        ("Post - Other Site", "Example Blog", "Post - Other Site"),
        ("Example Blog", "Example Blog", "Example Blog"),
    ],
)
def test_title_site_suffix_is_stripped_only_when_it_names_the_site(title: str, site: str,
                                                                   expected: str) -> None:
    meta = html(f'<title>{title}</title><meta property="og:site_name" content="{site}">')
    assert meta.title == expected


def test_title_suffix_matching_the_host_is_stripped_without_site_name() -> None:
    assert html("<title>Post · blog.example.net</title>").title == "Post"


def test_summary_precedence() -> None:
    parts = ['<meta property="og:description" content="OG">', '<meta name="description" content="DESC">',
             '<meta name="twitter:description" content="TW">',
             '<script type="application/ld+json">{"@type": "Article", "description": "LD"}</script>',
             '<meta name="citation_abstract" content="ABS">']
    for i, want in enumerate(["OG", "DESC", "TW", "LD", "ABS"]):
        assert html("".join(parts[i:]), "<p>" + "x " * 40 + "</p>").summary == want


def test_summary_paragraph_skips_short_and_boilerplate_paragraphs() -> None:
    long_text = "This paragraph is long enough to describe the page, unlike the byline above it."
    body = (f"<nav><p>{long_text} (nav)</p></nav><p>By me</p><footer><p>{long_text} (footer)</p></footer>"
            f"<p>{long_text}<br>Second line.</p>")
    assert html("", body).summary == long_text + " Second line."


def test_summary_is_capped_at_2000_characters_on_a_word_boundary() -> None:
    meta = html(f'<meta name="description" content="{"word " * 1000}">')
    assert len(meta.summary) <= 2000
    assert meta.summary.endswith("word…")


@pytest.mark.parametrize(
    ("head", "body", "expected"),
    [
        ('<meta property="article:published_time" content="2024-01-02T23:30:00-08:00">'
         '<meta name="citation_date" content="2020/05/06">', "", "2024-01-02"),
        ('<meta name="citation_publication_date" content="2020/05/06">', "", "2020-05-06"),
        ('<meta name="citation_online_date" content="2019">', "", "2019-01-01"),
        ('<script type="application/ld+json">{"@type":"BlogPosting","datePublished":"2021-07-08"}</script>'
         '<meta name="dc.date" content="1999-01-01">', "", "2021-07-08"),
        ('<meta name="DC.date" content="2018-03-04">', "", "2018-03-04"),
        ('<meta name="date" content="Mon, 12 Jun 2017 10:00:00 GMT">', "", "2017-06-12"),
        ("", '<time datetime="2011-01-01">x</time><article><time datetime="2016-02-29">x</time></article>',
         "2016-02-29"),
        ('<meta name="date" content="soon">', "<article><time>yesterday</time></article>", None),
    ],
)
def test_published_precedence_and_formats(head: str, body: str, expected: str | None) -> None:
    assert html(head, body).published == expected


def test_authors_from_jsonld_string_object_and_list() -> None:
    ld = ('<script type="application/ld+json">[{"@context":"https://schema.org","@type":"BlogPosting",'
          '"author":[{"@type":"Person","name":"Ann Lee"},"Bo Chen",{"name":"ann lee"},'
          '"https://example.com/me"]}]</script>')
    assert html(ld + '<meta name="author" content="Ignored">').authors == ["Ann Lee", "Bo Chen"]
    single = '<script type="application/ld+json">{"@type":"Article","author":"Solo Writer"}</script>'
    assert html(single).authors == ["Solo Writer"]


def test_authors_fall_back_to_article_author_unless_url_then_meta_author() -> None:
    assert html('<meta property="article:author" content="Kim Park">'
                '<meta name="author" content="Other">').authors == ["Kim Park"]
    assert html('<meta property="article:author" content="https://facebook.com/kim">'
                '<meta name="author" content="Kim Park">').authors == ["Kim Park"]


def test_invalid_jsonld_blocks_are_ignored_and_valid_ones_used() -> None:
    head = ('<script type="application/ld+json">{"@type": "Article", "headline": "bad",}</script>'
            '<script type="application/ld+json">' + "[" * 5000 + "]" * 5000 + "</script>"
            '<script type="application/ld+json; charset=utf-8"><!-- {"@type":"TechArticle","headline":"Good",'
            '"image":[{"@type":"ImageObject","url":"/a.png"}],"publisher":{"@type":"Organization",'
            '"name":"Pub Co"}} --></script>')
    meta = html(head)
    assert (meta.title, meta.image, meta.site) == ("Good", "https://blog.example.net/a.png", "Pub Co")


def test_jsonld_organisation_or_website_names_are_not_titles() -> None:
    head = ('<script type="application/ld+json">{"@graph":[{"@type":"Organization","name":"Org"},'
            '{"@type":"WebSite","name":"The Site"}]}</script><title>Real</title>')
    meta = html(head)
    assert (meta.title, meta.site) == ("Real", "The Site")


def test_site_precedence() -> None:
    assert html('<meta property="og:site_name" content="OG Site"><meta name="application-name" '
                'content="App">').site == "OG Site"
    assert html('<meta name="application-name" content="App">').site == "App"
    assert html(url="https://www.news.example.org/a").site == "news.example.org"


def test_image_precedence_resolution_and_unsafe_schemes() -> None:
    assert html('<meta name="twitter:image" content="tw.png">').image == "https://blog.example.net/tw.png"
    assert html('<meta property="og:image" content="data:image/png;base64,AAAA">'
                '<meta name="twitter:image" content="JavaScript:alert(1)">'
                '<script type="application/ld+json">{"@type":"Article","image":"//cdn.example.com/i.jpg"}'
                "</script>").image == "https://cdn.example.com/i.jpg"
    assert html('<meta property="og:image" content="ftp://example.com/x.png">').image == ""


def test_canonical_from_link_else_og_url_and_base_href_is_honoured() -> None:
    assert html('<link rel="Canonical" href="/c">').canonical_url == "https://blog.example.net/c"
    assert html('<meta property="og:url" content="https://blog.example.net/og">').canonical_url == (
        "https://blog.example.net/og")
    assert html('<base href="https://static.example.com/dir/"><link rel="canonical" href="page">'
                '<meta property="og:image" content="img.png">').canonical_url == (
        "https://static.example.com/dir/page")
    assert html('<link rel="canonical" href="data:text/html,hi">').canonical_url == ""


def test_video_kind_needs_og_type_video() -> None:
    assert html('<meta property="og:type" content="video.episode">').kind == "video"
    assert html('<meta property="og:type" content="article">').kind is None


def test_script_containing_title_end_tag_does_not_end_the_title() -> None:
    meta = html('<script>document.write("</title><title>Fake")</script><title>Real <i>one</i></title>')
    assert meta.title == "Real one"


def test_uppercase_and_unquoted_markup_is_understood() -> None:
    meta = parse_page("<HTML><HEAD><TITLE>Shouty</TITLE><META NAME=description CONTENT=unquoted>"
                      "<Meta Property='og:site_name' Content='Mixed'></HEAD></HTML>", "http://old.example/")
    assert (meta.title, meta.summary, meta.site) == ("Shouty", "unquoted", "Mixed")


# --- text helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  A  &amp;\n\tB &eacute;&#233;&#x1F600; ", "A & B éé😀"),
        ("<p>One</p><p>Two <b>bold</b> <a href='x'>link</a></p><br/>Three", "One Two bold link Three"),
        ("The <dialog> element and a < b > c", "The <dialog> element and a < b > c"),
        ("Hi<script>alert(1)</script>there<style>p{}</style>!", "Hi there !"),
        ("keep <!-- unclosed comment", "keep <!-- unclosed comment"),
        ("a<!-- gone -->b", "a b"),
        ("ctrl\x00\x07\x1b[0m\x7f\x85x", "ctrl x"),  # the whole ESC [0m sequence goes, not only ESC
        ("rtl\u200f mark \u202eoverride\u202c \u2066iso\u2069 zw\u200bsp \ufeffbom",
         "rtl mark override iso zwsp bom"),
        ("emoji 👩\u200d💻 keeps ZWJ", "emoji 👩\u200d💻 keeps ZWJ"),
        ("Cre\u0300me", "Crème"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),  # replaced, as by the kernel cleaner
        (None, ""),
        (42, "42"),
    ],
)
def test_clean_text(raw: object, expected: str) -> None:
    assert clean_text(raw, 100) == expected


def test_clean_text_truncates_on_word_boundary_within_max_len() -> None:
    assert clean_text("alpha beta gamma delta", 15) == "alpha beta…"
    assert clean_text("abcdefghijklmnopqrstuvwxyz", 10) == "abcdefghi…"
    assert clean_text("exactly ten", 11) == "exactly ten"
    assert len(clean_inline("word " * 400)) <= 500


def test_clean_text_without_markup_keeps_angle_brackets_and_entities() -> None:
    assert clean_text("for $a<b c>d$ &amp; more", 100, markup=False) == "for $a<b c>d$ &amp; more"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2017-06-12T17:57:34Z", "2017-06-12"), ("2017/6/2", "2017-06-02"), ("2017/06", "2017-06-01"),
     ("2017", "2017-01-01"), ("Tue, 13 Jun 2017 01:02:03 +0000", "2017-06-13"),
     (["2019-02-03"], "2019-02-03"),
     ("2017-02-30", None), ("next week", None), (None, None), (17, None)],
)
def test_coerce_date(value: object, expected: str | None) -> None:
    assert coerce_date(value) == expected

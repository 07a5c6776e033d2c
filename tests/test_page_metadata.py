"""Publication dates, authors and site names (newsletter.sources.metadata) on labelled pages and rules.

The labelled pages are tests/data/metadata/{tuning,heldout}; `make bench` (bench_metadata) reports
their per-field accuracy. Here every page and field is a test; the few held-out fields we get wrong
are listed in KNOWN_MISSES (strict xfail: fixing one makes the test say so).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from newsletter.sources.metadata.authors import split_names
from newsletter.sources.metadata.dates import plausible, text_date, to_date, url_date
from newsletter.sources.metadata.sites import host_site, title_suffix_site
from newsletter.sources.page import parse_page

DATA = Path(__file__).parent / "data" / "metadata"
FIELDS = ("title", "published", "authors", "site")
KNOWN_MISSES = {
    # a GitHub repository page: the last commit's <relative-time> and its author read as the page's own
    ("h06_github.html", "published"), ("h06_github.html", "authors"),
    # DSpace names its publisher (the university) in dc.publisher; the label keeps the host name
    ("h17_dspace_dc.html", "site"),
    # an X post: the author is only in the rendered tweet header, which carries no byline markup
    ("t31_x_post.html", "authors"),
}


def _cases() -> list[Any]:
    cases = []
    for name in ("tuning", "heldout"):
        for entry in yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8")):
            for field in FIELDS:
                marks = [pytest.mark.xfail(strict=True)] if (entry["file"], field) in KNOWN_MISSES else []
                cases.append(pytest.param(name, entry, field, id=f"{entry['file'][:-5]}-{field}", marks=marks))
    return cases


def _norm(field: str, value: Any) -> Any:
    if field == "authors":
        return sorted(" ".join(a.split()).casefold() for a in value or [])
    if field == "published":
        return str(value) if value else None
    return " ".join(str(value or "").split()).casefold()


@pytest.mark.parametrize(("folder", "entry", "field"), _cases())
def test_labelled_page_field_matches_its_label(folder: str, entry: dict[str, Any], field: str) -> None:
    meta = parse_page((DATA / folder / entry["file"]).read_text(encoding="utf-8"), entry["url"])
    assert _norm(field, getattr(meta, field)) == _norm(field, entry[field])


def test_every_fixture_file_is_labelled_and_there_are_at_least_60() -> None:
    total = 0
    for name in ("tuning", "heldout"):
        labelled = {e["file"] for e in yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))}
        assert labelled == {p.name for p in (DATA / name).glob("*.html")}
        total += len(labelled)
    assert total >= 60


def page(head: str = "", body: str = "", url: str = "https://blog.example.net/post") -> Any:
    return parse_page(f"<!doctype html><html><head>{head}</head><body>{body}</body></html>", url)


# --- dates ---------------------------------------------------------------------------------------


def test_publication_date_wins_over_modification_date_whatever_the_order() -> None:
    ld = ('<script type="application/ld+json">{"@type":"Article","dateModified":"2024-05-01",'
          '"datePublished":"2020-01-02"}</script>')
    assert page('<meta property="article:modified_time" content="2024-05-01">' + ld).published == "2020-01-02"
    body = ('<article><span class="updated">Updated <time datetime="2024-05-01">x</time></span>'
            '<time datetime="2020-01-02">x</time></article>')
    assert page(body=body).published == "2020-01-02"


def test_future_and_pre_1995_dates_are_rejected_and_the_next_source_used() -> None:
    head = ('<meta property="article:published_time" content="2999-01-01">'
            '<meta name="citation_date" content="1970/01/01"><meta name="dcterms.created" content="2015-06-07">')
    assert page(head).published == "2015-06-07"
    assert not plausible("1994-12-31")
    assert plausible("2020-02-03", today=dt.date(2020, 2, 2))  # a day of slack for time zones
    assert not plausible("2020-02-05", today=dt.date(2020, 2, 2))


def test_jsonld_graph_and_main_entity_dates() -> None:
    graph = ('<script type="application/ld+json">{"@graph":[{"@type":"WebSite","name":"S"},'
             '{"@type":["NewsArticle"],"datePublished":"2022-10-04T23:30:00-05:00"}]}</script>')
    assert page(graph).published == "2022-10-04"  # the day as the page wrote it, not UTC
    qa = ('<script type="application/ld+json">{"@type":"QAPage","mainEntity":{"@type":"Question",'
          '"dateCreated":"2017-08-02T14:11:09","author":{"@type":"Person","name":"Q Asker"}}}</script>')
    assert (page(qa).published, page(qa).authors) == ("2017-08-02", ["Q Asker"])


@pytest.mark.parametrize(("value", "expected"), [
    (1654000000000, "2022-05-31"), (1654000000, "2022-05-31"), ("1654000000000", "2022-05-31"),
    (True, None), ("2021/03/04", "2021-03-04"), ("soon", None),
])
def test_to_date_reads_epochs_and_date_strings(value: object, expected: str | None) -> None:
    assert to_date(value) == expected


@pytest.mark.parametrize(("meta", "expected"), [
    ('<meta name="parsely-pub-date" content="2023-08-22T11:00:00-04:00">', "2023-08-22"),
    ('<meta name="sailthru.date" content="Tue, 14 May 2019 13:30:00 -0400">', "2019-05-14"),
    ('<meta name="DCTERMS.created" content="2021-03-02">', "2021-03-02"),
    ('<meta itemprop="datePublished" content="2025-02-28">', "2025-02-28"),
    ('<meta property="og:published_time" content="2018-01-01">', "2018-01-01"),
])
def test_publication_date_meta_spellings(meta: str, expected: str) -> None:
    assert page(meta).published == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("https://x.example/2021/10/14/slug/", "2021-10-14"),
    ("https://x.example/business/2023/jun/28/chips", "2023-06-28"),
    ("https://x.example/2014-05-19-reading.html", "2014-05-19"),
    ("https://x.example/2021/10/slug", None),  # no day: not a date
    ("https://x.example/p/2021/13/40/", None),
    ("https://x.example/a?d=/2021/10/14/", None),
])
def test_url_dates(url: str, expected: str | None) -> None:
    assert url_date(url) == expected


def test_time_in_article_beats_times_in_nav_footer_and_comments() -> None:
    body = ('<nav><time datetime="2025-10-11">x</time></nav><article><h1>T</h1>'
            '<time datetime="2019-01-06">x</time><div class="comments"><time datetime="2019-02-01">y</time>'
            '</div></article><footer><time datetime="2018-01-01">z</time></footer>')
    assert page(body=body).published == "2019-01-06"
    assert page(body='<nav><time datetime="2025-10-11">x</time></nav><p>hi</p>').published is None
    assert page(body='<p>Published <time pubdate datetime="2018-10-21">x</time></p>').published == "2018-10-21"


@pytest.mark.parametrize(("text", "expected"), [
    ("By Jane Smith | 3 March 2020", "2020-03-03"),
    ("Nov. 19, 2023", "2023-11-19"),
    ("[Submitted on 8 Jan 2024]", "2024-01-08"),
    ("August 3rd, 2023 · 5 min read", "2023-08-03"),
    ("posted 2019-02-30", None),
    ("no date here", None),
])
def test_dates_written_in_text(text: str, expected: str | None) -> None:
    assert text_date(text) == expected


def test_byline_date_is_the_last_resort() -> None:
    assert page(body='<p class="byline">By Jane Smith | 3 March 2020</p>').published == "2020-03-03"


# --- authors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("By Will Smale", ["Will Smale"]),
    ("Hannah Ross, Samuel Okoro and Mei Chen", ["Hannah Ross", "Samuel Okoro", "Mei Chen"]),
    ("Maria Garcia - Technology Correspondent", ["Maria Garcia"]),
    ("Maria Garcia, Technology Correspondent", ["Maria Garcia"]),
    ("Jonathan Doe (@jdoe)", ["Jonathan Doe"]),
    ("@jdoe", []),
    ("https://twitter.com/jdoe", []),
    ("Posted by Ana Lima & Marcus Webb", ["Ana Lima", "Marcus Webb"]),
    ("By Jane Smith | 3 March 2020", ["Jane Smith"]),
    ("Par Claire Dubois", ["Claire Dubois"]),
    ("Wirewire Staff", []),
    ("Kate Read", ["Kate Read"]),
])
def test_split_names(raw: str, expected: list[str]) -> None:
    assert split_names(raw) == expected


def test_jsonld_person_beats_organization_and_graph_references_resolve() -> None:
    ld = ('<script type="application/ld+json">{"@graph":[{"@type":"Article","author":[{"@id":"#p"},'
          '{"@type":"Organization","name":"Acme Newsroom"}]},{"@type":"Person","@id":"#p","name":"Claire Dubois"}'
          ']}</script>')
    assert page(ld).authors == ["Claire Dubois"]
    org_only = ('<script type="application/ld+json">{"@type":"NewsArticle","author":{"@type":"Organization",'
                '"name":"Wire Staff"}}</script>')
    assert page(org_only).authors == []
    assert page(org_only, '<article><p class="byline">By Will Smale and Sarah Jones</p></article>').authors == [
        "Will Smale", "Sarah Jones"]


def test_author_markup_sources() -> None:
    assert page(body='<span itemprop="author">Lucas Meyer</span>').authors == ["Lucas Meyer"]
    scoped = ('<span itemprop="author" itemscope><link itemprop="url" href="/c">'
              '<link itemprop="name" content="Systems Nerd"></span>')
    assert page(body=scoped).authors == ["Systems Nerd"]
    assert page(body='<p>by <a rel="author" href="/u/k">Kim Lee</a></p>').authors == ["Kim Lee"]
    assert page(body='<div class="author-bio">Writes about Rust</div>').authors == []
    comment = '<div class="comment"><span class="comment-author">Rob</span><span class="author">Rob</span></div>'
    assert page(body=comment).authors == []


def test_meta_author_that_is_a_url_falls_through_to_the_byline() -> None:
    head = '<meta name="author" content="https://twitter.com/pixelpaula">'
    assert page(head, '<div class="author-info"><span class="author-name">Paula Kim</span></div>').authors == [
        "Paula Kim"]


# --- sites ---------------------------------------------------------------------------------------


def test_site_from_title_suffix_only_when_the_rest_is_the_pages_title() -> None:
    assert title_suffix_site("Bloom filter - Wikipedia", ["Bloom filter"]) == "Wikipedia"
    assert title_suffix_site("What we learned - by Ana Lima", ["What we learned"]) == ""
    assert title_suffix_site("Cold starts | Ferrous Thoughts", ["Something else"]) == ""


def test_site_never_a_bare_ip_and_og_site_name_repeating_the_title_yields() -> None:
    assert host_site("http://192.168.1.20:8000/x") == ""
    assert host_site("http://[::1]:8000/x") == ""
    assert host_site("https://www.example.org/x") == "example.org"
    assert page(url="http://127.0.0.1:8080/a").site == ""
    head = ('<meta property="og:title" content="Designing a rate limiter"><meta property="og:site_name" '
            'content="Designing a rate limiter"><meta name="application-name" content="Backpressure">')
    assert page(head).site == "Backpressure"


def test_site_sources_in_order() -> None:
    assert page('<meta name="apple-mobile-web-app-title" content="Lumen Docs">').site == "Lumen Docs"
    pub = '<script type="application/ld+json">{"@type":"Article","publisher":{"name":"The Letter"}}</script>'
    assert page(pub + '<meta name="apple-mobile-web-app-title" content="App">').site == "The Letter"
    assert page('<meta name="DC.publisher" content="Open Data">').site == "Open Data"


def test_markup_signals_stay_bounded_on_hostile_repetition() -> None:
    from newsletter.sources.metadata.markup import MarkupSignals
    from newsletter.sources.page import _Page, _tokenize

    doc = ('<div class="byline author" itemprop="author" itemscope><time datetime="2020-01-01">'
           '<a rel="author">By A, B and C ') * 20_000
    holder = _Page()
    _tokenize(doc, holder)
    signals: MarkupSignals = holder.signals
    assert len(signals.times) <= 40 and len(signals.bylines) <= 40 and len(signals.rel_authors) <= 40
    assert all(len(text) <= 400 for text in signals.bylines + signals.rel_authors + signals.item_authors)
    assert parse_page(doc, "https://e.example/").published == "2020-01-01"

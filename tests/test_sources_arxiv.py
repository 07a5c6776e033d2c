"""arXiv API responses (newsletter.sources.arxiv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.errors import SourceError
from newsletter.models import Metadata
from newsletter.sources.arxiv import parse_feed, query_url

DATA = Path(__file__).parent / "data" / "arxiv"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def entry(arxiv_id: str, body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom"><title>ArXiv Query</title>'
        f"<id>http://arxiv.org/api/x</id><entry><id>http://arxiv.org/abs/{arxiv_id}</id>{body}</entry></feed>"
    ).encode()


def test_query_url_lists_ids_and_asks_for_all_of_them() -> None:
    ids = ["1706.03762", "hep-th/9901001v2", "1706.03762"]
    assert query_url("https://export.arxiv.org/api/query", ids) == (
        "https://export.arxiv.org/api/query?id_list=1706.03762,hep-th/9901001v2&max_results=2")
    assert query_url("http://127.0.0.1:8080/api/query?x=1", ["2106.09685"]) == (
        "http://127.0.0.1:8080/api/query?x=1&id_list=2106.09685&max_results=1")
    with pytest.raises(ValueError):
        query_url("https://export.arxiv.org/api/query", [" "])


def test_two_papers_keyed_by_id_without_version() -> None:
    papers = parse_feed(read("two_papers.xml"))
    assert list(papers) == ["1706.03762", "1207.7214"]
    assert papers["1706.03762"] == Metadata(
        kind="paper",
        title="Attention Is All You Need",
        summary="The dominant sequence transduction models are based on complex recurrent or convolutional "
        "neural networks in an encoder-decoder configuration. We propose a new simple network architecture, "
        "the Transformer, based solely on attention mechanisms, dispensing with recurrence and convolutions "
        "entirely.",
        authors=["Ashish Vaswani", "Noam Shazeer", "Niki Parmar", "Jakob Uszkoreit", "Llion Jones",
                 "Aidan N. Gomez", "Lukasz Kaiser", "Illia Polosukhin"],
        published="2017-06-12",
        site="arXiv",
        canonical_url="https://arxiv.org/abs/1706.03762",
        extra={"arxiv_id": "1706.03762", "doi": "10.48550/arXiv.1706.03762",
               "pdf_url": "https://arxiv.org/pdf/1706.03762v7", "categories": ["cs.CL", "cs.LG"]},
        suggested_tags=["cs.cl", "cs.lg"],
    )


def test_journal_ref_and_doi_become_venue_and_doi() -> None:
    paper = parse_feed(read("two_papers.xml"))["1207.7214"]
    assert paper.title == ("Observation of a new particle in the search for the Standard Model Higgs boson "
                           "with the ATLAS detector at the LHC")
    # plain text, not HTML: "<" in the abstract is mathematics and stays
    assert paper.summary.endswith("masses with 111 < m_H < 559 GeV are otherwise excluded.")
    assert paper.authors == ["ATLAS Collaboration"]
    assert paper.published == "2012-07-31"
    assert paper.extra == {"arxiv_id": "1207.7214", "doi": "10.1016/j.physletb.2012.08.020",
                           "pdf_url": "https://arxiv.org/pdf/1207.7214v2", "categories": ["hep-ex"],
                           "venue": "Phys.Lett. B716 (2012) 1-29"}
    assert paper.suggested_tags == ["hep-ex"]


def test_error_entry_raises_source_error_with_the_api_message() -> None:
    with pytest.raises(SourceError, match=r"incorrect id format for 1706\.0376x"):
        parse_feed(read("error.xml"))


def test_empty_feed_means_no_papers() -> None:
    assert parse_feed(read("empty.xml")) == {}


@pytest.mark.parametrize("body", [b"", b"   ", b"<html><body>Service Unavailable</body></html>",
                                  b"\x89PNG\r\n\x1a\n\x00\x00", b'{"error": "rate limited"}'])
def test_garbage_is_not_an_atom_feed(body: bytes) -> None:
    with pytest.raises(SourceError, match="arXiv API returned"):
        parse_feed(body)


def test_truncated_feed_is_not_an_atom_feed() -> None:
    with pytest.raises(SourceError, match="not an Atom feed"):
        parse_feed(read("truncated.xml"))


def test_old_style_id_primary_category_first_and_non_arxiv_classes_not_tags() -> None:
    data = entry("hep-th/9711200v3", (
        "<title>The Large N Limit of Superconformal Field Theories and Supergravity</title>"
        "<published>1997-11-27T00:00:00Z</published><summary>AdS/CFT.</summary>"
        "<author><name>Juan M. Maldacena</name></author>"
        '<arxiv:primary_category term="hep-th"/><category term="I.2.7"/><category term="hep-th"/>'
        '<category term="gr-qc"/>'))
    paper = parse_feed(data)["hep-th/9711200"]
    assert paper.canonical_url == "https://arxiv.org/abs/hep-th/9711200"
    assert paper.extra["categories"] == ["hep-th", "I.2.7", "gr-qc"]
    assert paper.extra["pdf_url"] == "https://arxiv.org/pdf/hep-th/9711200"  # no pdf link: built
    assert paper.suggested_tags == ["hep-th", "gr-qc"]


def test_entry_without_title_or_arxiv_id_is_skipped() -> None:
    assert parse_feed(entry("2401.99999", "<title></title>")) == {}
    assert parse_feed(entry("", "<title>Something</title>")) == {}


def test_control_characters_in_titles_are_removed() -> None:
    data = entry("2106.09685v2", "<title>LoRA:\u202e Low-Rank\u00a0Adaptation \u200fof LLMs</title>")
    assert parse_feed(data)["2106.09685"].title == "LoRA: Low-Rank Adaptation of LLMs"

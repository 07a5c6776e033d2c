"""Crossref /works responses (newsletter.sources.crossref)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from newsletter.errors import SourceError
from newsletter.models import Metadata
from newsletter.sources.crossref import parse_work, work_url

DATA = Path(__file__).parent / "data" / "crossref"


def work(**fields: Any) -> bytes:
    message = {"DOI": "10.1234/Example.1", "title": ["T"], **fields}
    return json.dumps({"status": "ok", "message-type": "work", "message": message}).encode()


def test_work_url_quotes_the_doi_and_accepts_doi_urls() -> None:
    assert work_url("https://api.crossref.org", "10.1038/nature14539") == (
        "https://api.crossref.org/works/10.1038/nature14539")
    assert work_url("http://127.0.0.1:9000/", "https://doi.org/10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>"
                    "3.0.CO;2-0") == ("http://127.0.0.1:9000/works/10.1002/%28SICI%291097-4571%28199806%2949%3A8"
                                      "%3C693%3A%3AAID-ASI4%3E3.0.CO%3B2-0")
    assert work_url("https://api.crossref.org", "doi:10.1000/a#b?c") == "https://api.crossref.org/works/10.1000/a%23b%3Fc"


def test_journal_article_with_jats_abstract() -> None:
    meta = parse_work((DATA / "nature_deep_learning.json").read_bytes())
    assert meta == Metadata(
        kind="paper",
        title="Deep learning",
        summary="Deep learning allows computational models that are composed of multiple processing layers "
        "to learn representations of data with multiple levels of abstraction. These methods have "
        "dramatically improved the state of the art in speech recognition, visual object recognition & "
        "object detection.",
        authors=["Yann LeCun", "Yoshua Bengio", "Geoffrey Hinton"],
        published="2015-05-27",  # online (27th) comes before print (28th)
        site="Nature",
        canonical_url="https://doi.org/10.1038/nature14539",
        extra={"doi": "10.1038/nature14539", "venue": "Nature",
               "pdf_url": "https://www.nature.com/articles/nature14539.pdf"},
    )


def test_year_only_date_and_organisation_author() -> None:
    meta = parse_work((DATA / "year_only.json").read_bytes())
    venue = ("Proceedings of the 2019 Conference of the North American Chapter of the Association for "
             "Computational Linguistics: Human Language Technologies, Volume 1 (Long and Short Papers)")
    assert meta == Metadata(
        kind="paper",
        title="BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
        authors=["Jacob Devlin", "Ming-Wei Chang", "Kenton Lee", "Kristina Toutanova", "Google AI Language"],
        published="2019-01-01",
        site=venue,
        canonical_url="https://doi.org/10.18653/v1/n19-1423",
        extra={"doi": "10.18653/v1/n19-1423", "venue": venue},
    )


def test_resource_not_found_body_raises_source_error() -> None:
    with pytest.raises(SourceError, match="Crossref does not know this DOI"):
        parse_work((DATA / "not_found.txt").read_bytes())


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>502 Bad Gateway</html>", b"[1, 2]", b'{"status":"ok","message-type":"work-list",'
     b'"message":{"items":[]}}', b'{"status":"failed","message-type":"validation-failure","message":[]}',
     b'{"status":"ok","message-type":"work","message":{"title":["no doi"]}}', b"[" * 100000],
)
def test_anything_but_a_work_raises_source_error(body: bytes) -> None:
    with pytest.raises(SourceError, match="Crossref"):
        parse_work(body)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"published-print": {"date-parts": [[2020, 3]]}, "issued": {"date-parts": [[2019, 12, 1]]}},
         "2020-03-01"),
        ({"issued": {"date-parts": [[None]]}, "created": {"date-parts": [[2018, 2, 3]]}}, "2018-02-03"),
        ({"issued": {"date-parts": [["2017", "6", "12"]]}}, "2017-06-12"),
        ({"issued": {"date-parts": [[2017, 2, 30]]}}, None),
        ({"issued": {"date-parts": []}}, None),
        ({}, None),
    ],
)
def test_published_date_parts(fields: dict[str, Any], expected: str | None) -> None:
    assert parse_work(work(**fields)).published == expected


def test_inline_markup_in_title_is_removed_and_site_falls_back_to_publisher() -> None:
    meta = parse_work(work(title=["CO<sub>2</sub> uptake in <i>Arabidopsis</i> &amp; friends"],
                           publisher="Cold Spring Harbor Laboratory", type="posted-content",
                           link=[{"URL": "javascript:alert(1)", "content-type": "application/pdf"}]))
    assert meta.title == "CO2 uptake in Arabidopsis & friends"
    assert meta.site == "Cold Spring Harbor Laboratory"
    assert meta.extra == {"doi": "10.1234/example.1"}

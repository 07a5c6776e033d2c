"""Tests for newsletter.urls: canonical URLs, identities, kind hints and input normalization."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from newsletter.web.urls import (
    TRACKING_PARAMS,
    UrlInfo,
    arxiv_id_from_doi,
    canonicalize,
    classify,
    identity_key,
    is_tracking_param,
    item_id,
    normalize_input,
)

PAIRS_FILE = Path(__file__).parent / "data" / "urls" / "pairs.tsv"


def _load_pairs() -> list[pytest.param]:
    params = []
    for number, line in enumerate(PAIRS_FILE.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        a, b, verdict, reason = line.split("\t")
        assert verdict in ("same", "different"), f"line {number}: bad verdict {verdict!r}"
        params.append(pytest.param(a, b, verdict == "same", id=f"{number}-{reason}"))
    return params


PAIRS = _load_pairs()


def _id(text: str) -> str:
    return item_id(canonicalize(normalize_input(text)))


def test_pairs_table_is_large_and_balanced() -> None:
    same = [p for p in PAIRS if p.values[2]]
    assert len(PAIRS) >= 60
    assert len(same) >= 30 and len(PAIRS) - len(same) >= 15


@pytest.mark.parametrize(("a", "b", "same"), PAIRS)
def test_pair_identity(a: str, b: str, same: bool) -> None:
    assert (_id(a) == _id(b)) is same, (canonicalize(normalize_input(a)), canonicalize(normalize_input(b)))


@pytest.mark.parametrize(("a", "b", "same"), PAIRS)
def test_canonicalize_is_idempotent(a: str, b: str, same: bool) -> None:
    for text in (a, b):
        once = canonicalize(normalize_input(text))
        assert canonicalize(once) == once


# --- exact canonical forms ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Example.com", "https://example.com/"),
        ("HTTP://WWW.Example.com:80/", "http://example.com/"),
        ("https://example.com/a/?utm_source=x#top", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1&utm_medium=y", "https://example.com/a?a=1&b=2"),
        ("https://example.com/%7euser/a%2fb", "https://example.com/~user/a%2Fb"),
        ("https://example.com/caf\u00e9?q=\u00e9", "https://example.com/caf%C3%A9?q=%C3%A9"),
        ("https://b\u00fccher.de/", "https://xn--bcher-kva.de/"),
        ("http://127.0.0.1:8765/feed.xml", "http://127.0.0.1:8765/feed.xml"),
        ("http://localhost:8000/x/", "http://localhost:8000/x"),
        ("https://example.com/a?k=1&k=0", "https://example.com/a?k=1&k=0"),
        ("https://app.example.com/#!/inbox/3", "https://app.example.com/#!/inbox/3"),
        ("https://arxiv.org/pdf/2106.09685v2.pdf", "https://arxiv.org/abs/2106.09685"),
        ("http://export.arxiv.org/abs/math.GT/0309136v1", "https://arxiv.org/abs/math.GT/0309136"),
        ("https://doi.org/10.48550/ARXIV.2106.09685", "https://arxiv.org/abs/2106.09685"),
        ("https://twitter.com/jack/status/20/photo/1?s=20&t=x", "https://x.com/i/status/20"),
        ("https://youtu.be/dQw4w9WgXcQ?si=abc", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
        ("https://dx.doi.org/10.1145/ABC.Def", "https://doi.org/10.1145/abc.def"),
        ("https://github.com/Owner/Repo.git", "https://github.com/owner/repo"),
        ("https://github.com/Owner/Repo/blob/Main/A.md", "https://github.com/owner/repo/blob/Main/A.md"),
    ],
)
def test_canonical_form(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


def test_http_and_https_keep_scheme_but_share_identity() -> None:
    http, https = canonicalize("http://example.com/a"), canonicalize("https://example.com/a")
    assert http.startswith("http://") and https.startswith("https://")
    assert identity_key(http) == identity_key(https) == "example.com/a"
    assert item_id(http) == item_id(https)


def test_item_id_is_sha256_prefix_of_identity_key() -> None:
    canonical = canonicalize("https://example.com/a?x=1")
    assert identity_key(canonical) == "example.com/a?x=1"
    assert item_id(canonical) == hashlib.sha256(b"example.com/a?x=1").hexdigest()[:12]
    assert len(item_id(canonical)) == 12


def test_identity_key_rejects_non_canonical_input() -> None:
    with pytest.raises(ValueError, match="canonical"):
        identity_key("example.com/a")


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/item?id=42",
        "https://example.com/watch?v=abc",
        "https://blog.example.com/?p=123",
        "https://example.com/search?q=vector+db",
        "https://example.com/a?page=2&sort=new",
        "https://example.com/a?s=20&t=5",
    ],
)
def test_meaningful_params_survive(url: str) -> None:
    query = url.split("?", 1)[1]
    canonical = canonicalize(url)
    for pair in query.split("&"):
        assert pair in canonical.split("?", 1)[1].split("&")


def test_tracking_params_are_exposed_for_reuse() -> None:
    assert {"fbclid", "gclid", "ref", "mkt_tok", "_hsenc"} <= TRACKING_PARAMS
    assert is_tracking_param("utm_source") and is_tracking_param("UTM_CONTENT")
    assert is_tracking_param("mc_eid")
    assert is_tracking_param("si", "youtube.com") and is_tracking_param("si", "open.spotify.com")
    assert is_tracking_param("s", "x.com") and is_tracking_param("t", "mobile.twitter.com")
    assert not is_tracking_param("si", "example.com")
    assert not is_tracking_param("s", "example.com")
    assert not is_tracking_param("id") and not is_tracking_param("q") and not is_tracking_param("v")


# --- classify ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://arxiv.org/pdf/2106.09685v2.pdf",
            UrlInfo("https://arxiv.org/abs/2106.09685", "paper", arxiv_id="2106.09685"),
        ),
        (
            "https://arxiv.org/abs/hep-th/9901001v3",
            UrlInfo("https://arxiv.org/abs/hep-th/9901001", "paper", arxiv_id="hep-th/9901001"),
        ),
        (
            "https://doi.org/10.48550/arXiv.2106.09685",
            UrlInfo("https://arxiv.org/abs/2106.09685", "paper", arxiv_id="2106.09685"),
        ),
        (
            "https://doi.org/10.1145/3292500.3330701",
            UrlInfo("https://doi.org/10.1145/3292500.3330701", "paper", doi="10.1145/3292500.3330701"),
        ),
        (
            "https://dl.acm.org/doi/abs/10.1145/3292500.3330701",
            UrlInfo(
                "https://dl.acm.org/doi/abs/10.1145/3292500.3330701",
                "paper",
                doi="10.1145/3292500.3330701",
            ),
        ),
        (
            "https://mobile.twitter.com/Karpathy/status/1234567890/photo/1?s=20",
            UrlInfo("https://x.com/i/status/1234567890", "tweet", tweet_id="1234567890", handle="Karpathy"),
        ),
        (
            "https://twitter.com/i/web/status/1234567890",
            UrlInfo("https://x.com/i/status/1234567890", "tweet", tweet_id="1234567890"),
        ),
        (
            "https://x.com/i/status/1234567890",
            UrlInfo("https://x.com/i/status/1234567890", "tweet", tweet_id="1234567890"),
        ),
        (
            "https://x.com/Karpathy",
            UrlInfo("https://x.com/karpathy", None, handle="Karpathy"),
        ),
        (
            "https://www.youtube.com/shorts/dQw4w9WgXcQ",
            UrlInfo("https://youtube.com/watch?v=dQw4w9WgXcQ", "video", youtube_id="dQw4w9WgXcQ"),
        ),
        (
            "https://github.com/Owner/Repo.git",
            UrlInfo("https://github.com/owner/repo", "repo", github_repo="owner/repo"),
        ),
        (
            "https://github.com/owner/repo/issues/1",
            UrlInfo("https://github.com/owner/repo/issues/1", None),
        ),
        ("https://github.com/topics/python", UrlInfo("https://github.com/topics/python", None)),
        ("https://github.com/Owner", UrlInfo("https://github.com/owner", None)),
        ("https://example.com/post/", UrlInfo("https://example.com/post", None)),
        ("https://www.youtube.com/@channel", UrlInfo("https://youtube.com/@channel", None)),
        ("https://x.com/explore", UrlInfo("https://x.com/explore", None)),
    ],
)
def test_classify(url: str, expected: UrlInfo) -> None:
    assert classify(url) == expected


def test_classify_url_equals_canonicalize() -> None:
    for param in PAIRS:
        for text in param.values[:2]:
            url = normalize_input(text)
            assert classify(url).url == canonicalize(url)


def test_youtube_watch_with_bad_id_is_a_plain_page() -> None:
    info = classify("https://www.youtube.com/watch?v=short&si=x")
    assert info.kind is None and info.youtube_id is None
    assert info.url == "https://youtube.com/watch?v=short"


# --- normalize_input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  https://example.com/a  ", "https://example.com/a"),
        ("<https://example.com/a>", "https://example.com/a"),
        ("arXiv:2106.09685", "https://arxiv.org/abs/2106.09685"),
        ("arxiv: 2106.09685v2", "https://arxiv.org/abs/2106.09685v2"),
        ("2106.09685v3", "https://arxiv.org/abs/2106.09685v3"),
        ("hep-th/9901001", "https://arxiv.org/abs/hep-th/9901001"),
        ("math.GT/0309136", "https://arxiv.org/abs/math.GT/0309136"),
        ("10.1145/3292500.3330701", "https://doi.org/10.1145/3292500.3330701"),
        ("doi:10.1145/3292500.3330701", "https://doi.org/10.1145/3292500.3330701"),
        ("DOI: 10.1145/3292500.3330701", "https://doi.org/10.1145/3292500.3330701"),
        ("10.1000/a#b?c", "https://doi.org/10.1000/a%23b%3Fc"),
        ("example.com/x", "https://example.com/x"),
        ("www.example.co.uk", "https://www.example.co.uk"),
        ("//example.com/x", "https://example.com/x"),
        ("hello world", "hello world"),
        ("javascript:alert(1)", "javascript:alert(1)"),
        ("notes/1234567", "notes/1234567"),
        ("just-a-word", "just-a-word"),
        ("", ""),
    ],
)
def test_normalize_input(text: str, expected: str) -> None:
    assert normalize_input(text) == expected


def test_doi_with_reserved_characters_round_trips() -> None:
    info = classify(normalize_input("doi:10.1000/A#B?C"))
    assert info.doi == "10.1000/a#b?c"
    assert info.url == "https://doi.org/10.1000/a%23b%3Fc"


@pytest.mark.parametrize(
    ("doi", "expected"),
    [
        ("10.48550/arXiv.2106.09685", "2106.09685"),
        ("10.48550/ARXIV.2106.09685", "2106.09685"),
        ("doi:10.48550/arXiv.2106.09685v2", "2106.09685"),
        ("https://doi.org/10.48550/arxiv.2106.09685", "2106.09685"),
        ("10.48550/arXiv.hep-th/9901001", "hep-th/9901001"),
        ("10.1145/3292500.3330701", None),
        ("10.48550/something-else", None),
        ("", None),
    ],
)
def test_arxiv_id_from_doi(doi: str, expected: str | None) -> None:
    assert arxiv_id_from_doi(doi) == expected


# --- rejection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("javascript:alert(1)", "javascript: links are not supported"),
        ("JavaScript:alert(1)", "javascript: links are not supported"),
        ("data:text/html,<b>x</b>", "data: links are not supported"),
        ("file:///etc/passwd", "file: links are not supported"),
        ("mailto:someone@example.com", "mailto: links are not supported"),
        ("ftp://ftp.example.com/file", "ftp: links are not supported"),
        ("", "empty"),
        ("   ", "empty"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/a b", "spaces"),
        ("https://example.com/\x00", "control characters"),
        ("just some words", "spaces"),
        ("example.com/x", "no http:// or https:// scheme"),
        ("https://", "no host name"),
        ("https:///path", "no host name"),
        ("https://ex!ample.com/", "invalid host name"),
        ("https://" + "a" * 64 + ".com/", "invalid host name"),
        ("http://example.com:99999/", "invalid port"),
        ("http://example.com:abc/", "invalid port"),
        ("http://[::1/", "cannot be parsed"),
        ("http://[zz::1]/", "cannot be parsed"),
        ("https://example.com/" + "x" * 9000, "longer than"),
        ("\u2603" * 5000, "no http:// or https:// scheme"),
    ],
)
def test_rejects_with_one_clear_message(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="not a") as excinfo:
        canonicalize(url)
    text = str(excinfo.value)
    assert message in text
    assert "\n" not in text and len(text) < 200


def test_classify_rejects_like_canonicalize() -> None:
    with pytest.raises(ValueError, match="javascript"):
        classify("javascript:void(0)")


def test_non_string_is_rejected_with_value_error() -> None:
    with pytest.raises(ValueError, match="expected text"):
        canonicalize(None)  # type: ignore[arg-type]

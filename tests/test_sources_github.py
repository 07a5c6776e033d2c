"""Tests for newsletter.sources.github: repository JSON parsing on fixture files."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.errors import SourceError
from newsletter.sources.github import parse_repo, repo_api_url

DATA = Path(__file__).parent / "data" / "github"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_repo_api_url() -> None:
    assert repo_api_url("https://api.github.com", "Vector-Labs/TinyVec") == (
        "https://api.github.com/repos/Vector-Labs/TinyVec"
    )
    assert repo_api_url("http://127.0.0.1:9000/", "/owner/repo.git/") == "http://127.0.0.1:9000/repos/owner/repo"


@pytest.mark.parametrize("bad", ["", "justone", "a/b/c", "own er/repo", "owner/..", "../etc"])
def test_repo_api_url_rejects_bad_names(bad: str) -> None:
    with pytest.raises(SourceError, match="not a GitHub repository name"):
        repo_api_url("https://api.github.com", bad)


def test_parse_repo_fields() -> None:
    meta = parse_repo(load("repo.json"))
    assert meta.kind == "repo"
    assert meta.title == "Vector-Labs/TinyVec"
    assert meta.summary == "A tiny embeddable vector index & HNSW playground"
    assert meta.authors == ["Vector-Labs"]
    assert meta.published == "2021-09-14"
    assert meta.site == "GitHub"
    assert meta.image == "https://avatars.githubusercontent.com/u/98765432?v=4"
    assert meta.canonical_url == "https://github.com/vector-labs/tinyvec"
    assert meta.extra == {
        "stars": 4321,
        "language": "Rust",
        "homepage": "https://tinyvec.example.dev",
        "license": "Apache-2.0",
        "topics": ["vector-search", "hnsw", "Rust", "embeddings"],
    }
    assert meta.suggested_tags == ["vector-search", "hnsw", "rust", "embeddings"]


def test_parse_repo_minimal_skips_empty_and_noassertion() -> None:
    meta = parse_repo(load("repo_minimal.json"))
    assert meta.title == "someone/dotfiles"
    assert meta.summary == ""
    assert meta.extra == {"stars": 0}
    assert meta.suggested_tags == []
    assert meta.published == "2015-02-03"


def test_not_found_body_raises_with_github_message() -> None:
    with pytest.raises(SourceError) as excinfo:
        parse_repo(load("not_found.json"))
    assert str(excinfo.value).startswith("GitHub API error: Not Found")


def test_rate_limit_body_raises_with_github_message() -> None:
    with pytest.raises(SourceError) as excinfo:
        parse_repo(load("rate_limit.json"))
    message = str(excinfo.value)
    assert "API rate limit exceeded for 203.0.113.7." in message
    assert "retry" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [(b"", "not JSON"), (b"<html>", "not JSON"), (b"[]", "unexpected JSON"), (b"{}", "no full_name")],
)
def test_garbage_raises_source_error(data: bytes, fragment: str) -> None:
    with pytest.raises(SourceError, match=fragment):
        parse_repo(data)

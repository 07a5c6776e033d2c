"""Imports from the tools curators leave, and the import problems of issue 13 (point 5).

Fixtures in tests/data/imports/ are in each tool's real export shape; the end-to-end tests run the
real `newsletter import` on a real project (no fetching: `--no-fetch`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.ingest.pipeline import read_import_file
from newsletter.ingest.tools import detect_tool, parse_tool
from newsletter.project import init_project

DATA = Path(__file__).parent / "data" / "imports"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "proj", name="Test Weekly")


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("fixture", "tool", "expected"), [
    ("pocket.csv", "pocket", [
        ("https://blog.example.dev/posts/regalloc/", "Register allocation gently", "", ["compilers", "must-read"]),
        ("https://pocket.example.com/quotes", "Quotes, and commas", "", []),
    ]),
    ("pocket_export.html", "pocket", [
        ("https://blog.example.dev/posts/regalloc/", "Register allocation, gently", "", ["compilers", "must-read"]),
        ("https://example.org/untitled", "", "", []),
        ("http://old.example.com/article?id=3&ref=pocket", "An old article", "", ["archive-me"]),
    ]),
    ("raindrop.csv", "raindrop", [
        ("https://json.example.com/2024/06/01/evals.html", "Evals are hard", "My note, with a comma",
         ["research", "llm", "evaluation"]),
        ("https://pipes.example.com/a", "Pipe tags", "", ["ml", "nlp", "data-eng"]),
        ("https://dates.example.com/", "Date only", "", []),
    ]),
    ("instapaper.csv", "instapaper", [
        ("https://insta.example.com/kv-cache", "Paging the KV cache", "", []),  # Unread: a system folder
        ("https://insta.example.com/evals", "Evals, again", "", ["llm-papers"]),
    ]),
    ("readwise_reader.csv", "readwise", [
        ("https://reader.example.com/spec-decoding", "Speculative decoding", "", ["inference", "llm"]),
        ("https://reader.example.com/quiet", "A quiet post", "", []),
    ]),
    ("pinboard.json", "pinboard", [
        ("https://pin.example.com/hnsw", "HNSW explained", "Read this before tuning ef.", ["vector-search", "ann"]),
    ]),
    ("karakeep.json", "karakeep", [
        ("https://keep.example.com/qlora", "QLoRA, in one page", "Good intro for the newsletter.",
         ["fine-tuning", "quantization"]),
    ]),
    ("linkwarden.json", "linkwarden", [
        ("https://warden.example.com/colbert", "ColBERT, late interaction", "The one to feature this week.",
         ["retrieval", "reranking"]),
        ("https://warden.example.com/misc", "Untitled", "", []),
    ]),
])
def test_named_formats_read_each_tools_export(fixture: str, tool: str, expected: list[tuple]) -> None:
    rows, problems = parse_tool(read_import_file(DATA / fixture), tool)
    assert [(r.url, r.title, r.note, r.tags) for r in rows] == expected
    assert all(p.skipped or p.reason == "no URL" for p in problems)


def test_json_exports_are_detected_by_shape() -> None:
    assert detect_tool((DATA / "karakeep.json").read_text()) == "karakeep"
    assert detect_tool((DATA / "linkwarden.json").read_text()) == "linkwarden"
    assert detect_tool((DATA / "pinboard.json").read_text()) == "pinboard"
    assert detect_tool((DATA / "raindrop.csv").read_text()) is None


def test_dates_of_the_json_exports_become_added() -> None:
    rows, _ = parse_tool(read_import_file(DATA / "karakeep.json"), "karakeep")
    assert rows[0].added == "2024-05-01T07:53:20Z"
    rows, _ = parse_tool(read_import_file(DATA / "linkwarden.json"), "linkwarden")
    assert rows[0].added == "2024-05-01T07:53:20Z"


def test_a_firefox_export_exits_0_and_counts_what_it_skipped(project: Path) -> None:
    code, out, err = run(project, "import", "--no-fetch", "--no-similar", str(DATA / "firefox_bookmarks.html"))
    assert code == 1  # the fixture's data: URL is a real failure
    assert "2 browser-internal entries skipped" in out and "1 failed" in out
    assert "place:" not in err and "javascript:" not in err
    clean = project / "bookmarks.html"
    clean.write_text((DATA / "firefox_bookmarks.html").read_text().replace('HREF="data:', 'HREF="https://example.org/d?'))
    code, out, err = run(project, "import", "--json", "--no-fetch", "--no-similar", str(clean))
    assert code == 0, err
    assert json.loads(out)["totals"]["skipped"] == 2


@pytest.mark.parametrize("fixture", ["excel_semicolon.csv", "tab_separated.tsv"])
def test_csv_delimiters_are_sniffed(project: Path, fixture: str) -> None:
    code, _, err = run(project, "import", "--no-fetch", "--no-similar", str(DATA / fixture))
    assert code == 0, err
    (item,) = Catalog.open(project).items()
    assert item.note in ("Mine; with a semicolon", "a tab note")
    assert item.title in ("Excel export", "Tab separated")


def test_a_note_column_is_kept_as_the_note_and_the_excerpt_is_the_summary(project: Path) -> None:
    code, _, _ = run(project, "import", "--format", "raindrop", "--no-fetch", "--no-similar",
                       str(DATA / "raindrop.csv"))
    assert code == 1  # the fixture has a row without a URL
    item = Catalog.open(project).get("https://json.example.com/2024/06/01/evals.html")
    assert item.note == "My note, with a comma"
    assert item.summary == "Why evaluation is hard."


def test_a_url_list_accepts_what_add_accepts(project: Path) -> None:
    code, _, err = run(project, "import", "--no-fetch", "--no-similar", str(DATA / "urls_like_add.txt"))
    assert code == 0, err
    urls = sorted(item.canonical_url for item in Catalog.open(project).items())
    assert urls == ["https://arxiv.org/abs/2305.14314", "https://doi.org/10.18653/v1/d19-1410",
                    "https://example.org/plain"]

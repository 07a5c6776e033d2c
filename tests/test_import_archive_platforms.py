"""`import_archive.platforms` and `import_archive.bundle`: each platform's export parsed from real fixture
files (tests/data/import_archive/), and the caps that keep a hostile export from exhausting memory."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from newsletter.issues.import_archive import bundle as bundle_module
from newsletter.issues.import_archive.bundle import ArchiveError, Bundle
from newsletter.issues.import_archive.platforms import PARSERS, Parsed

DATA = Path(__file__).parent / "data" / "import_archive"


def parse(platform: str, path: Path) -> Parsed:
    found = Bundle(path)
    try:
        return PARSERS[platform](found)
    finally:
        found.close()


def test_buttondown_rows_numbers_and_skipped_drafts() -> None:
    parsed = parse("buttondown", DATA / "buttondown")
    assert [(i.key, i.number, i.date) for i in parsed.issues] == [
        ("buttondown:em_0a1b2c", 1, "2024-01-12"),
        ("buttondown:em_0d3e4f", 2, "2024-01-19"),
    ]
    assert parsed.skipped == 1
    assert [str(p) for p in parsed.problems] == [
        "emails.csv row 4: no body: neither a body column nor emails/<slug>.md"
    ]
    assert not parsed.issues[0].body.startswith("---")  # the Markdown file's own front matter is not body


def test_buttondown_csv_named_directly_and_a_body_column(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "emails.csv").write_bytes(
        "\ufeffid,subject,publish_date,body,secondary_id\n"
        'em_1,"Hello, world",2023-05-05T10:00:00Z,"A [link](https://example.org/x)\n\non two lines",12\n'.encode()
    )
    parsed = parse("buttondown", export / "emails.csv")
    (issue,) = parsed.issues
    assert (issue.title, issue.number, issue.date) == ("Hello, world", 12, "2023-05-05")
    assert "A [link](https://example.org/x)\n\non two lines" in issue.body


def test_buttondown_fancy_mode_bodies_are_html(tmp_path: Path) -> None:
    (tmp_path / "emails.csv").write_text(
        "id,subject,publish_date,body\n"
        'em_2,Rich text,2023-06-01,"<!-- buttondown-editor-mode: fancy --><p>See <a href=""https://example.org/r"">this</a>'
        '<script>x()</script></p>"\n'
    )
    (issue,) = parse("buttondown", tmp_path).issues
    assert issue.body.strip() == "See [this](https://example.org/r)"


def test_a_single_json_file_does_not_read_its_whole_folder(tmp_path: Path) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "other.json").write_text("{}")
    (tmp_path / "ghost.json").write_text("{}")
    found = Bundle(tmp_path / "ghost.json")
    assert found.with_suffix(".json") == ["ghost.json"] and "deep/er/other.json" not in found.names
    found.close()


def test_substack_published_newsletters_only() -> None:
    parsed = parse("substack", DATA / "substack")
    assert [i.key for i in parsed.issues] == [
        "substack:141503.retrieval-that-retrieves",
        "substack:141877.evaluations-you-can-trust",
    ]
    assert all(i.number is None for i in parsed.issues)
    assert parsed.skipped == 2  # the About page and the unpublished draft
    assert [p.source for p in parsed.problems] == ["posts.csv row 5"]


def test_curated_shapes_one_issue_a_list_or_wrapped(tmp_path: Path) -> None:
    issues = json.loads((DATA / "curated" / "issues.json").read_text())["issues"]
    (tmp_path / "one.json").write_text(json.dumps(issues[0]))
    (tmp_path / "list.json").write_text(json.dumps([issues[1]]))
    (tmp_path / "junk.json").write_text("{not json")
    parsed = parse("curated", tmp_path)
    assert sorted(i.number or 0 for i in parsed.issues) == [7, 8]
    assert [p.source for p in parsed.problems] == ["junk.json"]
    seven = next(i for i in parsed.issues if i.number == 7)
    assert seven.own_hosts == frozenset({"mlweekly.curated.co"})
    assert "- **Housekeeping** — We moved to Fridays." in seven.body


def test_ghost_posts_and_what_is_not_a_ghost_export(tmp_path: Path) -> None:
    parsed = parse("ghost", DATA / "ghost" / "ghost-export.json")
    assert [i.title for i in parsed.issues] == [
        "Scaling out training",
        "Model parallel, explained",
        "Sharding, from the old editor",
    ]
    assert parsed.skipped == 2 and [p.source for p in parsed.problems] == ["posts[5] (no-date)"]
    (tmp_path / "other.json").write_text('{"db": []}')
    with pytest.raises(ArchiveError, match="not a Ghost export"):
        parse("ghost", tmp_path / "other.json")


def test_markdown_titles_dates_and_numbers() -> None:
    parsed = parse("markdown", DATA / "markdown")
    by_key = {i.key: i for i in parsed.issues}
    kickoff = by_key["markdown:2023-11-03-kickoff.md"]
    assert (kickoff.title, kickoff.date, kickoff.number) == ("Kickoff: why MLOps", "2023-11-03", None)
    defs = by_key["markdown:issue-2.md"]
    assert (defs.title, defs.date, defs.number) == ("Definitions, finally", "2023-11-10", 2)
    assert [p.source for p in parsed.problems] == ["broken.md"]


def test_zip_member_larger_than_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_module, "MAX_MEMBER_BYTES", 1000)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("posts.csv", "post_id,post_date,is_published\n" + "0" * 5000)  # compresses to a few bytes
    found = Bundle(archive)
    with pytest.raises(ArchiveError, match="larger than"):
        found.read("posts.csv")
    found.close()


def test_too_many_files_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_module, "MAX_MEMBERS", 3)
    for n in range(5):
        (tmp_path / f"{n}.md").write_text("x")
    with pytest.raises(ArchiveError, match="more than 3 files"):
        Bundle(tmp_path)


def test_symlinks_in_a_folder_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "secret.md"
    outside.write_text("---\ndate: 2024-01-01\n---\nnot part of the export\n")
    export = tmp_path / "export"
    export.mkdir()
    (export / "2024-01-02-real.md").write_text("real issue\n")
    (export / "2024-01-03-link.md").symlink_to(outside)
    assert [i.key for i in parse("markdown", export).issues] == ["markdown:2024-01-02-real.md"]

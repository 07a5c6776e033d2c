"""Issue files: front matter, links (entries vs mentions), sections, and the --update merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.catalog import Catalog
from newsletter.errors import ProjectError
from newsletter.issues import files as issues
from newsletter.store import identity

ROOT = Path(__file__).resolve().parent.parent

BODY = """Intro with a [mention](https://example.org/mention).

<!-- more -->

## Feature stories

### [Big \\[story\\]](https://example.org/story)
*Site · Author*

Commentary linking [the paper](https://arxiv.org/abs/1234.5678) and `[not](https://code.example)`.

## Papers
- **[A paper (with parens)](https://example.org/p_(x))** — Someone. Text.
- **[Another](<https://example.org/q>)** — see <https://auto.example/link>.

```
- **[in code](https://fenced.example)**
```

## Empty

Until next week — the editors.
"""


def test_extract_links_tells_entries_from_mentions() -> None:
    links = issues.extract_links(BODY)
    got = [(link.url, link.entry, link.section) for link in links]
    assert got == [
        ("https://example.org/mention", False, ""),
        ("https://example.org/story", True, "Feature stories"),
        ("https://arxiv.org/abs/1234.5678", False, "Feature stories"),
        ("https://example.org/p_(x)", True, "Papers"),
        ("https://example.org/q", True, "Papers"),
        ("https://auto.example/link", False, "Papers"),
    ]
    assert links[1].text == "Big [story]"
    assert links[3].text == "A paper (with parens)"


def test_sections_and_insertion_points() -> None:
    found = issues.sections(BODY)
    assert [s.title for s in found] == ["Feature stories", "Papers", "Empty"]
    lines = BODY.split("\n")
    papers = found[1]
    at = issues.insertion_point(lines, papers, last=False)
    assert lines[at - 1] == "```"  # end of the section's content, before the blank lines


def test_merge_entries_only_inserts_lines() -> None:
    text = "---\nnumber: 5\n---\n" + BODY
    merged = issues.merge_entries(
        text,
        {"Papers": "- **[New](https://n.example)** — new.", "Podcasts and video": "- **[Pod](https://pod.example)**",
         "Feature stories": "### [F](https://f.example)\n*S*\n\nWhy."},
        ["Feature stories", "Papers", "Podcasts and video", "Empty"],
    )
    old = text.split("\n")
    it = iter(merged.split("\n"))
    assert all(any(line == got for got in it) for line in old)
    papers = merged.split("## Papers")[1].split("## ")[0]
    assert "- **[New](https://n.example)** — new." in papers
    # a section the draft lacks goes before the next configured one it has
    assert merged.index("## Podcasts and video") < merged.index("## Empty")
    assert merged.index("### [F](https://f.example)") < merged.index("## Papers")
    assert merged.rstrip().endswith("Until next week — the editors.")


def test_merge_keeps_the_sign_off_last_in_the_last_section() -> None:
    text = "## Social\n- **[a](https://a.example)** — a.\n\nUntil next week — the editors.\n"
    merged = issues.merge_entries(text, {"Social": "- **[b](https://b.example)** — b."}, ["Social"])
    assert merged == (
        "## Social\n- **[a](https://a.example)** — a.\n- **[b](https://b.example)** — b.\n\n"
        "Until next week — the editors.\n"
    )


def test_set_front_fields_touches_only_those_lines() -> None:
    text = '---\nnumber: 5\ntitle: "Issue #5: X"   # a comment\ndate: 2025-03-07\nstatus: draft\n---\nbody\n'
    out = issues.set_front_fields(text, status="published", date="2025-03-08")
    assert out == '---\nnumber: 5\ntitle: "Issue #5: X"   # a comment\ndate: 2025-03-08\nstatus: published\n---\nbody\n'
    assert issues.set_front_fields("---\nnumber: 1\n---\n", status="draft") == "---\nnumber: 1\nstatus: draft\n---\n"


def test_sample_issues_read_and_every_entry_is_a_catalog_item() -> None:
    found = issues.list_issues(ROOT / "content" / "issues")
    assert [i.number for i in found] == [1, 2, 3, 4]
    assert all(i.status == "published" and i.title.startswith(f"Issue #{i.number}:") for i in found)
    catalog = Catalog.open(ROOT)
    index = identity.identity_index(catalog.items())
    for issue in found:
        entries = [link for link in issues.extract_links(issue.body) if link.entry]
        assert len(entries) >= 10
        for link in entries:
            item_id = identity.find_existing(index, link.url)
            assert item_id, link.url
            assert catalog.get(item_id).issue == issue.number, link.url


def test_bad_issue_files_raise_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "001-x.md").write_text("no front matter")
    with pytest.raises(ProjectError, match="no front matter"):
        issues.list_issues(tmp_path)
    (tmp_path / "001-x.md").write_text("---\nnumber: [\n---\n")
    with pytest.raises(ProjectError, match="invalid front matter"):
        issues.list_issues(tmp_path)
    with pytest.raises(ProjectError, match="no issue 7"):
        issues.find_issue(tmp_path / "missing", 7)


def test_link_urls_add_reference_definitions_once_each() -> None:
    body = BODY + "\nAgain [the story](https://example.org/story).\n\n[ref]: https://ref.example/r\n"
    assert issues.link_urls(body) == [
        "https://example.org/mention", "https://example.org/story", "https://arxiv.org/abs/1234.5678",
        "https://example.org/p_(x)", "https://example.org/q", "https://auto.example/link", "https://ref.example/r",
    ]


def test_read_issue_folder_forgives_what_list_issues_refuses(tmp_path: Path) -> None:
    (tmp_path / "001-x.md").write_text("no front matter")
    (tmp_path / "2025").mkdir()
    (tmp_path / "2025" / "notes.md").write_text("---\nnumber: two\ntitle: T\n---\nbody\n")
    (tmp_path / "003-bad.md").write_bytes(b"\xff\xfe\xfa")
    found, problems = issues.read_issue_folder(tmp_path)
    assert [(f.path.name, f.front, f.body) for f in found] == [
        ("001-x.md", {}, "no front matter"), ("notes.md", {"number": "two", "title": "T"}, "body\n"),
    ]
    assert len(problems) == 1 and "003-bad.md" in problems[0]
    assert issues.read_issue_folder(tmp_path / "missing") == ([], [])


def test_draft_state_detects_edits(tmp_path: Path) -> None:
    state = issues.DraftState(tmp_path)
    assert not state.unchanged("005-x.md", "text")
    state.record("005-x.md", "text", ["a"])
    assert state.unchanged("005-x.md", "text") and not state.unchanged("005-x.md", "text!")
    assert state.items("005-x.md") == ["a"]
    state.forget("005-x.md")
    assert not state.unchanged("005-x.md", "text")

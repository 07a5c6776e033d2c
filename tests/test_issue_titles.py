"""Titles are the curator's (issue 13, item 4): neutral default, `draft --title`, the file name follows
the title until the issue is published, then never changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.issues import draft
from newsletter.issues import files as issues
from newsletter.models import Item
from newsletter.project import init_project
from newsletter.semantic import HashingEmbedder, SemanticEngine
from newsletter.store import files


def hashing_engine(catalog: Catalog) -> SemanticEngine:
    return SemanticEngine(catalog.settings.derived_dir / "semantic", embedder=HashingEmbedder(64))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = init_project(tmp_path / "proj", name="Test Weekly")
    monkeypatch.setattr(draft, "semantic_engine", hashing_engine)
    for n, (title, tags) in enumerate([("Awesome MLOps list", ["awesome-mlops"]), ("Evals in practice", ["evals"]),
                                       ("LLM ops notes", ["llm-ops"])]):
        url = f"https://site{n}.example.org/post"
        item = Item(id=f"{n:012x}", kind="paper", url=url, canonical_url=url, title=title, tags=tags,
                    summary=f"summary {n}", published=f"2025-03-0{n + 1}", added="2025-03-05T09:00:00Z")
        path = root / "catalog" / files.relative_path_for(item)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files.dump_item(item), encoding="utf-8")
    return root


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def issue_files(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "content" / "issues").glob("*.md"))


def test_default_title_is_neutral(project: Path) -> None:
    code, out, err = run(project, "draft")
    assert code == 0, err
    path = Path(out.strip())
    assert path.name == "001-issue-1.md"
    assert issues.read_issue(path).title == "Issue #1"  # not "Issue #1: Awesome-mlops, evals and llm-ops"


def test_title_option_and_the_file_name_follows_until_published(project: Path) -> None:
    code, out, _ = run(project, "draft", "--title", "Evals week")
    path = Path(out.strip())
    assert path.name == "001-evals-week.md" and issues.read_issue(path).title == "Issue #1: Evals week"
    # the curator edits the draft (and its title by hand): `draft --title` retitles, keeps the text
    path.write_text(path.read_text(encoding="utf-8").replace("Until next week", "My own closing line.\n\nUntil"),
                    encoding="utf-8")
    code, out, err = run(project, "draft", "--title", "Retrieval, finally")
    assert code == 0, err
    path = Path(out.strip())
    assert issue_files(project) == ["001-retrieval-finally.md"]
    text = path.read_text(encoding="utf-8")
    assert 'title: "Issue #1: Retrieval, finally"' in text and "My own closing line." in text
    # a title edited in the front matter: the file follows at the next `publish`
    path.write_text(text.replace("Issue #1: Retrieval, finally", "Issue #1: The final name"), encoding="utf-8")
    code, out, err = run(project, "publish", "1")
    assert code == 0, err
    assert issue_files(project) == ["001-the-final-name.md"]
    final = project / "content" / "issues" / "001-the-final-name.md"
    assert issues.read_issue(final).status == "published"
    # published: a retitle changes the title text only, never the URL
    final.write_text(final.read_text(encoding="utf-8").replace("The final name", "Renamed later"), encoding="utf-8")
    run(project, "publish", "1")
    code, _, err = run(project, "draft", "--issue", "1", "--title", "Nope")
    assert code == 1 and "published" in err
    assert issue_files(project) == ["001-the-final-name.md"]

"""`newsletter publish` (idempotent, any URL spelling) and `newsletter check` (each kind of problem)."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.catalog import Catalog
from newsletter.issues import publish
from tests.test_draft import DATE, add_item, make_project, run


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_project(tmp_path, monkeypatch)


def catalog_bytes(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in (root / "catalog").rglob("*.md")}


def test_publish_marks_linked_items_and_is_idempotent(project: Path) -> None:
    _c, out, _e = run(project, "draft", "--date", DATE)
    path = Path(out.strip())
    # The curator links one item by another spelling of its URL (http, tracking parameter).
    hnsw = Catalog.open(project).get("b4f238d6275c")
    path.write_text(path.read_text().replace(
        "## Papers", "## Papers\n- **[hnswlib](http://github.com/nmslib/hnswlib?utm_source=x)** — by hand.", 1))
    linked_before = Catalog.open(project).get("137ccce67f32")  # vLLM blog, published in issue 1
    code, out, err = run(project, "publish", "5", "--date", "2025-03-08")
    assert code == 0, err
    assert "published issue 5" in out
    catalog = Catalog.open(project)
    marked = [i for i in catalog.items() if i.issue == 5]
    assert len(marked) >= 30 and all(i.status == "published" for i in marked)
    assert catalog.get(hnsw.id).issue == 5
    assert catalog.get(linked_before.id).issue == 1  # backlinks keep their issue
    text = path.read_text()
    assert "\nstatus: published\n" in text and "\ndate: 2025-03-08\n" in text
    before = catalog_bytes(project), text
    code, out, _e = run(project, "publish", "5")
    assert code == 0 and "nothing changed" in out
    assert (catalog_bytes(project), path.read_text()) == before


def test_publish_json_and_unknown_issue(project: Path) -> None:
    code, _out, err = run(project, "publish", "9")
    assert code == 1 and "no issue 9" in err
    code, out, _e = run(project, "publish", "4", "--json")
    assert code == 0 and '"changed": false' in out


def write_issue(root: Path, body: str, number: int = 5, title: str = '"Issue #5: Test"') -> Path:
    path = root / "content" / "issues" / f"{number:03d}-test.md"
    path.write_text(f"---\nnumber: {number}\ntitle: {title}\ndate: 2025-03-07\nstatus: draft\n---\n{body}")
    return path


def kinds(problems: list[publish.Problem]) -> list[str]:
    return [p.kind for p in problems]


def test_check_finds_each_kind_of_problem(project: Path) -> None:
    body = """<!-- newsletter: write the intro here -->
Intro.

## Papers
- **[Not in the catalog](https://nowhere.example/x)** — x.
- **[Old](https://arxiv.org/abs/2309.06180)** — published in issue 1.
- **[](https://github.com/nmslib/hnswlib)** — no title.
- **[Again](http://github.com/nmslib/hnswlib/)** — the same item twice.

## Empty section

## Podcasts
- **[https://github.com/BerriAI/litellm](https://github.com/BerriAI/litellm)** — URL as title.
"""
    write_issue(project, body, title='""')
    problems = publish.check(Catalog.open(project), 5)
    found = kinds(problems)
    for kind in ("not-in-catalog", "published-elsewhere", "duplicate", "empty-section", "missing-title",
                 "placeholder"):
        assert kind in found, (kind, found)
    assert found.count("missing-title") == 3  # front matter, empty link text, URL as text
    lines = Path(project / "content" / "issues" / "005-test.md").read_text().split("\n")
    for p in problems:
        if p.line:
            assert lines[p.line - 1].strip(), p  # line numbers point at the file's lines
    code, out, _err = run(project, "check", "5", "--no-semantic")
    assert code == 1 and "not-in-catalog" in out  # findings are the output: stdout


def test_check_mentions_of_old_items_are_fine(project: Path) -> None:
    body = ("Intro mentions [the vLLM post](https://blog.vllm.ai/2023/06/20/vllm.html).\n\n## Tools\n"
            "- **[nmslib/hnswlib](https://github.com/nmslib/hnswlib)** — x. *Previously covered:* "
            "[HNSW](https://arxiv.org/abs/1603.09320) (issue #3).\n")
    write_issue(project, body)
    assert publish.check(Catalog.open(project), 5) == []


def test_check_near_duplicates_with_the_engine(project: Path) -> None:
    from tests.test_draft import hashing_engine

    a = add_item(project, "Speculative decoding explained with a draft model", kind="link", summary="Same text.")
    b = add_item(project, "Speculative decoding explained with a draft model!", kind="link", summary="Same text.")
    write_issue(project, f"## Reading\n- **[A]({a.url})** — a.\n- **[B]({b.url})** — b.\n")
    catalog = Catalog.open(project)
    engine = hashing_engine(catalog)
    engine.sync(catalog.items())
    problems = publish.check(catalog, 5, engine=engine)
    assert kinds(problems) == ["duplicate"] and "near-duplicate" in problems[0].message


def test_sample_issues_have_no_problems() -> None:
    root = Path(__file__).resolve().parent.parent
    catalog = Catalog.open(root)
    for number in (1, 2, 3, 4):
        assert publish.check(catalog, number) == [], number


def test_publish_crash_between_items_and_issue_is_finished_by_a_rerun(project: Path) -> None:
    _c, out, _e = run(project, "draft", "--date", DATE)
    path = Path(out.strip())
    draft_text = path.read_text()
    run(project, "publish", "5", "--date", "2025-03-08")
    path.write_text(draft_text)  # as if the process died before the issue file was rewritten
    code, out, _e = run(project, "publish", "5", "--date", "2025-03-08")
    assert code == 0 and "0 item(s) marked" in out
    assert "status: published" in path.read_text()

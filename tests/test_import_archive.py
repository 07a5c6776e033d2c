"""`newsletter import-archive`: each platform's export end to end through the CLI on a fresh project.

Fixtures are small exports as real files (tests/data/import_archive/<platform>/): past issues become
content/issues/*.md, their links catalog items published in them; a rerun changes nothing; a link
already in the catalog gets the issue instead of a copy; furniture links are left out; one bad row
or file fails alone; and `draft` treats an imported item as covered before.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from newsletter.catalog import Catalog
from newsletter.ingest.route import AddOptions
from newsletter.issues import draft, files
from newsletter.project import init_project
from newsletter.semantic import HashingEmbedder, SemanticEngine
from tests.test_cli import run
from tests.test_json_contract import assert_valid

DATA = Path(__file__).parent / "data" / "import_archive"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "proj", name="Test Weekly")


def add_offline(project: Path, title: str, url: str) -> None:
    code, _out, err = run(project, "add", "--no-fetch", "--no-similar", "--title", title, url)
    assert code == 0, err


def run_json(project: Path, *args: str) -> tuple[int, dict]:
    code, out, _ = run(project, "import-archive", *args, "--json")
    doc = json.loads(out)
    assert_valid(doc, "import-archive")
    return code, doc


def items(project: Path) -> dict[str, dict]:
    """Every catalog item by URL (as `list --json` shows them)."""
    code, out, _ = run(project, "list", "--json")
    assert code == 0
    return {item["url"]: item for item in json.loads(out)["items"]}


def issue_files(project: Path) -> dict[int, files.IssueFile]:
    return {i.number or 0: i for i in files.list_issues(project / "content" / "issues")}


def tree_digest(root: Path) -> str:
    """A digest of every file under content/ and catalog/ (names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted([*(root / "content").rglob("*"), *(root / "catalog").rglob("*")]):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# -- one test per platform ------------------------------------------------------------------------


def test_buttondown_export_folder_becomes_numbered_issues_and_published_items(project: Path) -> None:
    code, out, err = run(project, "import-archive", str(DATA / "buttondown"), "--from", "buttondown")
    assert code == 1  # row 4's Markdown file is missing: that row fails alone, the others are imported
    assert err.strip().splitlines() == ["error: emails.csv row 4: no body: neither a body column nor emails/<slug>.md"]
    assert (
        "buttondown: 2 issue(s) imported, 0 existing, 1 failed, 1 unpublished (drafts, pages) skipped; "
        "7 new item(s), 0 linked to catalog items" in out
    )
    found = issue_files(project)
    assert sorted(found) == [1, 2]  # Buttondown's own numbers (secondary_id); the draft (3) is not imported
    first = found[1]
    assert first.path.name == "001-serving-week-paged-kv-caches.md"
    assert (first.title, first.date, first.status) == ("Serving week: paged KV caches", "2024-01-12", "published")
    assert first.front["imported_from"] == "buttondown:em_0a1b2c"
    catalog = items(project)
    assert catalog["https://arxiv.org/abs/2309.06180"]["status"] == "published"
    assert catalog["https://arxiv.org/abs/2309.06180"]["issue"] == 1
    assert catalog["https://arxiv.org/abs/2106.09685"]["issue"] == 2
    # linked from both issues: covered first in issue 1, and one item
    assert catalog["https://blog.vllm.ai/2023/06/20/vllm.html"]["issue"] == 1
    assert catalog["https://blog.vllm.ai/2023/06/20/vllm.html"]["title"].startswith("vLLM: Easy, Fast")
    assert catalog["https://blog.vllm.ai/2023/06/20/vllm.html"]["added"] == "2024-01-12T00:00:00Z"
    assert "https://example.org/never-sent" not in catalog


def test_boilerplate_links_are_left_out_and_trackers_resolved(project: Path) -> None:
    run(project, "import-archive", str(DATA / "buttondown"), "--from", "buttondown")
    urls = set(items(project))
    # the click tracker's target is in its query: resolved offline, the tracker itself never stored
    assert "https://huggingface.co/docs/text-generation-inference" in urls
    for furniture in ("links.example.net", "twitter.com", "mailto:", "unsubscribe", "view-in-browser"):
        assert not any(furniture in url for url in urls), furniture
    body = issue_files(project)[1].body
    assert "(https://huggingface.co/docs/text-generation-inference)" in body
    assert "Unsubscribe" not in body and "Share on X" not in body and "twitter.com" not in body
    assert "Write to us" in body and "mailto:" not in body  # a mailto: keeps its words, not its link
    assert "<script>" not in body.replace("`<script>`", "")  # raw HTML is inert text; code spans stay code
    assert "&lt;script&gt;" in body


def test_buttondown_zip_is_the_same_export(project: Path, tmp_path: Path) -> None:
    archive = tmp_path / "buttondown-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((DATA / "buttondown").rglob("*")):
            if path.is_file():
                zf.write(path, f"export-2024/{path.relative_to(DATA / 'buttondown').as_posix()}")
    code, doc = run_json(project, str(archive), "--from", "buttondown")
    assert code == 1 and doc["totals"]["imported"] == 2 and doc["totals"]["items_new"] == 7
    assert [e["input"] for e in doc["errors"]] == ["emails.csv row 4"]


def test_substack_posts_csv_and_html(project: Path) -> None:
    code, _out, err = run(project, "import-archive", str(DATA / "substack"), "--from", "substack")
    assert code == 1
    assert err.strip() == "error: posts.csv row 5: no posts/142200.lost-in-the-export.html in the export"
    found = issue_files(project)
    assert sorted(found) == [1, 2]  # Substack has no numbers: date order after the project's issues
    assert (found[1].title, found[1].date) == ("Retrieval that retrieves", "2024-02-02")
    body = found[1].body
    assert body.startswith("*Dense, sparse and late interaction*")
    assert "## Late interaction" in body
    for inert in ("javascript:", "onerror", "<script", "<img", "subscribe", "Share"):
        assert inert not in body, inert
    assert "\\*not emphasis\\*" in body and "\\[not a link\\]" in body
    assert "a hidden target" in body and "substack.com/redirect" not in body  # opaque tracker: words only
    catalog = items(project)
    assert catalog["https://arxiv.org/abs/2004.12832"]["issue"] == 1  # ColBERT, mentioned again in issue 2
    assert catalog["https://github.com/EleutherAI/lm-evaluation-harness"]["issue"] == 2
    assert not any("substack.com" in url or "example.org" in url for url in catalog)
    assert len(catalog) == 5


def test_curated_issue_json(project: Path) -> None:
    code, doc = run_json(project, str(DATA / "curated" / "issues.json"), "--from", "curated")
    assert code == 1 and doc["errors"] == [{"input": "issues.json [2]", "error": "no issue number"}]
    found = issue_files(project)
    assert sorted(found) == [7, 8]  # Curated's numbers kept
    assert found[7].front["original_url"] == "https://mlweekly.curated.co/issues/7"
    assert "## Tools" in found[7].body and "- **[DVC: data version control](https://dvc.org/)**" in found[7].body
    catalog = items(project)
    assert set(catalog) == {
        "https://dvc.org/",
        "https://mlflow.org/docs/latest/index.html",
        "https://github.com/feast-dev/feast",
        "https://github.com/evidentlyai/evidently",
        "https://greatexpectations.io/",
    }  # not the newsletter's own issue 6 page
    assert catalog["https://greatexpectations.io/"]["issue"] == 8


def test_ghost_export_html_lexical_and_mobiledoc(project: Path) -> None:
    code, _out, err = run(project, "import-archive", str(DATA / "ghost" / "ghost-export.json"), "--from", "ghost")
    assert code == 1 and err.strip() == "error: posts[5] (no-date): no usable published_at"
    found = issue_files(project)
    assert [found[n].title for n in sorted(found)] == [
        "Scaling out training",
        "Model parallel, explained",
        "Sharding, from the old editor",
    ]
    catalog = items(project)
    assert catalog["https://github.com/ray-project/ray"]["issue"] == 1  # from html
    assert catalog["https://arxiv.org/abs/1909.08053"]["issue"] == 2  # from lexical
    assert catalog["https://arxiv.org/abs/1811.06965"]["issue"] == 2  # a lexical markdown card
    assert catalog["https://www.deepspeed.ai/tutorials/zero/"]["issue"] == 3  # from mobiledoc
    assert catalog["https://pytorch.org/docs/stable/fsdp.html"]["issue"] == 3  # a mobiledoc markdown card
    assert not any("facebook.com" in url or "example.org" in url for url in catalog)  # share button, page, draft


def test_markdown_folder_front_matter_or_dated_names(project: Path) -> None:
    code, _out, err = run(project, "import-archive", str(DATA / "markdown"), "--from", "markdown")
    assert code == 1
    assert err.strip().startswith("error: broken.md: invalid front matter")
    found = issue_files(project)
    assert sorted(found) == [2, 3]  # issue-2.md keeps its number; the dated file follows in date order
    assert (found[2].title, found[2].date) == ("Definitions, finally", "2023-11-10")
    assert (found[3].title, found[3].date) == ("Kickoff: why MLOps", "2023-11-03")
    assert not found[3].body.lstrip().startswith("#")  # the heading became the title
    debt = "https://papers.nips.cc/paper/2015/hash/86df7dcfd896fcaf2674f757a2463eba-Abstract.html"
    assert items(project)[debt]["issue"] == 2  # linked by both: the lower number is where it was covered


# -- behaviours -----------------------------------------------------------------------------------


def test_rerun_is_idempotent(project: Path) -> None:
    run(project, "import-archive", str(DATA / "buttondown"), "--from", "buttondown")
    before = tree_digest(project)
    code, doc = run_json(project, str(DATA / "buttondown"), "--from", "buttondown")
    assert [r["result"] for r in doc["results"]] == ["exists", "exists"]
    totals = doc["totals"]
    assert (totals["imported"], totals["existing"], totals["items_new"], totals["items_linked"]) == (0, 2, 0, 0)
    assert code == 1  # the bad row is still bad
    assert tree_digest(project) == before  # not a byte changed


def test_existing_item_gets_the_issue_instead_of_a_copy(project: Path) -> None:
    add_offline(project, "PEFT docs", "https://huggingface.co/docs/peft?utm_source=newsletter")
    _code, doc = run_json(project, str(DATA / "buttondown"), "--from", "buttondown")
    assert doc["totals"]["items_linked"] == 1 and doc["totals"]["items_new"] == 6
    peft = [item for url, item in items(project).items() if "huggingface.co/docs/peft" in url]
    assert len(peft) == 1
    assert (peft[0]["title"], peft[0]["status"], peft[0]["issue"]) == ("PEFT docs", "published", 2)
    second = next(r for r in doc["results"] if r["number"] == 2)
    assert peft[0]["id"] in second["linked"] and peft[0]["id"] not in second["new"]


def test_item_published_elsewhere_keeps_its_issue(project: Path) -> None:
    add_offline(project, "LoRA", "https://arxiv.org/abs/2106.09685")
    item_id = items(project)["https://arxiv.org/abs/2106.09685"]["id"]
    Catalog.open(project).set_status(item_id, "published", issue=9)
    _code, doc = run_json(project, str(DATA / "buttondown"), "--from", "buttondown")
    assert doc["totals"]["items_elsewhere"] == 1
    assert items(project)["https://arxiv.org/abs/2106.09685"]["issue"] == 9  # history is not rewritten


def test_number_held_by_another_issue_fails_alone_and_is_not_overwritten(project: Path) -> None:
    mine = project / "content" / "issues" / "001-our-own-first-issue.md"
    mine.write_text('---\nnumber: 1\ntitle: "Our own first issue"\ndate: 2025-05-02\nstatus: draft\n---\nOurs.\n')
    code, _out, err = run(project, "import-archive", str(DATA / "buttondown"), "--from", "buttondown")
    assert code == 1
    assert (
        "error: emails.csv row 1: issue 1 is already 001-our-own-first-issue.md (dated 2025-05-02); not overwritten"
    ) in err
    assert mine.read_text().endswith("Ours.\n")
    assert sorted(issue_files(project)) == [1, 2]
    # issue 1's links were not imported with it; issue 2's were
    assert "https://arxiv.org/abs/2309.06180" not in items(project)
    assert items(project)["https://arxiv.org/abs/2106.09685"]["issue"] == 2


def test_dry_run_writes_nothing(project: Path) -> None:
    before = tree_digest(project)
    _code, doc = run_json(project, str(DATA / "substack"), "--from", "substack", "--dry-run")
    assert doc["dry_run"] is True and [r["result"] for r in doc["results"]] == ["planned", "planned"]
    assert doc["totals"]["items_new"] == 5 and doc["totals"]["imported"] == 2
    assert tree_digest(project) == before


def test_not_an_export_is_one_line(project: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-export"
    empty.mkdir()
    code, _out, err = run(project, "import-archive", str(empty), "--from", "substack")
    assert code == 1
    assert err.strip() == f"error: {empty}: no posts.csv (a Substack export holds posts.csv and posts/*.html)"
    code, _out, err = run(project, "import-archive", str(empty), "--from", "wordpress")
    assert code == 2


def test_draft_sees_an_imported_item_as_covered(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import makes the archive's items "published": `add` says so, and `draft` leaves out a near-copy
    of one (already published in its issue) and numbers the next issue after the imported ones."""

    def hashing(catalog: Catalog) -> SemanticEngine:
        return SemanticEngine(catalog.settings.derived_dir / "semantic", embedder=HashingEmbedder(256))

    monkeypatch.setattr(draft, "semantic_engine", hashing)
    engines: dict[int, SemanticEngine] = {}
    monkeypatch.setattr(Catalog, "semantic", property(lambda self: engines.setdefault(id(self), hashing(self))))
    run(project, "import-archive", str(DATA / "buttondown"), "--from", "buttondown")
    code, out, _ = run(project, "add", "--no-fetch", "https://blog.vllm.ai/2023/06/20/vllm.html")
    assert out.startswith("exists ") and "vLLM: Easy, Fast, and Cheap LLM Serving" in out
    add_offline(
        project,
        "vLLM: easy, fast and cheap LLM serving with PagedAttention, a walkthrough",
        "https://example.org/vllm-walk",
    )
    add_offline(project, "Great pasta recipes for weeknights", "https://example.org/pasta")
    code, out, err = run(project, "draft", "-v", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["issue"] == 3  # after the imported 1 and 2
    vllm = items(project)["https://blog.vllm.ai/2023/06/20/vllm.html"]["id"]
    assert any(
        f"near-duplicate of {vllm}" in line and line.endswith("already published in issue 1")
        for line in doc["left_out"]
    ), doc["left_out"]
    text = Path(doc["path"]).read_text(encoding="utf-8")
    assert "example.org/pasta" in text and "example.org/vllm-walk" not in text


def test_copied_project_fixture_is_untouched(tmp_path: Path) -> None:
    """The fixtures are read, never written: importing from a copy leaves the copy as it was."""
    copy = tmp_path / "bd"
    shutil.copytree(DATA / "buttondown", copy)
    project = init_project(tmp_path / "p2", name="P2")
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    run(project, "import-archive", str(copy), "--from", "buttondown")
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


def test_a_url_added_by_another_command_meanwhile_is_linked_not_copied(project: Path) -> None:
    """Planning holds no lock: an `add` that lands between the plan and the writes (here from the first
    progress report, which comes before the lock is taken) is found again under the lock."""
    paper = "https://arxiv.org/abs/2309.06180"
    added: list[str] = []

    def progress(done: int, total: int) -> None:
        if not added:
            other = Catalog.open(project)  # another writer, with its own view of the catalog
            (result,) = other.add([paper], AddOptions(fetch=False, title="PagedAttention"))
            added.append(result.item.id if result.item else "")

    report = Catalog.open(project).import_archive(DATA / "buttondown", "buttondown", progress=progress)
    first = next(o for o in report.issues if o.number == 1)
    assert added[0] in first.linked and added[0] not in first.new
    catalog = items(project)
    assert [url for url in catalog if "2309.06180" in url] == [paper]
    assert (catalog[paper]["title"], catalog[paper]["status"], catalog[paper]["issue"]) == (
        "PagedAttention",
        "published",
        1,
    )
    assert report.items_new == 6 and report.items_linked == 1

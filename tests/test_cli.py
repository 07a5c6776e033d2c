"""The `newsletter` command end to end: add (pages, arXiv, Crossref), list, show, tag, edit, rm.

Every fetch goes to a real HTTP server on 127.0.0.1 that serves responses shaped like the real
services'; the NEWSLETTER_* endpoint variables point the tool at it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.project import init_project
from tests.httpserver import LoopbackServer

DATA = Path(__file__).parent / "data" / "site"
# An $EDITOR that changes the file without a human: replaces {old} with {new}.
EDITOR_SCRIPT = (
    "import sys, pathlib\n"
    "p = pathlib.Path(sys.argv[1])\n"
    "p.write_text(p.read_text().replace({old!r}, {new!r}))\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "proj", name="Test Weekly")


@pytest.fixture
def web(http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> LoopbackServer:
    """The loopback server dressed up as the web: a blog, the arXiv API and Crossref."""
    server = http_server
    server.add("/writing/llm-patterns/", body=(DATA / "blog_post.html").read_bytes())
    server.add("/api/query", body=(DATA / "arxiv_lora.xml").read_bytes(), content_type="application/atom+xml")
    server.add(
        "/crossref/works/10.18653/v1/d19-1410",  # DOIs are case-insensitive; we ask lower-case
        body=(DATA / "crossref_sbert.json").read_bytes(),
        content_type="application/json",
    )
    server.add("/missing", status=404, body=b"<h1>Not found</h1>")
    server.add("/broken", behaviour="reset")
    monkeypatch.setenv("NEWSLETTER_ARXIV_API", server.url("/api/query"))
    monkeypatch.setenv("NEWSLETTER_CROSSREF_API", server.url("/crossref"))
    return server


def run(project: Path, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_add_page_extracts_metadata(project: Path, web: LoopbackServer) -> None:
    url = web.url("/writing/llm-patterns/?utm_source=newsletter")
    code, out, err = run(project, "add", "--json", url)
    assert code == 0, err
    (entry,) = json.loads(out)["results"]
    assert entry["result"] == "added" and entry["input"] == url
    result = entry["item"]
    assert result["title"] == "Patterns for Building LLM-based Systems & Products"
    assert result["summary"].startswith("Seven patterns for putting LLMs into production")
    assert result["authors"] == ["Eugene Yan"]
    assert result["published"] == "2023-07-30"
    assert result["site"] == "eugeneyan.com"
    assert result["image"] == web.url("/assets/llm-patterns-og.png")
    assert result["kind"] == "link"
    assert result["status"] == "inbox"
    # the page's canonical points at another host: not trusted as identity, the input's is used
    assert "utm_source" not in result["canonical_url"]


def test_adding_the_same_page_twice_reports_the_existing_item(project: Path, web: LoopbackServer) -> None:
    first = json.loads(run(project, "add", "--json", web.url("/writing/llm-patterns/"))[1])["results"][0]["item"]
    code, out, _ = run(project, "add", "--json", web.url("/writing/llm-patterns?utm_campaign=x&fbclid=1#top"))
    assert code == 0
    (again,) = json.loads(out)["results"]
    assert again["result"] == "exists"
    assert again["item"]["id"] == first["id"] and again["item"]["duplicate_of"] is None
    assert len(Catalog.open(project).items()) == 1
    assert web.hits["/writing/llm-patterns/"] == 1  # known URLs are not even fetched again


def test_add_arxiv_paper_through_the_api(project: Path, web: LoopbackServer) -> None:
    code, out, err = run(project, "add", "--json", "arXiv:2106.09685v2")
    assert code == 0, err
    (paper,) = [r["item"] for r in json.loads(out)["results"]]
    assert paper["kind"] == "paper"
    assert paper["title"] == "LoRA: Low-Rank Adaptation of Large Language Models"
    assert paper["authors"][:2] == ["Edward J. Hu", "Yelong Shen"]
    assert paper["published"] == "2021-06-17"
    assert paper["arxiv_id"] == "2106.09685"
    assert paper["canonical_url"] == "https://arxiv.org/abs/2106.09685"
    assert paper["pdf_url"].startswith("https://arxiv.org/pdf/2106.09685")
    assert "Low-Rank Adaptation" in paper["summary"]
    # the pdf link, another version and the arXiv DOI are the same paper
    for variant in ("https://arxiv.org/pdf/2106.09685v1.pdf", "https://doi.org/10.48550/arXiv.2106.09685"):
        code, out, _ = run(project, "add", "--json", variant)
        assert json.loads(out)["results"][0]["result"] == "exists"
    assert len(Catalog.open(project).items()) == 1


def test_add_doi_through_crossref(project: Path, web: LoopbackServer) -> None:
    code, out, err = run(project, "add", "--json", "doi:10.18653/v1/D19-1410")
    assert code == 0, err
    (paper,) = [r["item"] for r in json.loads(out)["results"]]
    assert paper["kind"] == "paper"
    assert paper["title"] == "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks"
    assert paper["authors"] == ["Nils Reimers", "Iryna Gurevych"]
    assert paper["doi"] == "10.18653/v1/d19-1410"
    assert paper["canonical_url"] == "https://doi.org/10.18653/v1/d19-1410"


def test_one_bad_url_does_not_stop_the_batch(project: Path, web: LoopbackServer) -> None:
    code, out, err = run(
        project, "add", web.url("/missing"), web.url("/writing/llm-patterns/"), web.url("/broken"), "not a url"
    )
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 3
    assert any("/missing" in line and "404" in line for line in lines)
    assert any("/broken" in line for line in lines)
    assert any("not a url" in line for line in lines)
    assert "Traceback" not in err
    assert "added" in out
    assert len(Catalog.open(project).items()) == 1


def test_unreachable_host_is_one_clear_line(project: Path) -> None:
    code, _, err = run(project, "add", "http://127.0.0.1:9/nothing-listens-here")
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line.startswith("error: http://127.0.0.1:9/nothing-listens-here:")


def test_json_output_is_only_json(project: Path, web: LoopbackServer) -> None:
    code, out, _ = run(project, "add", "--json", web.url("/missing"))
    assert code == 1
    data = json.loads(out)
    assert data["totals"]["failed"] == 1 and data["results"] == [] and not data["ok"]
    assert data["errors"][0]["input"] == web.url("/missing")


def test_no_fetch_with_title_and_tags(project: Path) -> None:
    code, _out, _ = run(
        project, "add", "--no-fetch", "--title", "Offline item", "--summary", "Written by hand.",
        "--tag", "Vector DB", "--tag", "mlops", "--note", "Read later.", "https://example.org/post",
    )
    assert code == 0
    item = Catalog.open(project).get("https://example.org/post")
    assert (item.title, item.summary, item.tags, item.note) == (
        "Offline item", "Written by hand.", ["vector-db", "mlops"], "Read later."
    )
    assert item.status == "inbox"


def test_kind_override(project: Path) -> None:
    run(project, "add", "--no-fetch", "--kind", "video", "--title", "A talk", "https://example.org/talk")
    assert Catalog.open(project).get("https://example.org/talk").kind == "video"


def test_list_show_tag_rm(project: Path) -> None:
    run(project, "add", "--no-fetch", "--title", "First", "https://example.org/1")
    run(project, "add", "--no-fetch", "--kind", "paper", "--title", "Second", "https://example.org/2")
    code, out, _ = run(project, "list", "--json", "--kind", "paper")
    assert [i["title"] for i in json.loads(out)["items"]] == ["Second"]
    code, out, _ = run(project, "list")
    assert "First" in out and "Second" in out
    item_id = Catalog.open(project).get("https://example.org/1").id
    code, out, _ = run(project, "show", item_id[:6])
    assert "First" in out
    assert json.loads(run(project, "show", "--json", item_id)[1])["item"]["id"] == item_id
    run(project, "tag", item_id, "RAG", "evals")
    assert Catalog.open(project).get(item_id).tags == ["rag", "evals"]
    code, out, _ = run(project, "list", "--json", "--tag", "rag")
    assert [i["id"] for i in json.loads(out)["items"]] == [item_id]
    run(project, "tag", "--remove", item_id, "rag")
    assert Catalog.open(project).get(item_id).tags == ["evals"]
    code, out, _ = run(project, "rm", item_id)
    assert code == 0
    code, _, err = run(project, "show", item_id)
    assert code == 1 and "no item" in err


def test_edit_validates_before_saving(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(project, "add", "--no-fetch", "--title", "Before", "https://example.org/e")
    item_id = Catalog.open(project).get("https://example.org/e").id
    good = tmp_path / "good_editor.py"
    good.write_text(EDITOR_SCRIPT.format(old="Before", new="After"))
    monkeypatch.setenv("EDITOR", f"{sys.executable} {good}")
    code, _, err = run(project, "edit", item_id)
    assert code == 0, err
    assert Catalog.open(project).get(item_id).title == "After"
    bad = tmp_path / "bad_editor.py"
    bad.write_text(EDITOR_SCRIPT.format(old="kind: link", new="kind: nonsense"))
    monkeypatch.setenv("EDITOR", f"{sys.executable} {bad}")
    code, _out, err = run(project, "edit", item_id)
    assert code == 1
    assert "unknown kind 'nonsense'" in err
    assert Catalog.open(project).get(item_id).kind == "link"


def test_usage_error_exits_2(project: Path) -> None:
    code, _, _ = run(project, "list", "--kind", "blogpost")
    assert code == 2


def test_outside_a_project_says_what_to_do(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "list")
    assert code == 1
    assert "newsletter init" in err


def test_init_refuses_existing_project(project: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(project)])
    assert result.exit_code == 1
    assert "already holds" in result.stderr


def test_init_scaffolds_a_working_project(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(tmp_path / "weekly"), "--name", 'Evil "Name'])
    assert result.exit_code == 0
    root = tmp_path / "weekly"
    for part in ("newsletter.toml", "mkdocs.yml", "content/index.md", "catalog", "templates", ".gitignore"):
        assert (root / part).exists(), part
    catalog = Catalog.open(root)
    assert catalog.settings.name == "Evil Name"
    assert catalog.items() == []


def test_the_same_url_twice_in_one_batch_is_added_once(project: Path) -> None:
    code, out, _ = run(
        project, "add", "--json", "--no-fetch", "--no-similar", "--tag", "twice",
        "https://example.org/twice", "https://www.example.org/twice/?utm_source=x",
    )
    assert code == 0
    first, second = json.loads(out)["results"]
    assert first["result"] == "added"
    assert second["result"] == "exists" and second["item"]["id"] == first["item"]["id"]
    assert second["input"] == "https://www.example.org/twice/?utm_source=x"
    assert len(Catalog.open(project).items()) == 1

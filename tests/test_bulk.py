"""Bulk import end to end: files in tests/data/imports, the catalog on disk, pages on 127.0.0.1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.cli.sources import register_commands
from newsletter.ingest.pipeline import ImportOptions, import_file, save_items
from newsletter.models import Item
from newsletter.project import init_project
from tests.httpserver import LoopbackServer, page
from tests.test_feeds import QLORA_TITLE, FeedSite, add_featured_paper

IMPORTS = Path(__file__).parent / "data" / "imports"
FEEDS = Path(__file__).parent / "data" / "feeds"

if "import" not in main.commands:  # until cli.py registers them
    register_commands(main)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "proj", name="Import Weekly")


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def import_json(project: Path, *args: str, similar: bool = False) -> tuple[int, dict, str]:
    """`import --json`; without the near-duplicate check (no model load) unless `similar`."""
    code, out, err = run(project, "import", "--json", *(() if similar else ("--no-similar",)), *args)
    return code, json.loads(out), err


def items_by_url(project: Path) -> dict[str, Item]:
    catalog = Catalog.open(project)
    try:
        return {i.canonical_url: i for i in catalog.items()}
    finally:
        catalog.close()


def test_bookmarks_no_fetch_uses_the_files_titles_tags_dates_and_reports_bad_lines(project: Path) -> None:
    code, doc, err = import_json(project, "--no-fetch", str(IMPORTS / "firefox_bookmarks.html"))
    assert code == 1  # the data: URL is not a link; the bookmarklet and place: entry are skipped
    assert doc["format"] == "bookmarks"
    t = doc["totals"]
    assert (t["added"], t["existing"] + t["repeated"], t["failed"], t["skipped"]) == (4, 0, 1, 2)
    assert [(f["line"], f["error"]) for f in doc["errors"]] == [(29, "not an http(s) URL (data:)")]
    assert "error: firefox_bookmarks.html: line 29: Data URL: not an http(s) URL (data:)" in err
    items = items_by_url(project)
    paper = items["https://arxiv.org/abs/1706.03762"]
    assert paper.kind == "paper" and paper.extra["arxiv_id"] == "1706.03762"
    assert paper.title == "Attention Is All You Need"
    assert paper.tags == ["research", "transformers", "attention"]
    assert paper.added == "2024-03-09T16:00:00Z"  # the bookmark's date, not today
    repo = items["https://github.com/nmslib/hnswlib"]
    assert repo.kind == "repo" and repo.tags == ["research", "vector-search"]
    catalog = Catalog.open(project)
    try:
        assert catalog.snapshot().paths[paper.id].startswith("2024/03/")  # filed under its bookmark month
    finally:
        catalog.close()


def test_running_the_same_import_twice_adds_nothing_the_second_time(project: Path) -> None:
    for name in ("firefox_bookmarks.html", "raindrop.csv", "awesome.md", "urls.txt", "pocket_export.html"):
        first = import_json(project, "--no-fetch", str(IMPORTS / name))[1]
        before = {p: p.read_bytes() for p in (project / "catalog").rglob("*.md")}
        second = import_json(project, "--no-fetch", str(IMPORTS / name))[1]
        dupes = lambda doc: doc["totals"]["existing"] + doc["totals"]["repeated"]  # noqa: E731
        assert second["totals"]["added"] == 0, name
        assert dupes(second) == first["totals"]["added"] + dupes(first), name
        assert {p: p.read_bytes() for p in (project / "catalog").rglob("*.md")} == before


def test_formats_are_detected_and_each_lands_with_its_metadata(project: Path) -> None:
    doc = import_json(project, "--no-fetch", str(IMPORTS / "raindrop.csv"))[1]
    assert doc["format"] == "csv" and doc["totals"]["added"] == 3 and doc["totals"]["failed"] == 1
    assert doc["totals"]["skipped"] == 1  # its javascript: row
    doc = import_json(project, "--no-fetch", str(IMPORTS / "awesome.md"))[1]
    assert doc["format"] == "markdown" and doc["totals"]["added"] == 8
    doc = import_json(project, "--no-fetch", str(IMPORTS / "urls.txt"))[1]
    assert doc["format"] == "urls" and doc["totals"]["added"] == 4
    assert doc["totals"]["failed"] == 3 and doc["totals"]["skipped"] == 1
    items = items_by_url(project)
    evals = items["https://json.example.com/2024/06/01/evals.html"]
    assert evals.summary == "Why evaluation is hard." and evals.added == "2024-06-01T08:15:00Z"
    assert items["https://cloud.example.com/sdk"].tags == ["awesome-vector-search", "libraries", "managed-services"]
    assert items["https://example.com/two"].title == "Optional title for two"
    assert items["https://arxiv.org/abs/1603.09320"].kind == "paper"


def test_format_option_and_tag_option(project: Path, tmp_path: Path) -> None:
    odd = tmp_path / "list.data"
    odd.write_text("https://a.example.com/x First\nhttps://b.example.com/y\n")
    args = ("--no-fetch", "--format", "urls", "--tag", "Imported 2024", "--tag", "ml", str(odd))
    code, doc, _ = import_json(project, *args)
    assert code == 0 and doc["totals"]["added"] == 2
    assert all(i.tags == ["imported-2024", "ml"] for i in items_by_url(project).values())


def test_a_url_repeated_in_the_file_is_one_item_with_merged_tags(project: Path, tmp_path: Path) -> None:
    csv = tmp_path / "dupes.csv"
    csv.write_text(
        "url,title,tags\n"
        "https://x.example.com/a?utm_source=feed,A,one\n"
        "http://www.x.example.com/a/,A again,two\n"
        "https://x.example.com/b,B,\n"
    )
    doc = import_json(project, "--no-fetch", str(csv))[1]
    assert (doc["totals"]["added"], doc["totals"]["repeated"], doc["totals"]["existing"]) == (2, 1, 0)
    assert items_by_url(project)["https://x.example.com/a"].tags == ["one", "two"]


def test_items_already_in_the_catalog_are_duplicates_and_left_untouched(project: Path) -> None:
    catalog = Catalog.open(project)
    try:
        from newsletter.ingest.route import AddOptions

        catalog.add(["https://example.com/two"], AddOptions(fetch=False, title="Mine", tags=["keep"]))
    finally:
        catalog.close()
    doc = import_json(project, "--no-fetch", str(IMPORTS / "urls.txt"))[1]
    assert doc["totals"]["existing"] == 1 and doc["totals"]["added"] == 3
    two = items_by_url(project)["https://example.com/two"]
    assert two.title == "Mine" and two.tags == ["keep"]


def test_opml_feeds_become_subscriptions_and_links_become_items(project: Path) -> None:
    code, doc, _ = import_json(project, "--no-fetch", str(IMPORTS / "subscriptions.opml"))
    assert code == 1  # the relative xmlUrl
    assert doc["format"] == "opml"
    assert doc["totals"]["subscribed"] == 4 and doc["totals"]["added"] == 1
    assert [f["line"] for f in doc["errors"]] == [16]
    subs = {s["url"]: s for s in yaml.safe_load((project / "feeds.yaml").read_text())}
    assert set(subs) == {
        "https://radio.example.org/feed.xml",
        "https://blog.example.dev/atom.xml",
        "https://json.example.com/feed.json",
        "http://top.example.net/rss",
    }
    assert subs["https://radio.example.org/feed.xml"]["title"] == "Latent Space Radio"
    assert "https://site.example.com/" in items_by_url(project)
    again = import_json(project, "--no-fetch", str(IMPORTS / "subscriptions.opml"))[1]
    assert again["totals"]["subscribed"] == 0 and again["totals"]["added"] == 0
    assert [s["result"] for s in again["subscriptions"]] == ["exists"] * 4


def test_opml_import_with_fetch_validates_feeds(project: Path, tmp_path: Path, http_server: LoopbackServer) -> None:
    site = FeedSite(http_server)
    pod = site.put_file("/pod.xml", "podcast_itunes.xml")
    http_server.add("/dead.xml", status=404)
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>\n'
        f'<outline type="rss" text="My pod" xmlUrl="{pod}"/>\n'
        f'<outline type="rss" text="Dead" xmlUrl="{http_server.url("/dead.xml")}"/>\n'
        "</body></opml>\n"
    )
    code, doc, _ = import_json(project, str(opml))
    assert code == 1
    assert doc["totals"]["subscribed"] == 1 and doc["totals"]["failed"] == 1
    assert doc["errors"][0]["line"] == 3 and "404" in doc["errors"][0]["error"]
    (sub,) = yaml.safe_load((project / "feeds.yaml").read_text())
    assert sub["kind"] == "podcast" and sub["title"] == "Latent Space Radio"  # the feed's own title


def test_import_with_fetch_resolves_pages_and_the_files_title_wins(
    project: Path, tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.add("/titled", body=page("/titled"))
    http_server.add("/untitled", body=page("/untitled"))
    http_server.add("/dead", status=404, body=b"gone")
    csv = tmp_path / "links.csv"
    csv.write_text(
        "url,title,created\n"
        f"{http_server.url('/titled')},My own title,2024-02-03T04:05:06Z\n"
        f"{http_server.url('/untitled')},,\n"
        f"{http_server.url('/dead')},Dead link,\n"
    )
    code, doc, err = import_json(project, str(csv))
    assert code == 1
    assert (doc["totals"]["added"], doc["totals"]["failed"]) == (2, 1)
    assert doc["errors"][0]["line"] == 4 and "404" in doc["errors"][0]["error"]
    assert "line 4" in err
    items = {i.url: i for i in items_by_url(project).values()}
    titled = items[http_server.url("/titled")]
    assert titled.title == "My own title" and titled.added == "2024-02-03T04:05:06Z"
    assert titled.summary.startswith("lorem ipsum")  # the rest comes from the page
    assert items[http_server.url("/untitled")].title == "Page /untitled"
    hits = sum(http_server.hits.values())
    again = import_json(project, str(csv))[1]
    assert again["totals"]["added"] == 0 and again["totals"]["existing"] == 2
    assert sum(http_server.hits.values()) == hits + 1  # only the failed row is tried again


def test_a_large_import_reports_progress_and_saves_everything(project: Path, tmp_path: Path) -> None:
    n = 3000
    lines = ["<!DOCTYPE NETSCAPE-Bookmark-file-1>", "<DL><p>"]
    lines += [
        f'<DT><A HREF="https://site{i % 50}.example.com/post/{i}" ADD_DATE="{1_700_000_000 + i * 600}">Post {i}</A>'
        for i in range(n)
    ]
    lines.append("</DL><p>")
    path = tmp_path / "big.html"
    path.write_text("\n".join(lines))
    calls: list[tuple[int, int]] = []
    catalog = Catalog.open(project)
    try:
        report = import_file(catalog, path, ImportOptions(fetch=False), progress=lambda d, t: calls.append((d, t)))
        assert len(report.new) == n and not report.failed
        assert calls[-1] == (n, n) and len(calls) > 10
        assert [d for d, _ in calls] == sorted(d for d, _ in calls)
        assert len(catalog.snapshot(refresh=True).items) == n
    finally:
        catalog.close()
    assert not [p for p in (project / "catalog").rglob(".tmp-*")]


def test_interrupted_import_keeps_what_it_reported_and_resumes(project: Path) -> None:
    saved: list[str] = []

    def stop_after_two(item: Item) -> None:
        saved.append(item.id)
        if len(saved) == 2:
            raise KeyboardInterrupt

    catalog = Catalog.open(project)
    try:
        with pytest.raises(KeyboardInterrupt):
            import_file(catalog, IMPORTS / "awesome.md", ImportOptions(fetch=False), on_saved=stop_after_two)
    finally:
        catalog.close()
    on_disk = items_by_url(project)
    assert {i.id for i in on_disk.values()} >= set(saved)
    doc = import_json(project, "--no-fetch", str(IMPORTS / "awesome.md"))[1]
    assert doc["totals"]["added"] + doc["totals"]["existing"] == 8 and doc["totals"]["existing"] == len(on_disk)
    assert len(items_by_url(project)) == 8


def test_save_items_is_durable_and_keeps_the_cache_in_step(project: Path) -> None:
    items = [
        Item(id=f"{i:012x}", kind="link", url=f"https://e.example/{i}", canonical_url=f"https://e.example/{i}",
             title=f"T{i}", added=f"20{10 + i % 3}-0{1 + i % 2}-01T00:00:00Z")
        for i in range(12)
    ]
    catalog = Catalog.open(project)
    try:
        with catalog.store.locked():
            catalog.snapshot(refresh=True)
            save_items(catalog, items, chunk=5)
        folders = sorted(p.relative_to(project / "catalog").as_posix() for p in (project / "catalog").glob("*/*"))
        assert folders == ["2010/01", "2010/02", "2011/01", "2011/02", "2012/01", "2012/02"]
        assert catalog.snapshot().items.keys() == {i.id for i in items}
    finally:
        catalog.close()
    # A fresh process sees the same, from the files.
    os.utime(project / "catalog")
    assert len(items_by_url(project)) == 12


def test_unreadable_file_and_unknown_format_are_clear_errors(project: Path, tmp_path: Path) -> None:
    code, _, err = run(project, "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "does not exist" in err
    code, _, err = run(project, "import", "--format", "yaml", str(IMPORTS / "urls.txt"))
    assert code == 2


SAME_WORK_CSV = (
    "url,title,excerpt\n"
    "https://digest.example.dev/posts/qlora,QLoRA: finetune a 65B model on a single 48GB GPU,"
    '"A walk through QLoRA (Dettmers et al.): 4-bit NormalFloat quantization plus LoRA adapters, and Guanaco."\n'
    "https://digest.example.dev/posts/rust-parser,Rewriting our log parser in Rust,Profiling allocation.\n"
)


@pytest.mark.model
def test_imported_row_that_is_the_same_work_as_a_catalog_item_names_it(project: Path, tmp_path: Path) -> None:
    paper_id = add_featured_paper(project)
    csv = tmp_path / "week.csv"
    csv.write_text(SAME_WORK_CSV)
    code, doc, err = import_json(project, "--no-fetch", str(csv), similar=True)
    assert code == 0, err
    items = {r["item"]["title"]: r for r in doc["results"]}
    (match,) = items["QLoRA: finetune a 65B model on a single 48GB GPU"]["similar"]
    assert match["id"] == paper_id and match["title"] == QLORA_TITLE and match["issue"] == 12
    assert items["Rewriting our log parser in Rust"]["similar"] == []
    # On the terminal: the `add` line, for a second spelling of the same work.
    again = tmp_path / "again.txt"
    again.write_text("https://other.example.dev/qlora QLoRA: Efficient Finetuning of Quantized LLMs, explained\n")
    code, out, err = run(project, "import", "--no-fetch", str(again))
    assert code == 0, err
    new_id = items_by_url(project)["https://other.example.dev/qlora"].id
    (line,) = [line for line in out.splitlines() if f"looks like {QLORA_TITLE} (" in line]
    assert line.startswith(f"{new_id}  looks like") and line.endswith(") — featured in issue 12")


def test_import_no_similar_skips_the_model(project: Path, tmp_path: Path) -> None:
    add_featured_paper(project)
    csv = tmp_path / "week.csv"
    csv.write_text(SAME_WORK_CSV)
    code, doc, err = import_json(project, "--no-fetch", str(csv))  # --no-similar
    assert code == 0, err
    assert doc["totals"]["added"] == 2 and all(r["similar"] == [] for r in doc["results"])
    assert not (project / ".newsletter" / "semantic").exists()  # no engine, no embedding, no model

"""Hostile item files: what a hand edit, a `git pull` or the other curator can leave in catalog/.

The rule under test: one bad item file is one warning that names the file and the problem; every
other item still loads, lists, shows, tags and searches; `check` reports it. YAML's implicit typing
never turns a date-like value into something else (or into a crash), and nothing is written outside
the catalog folder through a symlink.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli import main
from newsletter.errors import CatalogError, NewsletterError
from newsletter.models import Item
from newsletter.store import Store, files
from tests.test_git_collaboration import git_env  # noqa: F401  (a fixture)

DATA = Path(__file__).parent / "data" / "hostile_store"
GOOD = {"0000000000a1", "0000000000a2", "0000000000b3"}
BAD = {  # file name stem -> what its warning must say
    "bad-published-0000000000b1": "published: '2025-13-45' is not a date",
    "bad-added-0000000000b2": "added: '2025-02-30' is not a date and time",
    "binary-field-0000000000b4": "field 'blob' holds binary data",
    "set-field-0000000000b5": "field 'things' holds a set",
    "recursive-0000000000b6": "nested more than",
    "laughs-0000000000b7": "more than 100,000 values",
    "int-key-0000000000b8": "field name 1 is not text",
    "nan-field-0000000000b9": "field 'score' is not a finite number",
    "not-utf8-0000000000ba": "not UTF-8 text",
}


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    from newsletter.project import init_project

    root = init_project(tmp_path / "proj", name="Hostile Weekly")
    shutil.copytree(DATA / "catalog", root / "catalog", dirs_exist_ok=True)
    shutil.copytree(DATA / "issues", root / "content" / "issues", dirs_exist_ok=True)
    return root


def test_load_keeps_every_good_item_and_names_every_bad_file(project: Path) -> None:
    store = Store(project / "catalog", project / ".newsletter")
    try:
        snap = store.load()
    finally:
        store.close()
    assert set(snap.items) == GOOD
    assert len(snap.problems) == len(BAD)
    for stem, message in BAD.items():
        (line,) = [p for p in snap.problems if f"{stem}.md" in p]
        assert message in line, line
        assert "\n" not in line


def test_dates_stay_the_strings_that_were_written(project: Path) -> None:
    catalog = Catalog.open(project)
    try:
        item = catalog.get("0000000000a2")
        odd = catalog.get("0000000000b3")
    finally:
        catalog.close()
    assert item.published == "2025-01-02"
    assert item.added == "2025-01-06T11:00:00Z"
    assert item.extra["read_on"] == "2025-01-03"
    assert item.extra["reviewed"] == "2025-01-03 10:20:30"
    # A custom field is the curator's business: kept verbatim, even when it is not a real date.
    assert odd.extra["read_on"] == "2025-99-99"


def test_list_warns_once_per_bad_file_and_lists_the_rest(project: Path) -> None:
    code, out, err = run(project, "list")
    assert code == 0, err
    assert {line.split()[0] for line in out.splitlines()} == GOOD
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == len(BAD)
    assert "Traceback" not in err


def test_show_tag_and_search_work_next_to_bad_files(project: Path) -> None:
    code, out, err = run(project, "show", "--json", "0000000000a2")
    assert code == 0, err
    shown = json.loads(out)["item"]
    assert shown["read_on"] == "2025-01-03" and shown["published"] == "2025-01-02"

    code, _, err = run(project, "tag", "0000000000a2", "dates")
    assert code == 0, err
    path = next((project / "catalog").rglob("good-custom-date-0000000000a2.md"))
    again = files.read_item(path)
    assert "dates" in again.tags
    assert again.extra["read_on"] == "2025-01-03"  # written back as the same string
    assert again.published == "2025-01-02"

    store = Store(project / "catalog", project / ".newsletter")
    try:
        store.load()
        hits = store.keyword_search("custom")
    finally:
        store.close()
    expected = {"2025/01/good-custom-date-0000000000a2.md", "2025/01/odd-custom-0000000000b3.md"}
    assert {path for path, _ in hits} == expected


def test_check_reports_bad_item_files(project: Path) -> None:
    code, out, err = run(project, "check", "--json", "--no-semantic", "1")
    assert code == 1, err
    problems = json.loads(out)["problems"]
    bad = [p for p in problems if p["kind"] == "bad-item-file"]
    assert len(bad) == len(BAD)
    assert any("bad-published-0000000000b1.md" in p["message"] for p in bad)
    assert not [p for p in problems if p["kind"] == "not-in-catalog"]


def test_timestamps_typed_by_hand_are_normalized_and_validated() -> None:
    base = "---\nid: x1\nkind: link\nurl: https://example.com/x\n"
    cases = {
        "added: 2025-03-04 10:20:30\n": "2025-03-04T10:20:30Z",
        "added: 2025-03-04T12:20:30+02:00\n": "2025-03-04T10:20:30Z",
        "added: '2025-03-04T10:20:30Z'\n": "2025-03-04T10:20:30Z",
        "added: 2025-03-04\n": "2025-03-04",
    }
    for line, expected in cases.items():
        assert files.parse_item(base + line + "---\n").added == expected
    for line in ("added: 2025-03-04T25:00:00Z\n", "added: yesterday\n", "added: 20250304\n", "published: March\n",
                 "published: [2025]\n", "issue: true\n", "issue: 2.5\n"):
        with pytest.raises(CatalogError, match=r"^src\.md: "):
            files.parse_item(base + line + "---\n", source="src.md")


def test_a_fifo_or_a_huge_file_is_a_clear_error(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo.md"
    os.mkfifo(fifo)
    with pytest.raises(CatalogError, match="not a regular file"):
        files.read_item(fifo)  # must not hang
    huge = tmp_path / "huge.md"
    huge.write_bytes(b"---\nid: x\n---\n" + b"a" * (files.MAX_FILE_BYTES + 1))
    with pytest.raises(CatalogError, match="larger than"):
        files.read_item(huge)


def test_round_trip_of_a_date_like_string_keeps_it_a_string() -> None:
    item = Item(id="x2", kind="link", url="https://e.example/", canonical_url="https://e.example/",
                added="2025-01-01T00:00:00Z", extra={"read_on": "2025-01-02", "when": "2025-01-02 10:00:00"})
    again = files.parse_item(files.dump_item(item))
    assert again.extra == item.extra


# -- caps on fields from outside ---------------------------------------------------------------------


def test_normalize_tag_limits_length_and_charset() -> None:
    from newsletter.errors import TagError
    from newsletter.models import normalize_tag, usable_tag
    from newsletter.text import TAG_LIMIT

    assert normalize_tag("Vector DB") == "vector-db"
    assert normalize_tag("C++") == "c++"
    assert normalize_tag("!!!") == "" and normalize_tag("---") == "" and normalize_tag("#") == ""
    assert normalize_tag("../../etc") == "etc"
    assert normalize_tag("x" * TAG_LIMIT) == "x" * TAG_LIMIT
    with pytest.raises(TagError, match=f"longer than {TAG_LIMIT} characters"):
        normalize_tag("x" * (TAG_LIMIT + 1))
    with pytest.raises(TagError):
        normalize_tag("a" * 1_000_000)
    assert usable_tag("y" * 300) == ""


def test_an_item_file_with_an_overlong_tag_is_a_named_warning(project: Path) -> None:
    text = "---\nid: 0000000000c1\nkind: link\nurl: https://example.com/t\ntags: [" + "z" * 300 + "]\n---\n"
    with pytest.raises(CatalogError, match=r"^t\.md: tag 'z+…' is longer than"):
        files.parse_item(text, source="t.md")
    (project / "catalog" / "2025" / "01" / "long-tag-0000000000c1.md").write_text(text, encoding="utf-8")
    code, out, err = run(project, "list")
    assert code == 0, err
    assert {line.split()[0] for line in out.splitlines()} == GOOD
    (warning,) = [line for line in err.splitlines() if "long-tag-0000000000c1.md" in line]
    assert warning.startswith("warning:") and "is longer than 100 characters" in warning


def test_add_with_an_overlong_tag_is_one_clear_line(project: Path) -> None:
    code, _, err = run(project, "add", "--no-fetch", "--title", "T", "--tag", "q" * 500,
                       "https://example.com/1", "https://example.com/2")
    assert code == 2
    assert err.strip().splitlines() == ["error: --tag is 500 characters long; a tag has at most 50"]


def test_a_library_caller_with_an_overlong_tag_gets_a_tag_error() -> None:
    from newsletter.errors import TagError
    from newsletter.ingest import route

    with pytest.raises(TagError, match=r"^tag 'q{30}…' is longer than 100 characters; use a shorter tag$"):
        route.AddOptions(tags=["q" * 500])


def test_list_with_a_tag_that_is_no_tag_is_an_error(project: Path) -> None:
    code, out, err = run(project, "list", "--tag", "!!!")
    assert code == 2 and out == "" and "has no usable characters" in err
    catalog = Catalog.open(project)
    try:
        with pytest.raises(NewsletterError, match="is not a tag"):
            catalog.list(tag="!!!")
    finally:
        catalog.close()


def test_oversized_fields_are_capped_at_ingest_with_a_note(project: Path) -> None:
    import os
    import subprocess
    import sys

    from newsletter.text import NOTE_MAX, SUMMARY_MAX, TITLE_MAX

    title, summary, note = "T" * 100_000, "S" * 100_000, "N" * (NOTE_MAX + 5)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "-C", str(project), "add", "--json", "--no-fetch", "--no-similar",
         "--title", title, "--summary", summary, "--note", note, "https://example.com/big"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (added,) = json.loads(done.stdout)["results"]
    result = added["item"]
    assert len(result["title"]) == TITLE_MAX and result["title"].endswith("…")
    assert len(result["summary"]) == SUMMARY_MAX
    assert len(result["note"]) == NOTE_MAX
    notes = [line for line in done.stderr.splitlines() if line.startswith("note: https://example.com/big")]
    assert [n.split(": ")[2].split()[0] for n in notes] == ["title", "summary", "note"]


def test_an_overlong_url_fails_alone(project: Path) -> None:
    from newsletter.text import URL_MAX

    long_url = "https://example.com/" + "a" * URL_MAX
    code, out, err = run(project, "add", "--json", "--no-fetch", "--no-similar", "--tag", "ok", long_url,
                         "https://example.com/fine")
    assert code == 1
    doc = json.loads(out)
    assert [r["input"] for r in doc["results"]] == ["https://example.com/fine"]
    assert doc["results"][0]["result"] == "added"
    (failed,) = doc["errors"]
    assert failed["input"] == long_url and "at most 4,096 are accepted" in failed["error"]
    assert "at most 4,096 are accepted" in err and "Traceback" not in err


def test_build_item_caps_kind_specific_fields_and_authors() -> None:
    from newsletter.ingest import route
    from newsletter.models import Metadata
    from newsletter.text import MAX_AUTHORS, TEXT_MAX

    prepared = route.prepare("https://example.com/x")
    meta = Metadata(title="x", authors=[f"A{i}" for i in range(1000)],
                    extra={"license": "L" * 1_000_000, "links": ["https://e.example/"] * 5000},
                    suggested_tags=["t" * 300, "fine"], image="https://example.com/" + "i" * 5000)
    item = route.build_item(prepared, meta, route.AddOptions())
    assert len(item.authors) == MAX_AUTHORS
    assert len(item.extra["license"]) == TEXT_MAX
    assert len(item.extra["links"]) == route.MAX_LIST
    assert item.tags == ["fine"] and item.image == ""


def test_a_symlinked_month_folder_is_never_written_through(project: Path, tmp_path: Path) -> None:
    import time

    outside = tmp_path / "outside"
    outside.mkdir()
    month = project / "catalog" / time.strftime("%Y/%m", time.gmtime())
    month.parent.mkdir(parents=True, exist_ok=True)
    month.symlink_to(outside)
    code, _out, err = run(project, "add", "--no-fetch", "--no-similar", "--title", "T", "https://example.com/sym")
    assert code != 0
    assert "refusing to write through a symbolic link that leaves the catalog" in err
    assert list(outside.iterdir()) == [], "nothing lands outside the project"


# -- the same files through `draft` and `build` (findings 13 and 15) ---------------------------------------

LONG_TAG = "z" * 300
LONG_TAG_ITEM = f"""---
id: 0000000000c1
kind: link
title: Long tag
url: https://example.com/long-tag
canonical_url: https://example.com/long-tag
tags: [{LONG_TAG}]
status: inbox
added: '2025-01-05T10:00:00Z'
---
"""
# An issue whose front matter still carries the tag (written by hand, or by a draft from before the cap).
LONG_TAG_ISSUE = f"""---
number: 2
title: Second issue
date: 2025-01-10
status: published
tags: [hostile, {LONG_TAG}]
---

## Links

- [Good one](https://example.com/good-one) - fine.
"""


@pytest.fixture
def drafting(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hostile catalog plus an item file with a 300-character tag; drafts rank with hashing vectors."""
    from newsletter.issues import draft
    from tests.test_draft import hashing_engine

    (project / "catalog" / "2025" / "01" / "long-tag-0000000000c1.md").write_text(LONG_TAG_ITEM, encoding="utf-8")
    monkeypatch.setattr(draft, "semantic_engine", hashing_engine)
    return project


def test_draft_leaves_out_bad_item_files_by_name_and_writes_only_usable_tags(drafting: Path) -> None:
    code, out, err = run(drafting, "draft", "--issue", "2", "--date", "2025-01-10", "--no-images")
    assert code == 0, err
    assert "Traceback" not in err
    for stem in [*BAD, "long-tag-0000000000c1"]:
        assert [line for line in err.splitlines() if line.startswith("warning:") and f"{stem}.md" in line], stem
    text = Path(out.strip()).read_text(encoding="utf-8")
    assert "https://example.com/good-one" in text and "https://example.com/long-tag" not in text
    front = text.split("---\n")[1]
    assert LONG_TAG not in text and "hostile" in front
    assert "2025-13-45" not in text and "2025-02-30" not in text


def test_build_names_bad_item_files_and_builds_the_rest(drafting: Path, tmp_path: Path) -> None:
    from newsletter.cli import app as cli_app
    from newsletter.cli import site as cli_site

    if "build" not in cli_app.main.commands:
        cli_site.register_commands(cli_app.main)
    (drafting / "content" / "issues" / "002-second-issue.md").write_text(LONG_TAG_ISSUE, encoding="utf-8")
    out = tmp_path / "site"
    code, _, err = run(drafting, "build", "-d", str(out))
    assert "Traceback" not in err and "File name too long" not in err
    assert code == 1  # `check` reports the bad files: the build says so, and still builds the site
    for stem in [*BAD, "long-tag-0000000000c1"]:
        assert f"{stem}.md" in err, stem
    assert (out / "index.html").is_file() and (out / "catalog" / "index.html").is_file()
    assert "Good one" in (out / "issues" / "002-second-issue" / "index.html").read_text(encoding="utf-8")
    names = [p.name for p in out.rglob("*")]
    assert max(len(name.encode()) for name in names) < 255
    assert not [name for name in names if "zzzzzzzzzz" in name]
    assert (out / "catalog" / "tags" / "hostile" / "index.html").is_file()  # the usable tag of issue 2 has its page


# -- a real `git pull` in the clone that is publishing (finding 12) -----------------------------------------


def big_catalog(root: Path, count: int) -> list[str]:
    """`count` hand-made item files and issue 1 linking them all, in this order; returns their ids."""
    ids = [f"{0xd00000000000 + i:012x}" for i in range(count)]
    folder = root / "catalog" / "2025" / "01"
    folder.mkdir(parents=True, exist_ok=True)
    for i, item_id in enumerate(ids):
        url = f"https://example.com/post-{i:04d}"
        (folder / f"post-{i:04d}-{item_id}.md").write_text(
            f"---\nid: {item_id}\nkind: link\ntitle: Post {i}\nurl: {url}\ncanonical_url: {url}\n"
            f"status: inbox\nadded: '2025-01-05T10:00:00Z'\n---\n", encoding="utf-8")
    links = "".join(f"- [Post {i}](https://example.com/post-{i:04d})\n" for i in range(count))
    (root / "content" / "issues" / "001-big.md").write_text(
        f"---\nnumber: 1\ntitle: Big\nstatus: draft\n---\n\n## Links\n\n{links}", encoding="utf-8")
    return ids


@pytest.mark.usefixtures("git_env")
def test_a_real_git_pull_during_publish_keeps_every_pulled_title(tmp_path: Path) -> None:
    """Clone A publishes issue 1 (linking every item) while `git pull` in A brings B's new titles of the
    last third of those items. The pull lands after publish read the catalog and before it reaches
    those files (git refuses to pull over files publish already changed, so a successful pull while
    publish runs proves it): publish must re-read each file under the lock and keep B's title."""
    import os
    import subprocess
    import sys
    import time

    from newsletter.project import init_project
    from tests.test_git_collaboration import PACKAGE_ROOT, git

    count, pulled = 900, 300
    bare, a, b = tmp_path / "origin.git", tmp_path / "a", tmp_path / "b"
    git(tmp_path, "init", "--bare", str(bare))
    git(tmp_path, "clone", str(bare), str(a))
    init_project(a, name="Busy Weekly")
    ids = big_catalog(a, count)
    git(a, "add", "-A")
    git(a, "commit", "-qm", "catalog and issue 1")
    git(a, "push", "-q", "origin", "HEAD:main")
    git(tmp_path, "clone", "-q", "-b", "main", str(bare), str(b))
    for i in range(count - pulled, count):
        path = b / "catalog" / "2025" / "01" / f"post-{i:04d}-{ids[i]}.md"
        path.write_text(path.read_text(encoding="utf-8").replace(f"title: Post {i}\n", f"title: Pulled {i}\n"),
                        encoding="utf-8")
    git(b, "commit", "-qam", "B: new titles")
    git(b, "push", "-q", "origin", "HEAD:main")

    first = a / "catalog" / "2025" / "01" / f"post-0000-{ids[0]}.md"
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}  # git_env is in os.environ already
    publishing = subprocess.Popen([sys.executable, "-m", "newsletter", "-C", str(a), "publish", "1"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while "status: published" not in first.read_text(encoding="utf-8") and publishing.poll() is None:
            time.sleep(0.002)  # publish has read the catalog and started writing
        pull = git(a, "pull", "-q", "--no-rebase", "origin", "main", check=False)
        still_publishing = publishing.poll() is None
    finally:
        _out, err = publishing.communicate(timeout=300)
    assert publishing.returncode == 0, err
    assert pull.returncode == 0, pull.stderr  # no file the pull replaced had been written by publish yet
    assert still_publishing  # ... and the pull ended while publish was still at work

    catalog = Catalog.open(a)
    try:
        items = {i.id: i for i in catalog.items()}
    finally:
        catalog.close()
    assert all((items[i].status, items[i].issue) == ("published", 1) for i in ids)
    lost = [n for n in range(count - pulled, count) if items[ids[n]].title != f"Pulled {n}"]
    assert lost == []

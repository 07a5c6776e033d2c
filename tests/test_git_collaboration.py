"""Two editors, one repository, real git: edits of the same item merge field by field.

Each test builds a bare repository and two clones in tmp_path, runs `newsletter git-setup` in each
(git config is per clone), and lets real `git pull --no-rebase` call the merge driver. The driver
runs as `sys.executable -m newsletter.store.gitmerge`; PYTHONPATH points it at this checkout's
package (not whatever installation the interpreter would find first).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli.app import main
from newsletter.models import Item
from newsletter.project import GITATTRIBUTES_LINE, init_project
from newsletter.store.files import parse_item
from newsletter.store.gitmerge import (
    merge_fields,
    merge_items,
    merge_sets,
    merge_status,
)

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
URL = "https://example.com/posts/attention-from-scratch"
NOTE = "First paragraph about attention.\n\nMiddle paragraph stays.\n\nLast paragraph with a caveat."


@pytest.fixture
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A git environment of its own: no system or user config, fixed identities, this checkout importable."""
    home = tmp_path / "home"
    home.mkdir()
    values = {
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Editor",
        "GIT_AUTHOR_EMAIL": "editor@example.com",
        "GIT_COMMITTER_NAME": "Editor",
        "GIT_COMMITTER_EMAIL": "editor@example.com",
        "PYTHONPATH": str(PACKAGE_ROOT),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)
    return values


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "pull.rebase=false", *args],
        cwd=cwd, capture_output=True, text=True, check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def cli(project: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def item_file(project: Path) -> Path:
    (path,) = [p for p in (project / "catalog").rglob("*.md")]
    return path


@pytest.fixture
def editors(tmp_path: Path, git_env: dict[str, str]) -> tuple[Path, Path]:
    """Editor A creates the project with one item and pushes; editor B clones; both run git-setup."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "--bare", str(bare))
    a, b = tmp_path / "a", tmp_path / "b"
    git(tmp_path, "clone", str(bare), str(a))
    init_project(a, name="Two Editors")
    out = cli(a, "git-setup")
    assert "per clone" in out
    cli(a, "add", "--no-fetch", "--title", "Attention from scratch", "--note", NOTE, URL)
    git(a, "add", "-A")
    git(a, "commit", "-m", "project and one item")
    git(a, "push", "origin", "HEAD:main")
    git(tmp_path, "clone", "-b", "main", str(bare), str(b))
    cli(b, "git-setup")
    return a, b


def edit_note(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_both_editors_edits_of_one_item_merge_without_conflict(editors: tuple[Path, Path]) -> None:
    a, b = editors
    item_id = parse_item(item_file(a).read_text(encoding="utf-8")).id
    # A: tag x, rewrite the first paragraph of the note; push.
    cli(a, "tag", item_id, "x")
    edit_note(item_file(a), "First paragraph about attention.", "First paragraph, rewritten by A.")
    git(a, "commit", "-am", "A: tag x, first paragraph")
    git(a, "push", "origin", "HEAD:main")
    # B: tag y, shortlist, rewrite the last paragraph; pull.
    cli(b, "tag", item_id, "y")
    cli(b, "shortlist", item_id)
    edit_note(item_file(b), "Last paragraph with a caveat.", "Last paragraph, rewritten by B.")
    git(b, "commit", "-am", "B: tag y, shortlist, last paragraph")
    pulled = git(b, "pull", "--no-rebase", "origin", "main", check=False)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert "CONFLICT" not in pulled.stdout
    assert git(b, "status", "--porcelain").stdout.strip() == ""
    merged = parse_item(item_file(b).read_text(encoding="utf-8"))
    assert {"x", "y"} <= set(merged.tags)
    assert merged.status == "shortlisted"
    assert "First paragraph, rewritten by A." in merged.note
    assert "Last paragraph, rewritten by B." in merged.note
    assert "Middle paragraph stays." in merged.note
    assert "<<<<<<<" not in merged.note
    # The catalog reads the merged file like any other.
    shown = json.loads(cli(b, "show", item_id, "--json"))
    assert json.dumps(shown).count("shortlisted") >= 1


def test_a_true_note_conflict_leaves_markers_only_in_the_note(editors: tuple[Path, Path]) -> None:
    a, b = editors
    item_id = parse_item(item_file(a).read_text(encoding="utf-8")).id
    cli(a, "tag", item_id, "x")
    edit_note(item_file(a), "Middle paragraph stays.", "Middle paragraph according to A.")
    git(a, "commit", "-am", "A: middle paragraph")
    git(a, "push", "origin", "HEAD:main")
    cli(b, "tag", item_id, "y")
    edit_note(item_file(b), "Middle paragraph stays.", "Middle paragraph according to B.")
    git(b, "commit", "-am", "B: middle paragraph")
    pulled = git(b, "pull", "--no-rebase", "origin", "main", check=False)
    assert pulled.returncode != 0
    assert "CONFLICT" in pulled.stdout
    status = git(b, "status", "--porcelain").stdout
    assert status.startswith("UU ") and item_file(b).name in status
    text = item_file(b).read_text(encoding="utf-8")
    front, _, body = text.partition("\n---\n")
    assert "<<<<<<<" not in front and ">>>>>>>" not in front
    assert "<<<<<<<" in body and "=======" in body and ">>>>>>>" in body
    # Still a valid item file: the front matter merged, the item does not disappear.
    merged = parse_item(text)
    assert {"x", "y"} <= set(merged.tags)
    assert "Middle paragraph according to A." in merged.note
    assert "Middle paragraph according to B." in merged.note


def test_git_setup_is_idempotent_and_keeps_existing_lines(editors: tuple[Path, Path]) -> None:
    a, _ = editors
    attributes = a / ".gitattributes"
    attributes.write_text(attributes.read_text(encoding="utf-8") + "*.png binary\n", encoding="utf-8")
    out = cli(a, "git-setup")
    assert "already up to date" in out
    lines = attributes.read_text(encoding="utf-8").splitlines()
    assert lines.count(GITATTRIBUTES_LINE) == 1
    assert "*.png binary" in lines
    driver = git(a, "config", "--local", "merge.newsletter-item.driver").stdout.strip()
    assert driver.endswith("-m newsletter.store.gitmerge %O %A %B %P")
    assert sys.executable in driver
    assert git(a, "check-attr", "merge", "--", "catalog/2025/01/x-123.md").stdout.strip().endswith("newsletter-item")


def test_init_outside_git_writes_attributes_and_says_to_run_git_setup(tmp_path: Path, git_env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["init", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert "git-setup" in result.output
    assert (tmp_path / "new" / ".gitattributes").read_text(encoding="utf-8").count(GITATTRIBUTES_LINE) == 1
    assert not (tmp_path / "new" / ".git").exists()  # init does not run `git init`
    refused = CliRunner().invoke(main, ["-C", str(tmp_path / "new"), "git-setup"])
    assert refused.exit_code == 1
    assert "git init" in refused.output


def test_init_inside_a_git_repository_installs_the_driver(tmp_path: Path, git_env: dict[str, str]) -> None:
    root = tmp_path / "repo"
    git(tmp_path, "init", str(root))
    result = CliRunner().invoke(main, ["init", str(root)])
    assert result.exit_code == 0, result.output
    assert "installed the git merge driver" in result.output
    assert git(root, "config", "--local", "merge.newsletter-item.driver").returncode == 0


# --- the pure merge decisions ------------------------------------------------------------------

def _item(**changes: object) -> Item:
    base = Item(id="abc123def456", kind="link", url=URL, canonical_url=URL, title="T",
                tags=["ml", "attention"], status="inbox", added="2025-03-01T10:00:00Z", note="one\n\ntwo")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _no_text_merge(base: str, ours: str, theirs: str) -> tuple[str, bool]:
    raise AssertionError("a text merge was not needed")


def test_tags_union_minus_what_one_side_removed() -> None:
    assert merge_sets(["ml", "attention"], ["ml", "attention", "x"], ["ml", "y"]) == ["ml", "x", "y"]
    assert merge_sets(["ml"], ["ml"], []) == []  # removed on one side, untouched on the other
    assert merge_sets(None, ["a", "b"], ["b", "c"]) == ["a", "b", "c"]  # added on both: union


def test_status_precedence_when_both_sides_changed_it() -> None:
    assert merge_status("inbox", "skipped", "shortlisted") == "shortlisted"
    assert merge_status("inbox", "published", "shortlisted") == "published"
    assert merge_status("shortlisted", "inbox", "skipped") == "inbox"
    assert merge_status("inbox", "inbox", "skipped") == "skipped"  # one side's change wins over no change
    assert merge_status("shortlisted", "inbox", "shortlisted") == "inbox"  # un-shortlisting is an edit too
    assert merge_status(None, "inbox", "shortlisted") == "shortlisted"


def test_other_fields_take_the_changed_side_and_ours_on_a_tie() -> None:
    base = {"title": "T", "summary": "S", "site": ""}
    assert merge_fields(base, {**base, "title": "Ours"}, {**base, "summary": "Theirs"}) == {
        "title": "Ours", "summary": "Theirs", "site": ""}
    assert merge_fields(base, {**base, "title": "Ours"}, {**base, "title": "Theirs"})["title"] == "Ours"


def test_published_status_brings_its_issue() -> None:
    base = _item()
    ours = _item(status="skipped")
    theirs = _item(status="published", issue=4)
    merged = merge_items(base, ours, theirs, _no_text_merge).item
    assert (merged.status, merged.issue) == ("published", 4)


def test_merge_items_unites_tags_and_merges_notes() -> None:
    seen: list[tuple[str, str, str]] = []

    def text_merge(base: str, ours: str, theirs: str) -> tuple[str, bool]:
        seen.append((base, ours, theirs))
        return "merged note\n", False

    result = merge_items(_item(), _item(tags=["ml", "attention", "x"], note="ONE\n\ntwo"),
                         _item(tags=["attention", "y"], status="shortlisted", note="one\n\nTWO"), text_merge)
    assert result.item.tags == ["attention", "x", "y"]
    assert result.item.status == "shortlisted"
    assert result.item.note == "merged note"
    assert not result.conflict
    assert seen == [("one\n\ntwo\n", "ONE\n\ntwo\n", "one\n\nTWO\n")]


def test_added_on_both_sides_keeps_both_notes() -> None:
    result = merge_items(None, _item(note="A's take"), _item(note="B's take", tags=["z"]), _no_text_merge)
    assert "A's take" in result.item.note and "B's take" in result.item.note
    assert result.item.tags == ["ml", "attention", "z"]
    assert not result.conflict


def test_the_same_url_added_by_both_editors_is_one_item_after_doctor_fix(editors: tuple[Path, Path]) -> None:
    a, b = editors
    url = "https://example.org/blog/kv-cache-paging"
    cli(a, "add", "--no-fetch", "--title", "Paging the KV cache", "--tag", "x", "--note", "A read it.", url)
    git(a, "add", "-A")
    git(a, "commit", "-m", "A: kv cache")
    git(a, "push", "origin", "HEAD:main")
    cli(b, "add", "--no-fetch", "--title", "KV cache paging, explained", "--tag", "y", "--note", "B liked it.", url)
    shortlisted = [p for p in (b / "catalog").rglob("*kv-cache*.md")]
    item_id = parse_item(shortlisted[0].read_text(encoding="utf-8")).id
    cli(b, "shortlist", item_id)
    git(b, "add", "-A")
    git(b, "commit", "-m", "B: kv cache")
    pulled = git(b, "pull", "--no-rebase", "origin", "main", check=False)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    files = [p for p in (b / "catalog").rglob("*.md") if item_id in p.name]
    assert len(files) == 2  # two file names (two titles), one id
    found = CliRunner().invoke(main, ["-C", str(b), "doctor"])
    assert found.exit_code == 1
    assert item_id in found.output and "doctor --fix" in found.output
    issue = b / "content" / "issues" / "001-kv.md"
    issue.parent.mkdir(parents=True, exist_ok=True)
    issue.write_text(f"---\nnumber: 1\ntitle: KV\ndate: 2026-12-04\nstatus: draft\n---\n\n## Reads\n"
                     f"- **[Paging the KV cache]({url})** — both editors found it.\n", encoding="utf-8")
    checked = CliRunner().invoke(main, ["-C", str(b), "check", "1", "--no-semantic"])
    assert checked.exit_code == 1 and "same-id" in checked.output and item_id in checked.output, checked.output
    fixed = CliRunner().invoke(main, ["-C", str(b), "doctor", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert "reconciled" in fixed.output
    (left,) = [p for p in (b / "catalog").rglob("*.md") if item_id in p.name]
    item = parse_item(left.read_text(encoding="utf-8"))
    assert {"x", "y"} <= set(item.tags)
    assert "A read it." in item.note and "B liked it." in item.note
    assert item.status == "shortlisted"
    assert CliRunner().invoke(main, ["-C", str(b), "doctor"]).output.strip() == "no problems"
    listed = json.loads(cli(b, "list", "--json"))
    assert json.dumps(listed).count(item_id) >= 1


def test_reconcile_unites_tags_and_notes_and_takes_the_higher_status() -> None:
    from newsletter.store.gitmerge import reconcile

    first = _item(tags=["x"], note="A's note", summary="")
    second = _item(tags=["y", "x"], note="B's note", status="published", issue=3, summary="From B")
    merged = reconcile([first, second])
    assert merged.tags == ["x", "y"]
    assert "A's note" in merged.note and "B's note" in merged.note
    assert (merged.status, merged.issue) == ("published", 3)
    assert merged.summary == "From B"


def test_the_same_url_and_title_added_by_both_editors_merges_in_one_file(editors: tuple[Path, Path]) -> None:
    a, b = editors
    url = "https://example.org/blog/speculative-decoding"
    cli(a, "add", "--no-fetch", "--title", "Speculative decoding", "--tag", "x", "--note", "A read it.", url)
    git(a, "add", "-A")
    git(a, "commit", "-m", "A: speculative decoding")
    git(a, "push", "origin", "HEAD:main")
    cli(b, "add", "--no-fetch", "--title", "Speculative decoding", "--tag", "y", "--note", "B liked it.", url)
    git(b, "add", "-A")
    git(b, "commit", "-m", "B: speculative decoding")
    pulled = git(b, "pull", "--no-rebase", "origin", "main", check=False)
    files = [p for p in (b / "catalog").rglob("*speculative*.md")]
    assert len(files) == 1 and pulled.returncode == 0, pulled.stdout + pulled.stderr  # add/add, no base
    item = parse_item(files[0].read_text(encoding="utf-8"))
    assert {"x", "y"} <= set(item.tags)
    assert "A read it." in item.note and "B liked it." in item.note

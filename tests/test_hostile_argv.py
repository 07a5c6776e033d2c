"""Hostile command lines: each gets one clear `error:` line (exit 2 for a usage error) and changes nothing.

Reproduced first (issue 16, "Clear errors instead of tracebacks"): `search $'\\xff\\xfe'` ended in a
tokenizer traceback, `dupes --threshold nan` grouped unrelated items, `list --tag '!!!'` listed
everything, `draft --issue -1` wrote `content/issues/-01-….md`, `build -d /proc/self/x` ended in a
FileNotFoundError traceback. Non-UTF-8 bytes go through a real process (a real argv); the rest
through the same `main` entry with a list of arguments.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli import main

ROOT = Path(__file__).resolve().parent.parent
ITEM_ID = "eda5afa81165"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    for part in ("newsletter.toml", "mkdocs.yml", "subscribers.csv", "catalog", "content", "templates"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, root / part)
        elif source.exists():
            shutil.copy2(source, root / part)
    return root


def tree(root: Path) -> dict[str, str]:
    """Every file of the project's shared text (catalog, issues, subscribers) by path -> sha256."""
    files = [*(root / "catalog").rglob("*"), *(root / "content").rglob("*"), root / "subscribers.csv"]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run_bytes(project: Path, *args: bytes | str) -> subprocess.CompletedProcess[bytes]:
    """The installed entry point in a real process, with argv given as bytes."""
    argv = [os.fsencode(a) if isinstance(a, str) else a for a in args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C.UTF-8"}
    return subprocess.run([sys.executable.encode(), b"-m", b"newsletter", b"-C", os.fsencode(project), *argv],
                          capture_output=True, env=env, timeout=120)


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err and "Usage:" not in err, err
    return lines[0]


# --------------------------------------------------------------------------- bytes that are not UTF-8


def test_search_with_non_utf8_bytes_is_a_usage_error(project: Path) -> None:
    before = tree(project)
    result = run_bytes(project, b"search", b"\xff\xfe")
    assert result.returncode == 2, result.stderr
    line = one_error_line(result.stderr.decode())
    assert line == r"error: QUERY is not valid UTF-8 text: '\xff\xfe'; check the encoding of the terminal or script"
    assert result.stdout == b""
    assert tree(project) == before


def test_a_non_utf8_option_or_project_folder_is_refused_by_name(project: Path) -> None:
    before = tree(project)
    result = run_bytes(project, b"list", b"--tag", b"caf\xe9")
    assert result.returncode == 2
    assert "--tag is not valid UTF-8 text: 'caf\\xe9'" in one_error_line(result.stderr.decode())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bad_dir = subprocess.run([sys.executable.encode(), b"-m", b"newsletter", b"-C", b"/tmp/\xff", b"list"],
                             capture_output=True, env=env, timeout=120)
    assert bad_dir.returncode == 2 and "-C is not valid UTF-8" in one_error_line(bad_dir.stderr.decode())
    assert tree(project) == before


def test_one_non_utf8_input_of_add_fails_alone(project: Path) -> None:
    result = run_bytes(project, b"add", b"--no-fetch", b"--no-similar", b"https://example.org/g1",
                       b"https://example.org/g2\xfe", b"https://example.org/g3")
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "error: https://example.org/g2\\xfe: not valid UTF-8 text" in err and "Traceback" not in err
    catalog = Catalog.open(project)
    assert catalog.get("https://example.org/g1") and catalog.get("https://example.org/g3")


# --------------------------------------------------------------------------- numbers and names


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "1.5"])
def test_dupes_threshold_must_be_a_number_from_0_to_1(project: Path, value: str) -> None:
    before = tree(project)
    code, out, err = run(project, "dupes", "--threshold", value)
    assert code == 2 and out == ""
    assert "--threshold must be a number from 0 to 1" in one_error_line(err)
    assert not (project / ".newsletter" / "semantic").exists()  # refused before any embedding
    assert tree(project) == before


def test_review_min_confidence_nan_is_refused(project: Path) -> None:
    code, _, err = run(project, "review", "--min-confidence", "nan", "--accept")
    assert code == 2 and "--min-confidence must be a number from 0 to 1" in one_error_line(err)


def test_a_tag_with_no_usable_characters_is_refused(project: Path) -> None:
    before = tree(project)
    code, out, err = run(project, "list", "--tag", "!!!")
    assert code == 2 and out == ""  # it used to list every item
    assert "--tag '!!!' has no usable characters" in one_error_line(err)
    code, _, err = run(project, "tag", ITEM_ID, "!!!")
    assert code == 2 and "TAG '!!!' has no usable characters" in one_error_line(err)
    code, out, _ = run(project, "list", "--tag", "!!!", "--json")
    assert code == 2 and '"ok": false' in out
    assert tree(project) == before


@pytest.mark.parametrize("number", ["-1", "0"])
def test_draft_issue_must_be_positive(project: Path, number: str) -> None:
    before = tree(project)
    code, out, err = run(project, "draft", "--issue", number)
    assert code == 2 and out == ""
    assert f"--issue must be an issue number (1 or more), got {number}" in one_error_line(err)
    assert tree(project) == before  # no `-01-….md`


def test_publish_and_email_issue_zero_are_usage_errors(project: Path, tmp_path: Path) -> None:
    before = tree(project)
    for args in (("publish", "0"), ("check", "0"), ("email", "0", "--out", str(tmp_path / "mail"))):
        code, _, err = run(project, *args)
        assert code == 2 and "NUMBER must be an issue number" in one_error_line(err), args
    assert not (tmp_path / "mail").exists()
    assert tree(project) == before


# --------------------------------------------------------------------------- paths


def test_build_into_an_impossible_folder_is_one_line(project: Path) -> None:
    before = tree(project)
    code, _, err = run(project, "build", "-d", "/proc/self/x")
    assert code == 2
    line = one_error_line(err)
    assert line.startswith("error: -d /proc/self/x: cannot create the site folder there (")
    assert tree(project) == before


def test_build_refuses_folders_mkdocs_would_empty(project: Path, tmp_path: Path) -> None:
    before = tree(project)
    code, _, err = run(project, "build", "-d", str(project))
    assert code == 2 and "holds the project" in one_error_line(err)
    code, _, err = run(project, "build", "-d", str(project / "content" / "site"))
    assert code == 2 and "inside the project's sources" in one_error_line(err)
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "thesis.tex").write_text("years of work")
    code, _, err = run(project, "build", "-d", str(papers))
    assert code == 2 and "the build would empty it" in one_error_line(err)
    assert (papers / "thesis.tex").read_text() == "years of work"
    assert tree(project) == before


def test_a_lock_file_that_is_a_folder_is_one_line(project: Path) -> None:
    before = tree(project)
    (project / ".newsletter" / "write.lock").mkdir(parents=True)
    code, _, err = run(project, "tag", ITEM_ID, "safety")
    assert code == 1
    assert "write.lock is a directory" in one_error_line(err)
    assert tree(project) == before


def test_subscribers_import_of_an_empty_path(project: Path) -> None:
    before = tree(project)
    code, _, err = run(project, "subscribers", "import", "")
    assert code == 2 and "FILE: the path is empty" in one_error_line(err)
    assert tree(project) == before


def test_email_out_inside_the_content_tree_is_refused(project: Path) -> None:
    before = tree(project)
    code, _, err = run(project, "email", "4", "--out", str(project / "content" / "issues"))
    assert code == 2
    assert "`newsletter build` publishes" in one_error_line(err)
    assert tree(project) == before  # no .eml (addresses, signed tokens) next to the issues


def test_a_tag_too_long_to_be_a_file_name_is_refused(project: Path) -> None:
    before = tree(project)
    for args in (("tag", ITEM_ID, "a" * 300), ("add", "--no-fetch", "--tag", "b" * 51, "https://example.org/long")):
        code, _, err = run(project, *args)
        assert code == 2 and "a tag has at most 50" in one_error_line(err), args
    assert tree(project) == before


def test_an_empty_search_and_a_nan_rate_are_usage_errors(project: Path, tmp_path: Path) -> None:
    code, out, err = run(project, "search", "  ")
    assert code == 2 and out == "" and "QUERY is empty" in one_error_line(err)
    code, _, err = run(project, "email", "4", "--out", str(tmp_path / "mail"), "--rate", "nan")
    assert code == 2 and "--rate must be a number of messages per second above 0" in one_error_line(err)
    assert not (tmp_path / "mail").exists()


def test_clicks_own_usage_errors_are_one_line_too(project: Path) -> None:
    code, out, err = run(project, "search", "-k", "0", "x")
    assert code == 2 and out == ""
    assert "Invalid value for '-k'" in one_error_line(err) and "--help`)" in err
    code, out, err = run(project, "list", "--kind", "blog", "--json")
    assert code == 2 and "'blog' is not one of" in one_error_line(err)
    doc = json.loads(out)  # under --json, still one document on stdout
    assert doc["schema"] == 1 and doc["command"] == "list" and doc["ok"] is False


def test_init_into_an_impossible_folder_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", "/proc/x"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "/proc/x" in one_error_line(result.stderr)


def test_init_with_a_control_character_in_the_name_writes_valid_toml(tmp_path: Path) -> None:
    import tomllib

    result = CliRunner().invoke(main, ["init", str(tmp_path / "n"), "--name", "a\x01b"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    settings = tomllib.loads((tmp_path / "n" / "newsletter.toml").read_text(encoding="utf-8"))
    assert settings["newsletter"]["name"] == "ab"

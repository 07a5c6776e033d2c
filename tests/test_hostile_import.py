"""Hostile import files: `newsletter import` (CSV, OPML, bookmarks HTML, Markdown, URL lists) and
`newsletter subscribers import`, fed the payload classes of issue 16.

The rule under test, for every channel: a bad row is one clear line (with its line number) and the
batch goes on; nothing hostile reaches the catalog or the subscriber list as-is (control and escape
sequences, line breaks in one-line fields, credentials in URLs, javascript:/data: links, live
formulas); the catalog stays whole (every item still lists); the exit code says whether rows failed.
Everything goes through the CLI, so the tests keep their meaning when the parsers change.

Small payload files are real files in tests/data/hostile_import/; the huge and the 100,000-deep ones
are generated in the test (megabytes of repetition do not belong in git).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import main
from newsletter.ingest.pipeline import MAX_IMPORT_BYTES
from newsletter.mail import subscribers
from newsletter.text import MAX_TAGS, TAG_LIMIT, TITLE_MAX

DATA = Path(__file__).parent / "data" / "hostile_import"
MAIL_PROJECT = Path(__file__).parent / "data" / "mail" / "project"
CONTROL = ("\x1b", "\x07", "\r", "\x00")


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def import_json(project: Path, path: Path) -> tuple[int, dict, str]:
    code, out, err = run(project, "import", "--no-fetch", "--no-similar", "--json", str(path))
    return code, json.loads(out), err


def catalog(project: Path) -> dict[str, dict]:
    """Every item by URL, through `list --json`: the catalog must stay loadable after any import."""
    code, out, err = run(project, "list", "--json")
    assert code == 0, err
    assert "warning" not in err, err
    return {item["url"]: item for item in json.loads(out)["items"]}


def assert_clean_output(*texts: str) -> None:
    for text in texts:
        assert "\x1b" not in text and "\x07" not in text, repr(text)


def assert_clean_items(items: dict[str, dict]) -> None:
    for item in items.values():
        for field in ("title", "summary"):
            assert not any(c in item[field] for c in CONTROL), (field, item[field])
        assert all(len(tag) <= TAG_LIMIT for tag in item["tags"]) and len(item["tags"]) <= MAX_TAGS


@pytest.fixture
def project(tmp_path: Path) -> Path:
    from newsletter.project import init_project

    return init_project(tmp_path / "proj", name="Hostile Imports")


# -- catalog imports ------------------------------------------------------------------------------------


def test_csv_payloads_are_neutralized_and_bad_rows_fail_alone(project: Path) -> None:
    code, report, err = import_json(project, DATA / "payloads.csv")
    assert code == 1, "the data: row failed"
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    # line numbers are the file's: the quoted line break in row 3 makes the data: link line 8
    assert len(errors) == 1
    assert errors[0].startswith("error: payloads.csv: line 8: data:") and "not an http(s) URL (data:)" in errors[0]
    # a javascript: row is a bookmarklet, as in a browser export: skipped and counted, never stored
    assert report["totals"]["rows"] == 8 and report["totals"]["added"] == 6
    assert report["totals"]["skipped"] == 1 and report["totals"]["failed"] == 1
    items = catalog(project)
    assert_clean_items(items)
    assert_clean_output(err)
    # credentials never stored, anywhere
    assert "https://example.com/cred" in items
    assert not any("hunter2" in p.read_text() for p in (project / "catalog").rglob("*.md"))
    # a line break in a one-line field is a space; an encoded word stays text, never decoded to a header
    assert items["https://example.com/crlf"]["title"] == "Line1 Reply-To: x@evil.example"
    assert items["https://example.com/crlf"]["summary"].startswith("=?utf-8?b?")
    assert items["https://example.com/longtag"]["tags"] == ["ok"], "a 300-character tag is dropped, not stored"
    assert items["https://example.com/after"]["title"] == "After"
    # a formula is kept as the curator's text, and exported as text a spreadsheet does not evaluate
    assert items["https://example.com/formula"]["title"].startswith("=HYPERLINK(")
    code, out, err = run(project, "export", "--format", "csv")
    assert code == 0, err
    rows = {row["url"]: row for row in csv.DictReader(io.StringIO(out))}
    assert rows["https://example.com/formula"]["title"].startswith("'=HYPERLINK(")
    assert rows["https://example.com/formula"]["summary"] == "'@SUM(1)"


@pytest.mark.parametrize(("name", "failed", "skipped", "urls"), [
    ("bookmarks.html", ["data:"], 2,
     ["https://example.com/bm-cred", "https://example.com/bm-esc", "https://example.com/bm-after"]),
    ("urls.txt", ["vbscript:"], 0,
     ["https://example.com/u-ok", "https://example.com/u-cred", "https://example.com/u-esc",
      "https://example.com/u-after"]),
    ("awesome.md", ["data:"], 1,
     ["https://example.com/md-ok", "https://example.com/md-esc", "https://example.com/md-cred",
      "https://example.com/md-after"]),
])
def test_each_format_refuses_script_links_and_strips_credentials_and_escapes(
    project: Path, name: str, failed: list[str], skipped: int, urls: list[str]
) -> None:
    code, report, err = import_json(project, DATA / name)
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith(f"error: {name}: line ")]
    assert [e.rsplit("(", 1)[-1].rstrip(")") for e in errors] == failed
    # javascript: entries are bookmarklets: skipped and counted, never stored, not failures
    assert report["totals"]["skipped"] == skipped
    items = catalog(project)
    assert sorted(items) == sorted(urls), "every good row imported, userinfo gone"
    assert not any(word in p.read_text() for p in (project / "catalog").rglob("*.md")
                   for word in ("secret@", ":pw@", ":p@"))
    assert_clean_items(items)
    assert_clean_output(err, json.dumps(report, ensure_ascii=False))


def test_billion_laughs_opml_is_not_expanded(project: Path) -> None:
    code, _report, err = import_json(project, DATA / "laughs.opml")
    assert code == 0, err
    items = catalog(project)
    assert sorted(items) == ["https://example.com/laughs", "https://example.com/laughs-after"]
    assert len(items["https://example.com/laughs"]["title"]) < 100, "entities are left as text, never expanded"


@pytest.mark.parametrize("fmt", ["opml", "bookmarks"])
def test_folders_nested_100k_deep_import_with_capped_tags(project: Path, tmp_path: Path, fmt: str) -> None:
    depth = 100_000
    if fmt == "opml":
        text = ('<?xml version="1.0"?>\n<opml version="2.0"><body>\n'
                + "".join(f'<outline text="f{i}">' for i in range(depth))
                + '<outline text="Deep" htmlUrl="https://example.com/deep"/>' + "</outline>" * depth
                + '\n<outline text="After" htmlUrl="https://example.com/after"/></body></opml>\n')
    else:
        text = ("<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n"
                + "".join(f"<DT><H3>f{i}</H3>\n<DL><p>\n" for i in range(depth))
                + '<DT><A HREF="https://example.com/deep">Deep</A>\n' + "</DL><p>\n" * depth
                + '<DT><A HREF="https://example.com/after">After</A>\n</DL>\n')
    path = tmp_path / f"deep.{'opml' if fmt == 'opml' else 'html'}"
    path.write_text(text, encoding="utf-8")
    code, _report, err = import_json(project, path)
    assert code == 0, err
    items = catalog(project)
    assert sorted(items) == ["https://example.com/after", "https://example.com/deep"]
    assert items["https://example.com/deep"]["tags"] == [f"f{i}" for i in range(MAX_TAGS)]


@pytest.mark.parametrize(("name", "url", "title"), [
    ("utf16-bom.csv", "https://example.com/u16", "Ünïcode sixteen"),
    ("utf16-nobom.csv", "https://example.com/u16n", "Ünïcode sixteen"),
])
def test_utf16_files_are_read_as_utf16(project: Path, name: str, url: str, title: str) -> None:
    code, _report, err = import_json(project, DATA / name)
    assert code == 0, err
    assert catalog(project)[url]["title"] == title


def test_invalid_utf8_and_lone_surrogate_bytes_spoil_only_their_row(project: Path) -> None:
    code, _report, err = import_json(project, DATA / "bad-utf8.csv")
    assert code == 0, err
    items = catalog(project)
    assert items["https://example.com/b8-ok"]["title"] == "Café ok", "the good rows are not read as cp1252"
    assert items["https://example.com/b8-bad"]["title"].startswith("lone \ufffd")
    assert items["https://example.com/b8-after"]["title"] == "After"


def test_an_oversized_csv_field_is_capped_and_the_rows_after_it_still_import(project: Path, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text(
        "url,title\nhttps://example.com/first,First\n"
        + 'https://example.com/big,"' + "X" * 200_000 + '"\n'
        + "https://example.com/bare," + "Y" * 200_000 + "\n"
        + "".join(f"https://example.com/r{i},Row {i}\n" for i in range(1000)),
        encoding="utf-8",
    )
    code, report, err = import_json(project, path)
    assert code == 0, err
    assert report["totals"]["rows"] == 1003 and report["totals"]["added"] == 1003
    items = catalog(project)
    assert len(items) == 1003 and items["https://example.com/r999"]["title"] == "Row 999"
    assert len(items["https://example.com/big"]["title"]) == TITLE_MAX


@pytest.mark.parametrize("source", ["/dev/zero", "sparse"])
def test_a_huge_import_file_is_one_clear_line(project: Path, tmp_path: Path, source: str) -> None:
    path = Path(source)
    if source == "sparse":
        path = tmp_path / "huge.txt"
        with path.open("wb") as handle:
            handle.truncate(MAX_IMPORT_BYTES + 1)
    code, _out, err = run(project, "import", "--no-fetch", "--no-similar", str(path))
    assert code != 0
    assert err.strip().splitlines() == [f"error: {path}: larger than 50 MB; nothing imported. Split it into smaller "
                                        "files"]
    assert catalog(project) == {}


# -- subscriber imports ---------------------------------------------------------------------------------


@pytest.fixture
def mail_project(tmp_path: Path) -> Path:
    root = tmp_path / "mailproj"
    shutil.copytree(MAIL_PROJECT, root)
    (root / "subscribers.csv").unlink()
    return root


def names(project: Path) -> dict[str, str]:
    return {s.email: s.name for s in subscribers.load_file(project / "subscribers.csv").subscribers}


def test_subscriber_rows_with_payloads_are_stored_harmless(mail_project: Path) -> None:
    code, out, err = run(mail_project, "subscribers", "import", str(DATA / "subscribers.csv"))
    assert code == 1, "one bad address"
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: subscribers.csv:9: invalid address 'not-an-address': must contain exactly one @"]
    assert "imported 8 new subscriber(s)" in out
    assert_clean_output(out, err)
    stored = names(mail_project)
    assert stored["crlf@example.org"] == "Line Bcc: victim@example.org"
    assert stored["word@example.org"].startswith("=?utf-8?b?"), "an encoded word stays text"
    assert stored["esc@example.org"] == "Esc name" or "\x1b" not in stored["esc@example.org"]
    assert stored["after@example.org"] == "After"
    raw = (mail_project / "subscribers.csv").read_text(encoding="utf-8")
    assert "\x1b" not in raw and "\r\nBcc" not in raw
    cells = {row["email"]: row["name"] for row in csv.DictReader(io.StringIO(raw))}
    for address in ("eq@example.org", "at@example.org", "plus@example.org", "minus@example.org"):
        assert cells[address].startswith("'"), f"{address}: a formula is written neutralized"
    assert stored["eq@example.org"] == '=HYPERLINK("http://evil.example")', "and read back as it was"


@pytest.mark.parametrize(("name", "address", "expected"), [
    ("subscribers-utf16.csv", "zoe@example.org", "Zoë Ünicode"),
    ("subscribers-utf16-nobom.csv", "yan@example.org", "Yän"),
])
def test_subscriber_utf16_exports_are_read_as_utf16(mail_project: Path, name: str, address: str,
                                                   expected: str) -> None:
    code, _out, err = run(mail_project, "subscribers", "import", str(DATA / name))
    assert code == 0, err
    assert names(mail_project)[address] == expected


def test_a_legacy_8bit_subscriber_file_is_refused_with_what_to_do(mail_project: Path) -> None:
    code, _out, err = run(mail_project, "subscribers", "import", str(DATA / "subscribers-bad-utf8.csv"))
    assert code != 0
    assert "not valid UTF-8" in err and "save it as UTF-8 CSV" in err and len(err.strip().splitlines()) == 1
    assert not (mail_project / "subscribers.csv").exists()


def test_an_oversized_subscriber_field_is_capped_and_the_rows_after_it_import(
    mail_project: Path, tmp_path: Path
) -> None:
    path = tmp_path / "big-subscribers.csv"
    path.write_text("email,name\n" + "big@example.org," + "N" * 200_000 + "\n"
                    + "".join(f"r{i}@example.org,Reader {i}\n" for i in range(1000)), encoding="utf-8")
    code, _out, err = run(mail_project, "subscribers", "import", str(path))
    assert code == 0, err
    stored = names(mail_project)
    assert len(stored) == 1001 and stored["r999@example.org"] == "Reader 999"
    assert len(stored["big@example.org"]) <= 200


@pytest.mark.parametrize("source", ["/dev/zero", "sparse", ""])
def test_a_huge_or_missing_subscriber_file_is_one_clear_line(mail_project: Path, tmp_path: Path,
                                                            source: str) -> None:
    path = source
    if source == "sparse":
        path = str(tmp_path / "huge.csv")
        with open(path, "wb") as handle:
            handle.truncate(subscribers.MAX_FILE_BYTES + 1)
    code, _out, err = run(mail_project, "subscribers", "import", path)
    assert code != 0
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ")
    assert any(reason in line for reason in ("not a regular file", "larger than 50 MB", "the path is empty"))
    assert not (mail_project / "subscribers.csv").exists()

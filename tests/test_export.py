"""`newsletter export`: JSON Lines, CSV, BibTeX and OPML of the sample project, each parsed back; filters;
--out; usage errors; hostile titles escaped for each format (issue 13, item 9)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from newsletter import export
from newsletter.catalog import Catalog
from newsletter.cli import envelope, main
from newsletter.mail.subscribers import restore_cell
from newsletter.models import Item
from newsletter.store import files

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    for part in ("newsletter.toml", "mkdocs.yml", "feeds.yaml", "catalog", "content", "templates"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, root / part)
        elif source.exists():
            shutil.copy2(source, root / part)
    shutil.copy2(ROOT / "subscribers.example.csv", root / "subscribers.csv")
    return root


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), "export", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def add_item(project: Path, title: str, *, kind: str = "link", ident: str = "", **fields: object) -> Item:
    ident = ident or f"{abs(hash(title)) % 16**12:012x}"
    item = Item(id=ident, kind=kind, url=f"https://example.org/{ident}", canonical_url=f"https://example.org/{ident}",
                title=title, added="2025-03-05T09:00:00Z", **fields)  # type: ignore[arg-type]
    path = project / "catalog" / files.relative_path_for(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(files.dump_item(item), encoding="utf-8")
    return item


def catalog_items(project: Path) -> list[Item]:
    return Catalog.open(project).items()


# --------------------------------------------------------------------------- a tiny BibTeX reader


def parse_bibtex(text: str) -> dict[str, tuple[str, dict[str, str]]]:
    """key -> (entry type, {field: raw braced value}); fails on unbalanced braces (escaped ones don't count)."""
    entries: dict[str, tuple[str, dict[str, str]]] = {}
    pos = 0
    while (match := re.compile(r"@(\w+)\{([^,\s]+),").search(text, pos)) is not None:
        kind, key = match.group(1), match.group(2)
        pos = match.end()
        fields: dict[str, str] = {}
        while True:
            field = re.compile(r"\s*(\w+)\s*=\s*\{").match(text, pos)
            if field is None:
                break
            depth, i = 1, field.end()
            while depth:
                ch = text[i]
                if ch == "\\":
                    i += 2
                    continue
                depth += {"{": 1, "}": -1}.get(ch, 0)
                i += 1
            fields[field.group(1)] = text[field.end(): i - 1]
            pos = i
            comma = re.compile(r"\s*,").match(text, pos)
            if comma:
                pos = comma.end()
        closing = re.compile(r"\s*\}").match(text, pos)
        assert closing, f"entry {key} does not close: {text[pos:pos + 80]!r}"
        pos = closing.end()
        assert key not in entries, f"duplicate key {key}"
        entries[key] = (kind, fields)
    return entries


# --------------------------------------------------------------------------- JSON Lines


def test_json_lines_are_the_show_json_items(project: Path) -> None:
    code, out, err = run(project)
    assert code == 0, err
    lines = out.splitlines()
    items = catalog_items(project)
    assert len(lines) == len(items)
    records = [json.loads(line) for line in lines]
    catalog = Catalog.open(project)
    for record in records:
        assert record == json.loads(envelope.dumps(envelope.item_json(catalog.get(record["id"]))))
    assert [r["id"] for r in records] == [i.id for i in items]  # oldest addition first


def test_json_lines_keep_line_separators_inside_their_line(project: Path) -> None:
    item = add_item(project, "one\u2028two\u2029three\x85four\nfive \x1b[2J")
    code, out, _ = run(project, "--format", "json")
    assert code == 0
    assert len(out.splitlines()) == len(catalog_items(project))  # str.splitlines splits on U+2028 too
    record = next(json.loads(line) for line in out.splitlines() if item.id in line)
    assert record["title"] == item.title
    assert "\x1b" not in out  # escaped as \u001b: the same string for a parser


# --------------------------------------------------------------------------- CSV


def test_csv_round_trips_awkward_titles_and_neutralizes_formulas(project: Path) -> None:
    awkward = add_item(project, 'Commas, "quotes" and\na newline', ident="aaaa00000001")
    formula = add_item(project, "=cmd|' /C calc'!A0", ident="aaaa00000002", tags=["x"])
    code, out, err = run(project, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(catalog_items(project))
    by_id = {row["id"]: row for row in rows}
    assert by_id[awkward.id]["title"] == awkward.title
    assert by_id[formula.id]["title"] == "'=cmd|' /C calc'!A0"  # a spreadsheet shows it as text
    assert restore_cell(by_id[formula.id]["title"]) == formula.title
    assert not any(value.startswith(("=", "+", "@")) for row in rows for value in row.values())
    header = out.splitlines()[0].split(",")
    assert header[:3] == ["id", "kind", "title"] and header[-1] == "note"


def test_csv_lists_and_paper_fields(project: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(run(project, "--format", "csv", "--kind", "paper")[1])))
    attention = next(row for row in rows if row["arxiv_id"] == "1706.03762")
    assert attention["title"] == "Attention Is All You Need"
    assert attention["authors"].split("; ")[:2] == ["Ashish Vaswani", "Noam Shazeer"]
    assert {row["kind"] for row in rows} == {"paper"}


# --------------------------------------------------------------------------- BibTeX


def test_bibtex_entry_of_a_sample_paper(project: Path) -> None:
    code, out, err = run(project, "--format", "bibtex")
    assert code == 0, err
    entries = parse_bibtex(out)
    papers = [i for i in catalog_items(project) if i.kind == "paper"]
    assert len(entries) == len(papers)
    kind, fields = entries["vaswani2017attention"]
    assert kind == "misc"
    assert fields["eprint"] == "1706.03762" and fields["archivePrefix"] == "arXiv"
    assert fields["title"] == "{Attention Is All You Need}"
    assert fields["author"].split(" and ")[:3] == ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"]
    assert "Łukasz Kaiser" in fields["author"]
    assert fields["year"] == "2017"
    assert fields["url"] == "https://arxiv.org/abs/1706.03762"


def test_bibtex_escapes_hostile_titles_and_keeps_keys_unique(project: Path) -> None:
    hostile = add_item(project, "Attention } & <b> 100% $x_1^2$ #1 \\end{document} ~ {", kind="paper",
                       ident="bbbb00000001", authors=["Ashish Vaswani", "Smith and Wesson"], published="2017-06-12",
                       extra={"doi": "10.1000/a_b{c}"})
    out = run(project, "--format", "bibtex")[1]
    entries = parse_bibtex(out)  # braces balance: the hostile `}` and `{` are escaped
    assert "vaswani2017attention" in entries  # the older paper keeps the plain key
    kind, fields = entries["vaswani2017attentiona"]
    assert kind == "article"
    assert fields["title"] == (
        r"{Attention \} \& <b> 100\% \$x\_1\^{}2\$ \#1 \textbackslash{}end\{document\} \~{} \{}"
    )
    assert fields["author"] == "Ashish Vaswani and {Smith and Wesson}"
    assert fields["doi"] == "10.1000/a_b%7Bc%7D"
    assert f"{{{hostile.id}," not in out  # keys are made from the work, not the id


def test_citation_keys_do_not_depend_on_the_slice(project: Path) -> None:
    add_item(project, "Attention Is All You Need, again", kind="paper", ident="cccc00000001",
             authors=["Ashish Vaswani"], published="2017-12-01", tags=["again"])
    only = parse_bibtex(run(project, "--format", "bibtex", "--tag", "again")[1])
    assert list(only) == ["vaswani2017attentiona"]
    assert export.base_key(Item(id="x", kind="paper", url="u", canonical_url="u", title="")) == "anon"


def test_bibtex_with_another_kind_is_a_usage_error(project: Path) -> None:
    code, out, err = run(project, "--format", "bibtex", "--kind", "link")
    assert code == 2 and out == ""
    assert "BibTeX export lists papers" in err


# --------------------------------------------------------------------------- OPML


def test_opml_lists_every_subscription(project: Path) -> None:
    code, out, err = run(project, "--format", "opml")
    assert code == 0, err
    root = ET.fromstring(out.encode("utf-8"))
    assert root.tag == "opml" and root.get("version") == "2.0"
    outlines = root.findall("./body/outline")
    feeds = yaml.safe_load((project / "feeds.yaml").read_text(encoding="utf-8"))
    assert [o.get("xmlUrl") for o in outlines] == [f["url"] for f in feeds]
    assert [o.get("text") for o in outlines] == [f["title"] for f in feeds]
    assert {o.get("type") for o in outlines} == {"rss"}
    podcasts = parse_kinds(run(project, "--format", "opml", "--kind", "podcast")[1])
    assert podcasts == [f["url"] for f in feeds if f["kind"] == "podcast"]


def parse_kinds(text: str) -> list[str | None]:
    return [o.get("xmlUrl") for o in ET.fromstring(text.encode("utf-8")).findall("./body/outline")]


def test_opml_escapes_hostile_feed_titles(project: Path) -> None:
    hostile = 'Evil "feed" & <script>alert(1)</script>\nline \x1b[2J'
    with open(project / "feeds.yaml", "a", encoding="utf-8") as handle:
        handle.write(yaml.safe_dump([{"url": "https://evil.example/feed?a=1&b=2", "kind": "link", "title": hostile,
                                      "added": "2025-03-01T00:00:00Z"}]))
    out = run(project, "--format", "opml")[1]
    assert "<script>" not in out
    outline = ET.fromstring(out.encode("utf-8")).findall("./body/outline")[-1]
    assert outline.get("text") == 'Evil "feed" & <script>alert(1)</script>\nline [2J'  # ESC is not XML
    assert outline.get("xmlUrl") == "https://evil.example/feed?a=1&b=2"


def test_opml_with_item_filters_is_a_usage_error(project: Path) -> None:
    for args in (("--tag", "llm"), ("--issue", "1"), ("--kind", "paper")):
        code, out, err = run(project, "--format", "opml", *args)
        assert code == 2 and out == "", (args, err)


# --------------------------------------------------------------------------- filters


def test_kind_and_tag_filters_combine(project: Path) -> None:
    items = catalog_items(project)
    papers = [json.loads(line) for line in run(project, "--kind", "paper")[1].splitlines()]
    assert [p["id"] for p in papers] == [i.id for i in items if i.kind == "paper"]
    tag = next(t for i in items if i.kind == "paper" for t in i.tags)
    both = [json.loads(line)["id"] for line in run(project, "--kind", "paper", "--tag", tag)[1].splitlines()]
    assert both and both == [i.id for i in items if i.kind == "paper" and tag in i.tags]
    tagged = [json.loads(line)["id"] for line in run(project, "--tag", tag)[1].splitlines()]
    assert tagged == [i.id for i in items if tag in i.tags]
    assert len(tagged) > len(both)  # the sample tags more than papers with it: AND, not just --kind


def test_issue_filter_gives_exactly_the_issue_items(project: Path) -> None:
    items = catalog_items(project)
    linked = {i.id for i in items if i.issue == 1}  # the sample's issue 1 is published: its items are marked
    assert linked
    code, out, err = run(project, "--issue", "1")
    assert code == 0, err
    assert {json.loads(line)["id"] for line in out.splitlines()} == linked
    papers = parse_bibtex(run(project, "--format", "bibtex", "--issue", "1")[1])
    assert len(papers) == len([i for i in items if i.id in linked and i.kind == "paper"])


def test_issue_filter_reads_a_draft_issue_links(project: Path) -> None:
    items = [i for i in catalog_items(project) if i.status == "inbox"][:2]
    (project / "content" / "issues" / "009-draft.md").write_text(
        "---\nnumber: 9\ntitle: Draft\nstatus: draft\n---\n\n## Reads\n\n"
        + "".join(f"- **[{i.title}]({i.url})**\n" for i in reversed(items)),
        encoding="utf-8",
    )
    out = run(project, "--issue", "9")[1]
    assert [json.loads(line)["id"] for line in out.splitlines()] == [i.id for i in reversed(items)]


def test_unknown_issue_fails_with_one_line(project: Path) -> None:
    code, out, err = run(project, "--issue", "99")
    assert code == 1 and out == ""
    assert err.startswith("error: no issue 99")


# --------------------------------------------------------------------------- --out and usage errors


def test_out_writes_the_file_and_prints_nothing_on_stdout(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "exports" / "papers.bib"
    code, out, err = run(project, "--format", "bibtex", "--out", str(target))
    assert code == 0 and out == ""
    assert str(target) in err
    assert target.read_text(encoding="utf-8") == run(project, "--format", "bibtex")[1]
    assert [p.name for p in target.parent.iterdir()] == ["papers.bib"]  # no temp file left


@pytest.mark.parametrize(
    "args, message",
    [
        (("--format", "xml"), "--format"),
        (("--kind", "book"), "--kind"),
        (("--issue", "0"), "--issue must be an issue number"),
        (("--tag", "!!!"), "--tag"),
        (("--issue", "x"), "--issue"),
    ],
)
def test_usage_errors_exit_2(project: Path, args: tuple[str, ...], message: str) -> None:
    code, out, err = run(project, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


def test_library_export_matches_the_cli(project: Path) -> None:
    catalog = Catalog.open(project)
    assert catalog.export("csv", kind="paper") == run(project, "--format", "csv", "--kind", "paper")[1]
    assert export.FORMATS == ("json", "csv", "bibtex", "opml")


def test_non_utf8_tag_is_a_usage_error(project: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C.UTF-8"}
    result = subprocess.run([sys.executable.encode(), b"-m", b"newsletter", b"-C", os.fsencode(project),
                             b"export", b"--tag", b"\xff"], capture_output=True, env=env, timeout=120)
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().startswith("error: --tag is not valid UTF-8 text")

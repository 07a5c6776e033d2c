"""The `--json` contract (docs/json.md): every command's document validates against tests/data/json_schema.json.

Each command runs through the real entry point (`newsletter.cli.main`) on a copy of the sample
newsletter, with feeds served from 127.0.0.1. The schema is standard JSON Schema (2020-12); the
`jsonschema` package is not a dependency, so `validate` below implements the keywords the schema
uses (type, const, enum, required, properties, items, minimum, $ref, allOf, if/then/else) and fails
on any other keyword, so it can never silently accept a document.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli import envelope, main
from newsletter.issues import draft
from newsletter.semantic import HashingEmbedder, SemanticEngine
from tests.httpserver import LoopbackServer

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
SCHEMA = json.loads((DATA / "json_schema.json").read_text(encoding="utf-8"))
KNOWN = {"$schema", "$id", "title", "description", "type", "const", "enum", "required", "properties", "items",
         "minimum", "$ref", "allOf", "if", "then", "else", "$defs"}
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


# --------------------------------------------------------------------------- a small JSON Schema validator


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, TYPES[kind])


def errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every way `value` breaks `schema` (empty: valid), each as "path: what"."""
    unknown = set(schema) - KNOWN
    assert not unknown, f"the test validator does not know {unknown}"
    found: list[str] = []
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        found += errors(value, SCHEMA["$defs"][name], path)
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, k) for k in kinds):
            return [*found, f"{path}: {value!r:.60} is not {'/'.join(kinds)}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{path}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} not one of {schema['enum']}")
    if "minimum" in schema and _is(value, "number") and value < schema["minimum"]:
        found.append(f"{path}: {value} < {schema['minimum']}")
    if isinstance(value, dict):
        found += [f"{path}: missing {key!r}" for key in schema.get("required", []) if key not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                found += errors(value[key], sub, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, element in enumerate(value):
            found += errors(element, schema["items"], f"{path}[{i}]")
    for sub in schema.get("allOf", []):
        found += errors(value, sub, path)
    if "if" in schema:
        branch = "then" if not errors(value, schema["if"], path) else "else"
        if branch in schema:
            found += errors(value, schema[branch], path)
    return found


def assert_valid(doc: dict[str, Any], command: str) -> None:
    assert doc["schema"] == 1 and doc["command"] == command, (doc.get("schema"), doc.get("command"))
    problems = errors(doc, SCHEMA)
    assert not problems, "\n".join(problems[:20])


# --------------------------------------------------------------------------- fixtures


def _hashing_engine(catalog: Catalog) -> SemanticEngine:
    return SemanticEngine(catalog.settings.derived_dir / "semantic", embedder=HashingEmbedder(256))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sample newsletter whose embeddings come from the model-free hashing embedder."""
    root = tmp_path / "proj"
    root.mkdir()
    for part in ("newsletter.toml", "mkdocs.yml", "catalog", "content", "templates"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, root / part)
        elif source.exists():
            shutil.copy2(source, root / part)
    shutil.copy2(ROOT / "subscribers.example.csv", root / "subscribers.csv")  # the sample's made-up list
    monkeypatch.setattr(draft, "semantic_engine", _hashing_engine)
    engines: dict[int, SemanticEngine] = {}
    monkeypatch.setattr(Catalog, "semantic", property(lambda self: engines.setdefault(id(self), _hashing_engine(self))))
    monkeypatch.delenv("NEWSLETTER_SECRET", raising=False)
    return root


@pytest.fixture
def feed_server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        server.add("/blog.xml", body=(DATA / "feeds_e2e" / "blog_v1.xml").read_bytes(),
                   content_type="application/rss+xml")
        server.add("/dead.xml", status=404, body=b"gone")
        yield server


def cli(project: Path, *args: str, code: int | None = 0) -> dict[str, Any]:
    """Run one command with --json; its stdout must be exactly one JSON document."""
    result = CliRunner().invoke(main, ["-C", str(project), *args, "--json"], catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, (args, result.exit_code, result.stderr)
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- the contract


def test_every_command_validates_against_the_schema(project: Path, feed_server: LoopbackServer,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[str] = set()

    def check(command: str, *args: str, code: int | None = 0) -> dict[str, Any]:
        doc = cli(project, *command.split(), *args, code=code)
        assert_valid(doc, command)
        seen.add(command)
        return doc

    added = check("add", "--no-fetch", "--no-similar", "--tag", "contract", "https://example.org/contract",
                  "not a url", code=1)
    assert added["ok"] is False and added["totals"] == {"inputs": 2, "added": 1, "existing": 0, "failed": 1}
    assert added["errors"] == [{"input": "not a url", "error": added["errors"][0]["error"]}]
    new_id = added["results"][0]["item"]["id"]
    again = check("add", "--no-fetch", "--no-similar", "https://example.org/contract")
    assert again["ok"] and again["results"][0]["result"] == "exists" and again["results"][0]["item"]["id"] == new_id

    urls = tmp_path / "week.txt"
    urls.write_text("https://example.org/imported\nnot-a-url\n")
    imported = check("import", "--no-fetch", "--no-similar", str(urls), code=1)
    assert imported["totals"]["added"] == 1 and imported["errors"][0]["line"] == 2

    check("feeds add", feed_server.url("/blog.xml"))
    check("feeds add", feed_server.url("/dead.xml"), code=1)
    pulled = check("feeds pull", "--no-similar")
    assert pulled["totals"]["added"] == len(pulled["results"]) >= 1 and pulled["totals"]["feeds"] == 1
    assert {r["input"] for r in pulled["results"]} == {feed_server.url("/blog.xml")}
    check("feeds list")

    listed = check("list")
    assert listed["count"] == len(listed["items"]) > 100
    check("show", new_id)
    check("search", "-k", "3", "attention")
    check("related", "-k", "3", new_id)
    explained = check("dupes", "--explain")
    assert all("explain" in pair for group in explained["groups"] for pair in group["pairs"])
    marked = check("shortlist", new_id, "zzzz-no-such-id", code=1)
    assert [r["result"] for r in marked["results"]] == ["changed"] and marked["errors"][0]["input"] == "zzzz-no-such-id"
    check("skip", new_id)
    unskipped = check("unskip", new_id)
    assert unskipped["results"][0]["item"]["status"] == "inbox"
    check("skip", new_id)

    drafted = check("draft", "--date", "2025-03-07")
    figure = check("figure add", str(DATA / "images" / "small-logo.png"), "--issue", str(drafted["issue"]),
                   "--alt", "Logo")
    assert figure["markdown"].startswith("![Logo](") and (figure["width"], figure["height"]) == (400, 300)
    check("review")
    stats = check("review", "--stats")
    assert stats["total"]["decided"] == 0 and stats["weeks"] == []
    check("check", str(drafted["issue"]), "--no-semantic", code=None)
    check("publish", "4")
    check("email", "4", "--out", str(tmp_path / "mail"))
    check("subscribers list")
    check("subscribers count")

    import mailbox as mailbox_module

    forwarded = mailbox_module.mbox(str(tmp_path / "forwarded.mbox"))
    for name in ("newsletter.eml", "nolinks.eml"):
        forwarded.add((DATA / "mailbox" / name).read_bytes())
    forwarded.close()
    pulled_mail = check("inbox pull", "--mbox", str(tmp_path / "forwarded.mbox"), "--no-fetch")
    assert pulled_mail["totals"]["messages"] == 2 and pulled_mail["totals"]["added"] == 10
    archived_issues = check("import-archive", str(DATA / "import_archive" / "substack"), "--from", "substack", code=1)
    assert archived_issues["totals"]["imported"] == 2 and archived_issues["errors"][0]["input"] == "posts.csv row 5"

    # links check / archive on a published issue whose links are on loopback (one alive, one dead)
    alive, dead = feed_server.url("/blog.xml"), feed_server.url("/dead.xml")
    (project / "content" / "issues" / "009-links.md").write_text(
        f"---\nnumber: 9\ntitle: Links\ndate: 2025-04-01\nstatus: published\n---\n\n## Links\n"
        f"- **[Blog]({alive})** — alive.\n- **[Gone]({dead})** — dead.\n", encoding="utf-8")
    checked = check("links check", "9", code=1)
    assert (checked["checked"], checked["totals"]["ok"], checked["totals"]["dead"]) == (2, 1, 1)
    feed_server.add_prefix("/save/", lambda path, headers: (
        200, {"Content-Location": f"/web/20261203074901/{path[len('/save/'):]}"}, b"saved"))
    with open(project / "newsletter.toml", "a", encoding="utf-8") as toml:
        toml.write("\n[links]\narchive_interval = 0\narchive_backoff = 0\n")
    monkeypatch.setenv("NEWSLETTER_WAYBACK_API", feed_server.url("").rstrip("/"))
    archived = check("links archive", "9")
    assert archived["totals"]["archived"] == 2
    assert archived["results"][0]["archived_url"].startswith(feed_server.url("/web/"))

    assert seen == set(SCHEMA["properties"]["command"]["enum"]), "every documented command was run"


def test_a_failed_command_still_prints_one_document(project: Path) -> None:
    doc = cli(project, "show", "no-such-item", code=1)
    assert_valid(doc, "show")
    assert doc["ok"] is False and "no item" in doc["error"]


def test_the_installed_entry_point_prints_the_same_header(project: Path) -> None:
    # A real process: nothing but the document on stdout, whatever is logged.
    result = subprocess.run([sys.executable, "-m", "newsletter", "-C", str(project), "list", "--json"],
                            capture_output=True, text=True, check=True)
    doc = json.loads(result.stdout)
    assert_valid(doc, "list")


def test_the_validator_rejects_what_breaks_the_contract() -> None:
    good = envelope.batch("shortlist", [], [], {"inputs": 0, "changed": 0, "unchanged": 0})
    assert errors(good, SCHEMA) == []
    assert errors({**good, "schema": 2}, SCHEMA)
    assert errors({k: v for k, v in good.items() if k != "totals"}, SCHEMA)
    assert errors({**good, "command": "no-such-command"}, SCHEMA)
    bad_item = {"input": "x", "result": "changed", "item": {"id": "a", "kind": "book"}}
    assert any("kind" in e for e in errors({**good, "results": [bad_item]}, SCHEMA))


def test_terminal_unsafe_characters_are_escaped_but_kept() -> None:
    text = envelope.dumps(envelope.document("show", title="a\x1b]8;;http://evil\x07b\u202ec\x9bd"))
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text and "\x9b" not in text
    assert json.loads(text)["title"] == "a\x1b]8;;http://evil\x07b\u202ec\x9bd"

"""Hostile text on the terminal: escape sequences in item files, feeds and arguments never reach it raw.

A title from a hand-made or pulled item file carries an OSC 8 hyperlink (`ESC ]8;;http://evil BEL`)
and a clear-screen (`ESC [2J`); every command that prints it in human mode must print the words only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli import main
from newsletter.cli.terminal import one_line, safe
from newsletter.issues import draft
from newsletter.semantic import HashingEmbedder, SemanticEngine

ROOT = Path(__file__).resolve().parent.parent
ITEM_ID = "eda5afa81165"  # "Attention Is All You Need" in the sample catalog
# YAML double-quoted escapes: \e is ESC, \a is BEL, \u202e a right-to-left override.
HOSTILE_YAML = r'"Click \e]8;;http://evil\ahere\e]8;;\a now\e[2J done \u202eevil\r"'
CLEAN_TITLE = "Click here now done evil"
RAW = ("\x1b", "\x07", "\u202e", "\r", "8;;http://evil", "[2J")


def _hashing_engine(catalog: Catalog) -> SemanticEngine:
    return SemanticEngine(catalog.settings.derived_dir / "semantic", embedder=HashingEmbedder(256))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample newsletter with one item file edited by hand to carry terminal escapes in its title."""
    root = tmp_path / "proj"
    root.mkdir()
    shutil.copy2(ROOT / "newsletter.toml", root / "newsletter.toml")
    shutil.copytree(ROOT / "catalog", root / "catalog")
    shutil.copytree(ROOT / "content", root / "content")
    (path,) = [p for p in (root / "catalog").rglob("*.md") if f"id: {ITEM_ID}\n" in p.read_text(encoding="utf-8")]
    text = path.read_text(encoding="utf-8").replace("title: Attention Is All You Need\n", f"title: {HOSTILE_YAML}\n")
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(draft, "semantic_engine", _hashing_engine)
    engines: dict[int, SemanticEngine] = {}
    monkeypatch.setattr(Catalog, "semantic", property(lambda self: engines.setdefault(id(self), _hashing_engine(self))))
    return root


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def assert_clean(text: str) -> None:
    for raw in RAW:
        assert raw not in text, (raw, text[:300])


def test_the_fixture_really_carries_the_escapes(project: Path) -> None:
    title = Catalog.open(project).get(ITEM_ID).title
    assert "\x1b]8;;http://evil\x07" in title and "\x1b[2J" in title  # stored as the file says: data is kept


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("list", "--kind", "paper"),
        ("show", ITEM_ID),
        ("search", "attention transformer"),
        ("related", "-k", "50", "2d73190c1106"),
        ("tag", ITEM_ID, "safety"),
        ("shortlist", ITEM_ID),
    ],
)
def test_every_command_prints_the_words_without_the_escapes(project: Path, args: tuple[str, ...]) -> None:
    code, out, err = run(project, *args)
    assert code == 0, err
    assert_clean(out + err)
    if args[0] in ("list", "show", "search", "shortlist"):
        assert CLEAN_TITLE in out


def test_json_keeps_the_exact_title_but_escaped(project: Path) -> None:
    code, out, _ = run(project, "show", ITEM_ID, "--json")
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert json.loads(out)["item"]["title"].startswith("Click \x1b]8;;http://evil\x07here")


def test_error_lines_that_echo_an_input_are_clean(project: Path) -> None:
    code, _out, err = run(project, "show", "\x1b]8;;http://evil\x07x\x1b[2J")
    assert code == 1 and err.startswith("error: ")
    assert "\x1b" not in err and "\x07" not in err  # shown as visible \x1b text, never as the byte
    code, _out, err = run(project, "add", "--no-fetch", "--no-similar", "http://a.example/\x1b[2J\x1b]0;owned\x07")
    assert code == 1 and "error:" in err
    assert "\x1b" not in err and "\x07" not in err and err.count("error:") == 1


def test_safe_strips_sequences_controls_and_bidi() -> None:
    assert safe("a\x1b]8;;http://evil\x07b\x1b]8;;\x1b\\c") == "abc"  # OSC 8 ended by BEL or by ST
    assert safe("x\x1b[2J\x1b[1;31my\x1b[0m") == "xy"
    assert safe("x\x9b2Jy\x9d0;title\x9cz") == "xyz"  # 8-bit CSI and OSC
    assert safe("pay\rlater\x08\x08now") == "paylaternow"
    assert safe("\u202eabc\u2066d\u2069") == "abcd"
    assert safe("line one\nline\ttwo") == "line one\nline\ttwo"  # notes keep their lines
    assert safe("bad \udcff byte") == "bad \ufffd byte"
    assert safe("\x1b]0;unterminated title") == ""
    assert one_line("a\nb\u2028c\td") == "a b c d"
    assert safe("Zoë · naïve — ok") == "Zoë · naïve — ok"

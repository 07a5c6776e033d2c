"""Hostile `newsletter.toml`: every bad setting is one line naming the table, the key and the fix.

A wrong type, a value out of range or broken TOML stops the command before it touches anything
(exit 1, no traceback), and the catalog is left exactly as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli.app import main
from newsletter.config import load_settings
from newsletter.errors import ProjectError

ROOT = Path(__file__).resolve().parent.parent

# (what goes in newsletter.toml, words the one-line error must contain)
BAD_SETTINGS = [
    ("x = [", ["not valid TOML"]),
    ('[fetch]\nconcurrency = "lots"', ["[fetch] concurrency", "whole number", "'lots'"]),
    ("[fetch]\nconcurrency = 100000000000", ["[fetch] concurrency", "from 1 to 256"]),
    ("[fetch]\nconcurrency = true", ["[fetch] concurrency", "whole number"]),
    ("[fetch]\ntimeout = -5", ["[fetch] timeout", "from 0.1 to 600"]),
    ("[fetch]\nretries = 2.5", ["[fetch] retries", "whole number"]),
    ("[fetch]\nmax_bytes = 0", ["[fetch] max_bytes"]),
    # the exact values of the report: AttributeError, a hang for ever, and "larger than -0.001 KB"
    ("[fetch]\nconcurrency = 0", ["[fetch] concurrency", "from 1 to 256"]),
    ("[fetch]\nper_host = 0", ["[fetch] per_host", "from 1 to 64"]),
    ("[fetch]\nper_host = -1", ["[fetch] per_host", "from 1 to 64"]),
    ("[fetch]\nmax_bytes = -1", ["[fetch] max_bytes"]),
    ('[semantic]\ndupe_threshold = "high"', ["[semantic] dupe_threshold", "from 0 to 1"]),
    ("[semantic]\ndupe_threshold = 7", ["[semantic] dupe_threshold"]),
    ("[semantic]\nmodel = [1, 2]", ["[semantic] model", "text in quotes"]),
    ("[newsletter]\nname = 5", ["[newsletter] name", "text in quotes"]),
    ("[endpoints]\narxiv_api = {a = 1}", ["[endpoints] arxiv_api", "text in quotes"]),
    ("fetch = 3", ["[fetch] must be a table"]),
    ("[endpoints]\nno_such_api = \"http://x\"", ["unknown endpoint", "no_such_api"]),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    shutil.copytree(ROOT / "catalog", root / "catalog")
    return root


def catalog_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "catalog").rglob("*.md"))}


@pytest.mark.parametrize(("toml", "words"), BAD_SETTINGS, ids=[t.splitlines()[-1][:30] for t, _ in BAD_SETTINGS])
def test_a_bad_setting_is_one_line_naming_the_key(project: Path, toml: str, words: list[str]) -> None:
    (project / "newsletter.toml").write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(ProjectError) as caught:
        load_settings(project)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("command", [["list"], ["add", "--no-fetch", "https://example.org/new-one"], ["draft"]])
def test_commands_stop_cleanly_and_change_nothing(project: Path, command: list[str]) -> None:
    (project / "newsletter.toml").write_text('[fetch]\nper_host = "eight"\n', encoding="utf-8")
    before = catalog_files(project)
    result = CliRunner().invoke(main, ["-C", str(project), *command])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "[fetch] per_host" in errors[0] and "Traceback" not in result.output
    assert catalog_files(project) == before
    assert not (project / "content").exists()


def test_good_values_of_every_type_still_load(project: Path) -> None:
    (project / "newsletter.toml").write_text(
        '[newsletter]\nname = "Weekly"\n[fetch]\nconcurrency = 4\ntimeout = 2\nretries = 0\n'
        "[semantic]\ndupe_threshold = 0.8\n",
        encoding="utf-8",
    )
    settings = load_settings(project)
    assert (settings.name, settings.fetch.concurrency, settings.fetch.timeout, settings.fetch.retries) == (
        "Weekly", 4, 2.0, 0)
    assert settings.dupe_threshold == 0.8
